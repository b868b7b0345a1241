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
from enforcement_brain.generate.fleet import (
    N_XUZHOU_ENTERPRISES,
    Fleet,
    build_fleet,
    digit_strings,
    distinct_values,
)
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


def _pick(values: tuple[str, ...]):
    arr = np.array(values, dtype=object)
    return lambda r, k: arr[r.integers(0, len(arr), k)]


def _person_first17(r: np.random.Generator, k: int) -> np.ndarray:
    """Home area, a real birth date 1958-2003 and a sequence: the 17 digits before the check."""
    birth = np.datetime64("1958-01-01") + r.integers(0, 365 * 46, k).astype("timedelta64[D]")
    compact = np.char.replace(birth.astype(str), "-", "").astype(object)
    return _pick(_HOME_AREAS)(r, k) + compact + digit_strings(r, k, 3)


@functools.lru_cache(maxsize=4)
def build_pools(seed: int, standards_dir: Path) -> Pools:
    """The pools for ``seed`` (cached; ~1 s)."""
    fleet = build_fleet(seed)
    rng = rng_for(seed, "pools")
    names = fleet.person_names[rng.integers(0, len(fleet.person_names), N_PERSONS)]
    first17 = distinct_values(rng, N_PERSONS, _person_first17)
    ids = np.array([f + id_check_char(f) for f in first17], dtype=object)
    phone = distinct_values(
        rng, N_PERSONS, lambda r, k: "1" + _pick(tuple("3456789"))(r, k) + digit_strings(r, k, 9)
    )
    keel_years = tuple(str(y) for y in range(1995, 2025))
    ship_id = distinct_values(
        rng, N_SHIPS, lambda r, k: "CN" + _pick(keel_years)(r, k) + digit_strings(r, k, 7)
    )
    ship_name = distinct_values(
        rng, N_SHIPS, lambda r, k: _pick(_SHIP_PREFIX)(r, k) + digit_strings(r, k, 4)
    )
    mmsi = distinct_values(rng, N_SHIPS, lambda r, k: "41" + digit_strings(r, k, 7))
    orgs = load_code_table(standards_dir, "officer_org").codes
    org_idx = rng.integers(0, len(orgs), N_OFFICERS)
    officer = distinct_values(rng, N_OFFICERS, lambda r, k: "XZ" + digit_strings(r, k, 5))
    terminal = distinct_values(rng, N_OFFICERS, lambda r, k: "T" + digit_strings(r, k, 7))
    return Pools(
        fleet=fleet,
        person_name=names,
        person_id=ids,
        person_phone=phone,
        ship_id=ship_id,
        ship_name=ship_name,
        ship_mmsi=mmsi,
        ship_tonnage=rng.integers(200, 3_000, N_SHIPS),
        ship_operator=rng.integers(0, N_XUZHOU_ENTERPRISES, N_SHIPS),
        officer_code=officer,
        officer_person=rng.choice(N_PERSONS, N_OFFICERS, replace=False),
        officer_org=np.array([orgs[i]["code"] for i in org_idx], dtype=object),
        officer_division=np.array(
            [str(orgs[i].get("division_code", "320300")) for i in org_idx], dtype=object
        ),
        officer_terminal=terminal,
    )
