"""Landing → bronze → silver/quarantine → gold → share on a small hand-written WIM delivery."""

from __future__ import annotations

import datetime as dt

import pytest
from wim_support import DAY, HEADER, load_day, rows, write_delivery
from wim_support import wim_site as _site

from enforcement_brain.declarations import load_catalog
from enforcement_brain.ops.ledger import LATEST_LEDGER_SQL
from enforcement_brain.orchestration.runtime import JobContext
from jobs import land_to_bronze, project_interface, publish_dataset


@pytest.fixture
def ctx(settings, spark):
    return JobContext(settings, load_catalog(settings.standards_dir))


def test_batch_reconciles_and_quarantines_with_reasons(ctx, spark):
    settings = ctx.settings
    write_delivery(settings, rows(settings, _site(settings)))
    report = load_day(ctx)
    assert report == {
        "source": "wim_weighings",
        "delivery_date": "2026-11-29",
        "batch_id": report["batch_id"],
        "rows_in": 10,
        "inserted": 5,
        "updated": 0,
        "unchanged": 0,
        "duplicates_dropped": 1,
        "quarantined": 4,
        "warned": 1,
    }
    q = spark.read.format("delta").load(settings.table_uri("quarantine", "wim_weighings"))
    reasons = {r["record_id"]: r["_violations"] for r in q.collect()}
    assert reasons["W4"] == ["R_PLATE_FORMAT"]
    assert reasons["W5"] == ["R_GROSS_WEIGHT_RANGE"]
    assert reasons["W6"] == ["R_SITE_KNOWN"]
    assert "R_RECORD_PARSES" in reasons["W7"]
    lines = {r["record_id"]: r["_source_line"] for r in q.collect()}
    assert lines == {"W4": 5, "W5": 6, "W6": 7, "W7": 8}  # header is line 1

    silver = spark.read.format("delta").load(settings.table_uri("silver", "wim_weighings"))
    by_id = {r["record_id"]: r for r in silver.collect()}
    assert sorted(by_id) == ["W1", "W2", "W3", "W8", "W9"]
    assert by_id["W8"]["_warnings"] == ["R_PLATE_COLOR_CODE"]
    assert by_id["W9"]["biz_date"] == dt.date(2026, 11, 28)
    assert by_id["W2"]["plate_color"] == "yellow"  # transport code 2 = yellow
    assert by_id["W1"]["gross_weight_kg"] == 40000

    ledger = spark.read.format("delta").load(settings.table_uri("ops", "dq_ledger"))
    failed = {r["rule_id"]: r["failed"] for r in ledger.collect()}
    assert failed["R_PLATE_FORMAT"] == 1
    assert failed["R_GROSS_WEIGHT_RANGE"] == 1
    assert failed["R_PLATE_COLOR_CODE"] == 1
    assert {r["checked"] for r in ledger.collect()} == {10}


def test_rerun_is_idempotent_and_gold_share_follow(ctx, spark):
    settings = ctx.settings
    write_delivery(settings, rows(settings, _site(settings)))
    load_day(ctx)
    again = load_day(ctx)
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 5)
    # The ledger keeps both loads; the latest one is the current truth.
    ledger = spark.read.format("delta").load(settings.table_uri("ops", "dq_ledger"))
    rules = ledger.select("rule_id").distinct().count()
    assert ledger.count() == 2 * rules
    latest = spark.sql(LATEST_LEDGER_SQL).collect()
    assert len(latest) == rules and len({r["recorded_at"] for r in latest}) == 1

    publish_dataset.run(ctx, "overload_alerts", DAY, "test-run")
    gold = spark.read.format("delta").load(settings.table_uri("gold", "overload_alerts"))
    alerts = {r["alert_id"]: r for r in gold.collect()}
    assert sorted(alerts) == ["W2", "W3", "W9"]
    assert (alerts["W2"]["limit_kg"], alerts["W2"]["excess_kg"], alerts["W2"]["fine_yuan"]) == (
        25000,
        6000,
        3000,
    )
    assert alerts["W3"]["is_bai_dun_wang"] and alerts["W3"]["is_shuang_bai"]
    assert alerts["W9"]["limit_kg"] == 18000 and alerts["W9"]["needs_static_reweigh"] is False

    project_interface.run(ctx, "provincial_supervision", DAY, "test-run")
    share = spark.read.format("delta").load(
        settings.table_uri("share", "provincial_supervision__overload_alerts")
    )
    plates = sorted(r["plate_no"] for r in share.collect())
    # W9 is 8.3 % over: below the bureau's 10 % row filter, so it never reaches the share.
    assert plates == ["苏C****5", "鲁Q****挂"]
    assert "is_combination" not in share.columns  # not in the interface's allowlist


