"""The chaos harness's own parts, on tiny Delta tables written with delta-rs (no JVM)."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from enforcement_brain.chaos import (
    JOB_TARGETS,
    TARGETS,
    Baseline,
    CommitLanded,
    Uncommitted,
    commit_operations,
    commits,
    compare_lakes,
    data_files,
    referenced,
    schedule,
)
from enforcement_brain.declarations import load_catalog
from enforcement_brain.settings import REPO_ROOT

UTC = dt.UTC


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(REPO_ROOT / "data_standards")


def _silver(var: Path, ids: list[str], run: str = "r1") -> Path:
    path = var / "lake" / "silver" / "wim_weighings"
    rows = {"record_id": ids, "gross_weight_kg": [1000] * len(ids), "_run_id": [run] * len(ids)}
    write_deltalake(str(path), pa.table(rows), mode="overwrite")
    return path


def _batch_log(var: Path, rows: list[tuple[str, int, int, str, dt.datetime]]) -> None:
    path = var / "lake" / "ops" / "batch_log"
    data = pa.table(
        {
            "source": [r[0] for r in rows],
            "delivery_date": [dt.date(2026, 11, 28)] * len(rows),
            "inserted": [r[1] for r in rows],
            "unchanged": [r[2] for r in rows],
            "run_id": [r[3] for r in rows],
            "recorded_at": pa.array([r[4] for r in rows], pa.timestamp("us", tz="UTC")),
        }
    )
    write_deltalake(str(path), data, mode="append")


def test_probes_see_uncommitted_files(tmp_path: Path) -> None:
    table = _silver(tmp_path, ["a", "b"])
    assert commits(table) == 1
    assert data_files(table) == referenced(table) and len(data_files(table)) == 1
    moment = Uncommitted("silver", "wim_weighings")
    base = moment.baseline(tmp_path / "lake")
    assert not moment.reached(tmp_path / "lake", base)
    (table / "part-00000-new.snappy.parquet").write_bytes(b"being written")
    assert moment.reached(tmp_path / "lake", base)
    # files that were already orphaned when the step started do not open the window
    assert not moment.reached(tmp_path / "lake", moment.baseline(tmp_path / "lake"))


def test_commit_landed_names_the_operation(tmp_path: Path) -> None:
    table = _silver(tmp_path, ["a"])
    moment = CommitLanded("silver", "wim_weighings", ("WRITE",))
    base = moment.baseline(tmp_path / "lake")
    assert base == Baseline(1, set())
    assert not moment.reached(tmp_path / "lake", base)
    write_deltalake(str(table), pa.table({"record_id": ["b"]}), mode="append", schema_mode="merge")
    assert commit_operations(table, 1) == ["WRITE"]
    assert moment.reached(tmp_path / "lake", base)
    assert not CommitLanded("silver", "wim_weighings", ("OPTIMIZE",)).reached(
        tmp_path / "lake", base
    )


def test_schedule_spreads_kills_over_targets() -> None:
    cycles = schedule(10, JOB_TARGETS, random.Random(3))
    flat = [t for c in cycles for t in c]
    assert len(flat) == 10
    assert set(flat) == set(JOB_TARGETS)
    assert all(len(c) == len(set(c)) for c in cycles)  # a target at most once per cycle
    assert len(schedule(200, JOB_TARGETS, random.Random(3))) == 23  # ceil(200 / 9)


def test_every_issue_target_is_declared() -> None:
    wanted = {
        "bronze write",
        "silver MERGE",
        "quarantine replace",
        "publish",
        "share projection",
        "ledger append",
        "OPTIMIZE",
        "VACUUM",
        "Airflow task process",
        "Spark Connect server",
        "scheduler",
    }
    assert set(TARGETS) == wanted


def test_same_lake_compares_exact(tmp_path: Path, catalog) -> None:
    ref, got = tmp_path / "ref", tmp_path / "got"
    now = dt.datetime(2026, 11, 29, 1, tzinfo=UTC)
    for var, run in ((ref, "r1"), (got, "r2")):  # run stamps may differ
        _silver(var, ["a", "b", "c"], run)
        _batch_log(var, [("wim_weighings", 3, 0, run, now)])
    assert compare_lakes(None, catalog, ref, got) == []


def test_lost_doubled_rows_and_keys_are_found(tmp_path: Path, catalog) -> None:
    ref, got = tmp_path / "ref", tmp_path / "got"
    _silver(ref, ["a", "b", "c"])
    _silver(got, ["a", "a", "b"])
    found = compare_lakes(None, catalog, ref, got)
    assert [m.table for m in found] == ["silver.wim_weighings", "silver.wim_weighings"]
    assert found[0].detail.startswith("1 row(s) lost, 1 extra (of 3)")
    assert found[1].detail == "1 duplicate key(s) ['record_id']"


def test_batch_log_first_row_of_a_day_must_match(tmp_path: Path, catalog) -> None:
    ref, got = tmp_path / "ref", tmp_path / "got"
    first = dt.datetime(2026, 11, 29, 1, tzinfo=UTC)
    later = dt.datetime(2026, 11, 29, 2, tzinfo=UTC)
    for var in (ref, got):
        _silver(var, ["a"])
    _batch_log(ref, [("wim_weighings", 1, 0, "r1", first)])
    # a load killed before its batch-log row, and a retry that found the row already in silver
    _batch_log(got, [("wim_weighings", 0, 1, "r1", later)])
    found = compare_lakes(None, catalog, ref, got)
    assert [m.table for m in found] == ["ops.batch_log"]
    # a rerun after a recorded load appends what it found: the first row still says it all
    _batch_log(ref, [("wim_weighings", 0, 1, "r1", later)])
    _batch_log(tmp_path / "got2", [("wim_weighings", 1, 0, "r1", first)])
    _silver(tmp_path / "got2", ["a"])
    assert compare_lakes(None, catalog, ref, tmp_path / "got2") == []


def test_a_table_missing_from_one_lake_is_a_mismatch(tmp_path: Path, catalog) -> None:
    ref, got = tmp_path / "ref", tmp_path / "got"
    _silver(ref, ["a"])
    _silver(got, ["a"])
    _batch_log(ref, [("wim_weighings", 1, 0, "r1", dt.datetime(2026, 11, 29, tzinfo=UTC))])
    found = compare_lakes(None, catalog, ref, got)
    assert [(m.table, m.detail) for m in found] == [
        ("ops.batch_log", "table in the reference only")
    ]


def test_a_retitled_process_is_found_by_its_ancestor(tmp_path: Path) -> None:
    """A process whose own environment no longer names the run (a retitled Airflow task) is
    still the run's when a process it descends from names it."""
    import os
    import subprocess
    import sys
    import time

    from enforcement_brain.chaos import processes_with

    marker = f"chaos-marker-{os.getpid()}"
    # the child's own command line spells the marker in two halves: only the grandchild's holds it
    child = (
        "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', "
        f"'import time; time.sleep(60)', 'chaos-' + 'marker-{os.getpid()}'], env={{}}); "
        "time.sleep(60)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", child], env={**os.environ, "EB_VAR_DIR": str(tmp_path)}
    )
    try:
        deadline = time.monotonic() + 30
        found: list[int] = []
        while not found and time.monotonic() < deadline:
            found = processes_with(marker, str(tmp_path))
            time.sleep(0.1)
        assert len(found) == 1 and found[0] != proc.pid
        assert processes_with(marker, str(tmp_path / "another")) == []
    finally:
        for pid in processes_with(marker, str(tmp_path)):
            os.kill(pid, 9)
        proc.kill()
        proc.wait()


