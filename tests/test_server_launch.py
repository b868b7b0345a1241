"""``spark.server.launch``: how the Spark Connect server and the SQL endpoint are started.

Small stand-in programs take the servers' place (a JVM would take seconds each): one that
listens, one that dies with an error, one that never listens.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from conftest import free_port

from enforcement_brain.errors import SetupError
from enforcement_brain.spark.server import launch, pid_alive, server_status

LISTENS = """
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(60)
"""
DIES = "import sys; print('starting'); print('error: the port is not ours'); sys.exit(3)"
SILENT = "import time; time.sleep(60)"


def _launch(tmp: Path, code: str, port: int, stopped: list[int] | None = None, timeout=20.0):
    pid_file, log = tmp / "x.pid", tmp / "x.log"
    launch(
        "the stand-in server",
        [sys.executable, "-c", code, str(port)],
        dict(os.environ),
        pid_file=pid_file,
        log=log,
        port=port,
        timeout=timeout,
        stop=lambda: stopped.append(_kill(pid_file)) if stopped is not None else None,
    )
    return pid_file, log


def _kill(pid_file: Path) -> int:
    pid = int(pid_file.read_text())
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pid_file.unlink()
    return pid


def test_a_server_that_listens_is_running(tmp_path):
    port = free_port()
    pid_file, log = _launch(tmp_path, LISTENS, port)
    try:
        st = server_status(pid_file, port, f"x://{port}", log)
        assert (st.running, st.pid) == (True, int(pid_file.read_text()))
    finally:
        _kill(pid_file)
    assert not server_status(pid_file, port, "x", log).running


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
