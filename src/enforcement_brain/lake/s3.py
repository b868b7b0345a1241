"""S3 clients of the platform: boto3 for single objects and presigned URLs, delta-rs for tables.

Why one module: the landing fetch (the source systems' exchange store, ``EB_OBJECTS_URL``) and
the lake on object storage (``EB_LAKE_ROOT=s3a://…``, ``EB_S3_ENDPOINT``) are different stores,
but a client for either is made the same way, and the two readers of the lake's store (boto3
and delta-rs, whose Rust object store has its own configuration keys) must be given the same
endpoint and region, both taken from :mod:`enforcement_brain.settings`. Credentials are never
passed: both read ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from enforcement_brain.errors import ConfigError
from enforcement_brain.settings import Settings

#: The region S3 clients sign for when none is set: S3-compatible stores (versitygw, MinIO,
#: Ceph) accept it, and S3A would otherwise ask AWS where the bucket is.
DEFAULT_S3_REGION = "us-east-1"

#: Seconds a boto3 client waits for a store's next bytes before the attempt counts as failed
#: (and is retried, up to :data:`MAX_ATTEMPTS` attempts in all).
READ_TIMEOUT = 60

#: Attempts boto3 makes of one request (the first and its retries) on a 5xx, ``SlowDown``, a
#: reset connection or a timeout.
MAX_ATTEMPTS = 3

#: Retries delta-rs makes of one request to the store after the first attempt (its own
#: default is 10, over up to three minutes: a task would hang that long on a dead store).
DELTA_MAX_RETRIES = 3

#: The longest delta-rs keeps retrying one request.
DELTA_RETRY_TIMEOUT = "30s"

#: The environment variables that carry S3 credentials, in every client's own spelling.
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def s3_client(
    endpoint: str = "", region: str | None = None, env: Mapping[str, str] | None = None
) -> Any:
    """A boto3 S3 client; ``endpoint`` empty: Amazon S3 (endpoint resolved by boto3).

    Path-style addressing for a custom endpoint (MinIO and most S3-compatible stores do not
    resolve bucket sub-domains); SigV4 for presigned URLs too (boto3 would otherwise presign
    some of them with the deprecated SigV2, which newer regions refuse); a short connect
    timeout and three attempts, so an unreachable store fails in seconds rather than minutes.
    """
    from botocore.config import Config

    config = Config(
        connect_timeout=5,
        read_timeout=READ_TIMEOUT,
        # total_max_attempts counts the first attempt; botocore reads "max_attempts" given
        # here as retries after it (one attempt more than the number says).
        retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        signature_version="s3v4",
        s3={"addressing_style": "path"} if endpoint else {},
    )
    return _session(env).client(
        "s3", endpoint_url=endpoint or None, region_name=region, config=config
    )


def _session(env: Mapping[str, str] | None) -> Any:
    """A boto3 session; with ``env`` (an environment a process is about to be started with),
    the credentials it carries, else boto3's own chain (this process's environment, profile,
    instance role)."""
    import boto3

    if env is None or not env.get("AWS_ACCESS_KEY_ID"):
        return boto3.session.Session()
    return boto3.session.Session(
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=env.get("AWS_SESSION_TOKEN") or None,
    )


#: S3 error codes that mean the store is S3 but refuses these credentials.
_REFUSED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"}


def check_lake_store(settings: Settings, env: Mapping[str, str] | None = None) -> None:
    """Fail with one line naming the setting to fix unless the ``s3a://`` lake's bucket
    answers as S3 with these credentials; nothing is written.

    Why before anything starts writing: a Spark job on a wrong endpoint or a missing bucket
    fails deep in S3A with a page of stack trace, minutes into a run. One listing of at
    most one key tells apart the four causes: no credentials, an endpoint where nothing
    answers, one that answers but is not S3 (no S3 error document), and a missing bucket.
    """
    from botocore import exceptions as bx

    environment = os.environ if env is None else env
    keys = [environment.get(k, "").strip() for k in CREDENTIAL_VARIABLES[:2]]
    if any(keys) and not all(keys):
        missing = CREDENTIAL_VARIABLES[keys.index("")]
        raise ConfigError(f"{missing} is not set: the lake's store needs both AWS keys")
    location = S3Location.parse(settings.lake_root)
    endpoint = settings.s3_endpoint
    where = f"EB_S3_ENDPOINT={endpoint}" if endpoint else "Amazon S3"
    if _session(env).get_credentials() is None:
        raise ConfigError(
            f"no credentials for the lake's store ({where}): "
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    if endpoint and not _answers_as_s3(endpoint):
        raise ConfigError(f"{where} answers but is not an S3 store: fix EB_S3_ENDPOINT")
    client = s3_client(endpoint, settings.s3_region or DEFAULT_S3_REGION, env)
    try:
        client.list_objects_v2(Bucket=location.bucket, MaxKeys=1)
    except bx.ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "NoSuchBucket":
            raise ConfigError(
                f"EB_LAKE_ROOT={settings.lake_root}: bucket {location.bucket} does not exist "
                f"at {where}: create it, or fix EB_LAKE_ROOT"
            ) from None
        if code in _REFUSED:
            raise ConfigError(
                f"the lake's store ({where}) refused the credentials ({code}): "
                "fix AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            ) from None
        if not code or code.isdigit():  # an HTTP status without an S3 error document
            raise ConfigError(
                f"{where} answers HTTP {status} but is not an S3 store: fix EB_S3_ENDPOINT"
            ) from None
        raise ConfigError(
            f"the lake's store ({where}) answered {code}: fix EB_S3_ENDPOINT"
        ) from None
    except (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError):
        raise ConfigError(
            f"nothing answers at {where}: start the store or fix EB_S3_ENDPOINT"
        ) from None
    except bx.BotoCoreError as exc:  # e.g. a page that is not XML where S3 sends XML
        raise ConfigError(
            f"{where} answers but is not an S3 store ({type(exc).__name__}): fix EB_S3_ENDPOINT"
        ) from None


#: S3 error codes of a store that is there but failing for now (what boto3 retries).
_UNAVAILABLE = {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "503"}


def store_unavailable(exc: BaseException) -> str:
    """What a store that kept failing answered last, with the attempts boto3 made (one line),
    or "" when ``exc`` is something else: a refusal (403, 404), a bug.

    Why one place: landing, the lake's writers and the sharing service each turn this into
    their own coded answer, and must agree on what counts as the store being unavailable
    (a 5xx or ``SlowDown``, a reset or closed connection, a timeout) as boto3's retries do.
    """
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        meta = exc.response.get("ResponseMetadata", {})
        status = int(meta.get("HTTPStatusCode") or 0)
        if status < 500 and code not in _UNAVAILABLE:
            return ""
        attempts = int(meta.get("RetryAttempts", 0)) + 1
        return f"the store answered {status} {code} after {attempts} attempts"
    transient = (
        bx.ConnectionError,  # refused, connect timeouts
        bx.HTTPClientError,  # reset or closed connections, read timeouts
        bx.ResponseStreamingError,
        bx.IncompleteReadError,
        bx.ReadTimeoutError,
    )
    if isinstance(exc, transient):
        what = " ".join(str(exc).split())[:200]
        name = type(exc).__name__
        return f"the store did not answer ({name}: {what}) after {MAX_ATTEMPTS} attempts"
    return ""


#: What delta-rs's errors say when the store, not the table, failed: a 5xx or ``SlowDown``
#: after its retries, a connection reset or refused, a timeout. Its Rust errors reach Python
#: as ``OSError`` or ``DeltaError`` with the cause chain as text, so the text is matched.
_DELTA_UNAVAILABLE = re.compile(
    r"(5\d\d [A-Z][A-Za-z ]+|SlowDown|error sending request|[Cc]onnection reset"
    r"|[Cc]onnection refused|timed out|connection closed)"
)


def delta_store_unavailable(exc: BaseException) -> str:
    """What a failing store answered delta-rs (one line), or "" for any other error."""
    text = str(exc)
    if "Generic S3 error" not in text and "ObjectStore" not in text:
        return ""
    found = _DELTA_UNAVAILABLE.findall(text)
    if not found:
        return ""
    retries = re.search(r"after (\d+) retries", text)
    tried = f" after {int(retries.group(1)) + 1} attempts" if retries else ""
    return f"the store answered {found[-1].strip()}{tried}"


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
        return cls(s3_client(settings.s3_endpoint, settings.s3_region), storage_options(settings))


def storage_options(settings: Settings) -> dict[str, str]:
    """delta-rs's options for the lake's store: endpoint, region, commit mode and retries,
    never credentials (delta-rs reads the ``AWS_*`` variables itself).

    ``conditional_put: etag``: a commit is a put of ``_delta_log/<version>.json`` with
    ``If-None-Match: *``, which the store refuses when another writer committed that version
    first; delta-rs then retries on the next version. That makes appends from several
    processes (the Airflow tasks of a day, on any worker) safe without a lock service. Amazon
    S3 honours conditional writes, and so does the cluster profile's versitygw (tested).
    """
    endpoint, region = settings.s3_endpoint, settings.s3_region
    options = {"AWS_ENDPOINT_URL": endpoint} if endpoint else {}
    if endpoint.startswith("http://"):
        options["AWS_ALLOW_HTTP"] = "true"  # delta-rs refuses plain HTTP unless told
    if region:
        options["AWS_REGION"] = region
    options["conditional_put"] = "etag"
    options["max_retries"] = str(DELTA_MAX_RETRIES)
    options["retry_timeout"] = DELTA_RETRY_TIMEOUT
    return options


def _answers_as_s3(endpoint: str) -> bool:
    """Whether an anonymous ``GET /`` at ``endpoint`` gets an S3 answer: an XML document (the
    bucket list, or an S3 error such as AccessDenied), where a web server sends a page.

    Asked before boto3 is: boto3 follows a web server's redirects as if they were S3's
    region redirects, without end. Nothing listening is a :class:`ConfigError` naming
    ``EB_S3_ENDPOINT``.
    """
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(endpoint + "/", timeout=5) as response:
            kind, head = response.headers.get("Content-Type", ""), response.read(512)
    except urllib.error.HTTPError as exc:
        kind, head = exc.headers.get("Content-Type", ""), exc.read(512)
    except (OSError, ValueError):
        raise ConfigError(
            f"nothing answers at EB_S3_ENDPOINT={endpoint}: start the store or fix EB_S3_ENDPOINT"
        ) from None
    return "xml" in kind or head.lstrip().startswith(b"<?xml") or b"<Error>" in head
