"""S3 clients of the platform: boto3 for single objects and presigned URLs, delta-rs for tables.

Why one module: the landing fetch (the source systems' exchange store, ``EB_OBJECTS_URL``) and
the lake on object storage (``EB_LAKE_ROOT=s3a://…``, ``EB_S3_ENDPOINT``) are different stores,
but a client for either is made the same way, and the two readers of the lake's store (boto3
and delta-rs, whose Rust object store has its own configuration keys) must be given the same
endpoint and region, both taken from :mod:`enforcement_brain.settings`. Credentials are never
passed: both read ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from enforcement_brain.errors import ConfigError
from enforcement_brain.settings import Settings


def s3_client(endpoint: str = "", region: str | None = None) -> Any:
    """A boto3 S3 client; ``endpoint`` empty: Amazon S3 (endpoint resolved by boto3).

    Path-style addressing for a custom endpoint (MinIO and most S3-compatible stores do not
    resolve bucket sub-domains); SigV4 for presigned URLs too (boto3 would otherwise presign
    some of them with the deprecated SigV2, which newer regions refuse); a short connect
    timeout and three attempts, so an unreachable store fails in seconds rather than minutes.
    """
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=5,
        read_timeout=60,
        retries={"max_attempts": 3, "mode": "standard"},
        signature_version="s3v4",
        s3={"addressing_style": "path"} if endpoint else {},
    )
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint or None, region_name=region, config=config
    )


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key prefix (no trailing ``/``), parsed from ``s3a://`` or ``s3://``."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        scheme, sep, rest = uri.partition("://")
        bucket, _, prefix = rest.partition("/")
        if not sep or scheme not in {"s3", "s3a"} or not bucket:
            raise ConfigError(f"{uri!r} is not an s3a:// or s3:// location")
        return cls(bucket, prefix.strip("/"))

    @property
    def uri(self) -> str:
        """``s3://`` for delta-rs and boto3 (``s3a://`` is Hadoop's name for the same place)."""
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


@dataclass(frozen=True)
class LakeStore:
    """The lake's object store, as both of its readers reach it."""

    client: Any  # boto3 S3 client
    storage_options: dict[str, str]  # delta-rs

    @classmethod
    def from_settings(cls, settings: Settings) -> LakeStore:
        endpoint, region = settings.s3_endpoint, settings.s3_region
        options = {"AWS_ENDPOINT_URL": endpoint} if endpoint else {}
        if endpoint.startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"  # delta-rs refuses plain HTTP unless told
        if region:
            options["AWS_REGION"] = region
        return cls(s3_client(endpoint, region), options)
