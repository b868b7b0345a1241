"""A load killed with SIGKILL in the middle of a write, then rerun, loses and doubles nothing.

The load runs as its own process with its own Spark JVM (``python -m jobs.load_source``), as a
task would. The test watches the lake and kills the whole process group the moment data files
of an uncommitted write appear: once during the bronze write, once during the silver write.
Each time, files that no Delta commit references must be on disk (the kill really was mid-write);
after a rerun, bronze, silver and quarantine must equal those of a load that was never killed.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import make_settings

from enforcement_brain.chaos import commits as _commits
from enforcement_brain.chaos import data_files as _data_files
from enforcement_brain.chaos import referenced as _referenced
from enforcement_brain.chaos import table_rows
from enforcement_brain.generate.day import generate_day
from enforcement_brain.settings import REPO_ROOT

DAY = dt.date(2026, 11, 28)
SOURCE = "anpr_passes"
pytestmark = pytest.mark.e2e


def _env(var: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "EB_SPARK_REMOTE"}
    env.update(
        {
            "EB_VAR_DIR": str(var),
            "EB_SPARK_MASTER": "local[2]",
            "EB_SPARK_DRIVER_MEMORY": "2g",
            "EB_SPARK_SHUFFLE_PARTITIONS": "2",
        }
    )
    return env


def _load(var: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "jobs.load_source", "--source", SOURCE, "--date", DAY.isoformat()],
        env=_env(var),
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the JVM is in the group: killpg kills the writer itself
    )


def _kill_when_writing(var: Path, table: Path, commits_before: int, timeout: float = 240) -> None:
    """Start a load; SIGKILL its process group once ``table`` has data files beyond what its
    first ``commits_before`` commits reference, before the next commit lands."""
    proc = _load(var)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"the load finished (code {proc.returncode}) before it could be killed")
            if table.exists() and _commits(table) == commits_before:
                known = _referenced(table) if commits_before else set()
                if _data_files(table) - known:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    break
            time.sleep(0.01)
        else:
            pytest.fail("no uncommitted write seen in time")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert _commits(table) == commits_before, "the write committed before the kill"
    assert _data_files(table) - _referenced(table), "no uncommitted data files: not mid-write"


def _rows(var: Path, layer: str) -> list[tuple]:
    """The table's rows, run stamps dropped, the lake's own folder written as ``<var>``."""
    return sorted(table_rows(var / "lake" / layer / SOURCE, var)[1])


@pytest.fixture(scope="module")
def lakes(tmp_path_factory) -> tuple[Path, Path]:
    killed, clean = tmp_path_factory.mktemp("killed"), tmp_path_factory.mktemp("clean")
    for var in (killed, clean):
        generate_day(make_settings(var), DAY, scale=0.05)
    assert _load(clean).wait(timeout=600) == 0
    return killed, clean


def test_kill_mid_write_then_rerun_loses_and_doubles_nothing(lakes) -> None:
    killed, clean = lakes
    lake = killed / "lake"
    # 1. killed while bronze's first files are written, before its first commit
    _kill_when_writing(killed, lake / "bronze" / SOURCE, commits_before=0)
    # 2. rerun, killed while the load writes silver (created empty, one commit, just before)
    silver = lake / "silver" / SOURCE
    _kill_when_writing(killed, silver, commits_before=1)
    # 3. rerun to the end
    assert _load(killed).wait(timeout=600) == 0

    for layer in ("bronze", "silver", "quarantine"):
        got, want = _rows(killed, layer), _rows(clean, layer)
        assert len(got) == len(want), layer
        assert got == want, layer
    from deltalake import DeltaTable

    keys = DeltaTable(str(silver)).to_pyarrow_table(columns=["pass_id"]).column(0).to_pylist()
    assert len(keys) == len(set(keys)) > 0
