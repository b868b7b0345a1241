"""Benchmark: the same day with the platform's JVM options and with other ones, run by run.

At small scales a day is bound by the CPU of the Spark Connect server's JVM, and a large part of
it is the JVM compiling its own code (the day's summary splits the JIT compiler's threads out).
This runs ``eb run`` of one day (as ``bench_day.py`` does) alternately without and with
``--options`` in ``EB_SPARK_JAVA_OPTIONS``, the order swapped every run so that neither arm
always goes first on a warm or cold machine, and reports per arm the median, min and max of:
the whole job, the DAG runs, the server's CPU and its JIT compiler's part. The ratio of the two
medians is the measure; each arm is the other's same-run baseline.

    .venv/bin/python benchmarks/bench_jvm.py --runs 3 --scale 0.01 \\
        --options="-XX:TieredStopAtLevel=1"
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path

import bench_day

MEASURES = {
    "end to end (s)": lambda seconds, s: seconds,
    "DAG runs (s)": lambda seconds, s: dict(s["stages"]).get("Airflow DAG runs"),
    "Spark Connect JVM CPU (s)": lambda seconds, s: s["cpu"]["spark_server_cpu_seconds"],
    "of it, JIT compiler (s)": lambda seconds, s: s["cpu"].get("spark_server_jit_seconds"),
    "of it, collector (s)": lambda seconds, s: s["cpu"].get("spark_server_gc_seconds"),
    "machine CPU during the DAG runs (s)": lambda seconds, s: s["cpu"]["machine_cpu_seconds"],
}


def one_run(scale: float, options: str | None) -> dict[str, float]:
    saved = os.environ.get("EB_SPARK_JAVA_OPTIONS")
    if options is None:
        os.environ.pop("EB_SPARK_JAVA_OPTIONS", None)
    else:
        os.environ["EB_SPARK_JAVA_OPTIONS"] = options
    try:
        with tempfile.TemporaryDirectory(prefix="eb-bench-jvm-") as tmp:
            seconds, summary = bench_day._eb_run(Path(tmp), scale)
    finally:
        if saved is None:
            os.environ.pop("EB_SPARK_JAVA_OPTIONS", None)
        else:
            os.environ["EB_SPARK_JAVA_OPTIONS"] = saved
    if not summary["ok"]:
        raise SystemExit(f"a DAG failed with options {options!r}: {summary['dag_runs']}")
    return {name: f(seconds, summary) for name, f in MEASURES.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--options", required=True, help="JVM options of the second arm")
    args = parser.parse_args()
    arms = {"platform's": None, args.options: args.options}
    figures: dict[str, dict[str, list[float]]] = {a: defaultdict(list) for a in arms}
    for i in range(args.runs):
        order = list(arms) if i % 2 == 0 else list(reversed(arms))
        for arm in order:
            got = one_run(args.scale, arms[arm])
            for name, value in got.items():
                if value is not None:
                    figures[arm][name].append(value)
            print(f"run {i + 1}, {arm}: " + ", ".join(f"{k} {v}" for k, v in got.items()))
    first, second = arms
    print(f"\nmedian (min–max) of {args.runs} runs per arm, scale {args.scale}:")
    print(f"{'measure':<40}{first:>26}{second:>34}{'ratio':>8}")
    for name in MEASURES:
        a, b = figures[first].get(name), figures[second].get(name)
        if not a or not b:
            continue
        ma, mb = statistics.median(a), statistics.median(b)

        def cell(values: list[float], med: float) -> str:
            return f"{med:.1f} ({min(values):.1f}–{max(values):.1f})"

        ratio = f"{mb / ma:.2f}x" if ma else "—"
        print(f"{name:<40}{cell(a, ma):>26}{cell(b, mb):>34}{ratio:>8}")


if __name__ == "__main__":
    main()
