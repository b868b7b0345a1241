"""What one day's generation needs, resolved once: parameters, fleet, code tables, declarations."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from enforcement_brain.declarations import Catalog, Element, Source, load_catalog
from enforcement_brain.generate._common import rng_for
from enforcement_brain.generate.fleet import Fleet, build_fleet
from enforcement_brain.standards.code_tables import load_code_table

WIM = "wim_weighings"
ANPR = "anpr_passes"
CASES = "enforcement_cases"
SOURCES = (WIM, ANPR, CASES)

#: Relative traffic by road class, for checkpoints and WIM sites.
ROAD_CLASS_WEIGHT = {"expressway": 1.6, "national": 1.3, "provincial": 0.8, "county": 0.4}


@dataclass(frozen=True)
class DayContext:
    """Parameters and reference data for generating ``day``."""

    day: dt.date
    seed: int
    scale: float
    defect_rate: float
    fleet: Fleet
    sources: dict[str, Source]
    wim_sites: list[dict[str, Any]]  # the sites that feed the city platform, i.e. deliver
    wim_site_weights: np.ndarray
    wim_site_codes: frozenset[str]  # all 18, for "unknown site" defects
    checkpoints: list[dict[str, Any]]
    checkpoint_weights: np.ndarray
    divisions: list[dict[str, Any]]
    violations: list[dict[str, Any]]
    standards_dir: Path
    catalog: Catalog

    @property
    def elements(self) -> dict[str, Element]:
        return self.catalog.elements

    @property
    def ymd(self) -> str:
        """The day as ``YYYYMMDD``, as it appears in file names and ids."""
        return self.day.strftime("%Y%m%d")

    def rng(self, *parts: object) -> np.random.Generator:
        """A stream for this seed and day; ``parts`` name the source and purpose."""
        return rng_for(self.seed, self.day.isoformat(), *parts)


def make_context(
    standards_dir: Path, day: dt.date, seed: int, scale: float, defect_rate: float
) -> DayContext:
    """Load the code tables and declarations the generators read, and the fleet for ``seed``."""
    sites = load_code_table(standards_dir, "wim_sites").codes
    feeding = [s for s in sites if s["feeds_city_platform"]]
    checkpoints = load_code_table(standards_dir, "checkpoints").codes
    # Stable per-seed busyness of each site: a national road with 3 lanes sees more trucks.
    site_rng = rng_for(seed, "sites")
    site_w = np.array(
        [s["lanes"] * (1.4 if s["road"].startswith("G") else 1.0) for s in feeding]
    ) * site_rng.uniform(0.6, 1.4, len(feeding))
    cp_w = np.array([ROAD_CLASS_WEIGHT[c["road_class"]] for c in checkpoints]) * site_rng.uniform(
        0.5, 1.5, len(checkpoints)
    )
    return DayContext(
        day=day,
        seed=seed,
        scale=scale,
        defect_rate=defect_rate,
        fleet=build_fleet(seed),
        sources={s: load_catalog(Path(standards_dir)).sources[s] for s in SOURCES},
        wim_sites=feeding,
        wim_site_weights=site_w / site_w.sum(),
        wim_site_codes=frozenset(s["code"] for s in sites),
        checkpoints=checkpoints,
        checkpoint_weights=cp_w / cp_w.sum(),
        divisions=load_code_table(standards_dir, "divisions").codes,
        violations=load_code_table(standards_dir, "violation_codes").codes,
        standards_dir=Path(standards_dir),
        catalog=load_catalog(Path(standards_dir)),
    )
