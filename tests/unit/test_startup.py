"""The main job's start-up steps run at once, and a failing one neither hides nor strands the
others."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from enforcement_brain.orchestration.daily import DayRun, together


def test_steps_run_at_once_and_each_is_timed():
    first_started = threading.Event()
    # The second step can only finish if the first runs at the same time.
    steps = [
        ("first", lambda: first_started.set() or "a"),
        ("second", lambda: first_started.wait(timeout=10) and "b"),
    ]
    run = DayRun(dt.date(2026, 11, 28), 0.01)
    assert together(steps, run, say=lambda _: None) == ["a", "b"]
    names = [name for name, _ in run.stages]
    assert sorted(names[:2]) == ["∥ first", "∥ second"]
    assert names[2].startswith("start-up")


def test_a_failing_step_waits_for_the_others_then_raises():
    done = threading.Event()

    def fails():
        raise RuntimeError("port taken")

    def slow():
        threading.Event().wait(0.2)
        done.set()
        return "up"

    lines: list[str] = []
    run = DayRun(dt.date(2026, 11, 28), 0.01)
    with pytest.raises(RuntimeError, match="port taken"):
        together([("fails", fails), ("slow", slow)], run, say=lines.append)
    assert done.is_set()
    assert [name for name, _ in run.stages][:2] == ["∥ slow", "start-up (the steps above, at once)"]
