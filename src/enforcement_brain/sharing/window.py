"""The quotas' counters, one slot per interface, shared by every worker of ``eb serve``.

A slot holds the interface's requests-per-minute window and the rows it was served on the
current UTC day. Why a file: uvicorn's workers are separate processes, so counts kept in each
one's memory let a partner make its limits once per worker. ``eb serve`` writes one small file
before it starts its workers and names it in ``EB_SHARING_QUOTA_FILE`` (the way it hands them
the signing key); each worker maps it (``mmap``) and counts under an exclusive ``flock`` on it.
This runs on every API request, so a request costs two lock system calls and C-level work on
60 counters: no database, no Python loop over the window. The day's rows start from the audit
(a query the caller passes in, run outside the locks) at the first charge of an interface
that day in the whole service, not once per worker; after that they only move in the table.
An app built without ``eb serve`` (the tests' in-process service) gets the same table in
anonymous memory, private to its process.

Layout, in native byte order (the file never leaves the machine): a header (magic, slot count),
then ``SLOTS`` slots of ``_SLOT`` bytes: the interface's key (a 16-byte BLAKE2b digest of its
id), the newest second counted (int64), 60 one-second counters (uint32), counter ``s % 60``
holding the requests of second ``s`` of the system-wide monotonic clock, then the UTC day the
rows are counted for (int64, days since 1970-01-01; -1 before the first count) and the rows
served that day (int64). A slot is claimed by an interface's first request (open addressing),
so the workers need not agree on an order of the catalog, and a worker restarted later finds
the slots already there.
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import mmap
import os
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from enforcement_brain.errors import ConfigError

if TYPE_CHECKING:
    from enforcement_brain.settings import Settings

#: The variable ``eb serve`` sets for its workers; they read it through ``Settings``.
ENV = "EB_SHARING_QUOTA_FILE"
#: Seconds in the window, one counter each.
WINDOW = 60
#: Interfaces one table holds (~290 KB); only declared interfaces are ever counted.
SLOTS = 1024
#: Seconds in a UTC day (POSIX time has no leap seconds).
DAY = 86400

_HEADER = struct.Struct("=8sQ")
_MAGIC = b"EBQUOTA2"  # 2: the day's rows after the window (a file of version 1 is refused)
_KEY = 16
_ROWS = _KEY + 8 + WINDOW * 4  # where the day and its rows start in a slot
_SLOT = _ROWS + 16  # a multiple of 8: every slot's int64 stays aligned
_NO_KEY = bytes(_KEY)
_ZEROS = bytes(WINDOW * 4)
_NO_DAY = struct.pack("=qq", -1, 0)

#: What a slot's views are: newest second, counters as bytes, counters as uint32, and
#: [day, rows served that day] as int64.
_Views = tuple[memoryview, memoryview, memoryview, memoryview]


def _size(slots: int) -> int:
    return _HEADER.size + slots * _SLOT


def _empty_table(slots: int) -> bytearray:
    table = bytearray(_size(slots))
    _HEADER.pack_into(table, 0, _MAGIC, slots)
    return table


class MinuteWindows:
    """Sliding 60-second request counts and rows of the UTC day per key, in a buffer that may
    be shared by processes.

    Seconds are whole seconds of the monotonic clock, so a request counts for 59 to 60 seconds
    (until its second leaves the window): at most one second more lenient than an exact window.
    Days are UTC days of the wall clock (``time.time``), the audit's clock.
    """

    def __init__(
        self,
        buffer: mmap.mmap,
        fd: int | None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        """Use ``buffer`` (a table written by :meth:`create` or :meth:`local`).

        ``fd`` is the open file the buffer maps, locked around every update; ``None`` for a
        buffer private to this process. ``clock`` (the minute windows) and ``wall`` (the day
        of the rows, seconds since the epoch) are there for tests.
        """
        magic, slots = _HEADER.unpack_from(buffer, 0)
        if magic != _MAGIC or len(buffer) != _size(slots) or slots < 1:
            raise ConfigError("the quota file is not a table written by `eb serve`")
        self._buf = buffer
        self._fd = fd
        self._slots = slots
        self._clock = clock
        self._wall = wall
        self._turn = _Turn(self)
        # key -> its slot's views into the buffer (see _Views)
        self._views: dict[str, _Views] = {}

    # -- construction ------------------------------------------------------------------------
    @staticmethod
    def create(directory: Path, slots: int = SLOTS) -> Path:
        """Write an empty table in a new file under ``directory``; the caller removes it.

        A new file per start (not a fixed name): a second ``eb serve`` started by mistake must
        not reset the windows of the one already running.
        """
        directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="sharing-quota-", suffix=".bin", dir=directory)
        with os.fdopen(fd, "wb") as out:
            out.write(_empty_table(slots))
        return Path(name)

    @classmethod
    def open(
        cls,
        path: Path,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> MinuteWindows:
        """Map the table at ``path`` that every worker of one ``eb serve`` shares."""
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError as exc:
            raise ConfigError(f"{ENV}={path}: {exc.strerror}") from None
        try:
            buffer = mmap.mmap(fd, os.fstat(fd).st_size)
            return cls(buffer, fd, clock, wall)
        except (ValueError, OSError, ConfigError, struct.error):
            os.close(fd)
            raise ConfigError(f"{ENV}={path} is not a quota table written by `eb serve`") from None

    @classmethod
    def local(
        cls,
        slots: int = SLOTS,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> MinuteWindows:
        """A table in anonymous memory: the same counting, for one process only."""
        buffer = mmap.mmap(-1, _size(slots))
        buffer[:] = _empty_table(slots)
        return cls(buffer, None, clock, wall)

    @classmethod
    def for_settings(cls, settings: Settings) -> MinuteWindows:
        """The table ``eb serve`` made for its workers, or a process-local one without it."""
        path = settings.sharing_quota_file
        return cls.open(path) if path is not None else cls.local()

    def close(self) -> None:
        """Unmap the table (the views first: an mmap with live views cannot close)."""
        for views in self._views.values():
            for view in views:
                view.release()
        self._views.clear()
        self._buf.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # -- counting ----------------------------------------------------------------------------
    def take(self, key: str, limit: int) -> int:
        """Count one request of ``key`` if its last 60 seconds hold fewer than ``limit``.

        Returns 0 when counted. Otherwise nothing is counted and the answer is the whole
        seconds (at least 1) until the oldest counted second leaves the window, i.e. until
        one more request fits: what ``Retry-After`` says.
        """
        views = self._views.get(key)
        if views is None:
            views = self._claim(key)
        newest, raw, counts, _ = views
        with self._turn:
            now = self._clock()  # read under the lock: seconds only move forward
            second = int(now)
            previous = newest[0]
            if second > previous:
                _expire(raw, previous, second)
                newest[0] = second
            else:  # the clocks of two processes read within one lock hand-over
                second = previous
            if sum(counts) < limit:
                counts[second % WINDOW] += 1
                return 0
            # Counters from the oldest second of the window to the newest, as bytes: the
            # leading zero bytes say how many seconds at the start hold nothing.
            start = (second + 1) % WINDOW * 4
            ordered = raw[start:].tobytes() + raw[:start].tobytes()
            empty = (len(ordered) - len(ordered.lstrip(b"\0"))) // 4
            # the oldest counted second is second - 59 + empty; it leaves 60 s later
            return max(1, math.ceil(second + 1 + empty - now))

    def take_rows(
        self, key: str, rows: int, limit: int, served: Callable[[str, int], int]
    ) -> tuple[int, int]:
        """Count ``rows`` for ``key`` today (UTC) if the day's total stays within ``limit``.

        Returns ``(used, wait)``: ``used`` is the day's rows before this call; ``wait`` is 0
        when the rows were counted, else nothing was counted and it is the whole seconds (at
        least 1) until the next UTC midnight, when the allowance starts afresh.

        ``served(key, day)`` says how many rows the audit holds for ``key`` on ``day`` (days
        since 1970-01-01). It is called only when the slot still counts an older day (the first
        rows of the day in the whole service, or a new file after a restart), and outside both
        locks: on a long audit it is a slow query, and every worker's every request waits on
        the file lock. Another worker may set the day meanwhile; its count is then kept and
        this answer dropped, since the slot has rows the audit may not have yet.
        """
        views = self._views.get(key)
        if views is None:
            views = self._claim(key)
        day_rows = views[3]
        start: tuple[int, int] | None = None  # (day, rows the audit held for it)
        while True:
            with self._turn:
                now = self._wall()
                today = int(now // DAY)
                day = day_rows[0]
                if day < today and start is not None and start[0] == today:
                    day_rows[0], day_rows[1] = today, start[1]
                    day = today
                # A day ahead of today (the wall clock stepped back) counts on: like the
                # seconds, the day only moves forward.
                if day >= today:
                    used = day_rows[1]
                    if used + rows <= limit:
                        day_rows[1] = used + rows
                        return used, 0
                    return used, max(1, math.ceil((day + 1) * DAY - now))
            # the slot counts an older day: read today's start (again, if midnight passed)
            start = (today, served(key, today))

    def _claim(self, key: str) -> _Views:
        """Find ``key``'s slot, or claim a free one (once per key and process)."""
        digest = hashlib.blake2b(key.encode(), digest_size=_KEY).digest()
        first = int.from_bytes(digest[:8], "little") % self._slots
        with self._turn:
            for probe in range(self._slots):
                offset = _HEADER.size + (first + probe) % self._slots * _SLOT
                found = self._buf[offset : offset + _KEY]
                if found == _NO_KEY:
                    self._buf[offset : offset + _KEY] = digest
                    self._buf[offset + _ROWS : offset + _SLOT] = _NO_DAY
                    break
                if found == digest:
                    break
            else:
                raise RuntimeError(f"the quota table is full ({self._slots} interfaces)")
            table = memoryview(self._buf)
            raw = table[offset + _KEY + 8 : offset + _ROWS]
            views = (
                table[offset + _KEY : offset + _KEY + 8].cast("q"),
                raw,
                raw.cast("I"),
                table[offset + _ROWS : offset + _SLOT].cast("q"),
            )
            table.release()
            self._views[key] = views
            return views


