"""``eb doctor`` without a JVM: the time-zone check (in this process and under another ``TZ``),
a full disk at the delta-rs writer's seam, the readable report and its exit status."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_settings

from enforcement_brain.errors import ClockError, DiskFullError, is_disk_full
from enforcement_brain.lake import doctor, tables
from enforcement_brain.settings import PLATFORM_TZ, REPO_ROOT

ROOT = REPO_ROOT


def _codes(findings: list[doctor.Finding]) -> list[str]:
    return [f.code for f in findings]


def test_zones_that_keep_the_same_clock_are_the_same_zone() -> None:
    assert doctor.same_zone("Asia/Shanghai", "PRC")
    assert doctor.same_zone("Asia/Shanghai", "GMT+08:00")
    assert doctor.same_zone("UTC", "Etc/UTC")
    assert not doctor.same_zone("Asia/Shanghai", "UTC")
    assert not doctor.same_zone("Asia/Shanghai", "America/New_York")


def test_clock_mismatches_between_session_and_jvm_have_codes() -> None:
    """In this process (UTC or Asia/Shanghai): only the session and JVM zones are at issue."""
    assert doctor.clock_findings(PLATFORM_TZ, PLATFORM_TZ) == []
    assert doctor.clock_findings(PLATFORM_TZ, None) == []
    assert _codes(doctor.clock_findings("UTC", "UTC")) == ["EB-CLOCK-001"]
    jvm = doctor.clock_findings(PLATFORM_TZ, "Etc/UTC")
    assert _codes(jvm) == ["EB-CLOCK-002"]
    assert jvm[0].detail == "JVM user.timezone=Etc/UTC, Spark session Asia/Shanghai"
    with pytest.raises(ClockError, match=r"^\[EB-CLOCK-002\] JVM time zone: "):
        doctor.require_clock(PLATFORM_TZ, "UTC")


_CHECK = (
    "from enforcement_brain.lake.doctor import clock_findings\n"
    "print(','.join(f.code for f in clock_findings('Asia/Shanghai', 'Asia/Shanghai')) or 'ok')\n"
)


@pytest.mark.parametrize(
    ("tz", "expected"),
    [
        ("America/New_York", "EB-CLOCK-003"),
        ("Asia/Kolkata", "EB-CLOCK-003"),
        ("Europe/London", "EB-CLOCK-003"),
        ("UTC", "ok"),
        ("Asia/Shanghai", "ok"),
        ("PRC", "ok"),
    ],
)
def test_a_python_process_in_a_third_zone_is_caught(tz: str, expected: str) -> None:
    env = {**os.environ, "TZ": tz, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [sys.executable, "-c", _CHECK], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == expected


def test_a_session_in_a_third_zone_fails_before_spark_starts(tmp_path: Path) -> None:
    """``get_spark`` refuses to start a session (so a load writes nothing) under
    TZ=America/New_York, with the coded one-line error, before a JVM is launched."""
    script = (
        "import sys\n"
        "from conftest import make_settings\n"
        "from enforcement_brain.errors import ClockError\n"
        "from enforcement_brain.spark.session import get_spark\n"
        "try:\n"
        f"    get_spark(make_settings(__import__('pathlib').Path({str(tmp_path)!r})))\n"
        "except ClockError as exc:\n"
        "    print(exc); sys.exit(0)\n"
        "print('no error'); sys.exit(1)\n"
    )
    env = {
        **os.environ,
        "TZ": "America/New_York",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")]),
    }
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("[EB-CLOCK-003] Python time zone: Python's local zone is ")
    assert "America/New_York, Spark session Asia/Shanghai" in out.stdout


def test_the_platform_pins_the_jvm_and_session_zones(tmp_path: Path) -> None:
    from enforcement_brain.spark.session import spark_conf

    conf = spark_conf(make_settings(tmp_path / "var"))
    assert conf["spark.sql.session.timeZone"] == PLATFORM_TZ
    assert f"-Duser.timezone={PLATFORM_TZ}" in conf["spark.driver.extraJavaOptions"].split()


def test_a_full_disk_in_the_delta_rs_writer_is_a_coded_error(tmp_path, monkeypatch) -> None:
    """The writer's seam raises ENOSPC: the caller gets DiskFullError, not a trace."""
    import deltalake

    settings = make_settings(tmp_path / "var")
    tables.append_rows(None, settings, "ops", "doctor_probe", [("a", 1)], "k string, n bigint")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(deltalake, "write_deltalake", full)
    with pytest.raises(DiskFullError) as caught:
        tables.append_rows(None, settings, "ops", "doctor_probe", [("b", 2)], "k string, n bigint")
    message = str(caught.value)
    assert message.startswith("[EB-LAKE-007] ops.doctor_probe: the lake's disk is full (")
    assert "nothing was committed" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    monkeypatch.undo()
    assert [r["k"] for r in tables.read_rows(settings, "ops", "doctor_probe")] == ["a"]


