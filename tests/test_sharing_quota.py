"""The requests-per-minute quota holds for the whole service, not once per worker process.

``eb serve`` runs ``EB_SHARING_WORKERS`` processes; they count in one shared table
(``enforcement_brain.sharing.window``). What must hold: processes sharing the table allow the
limit exactly once between them, ``Retry-After`` is when the oldest counted second leaves the
window (at least 1), and the real ``eb serve`` with two workers answers exactly the limit.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import time
from pathlib import Path

import pytest
import requests
from conftest import make_settings
from sharing_support import eb_serve, free_port, issue_profile, sharing_env, standards_copy

from enforcement_brain.declarations import load_catalog
from enforcement_brain.errors import ConfigError
from enforcement_brain.sharing.audit import QuotaExceeded, Quotas
from enforcement_brain.sharing.window import ENV, MinuteWindows


class FakeClock:
    """A monotonic clock the test sets by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _outcome(quotas: Quotas, clock: FakeClock, at: float, limit: int) -> int:
    """0 when the request at ``at`` is counted, else its Retry-After."""
    clock.now = at
    try:
        quotas.hit("quota_probe", limit)
    except QuotaExceeded as exc:
        return exc.retry_after
    return 0


# -- one process ---------------------------------------------------------------------------------


def test_retry_after_is_when_the_oldest_counted_second_leaves():
    clock = FakeClock(0.0)
    quotas = Quotas(None, MinuteWindows.local(clock=clock))  # type: ignore[arg-type]
    answers = [
        _outcome(quotas, clock, at, limit=2)
        for at in (1000.3, 1010.7, 1020.5, 1059.0, 1059.99, 1060.0, 1060.5, 1070.0, 1070.0)
    ]
    # counted at 1000 and 1010; full; second 1000 leaves at 1060 (39.5 s, then 1 s, then 0.01 s
    # rounded up to 1); at 1060 one fits; then 1010 is the oldest (leaves at 1070); at 1070 one
    # fits again (the refusals were not counted) and 1060 is the oldest (leaves at 1120).
    assert answers == [0, 0, 40, 1, 1, 0, 10, 0, 50]


def test_window_empties_after_a_minute_and_refuses_for_at_most_60_seconds():
    clock = FakeClock(0.0)
    quotas = Quotas(None, MinuteWindows.local(clock=clock))  # type: ignore[arg-type]
    assert [_outcome(quotas, clock, 500.0, limit=3) for _ in range(4)] == [0, 0, 0, 60]
    assert [_outcome(quotas, clock, 2000.0, limit=3) for _ in range(4)] == [0, 0, 0, 60]


def test_expiry_wraps_around_the_ring_of_seconds():
    """Seconds 1019, 1020, 1021 sit in counters 59, 0, 1; going from 1078 to 1081 must clear
    exactly those three (a run that wraps), and keep 1078's."""
    clock = FakeClock(0.0)
    quotas = Quotas(None, MinuteWindows.local(clock=clock))  # type: ignore[arg-type]
    times = (1019.5, 1020.5, 1021.5, 1078.5, 1078.6, 1081.5, 1081.5, 1081.5, 1081.5)
    answers = [_outcome(quotas, clock, at, limit=4) for at in times]
    assert answers == [0, 0, 0, 0, 1, 0, 0, 0, 57]


def test_interfaces_have_windows_of_their_own():
    clock = FakeClock(100.0)
    windows = MinuteWindows.local(clock=clock)
    assert [windows.take("a", 2) for _ in range(3)] == [0, 0, 60]
    assert [windows.take("b", 1) for _ in range(2)] == [0, 60]
    assert windows.take("a", 3) == 0  # a larger limit (the declaration changed) counts on


def test_no_limit_counts_nothing():
    quotas = Quotas(None)  # type: ignore[arg-type]
    for _ in range(5):
        quotas.hit("quota_probe", None)
        quotas.hit("quota_probe", 0)
    quotas.hit("quota_probe", 1)  # the first counted request
    with pytest.raises(QuotaExceeded):
        quotas.hit("quota_probe", 1)


