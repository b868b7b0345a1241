"""Backfill: many delivery days through the pipeline in one process.

Why not N runs of the day: a day through Airflow pays, per task, a process, its imports and a
Spark session, and publishes every dataset and projects every interface once per day. A
backfill loads each source's days in order in one Spark session, then publishes each dataset
once over all the partitions the days touched and projects each interface once. Every step is
the one the DAGs run (the same jobs), so a backfill leaves the tables a run of the same days
one by one leaves, with one difference a backfill shares with any rerun: events are judged
against the registers (permits, vehicle register) as they stand when the dataset is published.

Idempotent like the day: a load replaces its delivery day's slices, a publish its partitions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from enforcement_brain.errors import EbError
from enforcement_brain.orchestration.runtime import JobContext


@dataclass
class BackfillReport:
    """What a backfill did: per step its result or its error, and where the time went."""

    days: list[dt.date]
    loads: list[dict[str, Any]] = field(default_factory=list)
    publishes: list[dict[str, Any]] = field(default_factory=list)
    projections: list[dict[str, Any]] = field(default_factory=list)
    validations: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def days_between(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every date from ``first`` to ``last``, both included; a clear error when reversed."""
    if last < first:
        raise EbError(f"backfill: --to {last} is before --from {first}")
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def backfill(
    ctx: JobContext,
    days: Sequence[dt.date],
    run_id: str,
    *,
    sources: tuple[str, ...] = (),
    validate: bool = True,
    workers: int = 2,
    generate: bool = False,
    scale: float | None = None,
    say: Callable[[str], None] = print,
) -> BackfillReport:
    """Load ``days`` of every source (or of ``sources``), validate, publish and share once;
    with ``generate``, deliver the days into landing first (at ``scale``).

    Under the lake lock, taken before anything is generated or loaded: a backfill started while
    ``eb run`` or another backfill writes the lake refuses at once (:mod:`.lock`).

    A source whose load fails for a day is reported and the others go on; a dataset built from
    it is then not published (its last good version stays) and neither are its interfaces.

    ``workers`` sources of a day load at once, in threads of the one Spark session: a small
    source's load is mostly the driver planning and committing on one core, so another load
    keeps the second core busy. Each source's days still load in order, one day at a time.
    """
    from enforcement_brain.orchestration.lock import lake_lock

    days = sorted(days)
    command = f"eb backfill --from {days[0]} --to {days[-1]}"
    with lake_lock(ctx.settings, command, say):
        if generate:
            from enforcement_brain.generate.day import generate_day

            for n, day in enumerate(days, start=1):
                made = generate_day(ctx.settings, day, scale=scale)
                rows = sum(made.rows_by_source.values())
                say(f"  generated {day} ({n}/{len(days)}): {rows:,} rows into landing")
        return _backfill(ctx, days, run_id, sources, validate, workers, say)


def _backfill(
    ctx: JobContext,
    days: list[dt.date],
    run_id: str,
    sources: tuple[str, ...],
    validate: bool,
    workers: int,
    say: Callable[[str], None],
) -> BackfillReport:
    from enforcement_brain.gold.publish import publish
    from enforcement_brain.orchestration.daily import dag_order
    from enforcement_brain.share.project import project_family
    from jobs import load_source, validate_silver

    catalog, settings = ctx.catalog, ctx.settings
    order = dag_order(catalog, sources)
    source_ids = [d.removeprefix("ingest_") for d in order if d.startswith("ingest_")]
    datasets = [d.removeprefix("publish_") for d in order if d.startswith("publish_")]
    interfaces = [d.removeprefix("share_") for d in order if d.startswith("share_")]
    report = BackfillReport(list(days))
    failed: set[str] = set()

    # Biggest first, so that a long load does not start last and run alone.
    source_ids.sort(key=lambda s: -catalog.sources[s].expected_daily_rows)

    def load(sid: str, day: dt.date) -> dict[str, Any]:
        return load_source.run(ctx, sid, day, run_id)

    started = time.monotonic()
    for n, day in enumerate(days, start=1):
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = {sid: pool.submit(load, sid, day) for sid in source_ids}
        for sid in sorted(futures):
            try:
                report.loads.append(futures[sid].result())
            except EbError as exc:
                failed.add(sid)
                report.errors.append(f"load {sid} {day}: {exc}")
        rows = sum(int(r.get("rows_in", 0)) for r in report.loads if r["delivery_date"] == str(day))
        elapsed = time.monotonic() - started
        say(f"  loaded {day} ({n}/{len(days)}): {rows:,} rows, {elapsed:.0f} s so far")
    report.seconds["load"] = time.monotonic() - started

    mark = time.monotonic()
    if validate and "validate_silver" in order:
        for day in days:
            report.validations.append(validate_silver.run(ctx, "all", day, run_id))
        say(f"  validated {len(days)} day(s) with the GX suites in {time.monotonic() - mark:.0f} s")
    report.seconds["validate"] = time.monotonic() - mark

    mark = time.monotonic()
    published: set[str] = set()
    for did in datasets:
        dataset = catalog.datasets[did]
        if set(dataset.sources) & failed:
            report.errors.append(f"publish {did}: not run, a source of it failed to load")
            continue
        try:
            result = publish(ctx.spark, settings, catalog, dataset, days[-1], run_id, days)
        except EbError as exc:
            report.errors.append(f"publish {did}: {exc}")
            continue
        published.add(did)
        report.publishes.append(dataclasses.asdict(result))
    say(f"  published {len(published)} dataset(s) in {time.monotonic() - mark:.0f} s")
    report.seconds["publish"] = time.monotonic() - mark

    mark = time.monotonic()
    families = catalog.interface_families()
    for iid in interfaces:
        members = families[iid]
        if not {e.dataset for i in members for e in i.datasets} <= published:
            report.errors.append(f"share {iid}: not run, a dataset of it was not published")
            continue
        try:
            tables = project_family(ctx.spark, settings, catalog, members, days[-1])
        except EbError as exc:
            report.errors.append(f"share {iid}: {exc}")
            continue
        report.projections.append(
            {"interface": iid, "tables": [dataclasses.asdict(t) for t in tables]}
        )
    say(f"  projected {len(report.projections)} interface(s) in {time.monotonic() - mark:.0f} s")
    report.seconds["share"] = time.monotonic() - mark
    report.seconds["total"] = time.monotonic() - started
    return report
