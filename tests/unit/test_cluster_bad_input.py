"""``eb cluster`` and an ``s3a://`` lake given bad input: one line naming the setting to fix,
before anything is written.

No JVM: the store is moto's server (an S3 that answers), a plain HTTP server (an endpoint
that answers but is not S3), or nothing at all. The real components start in
``tests/integration/test_cluster_storage.py``.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO_ROOT, free_port, make_settings, s3_credentials, s3_server

from enforcement_brain.cluster import profile, storage
from enforcement_brain.errors import ConfigError, SetupError
from enforcement_brain.lake.s3 import check_lake_store, s3_client
from enforcement_brain.settings import Settings

#: Every port setting of the cluster's components.
PORTS = (
    "EB_CLUSTER_S3_PORT",
    "EB_CLUSTER_MASTER_PORT",
    "EB_SPARK_CONNECT_PORT",
    "EB_CLUSTER_PG_PORT",
    "EB_CLUSTER_REDIS_PORT",
    "EB_CLUSTER_WORKER_LOG_PORT",
)


def _settings(var: Path, **extra: str) -> Settings:
    """Settings whose components' ports are free now, unless ``extra`` says otherwise."""
    free = {name: str(free_port()) for name in PORTS}
    return make_settings(var, **{**free, **extra})


def _nothing_written(var: Path) -> None:
    cluster = var / "cluster"
    assert not cluster.exists() or not any(cluster.iterdir()), sorted(cluster.iterdir())


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port another program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize(
    ("setting", "offset"),
    [
        ("EB_CLUSTER_S3_PORT", 0),
        ("EB_CLUSTER_MASTER_PORT", 0),
        ("EB_CLUSTER_MASTER_PORT", -2),  # the second worker's: the master's port + 2
        ("EB_SPARK_CONNECT_PORT", 0),
    ],
)
def test_a_taken_port_names_its_setting(tmp_path, held_port, setting, offset):
    s = _settings(tmp_path, **{setting: str(held_port + offset)})
    with pytest.raises(SetupError, match=f"port {held_port} is taken.*set {setting}$"):
        profile.start(s, env={})
    _nothing_written(tmp_path)


