"""A folder of plain files, on this machine or under an S3 prefix: where deliveries land.

Why one interface: landing, bronze's file listing and the generator all handle a delivery
folder (list its files, read and hash them, write one atomically, drop a stale one), and on the
cluster profile that folder lives in the lake's object store instead of on a disk. Each of them
asks :func:`lake_folder` (or :func:`objects_folder` for a source system's bucket) and does the
same thing either way; nothing else in the code base branches on where landing lives.

On S3 a put is atomic by itself (an object appears whole or not at all), so no temporary
sibling is needed there; locally a file is written beside its place and renamed into it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from enforcement_brain.settings import Settings

_CHUNK = 1 << 20


class Folder(Protocol):
    """One folder of files, directly under it (no recursion)."""

    @property
    def uri(self) -> str:
        """The folder as Spark and people name it: a local path, or ``s3a://bucket/prefix``."""
        ...

    def path(self, name: str) -> str:
        """The file ``name`` in this folder, as Spark reads it."""
        ...

    def files(self) -> dict[str, int]:
        """Name -> size of every file directly in the folder."""
        ...

    def chunks(self, name: str) -> Iterator[bytes]:
        """The bytes of file ``name``, in pieces."""
        ...

    def write(self, name: str, data: bytes) -> None:
        """Put ``data`` as file ``name``, atomically (a reader sees the old or the new file)."""
        ...

    def delete(self, name: str) -> None:
        """Remove file ``name``; a missing file is no error."""
        ...


@dataclass(frozen=True)
class LocalFolder:
    root: Path

    @property
    def uri(self) -> str:
        return str(self.root)

    def path(self, name: str) -> str:
        return str(self.root / name)

    def files(self) -> dict[str, int]:
        if not self.root.is_dir():
            return {}
        return {p.name: p.stat().st_size for p in self.root.iterdir() if p.is_file()}

    def chunks(self, name: str) -> Iterator[bytes]:
        with (self.root / name).open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                yield chunk

    def write(self, name: str, data: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{name}.tmp"
        try:
            tmp.write_bytes(data)
            os.replace(tmp, self.root / name)
        finally:
            tmp.unlink(missing_ok=True)

    def delete(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)


@dataclass(frozen=True)
class S3Folder:
    client: Any  # boto3 S3 client of the store the bucket is on
    bucket: str
    prefix: str  # no leading or trailing "/"
    scheme: str = "s3a"  # how Spark names it; boto3 needs only bucket and key

    @property
    def uri(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.prefix}"

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def path(self, name: str) -> str:
        return f"{self.uri}/{name}"

    def files(self) -> dict[str, int]:
        start = self._key("")
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=start, Delimiter="/"
        )
        return {
            item["Key"][len(start) :]: int(item["Size"])
            for page in pages
            for item in page.get("Contents", [])
            if item["Key"] != start
        }

    def chunks(self, name: str) -> Iterator[bytes]:
        body = self.client.get_object(Bucket=self.bucket, Key=self._key(name))["Body"]
        yield from body.iter_chunks(_CHUNK)

    def write(self, name: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(name), Body=data)

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(name))


def lake_folder(settings: Settings, uri: str) -> Folder:
    """The lake's folder at ``uri`` (e.g. a delivery folder under ``<lake>/landing/``): on this
    machine for a local lake, on the lake's store (``EB_S3_ENDPOINT``) for an ``s3a://`` one."""
    if settings.lake_is_local:
        return LocalFolder(Path(uri.removeprefix("file://")))
    from enforcement_brain.lake.s3 import S3Location

    location = S3Location.parse(uri)
    client = _client(settings.s3_endpoint, settings.s3_region)
    return S3Folder(client, location.bucket, location.prefix)


def objects_folder(settings: Settings, bucket: str, prefix: str) -> Folder:
    """A source system's bucket prefix: on its store (``EB_OBJECTS_URL``), else the local
    stand-in ``<EB_OBJECTS_ROOT>/<bucket>/<prefix>``."""
    prefix = prefix.strip("/")
    if not settings.objects_url:
        return LocalFolder(settings.objects_root / bucket / prefix)
    url = settings.objects_url
    client = _client(url if url.startswith(("http://", "https://")) else "", settings.s3_region)
    return S3Folder(client, bucket, prefix, scheme="s3")


@functools.cache
def _client(endpoint: str, region: str | None) -> Any:
    """One boto3 client per store and process: making one costs a second of CPU, and a
    landing asks for a folder several times (boto3 clients are safe to share between threads).
    The credentials are those of the environment when the first one was made."""
    from enforcement_brain.lake.s3 import s3_client

    return s3_client(endpoint, region)
