"""Benchmark: one full-scale day of all 28 sources through Airflow, end to end (``eb run``).

Target: at most 150 s on 2 cores (stretch: 90 s). Each run is exactly ``make run``
(``eb run``) in a fresh temporary lake: generate the day, start Spark Connect and Airflow, let
the scheduler load the 28 sources and the Assets trigger publish and share, read the summary.
Reported: the median of ``--runs`` runs for the whole job and for each stage, and a baseline
measured in the same run on the same delivered files: a plain Spark job that reads every
delivery and writes it once as Parquet (no checks, no Delta, no Airflow), the floor of any
pipeline on this machine.

    .venv/bin/python benchmarks/bench_day.py --runs 3 [--scale 1.0]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

DAY = "2026-11-28"
_COST_ORDER = [
    "tasks", "wait_seconds", "startup_seconds", "attach_seconds", "run_seconds", "spark_jobs",
    "spark_job_seconds", "delta_commits",
]  # fmt: skip
REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _eb_run(var: Path, scale: float) -> tuple[float, dict]:
    env = {k: v for k, v in os.environ.items() if k not in {"EB_SPARK_REMOTE", "EB_SOURCES"}}
    env.update(
        {
            "EB_VAR_DIR": str(var),
            "EB_SPARK_CONNECT_PORT": str(free_port()),
            "EB_AIRFLOW_PORT": str(free_port()),
        }
    )
    started = time.perf_counter()
    command = ["run", "--date", DAY, "--scale", str(scale)]
    proc = subprocess.run(
        [sys.executable, "-m", "enforcement_brain.cli", *command],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    subprocess.run(
        [sys.executable, "-m", "enforcement_brain.cli", "spark", "stop"], env=env, check=False
    )
    if proc.returncode != 0:
        sys.exit(f"eb run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return seconds, json.loads((var / "run" / f"summary-{DAY}.json").read_text())


_BASELINE = """
import sys, time
from pathlib import Path
from enforcement_brain.declarations import load_catalog
from enforcement_brain.settings import load_settings
from enforcement_brain.spark.session import get_spark
from enforcement_brain.pipeline.delivery import delivery_dir
import datetime as dt
settings = load_settings()
spark = get_spark(settings)
spark.range(1).collect()
catalog = load_catalog(settings.standards_dir)
day = dt.date.fromisoformat(sys.argv[1])
out = Path(sys.argv[2])
started = time.perf_counter()
for source in catalog.sources.values():
    if source.delivery.kind == "database":
        continue
    folder = delivery_dir(settings, source, day)
    reader = spark.read.option("encoding", source.delivery.encoding)
    if source.delivery.format == "csv":
        df = reader.option("header", True).csv(folder)
    else:
        df = reader.json(folder)
    df.write.mode("overwrite").parquet(str(out / source.id))
print(time.perf_counter() - started)
"""


def baseline(var: Path, day: str = DAY) -> float:
    """Seconds of a plain Spark copy of ``day``'s delivered files (no checks, no Delta)."""
    env = {k: v for k, v in os.environ.items() if k != "EB_SPARK_REMOTE"}
    env["EB_VAR_DIR"] = str(var)
    proc = subprocess.run(
        [sys.executable, "-c", _BASELINE, day, str(var / "baseline")],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    totals, baselines, rows = [], [], 0
    stages: dict[str, list[float]] = defaultdict(list)
    dags: dict[str, list[float]] = defaultdict(list)
    costs: dict[tuple[str, str], list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="eb-bench-day-") as tmp:
            seconds, summary = _eb_run(Path(tmp), args.scale)
            if not summary["ok"]:
                sys.exit(f"run {i + 1}: a DAG failed: {summary['dag_runs']}")
            totals.append(seconds)
            for name, value in summary["stages"]:
                stages[name].append(value)
            for name, value in summary["phases"].items():
                label = name if " " in name else f"{name} DAGs (first start → last end)"
                stages[f"  {label}"].append(value)
            for r in summary["dag_runs"]:
                if r["seconds"] is not None:
                    dags[r["dag_id"]].append(r["seconds"])
                for key in ("bronze_seconds", "silver_seconds"):
                    if key in r["result"]:
                        dags[f"{r['dag_id']} {key.split('_')[0]}"].append(r["result"][key])
            for kind, row in summary.get("breakdown", {}).items():
                for name, value in row.items():
                    costs[(kind, name)].append(value)
            for name, value in (summary.get("cpu") or {}).items():
                cpu[name].append(value)
            rows = sum(summary["generated"].values())
            baselines.append(baseline(Path(tmp)))
            print(
                f"run {i + 1}: {seconds:.0f} s end to end for {rows:,} rows; "
                f"baseline {baselines[-1]:.0f} s",
                flush=True,
            )
    total, base = statistics.median(totals), statistics.median(baselines)
    print(f"\nmedian of {args.runs} runs, scale {args.scale} ({rows:,} rows, 28 sources):")
    for name, values in stages.items():
        print(f"  {name:<75} {statistics.median(values):7.1f} s")
    print("  per DAG run (median s; ingest: whole run incl. queueing, bronze, silver):")
    for name, values in sorted(dags.items()):
        print(f"    {name:<60} {statistics.median(values):7.1f}")
    print("  where a task's time goes (median per task over the runs' medians; s):")
    names = sorted({name for _, name in costs}, key=_COST_ORDER.index)
    print(f"    {'DAGs':<10}" + "".join(f"{n.removesuffix('_seconds'):>18}" for n in names))
    for kind in sorted({k for k, _ in costs}):
        cells = [costs.get((kind, n)) for n in names]
        print(
            f"    {kind:<10}"
            + "".join(f"{statistics.median(c):>18.2f}" if c else f"{'—':>18}" for c in cells)
        )
    if cpu:
        from enforcement_brain.orchestration.breakdown import describe_cpu

        print(f"  {describe_cpu({k: statistics.median(v) for k, v in cpu.items()})} (medians)")
    print(
        f"\none day at scale {args.scale} end to end: median {total:.0f} s ({total / 60:.1f} min); "
        f"baseline (plain Spark copy of the same files) {base:.0f} s; ratio {total / base:.1f}x; "
        "target ≤ 150 s"
    )


if __name__ == "__main__":
    main()
