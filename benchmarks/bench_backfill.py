"""Benchmark: a backfill of many days (``eb backfill``), against a plain copy of the same files.

Each run generates ``--days`` days into a fresh lake, then times ``eb backfill --no-generate``
over them (load, GX validation, publish, share). The same-run baseline is a plain Spark job
that reads each day's delivered files and writes them once as Parquet: the floor of any
pipeline on this machine. Reported: median, min and max of the backfill, per day, and the ratio.

    .venv/bin/python benchmarks/bench_backfill.py --runs 3 --days 30 --scale 1.0
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_day import baseline

REPO = Path(__file__).resolve().parents[1]
LAST = dt.date(2026, 11, 28)


def _eb(var: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"EB_SPARK_REMOTE", "EB_SOURCES"}}
    env["EB_VAR_DIR"] = str(var)
    return subprocess.run(
        [sys.executable, "-m", "enforcement_brain.cli", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def one_run(var: Path, days: list[dt.date], scale: float, validate: bool) -> tuple[float, float]:
    for day in days:
        made = _eb(var, "generate", "--date", day.isoformat(), "--scale", str(scale))
        if made.returncode != 0:
            sys.exit(f"generate {day} failed:\n{made.stderr[-2000:]}")
    args = ["backfill", "--from", days[0].isoformat(), "--to", days[-1].isoformat()]
    args += ["--no-generate"] + ([] if validate else ["--skip-validation"])
    started = time.perf_counter()
    done = _eb(var, *args)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"backfill failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    floor = sum(baseline(var, day.isoformat()) for day in days)
    return seconds, floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--skip-validation", action="store_true")
    args = parser.parse_args()
    days = [LAST - dt.timedelta(days=n) for n in range(args.days - 1, -1, -1)]
    totals, floors = [], []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="eb-bench-backfill-") as tmp:
            seconds, floor = one_run(Path(tmp), days, args.scale, not args.skip_validation)
        totals.append(seconds)
        floors.append(floor)
        print(
            f"run {i + 1}: {args.days} days in {seconds:.0f} s ({seconds / args.days:.1f} s a "
            f"day); baseline {floor:.0f} s",
            flush=True,
        )
    mid, base = statistics.median(totals), statistics.median(floors)
    print(
        f"\nbackfill of {args.days} days at scale {args.scale}, {args.runs} runs: median "
        f"{mid:.0f} s (min {min(totals):.0f}, max {max(totals):.0f}), {mid / args.days:.1f} s a "
        f"day; baseline (plain Spark copy of the same files) {base:.0f} s; ratio {mid / base:.1f}x"
    )


if __name__ == "__main__":
    main()
