"""Quality rules and classification levels (Standard 2, ``data_standards/quality/rules.yaml``).

A rule names its check kind and parameters; the kind itself (its SQL, expectation, constraint)
lives in ``standards/rule_kinds``, which validates the parameters here so a bad rule fails when
the declarations load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from enforcement_brain.declarations.elements import Element
from enforcement_brain.declarations.reading import (
    CLASSIFICATION_LEVELS,
    QUALITY_KEYS,
    as_tuple,
    need,
    read_yaml,
    standard_header,
)
from enforcement_brain.errors import DeclarationError

#: What a failing row does: logged, moved to quarantine, or fails the load.
SEVERITIES = ("warn", "quarantine", "fail")


@dataclass(frozen=True)
class Rule:
    """One quality rule of Standard 2: a check kind, its resolved parameters and severity."""

    id: str
    title: str
    severity: str
    kind: str
    params: dict[str, Any]
    elements: tuple[str, ...] = ()
    always: bool = False
    #: Elements a row rule reads together (coordinates, consistency); a source that lists the
    #: rule must have exactly one column of each.
    requires: tuple[str, ...] = ()


def load_rules(path: Path, elements: dict[str, Element]) -> tuple[dict[str, Any], dict[str, Rule]]:
    """Standard 2's header (classification levels, quality dimensions) and its rules by id.

    Every classified element must have a mask at its level, so nothing personal can be shared
    without one being declared.
    """
    # Each check kind reads and validates its own parameters (standards/rule_kinds).
    from enforcement_brain.standards.rule_kinds import kind_named

    data = read_yaml(path)
    out: dict[str, Rule] = {}
    for i, raw in enumerate(need(data, "rules", str(path))):
        where = f"{path}: rules[{i}]"
        rid = need(raw, "id", where)
        where = f"{path}: rule {rid}"
        if rid in out:
            raise DeclarationError(f"{path}: duplicate rule id '{rid}'")
        severity = need(raw, "severity", where)
        if severity not in SEVERITIES:
            raise DeclarationError(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
        check = dict(need(raw, "check", where))
        kind = check.pop("kind", None)
        if not kind:
            raise DeclarationError(f"{where}: check needs a 'kind'")
        rule_kind = kind_named(kind, where)
        named = rule_kind.named_elements(check, where)
        for element in (*as_tuple(raw.get("element")), *named):
            if element not in elements:
                raise DeclarationError(f"{where}: unknown element '{element}'")
        declared = [elements[e] for e in as_tuple(raw.get("element"))]
        check = rule_kind.resolve_params(check, declared, where)
        out[rid] = Rule(
            id=rid,
            title=need(raw, "title", where),
            severity=severity,
            kind=kind,
            params=check,
            elements=as_tuple(raw.get("element")) or tuple(named),
            always=bool(raw.get("always", False)),
            requires=tuple(named),
        )
    header = standard_header(data, path)
    levels = data.get("classification_levels") or []
    from enforcement_brain.standards.masking import MASKS

    for i, level in enumerate(levels):
        lwhere = f"{path}: classification_levels[{i}]"
        if level.get("level") not in CLASSIFICATION_LEVELS:
            raise DeclarationError(
                f"{lwhere}: level must be one of {', '.join(CLASSIFICATION_LEVELS)}"
            )
        for element, mask in (level.get("masks") or {}).items():
            if element not in elements:
                raise DeclarationError(f"{lwhere}: unknown element '{element}'")
            if mask not in MASKS:
                raise DeclarationError(
                    f"{lwhere}: unknown mask '{mask}' for {element}; masks are {sorted(MASKS)}"
                )
    masked = {level["level"]: set(level.get("masks") or {}) for level in levels}
    for element in elements.values():
        level = element.classification
        if levels and level and level != "L1" and element.id not in masked.get(level, set()):
            raise DeclarationError(
                f"{path}: element '{element.id}' is {level} but classification level {level} "
                "declares no mask for it"
            )
    header["classification_levels"] = levels
    header["personal_tracks"] = _personal_tracks(data.get("personal_tracks"), path, elements)
    dims = {d.get("id") for d in data.get("quality_dimensions") or []}
    if dims and dims != set(QUALITY_KEYS):
        raise DeclarationError(
            f"{path}: quality_dimensions must define exactly {sorted(QUALITY_KEYS)}"
        )
    header["quality_dimensions"] = data.get("quality_dimensions") or []
    return header, out


@dataclass(frozen=True)
class PersonalTracks:
    """行踪轨迹 (Standard 2 ``personal_tracks``): an identifier element with a position
    element is a track, sensitive personal information at ``level``."""

    level: str
    follows: str
    identifiers: frozenset[str]
    positions: frozenset[str]

    def in_columns(self, elements_of: dict[str, str]) -> tuple[list[str], list[str]]:
        """(identifier columns, position columns) among ``{column: element id}``; a track
        when both are non-empty."""
        ids = [c for c, e in elements_of.items() if e in self.identifiers]
        pos = [c for c, e in elements_of.items() if e in self.positions]
        return (ids, pos) if ids and pos else ([], [])

    def describe(self, ids: list[str], pos: list[str]) -> str:
        return f"{', '.join(ids)} with {', '.join(pos)}"


def _personal_tracks(raw: Any, path: Path, elements: dict[str, Element]) -> dict[str, Any]:
    """The ``personal_tracks`` block, its elements and level checked."""
    if raw is None:
        return {}
    where = f"{path}: personal_tracks"
    if not isinstance(raw, dict):
        raise DeclarationError(f"{where}: must be a mapping")
    unknown = set(raw) - {"name_zh", "level", "follows", "identifiers", "positions"}
    if unknown:
        raise DeclarationError(f"{where}: unknown keys {sorted(unknown)}")
    if raw.get("level") not in CLASSIFICATION_LEVELS:
        raise DeclarationError(f"{where}: level must be one of {', '.join(CLASSIFICATION_LEVELS)}")
    for key in ("identifiers", "positions"):
        named = raw.get(key) or []
        if not named or any(e not in elements for e in named):
            raise DeclarationError(f"{where}: {key} must name declared elements")
    return dict(raw)


def personal_tracks(header: dict[str, Any]) -> PersonalTracks | None:
    """Standard 2's 行踪轨迹 declaration, or None when it declares none."""
    raw = header.get("personal_tracks") or {}
    if not raw:
        return None
    return PersonalTracks(
        str(raw["level"]),
        str(raw.get("follows") or ""),
        frozenset(raw["identifiers"]),
        frozenset(raw["positions"]),
    )


def level_masks(levels: list[dict[str, Any]]) -> dict[str, str]:
    """Standard 2's mask for each classified element, from its classification levels."""
    return {e: m for level in levels for e, m in (level.get("masks") or {}).items()}
