"""Benchmark: does a day's load cost grow with the history under it?

A lake holding ``--history`` earlier days of the source is built once (with the backfill) and
copied for each run; each run also starts a fresh lake from the same generated deliveries. The
same day is loaded into both, twice (the load and its rerun), and the silver step's seconds and
its commits' metrics (files rewritten, rows copied) are compared. The fresh lake is the
same-run baseline; the figure is the ratio.

    .venv/bin/python benchmarks/bench_history.py --runs 3 --history 60 --scale 1.0 \\
        --source anpr_passes
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DAY = dt.date(2026, 11, 28)


def _settings(var: Path, scale: float):
    from enforcement_brain.settings import load_settings

    env = {k: v for k, v in os.environ.items() if k != "EB_SPARK_REMOTE"}
    env.update({"EB_VAR_DIR": str(var), "EB_SCALE": str(scale)})
    return load_settings(env)


def _version(settings, source: str) -> int:
    log = settings.local_lake / "silver" / source / "_delta_log"
    return max((int(p.stem) for p in log.glob("*.json")), default=-1)


def _commits_since(settings, source: str, version: int) -> dict[str, int]:
    """What the silver commits after ``version`` did: how many, files rewritten, rows copied."""
    log = settings.local_lake / "silver" / source / "_delta_log"
    out = {"commits": 0, "files_removed": 0, "rows_copied": 0}
    for path in sorted(log.glob("*.json")):
        if int(path.stem) <= version:
            continue
        for line in path.read_text().splitlines():
            info = json.loads(line).get("commitInfo")
            if info and info.get("operation") in ("WRITE", "MERGE"):
                metrics = {k: int(v) for k, v in info.get("operationMetrics", {}).items()}
                out["commits"] += 1
                out["files_removed"] += metrics.get("numTargetFilesRemoved", 0)
                out["files_removed"] += metrics.get("numRemovedFiles", 0)
                out["rows_copied"] += metrics.get("numTargetRowsCopied", 0)
    return out


def _load(ctx, source: str, day: dt.date) -> tuple[float, dict[str, int]]:
    from jobs import load_source

    before = _version(ctx.settings, source)  # -1 before the table exists
    result = load_source.run(ctx, source, day, "bench")
    return float(result["silver_seconds"]), _commits_since(ctx.settings, source, before)


def build_history(root: Path, source: str, history: int, scale: float) -> dict[str, float]:
    """The lake with ``history`` days of ``source`` before DAY, and the day's deliveries."""
    from enforcement_brain.declarations import load_catalog
    from enforcement_brain.generate.day import generate_day
    from enforcement_brain.orchestration.backfill import backfill
    from enforcement_brain.orchestration.runtime import JobContext

    deep = _settings(root, scale)
    earlier = [DAY - dt.timedelta(days=n) for n in range(history, 0, -1)]
    for day in [*earlier, DAY]:
        generate_day(deep, day)
    ctx = JobContext(deep, load_catalog(deep.standards_dir))
    report = backfill(ctx, earlier, "bench-history", sources=(source,), validate=False)
    if not report.ok:
        sys.exit(f"history backfill failed: {report.errors}")
    rows = sum(int(r["rows_in"]) for r in report.loads)
    return {"history_rows": rows, "history_seconds": report.seconds["load"]}


def one_run(root: Path, history_lake: Path, source: str, scale: float) -> dict[str, float]:
    """The day on a fresh lake and on a copy of the history lake, each loaded twice."""
    from enforcement_brain.declarations import load_catalog
    from enforcement_brain.generate.day import generate_day
    from enforcement_brain.orchestration.runtime import JobContext

    shutil.copytree(history_lake, root / "deep", symlinks=True)
    fresh = _settings(root / "fresh", scale)
    deep = _settings(root / "deep", scale)
    catalog = load_catalog(fresh.standards_dir)
    generate_day(fresh, DAY)
    out: dict[str, float] = {}
    for name, settings in (("fresh", fresh), ("deep", deep)):
        ctx = JobContext(settings, catalog)
        first, metrics = _load(ctx, source, DAY)
        rerun, again = _load(ctx, source, DAY)
        out[f"{name}_silver_s"], out[f"{name}_rerun_s"] = first, rerun
        out[f"{name}_commits"] = metrics["commits"]
        out[f"{name}_files_removed"] = metrics["files_removed"]
        out[f"{name}_rows_copied"] = metrics["rows_copied"]
        out[f"{name}_rerun_commits"] = again["commits"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--history", type=int, default=60, help="earlier days under the day")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--source", default="anpr_passes")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    results = []
    with tempfile.TemporaryDirectory(prefix="eb-bench-history-") as tmp:
        built = build_history(Path(tmp) / "history", args.source, args.history, args.scale)
        print(
            f"history: {args.history} days of {args.source}, {built['history_rows']:,.0f} rows, "
            f"loaded in {built['history_seconds']:.0f} s",
            flush=True,
        )
        for i in range(args.runs):
            run_root = Path(tmp) / f"run{i}"
            r = one_run(run_root, Path(tmp) / "history", args.source, args.scale)
            shutil.rmtree(run_root)
            results.append(r)
            print(
                f"run {i + 1}: silver step fresh {r['fresh_silver_s']:.1f} s, on history "
                f"{r['deep_silver_s']:.1f} s; rerun {r['fresh_rerun_s']:.1f} / "
                f"{r['deep_rerun_s']:.1f} s; on history the day made {r['deep_commits']:.0f} "
                f"commit(s), rewrote {r['deep_files_removed']:.0f} file(s) and copied "
                f"{r['deep_rows_copied']:,.0f} row(s); its rerun made "
                f"{r['deep_rerun_commits']:.0f} commit(s)",
                flush=True,
            )

    def stats(key: str) -> str:
        values = [r[key] for r in results]
        mid, low, high = statistics.median(values), min(values), max(values)
        return f"median {mid:.1f} (min {low:.1f}, max {high:.1f})"

    ratio = [r["deep_silver_s"] / r["fresh_silver_s"] for r in results]
    rerun = [r["deep_rerun_s"] / r["fresh_rerun_s"] for r in results]
    print(f"\n{args.source}, scale {args.scale}, {args.history} days of history, {args.runs} runs:")
    for key in ("fresh_silver_s", "deep_silver_s", "fresh_rerun_s", "deep_rerun_s"):
        print(f"  {key:<16} {stats(key)} s")
    print(
        f"  load on history ÷ load on a fresh lake: median {statistics.median(ratio):.2f}x "
        f"(rerun {statistics.median(rerun):.2f}x); target ≤ 1.15x"
    )


if __name__ == "__main__":
    main()
