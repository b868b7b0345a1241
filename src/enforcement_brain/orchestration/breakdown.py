"""Where each task's time went: fixed cost (slot, process, attach) apart from data cost.

Why: a day's wall time is mostly fixed cost per task at small scales and data cost at large
ones; tuning either needs them apart. Three records are joined per task:

- ``ops.run_log``: each task writes its phases there (waiting for a slot, process start and
  imports, the Spark attach, the job), and its Spark Connect session id;
- the Spark Connect server's own job list (its UI's REST API): the Spark jobs of each session,
  their count and their time;
- the tables' Delta logs: every commit carries its task's label as user metadata.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import statistics
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from enforcement_brain.settings import Settings

#: The Spark Connect server's log line naming its UI port.
_UI_PORT = re.compile(r"started service 'SparkUI' on port (\d+)")
#: The job tag Spark Connect puts on every job of a session's operation.
_SESSION_TAG = re.compile(r"_Session_([0-9a-f-]{36})_")
PHASES = ("wait_seconds", "startup_seconds", "attach_seconds", "run_seconds")


@dataclass(frozen=True)
class TaskCost:
    dag_id: str
    task: str
    wait_seconds: float | None
    startup_seconds: float | None
    attach_seconds: float | None
    run_seconds: float | None
    spark_jobs: int | None
    spark_job_seconds: float | None
    delta_commits: int

    @property
    def kind(self) -> str:
        """ingest, validate, publish or share: the DAG family."""
        return self.dag_id.split("_", 1)[0]


def ui_url(settings: Settings) -> str | None:
    """The Connect server's UI, from its log (Spark takes the next free port after 4040)."""
    log = settings.run_dir / "spark-connect.log"
    if not log.is_file():
        return None
    ports = _UI_PORT.findall(log.read_text(encoding="utf-8", errors="replace"))
    return f"http://127.0.0.1:{ports[-1]}" if ports else None


def jobs_by_session(url: str) -> dict[str, tuple[int, float]]:
    """Per Connect session id: (Spark jobs, their summed seconds), from the UI's REST API."""

    def get(path: str) -> Any:
        with urllib.request.urlopen(f"{url}/api/v1{path}", timeout=10) as response:
            return json.load(response)

    out: dict[str, list[float]] = defaultdict(list)
    for app in get("/applications"):
        for job in get(f"/applications/{app['id']}/jobs"):
            tags = " ".join(job.get("jobTags") or [])
            found = _SESSION_TAG.search(tags)
            if not found or not job.get("completionTime"):
                continue
            begun = _when(job["submissionTime"])
            ended = _when(job["completionTime"])
            out[found.group(1)].append((ended - begun).total_seconds())
    return {sid: (len(v), round(sum(v), 3)) for sid, v in out.items()}


def _when(text: str) -> dt.datetime:
    return dt.datetime.strptime(text.replace("GMT", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")


def commits_by_label(settings: Settings, since: dt.datetime | None = None) -> Counter[str]:
    """Delta commits per task label (``commitInfo.userMetadata``), over every lake table.

    Only commit files written from ``since`` on are read: the commits of the run, not the whole
    history of every table."""
    counts: Counter[str] = Counter()
    if not settings.lake_is_local:
        return counts
    floor = since.timestamp() if since else 0.0
    for log in settings.local_lake.glob("*/*/_delta_log/*.json"):
        if log.stat().st_mtime < floor:
            continue
        for line in log.read_text(encoding="utf-8").splitlines():
            if '"commitInfo"' in line:
                info = json.loads(line)["commitInfo"]
                if info.get("userMetadata"):  # the label first; silver adds its batch after
                    counts[info["userMetadata"].split(" ", 1)[0]] += 1
    return counts


def task_costs(
    settings: Settings, day: dt.date, waits: dict[str, float | None] | None = None
) -> list[TaskCost]:
    """One row per task execution of ``day`` that recorded its phases.

    ``waits``: per DAG id, the slot wait Airflow measured (the task cannot see its own queueing
    from inside); it stands in where the task recorded none."""
    import pyarrow.compute as pc

    from enforcement_brain.lake import tables

    runs = tables.read_rows(settings, "ops", "run_log", pc.field("delivery_date") == day)
    url = ui_url(settings)
    try:
        jobs = jobs_by_session(url) if url else {}
    except (OSError, ValueError, KeyError):  # the server is gone or answers oddly: the phases
        jobs = {}  # and commits still tell most of it
    starts = [r["started_at"] for r in runs if r.get("started_at")]
    commits = commits_by_label(settings, min(starts) if starts else None)
    out = []
    for run in runs:
        try:
            detail = json.loads(run["detail"] or "")
        except ValueError:
            continue
        if not isinstance(detail, dict) or "timings" not in detail:
            continue
        timings = dict(detail["timings"])
        if timings.get("wait_seconds") is None and waits:
            timings["wait_seconds"] = waits.get(run["dag_id"])
        n_jobs, job_seconds = jobs.get(detail.get("spark_session") or "", (None, None))
        label = f"{run['dag_id']}:{run['task']}:{day}"
        out.append(
            TaskCost(
                run["dag_id"],
                run["task"],
                *[timings.get(p) for p in PHASES],
                n_jobs,
                job_seconds,
                commits.get(label, 0),
            )
        )
    return out


def summarise(costs: list[TaskCost]) -> dict[str, dict[str, float]]:
    """Per DAG family: tasks, and the median of each phase, Spark jobs and commits per task."""
    by_kind: dict[str, list[TaskCost]] = defaultdict(list)
    for cost in costs:
        by_kind[cost.kind].append(cost)
    out = {}
    for kind, group in sorted(by_kind.items()):
        row: dict[str, float] = {"tasks": len(group)}
        for name in (*PHASES, "spark_jobs", "spark_job_seconds", "delta_commits"):
            values = [getattr(c, name) for c in group if getattr(c, name) is not None]
            if values:
                row[name] = round(statistics.median(values), 2)
        out[kind] = row
    return out


@dataclass(frozen=True)
class CpuSample:
    """Cumulative CPU seconds at one moment: the whole machine's busy time and the Spark
    Connect server's process tree (its JVM)."""

    at: float
    machine_busy: float
    spark_server: float
    #: Of ``spark_server``: its JVM's JIT compiler threads, and its garbage collector's.
    spark_server_jit: float = 0.0
    spark_server_gc: float = 0.0


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores) since boot: user, nice,
    system and interrupts; not idle, I/O wait or time the hypervisor stole."""
    import psutil

    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0)


def process_tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its children (the JVM under ``spark-submit``, the
    sharing service's workers); 0 for a process that is gone."""
    import psutil

    total = 0.0
    try:
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):  # a child that ended meanwhile
                t = proc.cpu_times()
                total += t.user + t.system
    except psutil.Error:
        pass
    return total


