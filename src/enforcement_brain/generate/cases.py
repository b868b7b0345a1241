"""Enforcement cases in the case-handling system's table ``enf_case`` (latest state per case).

A case is a pure function of (seed, filing day, scale, its number that day): its party, plate,
division and its whole life - filed, investigated, reviewed, decided, executed, closed over up
to ~8 weeks. Generating day D therefore needs no memory of earlier runs: it recomputes the cases
filed on the :data:`LOOKBACK_DAYS` days up to D and upserts those with a transition on D, with
``updated_at`` on D - which is what the platform's watermark pull sees. Overload cases (CX01)
are non-site enforcement (非现场执法): filed the day after a truck overloaded at a WIM site, they
name that truck, the site's division and the fine the rule gives for the weighed excess.

Upserts never move a case backwards: if the table already holds a later state (a later day was
generated first), the older state is not written. Rerunning days in any order ends in the state
of the latest day generated, as a real source system would.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from enforcement_brain.declarations import Source
from enforcement_brain.errors import DeclarationError
from enforcement_brain.generate._common import HMS, TruthRow, rng_for
from enforcement_brain.generate.context import CASES, DayContext
from enforcement_brain.generate.fleet import N_XUZHOU_ENTERPRISES, TRUCK_ORIGINS
from enforcement_brain.generate.wim import overload_events
from enforcement_brain.standards.checks import (
    CREDIT_CODE_ALPHABET,
    FINE_FREE_EXCESS_KG,
    TRANSFER_DEADLINE_WORKING_DAYS,
    WORKING_WEEKDAYS,
    XUZHOU_PLATE_PREFIX,
    fine_yuan,
)
from enforcement_brain.standards.rule_kinds.defects import bad_plate_value

LOOKBACK_DAYS = 60
#: Average distinct days on which a case changes (filing ... closure): turns the declared rows
#: per day into new cases per day.
ROWS_PER_CASE = 4.6
MIN_NEW_CASES = 2
STAGES = ("FILED", "INVESTIGATING", "REVIEWING", "DECIDED", "EXECUTING", "CLOSED")
_FINED = {"DECIDED", "EXECUTING", "CLOSED"}
#: Share of new cases by violation code (codes in violation_codes.yaml) [I]: mostly non-site
#: overload cases, so that the closed ones of trucks registered elsewhere give the 4,979 transfers
#: a year; 318 illegal-operation cases (YY01-YY03) and 11 source-enterprise cases (CX02) a year
#: in the seed report (sections 四 and 五) are ~3 % and ~0.1 % of ~9,000 cases.
VIOLATION_MIX = {
    "CX01": 0.80, "CX02": 0.001, "CX03": 0.03, "CX04": 0.03,
    "YY01": 0.015, "YY02": 0.009, "YY03": 0.005, "YY04": 0.04, "YY05": 0.02, "YY06": 0.02,
    "WH01": 0.015, "WH02": 0.01, "LZ01": 0.005,
}  # fmt: skip
#: Violations committed with a car (illegal taxi / ride-hailing) rather than a truck.
CAR_VIOLATIONS = frozenset({"YY01", "YY02", "YY03", "YY06"})
#: Divisions that are not Xuzhou's: 南京, 苏州, 宿迁, 枣庄, 宿州, 北京东城.
NON_XUZHOU_DIVISIONS = ("320100", "320500", "321300", "370400", "341300", "110101")
DEFECTS = ("bad_credit_code", "bad_division", "bad_plate")
#: [I] Share of outgoing 抄告 sent after the 7-working-day deadline (the rest within it).
TRANSFER_LATE_SHARE = 0.08
#: Days back a case filed can still be transferred today: its longest life (~55 days) and the
#: longest delay the generator gives (3 x the deadline in working days, ~4 weeks).
TRANSFER_LOOKBACK_DAYS = 90
#: The area a plate's issuing office serves (GB/T 2260), for the regions the fleet comes from.
REGISTRATION_AREA = {province + office: area for province, office, _, area in TRUCK_ORIGINS}
TABLE = "enf_case"


@dataclass(frozen=True)
class Case:
    """A case and its life: ``stages`` are (day offset from filing, second of day, status)."""

    case_id: str
    case_no: str
    plate_no: str | None
    party_name: str
    party_credit_code: str | None
    violation_code: str
    division_code: str
    fine_yuan: int | None
    filed_on: dt.date
    stages: tuple[tuple[int, int, str], ...]
    defect: str  # "" or one of DEFECTS; a property of the case, so every version carries it

    def stage_time(self, status: str) -> dt.datetime | None:
        """When the case reached ``status``, or None if it never does."""
        found = next((s for s in self.stages if s[2] == status), None)
        if found is None:
            return None
        return dt.datetime.fromisoformat(_stamp(self.filed_on, found[0], found[1]))

    @property
    def decision_no(self) -> str | None:
        """The penalty decision's number (处罚决定书文号), dated the day of the decision, with the
        case's own sequence; None for a case withdrawn without a decision."""
        decided = self.stage_time("DECIDED")
        if decided is None:
            return None
        seq = "".join(ch for ch in self.case_no if ch.isdigit())[-6:]
        return f"徐交执罚〔{decided.year}〕{decided:%Y%m%d}{seq}号"

    def row_on(self, day: dt.date) -> dict[str, Any] | None:
        """The row as the table holds it at the end of ``day``, if the case changed that day."""
        k = (day - self.filed_on).days
        today = [s for s in self.stages if s[0] == k]
        if not today:
            return None
        _, sec, status = today[-1]
        closed = next((s for s in self.stages if s[2] == "CLOSED" and s[0] <= k), None)
        filed = self.stages[0]
        return {
            "case_id": self.case_id,
            "case_no": self.case_no,
            "plate_no": self.plate_no,
            "party_name": self.party_name,
            "party_credit_code": self.party_credit_code,
            "violation_code": self.violation_code,
            "division_code": self.division_code,
            "status": status,
            "fine_yuan": self.fine_yuan if status in _FINED else None,
            "filed_at": _stamp(self.filed_on, filed[0], filed[1]),
            "closed_at": _stamp(self.filed_on, closed[0], closed[1]) if closed else None,
            "updated_at": _stamp(self.filed_on, k, sec),
        }


