"""The access audit and the quotas that read it.

Why one row per request, refusals included: accountability means being able to answer "who
read what, when, and who tried and was refused" from one table. Rows served are counted when
the service hands out file URLs (that is when the data leaves our control), so the per-day row
quota is computed from the same table and survives a restart.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from enforcement_brain.sharing.db import tables
from enforcement_brain.sharing.window import DAY, MinuteWindows

if TYPE_CHECKING:
    from sqlalchemy import Engine


@dataclass
class AuditRecord:
    """What a request did, filled in as it is handled and written when it ends."""

    method: str
    path: str
    client: str | None
    endpoint: str = "unknown"
    interface_id: str | None = None
    token_id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    status: int = 0
    error_code: str | None = None
    message: str | None = None
    rows_served: int = 0
    files_served: int = 0
    duration_ms: int = 0

    def as_row(self, at: dt.datetime) -> dict[str, Any]:
        return {
            "at": at,
            "interface_id": self.interface_id,
            "token_id": self.token_id,
            "method": self.method,
            "endpoint": self.endpoint,
            "path": self.path[:2000],
            "params": json.dumps(self.params, default=str, ensure_ascii=False)[:4000]
            if self.params
            else None,
            "status": self.status,
            "error_code": self.error_code,
            "message": (self.message or None) and self.message[:1000],
            "rows_served": self.rows_served,
            "files_served": self.files_served,
            "duration_ms": self.duration_ms,
            "client": self.client,
        }


class GroupWriter:
    """Audit rows committed in groups: each request still waits for its own row's commit.

    Why: one transaction per request made the audit insert the service's biggest cost under
    load (SQLite serialises writers, and several workers write one file). A single writer
    thread per process takes every row waiting when it is free and commits them together;
    the request's answer starts only once that commit is done, so "who read what" is in the
    table before the partner has the data, as with one transaction per request.
    """

    MAX_GROUP = 500

    def __init__(self, engine: Engine) -> None:
        import queue

        self._engine = engine
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def write(self, record: AuditRecord) -> None:
        """Queue the row and wait until it is committed (or raise what the commit raised)."""
        import asyncio

        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._start()
        self._queue.put((record.as_row(dt.datetime.now(dt.UTC)), loop, done))
        await done

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        import queue

        insert = tables()["audit"].insert()
        while True:
            group = [self._queue.get()]
            while len(group) < self.MAX_GROUP:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            error: BaseException | None = None
            try:
                with self._engine.begin() as conn:
                    conn.execute(insert, [row for row, _, _ in group])
            except Exception as exc:  # every waiting request learns of it
                error = exc
            for _, loop, done in group:
                loop.call_soon_threadsafe(_settle, done, error)


def _settle(done: Any, error: BaseException | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


def rows_served_since(engine: Engine, interface_id: str, since: dt.datetime) -> int:
    """Rows handed out to ``interface_id`` from ``since`` on, by the audit (refusals excluded)."""
    from sqlalchemy import func, select

    t = tables()["audit"]
    stmt = select(func.coalesce(func.sum(t.c.rows_served), 0)).where(
        t.c.interface_id == interface_id, t.c.at >= since, t.c.status < 400
    )
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


class QuotaExceeded(Exception):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)


class Quotas:
    """Requests per minute (a sliding window) and rows per UTC day, per interface.

    Both are counted in a :class:`~enforcement_brain.sharing.window.MinuteWindows` table that
    every worker of one ``eb serve`` maps, so each limit holds for the service as a whole, not
    once per worker. The rows of the day start from the audit (so a restart does not reset
    them), read once per interface and day by the first worker to charge it.
    """

    def __init__(self, engine: Engine, minutes: MinuteWindows | None = None) -> None:
        """``minutes``: the shared table (``MinuteWindows.for_settings``); default: one private
        to this process, as for an app built in-process without ``eb serve``."""
        self._engine = engine
        self._minutes = minutes if minutes is not None else MinuteWindows.local()

    def hit(self, interface_id: str, per_minute: int | None) -> None:
        """Count one request; :class:`QuotaExceeded` when the last minute is already full."""
        if not per_minute:
            return
        wait = self._minutes.take(interface_id, per_minute)
        if wait:
            raise QuotaExceeded(
                f"quota of {per_minute} requests per minute for {interface_id} reached", wait
            )

    def take_rows(self, interface_id: str, rows: int, per_day: int | None) -> None:
        """Reserve ``rows`` of today's allowance, or :class:`QuotaExceeded` (nothing served).

        ``Retry-After`` is the time to the next UTC midnight, when the allowance starts afresh.
        """
        if not per_day:
            return
        used, wait = self._minutes.take_rows(interface_id, rows, per_day, self._served_on)
        if wait:
            raise QuotaExceeded(
                f"quota of {per_day} rows per day for {interface_id}: {used} served today, "
                f"this request would serve {rows}",
                wait,
            )

    def _served_on(self, interface_id: str, day: int) -> int:
        """The audit's rows for ``interface_id`` on UTC ``day`` (days since 1970-01-01) so far.

        Called by the table outside its locks, once per interface and day in the service.
        """
        midnight = dt.datetime.fromtimestamp(day * DAY, dt.UTC)
        return rows_served_since(self._engine, interface_id, midnight)
