"""Chaos benchmark: SIGKILL the pipeline's writers at random moments, rerun, compare every table.

    .venv/bin/python benchmarks/chaos.py --kills 200 --seed 7 --scale 0.02

Kills are spread evenly over the targets of ``enforcement_brain.chaos.TARGETS`` (the two Airflow
targets only with ``--airflow``: each of their kills runs ``eb run`` with its whole stack). Each
cycle is a fresh lake that runs the plan (load, publish, share projection, maintenance) over the
days and kills a random subset of the targets once each; it is then compared with one unkilled
reference run of the same days. Prints the kills by target with their outcomes, writes them as
JSON under ``var/chaos/``, and exits 1 if any cycle did not recover exactly (method and figures:
docs/reliability.md, "Chaos").
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

from enforcement_brain.chaos import AIRFLOW_TARGETS, JOB_TARGETS, ChaosRun, as_json, schedule
from enforcement_brain.settings import REPO_ROOT, load_settings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", type=float, default=0.02)
    parser.add_argument("--days", type=int, default=1, help="consecutive days in each cycle")
    parser.add_argument("--first-day", default="2026-11-28")
    parser.add_argument("--airflow", action="store_true", help="also kill Airflow tasks/scheduler")
    parser.add_argument("--workdir", default="", help="where the lakes go (default var/chaos/work)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO_ROOT))  # the jobs/ the in-process steps run, as the processes do

    out_dir = load_settings().var_dir / "chaos"
    root = Path(args.workdir) if args.workdir else out_dir / "work"
    first = dt.date.fromisoformat(args.first_day)
    days = [first + dt.timedelta(days=i) for i in range(args.days)]
    targets = JOB_TARGETS + (AIRFLOW_TARGETS if args.airflow else ())
    run = ChaosRun(root, days, scale=args.scale, seed=args.seed)
    started = time.monotonic()
    run.build_reference()
    kills = []
    index = 0
    for cycle in schedule(args.kills, targets, random.Random(args.seed)):
        jobs = [t for t in cycle if t in JOB_TARGETS]
        if jobs:
            kills += run.cycle(index, jobs)
            index += 1
        for name in (t for t in cycle if t in AIRFLOW_TARGETS):
            kills.append(run.airflow_cycle(index, name))
            index += 1
    # a job kill that missed its window is repeated alone (every kill is compared all the same)
    kills += run.retry_missed(kills, index)
    seconds = round(time.monotonic() - started, 1)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
    ).stdout.strip()
    meta = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "machine": f"{platform.machine()}, {_cores()} cores",
        "command": " ".join(["benchmarks/chaos.py", *sys.argv[1:]]),
        "seconds": seconds,
    }
    text = as_json(kills, **meta)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (out_dir / f"chaos-{stamp}.json").write_text(text, encoding="utf-8")
    summary = json.loads(text)["by_target"]
    print(f"{len(kills)} kills in {seconds} s ({meta['command']}, commit {commit})")
    for target, row in summary.items():
        outcomes = ", ".join(f"{k}: {v}" for k, v in row.items() if k != "kills")
        print(f"  {target:24} {row['kills']:4} kills  {outcomes}")
    bad = [k for k in kills if k.outcome != "recovered exact"]
    for kill in bad:
        print(f"MISMATCH after {kill.target} ({kill.day}): {'; '.join(kill.details[:5])}")
    print(f"written to {out_dir / f'chaos-{stamp}.json'}")
    return 1 if bad else 0


def _cores() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
