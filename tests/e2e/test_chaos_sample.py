"""Ten SIGKILLs at random moments of a small day, each followed by a rerun: nothing lost or doubled.

The sample of the chaos benchmark (``benchmarks/chaos.py``, docs/reliability.md "Chaos"): every
target of the job plan is killed at least once (bronze write, quarantine replace, silver write,
ledger append, publish, share projection, OPTIMIZE, VACUUM, the Spark Connect server), each in a
process of its own with its own Spark JVM, at a delay drawn from a seeded RNG after its moment.
Each killed lake is then compared, table by table, with one reference run that was never
killed. The Airflow targets (a task process, the scheduler) are left to the full run.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest

from enforcement_brain.chaos import JOB_TARGETS, ChaosRun, schedule, summarise

pytestmark = pytest.mark.e2e

DAY = dt.date(2026, 11, 28)
SEED = 11


def test_ten_kills_recover_exactly(tmp_path) -> None:
    run = ChaosRun(tmp_path, [DAY], scale=0.02, seed=SEED, log=lambda _: None)
    run.build_reference()
    kills = []
    for index, cycle in enumerate(schedule(10, JOB_TARGETS, random.Random(SEED))):
        kills += run.cycle(index, cycle)

    assert len(kills) == 10
    assert set(summarise(kills)) == set(JOB_TARGETS)
    assert [k for k in kills if k.result != "killed"] == []
    # every writer died before its commit: the kill really was mid-write
    writes = {"bronze write", "quarantine replace", "silver MERGE", "publish", "share projection"}
    assert [k.target for k in kills if k.target in writes and not k.in_window] == []
    assert [(k.target, k.details) for k in kills if k.outcome != "recovered exact"] == []