def test_disk_full_is_recognised_in_the_errors_spark_and_delta_rs_raise() -> None:
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(RuntimeError("Generic LocalFileSystem error: No space left on device"))
    assert is_disk_full(OSError("Failed to write: os error 28"))
    wrapped = RuntimeError("job aborted")
    wrapped.__cause__ = OSError(errno.ENOSPC, "disk")
    assert is_disk_full(wrapped)
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))


def test_the_report_reads_and_the_exit_status_follows_the_worst_level() -> None:
    note = doctor.Finding("EB-LAKE-005", "silver.t", doctor.INFO, "x.parquet: young", "none")
    error = doctor.Finding("EB-LAKE-002", "silver.t", doctor.ERROR, "version 3", "eb doctor …")
    assert doctor.exit_status([]) == 0
    assert doctor.exit_status([note]) == 0
    assert doctor.exit_status([note, error]) == 1
    assert doctor.summary([error], 4).splitlines() == [
        "ERROR    EB-LAKE-002 commit truncated — silver.t",
        "         version 3",
        "         means: " + doctor.CODES["EB-LAKE-002"].meaning,
        "         recover: eb doctor …",
        "4 tables checked: 1 error(s), 0 warning(s), 0 note(s)",
    ]
    assert doctor.summary([], 4) == (
        "4 tables checked: 0 error(s), 0 warning(s), 0 note(s); the lake is healthy"
    )


def test_every_code_has_a_documented_recovery_and_its_test() -> None:
    text = (ROOT / "docs" / "maintenance.md").read_text(encoding="utf-8")
    section = text.partition("## Recovering a damaged lake")[2]
    assert section, "docs/maintenance.md has no 'Recovering a damaged lake' section"
    assert [c for c in doctor.CODES if c not in section] == []
    headings = [line for line in section.splitlines() if line.startswith("#### ")]
    assert [c for c in doctor.CODES if not any(f"`{c}`" in h for h in headings)] == []
    # Every test a recovery names exists.
    tests = "".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    named = set(re.findall(r"`(test_\w+)`", section))
    assert named and [n for n in sorted(named) if f"def {n}(" not in tests] == []


def test_eb_doctor_reports_and_rolls_back_a_truncated_commit(tmp_path, monkeypatch, capsys) -> None:
    """The command line end to end on a delta-rs table: report, exit status, recovery."""
    from deltalake import DeltaTable

    from enforcement_brain import cli

    monkeypatch.setenv("EB_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("EB_SPARK_REMOTE", raising=False)
    monkeypatch.delenv("TZ", raising=False)
    settings = make_settings(tmp_path / "var")
    for n in range(3):  # versions 0, 1, 2: one row each
        tables.append_rows(None, settings, "ops", "probe", [(f"r{n}", n)], "k string, n bigint")
    log = Path(settings.table_uri("ops", "probe")) / "_delta_log"
    last = log / f"{2:020d}.json"
    last.write_text(last.read_text(encoding="utf-8")[:-40], encoding="utf-8")

    assert cli.main(["doctor", "--min-free-mb", "0"]) == 1
    out = capsys.readouterr().out
    assert "ERROR    EB-LAKE-002 commit truncated — ops.probe" in out
    assert "recover: eb doctor --rollback ops.probe --to 1 --apply, then rerun" in out
    assert out.rstrip().endswith("1 tables checked: 1 error(s), 0 warning(s), 1 note(s)")

    # Without --apply: a dry run that says what it would move and changes nothing.
    assert cli.main(["doctor", "--rollback", "ops.probe", "--to", "1"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"dry run: ops.probe would be at version 1; 1 file(s) would move to {tmp_path}/var/"
        f"doctor: {2:020d}.json. Nothing was changed: add --apply to do it"
    ]
    assert last.exists() and cli.main(["doctor", "--min-free-mb", "0"]) == 1
    capsys.readouterr()

    # --apply takes the lake lock: refused while a run holds it.
    from enforcement_brain.orchestration.lock import lake_lock

    with lake_lock(settings, "eb run --date 2026-11-28"):
        assert cli.main(["doctor", "--rollback", "ops.probe", "--to", "1", "--apply"]) == 2
    assert "error: [EB-RUN-LOCKED] eb doctor --rollback ops.probe --to 1 --apply refused: " in (
        capsys.readouterr().err
    )
    assert last.exists()

    assert cli.main(["doctor", "--rollback", "ops.probe", "--to", "1", "--apply"]) == 0
    assert capsys.readouterr().out.startswith("ops.probe: now at version 1; 1 file(s) moved to ")
    assert not last.exists()
    assert cli.main(["doctor", "--min-free-mb", "0"]) == 0
    assert DeltaTable(settings.table_uri("ops", "probe")).to_pyarrow_table().num_rows == 2
    assert cli.main(["doctor", "--rollback", "ops.probe"]) == 2  # --to is required
