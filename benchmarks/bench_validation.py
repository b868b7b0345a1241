"""Benchmark: the single-pass rule check against the GX suite, on the same batch in the same run.

A generated day is loaded into bronze once. Per source, the day's bronze rows are conformed
(``pipeline.silver.conform``: the ids of the rules each row breaks, in ``_all_broken``) and
cached once; then, ``--runs`` times, both contenders read the same cached rows:

- single-pass: one aggregate of every rule's failures, the expression ``load_batch`` records
  in ``ops.dq_ledger``;
- GX: the source's committed suite (``expectations/<source>.json``) run by
  ``gx_suites.validate`` on the same rows, with the columns silver keeps.

Reported per source and in total: the seconds of each (median, min and max over the runs), the
ratio GX ÷ single-pass, and each rule's failure count on both sides. Target: single-pass at
least 3x faster than GX with the same counts. The exit status is non-zero when a rule that both
check is counted differently.

    .venv/bin/python benchmarks/bench_validation.py --runs 3 --scale 0.05
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from enforcement_brain.declarations import Catalog, Source
    from enforcement_brain.orchestration.runtime import JobContext
    from enforcement_brain.standards.gx_suites import SuiteResult

REPO = Path(__file__).resolve().parents[1]
EXPECTATIONS = REPO / "expectations"
DAY = dt.date(2026, 11, 28)


def bronze_day(ctx: JobContext, source: Source, day: dt.date) -> DataFrame:
    """The day's rows of ``bronze.<source>``, as ``load_batch`` reads them."""
    from pyspark.sql import functions as F

    bronze = ctx.spark.read.format("delta").load(ctx.settings.table_uri("bronze", source.id))
    return bronze.where(F.col("_delivery_date") == F.lit(day))


def single_pass(conformed: DataFrame, rule_ids: list[str]) -> dict[str, int]:
    """Every rule's failures in one aggregate (the columns ``load_batch`` counts with)."""
    from enforcement_brain.pipeline.rules import rule_counts

    agg = conformed.agg(*rule_counts(rule_ids)).first()
    return {rid: int(agg[rid] or 0) for rid in rule_ids}


def gx_suite(conformed: DataFrame, source: Source) -> SuiteResult:
    """The source's suite on the same rows, with the columns silver keeps (its names, typed)."""
    from enforcement_brain.pipeline.silver import silver_columns
    from enforcement_brain.standards.gx_suites import validate

    rows = conformed.select(*silver_columns(conformed, source))
    try:
        return validate(rows, source.id, expectations_dir=EXPECTATIONS)
    finally:
        rows.unpersist()  # GX persists its batch; the next run starts from the same state


def before_silver(source_id: str) -> set[str]:
    """The rules the suite leaves to the pipeline (``meta.checked_before_silver``)."""
    suite = json.loads((EXPECTATIONS / f"{source_id}.json").read_text("utf-8"))
    return {b["rule_id"] for b in suite["meta"]["checked_before_silver"]}


@dataclass
class Comparison:
    """One source's failure counts, side by side.

    ``counts``: rule -> (single-pass, GX) for every rule both check, GX's summed over the
    rule's expectations (one per column it applies to; ``columns`` says how many). A row that
    broke one rule on two columns would count once in the single pass and twice in GX.
    ``single_only``: rules checked before silver, which the suite does not restate.
    ``gx_only``: expectations without a rule (the business key is unique), and the not-null
    expectations that restate a before-silver presence rule on silver, summed per rule: they
    read the typed value, which is also NULL when the delivered text did not parse. For the
    same reason a range rule counts a delivered value that does not convert as outside its
    range, and GX, seeing NULL, does not: silver never holds such a row (it is quarantined).
    """

    counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    columns: dict[str, int] = field(default_factory=dict)
    single_only: dict[str, int] = field(default_factory=dict)
    gx_only: dict[str, int] = field(default_factory=dict)

    def disagreements(self) -> dict[str, tuple[int, int]]:
        return {rid: pair for rid, pair in self.counts.items() if pair[0] != pair[1]}


def compare(single: dict[str, int], result: SuiteResult, before: set[str]) -> Comparison:
    out = Comparison()
    gx: dict[str, int] = defaultdict(int)
    for o in result.outcomes:
        count = o.unexpected_count or 0
        what = o.type.removeprefix("expect_").replace("column_values_to_", "")
        if o.rule_id is None:
            out.gx_only[f"{what}({o.column or ''})"] = count
        elif o.rule_id in before:
            label = f"{o.rule_id} as {what}"
            out.gx_only[label] = out.gx_only.get(label, 0) + count
            out.columns[label] = out.columns.get(label, 0) + 1
        else:
            gx[o.rule_id] += count
            out.columns[o.rule_id] = out.columns.get(o.rule_id, 0) + 1
    for rid, n in single.items():
        if rid in gx:
            out.counts[rid] = (n, gx[rid])
        else:
            out.single_only[rid] = n
    return out


def _stats(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"
    )


def _timed(fn, *args):
    started = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - started, value


