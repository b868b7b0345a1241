"""A tiny generated day through silver into every declared shared dataset.

Generates one day at scale 0.001, loads the sources the datasets read with the project's own
load job (in-process), publishes every declared dataset and checks that each passed its gate,
is a Delta table with the change data feed on, and is readable by the ``deltalake`` package
(the Rust reader partner agencies use, independent of Spark).
"""

from __future__ import annotations

import datetime as dt

import pytest

from enforcement_brain.declarations import load_catalog
from enforcement_brain.orchestration.runtime import JobContext
from jobs import load_source, publish_dataset

DAY = dt.date(2026, 11, 29)


@pytest.mark.e2e
def test_every_dataset_publishes_from_a_generated_day(settings, spark):
    import deltalake

    from enforcement_brain.generate import generate_day

    ctx = JobContext(settings, load_catalog(settings.standards_dir))
    generate_day(settings, DAY, scale=0.001, seed=7)
    needed = sorted({s for d in ctx.catalog.datasets.values() for s in d.sources})
    for sid in needed:
        load_source.run(ctx, sid, DAY, "gold-it")
    reports = {
        did: publish_dataset.run(ctx, did, DAY, "gold-it") for did in sorted(ctx.catalog.datasets)
    }
    assert len(reports) == 18  # 17 shared datasets and the monthly KPIs
    for did, report in reports.items():
        assert all(v == 0 for v in report["gate"].values()), (did, report["gate"])
        path = settings.table_uri("gold", did).removeprefix("file://")
        table = deltalake.DeltaTable(path)
        assert table.metadata().configuration.get("delta.enableChangeDataFeed") == "true", did
        arrow = table.to_pyarrow_table()
        assert arrow.num_rows == report["rows"], did
        dataset = ctx.catalog.datasets[did]
        assert set(dataset.business_key) <= set(arrow.column_names), did
        assert table.metadata().partition_columns == [dataset.partition_by], did
    # A generated day has WIM overloads, transfers and tasks: these datasets are not empty.
    for did in ("overload_alerts", "violation_transfers_by_destination", "kpi_monthly"):
        assert reports[did]["rows"] > 0, did

    # The analyst queries run as written against this lake, by table name.
    from test_gold_publish import analyst_queries

    from enforcement_brain.lake.tables import register_lake

    register_lake(spark, settings)
    for sql in analyst_queries():
        spark.sql(sql).collect()
