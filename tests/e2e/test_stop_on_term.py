"""A main job stopped with SIGTERM stops the Airflow deployment it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import free_port

from enforcement_brain.settings import REPO_ROOT

pytestmark = pytest.mark.e2e


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
        "EB_SPARK_CONNECT_PORT": str(free_port()),
        "EB_AIRFLOW_PORT": str(free_port()),
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
        up = _processes_with(airflow_home)
        assert up, said  # the deployment is up
        # the batch yields the CPU to the interface service and the SQL endpoint (EB_BATCH_NICE)
        assert {os.getpriority(os.PRIO_PROCESS, pid) for pid in up} == {10}, said
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


def test_stopping_airflow_holds_sigint_and_sigterm_until_it_is_done(monkeypatch):
    """A signal that arrives while the components are being stopped waits for the clean-up."""
    from enforcement_brain.orchestration.stack import AirflowStack

    class Interrupted(Exception):
        pass

    def interrupted(signum, _frame):
        raise Interrupted(signum)

    steps: list[str] = []

    def slow_stop(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, or `timeout` signalling the group
        os.kill(os.getpid(), signal.SIGTERM)  # then the parent signalling the job
        time.sleep(0.5)  # handlers run at the next bytecode boundaries: here, if not held
        steps.append("components stopped")

    monkeypatch.setattr(AirflowStack, "_stop", slow_stop)
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for s in before:
            signal.signal(s, interrupted)
        with pytest.raises(Interrupted) as raised:
            AirflowStack.stop(object.__new__(AirflowStack))
        assert steps == ["components stopped"]
        assert raised.value.args == (signal.SIGINT,)  # the first one, after the clean-up
        assert signal.getsignal(signal.SIGTERM) is interrupted  # handlers are given back
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
