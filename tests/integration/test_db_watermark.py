"""The front-database watermark: rows committed late into a loaded day reach silver, once.

Day D is loaded; then the case system commits, late, a case stamped with a time in D *below*
D's high-water mark, while an update moves another case out of D (so D's count and maximum are
what D's pull recorded: only the row versions tell the change). The next day's load must pick the
late case up, count it once in the ledger, record what it swept in ``ops.db_pulls``, and give
the same tables when rerun.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest
from conftest import make_settings
from front_db_support import case_row, commit, front_db

from enforcement_brain.declarations import load_catalog
from enforcement_brain.errors import DeliveryError
from enforcement_brain.lake.tables import RUN_STAMP_COLUMNS
from enforcement_brain.orchestration.runtime import JobContext
from enforcement_brain.pipeline import front_db as pulls
from enforcement_brain.settings import REPO_ROOT
from jobs import bronze_to_silver, land_to_bronze

SOURCE = "enforcement_cases"
D, D1 = dt.date(2026, 11, 27), dt.date(2026, 11, 28)


def _columns(settings) -> list[str]:
    return load_catalog(settings.standards_dir).sources[SOURCE].column_names


def _load(settings, day: dt.date, run_id: str) -> dict:
    ctx = JobContext(settings, load_catalog(settings.standards_dir))
    land_to_bronze.run(ctx, SOURCE, day, run_id, count=False)
    return bronze_to_silver.run(ctx, SOURCE, day, run_id)


def _day_d(settings) -> None:
    """The case system on D: two cases, the later at 12:00 (D's high-water mark)."""
    front_db(
        settings,
        _columns(settings),
        [case_row("C1", "2026-11-27 09:00:00"), case_row("C2", "2026-11-27 12:00:00")],
    )


def _late_commit(settings, *, quarantined: bool = False) -> None:
    """After D's pull: C3 stamped 08:00 on D (below the high water) commits late, C1 moves on
    to D+1, C5 is D+1's own case; optionally C4, a late case with a status no code table has."""
    late = [case_row("C3", "2026-11-27 08:00:00"), case_row("C5", "2026-11-28 09:00:00")]
    if quarantined:
        late.append(case_row("C4", "2026-11-27 10:00:00", status="LOST"))
    moved = {"C1": {"updated_at": "2026-11-28 08:00:00", "status": "INVESTIGATING"}}
    commit(settings, _columns(settings), insert=late, update=moved)


def _rows(spark, settings, layer: str, table: str, where: str = "true") -> list[tuple]:
    df = spark.read.format("delta").load(settings.table_uri(layer, table)).where(where)
    keep = sorted(c for c in df.columns if c not in RUN_STAMP_COLUMNS)
    return sorted(tuple(r) for r in df.select(*keep).collect())


def _records(spark, settings, run_id: str | None = None) -> list[tuple]:
    """``ops.db_pulls`` of the source (of one run), sorted by batch, then window."""
    keep = ("delivery_date", "window_day", "pull", "row_count", "high_water", "rows_pulled")
    return sorted(
        (*[r[k] for k in keep], r["run_id"])
        for r in pulls.pull_records(settings, SOURCE)
        if run_id in (None, r["run_id"])
    )


def test_sweep_windows_are_the_pulled_days_of_the_lookback_and_what_the_batch_swept():
    d = dt.date(2026, 11, 20)
    day = [(d - dt.timedelta(days=n), d - dt.timedelta(days=n), "day") for n in range(1, 10)]
    assert pulls.sweep_windows(day, d, 3) == [d - dt.timedelta(days=n) for n in (3, 2, 1)]
    assert pulls.sweep_windows(day, d, 0) == []
    # a day never loaded is not swept: its own load takes its rows
    gap = [r for r in day if r[0] != d - dt.timedelta(days=2)]
    assert pulls.sweep_windows(gap, d, 3) == [d - dt.timedelta(days=n) for n in (3, 1)]
    # a window a batch swept before is swept by its rerun, even past a shortened lookback
    swept = [*day, (d, d - dt.timedelta(days=5), "sweep")]
    assert pulls.sweep_windows(swept, d, 1) == [d - dt.timedelta(days=5), d - dt.timedelta(1)]


def test_a_late_row_below_the_high_water_reaches_silver_once(spark, tmp_path):
    settings = make_settings(tmp_path / "var")
    _day_d(settings)
    first = _load(settings, D, "run-D")
    assert (first["rows_in"], first["inserted"]) == (2, 2)

    _late_commit(settings)
    report = _load(settings, D1, "run-D1")
    # D+1's window (C1 moved there, C5) and the late C3 from D's window
    assert (report["rows_in"], report["inserted"], report["updated"]) == (3, 2, 1)
    assert (report["unchanged"], report["duplicates_dropped"], report["quarantined"]) == (0, 0, 0)

    silver = spark.read.format("delta").load(settings.table_uri("silver", SOURCE))
    silver = silver.selectExpr("case_id", "status", "cast(updated_at as string) as updated_at")
    got = {r["case_id"]: (r["status"], r["updated_at"]) for r in silver.collect()}
    assert got == {
        "C1": ("INVESTIGATING", "2026-11-28 08:00:00"),
        "C2": ("FILED", "2026-11-27 12:00:00"),
        "C3": ("FILED", "2026-11-27 08:00:00"),
        "C5": ("FILED", "2026-11-28 09:00:00"),
    }
    bronze = spark.read.format("delta").load(settings.table_uri("bronze", SOURCE))
    where = {(r["case_id"], str(r["_delivery_date"]), r["_source_file"]) for r in bronze.collect()}
    assert where == {
        ("C1", "2026-11-27", "db:enf_case"),
        ("C2", "2026-11-27", "db:enf_case"),
        ("C1", "2026-11-28", "db:enf_case"),
        ("C5", "2026-11-28", "db:enf_case"),
        ("C3", "2026-11-28", "db:enf_case?window=2026-11-27"),
    }
    # D's window holds 2 rows up to 12:00 before and after: only the versions tell C3 apart
    assert _records(spark, settings) == [
        (D, D, "day", 2, "2026-11-27 12:00:00", 2, "run-D"),
        (D1, D, "sweep", 2, "2026-11-27 12:00:00", 1, "run-D1"),
        (D1, D1, "day", 2, "2026-11-28 09:00:00", 2, "run-D1"),
    ]

    # The day after: nothing new in D or D+1, so C3 is not taken (or counted) again.
    commit(settings, _columns(settings), insert=[case_row("C6", "2026-11-29 10:00:00")])
    after = _load(settings, D1 + dt.timedelta(days=1), "run-D2")
    assert (after["rows_in"], after["inserted"]) == (1, 1)
    batches = spark.read.format("delta").load(settings.table_uri("ops", "batch_log"))
    rows_in = {str(r["delivery_date"]): r["rows_in"] for r in batches.collect()}
    assert rows_in == {"2026-11-27": 2, "2026-11-28": 3, "2026-11-29": 1}
    assert all(r["reconciles"] for r in batches.collect())
    ledger = spark.read.format("delta").load(settings.table_uri("ops", "dq_ledger"))
    checked = {(str(r["delivery_date"]), r["checked"]) for r in ledger.collect()}
    assert checked == {("2026-11-27", 2), ("2026-11-28", 3), ("2026-11-29", 1)}


def test_rerunning_the_day_that_swept_gives_the_same_tables(spark, tmp_path):
    settings = make_settings(tmp_path / "var")
    _day_d(settings)
    _load(settings, D, "run-D")
    _late_commit(settings, quarantined=True)
    first = _load(settings, D1, "run-D1")
    assert (first["rows_in"], first["inserted"], first["quarantined"]) == (4, 2, 1)

    layers = [("bronze", SOURCE), ("silver", SOURCE), ("quarantine", SOURCE)]
    before = {t: _rows(spark, settings, *t) for t in layers}
    day = f"delivery_date = '{D1}'"
    ledger = _rows(spark, settings, "ops", "dq_ledger", day)
    rerun = _load(settings, D1, "rerun-D1")
    assert {t: _rows(spark, settings, *t) for t in layers} == before
    assert len(before[("quarantine", SOURCE)]) == 1  # C4, quarantined once
    assert sorted(set(_rows(spark, settings, "ops", "dq_ledger", day))) == sorted(set(ledger))
    assert (rerun["rows_in"], rerun["inserted"], rerun["updated"]) == (4, 0, 0)
    assert (rerun["unchanged"], rerun["quarantined"]) == (3, 1)
    # the rerun swept the same window and took the same late rows
    assert _records(spark, settings, "rerun-D1") == [
        (D1, D, "sweep", 3, "2026-11-27 12:00:00", 2, "rerun-D1"),
        (D1, D1, "day", 2, "2026-11-28 09:00:00", 2, "rerun-D1"),
    ]

    # Rerunning D itself leaves the late rows with the batch that took them: no version is in
    # two bronze slices, so no row is counted (or quarantined) twice.
    again = _load(settings, D, "rerun-D")
    assert again["rows_in"] == 1  # C2; C1 has moved on, C3 and C4 belong to D+1's batch
    bronze = spark.read.format("delta").load(settings.table_uri("bronze", SOURCE))
    versions = [(r["case_id"], r["updated_at"]) for r in bronze.collect()]
    assert len(versions) == len(set(versions)) == 5


def _subprocess_env(var) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "EB_SPARK_REMOTE"}
    env.update(
        {
            "EB_VAR_DIR": str(var),
            "EB_SPARK_MASTER": "local[1]",
            "EB_SPARK_DRIVER_MEMORY": "1g",
            "EB_SPARK_SHUFFLE_PARTITIONS": "2",
        }
    )
    return env


