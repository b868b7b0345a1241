"""A main job stopped with SIGTERM stops the Airflow deployment it started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from enforcement_brain.settings import REPO_ROOT

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes_with(marker: str) -> list[int]:
    """Pids whose environment names ``marker`` (our AIRFLOW_HOME)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_sigterm_stops_airflow(tmp_path):
    var = tmp_path / "var"
    env = {
        **os.environ,
        "EB_VAR_DIR": str(var),
        "EB_SPARK_CONNECT_PORT": str(_free_port()),
        "EB_AIRFLOW_PORT": str(_free_port()),
        "EB_SOURCES": "credit_lists",
        "EB_SCALE": "0.002",
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("EB_SPARK_REMOTE", "AIRFLOW_HOME"):  # the run's own, under EB_VAR_DIR
        env.pop(name, None)
    job = subprocess.Popen(
        [sys.executable, "-m", "enforcement_brain.cli", "run", "--date", "2026-11-29"],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        seen: list[str] = []
        deadline = time.monotonic() + 600
        for line in job.stdout:
            seen.append(line)
            if "Airflow DAG runs" in line or time.monotonic() > deadline:
                break
        said = "".join(seen)
        assert "Airflow DAG runs" in said, f"eb run never reached its DAG runs:\n{said}"
        airflow_home = str(var / "airflow")
        assert _processes_with(airflow_home), said  # the deployment is up
        job.send_signal(signal.SIGTERM)
        rest, _ = job.communicate(timeout=120)
        said += rest
        assert job.returncode == 128 + signal.SIGTERM, said
        assert _processes_with(airflow_home) == [], said
    finally:
        if job.poll() is None:
            job.kill()
        subprocess.run(
            [sys.executable, "-m", "enforcement_brain.cli", "spark", "stop"], env=env, check=False
        )


def test_a_second_sigterm_cannot_interrupt_the_clean_up():
    """After the first SIGTERM, ``eb run`` ignores the next ones while it stops Airflow."""
    from enforcement_brain.cli import _exit_on_sigterm

    before = signal.getsignal(signal.SIGTERM)
    try:
        _exit_on_sigterm()
        with pytest.raises(SystemExit) as raised:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # the handler runs at the next bytecode boundary
        assert raised.value.code == 128 + signal.SIGTERM
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGTERM)  # ignored: this test goes on
    finally:
        signal.signal(signal.SIGTERM, before)
