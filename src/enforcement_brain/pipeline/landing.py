"""Landing: each day's delivery kept as received, with a checksum per file.

File drops arrive in ``<lake>/landing/<source>/<day>/`` already; object sources are fetched
there from their bucket prefix, byte for byte, either from an S3-compatible store through boto3
(``EB_OBJECTS_URL``) or from the local stand-in (``EB_OBJECTS_ROOT``). Bronze then reads every
file source from landing alone, so ``_source_file`` names a file that stays put and can be
re-read, whatever happens to the bucket afterwards. On a lake in object storage (``s3a://``)
the landing folder is a prefix of the lake's store (:mod:`enforcement_brain.lake.folders`):
the same steps, through boto3.

Each delivery folder gets a ``_manifest.json``: per file its name, size, sha256 and origin (the
S3 URI and ETag, or the local path). The manifest travels with the files and is what a rerun
checks against, without Spark; ``ops.landing_log`` keeps the same facts as a Delta table, one row
per version of a file ever landed, for SQL (:func:`record`).

Landing is idempotent: an object whose ETag (S3) or checksum (stand-in) is unchanged is not
fetched again; a changed object is re-landed and its manifest entry replaced. A landed file whose
bytes differ from its manifest while its origin has not changed was altered after landing: that
fails with :class:`LandingChecksumError` instead of loading bytes nobody delivered.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fnmatch
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from enforcement_brain.declarations import Source
from enforcement_brain.errors import (
    DeliveryError,
    EbError,
    LandingChecksumError,
    StoreUnavailableError,
)
from enforcement_brain.lake.folders import Folder, LocalFolder, lake_folder
from enforcement_brain.ops.schemas import LANDING_LOG_SCHEMA
from enforcement_brain.pipeline.delivery import (
    delivery_dir,
    delivery_location,
    landing_files,
    object_prefix,
)
from enforcement_brain.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: The manifest's name inside a delivery folder; ``_`` keeps it out of every delivery pattern.
MANIFEST = "_manifest.json"

_CHUNK = 1 << 20


@dataclass(frozen=True)
class LandedFile:
    """One file of a delivery as the manifest records it."""

    file: str  # name inside the delivery folder
    bytes: int
    sha256: str
    origin: str  # s3://bucket/key, or the local path it was delivered at or copied from
    etag: str | None  # the object's ETag when fetched from S3
    landed_at: str  # ISO-8601 UTC, when this version was first landed
    run_id: str


@dataclass(frozen=True)
class Landing:
    """What one landing of a source's day did."""

    source: str
    delivery_date: dt.date
    folder: str  # the delivery folder: a local path, or s3a://bucket/prefix
    location: str  # where the delivery came from: s3://bucket/prefix/, or a local folder
    files: tuple[LandedFile, ...]
    changed: tuple[str, ...]  # files landed or re-landed by this run (new bytes)

    def path(self, entry: LandedFile) -> str:
        return f"{self.folder}/{entry.file}"


@dataclass(frozen=True)
class _Object:
    """An object under the source's prefix, with how to read it."""

    name: str
    origin: str
    etag: str | None
    fingerprint: str  # compared with the manifest: the ETag (S3) or the sha256 (stand-in)
    open_chunks: Callable[[], Iterator[bytes]]


def land(settings: Settings, source: Source, day: dt.date, run_id: str) -> Landing | None:
    """Land the day's delivery of ``source`` and write its manifest; None for a database source.

    Raises :class:`DeliveryError` (one line naming the source and the delivery) when the
    delivery is missing, empty or unreachable, and :class:`LandingChecksumError` when a landed
    file was altered; nothing is loaded then.
    """
    if source.delivery.kind == "database":
        return None
    folder = lake_folder(settings, delivery_dir(settings, source, day))
    previous = {e.file: e for e in read_manifest(folder)}
    if source.delivery.kind != "objects":
        location = folder.uri
        files = landing_files(settings, source, day)  # missing / empty: the usual errors
        names = [f.rsplit("/", 1)[-1] for f in files]
        entries, changed = _check_drops(source, day, folder, names, previous, run_id)
        write_manifest(folder, source, day, location, entries)
        return Landing(source.id, day, folder.uri, location, tuple(entries), tuple(changed))
    location = delivery_location(settings, source, day)
    objects = _list_objects(settings, source, day, location)
    before, written = set(folder.files()), []
    try:
        entries, changed = _fetch(source, day, folder, objects, previous, run_id, written)
        landing_files(settings, source, day)  # empty objects fail as empty files do
        write_manifest(folder, source, day, location, entries)
    except LandingChecksumError:
        raise
    except Exception as exc:
        if not _store_failure(exc):
            raise
        # A delivery lands whole or not at all: the files this landing added go again, so
        # bronze never lists part of a delivery whose manifest was not written.
        for name in written:
            if name not in before:
                with contextlib.suppress(Exception):
                    folder.delete(name)
        raise s3_error(exc, source, day, folder.uri, settings.s3_endpoint) from None
    return Landing(source.id, day, folder.uri, location, tuple(entries), tuple(changed))


