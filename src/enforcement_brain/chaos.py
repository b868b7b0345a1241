"""Chaos: SIGKILL the pipeline's writers at random moments, rerun, and compare with a clean run.

The platform promises exact accounting: whatever dies, a rerun (or Airflow's retry) ends in the
lake a run that never died would have left. This module holds what proves it, for the benchmark
(``benchmarks/chaos.py``) and the sample in the test suite (``tests/e2e/test_chaos_sample.py``):

- **probes** of a local Delta table read from its folder (commits, data files, the files no
  commit references yet), cheap enough to poll every few milliseconds;
- a **target catalogue** (:data:`TARGETS`): per target the step that exercises it, the moment
  that opens its window (a write's uncommitted files appear, a commit of some operation lands,
  a process with some command line exists), the longest random delay after that moment, and
  which process dies (the step's own process group, the Spark Connect server, an Airflow task
  process, the Airflow scheduler);
- the **driver** (:class:`ChaosRun`): a seeded RNG picks the targets and the delays; a killed
  step is rerun until one attempt completes;
- the **comparison** (:func:`compare_lakes`) of every table of the killed lake with the reference
  lake, run stamps excluded: rows lost or extra, duplicate declared keys, the latest ledger,
  batch-log and publish-log rows exact, and every version of every gold and share table passing
  its dataset's gate (:func:`enforcement_brain.gold.publish.evaluate_gate`).

The reference lake is built once per plan and reused for every kill cycle.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from enforcement_brain.lake.tables import RUN_STAMP_COLUMNS
from enforcement_brain.settings import REPO_ROOT, Settings, load_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from enforcement_brain.declarations import Catalog

# --------------------------------------------------------------------------------------------
# Probes of a local Delta table


def commits(table: Path) -> int:
    """Commit files in the table's log (0 for a table not created yet)."""
    return len(list((table / "_delta_log").glob("*.json")))


def data_files(table: Path) -> set[str]:
    """Parquet data files on disk, relative to the table, committed or not."""
    files = table.rglob("*.parquet")
    return {str(p.relative_to(table)) for p in files if "_delta_log" not in p.parts}


def referenced(table: Path) -> set[str]:
    """Data files the table's current version references (relative paths)."""
    from deltalake import DeltaTable

    if commits(table) == 0:
        return set()
    prefix = table.as_uri().removeprefix("file://")
    uris = DeltaTable(str(table)).file_uris()
    return {
        urllib.parse.unquote(u.removeprefix("file://")).removeprefix(prefix + "/") for u in uris
    }


def commit_operations(table: Path, after: int = 0) -> list[str]:
    """The ``commitInfo.operation`` of each commit from version ``after`` on, in order."""
    out = []
    log = table / "_delta_log"
    for path in sorted(log.glob("*.json")):
        if not path.stem.isdigit() or int(path.stem) < after:
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if '"commitInfo"' in line:
                out.append(str(json.loads(line)["commitInfo"].get("operation", "")))
                break
    return out


# --------------------------------------------------------------------------------------------
# Moments: what opens a target's window


@dataclass
class Baseline:
    """What a table looked like when the step's process started."""

    commits: int
    files: set[str]


@dataclass(frozen=True)
class Uncommitted:
    """A write of ``layer.table`` is under way: data files that were not on disk when the step
    started and that no commit references yet (the writer is between its files and its
    commit)."""

    layer: str
    table: str

    def baseline(self, lake: Path) -> Baseline:
        path = lake / self.layer / self.table
        return Baseline(commits(path), data_files(path))

    def reached(self, lake: Path, base: Baseline) -> bool:
        path = lake / self.layer / self.table
        if not path.exists():
            return False
        new = data_files(path) - base.files
        return bool(new) and bool(new - referenced(path))

    def describe(self) -> str:
        return f"uncommitted data files in {self.layer}.{self.table}"


