"""``spark.server.Daemon``: how the Spark Connect server and the SQL endpoint are started.

Small stand-in programs take the servers' place (a JVM would take seconds each): one that
listens, one that dies with an error, one that never listens.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from conftest import free_port

from enforcement_brain.errors import SetupError
from enforcement_brain.spark.server import Daemon, pid_alive, session_pids

LISTENS = """
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(60)
"""
DIES = "import sys; print('starting'); print('error: the port is not ours'); sys.exit(3)"
SILENT = "import time; time.sleep(60)"


def _daemon(tmp: Path, port: int) -> Daemon:
    return Daemon("the stand-in server", tmp / "x.pid", tmp / "x.log", port, "X_PORT", "x://")


def _launch(tmp: Path, code: str, port: int, stopped: list[int] | None = None, timeout=20.0):
    daemon = _daemon(tmp, port)
    daemon.launch(
        [sys.executable, "-c", code, str(port)],
        dict(os.environ),
        timeout=timeout,
        stop=lambda: stopped.append(_kill(daemon.pid_file)) if stopped is not None else None,
    )
    return daemon.pid_file


def _kill(pid_file: Path) -> int:
    pid = int(pid_file.read_text())
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pid_file.unlink()
    return pid


def test_a_server_that_listens_is_running(tmp_path):
    port = free_port()
    pid_file = _launch(tmp_path, LISTENS, port)
    try:
        st = _daemon(tmp_path, port).status()
        assert (st.running, st.pid) == (True, int(pid_file.read_text()))
    finally:
        _kill(pid_file)
    assert not _daemon(tmp_path, port).status().running


def test_a_server_that_dies_is_one_line_naming_its_error_and_leaves_no_pid(tmp_path):
    with pytest.raises(SetupError) as err:
        _launch(tmp_path, DIES, free_port())
    assert str(err.value) == (
        "the stand-in server exited at start-up (error: the port is not ours); "
        f"see {tmp_path / 'x.log'}"
    )
    assert not (tmp_path / "x.pid").exists()


def test_a_server_that_never_listens_is_stopped_after_the_timeout(tmp_path):
    stopped: list[int] = []
    with pytest.raises(SetupError, match="the stand-in server did not listen within 1 s"):
        _launch(tmp_path, SILENT, free_port(), stopped, timeout=1.0)
    assert len(stopped) == 1 and not pid_alive(stopped[0])


def test_a_port_another_program_holds_is_refused_naming_the_setting(tmp_path):
    import socket

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(SetupError) as err:
            _daemon(tmp_path, port).running()
    assert str(err.value) == f"port {port} is taken by another process: stop it or set X_PORT"
    assert _daemon(tmp_path, port).running() is None  # free again: ready to start


#: Listens, and forks a child into a process group of its own that ignores SIGTERM (as an
#: Airflow task runs under a Celery worker): a stop that signals only the group misses it.
FORKS = """
import os, signal, socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
child = os.fork()
if child == 0:
    os.setpgid(0, 0)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    open(sys.argv[2], "w").write(str(os.getpid()))
    time.sleep(60)
    os._exit(0)
time.sleep(60)
"""


def test_stop_ends_the_daemon_and_whatever_it_forked_in_its_session(tmp_path):
    port = free_port()
    daemon = _daemon(tmp_path, port)
    child_file = tmp_path / "child.pid"
    daemon.launch(
        [sys.executable, "-c", FORKS, str(port), str(child_file)],
        dict(os.environ),
        timeout=20,
        stop=lambda: None,
    )
    while not child_file.exists() or not child_file.read_text():
        time.sleep(0.05)
    pid, child = int(daemon.pid_file.read_text()), int(child_file.read_text())
    assert set(session_pids(pid)) == {pid, child}
    assert daemon.stop(timeout=2) is True
    assert not pid_alive(pid)
    assert session_pids(pid) == []  # the child too (an exited one awaiting its reaper aside)
    assert not daemon.pid_file.exists() and not daemon.status().running
    assert daemon.stop() is False  # nothing left to stop


def test_a_daemon_stops_its_process_group_and_forgets_its_pid(tmp_path):
    port = free_port()
    pid_file = _launch(tmp_path, LISTENS, port)
    pid = int(pid_file.read_text())
    daemon = _daemon(tmp_path, port)
    assert daemon.stop(timeout=10) is True
    assert not pid_alive(pid) and not pid_file.exists()
    assert not daemon.status().running
    assert daemon.stop() is False  # nothing recorded: nothing to stop


SLOW_CHILD = """
import signal, socket, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", '''
import signal, sys, time
def bye(*_):
    time.sleep(2)  # a JVM's shutdown hooks take a while
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
print("ready", flush=True)
time.sleep(60)
'''], stdout=subprocess.PIPE)
child.stdout.readline()
print(child.pid, flush=True)
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(60)
"""


def test_a_daemon_stop_waits_for_the_processes_it_started(tmp_path):
    """A launcher's children (a worker's executors) are stopped with it, not left dying."""
    port = free_port()
    pid_file = _launch(tmp_path, SLOW_CHILD, port)
    child = int((tmp_path / "x.log").read_text().split()[0])
    assert pid_alive(child)
    assert _daemon(tmp_path, port).stop(timeout=10) is True
    assert not pid_alive(int(child)) and not pid_file.exists()