def _stamp(filed_on: dt.date, offset: int, sec: int) -> str:
    return f"{(filed_on + dt.timedelta(days=offset)).isoformat()} {HMS[sec]}"


#: Cases by (seed, scale, defect rate, standards folder, filing day): a day's cases and
#: transfers, and consecutive days, look back over the same filing days.
_FILED: OrderedDict[tuple[object, ...], list[Case]] = OrderedDict()
_FILED_MAX = 200


def cases_filed_on(ctx: DayContext, filed_on: dt.date) -> list[Case]:
    """All cases filed on ``filed_on`` (any day; ``ctx`` supplies seed, scale and tables).

    A pure function of its arguments, so the last few hundred filing days are kept."""
    key = (ctx.seed, ctx.scale, ctx.defect_rate, str(ctx.standards_dir), filed_on)
    if key in _FILED:
        _FILED.move_to_end(key)
        return _FILED[key]
    cases = _new_cases(ctx, filed_on)
    _FILED[key] = cases
    if len(_FILED) > _FILED_MAX:
        _FILED.popitem(last=False)
    return cases


def _new_cases(ctx: DayContext, filed_on: dt.date) -> list[Case]:
    day_ctx = dataclasses.replace(ctx, day=filed_on)
    fleet = ctx.fleet
    rng = day_ctx.rng(CASES, "new")
    expected = ctx.sources[CASES].expected_daily_rows * ctx.scale / ROWS_PER_CASE
    n_new = max(MIN_NEW_CASES, int(rng.poisson(expected)))
    violations = {v["code"]: v for v in ctx.violations}
    unknown = set(VIOLATION_MIX) - set(violations)
    if unknown:
        raise DeclarationError(f"code_tables/violation_codes.yaml lacks {sorted(unknown)}")
    mix = np.array(list(VIOLATION_MIX.values()))
    codes = np.array(list(VIOLATION_MIX), dtype=object)[
        rng.choice(len(mix), n_new, p=mix / mix.sum())
    ]

    # Overload cases take distinct over-limit weighings of the previous day that earn a fine
    # (an excess up to FINE_FREE_EXCESS_KG earns a warning).
    events = overload_events(dataclasses.replace(ctx, day=filed_on - dt.timedelta(days=1)))
    excess = events.gross_kg - fleet.truck_limit_kg[events.truck]
    fineable = np.flatnonzero(excess > FINE_FREE_EXCESS_KG)
    n_cx01 = min(int((codes == "CX01").sum()), len(fineable))
    w = excess[fineable] / fleet.truck_limit_kg[events.truck[fineable]]
    chosen = rng.choice(fineable, n_cx01, replace=False, p=w / w.sum()) if n_cx01 else []
    codes[np.flatnonzero(codes == "CX01")[n_cx01:]] = "YY04"  # too few overloads today
    chosen_iter = iter(chosen)

    divisions = [d["code"] for d in ctx.divisions]
    div_w = np.array([2.0 if d == "320300" else 1.0 for d in divisions])
    day_of_year = filed_on.timetuple().tm_yday
    cases = []
    for i, code in enumerate(codes):
        crng = day_ctx.rng(CASES, "case", i)
        v = violations[code]
        division = divisions[crng.choice(len(divisions), p=div_w / div_w.sum())]
        plate: str | None = None
        truck = int(crng.choice(len(fleet.truck_plate), p=fleet.truck_activity))
        enterprise = int(fleet.truck_owner[truck])
        fine = _range_fine(crng, v)
        if code == "CX01":
            e = next(chosen_iter)
            truck = int(events.truck[e])
            enterprise = int(fleet.truck_owner[truck])
            plate = fleet.truck_plate[truck]
            division = ctx.wim_sites[events.site[e]]["division_code"]
            fine = fine_yuan(int(excess[e]))
        elif code in CAR_VIOLATIONS:
            plate = fleet.car_plate[int(crng.choice(len(fleet.car_plate), p=fleet.car_activity))]
        elif v["subject"] == "vehicle" or crng.random() < 0.5:
            plate = fleet.truck_plate[truck]
        person = fleet.person_names[int(crng.integers(0, len(fleet.person_names)))]
        if v["subject"] == "enterprise":
            # A Xuzhou enterprise (loading source, dangerous-goods carrier, road works...).
            enterprise = int(crng.integers(0, N_XUZHOU_ENTERPRISES))
            as_person = False
        else:
            as_person = code in CAR_VIOLATIONS or crng.random() < 0.25
        credit = None if as_person else fleet.ent_credit_code[enterprise]
        party = person if as_person else fleet.ent_name[enterprise]
        stages, withdrawn = _life(crng)

        drng = day_ctx.rng(CASES, "defect", i)
        u, pick, bad_div = drng.random(), drng.random(), int(drng.integers(0, 6))
        defect = ""
        if u < ctx.defect_rate:
            kinds = [
                k
                for k in DEFECTS
                if (k != "bad_credit_code" or credit) and (k != "bad_plate" or plate)
            ]
            defect = kinds[int(pick * len(kinds))]
            if defect == "bad_credit_code":
                credit = _wrong_check_char(drng, credit)
            elif defect == "bad_division":
                division = NON_XUZHOU_DIVISIONS[bad_div]
            else:
                plate = bad_plate_value(drng, plate)
        cases.append(
            Case(
                case_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"eb:{ctx.seed}:{filed_on}:{i}")),
                case_no=f"徐交执立〔{filed_on.year}〕第{day_of_year:03d}{i + 1:03d}号",
                plate_no=plate,
                party_name=party,
                party_credit_code=credit,
                violation_code=code,
                division_code=division,
                fine_yuan=None if withdrawn else fine,
                filed_on=filed_on,
                stages=stages,
                defect=defect,
            )
        )
    return cases