@dataclass(frozen=True)
class CommitLanded:
    """A commit of one of ``operations`` landed in ``layer.table`` since the step started: the
    window is what the step does next (the ledger after silver, VACUUM after OPTIMIZE)."""

    layer: str
    table: str
    operations: tuple[str, ...]

    def baseline(self, lake: Path) -> Baseline:
        return Baseline(commits(lake / self.layer / self.table), set())

    def reached(self, lake: Path, base: Baseline) -> bool:
        path = lake / self.layer / self.table
        if commits(path) <= base.commits:
            return False
        return any(op in self.operations for op in commit_operations(path, base.commits))

    def describe(self) -> str:
        return f"a {'/'.join(self.operations)} commit of {self.layer}.{self.table} landed"


@dataclass(frozen=True)
class ProcessUp:
    """A process whose command line holds ``marker`` (and whose environment names the run's
    ``EB_VAR_DIR``) exists: an Airflow task's process, the scheduler."""

    marker: str
    #: Text that disqualifies a match (the executor's own workers share the task's prefix).
    exclude: str = ""

    def baseline(self, lake: Path) -> Baseline:
        return Baseline(0, set())

    def reached(self, lake: Path, base: Baseline) -> bool:
        return bool(self.pids(lake.parent))

    def pids(self, var: Path) -> list[int]:
        """The matching processes of the run of ``var``, oldest (lowest pid) first."""
        found = processes_with(self.marker, str(var), self.exclude)
        return sorted(found)

    def describe(self) -> str:
        return f"a process running {self.marker!r}"


Moment = Uncommitted | CommitLanded | ProcessUp


def _parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def processes_with(marker: str, var_dir: str, exclude: str = "") -> list[int]:
    """Pids whose command line holds ``marker`` and that belong to the run of ``var_dir``: their
    environment names it, or an ancestor's does (a process that retitles itself, as Airflow's
    task processes do, overwrites the memory its environment is read from)."""
    own: set[int] = set()
    matching: list[int] = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if var_dir.encode() in (proc / "environ").read_bytes():
                own.add(int(proc.name))
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
            if marker.encode() in cmdline and not (exclude and exclude.encode() in cmdline):
                matching.append(int(proc.name))
        except OSError:
            continue
    found = []
    for pid in matching:
        ancestor = pid
        with contextlib.suppress(OSError, ValueError, IndexError):
            while ancestor > 1 and ancestor not in own:
                ancestor = _parent(ancestor)
        if ancestor in own:
            found.append(pid)
    return found


# --------------------------------------------------------------------------------------------
# The plan of a day and the target catalogue


@dataclass(frozen=True)
class Step:
    """One job of the day's plan, run as ``python -m jobs.<job> --<flag> <subject>``."""

    name: str
    job: str
    flag: str
    subject: str

    def argv(self, day: dt.date, run_id: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            f"jobs.{self.job}",
            f"--{self.flag}",
            self.subject,
            "--date",
            day.isoformat(),
            "--run-id",
            run_id,
        ]

    def run_here(self, settings: Settings, catalog: Catalog, day: dt.date, run_id: str) -> None:
        """Run the job in this process (its local Spark session): the reference run and the
        rerun that completes a killed step."""
        import importlib

        from enforcement_brain.orchestration.runtime import JobContext

        module = importlib.import_module(f"jobs.{self.job}")
        module.run(JobContext(settings, catalog), self.subject, day, run_id)


#: The plan: one source, the dataset it drives, an interface sharing it, then maintenance.
SOURCE, DATASET, INTERFACE = "wim_weighings", "overload_alerts", "city_overload_platform"
PLAN = (
    Step("load", "load_source", "source", SOURCE),
    Step("publish", "publish_dataset", "dataset", DATASET),
    Step("project", "project_interface", "interface", INTERFACE),
    # The tables OPTIMIZE and VACUUM are killed on, and the dataset's: every table of the lake
    # would cost a minute of Spark commands per cycle for nothing the targets need.
    Step("maintain", "maintain_tables", "tables", f"bronze.{SOURCE},gold.{DATASET}"),
)
STEPS = {s.name: s for s in PLAN}