class _Turn:
    """Exclusive use of the table: this process's threads (a thread lock) and the other
    workers (``flock`` on the shared file; none for a table private to the process).

    fcntl locks belong to the process (flock's to the open file), so the threads of one worker
    need a lock of their own. A class rather than ``@contextmanager``: it is taken on every
    request, and a generator-based one costs about a microsecond more.
    """

    __slots__ = ("_lock", "_windows")

    def __init__(self, windows: MinuteWindows) -> None:
        self._lock = threading.Lock()
        self._windows = windows

    def __enter__(self) -> None:
        self._lock.acquire()
        fd = self._windows._fd
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                self._lock.release()
                raise

    def __exit__(self, *exc: object) -> None:
        try:
            fd = self._windows._fd
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._lock.release()


def _expire(raw: memoryview, previous: int, second: int) -> None:
    """Zero the counters of seconds ``previous + 1`` … ``second``: they start afresh."""
    if second - previous >= WINDOW:
        raw[:] = _ZEROS
        return
    begin, end = (previous + 1) % WINDOW * 4, (second % WINDOW + 1) * 4
    if begin < end:
        raw[begin:end] = _ZEROS[: end - begin]
    else:  # the run wraps around the ring
        raw[begin:] = _ZEROS[begin:]
        raw[:end] = _ZEROS[:end]
