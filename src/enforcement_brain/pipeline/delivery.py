"""Where a source's delivery for a day lives, which files it holds, and its batch id.

Landing writes a day's delivery into ``<lake>/landing/<source>/<day>/`` and bronze reads it from
there; both ask this module where that is and which of its files are delivery, so neither calls
the other. An object source's delivery is first fetched from its declared bucket prefix
(:func:`object_prefix`, :func:`delivery_location`). The batch id names the same thing (one
source's delivery for one day) in bronze, silver, quarantine and the ``ops`` tables.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib

from enforcement_brain.declarations import Source
from enforcement_brain.errors import DeliveryError
from enforcement_brain.lake.folders import lake_folder
from enforcement_brain.settings import Settings


def batch_id(source_id: str, day: dt.date) -> str:
    """Deterministic id of one source's delivery for one day: reruns keep the same id."""
    digest = hashlib.sha1(f"{source_id}/{day.isoformat()}".encode()).hexdigest()[:12]
    return f"{source_id}-{day:%Y%m%d}-{digest}"


def delivery_dir(settings: Settings, source: Source, day: dt.date) -> str:
    """Where a day's file delivery is kept: ``<lake>/landing/<source>/<day>``.

    Object sources too: landing fetches their objects here first, so bronze reads only what
    landing holds (and its manifest vouches for).
    """
    return f"{settings.landing_uri}/{source.id}/{day.isoformat()}"


def landing_files(settings: Settings, source: Source, day: dt.date) -> list[str]:
    """The day's delivered files for a file source, sorted; an error names what is missing.

    Names starting with ``_`` or ``.`` (the manifest, a fetch in progress) are never delivery.
    The files are named as Spark reads them: local paths, or ``s3a://`` URIs on a lake in
    object storage.
    """
    folder = lake_folder(settings, delivery_dir(settings, source, day))
    found = folder.files()
    if not found:
        raise DeliveryError(f"{source.id}: no delivery for {day} (expected folder {folder.uri})")
    names = sorted(
        name
        for name in found
        if not name.startswith(("_", ".")) and fnmatch.fnmatch(name, source.delivery.pattern)
    )
    if not names:
        raise DeliveryError(
            f"{source.id}: delivery folder {folder.uri} has no file matching "
            f"{source.delivery.pattern}"
        )
    empty = [folder.path(n) for n in names if found[n] == 0]
    if empty:
        raise DeliveryError(
            f"{source.id}: empty delivery file(s) {', '.join(empty)}; left in landing"
        )
    return [folder.path(n) for n in names]


def object_prefix(source: Source, day: dt.date) -> str:
    """The declared key prefix for the day, ``/``-terminated (``alarms/2026/11/29/``)."""
    prefix = (source.delivery.prefix or "").format(yyyy=f"{day:%Y}", mm=f"{day:%m}", dd=f"{day:%d}")
    return prefix.rstrip("/") + "/" if prefix.strip("/") else ""


def delivery_location(settings: Settings, source: Source, day: dt.date) -> str:
    """Where an object source's delivery is fetched from, as error messages name it."""
    prefix = object_prefix(source, day)
    if settings.objects_url:
        return f"s3://{source.delivery.bucket}/{prefix}"
    return str(settings.objects_root / str(source.delivery.bucket) / prefix)
