"""Standing populations besides the fleet: people, ships and officers.

Like the fleet, they depend on the seed only, so the same driver, ship or officer appears in
every source and on every day: a practitioner's ID number is the one a taxi record names, a
ship's receipts name a ship that is in the ship register.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from enforcement_brain.generate._common import rng_for
from enforcement_brain.generate.fleet import Fleet, build_fleet
from enforcement_brain.standards.checks import id_check_char
from enforcement_brain.standards.code_tables import load_code_table

N_PERSONS = 40_000
N_SHIPS = 3_000
N_OFFICERS = 800
#: Xuzhou county-level codes people are registered in (GB/T 2260); older people keep codes
#: of their birth place, which are still valid numbers.
_HOME_AREAS = ("320302", "320303", "320305", "320311", "320312", "320321", "320322",
               "320324", "320381", "320382", "320323", "320304")  # fmt: skip
_SHIP_PREFIX = ("苏徐州货", "苏邳州货", "苏新沂货", "苏沛县货", "苏睢宁货", "鲁济宁货", "皖宿州货")


@dataclass(frozen=True)
class Pools:
    """Columnar pools: index i of every ``person_*`` array is person i, and so on."""

    fleet: Fleet
    person_name: np.ndarray
    person_id: np.ndarray  # valid GB 11643 numbers
    person_phone: np.ndarray
    ship_id: np.ndarray
    ship_name: np.ndarray
    ship_mmsi: np.ndarray
    ship_tonnage: np.ndarray
    ship_operator: np.ndarray  # index into fleet.ent_*
    officer_code: np.ndarray
    officer_person: np.ndarray  # index into person_*
    officer_org: np.ndarray  # org code
    officer_division: np.ndarray
    officer_terminal: np.ndarray


def _digits(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """``n`` strings of ``k`` random digits."""
    return np.char.zfill(rng.integers(0, 10**k, n).astype(str), k).astype(object)


def _unique(rng: np.random.Generator, n: int, make) -> np.ndarray:
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        for v in make(rng, n):
            if v not in seen:
                seen.add(v)
                out.append(v)
                if len(out) == n:
                    break
    return np.array(out, dtype=object)


@functools.lru_cache(maxsize=4)
def build_pools(seed: int, standards_dir: Path) -> Pools:
    """The pools for ``seed`` (cached; ~1 s)."""
    fleet = build_fleet(seed)
    rng = rng_for(seed, "pools")
    names = fleet.person_names[rng.integers(0, len(fleet.person_names), N_PERSONS)]
    area = np.array(_HOME_AREAS, dtype=object)[rng.integers(0, len(_HOME_AREAS), N_PERSONS)]
    birth = np.datetime64("1958-01-01") + rng.integers(0, 365 * 46, N_PERSONS).astype(
        "timedelta64[D]"
    )
    birth_s = np.char.replace(birth.astype(str), "-", "").astype(object)
    first17 = _unique(rng, N_PERSONS, lambda r, n: (area + birth_s + _digits(r, n, 3)).tolist())
    ids = np.array([f + id_check_char(f) for f in first17], dtype=object)
    phone = _unique(
        rng,
        N_PERSONS,
        lambda r, n: (
            "1" + np.array(list("3456789"), dtype=object)[r.integers(0, 7, n)] + _digits(r, n, 9)
        ).tolist(),
    )
    keel = rng.integers(1995, 2025, N_SHIPS).astype(str).astype(object)
    ship_id = _unique(rng, N_SHIPS, lambda r, n: ("CN" + keel + _digits(r, n, 7)).tolist())
    ship_name = _unique(
        rng,
        N_SHIPS,
        lambda r, n: (
            np.array(_SHIP_PREFIX, dtype=object)[r.integers(0, len(_SHIP_PREFIX), n)]
            + _digits(r, n, 4)
        ).tolist(),
    )
    mmsi = _unique(rng, N_SHIPS, lambda r, n: ("41" + _digits(r, n, 7)).tolist())
    orgs = load_code_table(standards_dir, "officer_org").codes
    org_idx = rng.integers(0, len(orgs), N_OFFICERS)
    officer = _unique(rng, N_OFFICERS, lambda r, n: ("XZ" + _digits(r, n, 5)).tolist())
    terminal = _unique(rng, N_OFFICERS, lambda r, n: ("T" + _digits(r, n, 7)).tolist())
    return Pools(
        fleet=fleet,
        person_name=names,
        person_id=ids,
        person_phone=phone,
        ship_id=ship_id,
        ship_name=ship_name,
        ship_mmsi=mmsi,
        ship_tonnage=rng.integers(200, 3_000, N_SHIPS),
        ship_operator=rng.integers(0, 2_000, N_SHIPS),
        officer_code=officer,
        officer_person=rng.choice(N_PERSONS, N_OFFICERS, replace=False),
        officer_org=np.array([orgs[i]["code"] for i in org_idx], dtype=object),
        officer_division=np.array(
            [str(orgs[i].get("division_code", "320300")) for i in org_idx], dtype=object
        ),
        officer_terminal=terminal,
    )
