"""The quotas (requests per minute, rows per UTC day) hold for the whole service, not once per
worker process.

``eb serve`` runs ``EB_SHARING_WORKERS`` processes; they count in one shared table
(``enforcement_brain.sharing.window``). What must hold: processes sharing the table allow each
limit exactly once between them; a minute's ``Retry-After`` is when the oldest counted second
leaves the window (at least 1), a day's is the next UTC midnight; the day's rows start from the
audit, read once per day outside the locks; and the real ``eb serve`` with two workers answers
exactly the limits.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import math
import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest
import requests
from conftest import make_settings
from sharing_support import (
    eb_serve,
    free_port,
    issue_profile,
    probe_interface,
    settings_for,
    sharing_env,
    standards_copy,
)

from enforcement_brain.declarations import load_catalog
from enforcement_brain.errors import ConfigError
from enforcement_brain.sharing import db
from enforcement_brain.sharing.audit import AuditRecord, QuotaExceeded, Quotas
from enforcement_brain.sharing.window import ENV, MinuteWindows

#: A wall-clock instant for the day tests: 2026-03-10 15:30:00.25 UTC, 30599.75 s before midnight.
NOON_ISH = dt.datetime(2026, 3, 10, 15, 30, 0, 250000, tzinfo=dt.UTC)


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


def _audit_db(path: Path, served: list[tuple[dt.datetime, str, int, int]]):
    """A governance DB at ``path`` whose audit holds ``served``: (at, interface, status, rows)."""
    engine = db.connect(f"sqlite:///{path}", create=True)
    rows = [
        AuditRecord("POST", "/q", None, "query", iid, status=status, rows_served=n).as_row(at)
        for at, iid, status, n in served
    ]
    if rows:
        with engine.begin() as conn:
            conn.execute(db.tables()["audit"].insert(), rows)
    return engine


def _rows_outcome(quotas: Quotas, rows: int, per_day: int | None) -> int | str:
    """0 when ``rows`` are counted, else the refusal as "Retry-After: message"."""
    try:
        quotas.take_rows("quota_probe", rows, per_day)
    except QuotaExceeded as exc:
        return f"{exc.retry_after}: {exc}"
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


def test_the_days_rows_start_from_the_audit_and_are_then_counted_in_the_table(tmp_path):
    """Only the interface's rows served (status < 400) since today's UTC midnight count; the
    audit is read once: a row written after that is not summed again."""
    today = NOON_ISH.replace(hour=0, minute=0, second=0, microsecond=0)
    engine = _audit_db(
        tmp_path / "gov.db",
        [
            (today, "quota_probe", 200, 1),  # midnight itself is today
            (today.replace(hour=9), "quota_probe", 200, 2),
            (today.replace(hour=10), "quota_probe", 429, 0),
            (today.replace(hour=11), "quota_probe", 500, 7),  # failed: nothing was served
            (today.replace(hour=12), "other_interface", 200, 7),
            (today - dt.timedelta(microseconds=1), "quota_probe", 200, 9),  # yesterday
        ],
    )
    quotas = Quotas(engine, MinuteWindows.local(wall=FakeClock(NOON_ISH.timestamp())))
    assert _rows_outcome(quotas, 3, per_day=6) == 0  # 3 from the audit + 3
    _audit_db(tmp_path / "gov.db", [(today.replace(hour=13), "quota_probe", 200, 50)])
    assert _rows_outcome(quotas, 0, per_day=6) == 0
    assert _rows_outcome(quotas, 1, per_day=6) == (
        "30600: quota of 6 rows per day for quota_probe: 6 served today, this request would serve 1"
    )
    # a limit raised by a new declaration counts on from the same total
    assert _rows_outcome(quotas, 1, per_day=7) == 0
    assert _rows_outcome(quotas, 1, per_day=7).startswith("30600: quota of 7 rows per day")
    engine.dispose()


def test_the_days_rows_start_afresh_at_utc_midnight(tmp_path):
    """Retry-After is the seconds to the next UTC midnight (rounded up, at least 1); the first
    charge of the new day reads that day's audit."""
    day1 = dt.datetime(2026, 3, 10, tzinfo=dt.UTC)
    day2 = day1 + dt.timedelta(days=1)
    engine = _audit_db(tmp_path / "gov.db", [(day1.replace(hour=1), "quota_probe", 200, 1)])
    wall = FakeClock(0.0)
    quotas = Quotas(engine, MinuteWindows.local(wall=wall))

    def at(when: dt.datetime, rows: int) -> int | str:
        wall.now = when.timestamp()
        return _rows_outcome(quotas, rows, per_day=5)

    last = day2 - dt.timedelta(seconds=1.5)
    assert at(last, 3) == 0  # day 1: 1 in the audit + 3
    assert at(last, 2) == "2: quota of 5 rows per day for quota_probe: 4 served today, " + (
        "this request would serve 2"
    )
    assert str(at(day2 - dt.timedelta(seconds=0.1), 2)).startswith("1: ")
    _audit_db(tmp_path / "gov.db", [(day2, "quota_probe", 200, 1)])  # e.g. another host's
    assert at(day2, 3) == 0  # day 2: 1 in the audit + 3
    assert str(at(day2 + dt.timedelta(seconds=0.25), 2)) == (
        "86400: quota of 5 rows per day for quota_probe: 4 served today, this request would serve 2"
    )
    # the wall clock stepping back over midnight does not give day 1's allowance again
    assert at(day2 - dt.timedelta(seconds=1), 1) == 0
    assert str(at(day2 - dt.timedelta(seconds=1), 1)).startswith("86401: quota of 5 rows")
    engine.dispose()