@dataclass(frozen=True)
class Target:
    """One thing to kill: the step that exercises it, the moment its window opens, the longest
    random delay after that moment, and the victim (``job``: the step's process group, which
    holds its Spark JVM; ``server``: the Spark Connect server the step is attached to;
    ``airflow-task`` / ``scheduler``: a process of ``eb run``'s Airflow stack)."""

    name: str
    step: str
    moment: Moment
    max_delay: float
    victim: str = "job"


SHARE_TABLE = f"{INTERFACE}__{DATASET}"
SCHEDULER_MARKER = "enforcement_brain.orchestration.scheduler"
TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("bronze write", "load", Uncommitted("bronze", SOURCE), 0.2),
        Target("quarantine replace", "load", Uncommitted("quarantine", SOURCE), 0.2),
        Target("silver MERGE", "load", Uncommitted("silver", SOURCE), 0.2),
        Target("ledger append", "load", CommitLanded("silver", SOURCE, ("WRITE", "MERGE")), 0.5),
        Target("publish", "publish", Uncommitted("gold", DATASET), 0.2),
        Target("share projection", "project", Uncommitted("share", SHARE_TABLE), 0.2),
        Target("OPTIMIZE", "maintain", Uncommitted("bronze", SOURCE), 0.2),
        Target("VACUUM", "maintain", CommitLanded("bronze", SOURCE, ("OPTIMIZE",)), 1.0),
        # Bronze is rewritten by every attempt (silver only by one that finds new rows).
        Target("Spark Connect server", "load", Uncommitted("bronze", SOURCE), 0.5, "server"),
        # A task process retitles itself "airflow worker -- <task instance id>", the executor's
        # workers "airflow worker -- LocalExecutor: ..."; the scheduler is started as
        # ``python -m enforcement_brain.orchestration.scheduler``.
        Target(
            "Airflow task process",
            "airflow",
            ProcessUp("airflow worker -- ", exclude="LocalExecutor"),
            5.0,
            "task",
        ),
        Target("scheduler", "airflow", ProcessUp(SCHEDULER_MARKER), 30.0, "scheduler"),
    )
}
#: Targets killed inside the job plan (one JVM per killed step); the other two need ``eb run``.
JOB_TARGETS = tuple(n for n, t in TARGETS.items() if t.step != "airflow")
AIRFLOW_TARGETS = tuple(n for n, t in TARGETS.items() if t.step == "airflow")


# --------------------------------------------------------------------------------------------
# Settings and processes


