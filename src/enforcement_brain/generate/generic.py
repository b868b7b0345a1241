"""Generate any declared source from its declaration: values by element, defects by rule.

The three sources with the richest behaviour (WIM, ANPR, cases) have their own generators. Every
other source is generated here from what its declaration says, so a new source needs a YAML file,
not a new generator:

- **values** come from the column's *element*: plates, credit codes, ID numbers, ships and
  officers from the standing pools (the same truck, enterprise or person across sources and
  days), codes from the element's code table in proportion to its ``weight``, positions from the
  row's registered site (video channel, port, toll station) or inside Xuzhou, quantities inside
  the element's range. The source's ``generator:`` block says whose vehicles and people, which
  hours and how files split; ``specs.py`` may refine a few columns per source where the business
  makes values depend on each other (net = gross − tare, excess = gross − limit);
- **defects** come from the *rules* the source lists: each rule kind (``standards/rule_kinds``)
  has a way to break a value so that exactly that rule catches it (a wrong GB 32100 check
  character for R_CREDIT_CODE_CHECK, a position shifted into GCJ-02 for R_DATUM_WGS84, ...). The
  ground truth names the defect and the rule that must flag it;
- **delivery** follows the declaration: CSV (in the declared encoding, GBK included) or JSON
  lines as files in landing or as objects under a bucket prefix, or rows in the front database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import numpy as np
import sqlalchemy as sa

from enforcement_brain.declarations import Column, Rule, Source
from enforcement_brain.generate._common import (
    CAR_HOURS,
    TRUCK_HOURS,
    TruthRow,
    hour_seconds,
    pick_labels,
    time_strings,
)
from enforcement_brain.generate.context import DayContext
from enforcement_brain.generate.delivery import FileDelivery, assemble
from enforcement_brain.generate.pools import Pools
from enforcement_brain.standards.checks import gcj02_to_bd09, numpy_math, wgs84_to_gcj02
from enforcement_brain.standards.code_tables import load_code_table
from enforcement_brain.standards.rule_kinds import Planting, kind_of

#: Office hours: tasks, decisions, registrations, complaints.
OFFICE_HOURS = np.array(
    [0.05, 0.02, 0.02, 0.02, 0.02, 0.05, 0.2, 1.0, 4.0, 6.0, 6.0, 5.0,
     2.5, 3.0, 5.5, 6.0, 5.5, 4.0, 1.5, 0.6, 0.4, 0.3, 0.2, 0.1]
)  # fmt: skip
HOURS = {"truck": TRUCK_HOURS, "car": CAR_HOURS, "office": OFFICE_HOURS}
#: Inner Xuzhou box for positions without a site (towns and roads, not the border).
_INNER = ((116.55, 118.45), (33.85, 34.85))
#: Beyond Xuzhou, WGS-84 (lon, lat): cities on the routes of its trucks and cars, where a source
#: whose positions may lie anywhere (``generator.outside_share``) places some rows. Each point,
#: with its jitter, lies outside Xuzhou's extent and buffer.
_AWAY = (
    (116.59, 35.41),  # 济宁
    (118.36, 35.10),  # 临沂
    (119.22, 34.60),  # 连云港
    (116.98, 33.60),  # 宿州
    (115.65, 34.41),  # 商丘
    (117.12, 36.65),  # 济南
    (118.80, 32.06),  # 南京
    (117.39, 32.92),  # 蚌埠
)
_AWAY_JITTER = 0.03
_REMARKS = ("现场已卸载", "驾驶员已签字确认", "车辆已放行", "已责令改正", "复检无异议",
            "沿G104-G310-S250行驶", "经S65-G2513通行", "夜间通行", "")  # fmt: skip
#: Xuzhou's roads (domain.md) and their class.
ROADS = {
    "G104": "national", "G206": "national", "G310": "national", "G311": "national",
    "G237": "national", "S250": "provincial", "S251": "provincial", "S253": "provincial",
    "S254": "provincial", "S268": "provincial", "S427": "provincial", "X303": "county",
    "G2": "expressway", "G3": "expressway", "G30": "expressway", "G2513": "expressway",
    "S49": "expressway", "S65": "expressway", "S69": "expressway",
}  # fmt: skip
_HOME_DIVISIONS = ("320302", "320303", "320305", "320311", "320312", "320321", "320322",
                   "320324", "320381", "320382")  # fmt: skip
_CITIES_AREA = ("320300", "320100", "320500", "321300", "370400", "370800", "371300",
                "341300", "340600", "411400", "320700", "320800")  # fmt: skip


@dataclass
class Draw:
    """One source's rows while they are built: column texts plus who each row is about."""

    ctx: DayContext
    pools: Pools
    source: Source
    n: int
    rng: np.random.Generator
    seconds: np.ndarray  # event second of day (negative: previous day)
    values: dict[str, np.ndarray] = field(default_factory=dict)
    _subjects: dict[str, np.ndarray] = field(default_factory=dict)
    _positions: tuple[np.ndarray, np.ndarray] | None = None  # (lon, lat) texts, drawn once

    def subject(self, kind: str) -> np.ndarray:
        """Row -> index into a pool, drawn once per kind so a row's columns agree."""
        if kind not in self._subjects:
            p, f, n, r = self.pools, self.pools.fleet, self.n, self.rng
            sizes = {
                "truck": None,
                "car": None,
                "enterprise": len(f.ent_credit_code),
                "person": len(p.person_id),
                "ship": len(p.ship_id),
                "officer": len(p.officer_code),
            }
            if kind == "truck":
                idx = r.choice(len(f.truck_plate), n, p=f.truck_activity)
            elif kind == "car" and self.source.generator.vehicles == "taxi":
                idx = f.car_taxi[r.integers(0, len(f.car_taxi), n)]
            elif kind == "car":
                idx = r.choice(len(f.car_plate), n, p=f.car_activity)
            elif kind == "enterprise" and "truck" in self._subjects:
                idx = f.truck_owner[self._subjects["truck"]]
            elif kind == "enterprise" and "ship" in self._subjects:
                idx = p.ship_operator[self._subjects["ship"]]
            else:
                idx = r.integers(0, sizes[kind], n)
            self._subjects[kind] = idx
        return self._subjects[kind]


