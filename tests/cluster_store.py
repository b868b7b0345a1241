"""The cluster profile's S3 store (versitygw) alone, on a free port, for tests that need a
real ``s3a://`` lake without Spark."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port, make_settings

from enforcement_brain.cluster import storage
from enforcement_brain.settings import Settings

KEYS = {"AWS_ACCESS_KEY_ID": "ebtestkey", "AWS_SECRET_ACCESS_KEY": "ebtestsecret0123456789"}
LAKE_BUCKET = "eb-lake"


@contextlib.contextmanager
def s3_lake(var: Path, buckets: tuple[str, ...] = (), **extra: str) -> Iterator[Settings]:
    """Settings of an ``s3a://eb-lake/lake`` on a versitygw of its own over ``var/cluster/s3``,
    the source systems' store (``EB_OBJECTS_URL``) the same server; ``buckets`` are created
    beside the lake's, and the keys are in the environment (every client reads them there)."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    settings = make_settings(
        var,
        EB_CLUSTER_S3_PORT=str(port),
        EB_LAKE_ROOT=f"s3a://{LAKE_BUCKET}/lake",
        EB_S3_ENDPOINT=endpoint,
        EB_OBJECTS_URL=endpoint,
        AWS_REGION="us-east-1",
        **extra,
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("AWS_SESSION_TOKEN", raising=False)
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        for name, value in KEYS.items():
            mp.setenv(name, value)
        storage.start(settings, KEYS)
        try:
            storage.create_buckets(settings, KEYS, [LAKE_BUCKET, *buckets])
            yield settings
        finally:
            storage.daemon(settings).stop()
