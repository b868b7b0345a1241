"""Publish a shared dataset: run its SQL over silver, pass the quality gate, replace its days.

The gate runs before anything is written: a dataset that fails it keeps its last good version
(Delta's previous commit stays the current one) and the task fails with the gate ids.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from enforcement_brain.declarations import Catalog, Dataset
from enforcement_brain.errors import EbError
from enforcement_brain.gold.datasets import build
from enforcement_brain.lake import tables
from enforcement_brain.ops.schemas import PUBLISH_LOG_SCHEMA, PUBLISH_REFUSED, PUBLISHED
from enforcement_brain.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession


class GateFailed(EbError):
    """A shared dataset failed its quality gate; its last good version stays published."""


@dataclass(frozen=True)
class PublishReport:
    dataset: str
    delivery_date: str
    biz_dates: list[str]
    rows: int
    gate: dict[str, int]


def affected_biz_dates(
    spark: SparkSession, settings: Settings, source_ids: tuple[str, ...], day: dt.date
) -> list[dt.date]:
    """Business dates touched by the given sources' deliveries of ``day`` (late rows included).

    Both gold and share recompute exactly these dates, so a late record delivered today
    updates yesterday's alerts, and a rerun of a day touches the same dates again.
    """
    from pyspark.sql import functions as F

    dates = {day}
    for sid in source_ids:
        if tables.is_delta_table(settings, "silver", sid):
            silver = spark.read.format("delta").load(settings.table_uri("silver", sid))
            rows = silver.where(F.col("_delivery_date") == F.lit(day)).select("biz_date").distinct()
            dates |= {r["biz_date"] for r in rows.collect() if r["biz_date"] is not None}
    return sorted(dates)


def partition_value(column: Column, period: str) -> Column:
    """The partition a date or time column falls in: its date, or the first day of its month."""
    from pyspark.sql import functions as F

    day = F.to_date(column)
    return F.trunc(day, "month") if period == "month" else day


def affected_partitions(
    spark: SparkSession,
    settings: Settings,
    dataset: Dataset,
    day: dt.date,
    days: Sequence[dt.date] = (),
) -> list[dt.date]:
    """Partitions of ``dataset`` touched by its driving sources' deliveries of ``day`` (and of
    every day in ``days``: a backfill publishes many delivery days at once).

    Like :func:`affected_biz_dates`, but each source's rows are placed by the dataset's declared
    date column (a case by its decision date, not the day it was last updated) and, for a
    monthly dataset, by month. Reference sources (registers) do not drive the partitions.
    """
    from pyspark.sql import functions as F

    delivered = sorted({day, *days})
    found = {d.replace(day=1) if dataset.period == "month" else d for d in delivered}
    for sid in dataset.driving_sources:
        if not tables.is_delta_table(settings, "silver", sid):
            continue
        silver = spark.read.format("delta").load(settings.table_uri("silver", sid))
        value = partition_value(F.col(dataset.date_column(sid)), dataset.period).alias("p")
        rows = silver.where(F.col("_delivery_date").isin(*delivered)).select(value).distinct()
        found |= {r["p"] for r in rows.collect() if r["p"] is not None}
    return sorted(found)


def read_inputs(
    spark: SparkSession, settings: Settings, dataset: Dataset, partitions: list[dt.date]
) -> dict[str, DataFrame]:
    """Silver inputs of a publish: driving sources restricted to the partitions, references whole.

    Restricting on ``biz_date`` (the silver partition column) lets Spark prune files; other
    date columns are small mutable sources where a scan is cheap.
    """
    from pyspark.sql import functions as F

    inputs = {}
    for sid in dataset.sources:
        df = spark.read.format("delta").load(settings.table_uri("silver", sid))
        if sid not in dataset.reference:
            value = partition_value(F.col(dataset.date_column(sid)), dataset.period)
            df = df.where(value.isin(*partitions))
        inputs[sid] = df
    return inputs


def evaluate_gate(df: DataFrame, dataset: Dataset) -> dict[str, int]:
    """Rows failing each gate check, in one aggregate."""
    from pyspark.sql import functions as F

    if not dataset.gate:
        return {}
    row = df.agg(
        *[F.sum(F.when(~F.expr(g.expr), 1).otherwise(0)).alias(g.id) for g in dataset.gate]
    ).first()
    return {g.id: int(row[g.id] or 0) for g in dataset.gate}


def publish(
    spark: SparkSession,
    settings: Settings,
    catalog: Catalog,
    dataset: Dataset,
    day: dt.date,
    run_id: str = "manual",
    days: Sequence[dt.date] = (),
) -> PublishReport:
    """Rebuild the dataset's partitions touched by ``day``'s deliveries; record them in
    ``ops.publish_log`` once committed.

    ``days``: more delivery days published in the same commit (a backfill); each gets its row in
    the log, naming the same partitions, so a share projection of any of them finds them."""
    missing = [s for s in dataset.sources if not tables.is_delta_table(settings, "silver", s)]
    if missing:
        raise EbError(
            f"{dataset.id}: upstream table(s) {', '.join('silver.' + m for m in missing)} do not "
            "exist yet: load those sources first"
        )
    dates = affected_partitions(spark, settings, dataset, day, days)
    inputs = read_inputs(spark, settings, dataset, dates)
    built = build(spark, catalog, dataset, inputs)
    if dataset.partition_by not in built.columns:
        raise EbError(
            f"{dataset.id}: {dataset.sql_path.name} returns no partition column "
            f"'{dataset.partition_by}'"
        )
    if dataset.columns and tuple(built.columns) != dataset.columns:
        # Interfaces are validated against the declared columns: SQL that drifts from them
        # must fail here, not in a share task (or, worse, leak a new column by name).
        raise EbError(
            f"{dataset.id}: {dataset.sql_path.name} returns columns {list(built.columns)}, "
            f"but {dataset.path.name} declares {list(dataset.columns)}"
        )
    built = built.cache()
    try:
        gate = evaluate_gate(built, dataset)
        failed = {k: v for k, v in gate.items() if v}
        if failed:
            rows = built.count()
            # The refusal is history too: the day, what failed, and the version that stays.
            kept = (
                tables.latest_version(settings, "gold", dataset.id)
                if tables.is_delta_table(settings, "gold", dataset.id)
                else None
            )
            _log(
                spark,
                settings,
                dataset,
                day,
                days,
                dates,
                rows,
                kept,
                run_id,
                gate,
                PUBLISH_REFUSED,
            )
            detail = ", ".join(f"{k} ({v} rows)" for k, v in failed.items())
            raise GateFailed(
                f"{dataset.id} {day}: quality gate failed: {detail}; the last good version "
                "stays published"
            )
        rows = built.count()
        props = {"delta.enableChangeDataFeed": "true"} if dataset.change_data_feed else None
        tables.replace_where(
            built,
            settings,
            "gold",
            dataset.id,
            tables.date_predicate(dataset.partition_by, dates),
            partition_by=[dataset.partition_by],
            properties=props,
        )
    finally:
        built.unpersist()
    version = tables.latest_version(settings, "gold", dataset.id)
    _log(spark, settings, dataset, day, days, dates, rows, version, run_id, gate, PUBLISHED)
    return PublishReport(dataset.id, day.isoformat(), [d.isoformat() for d in dates], rows, gate)


def _log(
    spark: SparkSession,
    settings: Settings,
    dataset: Dataset,
    day: dt.date,
    days: Sequence[dt.date],
    dates: list[dt.date],
    rows: int,
    version: int | None,
    run_id: str,
    gate: dict[str, int],
    status: str,
) -> None:
    """One ``ops.publish_log`` row per delivery day of the publish, published or refused."""
    import json

    partitions = ",".join(d.isoformat() for d in dates)
    checks = json.dumps(gate, sort_keys=True)
    log_rows = [
        (dataset.id, delivered, partitions, rows, version, run_id, status, checks)
        for delivered in sorted({day, *days})
    ]
    tables.append_rows(
        spark, settings, "ops", "publish_log", log_rows, PUBLISH_LOG_SCHEMA, recorded_at=True
    )


def published_partitions(
    settings: Settings, dataset: Dataset, day: dt.date
) -> list[dt.date] | None:
    """The partitions the latest publish of ``dataset`` for ``day`` replaced, from
    ``ops.publish_log``; None if gold has changed since (or no such publish is recorded), and
    the caller derives them from silver (:func:`affected_partitions`).

    Read with delta-rs: no Spark job. The gold version guards against a log row that no longer
    describes gold (a publish of the day that died after its commit but before its log row
    is simply not found, and the caller falls back).
    """
    import pyarrow.compute as pc

    wanted = (pc.field("dataset") == dataset.id) & (pc.field("delivery_date") == day)
    rows = tables.read_rows(settings, "ops", "publish_log", wanted)
    rows = [r for r in rows if r.get("status") != PUBLISH_REFUSED]  # a refusal replaced nothing
    if not rows:
        return None
    latest = max(rows, key=lambda r: r["recorded_at"])
    if latest["gold_version"] != tables.latest_version(settings, "gold", dataset.id):
        return None
    return [dt.date.fromisoformat(p) for p in latest["partitions"].split(",") if p]
