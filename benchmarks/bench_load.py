"""Benchmark: where a small source load's time goes, call by call, on the Spark Connect server.

A day at small scale is mostly fixed cost per load (see ``bench_day.py --scale 0.01``). This
measures it apart from Airflow: a Spark Connect server of the platform's configuration in a
fresh lake, ``--days`` generated days, and each listed source loaded day after day in this one
process (``jobs.load_source``, as the ingest task runs it). For every load it records the wall
time, the CPU seconds of the server's JVM, and each Spark Connect call the client made (an
ExecutePlan or an AnalyzePlan round trip), by the pipeline's line that made it.

Baseline, in the same run and session, on the same delivered files: the bare Delta write of
each delivery (read the files, write them to a Delta table, no checks), the least a load into a
Delta lake costs through Spark Connect. The first day creates every table and warms the JVM;
the figures are medians over the later days ("steady state").

    .venv/bin/python benchmarks/bench_load.py [--scale 0.002] [--days 4]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import traceback
from collections import defaultdict
from pathlib import Path

from bench_day import free_port

REPO = Path(__file__).resolve().parents[1]
LAST = dt.date(2026, 11, 28)
SOURCES = "wim_weighings,gps_alarms,toll_transactions,anpr_passes,passenger_trips"
_OURS = (str(REPO / "src"), str(REPO / "jobs"))


class CallLog:
    """Every Spark Connect round trip of the client, with its time and the pipeline's line."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, float]] = []

    def install(self) -> None:
        from pyspark.sql.connect.client import core

        for method, kind in (("_execute_and_fetch", "execute"), ("_analyze", "analyze")):
            original = getattr(core.SparkConnectClient, method)
            setattr(core.SparkConnectClient, method, self._wrap(original, kind))

    def _wrap(self, original, kind: str):
        log = self

        def timed(client, *args, **kwargs):
            started = time.perf_counter()
            try:
                return original(client, *args, **kwargs)
            finally:
                log.calls.append((kind, _caller(), time.perf_counter() - started))

        return timed


def _caller() -> str:
    """``module.py:line function`` of the innermost frame of the pipeline's own code."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if frame.filename.startswith(_OURS):
            return f"{Path(frame.filename).name}:{frame.lineno} {frame.name}"
    return "(client)"


def _jvm_cpu(pid: int | None) -> float:
    from enforcement_brain.orchestration.breakdown import process_tree_cpu

    return process_tree_cpu(pid) if pid is not None else 0.0


def _bare_write(spark, settings, source, day: dt.date, out: str) -> None:
    from enforcement_brain.pipeline.delivery import delivery_dir

    reader = spark.read.option("encoding", source.delivery.encoding)
    folder = str(delivery_dir(settings, source, day))
    df = reader.option("header", True).csv(folder) if source.delivery.format == "csv" else None
    df = df if df is not None else reader.json(folder)
    # A day's inferred schema may differ from the last day's (a column all null one day).
    df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.002)
    parser.add_argument("--days", type=int, default=4)
    parser.add_argument("--sources", default=SOURCES, help="comma-separated file sources")
    args = parser.parse_args()
    days = [LAST - dt.timedelta(days=n) for n in range(args.days - 1, -1, -1)]
    sources = args.sources.split(",")
    with tempfile.TemporaryDirectory(prefix="eb-bench-load-") as tmp:
        port = free_port()
        os.environ.update(
            EB_VAR_DIR=tmp,
            EB_SPARK_CONNECT_PORT=str(port),
            EB_SPARK_REMOTE=f"sc://localhost:{port}",
        )
        os.environ.pop("EB_SOURCES", None)
        sys.path.insert(0, str(REPO))
        from enforcement_brain.generate import generate_day
        from enforcement_brain.orchestration.runtime import job_context
        from enforcement_brain.settings import load_settings
        from enforcement_brain.spark import server
        from enforcement_brain.spark.session import stop_all

        settings = load_settings()
        for day in days:
            generate_day(settings, day, scale=args.scale)
        status = server.start(settings)
        try:
            loads, bare = _measure(job_context(settings), status.pid, days, sources, Path(tmp))
        finally:
            stop_all()  # the client's exit hook would otherwise retry a stopped server
            server.stop(settings)
    _report(loads, bare, days, sources, args.scale)


def _measure(ctx, pid, days, sources, tmp: Path):
    from jobs import load_source

    log = CallLog()
    log.install()
    ctx.spark.sql("select 1").collect()
    loads: list[dict] = []
    bare: list[dict] = []
    for day in days:
        for sid in sources:
            loads.append(_timed(log, pid, sid, day, load_source.run, ctx, sid, day, "bench"))
            source, out = ctx.catalog.sources[sid], str(tmp / "bare" / sid)
            bare.append(
                _timed(log, pid, sid, day, _bare_write, ctx.spark, ctx.settings, source, day, out)
            )
        print(f"  {day}: {len(sources)} loads", flush=True)
    return loads, bare


def _timed(log: CallLog, pid, sid: str, day: dt.date, fn, *args) -> dict:
    log.calls.clear()
    cpu, started = _jvm_cpu(pid), time.perf_counter()
    fn(*args)
    return {
        "source": sid,
        "day": day,
        "seconds": time.perf_counter() - started,
        "jvm_cpu": _jvm_cpu(pid) - cpu,
        "calls": list(log.calls),
    }


def _report(loads, bare, days, sources, scale) -> None:
    steady = [r for r in loads if r["day"] != days[0]]
    steady_bare = [r for r in bare if r["day"] != days[0]]

    def med(rows, key):
        return statistics.median(r[key] for r in rows)

    first = [r for r in loads if r["day"] == days[0]]
    print(
        f"\n{len(sources)} sources × {len(days)} days at scale {scale}; steady state = days 2–"
        f"{len(days)} ({len(steady)} loads)"
    )
    print(
        f"  a load, median: {med(steady, 'seconds'):.2f} s wall "
        f"(min {min(r['seconds'] for r in steady):.2f}, "
        f"max {max(r['seconds'] for r in steady):.2f}), {med(steady, 'jvm_cpu'):.2f} s of JVM CPU, "
        f"{statistics.median(len(r['calls']) for r in steady):.0f} Spark Connect calls"
    )
    print(
        f"  bare Delta write of the same files (baseline), median: "
        f"{med(steady_bare, 'seconds'):.2f} s wall, {med(steady_bare, 'jvm_cpu'):.2f} s JVM CPU; "
        f"ratio {med(steady, 'seconds') / med(steady_bare, 'seconds'):.1f}x"
    )
    print(
        f"  first day (creates the tables), median: {med(first, 'seconds'):.2f} s wall, "
        f"{med(first, 'jvm_cpu'):.2f} s JVM CPU"
    )
    by_site: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in steady:
        per_load: dict[tuple[str, str], float] = defaultdict(float)
        for kind, site, seconds in r["calls"]:
            per_load[(kind, site)] += seconds
        for key in {(k, s) for k, s, _ in r["calls"]}:
            by_site[key].append(per_load[key])
    print("  Spark Connect calls of a steady-state load (seconds per load, median over loads):")
    for values in by_site.values():
        values += [0.0] * (len(steady) - len(values))  # loads that did not make this call
    for (kind, site), values in sorted(by_site.items(), key=lambda kv: -statistics.median(kv[1])):
        print(f"    {statistics.median(values):6.2f} s  {kind:<8} {site}")


if __name__ == "__main__":
    main()