def _range_fine(rng: np.random.Generator, violation: dict[str, Any]) -> int:
    """A fine inside the violation's statutory range, rounded as decisions are (to ¥100, or ¥10
    for small fines)."""
    lo, hi = int(violation["fine_min_yuan"]), int(violation["fine_max_yuan"])
    step = 10 if hi < 1_000 else 100
    return int(math.ceil(rng.uniform(lo, hi) / step) * step)


def _life(rng: np.random.Generator) -> tuple[tuple[tuple[int, int, str], ...], bool]:
    """Stage days and times: filed, investigated (same day 60 %), reviewed, decided, executed,
    closed; 8 % are withdrawn (closed after investigation, no fine). Times are office hours and
    increase within a day."""
    withdrawn = rng.random() < 0.08
    inv = 0 if rng.random() < 0.6 else int(rng.integers(1, 3))
    if withdrawn:
        offsets = [0, inv, inv + int(rng.integers(3, 21))]
        names = ["FILED", "INVESTIGATING", "CLOSED"]
    else:
        rev = inv + int(rng.integers(2, 13))
        dec = rev + int(rng.integers(1, 8))
        exe = dec + int(rng.integers(0, 3))
        offsets = [0, inv, rev, dec, exe, exe + int(rng.integers(1, 31))]
        names = list(STAGES)
    stages: list[tuple[int, int, str]] = []
    for offset, name in zip(offsets, names, strict=True):
        sec = 30_600 + int(rng.integers(0, 32_400))  # 08:30-17:30
        if stages and stages[-1][0] == offset and sec <= stages[-1][1]:
            sec = min(86_399, stages[-1][1] + int(rng.integers(60, 1_800)))
        stages.append((offset, sec, name))
    return tuple(stages), withdrawn


def _wrong_check_char(rng: np.random.Generator, code: str) -> str:
    """``code`` with a different, still well-formed check character (fails the GB 32100 check)."""
    others = CREDIT_CODE_ALPHABET.replace(code[17], "")
    return code[:17] + others[int(rng.integers(0, len(others)))]


def cases_on(ctx: DayContext) -> list[Case]:
    """Cases that change on ``ctx.day``, oldest filing first."""
    out = []
    for back in range(LOOKBACK_DAYS, -1, -1):
        for case in cases_filed_on(ctx, ctx.day - dt.timedelta(days=back)):
            if case.row_on(ctx.day) is not None:
                out.append(case)
    return out