def test_a_retry_after_a_load_killed_before_its_batch_log_row_reports_the_batch(ctx, spark):
    """The process died after silver committed and before the ledger and batch log were
    appended (the chaos harness's "ledger append" kill); the retry under the same run id
    records what the batch did, as the load that died would have."""
    from enforcement_brain.lake import tables
    from enforcement_brain.pipeline.silver import load_batch

    settings = ctx.settings
    write_delivery(settings, rows(settings, _site(settings)))
    land_to_bronze.run(ctx, "wim_weighings", DAY, "test-run")
    source = ctx.catalog.sources["wim_weighings"]
    load_batch(spark, settings, ctx.catalog, source, DAY, "test-run")  # silver committed, then...
    assert tables.read_rows(settings, "ops", "batch_log") == []  # ...killed: nothing recorded
    retry = load_day(ctx)
    assert (retry["inserted"], retry["updated"], retry["unchanged"]) == (5, 0, 0)
    logged = tables.read_rows(settings, "ops", "batch_log")
    assert [(r["inserted"], r["unchanged"], r["reconciles"]) for r in logged] == [(5, 0, True)]
    # a rerun once the batch is recorded reports what it did: nothing new
    again = load_day(ctx)
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 5)


def test_a_loads_commits_carry_its_tasks_label_and_silver_its_batch_too(ctx, spark):
    """Silver's commits name the batch and run (for a retry) after the task's label, so the
    run summary still counts them as the task's, and the label outlives the load."""
    from enforcement_brain.orchestration.breakdown import commits_by_label
    from enforcement_brain.orchestration.tasks import attach_session
    from enforcement_brain.pipeline.silver import USER_METADATA, carries_tag, commit_tag

    settings = ctx.settings
    write_delivery(settings, rows(settings, _site(settings)))
    label = "ingest_wim_weighings:load:2026-11-29"
    attach_session(spark, label)
    try:
        report = load_day(ctx)
        assert spark.conf.get(USER_METADATA, None) == label
    finally:
        spark.conf.unset(USER_METADATA)
    counted = commits_by_label(settings)
    assert set(counted) == {label} and counted[label] >= 4  # bronze, quarantine, silver, ops
    silver = spark.sql(f"DESCRIBE HISTORY delta.`{settings.table_uri('silver', 'wim_weighings')}`")
    stamps = [r["userMetadata"] for r in silver.collect() if r["operation"] == "WRITE"]
    tag = commit_tag(report["batch_id"], "test-run")
    assert stamps and all(s.startswith(label + " ") and carries_tag(s, tag) for s in stamps)


def test_replay_moves_fixed_rows_to_silver_and_keeps_the_rest(ctx, spark):
    from enforcement_brain.pipeline.replay import replay

    settings = ctx.settings
    write_delivery(settings, rows(settings, _site(settings)))
    load_day(ctx)
    quarantine = f"delta.`{settings.table_uri('quarantine', 'wim_weighings')}`"
    # A data steward corrects W4's plate (letter O for zero) in the quarantined text.
    spark.sql(f"UPDATE {quarantine} SET plate_no = '苏C01234' WHERE record_id = 'W4'")
    source = ctx.catalog.sources["wim_weighings"]
    report = replay(spark, settings, ctx.catalog, source, DAY, "replay-1")
    assert (report.rows_in, report.inserted, report.quarantined) == (4, 1, 3)
    assert report.reconciles()
    silver = spark.read.format("delta").load(settings.table_uri("silver", "wim_weighings"))
    w4 = silver.where("record_id = 'W4'").collect()
    assert len(w4) == 1 and w4[0]["plate_no"] == "苏C01234" and w4[0]["_source_line"] == 5
    left = spark.read.format("delta").load(settings.table_uri("quarantine", "wim_weighings"))
    assert sorted(r["record_id"] for r in left.collect()) == ["W5", "W6", "W7"]
    # Replaying again changes nothing: the rest is still broken.
    again = replay(spark, settings, ctx.catalog, source, DAY, "replay-2")
    assert (again.rows_in, again.inserted, again.quarantined) == (3, 0, 3)


