"""Table maintenance: OPTIMIZE keeps the rows, VACUUM honours Standard 2's retention, the report
is exact, the Delta log checks catch what they should."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import pytest
from conftest import make_settings

from enforcement_brain.declarations import Catalog, load_catalog
from enforcement_brain.lake import maintenance
from enforcement_brain.lake.maintenance import RETENTION_CHECK, Retention, log_health
from enforcement_brain.settings import REPO_ROOT

CATALOG = load_catalog(REPO_ROOT / "data_standards")


def _with_retention(catalog: Catalog, source: str, days: int) -> Catalog:
    """The catalog as if Standard 2 declared ``days`` of retention for ``source``."""
    src = catalog.sources[source]
    changed = dataclasses.replace(src, quality={**src.quality, "retention_days": days})
    return dataclasses.replace(catalog, sources={**catalog.sources, source: changed})


def _rows(spark, uri: str, version: int | None = None) -> list[tuple]:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return sorted(tuple(r) for r in reader.load(uri).collect())


def _history(spark, uri: str) -> list[tuple[int, str]]:
    rows = spark.sql(f"DESCRIBE HISTORY delta.`{uri}`").collect()
    return sorted((int(r["version"]), r["operation"]) for r in rows)


def test_retention_comes_from_standard_2_by_layer(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "var")
    r = maintenance.retention_for
    assert r(CATALOG, settings, "silver", "wim_weighings") == Retention(
        3650, "Standard 2, source wim_weighings"
    )
    assert r(CATALOG, settings, "quarantine", "officer_tracks").days == 365
    assert r(CATALOG, settings, "gold", "overload_alerts").days == 1825
    assert r(CATALOG, settings, "gold", "kpi_monthly").days == 3650
    share = r(CATALOG, settings, "share", "provincial_supervision__overload_alerts")
    assert share == Retention(1825, "Standard 2, dataset overload_alerts")
    ops = r(CATALOG, settings, "ops", "dq_ledger")
    assert ops.days == 30 and "default" in ops.basis


def test_log_health_flags_missing_checkpoints_and_removes_old_tmp_files(tmp_path: Path) -> None:
    log = tmp_path / "t" / "_delta_log"
    log.mkdir(parents=True)
    for v in range(12):
        (log / f"{v:020d}.json").write_text("{}")
    old = time.time() - 2 * maintenance.ORPHAN_TMP_SECONDS
    orphan = log / ".00000000000000000012.json.1b2c.tmp"
    orphan.write_text("{}")
    os.utime(orphan, (old, old))
    fresh = log / ".00000000000000000013.json.9f8e.tmp"  # a commit in flight: left alone
    fresh.write_text("{}")
    status, commits = log_health(tmp_path / "t", Retention(30, "x"), {})
    assert commits == 12
    assert status == ("no checkpoint after 12 commits (interval 10) (removed 1 orphan tmp file(s))")
    assert not orphan.exists() and fresh.exists()
    (log / "00000000000000000010.checkpoint.parquet").write_bytes(b"")
    (log / "_last_checkpoint").write_text(json.dumps({"version": 10, "size": 3}))
    assert log_health(tmp_path / "t", Retention(30, "x"), {})[0] == "ok"
    (log / "_last_checkpoint").write_text("{not json")
    assert log_health(tmp_path / "t", Retention(30, "x"), {})[0] == "_last_checkpoint unreadable"
    (log / "_last_checkpoint").write_text(json.dumps({"version": 11}))
    assert (
        "names version 11, which has no file"
        in log_health(tmp_path / "t", Retention(30, "x"), {})[0]
    )
    assert log_health(tmp_path / "t", Retention(30, "x"), {"delta.checkpointInterval": "20"})[
        0
    ].startswith("_last_checkpoint names")
    (log / "_last_checkpoint").unlink()
    few = log_health(tmp_path / "t", Retention(30, "x"), {"delta.checkpointInterval": "20"})[0]
    assert few == "ok (no checkpoint needed yet (12 commits))"


def test_optimize_compacts_small_files_keeps_rows_and_reports_exactly(spark, tmp_path) -> None:
    small = make_settings(tmp_path / "var", EB_MAINTENANCE_MIN_FILES="8")
    uri = small.table_uri("silver", "wim_weighings")
    for i in range(12):  # 12 appends: 12 small files, and a checkpoint at version 10
        spark.range(i * 10, i * 10 + 10).selectExpr("id", "cast(id % 7 as string) as k").coalesce(
            1
        ).write.format("delta").mode("append").save(uri)
    before = _rows(spark, uri)
    reports = maintenance.maintain_lake(spark, small, CATALOG, "run-1")
    assert [r.table_name for r in reports] == ["silver.wim_weighings"]
    r = reports[0]
    assert r.error == ""
    assert r.action == "set-retention+optimize+vacuum"
    assert (r.files_before, r.files_after) == (12, 1)
    assert (r.files_removed, r.bytes_removed) == (0, 0)  # 3650 days: old files kept for time travel
    assert r.version_before == 11
    history = _history(spark, uri)
    assert r.version_after == history[-1][0]
    assert [op for v, op in history if v > 11][:2] == ["SET TBLPROPERTIES", "OPTIMIZE"]
    assert (r.retention_days, r.retention_basis) == (3650, "Standard 2, source wim_weighings")
    assert r.checkpoint_status == "ok"
    assert r.log_commits == r.version_after + 1
    assert r.bytes_before > 0 and r.bytes_after > 0 and r.seconds > 0
    assert _rows(spark, uri) == before
    assert len(_rows(spark, uri, version=0)) == 10  # time travel within the retention works
    props = spark.sql(f"DESCRIBE DETAIL delta.`{uri}`").collect()[0]["properties"]
    assert props["delta.deletedFileRetentionDuration"] == "interval 3650 days"
    assert props["delta.logRetentionDuration"] == "interval 3650 days"
    assert spark.conf.get(RETENTION_CHECK, "true") == "true"

    again = maintenance.maintain_lake(spark, small, CATALOG, "run-2")[0]
    assert again.action == "vacuum"  # one file: below the small-file threshold, nothing to set
    assert (again.files_before, again.files_after, again.files_removed) == (1, 1, 0)

    maintenance.record(spark, small, [r, again])
    logged = (
        spark.read.format("delta")
        .load(small.table_uri("ops", "maintenance_log"))
        .drop("seconds", "recorded_at")
        .orderBy("run_id")
        .collect()
    )
    expected = [dataclasses.asdict(x) for x in (r, again)]
    for want in expected:
        want.pop("seconds")
    assert [row.asDict() for row in logged] == expected


def test_vacuum_removes_only_files_older_than_the_declared_retention(spark, tmp_path) -> None:
    settings = make_settings(tmp_path / "var")
    uri = settings.table_uri("silver", "wim_weighings")
    table_dir = Path(uri)
    spark.range(0, 5).coalesce(1).write.format("delta").save(uri)  # v0
    v0_files = set(maintenance.data_files(table_dir))
    spark.range(5, 8).coalesce(1).write.format("delta").mode("overwrite").save(uri)  # v1
    three_days_ago = time.time() - 3 * 86400
    old_orphan = table_dir / "part-00000-orphan-of-a-dead-write-old.snappy.parquet"
    old_orphan.write_bytes(b"x" * 10)
    os.utime(old_orphan, (three_days_ago, three_days_ago))
    new_orphan = table_dir / "part-00000-orphan-of-a-write-in-flight.snappy.parquet"
    new_orphan.write_bytes(b"y" * 20)

    # Standard 2 declares 1 day, shorter than Delta's 7-day default: the table's own retention
    # says 1 day, so VACUUM passes with Delta's retention check on.
    one_day = _with_retention(CATALOG, "wim_weighings", 1)
    spark.conf.set(RETENTION_CHECK, "true")
    r = maintenance.maintain_lake(spark, settings, one_day, "run-1")[0]
    assert r.error == ""
    assert r.action == "set-retention+vacuum"
    assert (r.files_removed, r.bytes_removed) == (1, 10)  # only the 3-day-old orphan
    assert not old_orphan.exists() and new_orphan.exists()
    assert v0_files <= set(maintenance.data_files(table_dir))  # replaced today: kept
    assert _rows(spark, uri, version=0) == [(i,) for i in range(5)]
    assert _rows(spark, uri) == [(i,) for i in range(5, 8)]
    assert spark.conf.get(RETENTION_CHECK, "true") == "true"

    # 0 days: everything no version references goes, time travel to v0 with it.
    zero = _with_retention(CATALOG, "wim_weighings", 0)
    r = maintenance.maintain_lake(spark, settings, zero, "run-2")[0]
    assert r.error == ""
    assert r.files_removed == len(v0_files) + 1
    assert not new_orphan.exists()
    assert not v0_files & set(maintenance.data_files(table_dir))
    assert _rows(spark, uri) == [(i,) for i in range(5, 8)]
    with pytest.raises(Exception):  # noqa: B017 - the file of v0 is gone: Spark's error type varies
        _rows(spark, uri, version=0)


def test_a_failing_table_is_reported_and_the_others_still_maintained(spark, tmp_path) -> None:
    settings = make_settings(tmp_path / "var")
    good = settings.table_uri("gold", "overload_alerts")
    spark.range(3).write.format("delta").save(good)
    broken = Path(settings.table_uri("bronze", "anpr_passes")) / "_delta_log"
    broken.mkdir(parents=True)
    (broken / f"{0:020d}.json").write_text("this is not a Delta commit\n")
    reports = maintenance.maintain_lake(spark, settings, CATALOG, "run-x")
    by_name = {r.table_name: r for r in reports}
    assert by_name["bronze.anpr_passes"].action == "failed" and by_name["bronze.anpr_passes"].error
    assert by_name["gold.overload_alerts"].error == ""
    assert by_name["gold.overload_alerts"].action == "set-retention+vacuum"
    text = maintenance.summary(reports)
    assert "bronze.anpr_passes" in text and "error:" in text and "1 failed" in text


def test_vacuum_keeps_the_check_on_and_restores_the_session(spark, tmp_path) -> None:
    """VACUUM runs with Delta's retention check on, and the session's own value comes back."""
    settings = make_settings(tmp_path / "var")
    uri = settings.table_uri("gold", "overload_alerts")
    spark.range(3).coalesce(1).write.format("delta").save(uri)
    first = set(maintenance.data_files(Path(uri)))
    spark.range(3, 6).coalesce(1).write.format("delta").mode("overwrite").save(uri)
    spark.conf.set(RETENTION_CHECK, "false")  # a session that turned it off
    maintenance.vacuum(spark, uri)  # no retention set on the table: Delta's 7 days apply
    assert first <= set(maintenance.data_files(Path(uri)))  # replaced just now: kept
    assert spark.conf.get(RETENTION_CHECK) == "false"
    spark.conf.set(RETENTION_CHECK, "true")
