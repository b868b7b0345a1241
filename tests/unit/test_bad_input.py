"""Bad set-up or arguments: one line saying what to do, exit 2, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def eb(args: list[str], **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, **env}
    full.pop("EB_SPARK_REMOTE", None)
    return subprocess.run(
        [sys.executable, "-m", "enforcement_brain.cli", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.mark.parametrize("date", ["2026-02-30", "tomorrow", "29/11/2026"])
def test_malformed_date(tmp_path, date):
    line = one_line_error(eb(["run", "--date", date], EB_VAR_DIR=str(tmp_path)))
    assert "use YYYY-MM-DD" in line
    assert not (tmp_path / "lake").exists()


def test_missing_jar_cache_names_the_command(tmp_path):
    line = one_line_error(
        eb(
            ["run", "--date", "2026-11-29"],
            EB_VAR_DIR=str(tmp_path),
            EB_JAR_DIR=str(tmp_path / "no"),
        )
    )
    assert "run `make setup`" in line
    assert not any((tmp_path / "lake").glob("*/*/_delta_log"))


def test_unwritable_lake_root(tmp_path):
    line = one_line_error(
        eb(["run", "--date", "2026-11-29"], EB_VAR_DIR=str(tmp_path), EB_LAKE_ROOT="/proc/eb-lake")
    )
    assert "/proc/eb-lake is not writable" in line
    assert "EB_LAKE_ROOT" in line


def test_no_java(tmp_path):
    env = {"EB_VAR_DIR": str(tmp_path), "PATH": str(tmp_path / "empty-bin"), "JAVA_HOME": ""}
    line = one_line_error(eb(["run", "--date", "2026-11-29"], **env))
    assert "Java 17 is not installed" in line


def test_bad_setting_value(tmp_path):
    line = one_line_error(eb(["run", "--date", "2026-11-29"], EB_SCALE="huge"))
    assert "EB_SCALE='huge' is not a number" in line
