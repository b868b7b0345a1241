"""The lake lock (``<var>/lake.lock``): one writing job at a time, a refusal in one line that
names the holder, a stale lock (dead pid) broken by the next job, and no two winners."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict

import pytest
from conftest import make_settings

from enforcement_brain import cli
from enforcement_brain.errors import RunLockedError
from enforcement_brain.orchestration import lock
from enforcement_brain.settings import REPO_ROOT


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path / "var")


def _plant(settings, **fields) -> lock.Holder:
    """A lock file as another job would have left it."""
    holder = lock.Holder(
        **{
            "command": "eb run --date 2026-11-28",
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": "2026-12-05T01:00:00Z",
            **fields,
        }
    )
    path = lock.lock_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(holder)), encoding="utf-8")
    return holder


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # exited and reaped: the pid names no process
    return child.pid


def test_the_lock_is_a_file_naming_its_holder_removed_at_the_end(settings) -> None:
    path = settings.var_dir / "lake.lock"
    with lock.lake_lock(settings, "eb backfill --from 2026-11-27 --to 2026-11-28") as held:
        data = json.loads(path.read_text())
        assert data["command"] == "eb backfill --from 2026-11-27 --to 2026-11-28"
        assert (data["pid"], data["host"]) == (os.getpid(), socket.gethostname())
        assert data["pid_start"] == lock._start_ticks(os.getpid()) != ""
        assert held.broken is None
    assert not path.exists()


def test_a_second_job_refuses_at_once_naming_the_holder(settings) -> None:
    path = lock.lock_path(settings)
    with lock.lake_lock(settings, "eb run --date 2026-11-28") as held:
        started = time.monotonic()
        with pytest.raises(RunLockedError) as caught:
            lock.acquire(settings, "eb backfill --from 2026-11-28 --to 2026-11-28")
        assert time.monotonic() - started < 1
        h = held.holder
        assert str(caught.value) == (
            "[EB-RUN-LOCKED] eb backfill --from 2026-11-28 --to 2026-11-28 refused: the lake is "
            f"in use by eb run --date 2026-11-28 (pid {h.pid} on {h.host}, since {h.started}; "
            f"lock {path}). Wait for it to end (tail --pid={h.pid} -f /dev/null on {h.host}) "
            f"and rerun; if that process is gone, remove {path}"
        )
        assert json.loads(path.read_text())["command"] == "eb run --date 2026-11-28"
    assert not path.exists()


def test_a_stale_lock_of_a_dead_pid_is_broken_and_said(settings) -> None:
    stale = _plant(settings, pid=_dead_pid())
    said: list[str] = []
    with lock.lake_lock(settings, "eb run --date 2026-11-29", said.append) as held:
        assert held.broken == stale
        assert json.loads(lock.lock_path(settings).read_text())["pid"] == os.getpid()
    assert said == [
        f"  broke a stale lake lock: eb run --date 2026-11-28 (pid {stale.pid} on "
        f"{stale.host}, since 2026-12-05T01:00:00Z) is no longer running"
    ]
    assert not lock.lock_path(settings).exists()


def test_a_holder_that_exited_but_is_not_yet_reaped_is_stale(settings) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 30
        while lock._stat(child.pid)[:1] != ["Z"]:  # exited; its parent has not waited yet
            assert time.monotonic() < deadline
            time.sleep(0.05)
        _plant(settings, pid=child.pid)
        with lock.lake_lock(settings, "eb run --date 2026-11-29") as held:
            assert held.broken is not None and held.broken.pid == child.pid
    finally:
        child.wait()


def test_a_pid_reused_by_a_later_process_is_stale(settings) -> None:
    _plant(settings, pid=os.getpid(), pid_start="1")  # this pid, but not this process's start
    with lock.lake_lock(settings, "eb run --date 2026-11-29") as held:
        assert held.broken is not None and held.broken.pid_start == "1"


def test_a_holder_on_another_host_is_never_broken(settings) -> None:
    _plant(settings, host="other-host", pid=_dead_pid())
    with pytest.raises(RunLockedError, match=r"on other-host, since .*another host: its pid "):
        lock.acquire(settings, "eb run --date 2026-11-29")
    assert json.loads(lock.lock_path(settings).read_text())["host"] == "other-host"


def test_a_lock_file_that_does_not_parse_is_not_broken(settings) -> None:
    path = lock.lock_path(settings)
    path.parent.mkdir(parents=True)
    path.write_text("{half")
    with pytest.raises(RunLockedError, match=r"the lake lock .* does not parse; if no eb run"):
        lock.acquire(settings, "eb run --date 2026-11-29")
    assert path.read_text() == "{half"


def test_of_many_jobs_starting_at_once_exactly_one_holds_the_lake(settings) -> None:
    _plant(settings, pid=_dead_pid())  # and all of them see the same stale lock first
    start = threading.Barrier(8)
    won: list[lock.Lock] = []
    refused: list[str] = []

    def job(k: int) -> None:
        start.wait()
        try:
            won.append(lock.acquire(settings, f"job {k}"))
        except RunLockedError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=job, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (len(won), len(refused)) == (1, 7)
    assert all(f"in use by {won[0].holder.command} (" in r for r in refused)
    lock.release(won[0])
    assert not lock.lock_path(settings).exists()


_HOLD = (
    "import sys, time\n"
    "from conftest import make_settings\n"
    "from enforcement_brain.orchestration.lock import acquire\n"
    "acquire(make_settings(__import__('pathlib').Path(sys.argv[1])), 'eb run --date 2026-11-28')\n"
    "print('held', flush=True)\n"
    "time.sleep(600)\n"
)


def test_a_lock_held_by_a_killed_process_refuses_then_is_broken(settings) -> None:
    """Another process holds the lake; it is SIGKILLed (no clean-up runs): the next job breaks
    the stale lock and runs."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT / "tests")]),
    }
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(settings.var_dir)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(
            RunLockedError, match=rf"in use by eb run --date 2026-11-28 \(pid {holder.pid} "
        ):
            lock.acquire(settings, "eb run --date 2026-11-28")
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        with lock.lake_lock(settings, "eb run --date 2026-11-28") as held:
            assert held.broken is not None and held.broken.pid == holder.pid
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def test_eb_run_refuses_before_it_generates_or_starts_anything(settings) -> None:
    import datetime as dt

    from enforcement_brain.orchestration.daily import run_day

    refused = r"^\[EB-RUN-LOCKED\] eb run --date 2026-11-28 refused: the lake is in use by eb b"
    with (
        lock.lake_lock(settings, "eb backfill --from 2026-11-28 --to 2026-11-28"),
        pytest.raises(RunLockedError, match=refused),
    ):
        run_day(settings, dt.date(2026, 11, 28), scale=0.001, say=lambda _: None)
    assert not (settings.local_lake / "landing").exists()
    assert not settings.run_dir.exists()


def test_eb_backfill_refuses_in_one_line_with_exit_status_2(settings, monkeypatch, capsys) -> None:
    monkeypatch.setenv("EB_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("EB_HOME", str(REPO_ROOT))
    with lock.lake_lock(settings, "eb run --date 2026-11-28"):
        status = cli.main(["backfill", "--from", "2026-11-28", "--to", "2026-11-28"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith(
        "error: [EB-RUN-LOCKED] eb backfill --from 2026-11-28 --to 2026-11-28 refused: the lake "
        "is in use by eb run --date 2026-11-28 (pid "
    )
    assert err.count("\n") == 1
    assert not (settings.local_lake / "landing").exists()  # nothing generated
