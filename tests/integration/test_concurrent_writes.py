"""Loads of different sources run at the same time (Airflow runs DAGs in parallel): their writes
to shared tables must not conflict. Delta reports a conflict when a replaceWhere's partitions
overlap a concurrent write's, so shared per-source tables are partitioned by source."""

from __future__ import annotations

import datetime as dt
import threading

from enforcement_brain.lake import tables
from enforcement_brain.ops import ledger
from enforcement_brain.ops.ledger import BatchReport


def test_parallel_replace_where_on_disjoint_partitions(spark, settings) -> None:
    errors: list[str] = []

    def write(source: str, n: int) -> None:
        try:
            df = spark.createDataFrame(
                [(source, dt.date(2026, 11, 28), n)], "source string, delivery_date date, n int"
            )
            predicate = f"source = '{source}' AND delivery_date = '2026-11-28'"
            tables.replace_where(df, settings, "ops", "t", predicate, partition_by=["source"])
        except Exception as exc:  # collected and asserted below
            errors.append(str(exc).splitlines()[0])

    write("first", 0)
    for n in range(3):
        threads = [threading.Thread(target=write, args=(f"s{k}", n)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    rows = spark.read.format("delta").load(settings.table_uri("ops", "t")).collect()
    assert sorted((r["source"], r["n"]) for r in rows) == [
        ("first", 0), ("s0", 2), ("s1", 2), ("s2", 2), ("s3", 2)
    ]  # fmt: skip


def test_ledger_is_partitioned_by_source(spark, settings) -> None:
    report = BatchReport("wim_weighings", "2026-11-28", "b", 1, 1, 0, 0, 0, 0, 0)
    row = {
        "source": "wim_weighings", "delivery_date": dt.date(2026, 11, 28), "batch_id": "b",
        "rule_id": "R", "rule_title": "t", "severity": "warn", "action": "flagged",
        "checked": 1, "failed": 0, "standard_version": "v", "run_id": "r",
    }  # fmt: skip
    ledger.record_batch(spark, settings, report, [row], "r")
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{settings.table_uri('ops', 'dq_ledger')}`").first()
    assert list(detail["partitionColumns"]) == ["source"]


def test_loads_that_create_a_history_table_at_once_all_land(spark, settings) -> None:
    """On a new lake every load of the day appends to ``ops.*`` first: the creations race."""
    errors: list[str] = []

    def write(n: int) -> None:
        try:
            schema = "source string, n int"
            rows = [(f"s{n}", n)]
            parts = ["source"]
            tables.append_rows(None, settings, "ops", "history", rows, schema, partition_by=parts)
        except Exception as exc:  # collected and asserted below
            errors.append(str(exc).splitlines()[0])

    for round_ in range(3):
        threads = [threading.Thread(target=write, args=(10 * round_ + k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if round_ == 0:
            first = spark.read.format("delta").load(settings.table_uri("ops", "history")).count()
            assert first == 4, errors
    assert errors == []
    rows = spark.read.format("delta").load(settings.table_uri("ops", "history")).collect()
    assert sorted(r["n"] for r in rows) == [0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23]
