"""Load the code tables in ``data_standards/code_tables/*.yaml``.

A code table is the list of values a coded field may take (divisions, plate colours, WIM sites...),
with names and any attributes the platform derives from a code (``canonical`` colour, a site's
coordinates). The YAML file is the single source of truth: the Spark membership rules, the
generator and the human-readable standard all read it through this module.

Validation is strict on purpose. A code must be a YAML *string*: unquoted ``01`` reads as the
integer 1 and would silently stop matching the ``"01"`` a feed delivers, so the loader refuses it
and says to quote it. Duplicate codes are refused because a membership rule would still pass while
the attributes of one of the two entries are silently lost.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from enforcement_brain.errors import DeclarationError

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: Folder of the code tables, relative to the standards directory.
CODE_TABLES_DIR = "code_tables"
_REQUIRED_KEYS = ("id", "title", "title_zh", "standard", "codes")


@dataclass(frozen=True)
class CodeTable:
    """One code table: its metadata and its entries in file order.

    ``codes`` is a fresh copy for every :func:`load_code_table` call, so a caller may change it
    without changing what the next caller sees.
    """

    id: str
    title: str
    title_zh: str
    standard: str
    path: Path
    codes: list[dict[str, Any]] = field(default_factory=list)

    def code_set(self) -> frozenset[str]:
        """The codes, for membership rules."""
        return frozenset(entry["code"] for entry in self.codes)

    def get(self, code: str) -> dict[str, Any] | None:
        """The entry for ``code``, or None."""
        return next((entry for entry in self.codes if entry["code"] == code), None)

    def attribute(self, name: str) -> dict[str, Any]:
        """``{code: entry[name]}`` for the entries that have ``name`` (e.g. ``canonical``)."""
        return {entry["code"]: entry[name] for entry in self.codes if name in entry}


def code_tables_dir(standards_dir: Path) -> Path:
    """Where the code tables live under a standards directory."""
    return Path(standards_dir) / CODE_TABLES_DIR


def list_code_tables(standards_dir: Path) -> list[str]:
    """Ids of all code tables under ``standards_dir``, sorted (the file stems)."""
    folder = code_tables_dir(standards_dir)
    if not folder.is_dir():
        raise DeclarationError(f"{folder}: no code tables folder")
    return sorted(p.stem for p in folder.glob("*.yaml"))


def load_code_table(standards_dir: Path, table_id: str) -> CodeTable:
    """Load and validate one code table; raise :class:`DeclarationError` naming file and entry.

    Parsed tables are cached per file path and modification time: long-lived processes (Airflow
    workers, the interface server) see an edited table without a restart, and repeated loads in
    one run cost a ``stat``.
    """
    path = (code_tables_dir(standards_dir) / f"{table_id}.yaml").resolve()
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise DeclarationError(f"{path}: no code table {table_id!r}") from None
    meta, codes = _parse(str(path), mtime)
    return CodeTable(path=path, codes=copy.deepcopy(codes), **meta)


@functools.lru_cache(maxsize=128)
def _parse(path_str: str, _mtime_ns: int) -> tuple[dict[str, str], list[dict[str, Any]]]:
    path = Path(path_str)
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise DeclarationError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise DeclarationError(f"{path}: expected a mapping with keys {', '.join(_REQUIRED_KEYS)}")
    missing = [k for k in _REQUIRED_KEYS if k not in doc]
    if missing:
        raise DeclarationError(f"{path}: missing key(s) {', '.join(missing)}")
    if doc["id"] != path.stem:
        raise DeclarationError(f"{path}: id {doc['id']!r} differs from the file name {path.stem!r}")
    codes = doc["codes"]
    if not isinstance(codes, list) or not codes:
        raise DeclarationError(f"{path}: 'codes' must be a non-empty list")
    seen: set[str] = set()
    for i, entry in enumerate(codes, start=1):
        if not isinstance(entry, dict) or "code" not in entry or "name" not in entry:
            raise DeclarationError(f"{path}: entry {i} needs at least 'code' and 'name'")
        code = entry["code"]
        if not isinstance(code, str) or not code:
            raise DeclarationError(
                f"{path}: entry {i} code {code!r} is not a string; quote it (YAML reads 01 as 1)"
            )
        if code in seen:
            raise DeclarationError(f"{path}: duplicate code {code!r} (entry {i})")
        seen.add(code)
    meta = {k: str(doc[k]) for k in ("id", "title", "title_zh", "standard")}
    return meta, codes
