"""Reading a declaration file and the checks every kind of declaration shares.

Each kind of declaration (elements, rules, sources, datasets, interfaces) has its own module; what
they have in common lives here so that a file is parsed one way and a missing key, a bad id or a
quality threshold is reported in the same words whatever declares it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from enforcement_brain.errors import DeclarationError

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: A declared id or param name: snake_case, so it is also a valid table, file and SQL name.
ID = re.compile(r"^[a-z][a-z0-9_]*$")


def read_yaml(path: Path) -> dict[str, Any]:
    """A declaration file's top-level mapping; bad YAML is a :class:`DeclarationError`."""
    try:
        # libyaml (C) when present: parsing every declaration is on the DAG-import path.
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise DeclarationError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise DeclarationError(f"{path}: expected a mapping at the top level")
    return data


def need(data: dict[str, Any], key: str, where: str) -> Any:
    """``data[key]``, or an error naming the file and entry: an empty value counts as missing."""
    if key not in data or data[key] in (None, ""):
        raise DeclarationError(f"{where}: missing '{key}'")
    return data[key]


def as_tuple(value: Any) -> tuple[str, ...]:
    """A key that may be written as one value or a list (``element: plate_no``), as a tuple."""
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (value,)


#: Top-level keys of a standard's file besides its entries: title, version, change log, references.
_HEADER_KEYS = ("standard", "title", "title_zh", "version", "changelog", "references")
#: Keys a source's ``quality`` block may set (Standard 2's per-source thresholds).
QUALITY_KEYS = {
    "completeness": float,
    "validity": float,
    "uniqueness": float,
    "freshness_hours": int,
    "retention_days": int,
    "classification": str,
}
CLASSIFICATION_LEVELS = ("L1", "L2", "L3", "L4")


def standard_header(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """A standard's title, version and change log; the log must open with the current version,
    so a change to a standard cannot be committed without saying what changed."""
    header = {k: data[k] for k in _HEADER_KEYS if k in data}
    version = str(need(data, "version", str(path)))
    log = data.get("changelog") or []
    if not log or str(log[0].get("version")) != version:
        raise DeclarationError(
            f"{path}: the change log must start with an entry for version {version}"
        )
    return header


def quality_block(data: dict[str, Any], where: str) -> dict[str, Any]:
    """A declaration's ``quality:`` block (Standard 2 thresholds), keys and types checked."""
    quality = dict(data.get("quality") or {})
    for name, value in quality.items():
        if name not in QUALITY_KEYS:
            raise DeclarationError(f"{where}: unknown quality key '{name}'")
        want = QUALITY_KEYS[name]
        if not isinstance(value, want) and not (want is float and isinstance(value, int)):
            raise DeclarationError(f"{where}: quality.{name} must be a {want.__name__}")
    return quality


def level_rank(level: str | None) -> int:
    """Order of a classification level (L1 = 1 ... L4 = 4; none = 0)."""
    return CLASSIFICATION_LEVELS.index(level) + 1 if level in CLASSIFICATION_LEVELS else 0