def test_a_file_that_is_not_a_table_is_refused(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a quota table")
    with pytest.raises(ConfigError, match="not a quota table"):
        MinuteWindows.open(junk)
    with pytest.raises(ConfigError, match=ENV):
        MinuteWindows.open(tmp_path / "missing.bin")


# -- several processes ---------------------------------------------------------------------------


LIMIT = 5000


def _count_allowed(path: str, attempts: int, start, results) -> None:
    """A worker: ``attempts`` requests of one interface, all at once with the other worker."""
    quotas = Quotas(None, MinuteWindows.open(Path(path)))  # type: ignore[arg-type]
    start.wait(timeout=60)
    allowed = 0
    for _ in range(attempts):
        try:
            quotas.hit("quota_probe", LIMIT)
            allowed += 1
        except QuotaExceeded:
            pass
    results.put(allowed)


def test_two_processes_sharing_the_file_allow_the_limit_once(tmp_path):
    """Each process alone would allow LIMIT; together they must allow LIMIT, not twice it."""
    path = MinuteWindows.create(tmp_path)
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(2), ctx.Queue()
    workers = [
        ctx.Process(target=_count_allowed, args=(str(path), LIMIT, start, results))
        for _ in range(2)
    ]
    for w in workers:
        w.start()
    allowed = [results.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    assert [w.exitcode for w in workers] == [0, 0]
    assert sum(allowed) == LIMIT
    # and a third process sees the full window too
    third = MinuteWindows.open(path)
    assert 1 <= third.take("quota_probe", LIMIT) <= 60
    assert third.take("other_interface", LIMIT) == 0
    third.close()


def test_apps_built_with_the_quota_file_share_it(tmp_path):
    """The wiring: ``create_app`` uses the table ``EB_SHARING_QUOTA_FILE`` names."""
    from sqlalchemy import create_engine

    from enforcement_brain.sharing.service import create_app

    standards_copy(tmp_path)
    path = MinuteWindows.create(tmp_path / "run")
    settings = make_settings(
        tmp_path / "var",
        EB_STANDARDS_DIR=str(tmp_path / "data_standards"),
        EB_SHARING_SECRET="s",
        **{ENV: str(path)},
    )
    assert settings.sharing_quota_file == path
    catalog = load_catalog(settings.standards_dir)
    engine = create_engine("sqlite://")
    apps = [create_app(settings, catalog, engine) for _ in range(2)]
    allowed = 0
    for i in range(10):
        try:
            apps[i % 2].state.service.ctx.quotas.hit("quota_probe", 4)
            allowed += 1
        except QuotaExceeded:
            pass
    assert allowed == 4
    engine.dispose()


# -- the real service ----------------------------------------------------------------------------


def test_eb_serve_with_two_workers_answers_the_limit_once(tmp_path):
    """Every request on a new connection, so both workers take requests; with a window per
    worker about twice the limit would be answered."""
    standards_copy(tmp_path)
    environ = sharing_env(tmp_path, free_port())
    token = json.loads(
        issue_profile(environ, "quota_probe", tmp_path / "quota_probe.share").read_text()
    )["bearerToken"]
    limit = (
        load_catalog(tmp_path / "data_standards")
        .interfaces["quota_probe"]
        .quota["requests_per_minute"]
    )
    assert limit == 4
    run_dir = tmp_path / "var" / "run"
    with eb_serve(environ, EB_SHARING_WORKERS="2") as (port, err):
        assert len(list(run_dir.glob("sharing-quota-*.bin"))) == 1
        url = f"http://127.0.0.1:{port}/delta-sharing/shares"
        began = time.monotonic()
        answers = [
            requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
            for _ in range(6 * limit)
        ]
        elapsed = time.monotonic() - began
    assert [r.status_code for r in answers] == [200] * limit + [429] * (5 * limit)
    assert {r.json()["errorCode"] for r in answers[limit:]} == {"RESOURCE_EXHAUSTED"}
    # the first counted second leaves the window 60 s after it began
    waits = {int(r.headers["Retry-After"]) for r in answers[limit:]}
    assert waits and all(59 - math.ceil(elapsed) <= w <= 60 for w in waits), (waits, elapsed)
    assert sum("Started server process" in x for x in err) == 2
    assert list(run_dir.glob("sharing-quota-*.bin")) == []  # removed when the service stopped
