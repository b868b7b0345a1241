"""What the generic generator does per source beyond drawing values: keys, folders, refinements.

Which vehicles and people a source is about, its traffic profile and how its files split are
declared with the source (its ``generator:`` block). What stays here is code: business keys
(event ids, or members of a register's pool), the delivery folder, and a ``refine`` step for the
sources whose columns depend on each other (the physics of a weighing, the fare of a trip).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from enforcement_brain.declarations import Source
from enforcement_brain.generate._common import rows_for
from enforcement_brain.generate.cases import REGISTRATION_AREA, Transfer, transfers_on
from enforcement_brain.standards.checks import (
    SINGLE_DRIVE_AXLE_LIMIT_KG,
    SINGLE_DRIVE_AXLE_MIN_AXLES,
    SINGLE_TYRE_REDUCTION_KG,
    XUZHOU_PLATE_PREFIX,
    gross_limit_kg,
)
from enforcement_brain.standards.code_tables import load_code_table

if TYPE_CHECKING:
    from enforcement_brain.generate.context import DayContext
    from enforcement_brain.generate.generic import Draw

#: Xuzhou's GB/T 2260 area code: the sender of outgoing transfers, the receiver of the others.
XUZHOU_AREA = "320300"
#: The first enterprises of the fleet that are loading sources (quarries, plants, yards).
N_SOURCE_ENTERPRISES = 300
#: Range of the factor between a ship's expected quantity (from its declaration) and the quantity
#: it hands over ÷ its type's delivery ratio [I]: ±20 %, mean 1, so the ratio holds on average.
DECLARATION_SPREAD = (0.8, 1.2)
#: Pools whose members are the business key (a registration change names an existing member).
_POOL_KEYS = {"ship_id": ("ship", "ship_id"), "officer_code": ("officer", "officer_code")}


def keys(ctx: DayContext, source: Source, n: int, prefix: str, rng: np.random.Generator):
    """Business keys for ``n`` rows: new ids for events, pool members for registers.

    Event ids embed the day (unique across days); register keys (ship ids, officer codes) are
    drawn without replacement from their pool, so a later day updates the same member.
    """
    from enforcement_brain.generate.pools import build_pools

    col = source.column(source.business_key[0])
    seq = np.char.zfill(np.arange(1, n + 1).astype(str), 6).astype(object)
    if col.element in _POOL_KEYS:
        pools = build_pools(ctx.seed, ctx.standards_dir)
        values = getattr(pools, _POOL_KEYS[col.element][1])
        idx = rng.choice(len(values), min(n, len(values)), replace=False)
        return values[idx]
    if col.element == "transport_certificate_no":
        return f"32{ctx.day.toordinal() % 10_000:04d}" + seq
    if col.element == "decision_no":
        return f"徐交执罚〔{ctx.day.year}〕{ctx.ymd}" + seq + "号"
    return prefix + ctx.ymd + seq


def row_count(ctx: DayContext, source: Source) -> int:
    """Rows the source delivers today: its declared volume at the scale, except for sources
    whose rows follow from other sources (an outgoing 抄告 for each case due one today)."""
    if source.id == TRANSFERS:
        return len(_transfers_due(ctx)) + rows_for(
            round(source.expected_daily_rows * _received_share(ctx)), ctx.scale
        )
    return rows_for(source.expected_daily_rows, ctx.scale)


def folder(ctx: DayContext, source: Source) -> str:
    """Where the day's delivery goes, relative to the delivery root of its kind."""
    if source.delivery.kind == "objects":
        prefix = source.delivery.prefix or ""
        prefix = prefix.format(yyyy=f"{ctx.day:%Y}", mm=f"{ctx.day:%m}", dd=f"{ctx.day:%d}").rstrip(
            "/"
        )
        return f"{source.delivery.bucket}/{prefix}"
    return f"{source.id}/{ctx.day.isoformat()}"


def refine(d: Draw) -> None:
    """Make dependent columns agree (in place), per source."""
    fn = _REFINE.get(d.source.id)
    if fn is not None:
        fn(d)


