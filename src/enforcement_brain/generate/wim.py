"""Weigh-in-motion records: one CSV per reporting site and day, as the city overload platform
exports them.

Realism that the platform's rules and KPIs depend on: traffic peaks by hour; axle counts and
vehicle types that agree (road trains are Q11 tractors or H11 trucks drawing a trailer, and the
rear camera reads the trailer's plate); gross weights mostly under the legal limit, about 5 %
over it, and a few 百吨王 (>= 100 t) among 5- and 6-axle combinations. The
over-limit records come from a separate, small stream (:func:`overload_events`) so that the case
generator can recompute which trucks overloaded on any past day without regenerating its WIM.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from enforcement_brain.generate._common import (
    TRUCK_HOURS,
    UNRECOGNISED_SHARE,
    hour_seconds,
    ordered,
    pick_labels,
    rows_for,
    tenths_strings,
    time_strings,
    unknown_code,
)
from enforcement_brain.generate.context import WIM, DayContext
from enforcement_brain.generate.delivery import FileDelivery, assemble
from enforcement_brain.standards.checks import BAI_DUN_WANG_KG, UNRECOGNISED_PLATE
from enforcement_brain.standards.rule_kinds.defects import bad_plate_value, bad_time_value

#: Share of weighings over the legal limit (the brief's 3-8 %).
OVERLOAD_SHARE = 0.05
#: Share of over-limit 5/6-axle combinations that are 百吨王 [I]: few enough that the non-site
#: cases of Xuzhou trucks of 100 t or more are in the order of the 42 a year of the seed report
#: (section 五: 查处徐州籍百吨王车辆42辆).
BAI_DUN_WANG_SHARE = 0.004
#: A 百吨王's gross is drawn uniformly from BAI_DUN_WANG_KG up to this [I].
BAI_DUN_WANG_TOP_KG = 145_000
#: Share of combination weighings where the camera read the trailer's rear plate (…挂).
TRAILER_READ_SHARE = 0.06
DEFECTS = (
    "bad_plate",
    "impossible_weight",
    "bad_axle_count",
    "bad_time",
    "duplicate",
    "broken_line",
    "unknown_site",
)


@dataclass(frozen=True)
class OverloadEvents:
    """Over-limit weighings of one day: truck index, site index, second of day, gross kg."""

    truck: np.ndarray
    site: np.ndarray
    seconds: np.ndarray
    gross_kg: np.ndarray


@dataclass(frozen=True)
class WimLink:
    """What ANPR needs to show the same trucks: every weighed truck passes a checkpoint."""

    truck: np.ndarray
    reads_trailer: np.ndarray
    unrecognised: np.ndarray
    seconds: np.ndarray


def wim_rows(ctx: DayContext) -> int:
    """Base (non-duplicate) WIM rows for the context's scale."""
    return rows_for(ctx.sources[WIM].expected_daily_rows, ctx.scale)


