"""Ten SIGKILLs at random moments of a small day, each followed by a rerun: nothing lost or doubled.

The sample of the chaos benchmark (``benchmarks/chaos.py``, docs/reliability.md "Chaos"): every
target of the job plan is killed at least once (bronze write, quarantine replace, silver write,
ledger append, publish, share projection, OPTIMIZE, VACUUM, the Spark Connect server), each in a
process of its own with its own Spark JVM, at a delay drawn from a seeded RNG after its moment.
Each killed lake is then compared, table by table, with one reference run that was never
killed. A kill that missed its window (the step ended first, or a write committed during the
delay) is repeated alone, so the sample holds ten kills that landed. The Airflow targets (a
task process, the scheduler) are left to the full run.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest

from enforcement_brain.chaos import JOB_TARGETS, ChaosRun, landed, schedule, summarise

pytestmark = pytest.mark.e2e

DAY = dt.date(2026, 11, 28)
SEED = 11


def test_ten_kills_recover_exactly(tmp_path) -> None:
    run = ChaosRun(tmp_path, [DAY], scale=0.02, seed=SEED, log=lambda _: None)
    run.build_reference()
    kills = []
    cycles = schedule(10, JOB_TARGETS, random.Random(SEED))
    for index, cycle in enumerate(cycles):
        kills += run.cycle(index, cycle)
    # a target whose kill missed its window (the race was lost) is killed again, alone
    kills += run.retry_missed(kills, len(cycles))

    hits = [k for k in kills if landed(k)]
    assert len(hits) == 10
    assert set(summarise(hits)) == set(JOB_TARGETS)
    # every writer died before its commit: the kill really was mid-write
    writes = {"bronze write", "quarantine replace", "silver MERGE", "publish", "share projection"}
    assert {k.target for k in hits} >= writes
    # every lake recovered, including those of kills that missed
    assert [(k.target, k.details) for k in kills if k.outcome != "recovered exact"] == []
