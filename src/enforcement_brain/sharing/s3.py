"""A share table on object storage (``EB_LAKE_ROOT=s3a://…``), and its S3 presigned URLs.

Why presigned URLs rather than the service streaming the bytes: on object storage the store
already serves files over HTTP, to any number of partners, with its own short-lived signatures;
the service then only answers the protocol's small JSON lines. The guarantee of the local file
endpoint is kept by construction instead of by a check per download: a URL is signed for a key
under this share table's prefix only (the projected, filtered, masked copy of one interface's
dataset), for a path its own Delta log names, and lives ``EB_SHARING_URL_TTL`` seconds.

The log's JSON commits are listed and read with boto3 (a LIST each time the latest version is
asked for: S3 has no folder modification time to skip it by); snapshots with delta-rs.

A store that keeps failing (5xx, ``SlowDown``, reset connections, timeouts, after the
clients' bounded retries) is the protocol's 503 ``TEMPORARILY_UNAVAILABLE`` with
``Retry-After``: the partner's request was right and will be answered when the store is back,
so it is told to try again rather than given a 500 (a bug) or a 404 (no such version).
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from enforcement_brain.lake.s3 import (
    LakeStore,
    S3Location,
    delta_store_unavailable,
    store_unavailable,
)
from enforcement_brain.sharing.delta_log import COMMIT_NAME, ShareTable, plain_data_path
from enforcement_brain.sharing.errors import ProtocolError

if TYPE_CHECKING:
    from deltalake import DeltaTable

LOG = logging.getLogger("enforcement_brain.sharing")

#: Seconds a partner is told to wait before asking again when the store did not answer.
RETRY_AFTER_SECONDS = 5


@contextlib.contextmanager
def store_answers(table: str) -> Iterator[None]:
    """Turn a store that kept failing into the protocol's 503 with ``Retry-After``; the
    store's own answer goes to the operator's log only."""
    try:
        yield
    except ProtocolError:
        raise
    except Exception as exc:
        reason = store_unavailable(exc) or delta_store_unavailable(exc)
        if not reason:
            raise
        LOG.warning({"event": "the lake's store did not answer", "table": table, "why": reason})
        raise ProtocolError(
            503,
            "TEMPORARILY_UNAVAILABLE",
            "the lake's store did not answer; the request can be repeated as it is "
            f"in {RETRY_AFTER_SECONDS} seconds",
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from None


class S3ShareTable(ShareTable):
    """:class:`ShareTable` with its storage methods on S3: same protocol answers, other reads."""

    files_served_here = False  # presigned URLs: the store serves them
    log_reads_block = True  # every look at the log is a LIST

    def __init__(self, uri: str, store: LakeStore) -> None:
        # Not ShareTable.__init__ (it resolves a local folder); its common state comes from
        # ShareTable._start.
        self.location = S3Location.parse(uri)
        self._start(self.location.uri)
        self.storage_options = store.storage_options
        self._client = store.client
        self._log_prefix = f"{self.location.prefix}/_delta_log/"
        self._stamps: dict[int, int] = {}  # version -> LastModified (ns) at the last listing

    @classmethod
    def at(cls, uri: str, store: LakeStore | None) -> S3ShareTable:
        if store is None:
            raise ValueError("a share table on object storage needs the lake's store")
        return cls(uri, store)

    # -- storage -----------------------------------------------------------------------------
    def exists(self) -> bool:
        """Once a listing has shown commits, the table is taken to exist without another LIST.

        Every request checks that its table exists and then asks for the latest version, which
        lists the log anyway: two LISTs a request, where one answers both. A table removed
        since is still a 404, from that listing ("no commits yet").
        """
        return bool(self._stamps) or super().exists()

    def commit_versions(self) -> list[int]:
        """Versions whose JSON commit is in the log, listed with boto3 (every call)."""
        stamps: dict[int, int] = {}
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.location.bucket, Prefix=self._log_prefix
        )
        with store_answers(self.uri):
            for page in pages:
                for obj in page.get("Contents", []):
                    name = obj["Key"][len(self._log_prefix) :]
                    if COMMIT_NAME.fullmatch(name):
                        stamps[int(name[:20])] = int(obj["LastModified"].timestamp() * 1e9)
        self._stamps = stamps  # one assignment: a concurrent reader sees the old or the new
        return sorted(stamps)

    def _commit_stamp(self, version: int) -> int:
        """The commit's LastModified at the listing that preceded this call (every caller
        asks for the latest version first), 0 when it is gone (a checkpoint describes it)."""
        return self._stamps.get(version, 0)

    def _read_commit(self, version: int) -> tuple[str, int] | None:
        key = f"{self._log_prefix}{version:020d}.json"
        with store_answers(self.uri):
            try:
                got = self._client.get_object(Bucket=self.location.bucket, Key=key)
            except self._client.exceptions.NoSuchKey:
                return None
            text = got["Body"].read().decode("utf-8")
        return text, int(got["LastModified"].timestamp() * 1000)

    def delta_table(self, version: int) -> DeltaTable:
        with store_answers(self.uri):
            return super().delta_table(version)

    def _file_size(self, rel_path: str) -> int:
        return int(self._object("head_object", rel_path)["ContentLength"])

    def data_file(self, rel_path: str) -> BinaryIO:
        """The whole object in memory: only files without row counts in the log come here
        (Delta's ``_change_data`` files), and they hold a commit's changed rows only."""
        return io.BytesIO(self._object("get_object", rel_path)["Body"].read())

    def _object(self, method: str, rel_path: str) -> dict[str, Any]:
        """One boto3 call on a data file's object; a store error is an OSError, as on disk."""
        from botocore.exceptions import ClientError

        key = self.key(rel_path)
        with store_answers(self.uri):
            try:
                return getattr(self._client, method)(Bucket=self.location.bucket, Key=key)
            except ClientError as exc:
                if store_unavailable(exc):
                    raise
                raise OSError(f"{rel_path}: {exc}") from None

    # -- the files ---------------------------------------------------------------------------
    def key(self, rel_path: str) -> str:
        """The object key of a data file named by the log, which must stay under this table's
        prefix (:func:`~enforcement_brain.sharing.delta_log.plain_data_path`)."""
        if not plain_data_path(rel_path):
            # The path goes to the operator's log only: the partner is not told other names.
            LOG.warning(
                {
                    "event": "refused a file outside its share table",
                    "table": self.uri,
                    "path": rel_path[:300],
                }
            )
            raise ProtocolError(
                403,
                "PERMISSION_DENIED",
                "the share table's log names a file outside the table; nothing is served",
            )
        return f"{self.location.prefix}/{rel_path}"

    def presigned_url(self, rel_path: str, ttl_seconds: int) -> str:
        """An S3 presigned GET URL for one data file of this table, valid ``ttl_seconds``.

        Signing is local (no request to S3): it costs a few HMACs per file of an answer.
        """
        key = self.key(rel_path)  # first: nothing reaches the client for a refused path
        return self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self.location.bucket, "Key": key}, ExpiresIn=ttl_seconds
        )