@dataclass(frozen=True)
class Transfer:
    """An outgoing 抄告 of a closed case: to the area where its vehicle is registered."""

    case: Case
    to_area: str
    closed_at: dt.datetime
    sent_at: dt.datetime


def _after_working_days(day: dt.date, n: int) -> dt.date:
    """The ``n``-th working day after ``day`` (working days as Standard 1 declares them)."""
    while n > 0:
        day += dt.timedelta(days=1)
        n -= day.weekday() in WORKING_WEEKDAYS
    return day


def transfer_of(ctx: DayContext, case: Case) -> Transfer | None:
    """The case's outgoing transfer, if it has one: a case closed with a penalty decision, about
    a vehicle registered outside Xuzhou in a known region. Its delay in working days after the
    closure comes from the case's own stream: within the deadline, or a declared share
    (:data:`TRANSFER_LATE_SHARE`) after it."""
    closed_at = case.stage_time("CLOSED")
    plate = case.plate_no or ""
    area = REGISTRATION_AREA.get(plate[:2])
    if closed_at is None or case.decision_no is None or case.defect or area is None:
        return None
    if plate.startswith(XUZHOU_PLATE_PREFIX):
        return None
    rng = rng_for(ctx.seed, case.case_id, "transfer")
    late = rng.random() < TRANSFER_LATE_SHARE
    deadline = TRANSFER_DEADLINE_WORKING_DAYS
    lag = int(rng.integers(deadline + 1, 3 * deadline) if late else rng.integers(1, deadline + 1))
    sec = 30_600 + int(rng.integers(0, 32_400))  # 08:30-17:30
    sent = dt.datetime.combine(_after_working_days(closed_at.date(), lag), dt.time()) + (
        dt.timedelta(seconds=sec)
    )
    return Transfer(case, area, closed_at, sent)


def transfers_on(ctx: DayContext) -> list[Transfer]:
    """The outgoing transfers sent on ``ctx.day``, oldest filing first: every case that can close
    in time for one (its life and the latest delay fit :data:`TRANSFER_LOOKBACK_DAYS`)."""
    out = []
    for back in range(TRANSFER_LOOKBACK_DAYS, -1, -1):
        for case in cases_filed_on(ctx, ctx.day - dt.timedelta(days=back)):
            t = transfer_of(ctx, case)
            if t is not None and t.sent_at.date() == ctx.day:
                out.append(t)
    return out


def case_table(source: Source) -> sa.Table:
    """The source's table as declared: timestamps and dates as TEXT (``yyyy-MM-dd HH:mm:ss``), as
    the case system keeps them; the business key is the primary key."""
    types = {
        "string": sa.Text, "timestamp": sa.Text, "date": sa.Text, "int": sa.Integer,
        "bigint": sa.BigInteger, "double": sa.Float, "boolean": sa.Boolean,
    }  # fmt: skip
    key = set(source.business_key)
    cols = [sa.Column(c.name, types[c.type](), primary_key=c.name in key) for c in source.columns]
    return sa.Table(source.delivery.table, sa.MetaData(), *cols)


def upsert_cases(db_url: str, source: Source, rows: list[dict[str, Any]]) -> set[str]:
    """Insert or update ``rows``; return the case ids whose row now holds the given state.

    Portable SQLAlchemy Core (select, then insert or update) rather than a dialect's
    ``ON CONFLICT``: the case system may be SQLite here and something else elsewhere.
    """
    url = sa.make_url(db_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    table = case_table(source)
    engine = sa.create_engine(db_url)
    written: set[str] = set()
    try:
        table.metadata.create_all(engine)
        with engine.begin() as conn:
            ids = [r["case_id"] for r in rows]
            current = dict(
                conn.execute(
                    sa.select(table.c.case_id, table.c.updated_at).where(table.c.case_id.in_(ids))
                ).all()
            )
            for row in rows:
                held = current.get(row["case_id"])
                if held is None:
                    conn.execute(table.insert().values(**row))
                elif held <= row["updated_at"]:
                    conn.execute(
                        table.update().where(table.c.case_id == row["case_id"]).values(**row)
                    )
                else:
                    continue  # the table already holds a later state of this case
                written.add(row["case_id"])
    finally:
        engine.dispose()
    return written


def generate_cases(ctx: DayContext, db_url: str) -> tuple[int, list[TruthRow]]:
    """Upsert the day's case rows; return rows written and the ground truth for them."""
    source = ctx.sources[CASES]
    cases = cases_on(ctx)
    rows = [c.row_on(ctx.day) for c in cases]
    written = upsert_cases(db_url, source, rows)
    table = source.delivery.table
    truth = [
        TruthRow(CASES, c.case_id, table, None, c.defect)
        for c in cases
        if c.defect and c.case_id in written
    ]
    return len(written), truth
