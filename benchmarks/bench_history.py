"""Benchmark: does a day's load cost grow with the history under it?

Each run builds two lakes from the same generated deliveries: a fresh one, and one holding
``--history`` earlier days of the source (loaded with the backfill). Then the same day is loaded
into both, twice (the load and its rerun), and the silver step's seconds and its MERGE's commit
metrics are compared. The fresh lake is the same-run baseline; the figure is the ratio.

    .venv/bin/python benchmarks/bench_history.py --runs 3 --history 60 --scale 1.0 \\
        --source anpr_passes
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
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


def _last_merge(settings, source: str) -> dict[str, int]:
    log = settings.local_lake / "silver" / source / "_delta_log"
    for path in sorted(log.glob("*.json"), reverse=True):
        for line in path.read_text().splitlines():
            info = json.loads(line).get("commitInfo")
            if info and info.get("operation") == "MERGE":
                return {k: int(v) for k, v in info["operationMetrics"].items()}
    return {}


def _load(ctx, source: str, day: dt.date) -> tuple[float, dict[str, int]]:
    from jobs import load_source

    result = load_source.run(ctx, source, day, "bench")
    return float(result["silver_seconds"]), _last_merge(ctx.settings, source)


def one_run(root: Path, source: str, history: int, scale: float) -> dict[str, float]:
    from enforcement_brain.declarations import load_catalog
    from enforcement_brain.generate.day import generate_day
    from enforcement_brain.orchestration.backfill import backfill
    from enforcement_brain.orchestration.runtime import JobContext

    fresh = _settings(root / "fresh", scale)
    deep = _settings(root / "deep", scale)
    catalog = load_catalog(fresh.standards_dir)
    earlier = [DAY - dt.timedelta(days=n) for n in range(history, 0, -1)]
    generate_day(fresh, DAY)
    for day in [*earlier, DAY]:
        generate_day(deep, day)
    deep_ctx, fresh_ctx = JobContext(deep, catalog), JobContext(fresh, catalog)
    report = backfill(deep_ctx, earlier, "bench-history", sources=(source,), validate=False)
    if not report.ok:
        sys.exit(f"history backfill failed: {report.errors}")
    rows = sum(int(r["rows_in"]) for r in report.loads)
    out: dict[str, float] = {"history_rows": rows, "history_seconds": report.seconds["load"]}
    for name, ctx in (("fresh", fresh_ctx), ("deep", deep_ctx)):
        first, metrics = _load(ctx, source, DAY)
        rerun, _ = _load(ctx, source, DAY)
        out[f"{name}_silver_s"], out[f"{name}_rerun_s"] = first, rerun
        out[f"{name}_files_removed"] = metrics.get("numTargetFilesRemoved", -1)
        out[f"{name}_rows_copied"] = metrics.get("numTargetRowsCopied", -1)
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
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="eb-bench-history-") as tmp:
            r = one_run(Path(tmp), args.source, args.history, args.scale)
        results.append(r)
        print(
            f"run {i + 1}: {args.history} days of history ({r['history_rows']:,.0f} rows, "
            f"{r['history_seconds']:.0f} s); silver step fresh {r['fresh_silver_s']:.1f} s, "
            f"on history {r['deep_silver_s']:.1f} s; rerun {r['fresh_rerun_s']:.1f} / "
            f"{r['deep_rerun_s']:.1f} s; MERGE rewrote {r['deep_files_removed']:.0f} file(s)",
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
