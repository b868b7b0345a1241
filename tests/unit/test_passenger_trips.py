"""Passenger-car trips: cruising-taxi meter trips and ride-hailing orders in one source.

The city's taxi and ride-hailing supervision platform holds both; the service kind says which
a row is, the kinds' declared weights split the day's volume, each kind's declared tariff gives
its fares, and a meter trip names a taxi of the taxi register.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import pytest

from enforcement_brain.declarations import load_catalog
from enforcement_brain.generate.context import make_context
from enforcement_brain.generate.generic import generate_source
from enforcement_brain.generate.pools import build_pools
from enforcement_brain.standards.code_tables import load_code_table

STANDARDS = Path(__file__).resolve().parents[2] / "data_standards"
DAY = dt.date(2026, 11, 29)
SEED = 20250106
SCALE = 0.05


def _kinds() -> dict[str, dict]:
    return {c["code"]: c for c in load_code_table(STANDARDS, "passenger_service_kind").codes}


def _generated(source_id: str) -> list[dict]:
    ctx = make_context(STANDARDS, DAY, SEED, SCALE, 0.0)
    out = generate_source(ctx, build_pools(SEED, STANDARDS), ctx.catalog.sources[source_id])
    if out.db_rows is not None:
        return out.db_rows
    rows = []
    for text in out.delivery.texts.values():
        if source_id == "passenger_trips":
            rows += [json.loads(line) for line in text.splitlines() if line]
        else:
            header, *lines = text.splitlines()
            names = header.split(",")
            rows += [dict(zip(names, line.split(","), strict=True)) for line in lines]
    return rows


@pytest.fixture(scope="module")
def trips() -> list[dict]:
    return _generated("passenger_trips")


def test_one_source_holds_meter_trips_and_ride_hailing_orders() -> None:
    catalog = load_catalog(STANDARDS)
    assert len(catalog.sources) == 28
    assert "ride_hailing_orders" not in catalog.sources
    source = catalog.sources["passenger_trips"]
    assert source.column("service_kind").element == "passenger_service_kind"
    assert source.column("service_kind").required
    assert source.column("operator_credit_code").element == "credit_code"
    assert set(_kinds()) == {"CRUISE", "ONLINE"}
    assert {k: v["industry"] for k, v in _kinds().items()} == {
        "CRUISE": "taxi",
        "ONLINE": "ride_hailing",
    }


def test_a_taxi_makes_15_to_25_meter_trips_a_day() -> None:
    """The declared volume, split by the kinds' weights, over the taxi pool."""
    from enforcement_brain.generate.fleet import N_TAXIS

    kinds = _kinds()
    share = kinds["CRUISE"]["weight"] / sum(k["weight"] for k in kinds.values())
    rows = load_catalog(STANDARDS).sources["passenger_trips"].expected_daily_rows
    assert 2_000 <= N_TAXIS <= 6_000
    assert 15 <= rows * share / N_TAXIS <= 25


def test_trips_split_by_the_declared_weights(trips: list[dict]) -> None:
    kinds = _kinds()
    total = sum(k["weight"] for k in kinds.values())
    counts = Counter(t["service_kind"] for t in trips)
    assert set(counts) == set(kinds)
    for code, kind in kinds.items():
        assert counts[code] / len(trips) == pytest.approx(kind["weight"] / total, abs=0.02)


def test_fares_follow_each_kinds_tariff(trips: list[dict]) -> None:
    kinds = _kinds()
    for t in trips:
        k = kinds[t["service_kind"]]
        km = max(0.0, t["distance_m"] / 1000 - k["start_km"])
        assert t["fare_yuan"] == round(k["start_fare_yuan"] + k["per_km_yuan"] * km, 1), t


def test_meter_trips_and_the_taxi_register_name_the_same_taxis(trips: list[dict]) -> None:
    from enforcement_brain.generate.fleet import N_TAXIS, build_fleet

    fleet = build_fleet(SEED)
    taxis = set(fleet.car_plate[fleet.car_taxi])
    assert len(taxis) == N_TAXIS and all(p.startswith("苏C") for p in taxis)
    cruise = {t["plate_no"] for t in trips if t["service_kind"] == "CRUISE"}
    online = {t["plate_no"] for t in trips if t["service_kind"] == "ONLINE"}
    assert cruise <= taxis and len(cruise) > 500
    assert len(online - taxis) > 0.9 * len(online)  # ride-hailing cars are not the taxis
    register = {r["plate_no"] for r in _generated("taxi_vehicles_drivers")}
    assert register and register <= taxis
