"""``eb doctor`` on a real lake: each fault is planted in a small Delta table written by Spark,
the doctor reports its code, the documented recovery is carried out and the table reads back
with exactly the rows it should (docs/maintenance.md, "Recovering a damaged lake")."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import make_settings

from enforcement_brain.declarations import load_catalog
from enforcement_brain.errors import DiskFullError
from enforcement_brain.lake import doctor, maintenance, tables
from enforcement_brain.settings import REPO_ROOT

CATALOG = load_catalog(REPO_ROOT / "data_standards")
TABLE = "silver.wim_weighings"
#: The template: 13 appends of 10 rows (versions 0-12), Spark's checkpoint at version 10.
VERSIONS, ROWS_PER_VERSION = 13, 10
#: The free-space floor of these tests: none (the tmp disk's free space is not under test).
FLOOR = 0


@pytest.fixture(scope="module")
def template(spark, tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("doctor-template") / "wim_weighings"
    for i in range(VERSIONS):
        spark.range(i * 10, i * 10 + ROWS_PER_VERSION).selectExpr(
            "id", "cast(id % 7 as string) as k"
        ).coalesce(1).write.format("delta").mode("append").save(str(where))
    return where


@pytest.fixture
def lake(template, tmp_path):
    """Settings of a fresh lake holding a copy of the template as ``silver.wim_weighings``."""
    settings = make_settings(tmp_path / "var")
    shutil.copytree(template, settings.table_uri("silver", "wim_weighings"))
    return settings


def _dir(settings) -> Path:
    return Path(settings.table_uri("silver", "wim_weighings"))


def _log(settings) -> Path:
    return _dir(settings) / "_delta_log"


def _examine(settings) -> list[tuple[str, str, str]]:
    found = doctor.examine(settings, tables.lake_tables(settings), FLOOR)
    return [(f.code, f.table, f.level) for f in found]


def _problems(settings) -> list[doctor.Finding]:
    """The findings that need a person (notes left out)."""
    found = doctor.examine(settings, tables.lake_tables(settings), FLOOR)
    return [f for f in found if f.level != doctor.INFO]


def _orphans(settings) -> int:
    """Notes of orphaned data files younger than the retention (a failed or undone write's)."""
    found = doctor.examine(settings, tables.lake_tables(settings), FLOOR)
    return sum(1 for f in found if (f.code, f.level) == ("EB-LAKE-005", doctor.INFO))


def _count(spark, settings) -> int:
    return spark.read.format("delta").load(settings.table_uri("silver", "wim_weighings")).count()


def _rows(spark, where: Path | str, version: int | None = None) -> list[tuple[int, str]]:
    """The table's rows, sorted (as of ``version``, else the latest)."""
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return sorted((r["id"], r["k"]) for r in reader.load(str(where)).collect())


def _visible(names: list[str]) -> list[str]:
    """The names without the local file system's hidden checksums (``.<name>.crc``)."""
    return [n for n in names if not n.startswith(".")]


def _rerun(spark, settings, versions: range) -> None:
    """Load again what the given template versions loaded (the days a rollback took back)."""
    for i in versions:
        spark.range(i * 10, i * 10 + ROWS_PER_VERSION).selectExpr(
            "id", "cast(id % 7 as string) as k"
        ).coalesce(1).write.format("delta").mode("append").save(str(_dir(settings)))


def _aside(settings) -> Path:
    return settings.var_dir / "doctor"


def test_a_healthy_table_has_no_findings(spark, lake) -> None:
    assert sorted(doctor.checkpoint_files(_log(lake))) == [10]
    assert doctor.examine(lake, tables.lake_tables(lake), FLOOR) == []
    assert _count(spark, lake) == VERSIONS * ROWS_PER_VERSION


def test_log_cleanup_before_a_checkpoint_is_not_a_gap(lake) -> None:
    for v in range(5):  # what Delta's log clean-up does: the oldest commits a checkpoint covers
        (_log(lake) / f"{v:020d}.json").unlink()
    assert _examine(lake) == []


def test_a_truncated_commit_is_found_and_rolled_back(spark, template, lake) -> None:
    last = _log(lake) / f"{VERSIONS - 1:020d}.json"
    text = last.read_text(encoding="utf-8")
    last.write_text(text[: len(text) // 2], encoding="utf-8")  # a partial last line
    found = _problems(lake)
    assert [(f.code, f.level) for f in found] == [("EB-LAKE-002", "error")]
    assert found[0].recovery.startswith(
        f"eb doctor --rollback {TABLE} --to {VERSIONS - 2} --apply,"
    )
    assert doctor.exit_status(found) == 1

    would = doctor.rollback(_dir(lake), VERSIONS - 2, _aside(lake), dry_run=True)
    assert f"{VERSIONS - 1:020d}.json" in would and not _aside(lake).exists()
    assert {n.lstrip(".")[:20] for n in would} == {f"{VERSIONS - 1:020d}"}
    moved = doctor.rollback(_dir(lake), VERSIONS - 2, _aside(lake))
    assert moved == would
    assert not [p for p in _log(lake).iterdir() if f"{VERSIONS - 1:020d}" in p.name]
    # The version's data file is now an orphan younger than the retention: a note only.
    assert _examine(lake) == [("EB-LAKE-005", TABLE, "info")]
    assert doctor.exit_status(doctor.examine(lake, tables.lake_tables(lake), FLOOR)) == 0
    assert _rows(spark, _dir(lake)) == _rows(spark, template, VERSIONS - 2)
    _rerun(spark, lake, range(VERSIONS - 1, VERSIONS))  # the day the rolled-back version loaded
    assert _rows(spark, _dir(lake)) == _rows(spark, template)


def test_a_missing_commit_after_the_checkpoint_is_found_and_rolled_back(
    spark, template, lake
) -> None:
    (_log(lake) / f"{11:020d}.json").unlink()
    found = _problems(lake)
    assert [(f.code, f.level, f.detail) for f in found] == [
        ("EB-LAKE-001", "error", "version(s) 11 missing")
    ]
    assert found[0].recovery.startswith(f"eb doctor --rollback {TABLE} --to 10 --apply,")
    assert _orphans(lake) == 1  # version 11's data file: no commit names it any more
    doctor.rollback(_dir(lake), 10, _aside(lake))
    assert _problems(lake) == []
    assert _orphans(lake) == 2  # and version 12's
    assert _rows(spark, _dir(lake)) == _rows(spark, template, 10)
    _rerun(spark, lake, range(11, VERSIONS))
    assert _rows(spark, _dir(lake)) == _rows(spark, template)


def test_a_missing_commit_before_the_checkpoint_costs_time_travel_only(
    spark, template, lake
) -> None:
    (_log(lake) / f"{5:020d}.json").unlink()
    found = doctor.examine(lake, tables.lake_tables(lake), FLOOR)
    assert [(f.code, f.level) for f in found] == [("EB-LAKE-001", "warning")]
    assert found[0].detail == (
        "version(s) 5 missing; the current version reads from the checkpoint of version 10"
    )
    assert _rows(spark, _dir(lake)) == _rows(spark, template)


def test_a_missing_start_of_the_log_without_a_checkpoint_is_an_error(lake) -> None:
    for p in _log(lake).glob("*.checkpoint.parquet"):
        p.unlink()
    (_log(lake) / "_last_checkpoint").unlink()
    (_log(lake) / f"{0:020d}.json").unlink()
    found = _problems(lake)
    assert [(f.code, f.level, f.detail) for f in found] == [
        ("EB-LAKE-001", "error", "version(s) 0 missing")
    ]


@pytest.mark.parametrize("damage", ["unparseable", "names a missing checkpoint"])
def test_a_damaged_last_checkpoint_is_found_and_rewritten(spark, template, lake, damage) -> None:
    last = _log(lake) / "_last_checkpoint"
    last.write_text("{not json" if damage == "unparseable" else json.dumps({"version": 12}))
    found = doctor.examine(lake, tables.lake_tables(lake), FLOOR)
    assert [(f.code, f.level) for f in found] == [("EB-LAKE-003", "error")]
    assert found[0].recovery == f"eb doctor --checkpoint {TABLE} --apply"

    would = doctor.rewrite_checkpoint(_dir(lake), _aside(lake), dry_run=True)
    assert _visible(would) == ["_last_checkpoint"]
    assert sorted(doctor.checkpoint_files(_log(lake))) == [10]  # the dry run wrote nothing
    moved = doctor.rewrite_checkpoint(_dir(lake), _aside(lake))
    assert moved == would
    assert sorted(doctor.checkpoint_files(_log(lake))) == [10, 12]
    assert json.loads(last.read_text())["version"] == 12
    assert _examine(lake) == []
    assert _rows(spark, _dir(lake)) == _rows(spark, template)


def test_a_damaged_checkpoint_file_is_found_and_rewritten(spark, template, lake) -> None:
    checkpoint = doctor.checkpoint_files(_log(lake))[10][0]
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[: len(data) // 2])
    found = doctor.examine(lake, tables.lake_tables(lake), FLOOR)
    assert [(f.code, f.level) for f in found] == [("EB-LAKE-004", "error")]
    assert found[0].recovery == f"eb doctor --checkpoint {TABLE} --apply"

    moved = doctor.rewrite_checkpoint(_dir(lake), _aside(lake))
    assert _visible(moved) == [checkpoint.name, "_last_checkpoint"]
    assert sorted(doctor.checkpoint_files(_log(lake))) == [12]
    assert _examine(lake) == []
    assert _rows(spark, _dir(lake)) == _rows(spark, template)


def test_an_orphaned_data_file_is_a_note_within_the_retention_and_vacuumed_after(
    spark, template, lake
) -> None:
    some_file = next(p for p in _dir(lake).glob("*.parquet"))
    orphan = _dir(lake) / "part-00000-left-by-a-failed-write.snappy.parquet"
    shutil.copy(some_file, orphan)
    found = doctor.examine(lake, tables.lake_tables(lake), FLOOR)
    assert [(f.code, f.level) for f in found] == [("EB-LAKE-005", "info")]
    assert found[0].detail.startswith(f"{orphan.name}: 0.0 hours old, within the file retention")
    assert doctor.exit_status(found) == 0

    eleven_years = time.time() - 11 * 365 * 86400  # older than the declared 3650 days
    os.utime(orphan, (eleven_years, eleven_years))
    found = doctor.examine(lake, tables.lake_tables(lake), FLOOR)
    assert [(f.code, f.level) for f in found] == [("EB-LAKE-005", "warning")]
    assert found[0].recovery == f"eb maintain --tables {TABLE}"
    assert doctor.exit_status(found) == 1

    [report] = maintenance.maintain_lake(spark, lake, CATALOG, "run-doctor", only=[TABLE])
    assert report.error == "" and report.files_removed == 1
    assert not orphan.exists()
    assert _examine(lake) == []
    assert _rows(spark, _dir(lake)) == _rows(spark, template)


def test_a_commit_delta_cannot_decode_is_found_and_rolled_back(spark, template, lake) -> None:
    """Version 12's commit parses as JSON but is not a valid action (an ``add`` whose size is
    text): only delta-rs's own reading finds it."""
    last = _log(lake) / f"{VERSIONS - 1:020d}.json"
    last.write_text(json.dumps({"add": {"path": "x.parquet", "size": "big"}}) + "\n")
    found = _problems(lake)
    assert [(f.code, f.level) for f in found] == [("EB-LAKE-008", "error")]
    assert 'failed to parse "big" as Int64' in found[0].detail
    assert found[0].recovery.startswith(
        f"eb doctor --rollback {TABLE} --to {VERSIONS - 2} --apply,"
    )
    doctor.rollback(_dir(lake), VERSIONS - 2, _aside(lake))
    assert _problems(lake) == []
    _rerun(spark, lake, range(VERSIONS - 1, VERSIONS))
    assert _rows(spark, _dir(lake)) == _rows(spark, template)


@contextlib.contextmanager
def _small_disk(where: Path, size: str = "2m"):
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(folder: Path) -> Path:
    """Write a ballast file until the file system is full."""
    ballast = folder / "ballast.bin"
    with contextlib.suppress(OSError), ballast.open("wb", buffering=0) as out:
        while True:
            out.write(b"\0" * 4096)
    return ballast


def test_a_full_disk_fails_the_writers_with_a_code_and_leaves_no_commit(
    spark, template, tmp_path
) -> None:
    with _small_disk(tmp_path / "var") as var:
        settings = make_settings(var)
        shutil.copytree(template, settings.table_uri("silver", "wim_weighings"))
        tables.append_rows(None, settings, "ops", "doctor_probe", [("a", 1)], "k string, n bigint")
        before = doctor.commit_versions(_log(settings))
        ballast = _fill(var)

        found = doctor.examine(settings, tables.lake_tables(settings), 1)
        assert [(f.code, f.table) for f in found] == [("EB-LAKE-006", "lake")]
        assert found[0].detail.startswith("0.0 MB free at ")

        day = spark.range(0, 20_000).selectExpr("id", "uuid() as k").repartition(4)
        with pytest.raises(DiskFullError) as caught:
            tables.replace_where(day, settings, "silver", "wim_weighings", "id >= 0")
        assert str(caught.value).startswith(
            f"[EB-LAKE-007] {TABLE}: the lake's disk is full (0.0 MB free"
        )
        assert "\n" not in str(caught.value)
        with pytest.raises(DiskFullError, match=r"^\[EB-LAKE-007\] ops.doctor_probe: "):
            tables.append_rows(
                None, settings, "ops", "doctor_probe", [("b", 2)], "k string, n bigint"
            )
        assert doctor.commit_versions(_log(settings)) == before  # no partial commit
        assert [p.name for p in _log(settings).glob("*.json") if p.stat().st_size == 0] == []

        # Recovery: free space, rerun (the write is idempotent), the table reads back whole.
        ballast.unlink()
        assert _rows(spark, _dir(settings)) == _rows(spark, template)
        assert _problems(settings) == []
        small_day = spark.range(0, 500).selectExpr("id", "cast(id % 7 as string) as k")
        tables.replace_where(small_day.coalesce(1), settings, "silver", "wim_weighings", "id >= 0")
        assert _rows(spark, _dir(settings)) == [(i, str(i % 7)) for i in range(500)]
        tables.append_rows(None, settings, "ops", "doctor_probe", [("b", 2)], "k string, n bigint")
        assert len(tables.read_rows(settings, "ops", "doctor_probe")) == 2


def test_the_running_jvm_and_session_agree_on_the_platform_zone(spark) -> None:
    row = spark.sql(
        "select current_timezone() as s, "
        "reflect('java.lang.System', 'getProperty', 'user.timezone') as j"
    ).collect()[0]
    assert (row["s"], row["j"]) == ("Asia/Shanghai", "Asia/Shanghai")
    assert doctor.clock_findings(row["s"], row["j"]) == []


def test_a_session_or_jvm_in_another_zone_is_refused_on_the_running_jvm(spark) -> None:
    """The zone check queries the running session and JVM: a session zone or a JVM default
    changed under it is refused with its code; with the platform's zone back, it passes."""
    from enforcement_brain.errors import ClockError
    from enforcement_brain.spark.session import check_zones

    spark.conf.set("spark.sql.session.timeZone", "UTC")
    try:
        with pytest.raises(ClockError, match=r"^\[EB-CLOCK-001\] Spark session time zone: "):
            check_zones(spark)
    finally:
        spark.conf.set("spark.sql.session.timeZone", "Asia/Shanghai")
    set_jvm = "select reflect('java.lang.System', 'setProperty', 'user.timezone', '{}')"
    spark.sql(set_jvm.format("Asia/Kolkata")).collect()
    try:
        with pytest.raises(ClockError, match=r"^\[EB-CLOCK-002\] JVM time zone: JVM user"):
            check_zones(spark)
    finally:
        spark.sql(set_jvm.format("Asia/Shanghai")).collect()
    check_zones(spark)
