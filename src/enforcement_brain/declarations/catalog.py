"""The catalog: every declaration under ``data_standards/``, loaded and cross-checked.

Loading is all-or-nothing: a source that names an unknown rule, a dataset an unknown source or an
interface an unknown dataset fails here, before any DAG or job uses them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from enforcement_brain.declarations.datasets import Dataset, check_params, load_dataset
from enforcement_brain.declarations.elements import Element, load_elements
from enforcement_brain.declarations.interfaces import Interface, load_interfaces
from enforcement_brain.declarations.reading import level_rank
from enforcement_brain.declarations.rules import (
    PersonalTracks,
    Rule,
    level_masks,
    load_rules,
    personal_tracks,
)
from enforcement_brain.declarations.sources import Source, load_source
from enforcement_brain.errors import DeclarationError


@dataclass(frozen=True)
class Catalog:
    """Everything declared, cross-checked."""

    element_version: str
    quality_version: str
    elements: dict[str, Element]
    rules: dict[str, Rule]
    sources: dict[str, Source]
    datasets: dict[str, Dataset]
    interfaces: dict[str, Interface]
    root: Path
    element_standard: dict[str, Any] = field(default_factory=dict)
    quality_standard: dict[str, Any] = field(default_factory=dict)

    @property
    def standard_version(self) -> str:
        """One label for both standards, recorded with every ledger and quarantine row."""
        return f"DES-{self.element_version}/DQS-{self.quality_version}"

    def interface_families(self) -> dict[str, list[Interface]]:
        """Interfaces by declaration file: one entry per file, holding the one interface it
        declares or its recipients' (one share DAG and one projection job per entry)."""
        out: dict[str, list[Interface]] = {}
        for interface in self.interfaces.values():
            out.setdefault(interface.family or interface.id, []).append(interface)
        return out

    def rules_for(self, source: Source) -> list[Rule]:
        """The rules that apply to a source: the always-on ones, then its own, in declared order."""
        always = [r for r in self.rules.values() if r.always]
        return always + [self.rules[r] for r in source.rule_ids if not self.rules[r].always]


def check_tracks(
    tracks: PersonalTracks,
    sources: dict[str, Source],
    datasets: dict[str, Dataset],
    elements: dict[str, Element],
) -> None:
    """A source or dataset holding 行踪轨迹 (an identifier with a position) is classified at
    the tracks' level: sensitive personal information is not filed as internal data."""
    law = tracks.follows.split(";")[0].strip()
    for source in sources.values():
        ids, pos = tracks.in_columns({c.name: c.element for c in source.columns})
        level = source.quality.get("classification")
        if ids and level_rank(level) < level_rank(tracks.level):
            raise DeclarationError(
                f"sources/{source.id}.yaml: source {source.id}: holds 行踪轨迹 "
                f"({tracks.describe(ids, pos)}): sensitive personal information ({law}), "
                f"classification {tracks.level} required, not {level}"
            )
    for dataset in datasets.values():
        of = {c: e.id for c in dataset.columns if (e := dataset.element_of(c, elements))}
        ids, pos = tracks.in_columns(of)
        if ids and level_rank(dataset.classification) < level_rank(tracks.level):
            raise DeclarationError(
                f"datasets/{dataset.id}.yaml: dataset {dataset.id}: holds 行踪轨迹 "
                f"({tracks.describe(ids, pos)}): sensitive personal information ({law}), "
                f"classification {tracks.level} required, not {dataset.classification}"
            )


@lru_cache(maxsize=8)
def load_catalog(root: Path) -> Catalog:
    """Load every declaration under ``root`` (``data_standards/``); cached per folder."""
    root = Path(root)
    if not root.is_dir():
        raise DeclarationError(f"{root}: the data_standards folder does not exist")
    element_standard, elements = load_elements(root / "elements.yaml")
    quality_standard, rules = load_rules(root / "quality" / "rules.yaml", elements)
    from enforcement_brain.standards.code_tables import load_code_table

    for element in elements.values():
        if element.code_table:
            try:
                load_code_table(root, element.code_table)
            except DeclarationError as exc:
                raise DeclarationError(f"element {element.id}: {exc}") from None
        if element.unit_from:
            try:
                table = load_code_table(root, element.unit_from)
            except DeclarationError as exc:
                raise DeclarationError(f"element {element.id}: unit_from: {exc}") from None
            without = [e["code"] for e in table.codes if not e.get("unit")]
            if without:
                raise DeclarationError(
                    f"element {element.id}: unit_from {table.id}: codes {without} have no unit"
                )
    sources = {
        s.id: s
        for s in (load_source(p, elements, rules) for p in sorted(root.glob("sources/*.yaml")))
    }
    datasets = {
        d.id: d
        for d in (load_dataset(p, sources, elements) for p in sorted(root.glob("datasets/*.yaml")))
    }
    check_params(datasets)
    tracks = personal_tracks(quality_standard)
    if tracks:
        check_tracks(tracks, sources, datasets, elements)
    masks = level_masks(quality_standard.get("classification_levels") or [])
    interfaces: dict[str, Interface] = {}
    for p in sorted(root.glob("interfaces/*.yaml")):
        for i in load_interfaces(p, datasets, elements, masks, tracks):
            if i.id in interfaces:
                raise DeclarationError(f"{p}: interface id {i.id} is declared twice")
            interfaces[i.id] = i
    return Catalog(
        str(element_standard["version"]),
        str(quality_standard["version"]),
        elements,
        rules,
        sources,
        datasets,
        interfaces,
        root,
        element_standard,
        quality_standard,
    )
