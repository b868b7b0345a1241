"""Shared fixtures: one local Spark session for the whole run, a temporary lake per test."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from enforcement_brain.settings import REPO_ROOT, Settings, load_settings

# Tests never talk to a Connect server unless they start one themselves.
os.environ.pop("EB_SPARK_REMOTE", None)


@pytest.fixture(scope="module", autouse=True)
def _connect_mode_stays_in_its_module() -> Iterator[None]:
    """A Spark Connect client made in this process sets ``SPARK_CONNECT_MODE_ENABLED`` for good,
    and from then on every ``F.col`` is a Connect column that the shared classic session
    refuses. A module that makes one keeps the mode; the next module starts without it."""
    before = os.environ.get("SPARK_CONNECT_MODE_ENABLED")
    yield
    if before is None:
        os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)


def make_settings(var_dir: Path, **extra: str) -> Settings:
    """Settings for a temporary lake; the jar cache and declarations are the repository's."""
    env = {
        "EB_HOME": str(REPO_ROOT),
        "EB_VAR_DIR": str(var_dir),
        "EB_SPARK_MASTER": "local[2]",
        "EB_SPARK_SHUFFLE_PARTITIONS": "2",
        "EB_SPARK_DRIVER_MEMORY": "2g",
        "EB_JAR_DIR": os.environ.get("EB_JAR_DIR", str(REPO_ROOT / ".cache" / "jars")),
        **extra,
    }
    return load_settings(env)


def reachable_root(prefix: str) -> Path:
    """A new temporary folder that PostgreSQL's own account can reach when the tests run as
    root (pytest's temporary folders are mode 700); the caller removes it."""
    import tempfile

    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o711)
    return root


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for a server a test starts itself."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive ports free on 127.0.0.1 now (a Spark master and its
    workers take the ports after its own)."""
    while True:
        base, socks = free_port(), []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()


@pytest.fixture
def standards(tmp_path: Path) -> Path:
    """A copy of data_standards/ for a test to edit (see :func:`edit`)."""
    root = tmp_path / "data_standards"
    shutil.copytree(REPO_ROOT / "data_standards", root)
    return root


def edit(path: Path, old: str, new: str) -> None:
    """Replace the first ``old`` in a declaration file; fail if it is not there."""
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "var")


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):
    """The one local Spark session (local[2], UI off, 2 shuffle partitions) for all tests."""
    from enforcement_brain.spark.session import get_spark, stop_all

    session = get_spark(make_settings(tmp_path_factory.mktemp("spark-var")))
    yield session
    stop_all()
    # py4j closes its gateway connections from __del__ at interpreter exit, when pytest has
    # already closed the captured streams: its INFO line would print a "Logging error" trace.
    import logging

    logging.getLogger("py4j").setLevel(logging.WARNING)


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """An S3-compatible server (moto) in this process on a free port; yields its URL.

    boto3 and delta-rs talk to it over HTTP exactly as to MinIO or S3, with no Docker and no
    network. It checks neither signatures nor the expiry of presigned URLs.
    """
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_credentials(mp: pytest.MonkeyPatch) -> None:
    """Test credentials in the standard AWS variables only: no profile, file or real key."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_ENDPOINT_URL"):
        mp.delenv(name, raising=False)
    mp.setenv("AWS_ACCESS_KEY_ID", "testing")
    mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` (whole days on several profiles, tens of minutes on 2 cores) are
    skipped, with the command that runs them, unless ``EB_SLOW_TESTS=1``."""
    if os.environ.get("EB_SLOW_TESTS") == "1":
        return
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.skip(reason=f"slow: EB_SLOW_TESTS=1 pytest {item.nodeid}"))
