# ruff: noqa: E501  (schema strings of the hand-made frames read best on one line)
"""抄告 (violation transfers): the 7-working-day deadline in SQL, the rule that ties an outgoing
transfer to its closed case and decision, and the timeliness the datasets publish."""

from __future__ import annotations

import datetime as dt

import pytest
from wim_support import empty_kpi_inputs

from enforcement_brain.declarations import load_catalog
from enforcement_brain.gold.datasets import build as build_dataset
from enforcement_brain.settings import REPO_ROOT
from enforcement_brain.standards import checks
from enforcement_brain.standards.rule_kinds import compile_checks
from enforcement_brain.standards.sql_library import function_statements

FRIDAY = dt.datetime(2026, 3, 6, 9, 30)  # morning: the same local date in any session zone
ON_TIME = dt.datetime(2026, 3, 17, 10, 0)  # 7 working days after, over a weekend
LATE = dt.datetime(2026, 3, 18, 10, 0)  # 8 working days after


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(REPO_ROOT / "data_standards")


def test_deadline_sql_agrees_with_python(spark) -> None:
    for statement in function_statements():
        spark.sql(statement)
    pairs = [
        (FRIDAY, FRIDAY + dt.timedelta(days=d, hours=h)) for d in range(0, 20) for h in (0, 2)
    ] + [
        (dt.datetime(2026, 3, 7, 9, 0), dt.datetime(2026, 3, 7, 9, 0) + dt.timedelta(days=d))
        for d in range(12)
    ]
    df = spark.createDataFrame(pairs, "closed_at timestamp, sent_at timestamp")
    got = df.selectExpr(
        "closed_at", "sent_at",
        "working_days_after(to_date(closed_at), to_date(sent_at)) AS wd",
        "is_transfer_on_time(closed_at, sent_at) AS ok",
    ).collect()  # fmt: skip
    wrong = [
        r
        for r in got
        if r["wd"] != checks.working_days_after(r["closed_at"].date(), r["sent_at"].date())
        or r["ok"] != checks.is_transfer_on_time(r["closed_at"], r["sent_at"])
    ]
    assert not wrong, wrong[:5]
    by_sent = {r["sent_at"]: r["ok"] for r in got}
    assert by_sent[ON_TIME.replace(hour=9, minute=30)] is True
    assert by_sent[LATE.replace(hour=9, minute=30)] is False


def test_an_outgoing_transfer_without_its_closed_case_breaks_the_rule(spark, catalog) -> None:
    source = catalog.sources["violation_transfers"]
    rule = next(c for c in compile_checks(catalog, source) if c.rule.id == "R_TRANSFER_CASE_CLOSED")
    schema = "transfer_id string, direction string, case_no string, decision_no string, case_closed_at timestamp, transferred_at timestamp"
    rows = [
        (
            "ok",
            "OUT",
            "徐交执立〔2026〕第065001号",
            "徐交执罚〔2026〕2026030600001号",
            FRIDAY,
            ON_TIME,
        ),
        ("late_but_closed", "OUT", "C2", "D2", FRIDAY, LATE),
        ("no_case", "OUT", None, "D3", FRIDAY, ON_TIME),
        ("no_decision", "OUT", "C4", None, FRIDAY, ON_TIME),
        ("not_closed", "OUT", "C5", "D5", None, ON_TIME),
        ("before_closure", "OUT", "C6", "D6", ON_TIME, FRIDAY),
        ("received", "IN", None, None, None, ON_TIME),
    ]
    got = {
        r["transfer_id"]: r["broken"]
        for r in spark.createDataFrame(rows, schema)
        .selectExpr("transfer_id", f"{rule.sql} AS broken")
        .collect()
    }
    assert got == {
        "ok": False, "late_but_closed": False, "no_case": True, "no_decision": True,
        "not_closed": True, "before_closure": True, "received": False,
    }  # fmt: skip


def _build(spark, catalog, dataset_id, **frames):
    inputs = {sid: spark.createDataFrame(rows, schema) for sid, (rows, schema) in frames.items()}
    return build_dataset(spark, catalog, catalog.datasets[dataset_id], inputs).collect()


TRANSFERS = "transfer_id string, direction string, plate_no string, to_area string, violation_code string, case_closed_at timestamp, transferred_at timestamp, biz_date date"


def test_transfers_by_destination_count_those_sent_in_time(spark, catalog) -> None:
    d1, d2 = ON_TIME.date(), LATE.date()
    rows = [
        ("T1", "OUT", "皖F1", "340600", "CX01", FRIDAY, ON_TIME, d1),
        ("T2", "OUT", "皖F2", "340600", "CX01", FRIDAY, ON_TIME, d1),
        ("T3", "OUT", "皖F3", "340600", "CX01", FRIDAY, LATE, d2),
        ("T4", "IN", "苏C1", "320300", "CX01", FRIDAY, LATE, d2),
    ]
    out = _build(
        spark, catalog, "violation_transfers_by_destination", violation_transfers=(rows, TRANSFERS)
    )
    got = {(r["biz_date"], r["direction"]): (r["transfers"], r["transfers_on_time"]) for r in out}
    assert got == {(d1, "OUT"): (2, 2), (d2, "OUT"): (1, 0), (d2, "IN"): (1, 0)}


def test_kpi_monthly_share_of_transfers_sent_in_time(spark, catalog) -> None:
    rows = [
        ("T1", "OUT", "皖F1", "340600", "CX01", FRIDAY, ON_TIME, ON_TIME.date()),
        ("T2", "OUT", "皖F2", "340600", "CX01", FRIDAY, ON_TIME, ON_TIME.date()),
        ("T3", "OUT", "鲁D3", "370400", "CX01", FRIDAY, LATE, LATE.date()),
        ("T4", "OUT", "苏N4", "321300", "CX01", FRIDAY, LATE, LATE.date()),
        ("T5", "IN", "苏C1", "320300", "CX01", FRIDAY, LATE, LATE.date()),
    ]
    frames = empty_kpi_inputs("violation_transfers")
    out = _build(spark, catalog, "kpi_monthly", violation_transfers=(rows, TRANSFERS), **frames)
    got = {r["kpi_id"]: (r["value"], r["unit"]) for r in out}
    assert got["transfers_out"] == (4.0, "transfers")
    assert got["transfers_out_of_province"] == (3.0, "transfers")
    assert got["transfers_on_time_ratio"] == (0.5, "ratio")