def _codes(ctx: DayContext, table: str) -> tuple[list[dict[str, Any]], np.ndarray]:
    codes = load_code_table(ctx.standards_dir, table).codes
    w = np.array([float(c.get("weight", 1.0)) for c in codes])
    return codes, w / w.sum()


def _fmt_float(values: np.ndarray, digits: int) -> np.ndarray:
    return np.array([f"{v:.{digits}f}" for v in values], dtype=object)


def _date_strings(day: dt.date, offsets: np.ndarray) -> np.ndarray:
    base = np.datetime64(day.isoformat())
    return (base + offsets.astype("timedelta64[D]")).astype(str).astype(object)


def _earlier_times(day: dt.date, seconds: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Times 10 minutes to 2 days before the event, as local-time strings."""
    back = seconds - rng.integers(600, 2 * 86_400, len(seconds))
    days = np.floor_divide(back, 86_400)
    out = np.empty(len(seconds), dtype=object)
    for d in np.unique(days):
        sel = days == d
        out[sel] = time_strings(day + dt.timedelta(days=int(d)), np.mod(back[sel], 86_400))
    return out


#: Default draws for quantities (inside each element's range; specs refine): low, high, digits.
_QUANTITY = {
    "score": (55.0, 99.0, 1),
    "confidence": (0.55, 0.99, 2),
    "duration_s": (15, 1_800, 0),
    "distance_m": (1_200, 25_000, 0),
    "amount_yuan": (9.0, 95.0, 1),
    "count": (1, 40, 0),
    "pollutant_quantity": (0.2, 12.0, 2),
    "length_m": (12.0, 30.0, 1),
    "width_m": (2.5, 4.5, 2),
    "height_m": (3.0, 4.8, 2),
    "fine_yuan": (200, 30_000, 0),
    "speed_kmh": (0.0, 90.0, 1),
    # placeholders that specs.refine replaces with values that agree with each other
    "tare_weight_kg": (3_000, 15_000, 0),
    "net_weight_kg": (0, 30_000, 0),
    "limit_kg": (18_000, 18_001, 0),
    "registered_max_kg": (18_000, 18_001, 0),
    "excess_kg": (0, 1, 0),
    "pollutant_expected_quantity": (0.2, 12.0, 2),
}

#: Draws a column's clean text values: ``(rows being built, column, business keys) -> texts``.
ValueDraw = Callable[[Draw, Column, np.ndarray], np.ndarray]


def column_values(d: Draw, col: Column, key: np.ndarray) -> np.ndarray:
    """Clean text values for one column, from its element (see the module docstring).

    A key column takes the keys; otherwise the element's entry in :data:`VALUE_DRAWS` draws the
    values, and an element without one is drawn from its code table.
    """
    if col.name in d.source.business_key:
        return key
    el = d.ctx.elements[col.element]
    draw = VALUE_DRAWS.get(el.id)
    if draw is not None:
        return draw(d, col, key)
    if el.code_table:
        return _code_table_values(d, col, key)
    raise ValueError(f"{d.source.id}.{col.name}: the generator has no values for element {el.id}")


# -- value draws, by element -------------------------------------------------------------------


def _cars(d: Draw) -> bool:
    """Whether the source is about cars (taxis, ride-hailing) rather than trucks."""
    return d.source.generator.vehicles in ("car", "taxi")


def _officers(d: Draw) -> bool:
    """Whether the people of the source are officers rather than the public."""
    return d.source.generator.people == "officer"


def _text(values: np.ndarray) -> np.ndarray:
    return values.astype(str).astype(object)


def _member(subject: str, attribute: str, text: bool = False) -> ValueDraw:
    """A pool attribute of each row's subject: the same truck, enterprise, person or ship in
    every column of the row (``attribute`` is dotted from the pools, ``fleet.ent_name``)."""
    get = attrgetter(attribute)

    def draw(d: Draw, col: Column, key: np.ndarray) -> np.ndarray:
        values = get(d.pools)[d.subject(subject)]
        return _text(values) if text else values

    return draw


def _one_of(choices: tuple[str, ...] | list[str]) -> ValueDraw:
    """Any of a few fixed texts, uniformly."""

    def draw(d: Draw, col: Column, key: np.ndarray) -> np.ndarray:
        return np.array(choices, dtype=object)[d.rng.integers(0, len(choices), d.n)]

    return draw


def _code_table_values(d: Draw, col: Column, key: np.ndarray) -> np.ndarray:
    """Codes of the element's table in proportion to their ``weight``; the drawn rows are kept
    as the subject ``code:<table>`` so positions can follow the code's site."""
    table = d.ctx.elements[col.element].code_table
    codes, w = _codes(d.ctx, table)
    idx = d.rng.choice(len(codes), d.n, p=w)
    d._subjects.setdefault(f"code:{table}", idx)
    return np.array([c["code"] for c in codes], dtype=object)[idx]


def _plate_no(d: Draw, col: Column, key: np.ndarray) -> np.ndarray:
    f = d.pools.fleet
    if _cars(d):
        return f.car_plate[d.subject("car")]
    return f.truck_plate[d.subject("truck")]


def _plate_color_transport(d: Draw, col: Column, key: np.ndarray) -> np.ndarray:
    """New-energy vehicles carry green plates (JT/T 697.7 codes: car 5 / 1, truck 93 / 2)."""
    f = d.pools.fleet
    if _cars(d):
        return np.where(f.car_nev[d.subject("car")], "5", "1").astype(object)
    return np.where(f.truck_nev[d.subject("truck")], "93", "2").astype(object)


def _gross_weight_kg(d: Draw, col: Column, key: np.ndarray) -> np.ndarray:
    """Loaded to 35-99 % of the truck's capacity, mostly around 78 %, to the 10 kg."""
    t = d.subject("truck")
    frac = np.clip(d.rng.normal(0.78, 0.12, d.n), 0.35, 0.99)
    return (
        (d.pools.fleet.truck_capacity_kg[t] * frac // 10 * 10)
        .astype(np.int64)
        .astype(str)
        .astype(object)
    )


def _person(attribute: str) -> ValueDraw:
    """A person's attribute: the officer's own for an officers' source, else the public's."""

    def draw(d: Draw, col: Column, key: np.ndarray) -> np.ndarray:
        p = d.pools
        values = getattr(p, attribute)
        if _officers(d):
            return values[p.officer_person[d.subject("officer")]]
        return values[d.subject("person")]

    return draw


def _officer_or_code(attribute: str) -> ValueDraw:
    """The officer's own code (organisation, division) for an officers' source; otherwise the
    element's code table."""

    def draw(d: Draw, col: Column, key: np.ndarray) -> np.ndarray:
        if _officers(d):
            return getattr(d.pools, attribute)[d.subject("officer")]
        return _code_table_values(d, col, key)

    return draw


def _local_time(d: Draw, col: Column, key: np.ndarray) -> np.ndarray:
    """The event time for the event-time column; any other time comes before the event."""
    if col.name == d.source.event_time:
        return time_strings(d.ctx.day, d.seconds)
    return _earlier_times(d.ctx.day, d.seconds, d.rng)


def _valid_from(d: Draw, col: Column, key: np.ndarray) -> np.ndarray:
    return _date_strings(d.ctx.day, -d.rng.integers(0, 3 * 365, d.n))


def _valid_until(d: Draw, col: Column, key: np.ndarray) -> np.ndarray:
    """One to six years after the row's ``valid_from`` (or the day, without one)."""
    start = d.values.get("valid_from")
    offsets = d.rng.integers(365, 6 * 365, d.n)
    if start is not None:
        base = np.array(start, dtype="datetime64[D]")
        return (base + offsets.astype("timedelta64[D]")).astype(str).astype(object)
    return _date_strings(d.ctx.day, offsets)


def _local_date(d: Draw, col: Column, key: np.ndarray) -> np.ndarray:
    return _date_strings(d.ctx.day, d.rng.integers(-3, 8, d.n))


def _flag(d: Draw, col: Column, key: np.ndarray) -> np.ndarray:
    """Yes in the share of rows the source declares for the column (``generator.flag_shares``),
    60 % otherwise, written as CSV and JSON feeds write it."""
    yes = d.rng.random(d.n) < d.source.generator.flag_shares.get(col.name, 0.6)
    if d.source.delivery.format == "csv":
        return np.where(yes, "1", "0").astype(object)
    return np.where(yes, "true", "false").astype(object)


def _longitude(d: Draw, col: Column, key: np.ndarray) -> np.ndarray:
    return _positions(d)[0]


def _latitude(d: Draw, col: Column, key: np.ndarray) -> np.ndarray:
    return _positions(d)[1]


def _sha256(d: Draw, col: Column, key: np.ndarray) -> np.ndarray:
    return np.array(
        [hashlib.sha256(f"{d.ctx.seed}/{k}".encode()).hexdigest() for k in key], dtype=object
    )


def _object_key(d: Draw, col: Column, key: np.ndarray) -> np.ndarray:
    bucket = d.source.delivery.bucket or d.source.id
    return np.array([f"{bucket}/{d.ctx.ymd}/{k}.mp4" for k in key], dtype=object)


def _wim_record_id(d: Draw, col: Column, key: np.ndarray) -> np.ndarray:
    """A WIM record of the day at one of the sites: site code, date, sequence."""
    site = np.array([s["code"] for s in d.ctx.wim_sites], dtype=object)
    r, n = d.rng, d.n
    return site[r.integers(0, len(site), n)] + d.ctx.ymd + _seq(r.integers(1, 9_000, n), 5)


def _case_no(d: Draw, col: Column, key: np.ndarray) -> np.ndarray:
    return f"徐交执案〔{d.ctx.day.year}〕" + _seq(d.rng.integers(1, 20_000, d.n), 5) + "号"


def _task_id(d: Draw, col: Column, key: np.ndarray) -> np.ndarray:
    return "RW" + d.ctx.ymd + _seq(d.rng.integers(1, 60, d.n), 6)


def _quantity(d: Draw, col: Column, key: np.ndarray) -> np.ndarray:
    """Uniform inside the element's default range (:data:`_QUANTITY`), to its digits; a count
    column inside the range its source declares (``generator.count_ranges``)."""
    lo, hi, digits = _QUANTITY[col.element]
    declared = d.source.generator.count_ranges.get(col.name)
    if declared is not None:
        return _text(d.rng.integers(declared[0], declared[1] + 1, d.n))
    v = d.rng.uniform(lo, hi, d.n)
    if digits == 0:
        return v.astype(np.int64).astype(str).astype(object)
    return _fmt_float(v, digits)


def _stake_no(d: Draw, col: Column, key: np.ndarray) -> np.ndarray:
    km = d.rng.integers(0, 900, d.n)
    return "K" + km.astype(str).astype(object) + "+" + _seq(d.rng.integers(0, 1000, d.n), 3)


def _home_division(d: Draw) -> np.ndarray:
    return np.array(_HOME_DIVISIONS, dtype=object)[d.rng.integers(0, len(_HOME_DIVISIONS), d.n)]


def _operating_licence_no(d: Draw, col: Column, key: np.ndarray) -> np.ndarray:
    area = _home_division(d)
    return "苏交运管许可徐字" + area + _seq(d.rng.integers(1, 999_999, d.n), 6) + "号"


def _transport_certificate_no(d: Draw, col: Column, key: np.ndarray) -> np.ndarray:
    return _home_division(d) + _seq(d.rng.integers(1, 999_999, d.n), 6)


def _reference(d: Draw, col: Column, key: np.ndarray) -> np.ndarray:
    """A reference to another record: the column's initials, the day, a sequence; or, for a
    column whose records are a month's few (``generator.monthly_refs``), one of the month's."""
    per_month = d.source.generator.monthly_refs.get(col.name)
    if per_month is not None:
        month = f"{d.ctx.day:%Y%m}"
        return col.name[:2].upper() + month + _seq(d.rng.integers(1, per_month + 1, d.n), 4)
    return col.name[:2].upper() + d.ctx.ymd + _seq(d.rng.integers(1, 999_999, d.n), 6)


#: Element id -> how its values are drawn. Elements with a code table need no entry (their codes
#: are drawn by weight); an entry here takes precedence over the code table.
VALUE_DRAWS: dict[str, ValueDraw] = {
    **dict.fromkeys(_QUANTITY, _quantity),
    "plate_no": _plate_no,
    "plate_color_transport": _plate_color_transport,
    "vehicle_type": _member("truck", "fleet.truck_vtype"),
    "axle_count": _member("truck", "fleet.truck_axles", text=True),
    "gross_weight_kg": _gross_weight_kg,
    "credit_code": _member("enterprise", "fleet.ent_credit_code"),
    "enterprise_name": _member("enterprise", "fleet.ent_name"),
    "person_name": _person("person_name"),
    "party_name": _person("person_name"),
    "id_number": _person("person_id"),
    "qualification_cert_no": _person("person_id"),
    "phone_no": _member("person", "person_phone"),
    "ship_id": _member("ship", "ship_id"),
    "ship_name": _member("ship", "ship_name"),
    "mmsi": _member("ship", "ship_mmsi"),
    "gross_tonnage": _member("ship", "ship_tonnage", text=True),
    "officer_code": _member("officer", "officer_code"),
    "terminal_code": _member("officer", "officer_terminal"),
    "org_code": _officer_or_code("officer_org"),
    "division_code": _officer_or_code("officer_division"),
    "area_code": _one_of(_CITIES_AREA),
    "local_time": _local_time,
    "valid_from": _valid_from,
    "valid_until": _valid_until,
    "local_date": _local_date,
    "flag": _flag,
    "longitude": _longitude,
    "latitude": _latitude,
    "sha256": _sha256,
    "object_key": _object_key,
    "remark": _one_of(_REMARKS),
    "wim_record_id": _wim_record_id,
    "case_no": _case_no,
    "closure_time": _local_time,
    "task_id": _task_id,
    "road_code": _one_of(list(ROADS)),
    "stake_no": _stake_no,
    "operating_licence_no": _operating_licence_no,
    "transport_certificate_no": _transport_certificate_no,
    "record_id": _reference,
    "permit_no": _reference,
    "decision_no": _reference,
}


def _seq(values: np.ndarray, width: int) -> np.ndarray:
    return np.char.zfill(values.astype(str), width).astype(object)


def _positions(d: Draw) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the rows: at the row's registered site (with < 50 m jitter) or inside Xuzhou,
    except the source's ``outside_share`` of rows, placed in a city beyond it."""
    if d._positions is not None:
        return d._positions
    ctx, r, n = d.ctx, d.rng, d.n
    site_col = next(
        (
            c
            for c in d.source.columns
            if ctx.elements[c.element].code_table
            and "lon"
            in load_code_table(ctx.standards_dir, ctx.elements[c.element].code_table).codes[0]
        ),
        None,
    )
    if site_col is not None:
        table = ctx.elements[site_col.element].code_table
        codes, _ = _codes(ctx, table)
        idx = d.subject(f"code:{table}")
        lon = np.array([c["lon"] for c in codes])[idx] + r.uniform(-0.0004, 0.0004, n)
        lat = np.array([c["lat"] for c in codes])[idx] + r.uniform(-0.0004, 0.0004, n)
    else:
        (x0, x1), (y0, y1) = _INNER
        lon, lat = r.uniform(x0, x1, n), r.uniform(y0, y1, n)
        share = d.source.generator.outside_share
        if share:
            away = r.random(n) < share
            city = np.array(_AWAY)[r.integers(0, len(_AWAY), n)]
            jitter = r.uniform(-_AWAY_JITTER, _AWAY_JITTER, (n, 2))
            lon = np.where(away, city[:, 0] + jitter[:, 0], lon)
            lat = np.where(away, city[:, 1] + jitter[:, 1], lat)
    out = (_fmt_float(lon, 6), _fmt_float(lat, 6))
    d._positions = out
    return out


def declare_datum(d: Draw) -> None:
    """A feed with a datum flag sends its platform's datum (the code table's weights: mostly
    GCJ-02): the true WGS-84 position shifted into GCJ-02 or BD-09 as the flag declares. Silver
    converts them back. Its own random stream, so the other columns do not move."""
    datum = d.source.datum_columns()
    if datum is None:
        return
    flag, pairs = datum
    codes, weights = _codes(d.ctx, "coord_system")
    rng = d.ctx.rng(d.source.id, "datum")
    declared = np.array([str(c["code"]) for c in codes], dtype=object)[
        rng.choice(len(codes), d.n, p=weights)
    ]
    d.values[flag] = declared
    m = numpy_math()
    for lon_col, lat_col in pairs:
        lon = d.values[lon_col].astype(float)
        lat = d.values[lat_col].astype(float)
        glon, glat = wgs84_to_gcj02(lon, lat, m)
        blon, blat = gcj02_to_bd09(glon, glat, m)
        out_lon = np.where(declared == "1", glon, np.where(declared == "3", blon, lon))
        out_lat = np.where(declared == "1", glat, np.where(declared == "3", blat, lat))
        d.values[lon_col] = _fmt_float(out_lon, 6)
        d.values[lat_col] = _fmt_float(out_lat, 6)


# -- defects -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DefectSlot:
    """A way to break one row so that one rule flags it."""

    kind: str
    rule: Rule
    column: Column | None


def defect_slots(ctx: DayContext, source: Source) -> list[DefectSlot]:
    """Every (defect kind, rule, column) the generator can inject for this source, in rule and
    column order; each rule's kind says how its rule can be broken."""
    return [
        DefectSlot(defect, rule, column)
        for rule in ctx.catalog.rules_for(source)
        for defect, column in kind_of(rule).defect_slots(source, rule)
    ]


def apply_defect(d: Draw, i: int, slot: DefectSlot, rng: np.random.Generator) -> None:
    """Break row ``i`` of ``d.values`` as ``slot`` says (in place), as the rule's kind plants it."""
    at = Planting(
        d.ctx.catalog, d.source, d.values, i, d.ctx.day, slot.rule, slot.column, slot.kind, rng
    )
    kind_of(slot.rule).plant(at)


# -- a whole source ----------------------------------------------------------------------------


@dataclass
class GenericOutput:
    """What a generic source produced: a file delivery, or rows for the front database."""

    source: Source
    delivery: FileDelivery | None = None
    db_rows: list[dict[str, str]] | None = None
    truth: list[TruthRow] = field(default_factory=list)
    defects: Counter[str] = field(default_factory=Counter)
    late: int = 0

    @property
    def rows(self) -> int:
        return self.delivery.rows if self.delivery else len(self.db_rows or [])


def generate_source(ctx: DayContext, pools: Pools, source: Source) -> GenericOutput:
    """One day of ``source``: clean rows, then defects and late rows from their own streams."""
    from enforcement_brain.generate import specs

    settings = source.generator
    n = specs.row_count(ctx, source)
    rng = ctx.rng(source.id, "rows")
    hours = HOURS[settings.hours or ("office" if source.delivery.kind == "database" else "truck")]
    seconds = hour_seconds(rng, n, hours)
    is_db = source.delivery.kind == "database"
    late_rng = None if is_db else ctx.rng(source.id, "late")
    slots = defect_slots(ctx, source)
    kinds = [f"{i}" for i in range(len(slots))] + ["duplicate"]
    # At least one defect a day (when defects are on), so small sources are tested too.
    labels = pick_labels(
        ctx.rng(source.id, "defects"), n, ctx.defect_rate, kinds, late_rng, minimum=1
    )
    late = labels == "late"
    if late_rng is not None:
        seconds = np.where(late, late_rng.integers(-3600, 0, n), seconds)
    prefix = settings.key_prefix or "".join(w[0] for w in source.id.split("_")).upper()
    key = specs.keys(ctx, source, n, prefix, rng)
    d = Draw(ctx, pools, source, n, rng, seconds)
    for col in source.columns:
        d.values[col.name] = np.asarray(column_values(d, col, key), dtype=object).copy()
    specs.refine(d)
    declare_datum(d)

    drng = ctx.rng(source.id, "defect_values")
    slot_of: dict[int, DefectSlot] = {}
    for i in np.flatnonzero((labels != "") & (labels != "late") & (labels != "duplicate")):
        slot = slots[int(labels[i])]
        apply_defect(d, int(i), slot, drng)
        slot_of[int(i)] = slot
        labels[i] = slot.kind
    rule_of = {i: s.rule.id for i, s in slot_of.items()}
    _leave_unfilled(d, labels)

    if is_db:
        return _db_output(ctx, source, d, key, labels, rule_of)
    return _file_output(ctx, source, d, key, labels, rule_of, drng)


def _leave_unfilled(d: Draw, labels: np.ndarray) -> None:
    """Blank an optional column in the clean rows beyond its declared filled share
    (``generator.filled_shares``); a row with a planted defect keeps the value it breaks. Its
    own random stream, so the other columns do not move."""
    shares = d.source.generator.filled_shares
    if not shares:
        return
    rng = d.ctx.rng(d.source.id, "filled")
    clean = np.isin(labels, ["", "late", "duplicate"])
    for name, share in shares.items():
        blank = clean & (rng.random(d.n) >= share)
        d.values[name] = np.where(blank, "", d.values[name]).astype(object)


def _file_output(
    ctx: DayContext,
    source: Source,
    d: Draw,
    key: np.ndarray,
    labels: np.ndarray,
    rule_of: dict[int, str],
    drng: np.random.Generator,
) -> GenericOutput:
    from enforcement_brain.generate import specs

    stem = source.delivery.pattern.split("*")[0]
    ext = source.delivery.pattern.rsplit(".", 1)[-1]
    split = source.generator.split_by
    if split:
        groups = d.values[split]
        uniq = sorted(set(groups.tolist()) - {""})
        # a broken value must not create its own file: such rows go to the first group's file
        pos = {g: i for i, g in enumerate(uniq)}
        file_of = np.array([pos.get(g, 0) for g in groups], dtype=np.int64)
        names = [f"{stem}{g}_{ctx.ymd}.{ext}" for g in uniq]
    elif source.delivery.cadence == "hourly":
        hour = np.clip(d.seconds, 0, None) // 3600
        file_of = hour.astype(np.int64)
        names = [f"{stem}{ctx.ymd}{h:02d}.{ext}" for h in range(24)]
    else:
        file_of = np.zeros(d.n, dtype=np.int64)
        names = [f"{stem}{ctx.ymd}.{ext}"]
    # Out of order: a few rows are written at the end of their file (delivered after later ones).
    order_key = d.seconds.copy()
    ooo = (ctx.rng(source.id, "order").random(d.n) < 0.003) & (labels == "")
    order_key[ooo] += 86_400
    labels = labels.copy()
    labels[ooo] = "out_of_order"
    folder = specs.folder(ctx, source)
    if source.delivery.format == "jsonl":  # a missing number is null in JSON, not nothing
        for c in source.columns:
            if c.type in ("int", "bigint", "double"):
                v = d.values[c.name]
                d.values[c.name] = np.where(v == "", "null", v).astype(object)
    delivery = assemble(
        source=source,
        folder=folder,
        file_names=names,
        columns=[d.values[c] for c in source.column_names],
        file_of=file_of,
        key=order_key,
        labels=labels,
        business_key=key,
        rng=drng,
        rules=rule_of,
    )
    used = [n for n, c in zip(names, np.bincount(file_of, minlength=len(names)), strict=True) if c]
    delivery.texts = {k: v for k, v in delivery.texts.items() if k in used}
    delivery.encoding = source.delivery.encoding
    out = GenericOutput(source, delivery=delivery, truth=delivery.truth, late=delivery.late)
    out.defects = delivery.defects
    out.defects.pop("out_of_order", None)
    return out


def _db_output(
    ctx: DayContext,
    source: Source,
    d: Draw,
    key: np.ndarray,
    labels: np.ndarray,
    rule_of: dict[int, str],
) -> GenericOutput:
    rows = [{c: str(d.values[c][i]) for c in source.column_names} for i in range(d.n)]
    table = f"db:{source.delivery.table}"
    truth = [
        TruthRow(source.id, str(key[i]), table, None, str(labels[i]), rule_of.get(int(i), ""))
        for i in np.flatnonzero((labels != "") & (labels != "duplicate"))
    ]
    dup = np.flatnonzero(labels == "duplicate")
    rows += [dict(rows[i]) for i in dup]
    truth += [TruthRow(source.id, str(key[i]), table, None, "duplicate", "") for i in dup]
    out = GenericOutput(source, db_rows=rows, truth=truth)
    out.defects = Counter(t.defect for t in truth)
    return out


def write_db(db_url: str, source: Source, day: dt.date, rows: list[dict[str, str]]) -> None:
    """Replace the day's rows of a front-database table (all text columns, no primary key:
    front databases are loaded by batch jobs that can insert a row twice)."""
    engine = sa.create_engine(db_url)
    meta = sa.MetaData()
    table = sa.Table(
        source.delivery.table,
        meta,
        *[sa.Column(c, sa.Text) for c in source.column_names],
    )
    wm = table.c[source.delivery.watermark]
    start, end = day.isoformat(), (day + dt.timedelta(days=1)).isoformat()
    try:
        meta.create_all(engine)
        with engine.begin() as conn:
            conn.execute(table.delete().where(wm >= start, wm < end))
            if rows:
                conn.execute(table.insert(), rows)
    finally:
        engine.dispose()