def _int_text(values: np.ndarray) -> np.ndarray:
    return values.astype(np.int64).astype(str).astype(object)


def _reweighs(d: Draw) -> None:
    """Re-weighs follow WIM alerts: mostly over the limit; excess per definition.

    The station's limit is one the order allows (definition station_limit): the table's, 46 t
    for some 6+-axle road trains (a tractor with a single drive axle), 3 t less for some on
    single tyres, and the 行驶证 maximum for a truck approved for less than the table.
    """
    f, r, n = d.pools.fleet, d.rng, d.n
    t = d.subject("truck")
    axles = f.truck_axles[t]
    limit = np.array(
        [
            gross_limit_kg(int(a), bool(c))
            for a, c in zip(axles, f.truck_combination[t], strict=True)
        ]
    )
    single_drive = f.truck_combination[t] & (axles >= SINGLE_DRIVE_AXLE_MIN_AXLES)
    limit = np.where(single_drive & (r.random(n) < 0.2), SINGLE_DRIVE_AXLE_LIMIT_KG, limit)
    limit = np.where(r.random(n) < 0.05, limit - SINGLE_TYRE_REDUCTION_KG, limit)
    registered = f.truck_capacity_kg[t]
    limit = np.where(registered < limit, registered, limit)
    rate = np.where(r.random(n) < 0.8, r.uniform(0.02, 0.9, n), r.uniform(-0.2, 0.0, n))
    gross = (limit * (1 + rate)) // 10 * 10
    d.values["limit_kg"] = _int_text(limit)
    d.values["registered_max_kg"] = _int_text(registered)
    d.values["gross_weight_kg"] = _int_text(gross)
    d.values["excess_kg"] = _int_text(np.maximum(gross - limit, 0))
    sites = np.array([s["code"] for s in d.ctx.wim_sites], dtype=object)
    d.values["site_code"] = sites[r.integers(0, len(sites), n)]


