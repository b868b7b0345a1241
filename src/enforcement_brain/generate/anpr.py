"""ANPR checkpoint passes: one JSON-lines file per hour, as the police checkpoint system
shares them.

Most passes are cars (commute peaks); about a quarter are trucks from the same fleet as WIM, and
every truck weighed today with a readable plate also passes a checkpoint within about an hour of
its weighing, so plates can be followed from one source to the other. Plate colours are in the
*police* code system (1 yellow, 2 blue, 4 green, 5 unrecognised), unlike WIM's transport codes.
"""

from __future__ import annotations

import numpy as np

from enforcement_brain.generate._common import (
    CAR_HOURS,
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
from enforcement_brain.generate.context import ANPR, DayContext
from enforcement_brain.generate.delivery import FileDelivery, assemble
from enforcement_brain.generate.wim import WimLink
from enforcement_brain.standards.checks import UNRECOGNISED_PLATE
from enforcement_brain.standards.rule_kinds.defects import bad_plate_value, bad_time_value

#: Share of the passes not linked to a weighing that are trucks.
TRUCK_SHARE = 0.25
#: Combination passes where the rear camera read the trailer plate.
TRAILER_READ_SHARE = 0.08
DEFECTS = ("bad_plate", "bad_time", "duplicate", "broken_line", "unknown_checkpoint", "bad_speed")


def generate_anpr(ctx: DayContext, link: WimLink) -> FileDelivery:
    """The day's 24 hourly ANPR files."""
    fleet, source = ctx.fleet, ctx.sources[ANPR]
    n = rows_for(source.expected_daily_rows, ctx.scale)
    rng = ctx.rng(ANPR, "rows")

    # -- who passes: weighed trucks first, then other trucks and cars --------------------------
    linked = np.flatnonzero(~link.unrecognised)[:n]
    n_link, n_rest = len(linked), n - len(linked)
    rest_truck = rng.random(n_rest) < TRUCK_SHARE
    is_truck = np.concatenate([np.ones(n_link, dtype=bool), rest_truck])
    vehicle = np.concatenate(
        [
            link.truck[linked],
            np.where(
                rest_truck,
                rng.choice(len(fleet.truck_plate), n_rest, p=fleet.truck_activity),
                rng.choice(len(fleet.car_plate), n_rest, p=fleet.car_activity),
            ),
        ]
    )
    seconds = np.concatenate(
        [
            np.clip(link.seconds[linked] + rng.normal(0, 2400, n_link).astype(np.int64), 0, 86_399),
            np.where(
                rest_truck,
                hour_seconds(rng, n_rest, TRUCK_HOURS),
                hour_seconds(rng, n_rest, CAR_HOURS),
            ),
        ]
    )
    truck_idx = np.where(is_truck, vehicle, 0)
    car_idx = np.where(is_truck, 0, vehicle)
    combination = is_truck & fleet.truck_combination[truck_idx]
    trailer = np.concatenate(
        [
            link.reads_trailer[linked],
            combination[n_link:] & (rng.random(n_rest) < TRAILER_READ_SHARE),
        ]
    )
    unrecognised = np.concatenate(
        [np.zeros(n_link, dtype=bool), rng.random(n_rest) < UNRECOGNISED_SHARE * n / max(n_rest, 1)]
    )

    truck_nev = is_truck & fleet.truck_nev[truck_idx]
    car_nev = ~is_truck & fleet.car_nev[car_idx]
    bus = ~is_truck & fleet.car_bus[car_idx]
    plate = np.where(
        is_truck,
        np.where(trailer, fleet.truck_trailer_plate[truck_idx], fleet.truck_plate[truck_idx]),
        fleet.car_plate[car_idx],
    ).astype(object)
    # GA 24.7 plate types and police colour codes (a trailer plate is yellow, type 15).
    plate_type = np.select(
        [trailer, truck_nev, car_nev, is_truck | bus], ["15", "51", "52", "01"], "02"
    ).astype(object)
    colour = np.select([trailer, truck_nev | car_nev, is_truck | bus], ["1", "4", "1"], "2").astype(
        object
    )
    plate[unrecognised] = UNRECOGNISED_PLATE
    plate_type[unrecognised] = "41"
    colour[unrecognised] = "5"

    cp = rng.choice(len(ctx.checkpoints), n, p=ctx.checkpoint_weights)
    expressway = np.array([c["road_class"] == "expressway" for c in ctx.checkpoints])[cp]
    mean = np.select([expressway & is_truck, expressway, is_truck], [78.0, 105.0, 50.0], 58.0)
    spread = np.where(is_truck, 9.0, 14.0)
    speed = np.round(np.clip(rng.normal(mean, spread), 3, 160) * 10).astype(np.int64)
    lane = rng.integers(1, 4, n)
    # Each checkpoint reports its own direction codes (both carriageways of its road).
    dir_lists = [c["directions"] for c in ctx.checkpoints]
    dir_start = np.cumsum([0] + [len(d) for d in dir_lists])
    pick = (rng.random(n) * np.diff(dir_start)[cp]).astype(np.int64)
    flat = np.array([code for codes in dir_lists for code in codes], dtype=object)
    direction = flat[dir_start[cp] + pick]

    # -- late rows and defects; linked passes stay clean so WIM plates are always visible -----
    late_rng = ctx.rng(ANPR, "late")
    exclude = np.arange(n) < n_link
    labels = pick_labels(ctx.rng(ANPR, "defects"), n, ctx.defect_rate, DEFECTS, late_rng, exclude)
    late = labels == "late"
    key = np.where(late, late_rng.integers(-3600, 0, n), seconds)
    hour = np.where(late, 0, seconds // 3600)  # late passes arrive in the 00 file

    order = np.lexsort((np.arange(n), key, hour))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    pass_id = ctx.ymd + np.char.zfill((rank + 1).astype(str), 8).astype(object)

    cp_codes = np.array([c["code"] for c in ctx.checkpoints], dtype=object)
    cp_col = cp_codes[cp]
    times = time_strings(ctx.day, key)
    speed_col = tenths_strings(speed)
    known = frozenset(cp_codes)
    drng = ctx.rng(ANPR, "defect_values")
    for i in np.flatnonzero((labels != "") & ~late):
        kind = labels[i]
        if kind == "bad_plate":
            true_plate = (
                fleet.truck_plate[truck_idx[i]] if is_truck[i] else fleet.car_plate[car_idx[i]]
            )
            plate[i] = bad_plate_value(drng, true_plate)
        elif kind == "bad_time":
            times[i] = bad_time_value(drng, ctx.day)
        elif kind == "unknown_checkpoint":
            cp_col[i] = unknown_code(drng, cp_col[i][:8], known)
        elif kind == "bad_speed":
            tenths = (
                -int(drng.integers(1, 500))
                if drng.random() < 0.5
                else int(drng.integers(3001, 9999))
            )
            speed_col[i] = f"{tenths / 10:.1f}"

    values = {
        "pass_id": pass_id,
        "checkpoint_code": cp_col,
        "plate_no": plate,
        "plate_color_code": colour,
        "plate_type_code": plate_type,
        "speed_kmh": speed_col,
        "lane_no": lane.astype(str).astype(object),
        "direction": direction,
        "pass_time": times,
    }
    return assemble(
        source=source,
        folder=f"{ANPR}/{ctx.day.isoformat()}",
        file_names=[f"anpr_{ctx.ymd}_{h:02d}.jsonl" for h in range(24)],
        columns=ordered(source, values),
        file_of=hour,
        key=key,
        labels=labels,
        business_key=pass_id,
        rng=drng,
    )
