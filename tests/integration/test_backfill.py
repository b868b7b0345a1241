"""A backfill of several days leaves the same silver, gold and share rows as the same days
loaded one by one, and a backfill run twice changes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import make_settings

from enforcement_brain.declarations import load_catalog
from enforcement_brain.errors import EbError
from enforcement_brain.generate.day import generate_day
from enforcement_brain.orchestration.backfill import backfill, days_between
from enforcement_brain.orchestration.runtime import JobContext
from enforcement_brain.share.project import project_interface, share_location
from jobs import load_source, publish_dataset

#: Three sources, the three datasets built only from them, the recipients' interface file
#: serving two of them (one table per dataset, a partition per recipient);
#: none reads a register, so publishing the days at once or one by one must agree row for row.
SOURCES = ("wim_weighings", "static_reweighs", "violation_transfers")
DATASETS = ("overload_alerts", "shuang_bai_vehicles", "violation_transfers_by_destination")
INTERFACE = "transfer_recipients_linyi"
DAYS = [dt.date(2026, 11, 27), dt.date(2026, 11, 28)]
#: Columns that record when or where a load ran, not what it loaded.
VOLATILE = {"_loaded_at", "_ingested_at", "_source_file", "_run_id"}


def lake(tmp_path, name: str) -> JobContext:
    settings = make_settings(tmp_path / name, EB_SCALE="0.01")
    for day in DAYS:
        generate_day(settings, day)
    return JobContext(settings, load_catalog(settings.standards_dir))


def rows(spark, ctx: JobContext, layer: str, table: str):
    df = spark.read.format("delta").load(ctx.settings.table_uri(layer, table))
    return df.select(*[c for c in df.columns if c not in VOLATILE])


def test_days_at_once_equal_days_one_by_one(spark, tmp_path):
    one_by_one, at_once = lake(tmp_path, "a"), lake(tmp_path, "b")
    interface = one_by_one.catalog.interfaces[INTERFACE]
    for day in DAYS:
        for sid in SOURCES:
            load_source.run(one_by_one, sid, day, "daily")
        for did in DATASETS:
            publish_dataset.run(one_by_one, did, day, "daily")
        project_interface(spark, one_by_one.settings, one_by_one.catalog, interface, day)

    report = backfill(at_once, DAYS, "backfill", sources=SOURCES, validate=False, say=lambda _: 0)
    assert report.ok, report.errors
    assert [p["dataset"] for p in report.publishes] == sorted(DATASETS)
    assert [p["interface"] for p in report.projections] == [interface.family]

    tables = [("silver", s) for s in SOURCES] + [("gold", d) for d in DATASETS]
    tables += [("share", share_location(interface, e.dataset)[0]) for e in interface.datasets]
    for layer, table in tables:
        a, b = rows(spark, one_by_one, layer, table), rows(spark, at_once, layer, table)
        # the recipients' shares may hold nothing at this scale; silver and gold may not
        assert layer == "share" or a.count() > 0, (layer, table)
        assert (a.exceptAll(b).count(), b.exceptAll(a).count()) == (0, 0), (layer, table)
    late = rows(spark, at_once, "silver", "wim_weighings").where("biz_date < _delivery_date")
    assert late.count() > 0  # the generator's late rows went into earlier days' partitions

    # Once more: nothing changes.
    before = {t: rows(spark, at_once, *t).count() for t in tables}
    again = backfill(at_once, DAYS, "again", sources=SOURCES, validate=False, say=lambda _: 0)
    assert again.ok and sum(r["inserted"] + r["updated"] for r in again.loads) == 0
    assert {t: rows(spark, at_once, *t).count() for t in tables} == before


def test_days_between_refuses_a_reversed_range():
    assert days_between(DAYS[0], DAYS[-1]) == DAYS
    with pytest.raises(EbError, match="--to 2026-11-27 is before --from 2026-11-28"):
        days_between(DAYS[-1], DAYS[0])