def _source_weighings(d: Draw) -> None:
    """Gate weighings: tare about a third of the capacity, net = gross − tare."""
    f, r, n = d.pools.fleet, d.rng, d.n
    t = d.subject("truck")
    cap = f.truck_capacity_kg[t]
    tare = (cap * r.uniform(0.28, 0.38, n)) // 10 * 10
    gross = np.maximum(tare + 1_000, (cap * np.clip(r.normal(0.9, 0.12, n), 0.5, 1.3)) // 10 * 10)
    d.values["tare_kg"] = _int_text(tare)
    d.values["gross_weight_kg"] = _int_text(gross)
    d.values["net_kg"] = _int_text(gross - tare)
    # Source enterprises are Xuzhou quarries, cement plants and yards: a few hundred of them.
    ent = r.integers(0, N_SOURCE_ENTERPRISES, n)
    d._subjects["enterprise"] = ent
    d.values["enterprise_credit_code"] = f.ent_credit_code[ent]
    d.values["enterprise_name"] = f.ent_name[ent]


def _oversize(d: Draw) -> None:
    """Permitted loads are heavy: 6+ axles, 50-140 t, long and wide."""
    r, n = d.rng, d.n
    axles = r.integers(6, 9, n)
    d.values["axle_count"] = _int_text(axles)
    d.values["gross_weight_kg"] = _int_text(r.integers(50_000, 140_000, n) // 10 * 10)


def _toll(d: Draw) -> None:
    """Toll records weigh trucks at the exit only; the class follows the axles (JT/T 489)."""
    axles = d.values["axle_count"].astype(int)
    d.values["vehicle_class"] = _int_text(10 + np.clip(axles, 2, 6))  # goods classes 12-16
    exit_ = d.values["is_exit"] == "1"
    d.values["gross_weight_kg"] = np.where(exit_, d.values["gross_weight_kg"], "").astype(object)


def _trips(d: Draw) -> None:
    """Passenger-car trips: a taxi's meter trip names one of the city's taxis (the cars of the
    taxi register), a ride-hailing order any car. Each trip's fare follows its kind's tariff in
    the code table passenger_service_kind: the starting fare covers ``start_km``, then
    ``per_km_yuan`` a kilometre."""
    from enforcement_brain.generate.generic import column_values

    kinds = {c["code"]: c for c in load_code_table(d.ctx.standards_dir, SERVICE_KINDS).codes}
    kind = d.values["service_kind"]
    meter = np.array([kinds[k]["industry"] == "taxi" for k in kind], dtype=bool)
    taxis = d.pools.fleet.car_taxi
    car = d.subject("car").copy()
    car[meter] = taxis[d.rng.integers(0, len(taxis), int(meter.sum()))]
    d._subjects["car"] = car
    for name in ("plate_no", "plate_color_code"):
        values = column_values(d, d.source.column(name), np.empty(0))
        d.values[name] = np.asarray(values, dtype=object).copy()
    dist = d.values["distance_m"].astype(int)

    def tariff(field: str) -> np.ndarray:
        return np.array([float(kinds[k][field]) for k in kind])

    km = np.maximum(0.0, dist / 1000 - tariff("start_km"))
    fare = tariff("start_fare_yuan") + tariff("per_km_yuan") * km
    d.values["fare_yuan"] = np.array([f"{v:.1f}" for v in fare], dtype=object)
    d.values["duration_s"] = _int_text(dist / d.rng.uniform(6.0, 11.0, d.n))


def _receipts(d: Draw) -> None:
    """A receipt's quantity lies in its pollutant type's range per ship-visit (code table
    pollutant_type, ``quantity_per_visit``, in the type's unit), to 4 decimals: a visit hands
    over a few kilograms of garbage, not tonnes.

    The quantity the ship should have handed over is the quantity ÷ the type's
    ``delivery_ratio``, spread by :data:`DECLARATION_SPREAD` (a declaration is an estimate): the
    spread is independent of the quantity and averages 1, so a year's received ÷ expected comes
    out at the declared ratio, above 1 where ships hand over more than declared."""
    codes = load_code_table(d.ctx.standards_dir, "pollutant_type").codes
    span = {c["code"]: c["quantity_per_visit"] for c in codes}
    ratio = {c["code"]: float(c["delivery_ratio"]) for c in codes}
    kinds = d.values["pollutant_type"]
    lo = np.array([span[k][0] for k in kinds], dtype=float)
    hi = np.array([span[k][1] for k in kinds], dtype=float)
    q = d.rng.uniform(lo, hi)
    d.values["quantity"] = np.array([f"{v:.4f}" for v in q], dtype=object)
    spread = d.rng.uniform(*DECLARATION_SPREAD, d.n)
    expected = q / np.array([ratio[k] for k in kinds], dtype=float) * spread
    d.values["expected_quantity"] = np.array([f"{v:.4f}" for v in expected], dtype=object)


def _roads(d: Draw) -> None:
    """A segment's class follows its road; the end stake lies 0.5-8 km after the start."""
    from enforcement_brain.generate.generic import ROADS

    d.values["road_class"] = np.array([ROADS[c] for c in d.values["road_code"]], dtype=object)
    start = d.rng.integers(0, 800_000, d.n)
    end = start + d.rng.integers(500, 8_000, d.n)
    d.values["stake_from"] = np.array([f"K{m // 1000}+{m % 1000:03d}" for m in start], dtype=object)
    d.values["stake_to"] = np.array([f"K{m // 1000}+{m % 1000:03d}" for m in end], dtype=object)


TRANSFERS = "violation_transfers"
#: The code table of the passenger-car trips' kinds: their industry, share and tariff.
SERVICE_KINDS = "passenger_service_kind"
#: The transfers due on the last day asked for, by (seed, day, scale): row_count and refine
#: of one source ask for the same day one after the other.
_DUE: dict[tuple[object, ...], list[Transfer]] = {}


def _transfers_due(ctx: DayContext) -> list[Transfer]:
    key = (ctx.seed, ctx.day, ctx.scale, str(ctx.standards_dir))
    if key not in _DUE:
        _DUE.clear()
        _DUE[key] = transfers_on(ctx)
    return _DUE[key]


def _received_share(ctx: DayContext) -> float:
    """Share of transfers that Xuzhou receives (IN), from the direction code table's weights."""
    codes = load_code_table(ctx.standards_dir, "transfer_direction").codes
    weights = {c["code"]: float(c.get("weight", 1.0)) for c in codes}
    return weights["IN"] / sum(weights.values())


def _transfers(d: Draw) -> None:
    """抄告: the first rows are today's outgoing transfers, one per closed case due one, with the
    case's plate, violation, case and decision numbers and closure time (the truck's type and
    operator from the fleet; for an overload, a Xuzhou loading unit). The other rows are
    transfers received from the regions the fleet comes from about Xuzhou trucks."""
    f, r, n, v = d.pools.fleet, d.rng, d.n, d.values
    due = _transfers_due(d.ctx)
    truck_of = {str(p): i for i, p in enumerate(f.truck_plate)}
    xuzhou_trucks = np.flatnonzero(
        np.char.startswith(f.truck_plate.astype(str), XUZHOU_PLATE_PREFIX)
    )
    elsewhere = sorted(set(REGISTRATION_AREA.values()) - {XUZHOU_AREA})
    for i in range(n):
        if i < len(due):
            t = due[i]
            case, truck = t.case, truck_of.get(str(t.case.plate_no))
            v["direction"][i], v["plate_no"][i] = "OUT", case.plate_no
            v["from_area"][i], v["to_area"][i] = XUZHOU_AREA, t.to_area
            v["violation_code"][i], v["case_no"][i] = case.violation_code, case.case_no
            v["decision_no"][i] = case.decision_no
            v["case_closed_at"][i] = f"{t.closed_at:%Y-%m-%d %H:%M:%S}"
            if d.seconds[i] >= 0:  # a row delivered late keeps its time on the day before
                v["transferred_at"][i] = f"{t.sent_at:%Y-%m-%d %H:%M:%S}"
                d.seconds[i] = t.sent_at.hour * 3600 + t.sent_at.minute * 60 + t.sent_at.second
            overload = case.violation_code.startswith("CX")
        else:
            truck = int(r.choice(xuzhou_trucks))
            origin = elsewhere[int(r.integers(0, len(elsewhere)))]
            v["direction"][i], v["plate_no"][i] = "IN", f.truck_plate[truck]
            v["from_area"][i], v["to_area"][i] = origin, XUZHOU_AREA
            seq = f"{int(r.integers(1, 99_999)):05d}"
            v["case_no"][i] = f"（{origin}）交执案〔{d.ctx.day.year}〕{seq}号"
            v["decision_no"][i] = f"（{origin}）交执罚〔{d.ctx.day.year}〕{seq}号"
            overload = str(v["violation_code"][i]).startswith("CX")
        if truck is None:  # a car: no goods operator on record
            for c in ("vehicle_type", "operator_name", "operator_credit_code"):
                v[c][i] = ""
        else:
            owner = int(f.truck_owner[truck])
            v["vehicle_type"][i] = f.truck_vtype[truck]
            v["operator_name"][i] = f.ent_name[owner]
            v["operator_credit_code"][i] = f.ent_credit_code[owner]
        if overload:  # 货运源头单位: a Xuzhou quarry, plant or yard
            unit = int(r.integers(0, N_SOURCE_ENTERPRISES))
            v["loading_unit_name"][i] = f.ent_name[unit]
            v["loading_unit_credit_code"][i] = f.ent_credit_code[unit]
        else:
            for c in ("loading_unit_name", "loading_unit_credit_code", "loading_note_no"):
                v[c][i] = ""
            v["evidence_record_id"][i] = ""


_REFINE = {
    "road_network": _roads,
    "static_reweighs": _reweighs,
    "source_enterprise_weighings": _source_weighings,
    "oversize_permits": _oversize,
    "toll_transactions": _toll,
    "passenger_trips": _trips,
    "pollutant_receipts": _receipts,
    TRANSFERS: _transfers,
}