def _store_failure(exc: Exception) -> bool:
    """Whether a landing failed on a store (a boto3 error, or one already turned into a
    coded line by :func:`s3_error`) rather than on what was delivered."""
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(exc, StoreUnavailableError | BotoCoreError | ClientError)


# -- manifests ---------------------------------------------------------------------------------
def _folder(folder: Folder | Path) -> Folder:
    return LocalFolder(folder) if isinstance(folder, Path) else folder


def _read_text(folder: Folder, name: str) -> str | None:
    if name not in folder.files():
        return None
    return b"".join(folder.chunks(name)).decode("utf-8")


def read_manifest(folder: Folder | Path) -> list[LandedFile]:
    """The entries of a delivery folder's manifest; empty when there is none yet."""
    folder = _folder(folder)
    text = _read_text(folder, MANIFEST)
    if text is None:
        return []
    try:
        data = json.loads(text)
        return [LandedFile(**e) for e in data["files"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise DeliveryError(
            f"manifest {folder.path(MANIFEST)} is unreadable ({type(exc).__name__}); "
            "move it aside to re-land"
        ) from None


def write_manifest(
    folder: Folder | Path, source: Source, day: dt.date, location: str, entries: list[LandedFile]
) -> None:
    """Write the manifest atomically, and only when it changed (a no-op rerun writes nothing)."""
    folder = _folder(folder)
    body = {
        "source": source.id,
        "delivery_date": day.isoformat(),
        "kind": source.delivery.kind,
        "location": location,
        "files": [asdict(e) for e in sorted(entries, key=lambda e: e.file)],
    }
    text = json.dumps(body, ensure_ascii=False, indent=2) + "\n"
    if _read_text(folder, MANIFEST) == text:
        return
    folder.write(MANIFEST, text.encode("utf-8"))


def sha256_file(path: Path) -> str:
    return sha256_of(LocalFolder(path.parent), path.name)


def sha256_of(folder: Folder, name: str) -> str:
    """The sha256 of file ``name`` in ``folder``, read in pieces."""
    digest = hashlib.sha256()
    for chunk in folder.chunks(name):
        digest.update(chunk)
    return digest.hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _altered(source: Source, day: dt.date, path: str, expected: str, actual: str) -> Exception:
    return LandingChecksumError(
        f"{source.id}: delivery {day}: landed file {path} does not match its manifest "
        f"(expected sha256 {expected}, actual {actual}); it changed after landing, nothing "
        f"loaded; restore it, or delete it (objects: it is fetched again) or its manifest "
        f"entry (file drops: the new bytes are accepted) and rerun"
    )


# -- file drops --------------------------------------------------------------------------------
def _check_drops(
    source: Source,
    day: dt.date,
    folder: Folder,
    names: list[str],
    previous: dict[str, LandedFile],
    run_id: str,
) -> tuple[list[LandedFile], list[str]]:
    """Checksum the dropped files; a file recorded before must still have its checksum."""
    entries, changed = [], []
    sizes = folder.files()
    for name in names:
        sha = sha256_of(folder, name)
        known = previous.get(name)
        if known is not None:
            if known.sha256 != sha:
                raise _altered(source, day, folder.path(name), known.sha256, sha)
            entries.append(known)
            continue
        path = folder.path(name)
        entries.append(LandedFile(name, sizes[name], sha, path, None, _now(), run_id))
        changed.append(name)
    return entries, changed


# -- objects -----------------------------------------------------------------------------------
def _fetch(
    source: Source,
    day: dt.date,
    folder: Folder,
    objects: list[_Object],
    previous: dict[str, LandedFile],
    run_id: str,
    written: list[str],
) -> tuple[list[LandedFile], list[str]]:
    """Copy new and changed objects into ``folder``; verify the unchanged ones' landed bytes.
    ``written`` learns each name as its copy starts (what to remove if the landing fails)."""
    entries, changed = [], []
    landed = folder.files()
    for obj in objects:
        known = previous.get(obj.name)
        if not _unchanged(source, day, folder, obj, known, landed, entries):
            written.append(obj.name)
            size, sha = _copy(obj, folder)
            if known is not None and known.sha256 == sha:  # same bytes (a re-upload)
                entries.append(replace(known, etag=obj.etag, origin=obj.origin))
                continue
            entries.append(LandedFile(obj.name, size, sha, obj.origin, obj.etag, _now(), run_id))
            changed.append(obj.name)
    # Objects the source system withdrew leave landing too: bronze must not load them.
    current = {o.name for o in objects}
    for stale in landed:
        if fnmatch.fnmatch(stale, source.delivery.pattern) and stale not in current:
            folder.delete(stale)
    return entries, changed


def _unchanged(
    source: Source,
    day: dt.date,
    folder: Folder,
    obj: _Object,
    known: LandedFile | None,
    landed: dict[str, int],
    entries: list[LandedFile],
) -> bool:
    """Whether the object landed before from the same origin; its landed bytes are verified
    and its entry kept then."""
    same_origin = known is not None and (
        known.etag == obj.fingerprint if obj.etag is not None else known.sha256 == obj.fingerprint
    )
    if known is None or not same_origin or obj.name not in landed:
        return False
    actual = sha256_of(folder, obj.name)
    if actual != known.sha256:
        raise _altered(source, day, folder.path(obj.name), known.sha256, actual)
    entries.append(known)
    return True


def _copy(obj: _Object, folder: Folder) -> tuple[int, str]:
    """Read the object whole, hashing as it goes, then put it into ``folder`` in one step (a
    delivery file is small: one hour or one day of one source)."""
    digest, parts = hashlib.sha256(), []
    for chunk in obj.open_chunks():
        digest.update(chunk)
        parts.append(chunk)
    data = b"".join(parts)
    folder.write(obj.name, data)
    return len(data), digest.hexdigest()


def _list_objects(settings: Settings, source: Source, day: dt.date, location: str) -> list[_Object]:
    """The objects directly under the day's prefix whose name matches the declared pattern."""
    if settings.objects_url:
        objects = _list_s3(settings, source, day, location)
    else:
        objects = _list_local(Path(location))
    if source.delivery.pattern:
        objects = [o for o in objects if fnmatch.fnmatch(o.name, source.delivery.pattern)]
    if not objects:
        raise DeliveryError(
            f"{source.id}: delivery {day}: no object matching {source.delivery.pattern} under "
            f"{location}; nothing landed or loaded"
        )
    return sorted(objects, key=lambda o: o.name)


def _list_local(folder: Path) -> list[_Object]:
    if not folder.is_dir():
        return []

    def chunks(path: Path) -> Callable[[], Iterator[bytes]]:
        def read() -> Iterator[bytes]:
            with path.open("rb") as fh:
                while chunk := fh.read(_CHUNK):
                    yield chunk

        return read

    return [
        _Object(p.name, str(p), None, sha256_file(p), chunks(p))
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith((".", "_"))
    ]


def s3_client(settings: Settings) -> Any:
    """A boto3 S3 client for ``EB_OBJECTS_URL`` (see :func:`enforcement_brain.lake.s3.s3_client`);
    credentials come from the ``AWS_*`` variables."""
    from enforcement_brain.lake.s3 import s3_client as client

    url = settings.objects_url
    return client(url if url.startswith(("http://", "https://")) else "")


def _list_s3(settings: Settings, source: Source, day: dt.date, location: str) -> list[_Object]:
    bucket, prefix = str(source.delivery.bucket), object_prefix(source, day)
    client = s3_client(settings)
    found: list[_Object] = []
    try:
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, Delimiter="/"
        )
        for page in pages:
            for item in page.get("Contents", []):
                key = item["Key"]
                name = key[len(prefix) :]
                if not name or name.startswith((".", "_")):
                    continue
                etag = str(item.get("ETag", ""))
                found.append(
                    _Object(
                        name,
                        f"s3://{bucket}/{key}",
                        etag,
                        etag,
                        _s3_chunks(client, source, day, location, bucket, key),
                    )
                )
    except Exception as exc:
        raise s3_error(exc, source, day, location, settings.objects_url) from None
    return found


def _s3_chunks(
    client: Any, source: Source, day: dt.date, location: str, bucket: str, key: str
) -> Callable[[], Iterator[bytes]]:
    def read() -> Iterator[bytes]:
        try:
            response = client.get_object(Bucket=bucket, Key=key)
            expected, got = int(response.get("ContentLength", -1)), 0
            for chunk in response["Body"].iter_chunks(_CHUNK):
                got += len(chunk)
                yield chunk
        except Exception as exc:
            raise s3_error(exc, source, day, f"s3://{bucket}/{key}", "") from None
        if expected >= 0 and got != expected:
            raise StoreUnavailableError(
                f"{source.id}: delivery {day}: s3://{bucket}/{key} was cut short ({got} of "
                f"{expected} bytes); nothing loaded, rerun to fetch it again"
            )

    return read


def s3_error(exc: Exception, source: Source, day: dt.date, location: str, endpoint: str) -> Any:
    """A one-line :class:`DeliveryError` for what boto3 raised, naming source and delivery; a
    store that kept failing past boto3's retries is a :class:`StoreUnavailableError`.

    Anything that is not a boto3 error is returned unchanged: it is a bug, not bad input.
    """
    from botocore import exceptions as bx

    from enforcement_brain.lake.s3 import store_unavailable

    if isinstance(exc, EbError):
        return exc
    # An endpoint no connection reaches is named as such (a wrong URL, a store not started);
    # a store that answers but keeps failing is unavailable for now.
    unreachable = isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError)
    unavailable = "" if unreachable else store_unavailable(exc)
    if unavailable:
        return StoreUnavailableError(
            f"{source.id}: delivery {day} at {location}: {unavailable}; nothing landed or "
            "loaded, the delivery is still at its source: rerun when the store answers again"
        )
    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in {"NoSuchBucket"}:
            what = f"bucket {source.delivery.bucket} does not exist"
        elif code in {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"} or (
            status == 403
        ):
            what = f"access denied ({code or status}); check the AWS_* credentials"
        else:
            what = f"{code or status}: {error.get('Message', '')}".strip()
    elif isinstance(exc, bx.NoCredentialsError):
        what = "no AWS credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    elif isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError):
        what = f"object store unreachable ({endpoint or exc})"
    elif isinstance(exc, bx.BotoCoreError):
        what = f"{type(exc).__name__}: {exc}"
    else:
        return exc
    what = " ".join(what.split())
    return DeliveryError(
        f"{source.id}: delivery {day} at {location}: {what}; nothing landed or loaded"
    )


