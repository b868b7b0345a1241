"""The cluster profile's object store: versitygw serving S3 from a folder under ``var/``.

Why versitygw: the lake on object storage must be tested on a real S3 server, started by the
project on loopback, without Docker. MinIO is archived and has no package; versitygw is one Go
binary (built once with ``go install`` into ``.cache/bin``) that serves S3 from a POSIX folder.
moto's server speaks S3 too but keeps everything in memory: unit tests only.

Credentials: the store's root user is whatever ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``
say. When both are unset, the local cluster draws a pair once into ``<var>/cluster/credentials``
(mode 0600) and hands it to its components and to the ``env`` file runs read; they are never
settings and never enter the Spark configuration.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from enforcement_brain.errors import ConfigError, SetupError
from enforcement_brain.lake.s3 import CREDENTIAL_VARIABLES, DEFAULT_S3_REGION, s3_client
from enforcement_brain.settings import Settings
from enforcement_brain.spark.server import Daemon, ServerStatus

#: The versitygw release the cluster runs, and the module ``go install`` builds it from.
VERSITYGW_VERSION = "v1.8.0"
VERSITYGW_MODULE = "github.com/versity/versitygw/cmd/versitygw"

#: Where the official Go tarball installs the toolchain (``go`` is looked for there after PATH).
GO_FALLBACK = Path("/usr/local/go/bin/go")


def endpoint(settings: Settings) -> str:
    """The store's S3 endpoint, what ``EB_S3_ENDPOINT`` is for a run on this cluster."""
    return f"http://127.0.0.1:{settings.cluster_s3_port}"


def daemon(settings: Settings) -> Daemon:
    """The versitygw process: pid and log under ``<var>/cluster/``."""
    return Daemon(
        "the S3 store (versitygw)",
        settings.cluster_dir / "versitygw.pid",
        settings.cluster_dir / "versitygw.log",
        settings.cluster_s3_port,
        "EB_CLUSTER_S3_PORT",
        endpoint(settings),
    )


def given_credentials(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The keys ``env`` (default: this process's environment) sets, or ``{}`` when it sets
    neither; one without the other is an error naming the missing one. Writes nothing."""
    environment = os.environ if env is None else env
    keys = {k: environment.get(k, "").strip() for k in CREDENTIAL_VARIABLES[:2]}
    if all(keys.values()):
        return keys
    if any(keys.values()):
        missing = next(k for k, v in keys.items() if not v)
        raise ConfigError(f"{missing} is not set: set both AWS keys, or neither for local ones")
    return {}


def credentials(settings: Settings, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The store's keys, as environment variables: the environment's when set, else a pair
    drawn once into ``<var>/cluster/credentials`` (0600). One key without the other is an
    error naming the missing one."""
    keys = given_credentials(env)
    if keys:
        return keys
    path = settings.cluster_dir / "credentials"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        drawn = {
            "AWS_ACCESS_KEY_ID": "eb" + secrets.token_hex(9),
            "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.writelines(f"{k}={v}\n" for k, v in drawn.items())
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k: v for k, v in pairs if k in CREDENTIAL_VARIABLES}


def go_toolchain() -> str:
    """The Go toolchain: ``go`` on ``PATH``, else :data:`GO_FALLBACK`; or a one-line error."""
    found = shutil.which("go") or (str(GO_FALLBACK) if os.access(GO_FALLBACK, os.X_OK) else None)
    if found is None:
        raise SetupError(
            f"go is not installed: versitygw {VERSITYGW_VERSION} is built with Go >= 1.25: "
            "install it from go.dev/dl into /usr/local/go, or put `go` on PATH"
        )
    return found


def binary(settings: Settings) -> Path:
    """The versitygw binary, built once into ``<home>/.cache/bin`` when missing."""
    path = settings.versitygw_binary
    if os.access(path, os.X_OK):
        return path
    go = go_toolchain()
    path.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [go, "install", f"{VERSITYGW_MODULE}@{VERSITYGW_VERSION}"],
        env=dict(os.environ, GOBIN=str(path.parent)),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0 or not path.exists():
        tail = " | ".join(proc.stderr.strip().splitlines()[-2:])
        raise SetupError(
            f"`go install {VERSITYGW_MODULE}@{VERSITYGW_VERSION}` failed ({tail}): "
            "it needs Go >= 1.25 (go.dev/dl)"
        )
    return path


def start(settings: Settings, keys: Mapping[str, str], *, timeout: float = 30.0) -> ServerStatus:
    """Start versitygw on loopback over ``<var>/cluster/s3`` unless it already runs."""
    store = daemon(settings)
    current = store.running()
    if current is not None:
        return current
    exe = binary(settings)
    data = settings.cluster_dir / "s3"
    data.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ,
        ROOT_ACCESS_KEY_ID=keys["AWS_ACCESS_KEY_ID"],
        ROOT_SECRET_ACCESS_KEY=keys["AWS_SECRET_ACCESS_KEY"],
        VGW_REGION=settings.s3_region or DEFAULT_S3_REGION,
    )
    cmd = [str(exe), "--port", f"127.0.0.1:{settings.cluster_s3_port}", "--quiet"]
    cmd += ["posix", str(data)]
    return store.launch(cmd, env, timeout=timeout, stop=store.stop)


def create_buckets(settings: Settings, keys: Mapping[str, str], buckets: list[str]) -> None:
    """Create ``buckets`` on the store (those that exist are left alone)."""
    client = s3_client(endpoint(settings), settings.s3_region or DEFAULT_S3_REGION, keys)
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    for bucket in buckets:
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)
