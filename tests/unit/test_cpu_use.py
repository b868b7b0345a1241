"""The day's CPU account: how busy the cores were during the DAG runs, and the JVM's share."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

from enforcement_brain.orchestration.breakdown import (
    CpuSample,
    cpu_sample,
    cpu_use,
    jvm_thread_cpu,
)


def test_cpu_use_is_the_difference_of_two_samples_against_what_the_cores_could_give():
    before = CpuSample(10.0, 100.0, 40.0, 3.0, 1.0)
    after = CpuSample(20.0, 112.0, 49.0, 5.5, 1.25)
    use = cpu_use(before, after)
    cores = os.cpu_count() or 1
    assert use == {
        "wall_seconds": 10.0,
        "cores": cores,
        "machine_cpu_seconds": 12.0,
        "spark_server_cpu_seconds": 9.0,
        "spark_server_jit_seconds": 2.5,
        "spark_server_gc_seconds": 0.2,
        "busy_share": round(12.0 / (10.0 * cores), 3),
    }


def test_a_process_tree_is_charged_with_its_childrens_cpu(tmp_path):
    """A busy child of the sampled process counts, as the JVM under spark-submit does.

    The child burns a fixed amount of its own CPU time between two files, so the figure does
    not depend on how many other processes share the cores.
    """
    go, done = tmp_path / "go", tmp_path / "done"
    burn = (
        "import os, time\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.01)\n"
        "t = time.process_time()\n"
        "while time.process_time() - t < 1.0: pass\n"
        f"open({str(done)!r}, 'w').close()\n"
        "time.sleep(60)\n"
    )
    parent_code = f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', {burn!r}])"
    with _running(parent_code) as parent:
        _wait_until(lambda: len(_children(parent.pid)) > 0)
        start = cpu_sample(parent.pid)
        go.touch()
        _wait_until(done.exists)
        end = cpu_sample(parent.pid)
    assert done.exists()
    assert end.spark_server - start.spark_server >= 0.9  # the child's CPU, not the parent's
    assert end.machine_busy - start.machine_busy >= 0.9
    assert cpu_sample(None).spark_server == 0.0


def test_a_jvms_compiler_threads_are_counted_by_their_names(tmp_path):
    """A thread named as HotSpot names its C2 compiler burns 1 s of its own CPU; the account
    charges it to the JIT, and the process's other busy thread to neither kind."""
    done = tmp_path / "done"
    code = (
        "import ctypes, threading, time\n"
        "burnt = threading.Barrier(3)\n"
        "def burn(name):\n"
        "    ctypes.CDLL(None).prctl(15, name, 0, 0, 0)\n"
        "    t = time.thread_time()\n"
        "    while time.thread_time() - t < 1.0: pass\n"
        "    burnt.wait()\n"
        "    time.sleep(60)\n"  # alive, as a JVM's compiler thread is, while it is sampled
        "for n in (b'C2 CompilerThre', b'worker'):\n"
        "    threading.Thread(target=burn, args=(n,), daemon=True).start()\n"
        "burnt.wait()\n"
        f"open({str(done)!r}, 'w').close()\n"
        "time.sleep(60)\n"
    )
    with _running(code) as proc:
        _wait_until(done.exists)
        threads = jvm_thread_cpu(proc.pid)
    assert done.exists()
    assert 0.9 <= threads["jit"] < 1.5
    assert threads["gc"] == 0.0
    assert jvm_thread_cpu(proc.pid) == {"jit": 0.0, "gc": 0.0}


@contextlib.contextmanager
def _running(code: str) -> Iterator[subprocess.Popen]:
    """A Python process running ``code`` in a session of its own, killed with its children."""
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _wait_until(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


def _children(pid: int) -> list[str]:
    path = f"/proc/{pid}/task/{pid}/children"
    return open(path).read().split() if os.path.exists(path) else []