def test_no_rows_limit_counts_nothing_and_reads_no_audit(tmp_path):
    """Requests without a rows-per-day limit (none, or 0) leave the audit unread and the day's
    count untouched: the first limited request afterwards reads the audit once and starts from
    its rows alone."""
    from sqlalchemy import event

    today = NOON_ISH.replace(hour=0, minute=0, second=0, microsecond=0)
    engine = _audit_db(tmp_path / "gov.db", [(today.replace(hour=9), "quota_probe", 200, 2)])
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    quotas = Quotas(engine, MinuteWindows.local(wall=FakeClock(NOON_ISH.timestamp())))
    for _ in range(3):
        assert _rows_outcome(quotas, 10**9, per_day=None) == 0
        assert _rows_outcome(quotas, 10**9, per_day=0) == 0
    assert statements == []  # no read of the audit
    assert _rows_outcome(quotas, 3, per_day=5) == 0  # 2 from the audit + 3: nothing counted above
    assert len(statements) == 1  # the audit, read once for the day
    assert _rows_outcome(quotas, 1, per_day=5) == (
        "30600: quota of 5 rows per day for quota_probe: 5 served today, this request would serve 1"
    )
    assert len(statements) == 1
    engine.dispose()


def test_the_audit_is_read_outside_the_locks_and_a_day_set_meanwhile_is_kept(tmp_path):
    """Worker A finds no count for today and reads the audit; meanwhile worker B reads it too,
    sets the day and serves 4 rows. A must keep B's count (its own read is stale) and must not
    hold the file lock nor its thread lock while it reads (another thread of A's worker is
    answered meanwhile)."""
    path = MinuteWindows.create(tmp_path)
    wall = FakeClock(NOON_ISH.timestamp())
    a, b = MinuteWindows.open(path, wall=wall), MinuteWindows.open(path, wall=wall)
    probe = os.open(path, os.O_RDWR)
    today = int(NOON_ISH.timestamp() // 86400)
    reads: list[tuple[str, str, int]] = []

    def b_reads(key: str, day: int) -> int:
        reads.append(("b", key, day))
        return 2

    def a_reads(key: str, day: int) -> int:
        reads.append(("a", key, day))
        other = threading.Thread(target=a.take, args=("another_key", 5))  # A's other thread
        other.start()
        other.join(timeout=5)
        assert not other.is_alive()  # it would wait while A held its thread lock
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError if A held it
        fcntl.flock(probe, fcntl.LOCK_UN)
        assert b.take_rows(key, 4, 10, b_reads) == (2, 0)
        return 0  # what the audit held when A asked, before B's rows

    assert a.take_rows("quota_probe", 1, 10, a_reads) == (6, 0)
    assert b.take_rows("quota_probe", 3, 10, b_reads) == (7, 0)
    assert a.take_rows("quota_probe", 1, 10, a_reads) == (10, 30600)
    assert reads == [("a", "quota_probe", today), ("b", "quota_probe", today)]
    os.close(probe)
    a.close()
    b.close()


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


PER_DAY, SERVED_BEFORE = 3000, 300


def _count_rows_allowed(path: str, gov: str, start, results) -> None:
    """A worker: PER_DAY charges of one row, all at once with the other worker."""
    wall = FakeClock(NOON_ISH.timestamp())
    engine = db.connect(f"sqlite:///{gov}", create=False)
    quotas = Quotas(engine, MinuteWindows.open(Path(path), wall=wall))
    start.wait(timeout=60)
    allowed = 0
    for _ in range(PER_DAY):
        try:
            quotas.take_rows("quota_probe", 1, PER_DAY)
            allowed += 1
        except QuotaExceeded:
            pass
    engine.dispose()
    results.put(allowed)


def _in_two_processes(target, *args) -> list:
    """``target(*args, start, results)`` in two spawned processes (two workers of ``eb serve``)
    that start counting together; what each put in ``results``, once both exited cleanly."""
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=target, args=(*args, start, results)) for _ in range(2)]
    for w in workers:
        w.start()
    got = [results.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    assert [w.exitcode for w in workers] == [0, 0]
    return got


def test_two_processes_sharing_the_file_serve_the_days_rows_once(tmp_path):
    """Each process alone would serve PER_DAY - SERVED_BEFORE rows (the audit's SERVED_BEFORE
    first); together they must serve that, not twice it."""
    path = MinuteWindows.create(tmp_path)
    gov = tmp_path / "gov.db"
    _audit_db(gov, [(NOON_ISH.replace(hour=8), "quota_probe", 200, SERVED_BEFORE)]).dispose()
    allowed = _in_two_processes(_count_rows_allowed, str(path), str(gov))
    assert sum(allowed) == PER_DAY - SERVED_BEFORE
    # a third process (a restarted worker) sees the day's total, not the audit's
    third = MinuteWindows.open(path, wall=FakeClock(NOON_ISH.timestamp()))
    assert third.take_rows("quota_probe", 1, PER_DAY, lambda *_: 0) == (PER_DAY, 30600)
    assert third.take_rows("other_interface", 1, PER_DAY, lambda *_: 0) == (0, 0)
    third.close()


def test_two_processes_sharing_the_file_allow_the_limit_once(tmp_path):
    """Each process alone would allow LIMIT; together they must allow LIMIT, not twice it."""
    path = MinuteWindows.create(tmp_path)
    allowed = _in_two_processes(_count_allowed, str(path), LIMIT)
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

ROWS_PROBE = probe_interface("rows_probe", requests_per_minute=1000, rows_per_day=20)


def _publish_rows_probe(tmp: Path) -> None:
    """rows_probe's share table (one row) and 2 of its rows in today's audit."""
    import pyarrow as pa
    from deltalake import write_deltalake

    settings = settings_for(tmp, free_port())
    alerts = pa.table(
        {
            "alert_id": ["a1"],
            "plate_no": ["苏C12345"],
            "gross_weight_kg": [60000],
            "excess_rate": [0.22],
            "is_shuang_bai": [False],
            "biz_date": [dt.date(2026, 11, 28)],
        }
    )
    write_deltalake(settings.table_uri("share", "rows_probe__overload_alerts"), alerts)
    engine = db.connect(settings.governance_db_url, create=False)  # made by `eb sharing issue`
    row = AuditRecord("GET", "/x", None, "extract", "rows_probe", status=200, rows_served=2)
    with engine.begin() as conn:
        conn.execute(db.tables()["audit"].insert(), [row.as_row(dt.datetime.now(dt.UTC))])
    engine.dispose()


def _to_midnight() -> float:
    now = dt.datetime.now(dt.UTC)
    return (dt.datetime.combine(now.date(), dt.time(), dt.UTC) - now).total_seconds() + 86400


def test_eb_serve_with_two_workers_answers_each_limit_once(tmp_path):
    """Every request on a new connection, so both workers take requests; with counts per
    worker about twice the minute limit would be answered, and up to twice the day's rows."""
    if _to_midnight() < 60:  # the day's rows must not start afresh during the test
        time.sleep(_to_midnight() + 1)
    root = standards_copy(tmp_path)
    (root / "interfaces" / "rows_probe.yaml").write_text(ROWS_PROBE, encoding="utf-8")
    environ = sharing_env(tmp_path, free_port())
    token = json.loads(
        issue_profile(environ, "quota_probe", tmp_path / "quota_probe.share").read_text()
    )["bearerToken"]
    rows_token = json.loads(
        issue_profile(environ, "rows_probe", tmp_path / "rows_probe.share").read_text()
    )["bearerToken"]
    _publish_rows_probe(tmp_path)
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
        url = f"http://127.0.0.1:{port}/extract/v1/rows_probe/overload_alerts?page_size=1"
        most = _to_midnight()
        extracts = [
            requests.get(url, headers={"Authorization": f"Bearer {rows_token}"}, timeout=10)
            for _ in range(30)
        ]
        least = _to_midnight()
    assert [r.status_code for r in answers] == [200] * limit + [429] * (5 * limit)
    assert {r.json()["errorCode"] for r in answers[limit:]} == {"RESOURCE_EXHAUSTED"}
    # the first counted second leaves the window 60 s after it began
    waits = {int(r.headers["Retry-After"]) for r in answers[limit:]}
    assert waits and all(59 - math.ceil(elapsed) <= w <= 60 for w in waits), (waits, elapsed)
    # rows_per_day 20, 2 served today before the service started: 18 one-row pages, then 429.
    # With counts per worker each would read the audit at its first page and count on alone.
    assert [r.status_code for r in extracts] == [200] * 18 + [429] * 12, [
        r.status_code for r in extracts
    ]
    assert {len(r.json()["rows"]) for r in extracts[:18]} == {1}
    assert {r.json()["message"] for r in extracts[18:]} == {
        "quota of 20 rows per day for rows_probe: 20 served today, this request would serve 1"
    }
    waits = {int(r.headers["Retry-After"]) for r in extracts[18:]}
    assert all(math.ceil(least) <= w <= math.ceil(most) for w in waits), (waits, least, most)
    assert sum("Started server process" in x for x in err) == 2
    assert list(run_dir.glob("sharing-quota-*.bin")) == []  # removed when the service stopped