def test_a_missed_kill_is_repeated_alone_until_one_lands(tmp_path: Path) -> None:
    """Each job kill that missed (finished first, or out of its window) is retried in a cycle
    of its own until one lands, at most three times; a landed kill and an Airflow kill are not."""
    from enforcement_brain.chaos import ChaosRun, Kill, landed

    outcomes = {  # what each retry of a target gets, in order
        "silver MERGE": [Kill("silver MERGE", "d", 0.1, in_window=True)],
        "ledger append": [
            Kill("ledger append", "d", 0.1, in_window=False, result="finished first"),
            Kill("ledger append", "d", 0.1, in_window=True),
        ],
        "VACUUM": [Kill("VACUUM", "d", 0.1, in_window=False, result="finished first")] * 5,
    }
    calls: list[tuple[int, list[str]]] = []

    class Scripted(ChaosRun):
        def cycle(self, index, targets):
            calls.append((index, list(targets)))
            return [outcomes[targets[0]].pop(0)]

    run = Scripted(tmp_path, [], scale=0.01, seed=1, log=lambda _: None)
    first = [
        Kill("bronze write", "d", 0.1, in_window=True),
        Kill("silver MERGE", "d", 0.1, in_window=False),
        Kill("ledger append", "d", 0.1, in_window=False, result="finished first"),
        Kill("VACUUM", "d", 0.1, in_window=False, result="finished first"),
        Kill("scheduler", "d", 0.1, in_window=False, result="finished first"),
    ]
    extra = run.retry_missed(first, 4)

    assert calls == [
        (4, ["silver MERGE"]),
        (5, ["ledger append"]),
        (6, ["ledger append"]),
        (7, ["VACUUM"]),
        (8, ["VACUUM"]),
        (9, ["VACUUM"]),
    ]
    assert [(k.target, landed(k)) for k in extra] == [
        ("silver MERGE", True),
        ("ledger append", False),
        ("ledger append", True),
        ("VACUUM", False),
        ("VACUUM", False),
        ("VACUUM", False),
    ]