def test_a_missing_binary_without_go_says_how_to_get_go(tmp_path, monkeypatch):
    """No cached versitygw (a fresh home) and no Go toolchain to build it with."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(storage, "GO_FALLBACK", tmp_path / "go" / "bin" / "go")
    s = _settings(tmp_path, EB_HOME=str(tmp_path / "fresh"))
    with pytest.raises(
        SetupError, match=r"^go is not installed: .*Go >= 1.25: install it from go.dev/dl"
    ):
        profile.start(s, env={})
    _nothing_written(tmp_path)


def test_one_key_without_the_other_names_the_missing_one(tmp_path):
    s = make_settings(tmp_path)
    with pytest.raises(ConfigError, match=r"^AWS_SECRET_ACCESS_KEY is not set"):
        storage.credentials(s, {"AWS_ACCESS_KEY_ID": "only-this"})
    with pytest.raises(ConfigError, match=r"^AWS_SECRET_ACCESS_KEY is not set"):
        check_lake_store(
            make_settings(tmp_path, EB_LAKE_ROOT="s3a://b/l"), {"AWS_ACCESS_KEY_ID": "x"}
        )
    _nothing_written(tmp_path)


def test_local_keys_are_drawn_once_into_a_private_file(tmp_path):
    s = make_settings(tmp_path)
    keys = storage.credentials(s, {})
    assert set(keys) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert storage.credentials(s, {}) == keys  # the same pair next time
    assert (tmp_path / "cluster" / "credentials").stat().st_mode & 0o777 == 0o600
    given = {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
    assert storage.credentials(s, given) == given


def test_no_credentials_at_all_names_the_aws_variables(tmp_path, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    s = make_settings(tmp_path, EB_LAKE_ROOT="s3a://lake/eb", EB_S3_ENDPOINT="http://127.0.0.1:1")
    with pytest.raises(
        ConfigError,
        match=r"^no credentials for the lake's store \(EB_S3_ENDPOINT=http://127.0.0.1:1\): "
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY$",
    ):
        check_lake_store(s)


@pytest.fixture
def moto(monkeypatch) -> Iterator[str]:
    s3_credentials(monkeypatch)
    with s3_server() as endpoint:
        s3_client(endpoint).create_bucket(Bucket="eb-lake")
        yield endpoint


def test_a_lake_on_s3_passes(tmp_path, moto):
    check_lake_store(
        make_settings(tmp_path, EB_LAKE_ROOT="s3a://eb-lake/lake", EB_S3_ENDPOINT=moto)
    )


def test_a_missing_bucket_names_eb_lake_root(tmp_path, moto):
    s = make_settings(tmp_path, EB_LAKE_ROOT="s3a://no-such/lake", EB_S3_ENDPOINT=moto)
    with pytest.raises(
        ConfigError,
        match=r"^EB_LAKE_ROOT=s3a://no-such/lake: bucket no-such does not exist at "
        rf"EB_S3_ENDPOINT={moto}: create it, or fix EB_LAKE_ROOT$",
    ):
        check_lake_store(s)


class _Page(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("path_exists", [False, True])
def test_an_endpoint_that_is_not_s3_names_eb_s3_endpoint(tmp_path, monkeypatch, path_exists):
    """A web server: a 404 page for a bucket it does not have, an HTML listing for one it has."""
    s3_credentials(monkeypatch)
    (tmp_path / "site" / "eb-lake").mkdir(parents=True)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0),
        lambda *a: _Page(*a, directory=str(tmp_path / "site")),
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    bucket = "eb-lake" if path_exists else "other"
    try:
        s = make_settings(tmp_path, EB_LAKE_ROOT=f"s3a://{bucket}/lake", EB_S3_ENDPOINT=endpoint)
        with pytest.raises(ConfigError, match=r"is not an S3 store.*: fix EB_S3_ENDPOINT$"):
            check_lake_store(s)
    finally:
        server.shutdown()
        server.server_close()


def test_an_endpoint_where_nothing_listens_names_eb_s3_endpoint(tmp_path, monkeypatch):
    s3_credentials(monkeypatch)
    port = free_port()
    s = make_settings(tmp_path, EB_LAKE_ROOT="s3a://b/l", EB_S3_ENDPOINT=f"http://127.0.0.1:{port}")
    with pytest.raises(ConfigError, match=r"^nothing answers at .*: .*fix EB_S3_ENDPOINT$"):
        check_lake_store(s)


def test_the_status_table_lists_every_component_in_start_order(tmp_path):
    s = make_settings(tmp_path)
    table = profile.status_table(profile.status(s)).splitlines()
    assert table[0].split() == ["component", "state", "pid", "address", "log"]
    names = [line.split("  ")[0] for line in table[1:]]
    assert names == [
        "s3 (versitygw)",
        "spark master",
        "spark worker 0",
        "spark worker 1",
        "spark connect",
        "postgresql",
        "redis",
        "celery-loads",
        "celery-publish",
    ]
    assert all(" stopped " in line for line in table[1:])


def test_a_run_on_the_cluster_gets_its_settings_from_one_place(tmp_path):
    s = make_settings(
        tmp_path,
        EB_CLUSTER_S3_PORT="7170",
        EB_CLUSTER_MASTER_PORT="7177",
        EB_SPARK_CONNECT_PORT="15102",
    )
    assert profile.run_environment(s) == {
        "EB_LAKE_ROOT": "s3a://eb-lake/lake",
        "EB_SPARK_MASTER": "spark://127.0.0.1:7177",
        "EB_SPARK_REMOTE": "sc://localhost:15102",
        "EB_S3_ENDPOINT": "http://127.0.0.1:7170",
        "EB_OBJECTS_URL": "http://127.0.0.1:7170",
        "AWS_REGION": "us-east-1",
    }
    given = make_settings(tmp_path, EB_LAKE_ROOT="s3a://agency-lake/eb")
    assert profile.run_environment(given)["EB_LAKE_ROOT"] == "s3a://agency-lake/eb"
    assert profile.source_buckets(s) == [
        "bodycam-media",
        "jt809-exchange",
        "terminal-tracks",
        "video-ai",
    ]


def test_eb_cluster_status_and_a_bad_start_on_the_command_line(tmp_path, monkeypatch, capsys):
    from enforcement_brain import cli

    monkeypatch.setenv("EB_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("EB_HOME", str(tmp_path / "fresh"))  # no versitygw, no Go to build it
    monkeypatch.setenv("EB_STANDARDS_DIR", str(REPO_ROOT / "data_standards"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(storage, "GO_FALLBACK", tmp_path / "go" / "bin" / "go")
    for name in PORTS:
        monkeypatch.setenv(name, str(free_port()))
    assert cli.main(["cluster", "status"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["component", "state", "pid", "address", "log"]
    assert len(out) == 10 and all(" stopped " in line for line in out[1:])
    assert cli.main(["cluster", "start"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "go is not installed" in err[0]
    _nothing_written(tmp_path)


def test_an_embedded_connect_server_is_not_taken_for_the_clusters(tmp_path):
    """A Connect server from ``eb spark start`` runs on a local master and lake: the cluster
    must not hand it out as its own."""
    import sys

    from enforcement_brain.spark import server

    s = _settings(tmp_path)
    connect = server.connect_daemon(s)
    connect.pid_file.parent.mkdir(parents=True)
    listen = "import socket,sys,time; s=socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1])));"
    connect.launch(
        [sys.executable, "-c", listen + " s.listen(); time.sleep(60)", str(connect.port)],
        {},
        timeout=20,
        stop=connect.stop,
    )
    try:
        with pytest.raises(
            SetupError,
            match=rf"^a Spark Connect server not started by `eb cluster start` runs on port "
            rf"{connect.port}: stop it \(eb spark stop\) or set EB_SPARK_CONNECT_PORT$",
        ):
            profile.start(s, env={})
        assert not (tmp_path / "cluster").exists()
    finally:
        profile.stop(s)  # the stand-in, and anything a wrong start would have started
