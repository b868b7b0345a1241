"""Replay a day's quarantine through the checks again, once its rows are fixed.

A row is fixed in one of two ways: the standards changed (a code added to a table, a range
widened: replay after ``make standards``), or a data steward corrected the delivered text in
place (``UPDATE quarantine.<source> SET plate_no = '苏C12345' WHERE _source_line = 42``).
Replay runs the quarantined rows, as delivered or corrected, through the same conform, checks,
dedupe and MERGE as a load: rows that now pass go to silver, the others stay in quarantine with
their current reasons. The replay is a batch of its own in the ledger and the batch log, and it
reconciles like any batch: rows replayed = into silver + still quarantined.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from enforcement_brain.declarations import Catalog, Source
from enforcement_brain.errors import DeliveryError
from enforcement_brain.lake import tables
from enforcement_brain.ops.ledger import BatchReport, record_batch
from enforcement_brain.pipeline.bronze import META_COLUMNS
from enforcement_brain.pipeline.silver import load_batch
from enforcement_brain.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def quarantined_as_bronze(
    spark: SparkSession, settings: Settings, source: Source, day: dt.date
) -> DataFrame:
    """The day's quarantined rows in bronze's shape (delivered text, file and line)."""
    from pyspark.sql import functions as F

    rows = spark.read.format("delta").load(settings.table_uri("quarantine", source.id))
    return rows.where(F.col("_delivery_date") == F.lit(day)).select(
        *source.column_names, *META_COLUMNS, "_batch_id", "_delivery_date"
    )


def replay(
    spark: SparkSession,
    settings: Settings,
    catalog: Catalog,
    source: Source,
    day: dt.date,
    run_id: str,
) -> BatchReport:
    """Re-check the day's quarantine of ``source``, record the replay batch in the ledger and
    the batch log as a load's job does, and return its report."""
    if not tables.is_delta_table(settings, "quarantine", source.id):
        raise DeliveryError(f"{source.id}: nothing to replay, no quarantine table yet")
    rows = quarantined_as_bronze(spark, settings, source, day)
    if rows.isEmpty():
        raise DeliveryError(f"{source.id}: nothing to replay, no row quarantined for {day}")
    # Materialised first: the replay rewrites the very quarantine slice it reads.
    rows = rows.localCheckpoint()
    report, ledger = load_batch(spark, settings, catalog, source, day, run_id, bronze=rows)
    record_batch(spark, settings, report, ledger, run_id)
    return report
