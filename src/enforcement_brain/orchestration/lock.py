"""The lake lock: one writing job at a time (``eb run``, ``eb backfill``, ``eb replay``).

Why a lock and not Delta's own conflict checks: Delta serialises single commits, not jobs. Two
runs of one day each regenerate the day's landing files, replace the same bronze slices, MERGE
the same silver rows, append the day's batch log and ledger, and publish the same partitions;
interleaved, they can leave one run's landing under the other's loads, a day's ledger counted
twice, or a run refused half way by a concurrent-modification error. The lake lock makes the
second job refuse at once, before it writes anything, with one line that names the holder.

The lock is a file, ``<var>/lake.lock``, holding the holder's command, pid, host and start time
(JSON). It is taken atomically: the check and the write happen under an exclusive ``flock`` on
``<var>/.lake.lock.guard`` (flock belongs to the open file, so threads of one process exclude
each other as processes do), and the file is written whole and renamed into place. A lock whose
pid is dead on this host (exited, a zombie, or a pid now given to a process started later) is
stale: the next job breaks it and says so. A holder on another host cannot be checked from here:
the message says how to break it by hand.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import secrets
import socket
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from enforcement_brain.errors import RunLockedError
from enforcement_brain.settings import Settings

LOCK_NAME = "lake.lock"


@dataclass(frozen=True)
class Holder:
    """Who holds the lock: enough to recognise it, wait for it, or tell that it is gone."""

    command: str
    pid: int
    host: str
    started: str
    #: The process's start time in clock ticks since boot (``/proc/<pid>/stat``), so a pid the
    #: system gave to a later process is not mistaken for the holder; "" where unknown.
    pid_start: str = ""


@dataclass(frozen=True)
class Lock:
    """A lock taken: its file, its holder, and the stale holder it replaced (if any)."""

    path: Path
    holder: Holder
    broken: Holder | None = None


def lock_path(settings: Settings) -> Path:
    return settings.var_dir / LOCK_NAME


def _stat(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` from the third (the state) on; [] without /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return stat.rpartition(")")[2].split()  # after the command name, which may hold spaces


def _start_ticks(pid: int) -> str:
    """Field 22 of ``/proc/<pid>/stat`` (the start time), "" where there is no /proc."""
    fields = _stat(pid)
    return fields[19] if len(fields) > 19 else ""


def is_alive(holder: Holder) -> bool | None:
    """Whether the holder's process still runs: None when it is on another host."""
    if holder.host != socket.gethostname():
        return None
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    fields = _stat(holder.pid)
    if fields[:1] == ["Z"]:  # exited, not yet reaped by its parent: it holds nothing
        return False
    ticks = fields[19] if len(fields) > 19 else ""
    return not (holder.pid_start and ticks and ticks != holder.pid_start)


def current_holder(path: Path) -> Holder | None:
    """The holder named in the lock file; None when there is no lock. ``ValueError`` when the
    file does not parse (it was edited by hand: the platform writes it whole)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    data = json.loads(text)
    return Holder(**{k: data[k] for k in Holder.__dataclass_fields__ if k in data})


def refusal(command: str, holder: Holder, path: Path) -> str:
    """The one line a refused job prints: who holds the lake, how to wait, how to break it."""
    where = f"pid {holder.pid} on {holder.host}, since {holder.started}"
    if holder.host != socket.gethostname():
        where += ", another host: its pid cannot be checked from here"
    return (
        f"{command} refused: the lake is in use by {holder.command} ({where}; lock {path}). "
        f"Wait for it to end (tail --pid={holder.pid} -f /dev/null on {holder.host}) and rerun; "
        f"if that process is gone, remove {path}"
    )


@contextlib.contextmanager
def _guard(path: Path) -> Iterator[None]:
    with (path.parent / f".{path.name}.guard").open("a") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(guard, fcntl.LOCK_UN)


def acquire(settings: Settings, command: str) -> Lock:
    """Take the lake lock for ``command`` or raise :class:`RunLockedError` at once."""
    path = lock_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    me = Holder(
        command=command,
        pid=pid,
        host=socket.gethostname(),
        started=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        pid_start=_start_ticks(pid),
    )
    with _guard(path):
        try:
            current = current_holder(path)
        except (ValueError, TypeError, KeyError):
            raise RunLockedError(
                f"{command} refused: the lake lock {path} does not parse; if no eb run, "
                f"backfill or replay is running, remove {path}"
            ) from None
        if current is not None and is_alive(current) is not False:
            raise RunLockedError(refusal(command, current, path))
        tmp = path.parent / f".{path.name}.{pid}.{secrets.token_hex(4)}"
        tmp.write_text(json.dumps(asdict(me)), encoding="utf-8")
        os.replace(tmp, path)
    return Lock(path, me, current)


def release(lock: Lock) -> None:
    """Remove the lock file if it is still this holder's."""
    with _guard(lock.path), contextlib.suppress(ValueError, TypeError, KeyError):
        if current_holder(lock.path) == lock.holder:
            lock.path.unlink()


@contextlib.contextmanager
def lake_lock(
    settings: Settings, command: str, say: Callable[[str], None] | None = None
) -> Iterator[Lock]:
    """Hold the lake lock while the block runs; a stale lock broken on the way is said."""
    lock = acquire(settings, command)
    if lock.broken is not None and say is not None:
        b = lock.broken
        say(
            f"  broke a stale lake lock: {b.command} (pid {b.pid} on {b.host}, since "
            f"{b.started}) is no longer running"
        )
    try:
        yield lock
    finally:
        release(lock)