def chaos_env(var: Path, **extra: str) -> dict[str, str]:
    """The environment of a chaos lake's processes: local[2], 2 shuffle partitions, maintenance
    compacting from 2 files (so OPTIMIZE has work on a small day)."""
    env = {k: v for k, v in os.environ.items() if k not in ("EB_SPARK_REMOTE", "AIRFLOW_HOME")}
    env.update(
        {
            "EB_HOME": str(REPO_ROOT),
            "EB_VAR_DIR": str(var),
            "EB_SPARK_MASTER": "local[2]",
            "EB_SPARK_DRIVER_MEMORY": "2g",
            "EB_SPARK_SHUFFLE_PARTITIONS": "2",
            "EB_MAINTENANCE_MIN_FILES": "2",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    return env


def chaos_settings(var: Path, **extra: str) -> Settings:
    return load_settings(chaos_env(var, **extra))


def kill_group(pid: int) -> None:
    """SIGKILL the process group led by ``pid`` (the process and the JVM it started)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


# --------------------------------------------------------------------------------------------
# Outcomes


@dataclass
class Kill:
    """One kill and what came of it."""

    target: str
    day: str
    delay: float
    #: Whether the window still held when the signal went (e.g. the files still uncommitted).
    in_window: bool | None = None
    #: ``killed``; ``finished first`` when the step ended before its moment or delay.
    result: str = "killed"
    seconds: float = 0.0
    #: ``recovered exact`` or ``mismatch``, set by the comparison of the kill's cycle.
    outcome: str = ""
    details: list[str] = field(default_factory=list)


@dataclass
class Mismatch:
    table: str
    detail: str


# --------------------------------------------------------------------------------------------
# The driver


class ChaosRun:
    """Kill cycles on one plan: a reference lake made once, a fresh killed lake per cycle."""

    def __init__(
        self,
        root: Path,
        days: Sequence[dt.date],
        *,
        scale: float,
        seed: int,
        log: Callable[[str], None] = print,
    ) -> None:
        self.root, self.days, self.scale, self.seed = root, list(days), scale, seed
        self.rng = random.Random(seed)
        self.log = log
        self.reference = root / "reference"
        self._spark: SparkSession | None = None

    # -- lakes ---------------------------------------------------------------------------

    @property
    def spark(self) -> SparkSession:
        from enforcement_brain.spark.session import get_spark

        if self._spark is None:
            self._spark = get_spark(chaos_settings(self.reference))
        return self._spark

    def catalog(self, settings: Settings) -> Catalog:
        from enforcement_brain.declarations import load_catalog

        return load_catalog(settings.standards_dir)

    def generate(self, var: Path) -> None:
        from enforcement_brain.generate.day import generate_day

        for day in self.days:
            generate_day(chaos_settings(var), day, scale=self.scale, seed=self.seed)

    def build_reference(self) -> Path:
        """The unkilled run of the plan, once (reused for every cycle)."""
        if (self.reference / "lake" / "ops" / "batch_log").exists():
            return self.reference
        self.generate(self.reference)
        settings = chaos_settings(self.reference)
        catalog = self.catalog(settings)
        for day in self.days:
            for step in PLAN:
                step.run_here(settings, catalog, day, run_id(day))
        return self.reference

    # -- one kill --------------------------------------------------------------------------

    def kill_once(self, var: Path, target: Target, day: dt.date, timeout: float = 900) -> Kill:
        """Start the target's step as its own process; once its moment comes, wait a random
        delay, then SIGKILL the victim. The step is not completed here (see :meth:`cycle`)."""
        lake = var / "lake"
        delay = round(self.rng.uniform(0, target.max_delay), 3)
        kill = Kill(target.name, day.isoformat(), delay)
        extra: dict[str, str] = {}
        server_pid = None
        settings = chaos_settings(var)
        if target.victim == "server":
            from enforcement_brain.spark import server

            port = _free_port()
            extra = {"EB_SPARK_CONNECT_PORT": str(port)}
            settings = chaos_settings(var, **extra)
            server_pid = server.start(settings, timeout=600).pid
            extra["EB_SPARK_REMOTE"] = f"sc://localhost:{port}"
        step = STEPS[target.step]
        base = target.moment.baseline(lake)
        started = time.monotonic()
        proc = subprocess.Popen(
            step.argv(day, run_id(day)),
            env=chaos_env(var, **extra),
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = started + timeout
            while time.monotonic() < deadline and proc.poll() is None:
                if target.moment.reached(lake, base):
                    break
                time.sleep(0.005)
            if proc.poll() is not None:
                kill.result, kill.in_window = "finished first", False
            else:
                time.sleep(delay)
                kill.in_window = target.moment.reached(lake, base)
                kill_group(server_pid if server_pid is not None else proc.pid)
        finally:
            kill_group(proc.pid)
            proc.wait()
            if server_pid is not None:
                kill_group(server_pid)
                from enforcement_brain.spark import server

                server.stop(settings)
        kill.seconds = round(time.monotonic() - started, 2)
        return kill

    # -- a cycle ---------------------------------------------------------------------------

    def cycle(self, index: int, targets: Sequence[str]) -> list[Kill]:
        """One pass of the plan over the days in a fresh lake, killing each of ``targets`` once
        at the step that exercises it, then completing the step; then the comparison."""
        var = self.root / f"cycle-{index:03d}"
        if var.exists():
            import shutil

            shutil.rmtree(var)
        self.generate(var)
        settings = chaos_settings(var)
        catalog = self.catalog(settings)
        day_of = {t: self.rng.choice(self.days) for t in targets}
        kills: list[Kill] = []
        for day in self.days:
            for step in PLAN:
                here = [TARGETS[t] for t in targets if TARGETS[t].step == step.name]
                here = [t for t in here if day_of[t.name] == day]
                for target in sorted(here, key=_stage):
                    kill = self.kill_once(var, target, day)
                    self.log(
                        f"cycle {index}: {target.name} on {day}: {kill.result} after "
                        f"{kill.seconds} s (delay {kill.delay} s, in window: {kill.in_window})"
                    )
                    kills.append(kill)
                step.run_here(settings, catalog, day, run_id(day))  # the rerun that completes
        found = compare_lakes(self.spark, catalog, self.reference, var)
        for kill in kills:
            kill.outcome = "mismatch" if found else "recovered exact"
            kill.details = [f"{m.table}: {m.detail}" for m in found]
        return kills

    def retry_missed(self, kills: Sequence[Kill], index: int, attempts: int = 3) -> list[Kill]:
        """Kill again, in a cycle of its own, the target of every job kill that missed: the
        step ended before its moment came, or a write committed during the random delay.

        A miss is a fact of racing a live process, not a fault of the platform, and its lake is
        compared all the same. But a miss also changes what the next target of its cycle meets
        (a silver MERGE that committed before the signal leaves the ledger-append attempt no
        silver commit to wait for), so the retry runs the target alone. Returns the new kills
        (cycles ``index``, ``index + 1``, ...), at most ``attempts`` per missed kill."""
        extra: list[Kill] = []
        for kill in kills:
            if kill.target not in JOB_TARGETS or landed(kill):
                continue
            for _ in range(attempts):
                got = self.cycle(index, [kill.target])
                index += 1
                extra += got
                if any(landed(k) for k in got):
                    break
        return extra

    # -- the Airflow targets: ``eb run`` with its stack -------------------------------------

    def eb_run(self, var: Path, day: dt.date) -> subprocess.Popen:
        """``eb run`` of ``day`` for the plan's source, on ports of its own, in its own session."""
        env = chaos_env(
            var,
            EB_SOURCES=SOURCE,
            EB_SCALE=str(self.scale),
            EB_SEED=str(self.seed),
            EB_SPARK_CONNECT_PORT=str(_free_port()),
            EB_AIRFLOW_PORT=str(_free_port()),
        )
        cmd = [sys.executable, "-m", "enforcement_brain.cli", "run", "--date", day.isoformat()]
        with (var / "eb-run.log").open("ab") as out:
            return subprocess.Popen(
                cmd,
                env=env,
                cwd=REPO_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def finish_eb_run(self, var: Path, proc: subprocess.Popen, timeout: float) -> int:
        """Wait for ``eb run``; one that does not end in time is killed with its stack. The
        Connect server it leaves running (and anything else started for ``var``) is then
        stopped: the next cycle is a lake of its own."""
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc.pid)
            proc.wait()
            code = -9
        for pid in processes_with("", str(var)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return code

    def build_airflow_reference(self) -> Path:
        """The unkilled ``eb run`` of the days (the Airflow targets' reference), once."""
        ref = self.root / "reference-airflow"
        if (ref / "lake" / "ops" / "batch_log").exists():
            return ref
        ref.mkdir(parents=True, exist_ok=True)
        for day in self.days:
            if self.finish_eb_run(ref, self.eb_run(ref, day), 3600) != 0:
                raise RuntimeError(f"the reference eb run of {day} failed: see {ref}/eb-run.log")
        return ref

    def airflow_cycle(self, index: int, target_name: str, timeout: float = 3600) -> Kill:
        """Kill an Airflow task process or the scheduler during ``eb run``; let Airflow retry
        (a task has one retry); if ``eb run`` still fails, run it again; then compare with the
        unkilled ``eb run``."""
        target = TARGETS[target_name]
        reference = self.build_airflow_reference()
        var = self.root / f"cycle-{index:03d}"
        if var.exists():
            import shutil

            shutil.rmtree(var)
        var.mkdir(parents=True)
        day = self.rng.choice(self.days)
        delay = round(self.rng.uniform(0, target.max_delay), 3)
        kill = Kill(target.name, day.isoformat(), delay)
        started = time.monotonic()
        for d in self.days:
            proc = self.eb_run(var, d)
            if d == day:
                while proc.poll() is None and not target.moment.reached(
                    var / "lake", Baseline(0, set())
                ):
                    time.sleep(0.05)
                if proc.poll() is not None:
                    kill.result, kill.in_window = "finished first", False
                else:
                    time.sleep(delay)
                    assert isinstance(target.moment, ProcessUp)
                    pids = target.moment.pids(var)
                    kill.in_window = bool(pids)
                    for pid in pids[:1]:  # the oldest: the scheduler, not a forked child
                        if target.victim == "scheduler":
                            kill_group(os.getpgid(pid))
                        else:
                            os.kill(pid, signal.SIGKILL)
            if self.finish_eb_run(var, proc, timeout) != 0:
                self.log(f"cycle {index}: eb run of {d} failed after the kill; running it again")
                if self.finish_eb_run(var, self.eb_run(var, d), timeout) != 0:
                    kill.outcome = "mismatch"
                    kill.details = [f"the rerun of eb run {d} failed: see {var}/eb-run.log"]
        kill.seconds = round(time.monotonic() - started, 2)
        if not kill.outcome:
            settings = chaos_settings(var)
            found = compare_lakes(self.spark, self.catalog(settings), reference, var)
            kill.outcome = "mismatch" if found else "recovered exact"
            kill.details = [f"{m.table}: {m.detail}" for m in found]
        self.log(f"cycle {index}: {target.name} on {day}: {kill.result}, {kill.outcome}")
        return kill


def landed(kill: Kill) -> bool:
    """Whether the kill landed: the signal went while its target's window held."""
    return kill.result == "killed" and bool(kill.in_window)


def run_id(day: dt.date) -> str:
    """The run id of a day's steps; a rerun keeps it, as an Airflow retry keeps its run's."""
    return f"chaos-{day.isoformat()}"


def _stage(target: Target) -> int:
    """Order of targets within one step: the order its writes happen."""
    order = list(TARGETS)
    return order.index(target.name)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def schedule(kills: int, targets: Sequence[str], rng: random.Random) -> list[list[str]]:
    """Cycles of distinct targets, every target killed ``kills / len(targets)`` times (the
    remainder drawn at random), each cycle killing a random subset of the targets at most once."""
    pool = [t for _ in range(kills // len(targets)) for t in targets]
    pool += rng.sample(list(targets), kills % len(targets))
    rng.shuffle(pool)
    cycles: list[list[str]] = []
    for name in pool:
        for cycle in cycles:
            if name not in cycle and len(cycle) < len(targets):
                cycle.append(name)
                break
        else:
            cycles.append([name])
    return cycles


# --------------------------------------------------------------------------------------------
# The comparison


@dataclass(frozen=True)
class HistoryView:
    """How a history table (``ops.*``: appended by every run) is compared: the rows that stand
    for what the run did (per ``key``, the ``first`` or the ``latest`` by ``recorded_at``, or
    every ``distinct`` row), and the columns that legitimately differ between two runs."""

    key: tuple[str, ...]
    pick: str = "latest"
    ignore: frozenset[str] = frozenset()


#: The ops tables whose rows a rerun must reproduce exactly; the other ops tables record how the
#: work was done (maintenance, task runs), which a killed run does differently by design.
HISTORY_VIEWS = {
    "dq_ledger": HistoryView(("source", "delivery_date", "rule_id")),
    # The first row of a source and day says what the run did to silver; a rerun after it
    # appends what the rerun found (N unchanged).
    "batch_log": HistoryView(("source", "delivery_date"), pick="first"),
    # The gold version a publish made differs when a killed publish had committed.
    "publish_log": HistoryView(("dataset", "delivery_date"), ignore=frozenset({"gold_version"})),
    "landing_log": HistoryView(
        ("source", "delivery_date", "file"), pick="distinct", ignore=frozenset({"landed_at"})
    ),
    "db_pulls": HistoryView(("source", "delivery_date", "window_day", "pull")),
}
NOT_COMPARED = frozenset({"ops.maintenance_log", "ops.run_log", "ops.gx_results"})


def table_rows(path: Path, var: Path, drop: Iterable[str] = ()) -> tuple[list[str], list[tuple]]:
    """Columns and rows of a table read with delta-rs, run stamps and ``drop`` left out, values
    as text with the lake's own folder written ``<var>`` (bronze names its source files)."""
    from deltalake import DeltaTable

    data = DeltaTable(str(path)).to_pyarrow_table()
    skip = set(RUN_STAMP_COLUMNS) | set(drop)
    keep = [c for c in data.column_names if c not in skip]
    rows = [
        tuple(repr(v).replace(str(var), "<var>") for v in r.values())
        for r in data.select(keep).to_pylist()
    ]
    return keep, rows


def _history_rows(path: Path, var: Path, view: HistoryView) -> list[tuple]:
    """The rows of a history table that stand for the current truth (see :class:`HistoryView`),
    run stamps and the view's ignored columns left out, sorted."""
    from deltalake import DeltaTable

    data = DeltaTable(str(path)).to_pyarrow_table().to_pylist()
    if view.pick != "distinct" and data and "recorded_at" in data[0]:
        best = max if view.pick == "latest" else min
        chosen: dict[tuple, Any] = {}
        for row in data:
            k = tuple(row.get(c) for c in view.key)
            chosen[k] = best(chosen.get(k, row["recorded_at"]), row["recorded_at"])
        data = [r for r in data if r["recorded_at"] == chosen[tuple(r.get(c) for c in view.key)]]
    skip = set(RUN_STAMP_COLUMNS) | view.ignore
    rows = [
        tuple(repr(v).replace(str(var), "<var>") for k, v in sorted(r.items()) if k not in skip)
        for r in data
    ]
    return sorted(set(rows)) if view.pick == "distinct" else sorted(rows)


def declared_key(catalog: Catalog, layer: str, table: str, columns: list[str]) -> list[str]:
    """The key no two rows of the table may share: a source's business key in silver, the
    source line in bronze and quarantine, a dataset's business key in gold and share (with the
    recipient of a recipients' table). Empty when the table declares none."""
    from enforcement_brain.share.project import RECIPIENT

    if layer == "silver" and table in catalog.sources:
        key = list(catalog.sources[table].business_key)
    elif layer in ("bronze", "quarantine"):
        key = ["_source_file", "_source_line"]
    elif layer == "gold" and table in catalog.datasets:
        key = list(catalog.datasets[table].business_key)
    elif layer == "share" and "__" in table:
        dataset = catalog.datasets.get(table.split("__", 1)[1])
        key = list(dataset.business_key) if dataset else []
        if RECIPIENT in columns:
            key.append(RECIPIENT)
    else:
        key = []
    return key if key and all(k in columns for k in key) else []


def compare_lakes(
    spark: SparkSession | None, catalog: Catalog, reference: Path, killed: Path
) -> list[Mismatch]:
    """Every table of ``killed`` against ``reference``: the same tables; per data table the
    same rows (a multiset, run stamps excluded) and no duplicate declared key; per compared
    history table the same current rows; every version of every gold and share table passing
    its dataset's gate. An empty list is an exact recovery."""
    found: list[Mismatch] = []
    names = {}
    for var in (reference, killed):
        for layer_dir in sorted((var / "lake").iterdir()):
            if layer_dir.name == "landing" or not layer_dir.is_dir():
                continue
            for t in layer_dir.iterdir():
                if (t / "_delta_log").is_dir() and commits(t):
                    names.setdefault(f"{layer_dir.name}.{t.name}", set()).add(var)
    for name in sorted(names):
        if name in NOT_COMPARED:
            continue
        layer, table = name.split(".", 1)
        if names[name] != {reference, killed}:
            where = "killed lake only" if reference not in names[name] else "reference only"
            found.append(Mismatch(name, f"table in the {where}"))
            continue
        ref_path, got_path = (v / "lake" / layer / table for v in (reference, killed))
        if layer == "ops":
            view = HISTORY_VIEWS.get(table)
            if view is None:
                continue
            want, got = (
                _history_rows(ref_path, reference, view),
                _history_rows(got_path, killed, view),
            )
            if want != got:
                found.append(Mismatch(name, _diff(want, got)))
            continue
        columns, want = table_rows(ref_path, reference)
        got_columns, got = table_rows(got_path, killed)
        if columns != got_columns:
            found.append(Mismatch(name, f"columns {got_columns} != {columns}"))
            continue
        if Counter(want) != Counter(got):
            found.append(Mismatch(name, _diff(want, got)))
        key = declared_key(catalog, layer, table, columns)
        if key:
            at = [columns.index(k) for k in key]
            keys = Counter(tuple(r[i] for i in at) for r in got)
            doubled = sum(n - 1 for n in keys.values() if n > 1)
            if doubled:
                found.append(Mismatch(name, f"{doubled} duplicate key(s) {key}"))
        if layer in ("gold", "share"):
            if spark is None:
                raise ValueError("comparing gold and share tables needs a Spark session")
            found += gate_failures(spark, catalog, layer, table, got_path)
    return found


def _diff(want: list[tuple], got: list[tuple]) -> str:
    w, g = Counter(want), Counter(got)
    lost, extra = w - g, g - w
    sample = next(iter(lost or extra), ())
    return (
        f"{sum(lost.values())} row(s) lost, {sum(extra.values())} extra "
        f"(of {len(want)}); e.g. {str(sample)[:300]}"
    )


def gate_failures(
    spark: SparkSession, catalog: Catalog, layer: str, table: str, path: Path
) -> list[Mismatch]:
    """Every version of a gold or share table evaluated with its dataset's gate. A share table
    is held to the gate checks it can be: those over columns it shares unmasked."""
    import re

    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F

    from enforcement_brain.gold.publish import evaluate_gate

    dataset_id = table if layer == "gold" else table.split("__", 1)[-1]
    dataset = catalog.datasets.get(dataset_id)
    if dataset is None or not dataset.gate:
        return []
    uri = path.as_uri()
    found = []
    latest = commits(path) - 1
    for version in range(latest + 1):
        df = spark.read.format("delta").option("versionAsOf", version).load(uri)
        checks = dataset.gate
        if layer == "share":
            masked = _masked_columns(catalog, table)
            usable = []
            for check in checks:
                words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", check.expr))
                if words & masked:
                    continue
                try:
                    df.select(F.expr(check.expr)).schema  # noqa: B018 (resolves the columns)
                except AnalysisException:
                    continue
                usable.append(check)
            checks = tuple(usable)
        if not checks:
            continue
        failing = evaluate_gate(df, dataclasses.replace(dataset, gate=checks))
        bad = {k: v for k, v in failing.items() if v}
        if bad:
            found.append(Mismatch(f"{layer}.{table}", f"version {version} fails its gate {bad}"))
    return found


def _masked_columns(catalog: Catalog, table: str) -> set[str]:
    family, dataset_id = table.split("__", 1)
    out: set[str] = set()
    for interface in catalog.interfaces.values():
        if (interface.family or interface.id) != family:
            continue
        for entry in interface.datasets:
            if entry.dataset == dataset_id:
                out |= set(entry.masks)
    return out


# --------------------------------------------------------------------------------------------
# The report


def summarise(kills: Sequence[Kill]) -> dict[str, dict[str, int]]:
    """Kills by target, and per target how many ended in each outcome."""
    out: dict[str, dict[str, int]] = {}
    for kill in kills:
        row = out.setdefault(kill.target, {"kills": 0})
        row["kills"] += 1
        label = kill.outcome if kill.result == "killed" else f"{kill.result}, {kill.outcome}"
        row[label] = row.get(label, 0) + 1
    return out


def as_json(kills: Sequence[Kill], **meta: Any) -> str:
    return json.dumps(
        {**meta, "by_target": summarise(kills), "kills": [dataclasses.asdict(k) for k in kills]},
        ensure_ascii=False,
        indent=2,
    )
