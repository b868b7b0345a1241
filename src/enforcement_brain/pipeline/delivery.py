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
from pathlib import Path

from enforcement_brain.declarations import Source
from enforcement_brain.errors import DeliveryError
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
    """
    folder = Path(delivery_dir(settings, source, day).removeprefix("file://"))
    if not folder.is_dir():
        raise DeliveryError(f"{source.id}: no delivery for {day} (expected folder {folder})")
    files = sorted(
        str(p)
        for p in folder.iterdir()
        if p.is_file()
        and not p.name.startswith(("_", "."))
        and fnmatch.fnmatch(p.name, source.delivery.pattern)
    )
    if not files:
        raise DeliveryError(
            f"{source.id}: delivery folder {folder} has no file matching {source.delivery.pattern}"
        )
    empty = [f for f in files if Path(f).stat().st_size == 0]
    if empty:
        raise DeliveryError(
            f"{source.id}: empty delivery file(s) {', '.join(empty)}; left in landing"
        )
    return files


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
