"""Data elements (Standard 1, ``data_standards/elements.yaml``): every column names one.

An element fixes a column's type, unit, range, code table and classification once, so sources,
datasets and interfaces that carry it are checked and masked alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from enforcement_brain.declarations.reading import (
    CLASSIFICATION_LEVELS,
    need,
    read_yaml,
    standard_header,
)
from enforcement_brain.errors import DeclarationError

#: Column types a declaration may use: those every layer (CSV, JSON, SQL, Delta) can carry.
TYPES = ("string", "int", "bigint", "double", "boolean", "date", "timestamp")


@dataclass(frozen=True)
class Element:
    """One data element of Standard 1: what a column carrying it must hold."""

    id: str
    name_zh: str
    type: str
    code_table: str | None = None
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    format: str | None = None
    follows: str | None = None
    classification: str | None = None
    description: str = ""
    name_en: str | None = None
    check: str | None = None  # the check algorithm, in words (e.g. "GB 32100 check character")
    pattern: str | None = None  # the format, in words or as a regex
    #: A code table whose ``unit`` attribute gives the unit row by row, for a quantity written
    #: in the unit of its kind (a pollutant receipt in t or m³): the code of that table on the
    #: same row names the unit.
    unit_from: str | None = None

    @property
    def unit_label(self) -> str | None:
        """The unit as a reader sees it: the fixed unit, or where the row's unit comes from."""
        if self.unit:
            return self.unit
        return f"per row: unit of its {self.unit_from} code" if self.unit_from else None


#: Types of a quantity: a number is only comparable or summable with its unit.
NUMERIC_TYPES = ("int", "bigint", "double")


def load_elements(path: Path) -> tuple[dict[str, Any], dict[str, Element]]:
    """Standard 1's header (with its definitions) and its elements by id, every key checked:
    an unknown key is more likely a typo than a new attribute."""
    data = read_yaml(path)
    out: dict[str, Element] = {}
    for i, raw in enumerate(need(data, "elements", str(path))):
        where = f"{path}: elements[{i}]"
        eid = need(raw, "id", where)
        if eid in out:
            raise DeclarationError(f"{path}: element '{eid}' is declared twice")
        if raw.get("type") not in TYPES:
            raise DeclarationError(f"{where} ({eid}): type must be one of {', '.join(TYPES)}")
        level = raw.get("classification")
        if level is not None and level not in CLASSIFICATION_LEVELS:
            raise DeclarationError(
                f"{where} ({eid}): classification must be one of {', '.join(CLASSIFICATION_LEVELS)}"
            )
        known = set(Element.__dataclass_fields__)
        unknown = set(raw) - known
        if unknown:
            raise DeclarationError(f"{where} ({eid}): unknown keys {sorted(unknown)}")
        if raw["type"] in NUMERIC_TYPES and not (raw.get("unit") or raw.get("unit_from")):
            raise DeclarationError(
                f"{where} ({eid}): a {raw['type']} element needs a unit (SI symbol, '1' for a "
                "count or ratio) or unit_from: the code table that gives it"
            )
        out[eid] = Element(**raw)
    header = standard_header(data, path)
    terms = data.get("definitions") or []
    seen: set[str] = set()
    for i, term in enumerate(terms):
        tid = term.get("id")
        if not tid or not term.get("definition"):
            raise DeclarationError(f"{path}: definitions[{i}] needs an 'id' and a 'definition'")
        if tid in seen:
            raise DeclarationError(f"{path}: definition '{tid}' is declared twice")
        seen.add(tid)
    header["definitions"] = terms
    return header, out