# -- ops.landing_log ---------------------------------------------------------------------------
def record(spark: SparkSession, settings: Settings, landing: Landing) -> int:
    """Append to ``ops.landing_log`` the file versions it does not hold yet; returns how many.

    Keyed on (source, day, file, sha256) rather than on "what this run changed", so a task that
    died between landing and this append logs the versions on its retry, and a no-op rerun logs
    nothing. The rows are built in Python and appended blind: loads of other sources append at
    the same time without conflicting. Read and written with delta-rs: a small table, and no
    Spark job for it.
    """
    import pyarrow.compute as pc

    from enforcement_brain.lake import tables

    wanted = (pc.field("source") == landing.source) & (
        pc.field("delivery_date") == landing.delivery_date
    )
    rows = tables.read_rows(settings, "ops", "landing_log", wanted, ["file", "sha256"])
    known = {(r["file"], r["sha256"]) for r in rows}
    new = [
        (
            landing.source,
            landing.delivery_date,
            landing.path(e),
            e.bytes,
            e.sha256,
            e.origin,
            e.etag,
            dt.datetime.fromisoformat(e.landed_at.replace("Z", "+00:00")),
            e.run_id,
        )
        for e in landing.files
        if (landing.path(e), e.sha256) not in known
    ]
    tables.append_rows(spark, settings, "ops", "landing_log", new, LANDING_LOG_SCHEMA)
    return len(new)
