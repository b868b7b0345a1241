"""Publishing behind the gate, and the analyst queries of docs/analyst-queries.md."""

from __future__ import annotations

import datetime as dt

import pytest
from analyst_queries_support import analyst_queries

from enforcement_brain.declarations import load_catalog
from enforcement_brain.gold.publish import GateFailed, publish, published_partitions
from enforcement_brain.lake import tables

DAY = dt.date(2026, 11, 29)
SCHEMA = (
    "transfer_id string, direction string, plate_no string, to_area string, "
    "violation_code string, case_closed_at timestamp, transferred_at timestamp, biz_date date, "
    "_delivery_date date"
)


def test_the_analyst_document_has_a_query_per_figure():
    blocks = analyst_queries()
    assert len(blocks) == 15
    assert all(b.upper().startswith(("SELECT", "WITH")) for b in blocks)


def _silver(spark, settings, rows):
    df = spark.createDataFrame(rows, SCHEMA)
    df.write.format("delta").mode("overwrite").save(
        settings.table_uri("silver", "violation_transfers")
    )


#: The gate counts of violation_transfers_by_destination's publish log, with G_DIRECTION's.
GATE = '{{"G_COUNTS_POSITIVE": 0, "G_DIRECTION": {}, "G_ON_TIME_LE": 0, "G_VEHICLES_LE": 0}}'


def test_a_failing_gate_keeps_the_last_good_version(spark, settings):
    catalog = load_catalog(settings.standards_dir)
    dataset = catalog.datasets["violation_transfers_by_destination"]
    _silver(spark, settings, [("T1", "OUT", "皖F1", "340100", "CX01", None, None, DAY, DAY)])
    report = publish(spark, settings, catalog, dataset, DAY)
    assert (report.rows, report.biz_dates) == (1, [DAY.isoformat()])
    assert published_partitions(settings, dataset, DAY) == [DAY]  # from ops.publish_log
    # A redelivery with an unknown direction: the gate refuses it, nothing is written.
    _silver(spark, settings, [("T1", "SIDEWAYS", "皖F1", "340100", "CX01", None, None, DAY, DAY)])
    with pytest.raises(GateFailed, match=r"G_DIRECTION \(1 rows\)"):
        publish(spark, settings, catalog, dataset, DAY)
    gold = spark.read.format("delta").load(settings.table_uri("gold", dataset.id))
    assert [(r["direction"], r["transfers"]) for r in gold.collect()] == [("OUT", 1)]
    history = spark.sql(f"DESCRIBE HISTORY {tables.qualified('gold', dataset.id)}").collect()
    assert len(history) == 2  # the first write and the CDF property, no third commit
    log = spark.read.format("delta").load(settings.table_uri("ops", "publish_log"))
    fields = ["dataset", "partitions", "rows", "gold_version", "status", "gate"]
    assert [tuple(r) for r in log.orderBy("recorded_at").select(*fields).collect()] == [
        (dataset.id, DAY.isoformat(), 1, 1, "published", GATE.format(0)),
        # the refusal is logged with the gate's counts and the version that stays published
        (dataset.id, DAY.isoformat(), 1, 1, "refused", GATE.format(1)),
    ]
    assert published_partitions(settings, dataset, DAY) == [DAY]  # the refusal replaced nothing