def test_the_pull_record_survives_a_restart(spark, tmp_path):
    """D is loaded by another process (its own JVM, gone when it exits); the next day's load,
    in this process with settings built afresh, finds D's pull record and sweeps D."""
    var = tmp_path / "var"
    _day_d(make_settings(var))
    job = ["jobs.load_source", "--source", SOURCE, "--date", D.isoformat(), "--run-id", "run-D"]
    proc = subprocess.run(
        [sys.executable, "-m", *job],
        env=_subprocess_env(var),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    settings = make_settings(var)  # a restart: nothing carried over but the var dir
    assert _records(spark, settings) == [(D, D, "day", 2, "2026-11-27 12:00:00", 2, "run-D")]
    _late_commit(settings)
    report = _load(settings, D1, "run-D1")
    assert (report["rows_in"], report["inserted"]) == (3, 2)
    silver = spark.read.format("delta").load(settings.table_uri("silver", SOURCE))
    assert sorted(r["case_id"] for r in silver.collect()) == ["C1", "C2", "C3", "C5"]


def test_an_unreachable_front_database_is_one_line_naming_the_source(spark, tmp_path):
    missing = tmp_path / "nowhere" / "case_system.db"
    settings = make_settings(tmp_path / "var", EB_SOURCE_DB_URL=f"sqlite:///{missing}")
    source = load_catalog(settings.standards_dir).sources[SOURCE]
    with pytest.raises(DeliveryError) as caught:
        pulls.pull(spark, settings, source, D)
    message = str(caught.value)
    assert message.startswith("enforcement_cases: source database unreachable or unreadable")
    assert "\n" not in message


def _business_rows(spark, settings, layer: str) -> list[tuple]:
    df = spark.read.format("delta").load(settings.table_uri(layer, SOURCE))
    keep = sorted(c for c in df.columns if not c.startswith("_"))
    return sorted(tuple(str(v) for v in r) for r in df.select(*keep).collect())


def test_days_after_a_late_commit_loaded_in_either_order_give_the_same_silver(spark, tmp_path):
    """A backfill may load D+2 before D+1: the late row is then found by D+2's batch instead
    of D+1's, and silver, and the rows counted over the batches, stay the same."""
    d2 = D1 + dt.timedelta(days=1)
    lakes = []
    for name, order in (("in_order", [D1, d2]), ("backfill", [d2, D1])):
        settings = make_settings(tmp_path / name)
        _day_d(settings)
        _load(settings, D, "run-D")
        _late_commit(settings)
        commit(settings, _columns(settings), insert=[case_row("C6", "2026-11-29 10:00:00")])
        reports = {day: _load(settings, day, f"run-{day}") for day in order}
        lakes.append((settings, reports))
    (a, first), (b, second) = lakes
    assert _business_rows(spark, a, "silver") == _business_rows(spark, b, "silver")
    assert (first[D1]["rows_in"], first[d2]["rows_in"]) == (3, 1)  # C3 with D+1's batch
    assert (second[D1]["rows_in"], second[d2]["rows_in"]) == (2, 2)  # C3 with D+2's batch
    # every row version counted once over the batches, whichever batch found it
    assert sum(r["rows_in"] for r in first.values()) == sum(r["rows_in"] for r in second.values())