def measure(
    catalog: Catalog, source: Source, bronze: DataFrame, runs: int, warm_up: bool = False
) -> tuple[int, dict[str, list[float]], Comparison]:
    """Both contenders ``runs`` times on the same cached rows, ``bronze`` conformed: the row
    count, each contender's seconds per run, and the counts side by side.

    ``warm_up`` first runs each once untimed (imports and first-use set-up of the process)."""
    from enforcement_brain.pipeline.rules import compile_checks
    from enforcement_brain.pipeline.silver import conform

    checks = compile_checks(catalog, source)
    rule_ids = list(dict.fromkeys(c.rule.id for c in checks))
    conformed = conform(bronze, catalog, source, checks).cache()
    try:
        rows = conformed.count()  # fills the cache both contenders read
        if warm_up:
            single_pass(conformed, rule_ids)
            gx_suite(conformed, source)
        times: dict[str, list[float]] = {"single": [], "gx": []}
        for _ in range(runs):
            seconds, single = _timed(single_pass, conformed, rule_ids)
            times["single"].append(seconds)
            seconds, result = _timed(gx_suite, conformed, source)
            times["gx"].append(seconds)
    finally:
        conformed.unpersist()
    errors = [f"{o.type}({o.column}): {o.error}" for o in result.outcomes if o.error]
    if errors:
        raise RuntimeError(f"{source.id}: GX could not run {'; '.join(errors)}")
    return rows, times, compare(single, result, before_silver(source.id))


def _prepare(ctx: JobContext, sources: list[str], scale: float, ready: Path) -> None:
    """Generate the day and load each source's delivery into bronze (skipped when kept)."""
    from enforcement_brain.generate.day import generate_day
    from jobs import land_to_bronze

    if ready.is_file() and json.loads(ready.read_text()) == {"scale": scale, "sources": sources}:
        print(f"reusing the bronze day in {ctx.settings.var_dir}")
        return
    started = time.perf_counter()
    generate_day(ctx.settings, DAY, scale=scale)
    for source_id in sources:
        land_to_bronze.run(ctx, source_id, DAY, "bench-validation", count=False)
    ready.write_text(json.dumps({"scale": scale, "sources": sources}))
    print(f"generated and loaded into bronze in {time.perf_counter() - started:.0f} s", flush=True)


def _report(source: Source, rows: int, times: dict[str, list[float]], c: Comparison) -> None:
    ratio = statistics.median(times["gx"]) / statistics.median(times["single"])
    print(f"\n{source.id}: {rows:,} rows; GX ÷ single-pass {ratio:.1f}x")
    print(f"  single-pass {_stats(times['single'])}; GX {_stats(times['gx'])}")
    print(f"  {'rule (checked by both)':<28} {'single-pass':>11} {'GX':>7}")
    for rid, (n, g) in c.counts.items():
        note = f"  GX: {c.columns[rid]} columns, summed" if c.columns[rid] > 1 else ""
        flag = "  DISAGREE" if n != g else ""
        print(f"  {rid:<28} {n:>11,} {g:>7,}{flag}{note}")
    items = ", ".join(f"{rid} {n:,}" for rid, n in c.single_only.items())
    print(f"  single-pass only (checked before silver, not in the suite): {items or 'none'}")
    items = ", ".join(
        f"{label}{f' on {c.columns[label]} columns' if c.columns.get(label, 1) > 1 else ''} {n:,}"
        for label, n in c.gx_only.items()
    )
    print(f"  GX only (no rule, or a before-silver rule restated on silver): {items}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--sources", nargs="+", help="source ids (default: all declared)")
    parser.add_argument(
        "--keep",
        type=Path,
        help="work in this folder and keep it: a later run with the same --scale and "
        "--sources reuses its bronze day instead of generating and loading it again",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from bench_history import _settings

    from enforcement_brain.declarations import load_catalog
    from enforcement_brain.orchestration.runtime import JobContext

    with tempfile.TemporaryDirectory(prefix="eb-bench-validation-") as name:
        root = args.keep.resolve() if args.keep else Path(name)
        root.mkdir(parents=True, exist_ok=True)
        settings = _settings(root / "var", args.scale)
        catalog = load_catalog(settings.standards_dir)
        sources = args.sources or list(catalog.sources)
        if unknown := sorted(set(sources) - set(catalog.sources)):
            sys.exit(f"unknown source(s): {', '.join(unknown)}")
        ctx = JobContext(settings, catalog)
        _prepare(ctx, sources, args.scale, root / "bronze-ready.json")

        totals: dict[str, list[float]] = {"single": [0.0] * args.runs, "gx": [0.0] * args.runs}
        disagree: list[str] = []
        all_rows = 0
        for source_id in sources:
            source = catalog.sources[source_id]
            bronze = bronze_day(ctx, source, DAY)
            rows, times, comparison = measure(
                catalog, source, bronze, args.runs, source_id == sources[0]
            )
            _report(source, rows, times, comparison)
            for key in totals:
                totals[key] = [t + s for t, s in zip(totals[key], times[key], strict=True)]
            disagree += [
                f"{source_id} {rid} {pair}" for rid, pair in comparison.disagreements().items()
            ]
            all_rows += rows
    ratio = statistics.median(totals["gx"]) / statistics.median(totals["single"])
    print(f"\n{len(sources)} sources, {all_rows:,} rows, scale {args.scale}, {args.runs} runs:")
    print(f"  single-pass {_stats(totals['single'])}")
    print(f"  GX          {_stats(totals['gx'])}")
    print(f"  GX ÷ single-pass: {ratio:.1f}x; target ≥ 3x with the same counts")
    if disagree:
        sys.exit(
            f"counts disagree (single-pass, GX): {'; '.join(disagree)} (a range rule counts a "
            "delivered value that does not convert; GX reads its typed NULL)"
        )
    print("  every rule both check has the same count on both sides")


if __name__ == "__main__":
    main()