def test_replay_of_a_day_without_quarantine_says_so(ctx, spark):
    from enforcement_brain.errors import DeliveryError
    from enforcement_brain.pipeline.replay import replay

    source = ctx.catalog.sources["wim_weighings"]
    with pytest.raises(DeliveryError, match="no quarantine table yet"):
        replay(spark, ctx.settings, ctx.catalog, source, DAY, "replay-1")


def test_schema_drift_fails_with_a_code_before_anything_is_written(ctx, spark):
    from enforcement_brain.errors import SchemaDriftError

    settings, site = ctx.settings, _site(ctx.settings)
    # The weighing system started sending weights as text with a unit: a retyped column.
    retyped = [
        f"R{n},{site},苏C1{n:04d},2,H11,2,{15000 + n} kg,50,1,2026-11-29 08:{n:02d}:00"
        for n in range(25)
    ]
    write_delivery(settings, retyped)
    with pytest.raises(SchemaDriftError, match=r"^\[EB-DRIFT-RETYPED\] .*gross_weight_kg"):
        load_day(ctx)
    assert not (settings.local_lake / "silver" / "wim_weighings").exists()
    assert not (settings.local_lake / "quarantine" / "wim_weighings").exists()

    # A declared column dropped from the header: refused before bronze.
    folder = settings.local_lake / "landing" / "wim_weighings" / DAY.isoformat()
    header = HEADER.replace(",speed_kmh", "")
    (folder / "_manifest.json").unlink()  # a re-delivery, not a landed file altered
    (folder / "wim_A_20261129.csv").write_text(header + "\nW1,x\n", encoding="utf-8")
    with pytest.raises(SchemaDriftError, match=r"^\[EB-DRIFT-MISSING\] .*speed_kmh"):
        load_day(ctx)
    assert (folder / "wim_A_20261129.csv").exists()  # the delivery stays in landing


def test_special_plates_and_an_unplated_vehicle_load(ctx, spark):
    """Embassy, consulate, armed-police, emergency and test-vehicle plates are real plates, and a
    transport feed's colour 0 is a vehicle not yet plated: all load, none is flagged.
    ``使A12345`` (使 taken for a province) is not a plate of any form."""
    settings = ctx.settings
    site = _site(settings)
    lines = [
        f"S1,{site},224001使,3,K33,2,2000,50,1,2026-11-29 08:00:00,",
        f"S2,{site},沪A1234领,3,K33,2,2000,50,1,2026-11-29 08:01:00,",
        f"S3,{site},WJ苏12345,4,H11,2,12000,50,1,2026-11-29 08:02:00,",
        f"S4,{site},苏X1234应急,4,H11,2,12000,50,1,2026-11-29 08:03:00,",
        f"S5,{site},苏A1234试,2,H11,2,12000,50,1,2026-11-29 08:04:00,",
        f"S6,{site},-,0,H11,2,12000,50,1,2026-11-29 08:05:00,",
        f"S7,{site},使A12345,3,K33,2,2000,50,1,2026-11-29 08:06:00,",
    ]
    write_delivery(settings, lines)
    report = load_day(ctx)
    assert (report["rows_in"], report["inserted"], report["quarantined"]) == (7, 6, 1)
    assert report["warned"] == 0
    q = spark.read.format("delta").load(settings.table_uri("quarantine", "wim_weighings"))
    assert {r["record_id"]: r["_violations"] for r in q.collect()} == {"S7": ["R_PLATE_FORMAT"]}
    silver = spark.read.format("delta").load(settings.table_uri("silver", "wim_weighings"))
    by_id = {r["record_id"]: r for r in silver.collect()}
    assert sorted(by_id) == ["S1", "S2", "S3", "S4", "S5", "S6"]
    assert all(not r["_warnings"] for r in by_id.values())
    assert by_id["S6"]["plate_color"] == "unplated"  # transport code 0 = 未上牌
    assert by_id["S6"]["plate_color_system"] == "plate_color_transport"
    assert by_id["S1"]["plate_color"] == "black"
