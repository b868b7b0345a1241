"""Publish a shared dataset: build from silver, pass the quality gate, replace its days.

The gate runs before anything is written: a dataset that fails it keeps its last good version
(Delta's previous commit stays the current one) and the task fails with the gate ids.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from enforcement_brain.declarations import Catalog, Dataset
from enforcement_brain.errors import EbError
from enforcement_brain.gold.builders import BUILDERS
from enforcement_brain.lake import tables
from enforcement_brain.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


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


def date_predicate(column: str, dates: list[dt.date]) -> str:
    return f"{column} IN ({', '.join(repr(d.isoformat()) for d in dates)})"


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
    spark: SparkSession, settings: Settings, catalog: Catalog, dataset: Dataset, day: dt.date
) -> PublishReport:
    """Rebuild the dataset's business dates touched by ``day``'s deliveries."""
    from pyspark.sql import functions as F

    missing = [s for s in dataset.sources if not tables.is_delta_table(settings, "silver", s)]
    if missing:
        raise EbError(
            f"{dataset.id}: upstream table(s) {', '.join('silver.' + m for m in missing)} do not "
            "exist yet: load those sources first"
        )
    dates = affected_biz_dates(spark, settings, dataset.sources, day)
    inputs = {
        sid: spark.read.format("delta")
        .load(settings.table_uri("silver", sid))
        .where(F.col("biz_date").isin(*dates))
        for sid in dataset.sources
    }
    built = BUILDERS[dataset.builder](inputs, catalog).cache()
    try:
        gate = evaluate_gate(built, dataset)
        failed = {k: v for k, v in gate.items() if v}
        if failed:
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
            date_predicate(dataset.partition_by, dates),
            partition_by=[dataset.partition_by],
            properties=props,
        )
    finally:
        built.unpersist()
    return PublishReport(dataset.id, day.isoformat(), [d.isoformat() for d in dates], rows, gate)