#: JVM thread names (``/proc/<pid>/task/<tid>/comm``, cut to 15 bytes) by what they spend CPU on.
JVM_THREAD_KINDS = {"C1 CompilerThre": "jit", "C2 CompilerThre": "jit", "GC Thread#": "gc"}


def jvm_thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of a process tree's JVM threads by kind (``jit``, ``gc``), from Linux's
    per-thread counters. Why: a JVM that lives for a day of small jobs spends much of its CPU
    compiling its own code rather than on the data; this says how much. A compiler or collector
    thread lives as long as its JVM, so its counter is whole; {} off Linux."""
    import psutil

    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    out = {"jit": 0.0, "gc": 0.0}
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return out
    for proc in procs:
        tasks = Path(f"/proc/{proc.pid}/task")
        with contextlib.suppress(OSError):
            for task in tasks.iterdir():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    name = (task / "comm").read_text().rstrip("\n")
                    kind = next(
                        (k for p, k in JVM_THREAD_KINDS.items() if name.startswith(p)), None
                    )
                    if kind is None:
                        continue
                    # fields after the ")" that closes the name: utime and stime are 12th, 13th
                    fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                    out[kind] += (int(fields[11]) + int(fields[12])) / ticks
    return out


def cpu_sample(server_pid: int | None) -> CpuSample:
    """Read the counters now. Why: at small scales the day is bound by CPU, not by data or
    waiting; how busy the cores were, and how much of it was the JVM (and of that, its JIT
    compiler and its collector), says which."""
    if server_pid is None:
        return CpuSample(time.monotonic(), machine_busy_seconds(), 0.0)
    threads = jvm_thread_cpu(server_pid)
    server = process_tree_cpu(server_pid)
    return CpuSample(
        time.monotonic(), machine_busy_seconds(), server, threads["jit"], threads["gc"]
    )


def cpu_use(before: CpuSample, after: CpuSample) -> dict[str, float]:
    """CPU seconds spent between two samples, and what the cores could have given."""
    wall = after.at - before.at
    cores = os.cpu_count() or 1
    machine = after.machine_busy - before.machine_busy
    server = after.spark_server - before.spark_server
    return {
        "wall_seconds": round(wall, 1),
        "cores": cores,
        "machine_cpu_seconds": round(machine, 1),
        "spark_server_cpu_seconds": round(server, 1),
        "spark_server_jit_seconds": round(after.spark_server_jit - before.spark_server_jit, 1),
        "spark_server_gc_seconds": round(after.spark_server_gc - before.spark_server_gc, 1),
        "busy_share": round(machine / (wall * cores), 3) if wall > 0 else 0.0,
    }


def describe_cpu(cpu: dict[str, float]) -> str:
    """One line for people: the cores' busy share over the DAG runs and the JVM's part."""
    return (
        f"CPU during the DAG runs: {cpu['machine_cpu_seconds']:.0f} of "
        f"{cpu['wall_seconds'] * cpu['cores']:.0f} core-seconds busy ({cpu['busy_share']:.0%}); "
        f"the Spark Connect server's JVM {cpu['spark_server_cpu_seconds']:.0f} of them"
        + (
            f" (its JIT compiler {cpu['spark_server_jit_seconds']:.0f}, "
            f"its collector {cpu['spark_server_gc_seconds']:.0f})"
            if "spark_server_jit_seconds" in cpu
            else ""
        )
    )