def overload_events(ctx: DayContext) -> OverloadEvents:
    """The day's over-limit weighings; cheap, and a pure function of (seed, day, scale)."""
    fleet = ctx.fleet
    rng = ctx.rng(WIM, "overload")
    n = round(wim_rows(ctx) * OVERLOAD_SHARE)
    truck = rng.choice(len(fleet.truck_plate), n, p=fleet.truck_overload_weight)
    limit = fleet.truck_limit_kg[truck]
    band = rng.random(n)
    rate = np.where(
        band < 0.55,
        rng.uniform(0.001, 0.10, n),  # inside or just past the sites' tolerance (±2–10 %)
        np.where(band < 0.85, rng.uniform(0.10, 0.50, n), rng.uniform(0.50, 1.10, n)),
    )
    gross = (limit * (1 + rate)) // 10 * 10
    heavy_combo = (fleet.truck_axles[truck] >= 5) & fleet.truck_combination[truck]
    king = heavy_combo & (rng.random(n) < BAI_DUN_WANG_SHARE)
    # only the declared share are 百吨王: the others stay under 100 t, whatever their rate
    gross = np.minimum(gross, BAI_DUN_WANG_KG - 10)
    gross = np.where(king, rng.integers(BAI_DUN_WANG_KG, BAI_DUN_WANG_TOP_KG, n) // 10 * 10, gross)
    gross = np.maximum(gross, limit + 10)
    site = rng.choice(len(ctx.wim_sites), n, p=ctx.wim_site_weights)
    seconds = hour_seconds(rng, n, TRUCK_HOURS)
    return OverloadEvents(truck, site, seconds, gross.astype(np.int64))


def generate_wim(ctx: DayContext) -> tuple[FileDelivery, WimLink]:
    """The day's WIM delivery, and the link ANPR uses to show the weighed trucks passing."""
    fleet, source = ctx.fleet, ctx.sources[WIM]
    n = wim_rows(ctx)
    events = overload_events(ctx)
    n_norm = n - len(events.truck)
    rng = ctx.rng(WIM, "rows")

    # -- clean rows: legal weighings, then the over-limit events --------------------------------
    truck_n = rng.choice(len(fleet.truck_plate), n_norm, p=fleet.truck_activity)
    capacity = fleet.truck_capacity_kg[truck_n]
    loaded = rng.random(n_norm) < 0.62
    fraction = np.where(
        loaded,
        np.clip(rng.normal(0.80, 0.10, n_norm), 0.45, 0.995),
        rng.uniform(0.28, 0.45, n_norm),  # empty: the tare
    )
    truck = np.concatenate([truck_n, events.truck])
    site = np.concatenate(
        [rng.choice(len(ctx.wim_sites), n_norm, p=ctx.wim_site_weights), events.site]
    )
    seconds = np.concatenate([hour_seconds(rng, n_norm, TRUCK_HOURS), events.seconds])
    gross = np.concatenate([(capacity * fraction // 10 * 10).astype(np.int64), events.gross_kg])
    is_event = np.arange(n) >= n_norm
    # Events keep a readable tractor plate: they are what cases are filed from.
    reads_trailer = (
        fleet.truck_combination[truck] & (rng.random(n) < TRAILER_READ_SHARE) & ~is_event
    )
    unrecognised = (rng.random(n) < UNRECOGNISED_SHARE) & ~is_event
    plate = np.where(reads_trailer, fleet.truck_trailer_plate[truck], fleet.truck_plate[truck])
    plate[unrecognised] = UNRECOGNISED_PLATE
    # Transport colour codes: 2 yellow; 93 yellow-green for a large NEV (its trailer is yellow).
    colour = np.where(fleet.truck_nev[truck] & ~reads_trailer, "93", "2").astype(object)
    colour[unrecognised] = "9"
    axles = fleet.truck_axles[truck].astype(np.int64)
    speed = np.round(np.clip(rng.normal(58, 12, n), 5, 110) * 10).astype(np.int64)
    lanes = np.array([s["lanes"] for s in ctx.wim_sites])[site]
    lane = rng.integers(1, lanes + 1)

    # -- late rows and defects (own streams: the clean rows above do not depend on them) -------
    late_rng = ctx.rng(WIM, "late")
    labels = pick_labels(ctx.rng(WIM, "defects"), n, ctx.defect_rate, DEFECTS, late_rng, is_event)
    late = labels == "late"
    key = np.where(late, late_rng.integers(-3600, 0, n), seconds)

    site_codes = np.array([s["code"] for s in ctx.wim_sites], dtype=object)
    order = np.lexsort((np.arange(n), key, site))
    rank = np.empty(n, dtype=np.int64)
    starts = np.searchsorted(site[order], np.arange(len(site_codes)))
    rank[order] = np.arange(n) - starts[site[order]]  # position inside the site's file
    record_id = site_codes[site] + ctx.ymd + np.char.zfill((rank + 1).astype(str), 5).astype(object)

    site_col = site_codes[site].copy()
    times = time_strings(ctx.day, key)
    axle_col = axles.astype(str).astype(object)
    gross_col = gross.astype(str).astype(object)
    drng = ctx.rng(WIM, "defect_values")
    for i in np.flatnonzero(labels != ""):
        kind = labels[i]
        if kind == "bad_plate":
            plate[i] = bad_plate_value(drng, fleet.truck_plate[truck[i]])
        elif kind == "impossible_weight":
            choice = int(drng.integers(0, 3))
            bad = (0, -int(drng.integers(100, 20_000)), int(drng.integers(200_001, 999_999)))
            gross_col[i] = str(bad[choice])
        elif kind == "bad_axle_count":
            axle_col[i] = "0" if drng.random() < 0.5 else "12"
        elif kind == "bad_time":
            times[i] = bad_time_value(drng, ctx.day)
        elif kind == "unknown_site":
            site_col[i] = unknown_code(drng, "WIM" + site_codes[site[i]][3:9], ctx.wim_site_codes)

    values = {
        "record_id": record_id,
        "site_code": site_col,
        "plate_no": plate,
        "plate_color_code": colour,
        "vehicle_type_code": fleet.truck_vtype[truck],
        # The rear camera reads a road train's trailer plate; a rigid truck has none.
        "trailer_plate_no": fleet.truck_trailer_plate[truck],
        "axle_count": axle_col,
        "gross_weight_kg": gross_col,
        "speed_kmh": tenths_strings(speed),
        "lane_no": lane.astype(str).astype(object),
        "weigh_time": times,
    }
    folder = f"{WIM}/{ctx.day.isoformat()}"
    delivery = assemble(
        source=source,
        folder=folder,
        file_names=[f"wim_{code}_{ctx.ymd}.csv" for code in site_codes],
        columns=ordered(source, values),
        file_of=site,
        key=key,
        labels=labels,
        business_key=record_id,
        rng=drng,
    )
    return delivery, WimLink(truck, reads_trailer, unrecognised, seconds)
