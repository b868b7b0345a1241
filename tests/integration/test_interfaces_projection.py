# ruff: noqa: E501  (hand-made frames read best one row a line)
"""The declared interfaces' projections on tiny hand-made gold frames, one per mask and
row-filter shape: masked columns masked, columns outside the allowlist absent, rows outside
the row filter absent; and ``project_interface`` refreshing exactly the partitions a day
touched for datasets partitioned by a decision date or by month.

Gold frames take their schema from the builder itself (run on empty silver frames), so they
are gold-shaped by construction, and the same run proves each builder's output columns are
the ones its declaration lists.
"""

from __future__ import annotations

import datetime as dt

import pytest

from enforcement_brain.declarations import InterfaceDataset, load_catalog
from enforcement_brain.errors import EbError
from enforcement_brain.gold.datasets import build
from enforcement_brain.lake import tables
from enforcement_brain.settings import REPO_ROOT

D0 = dt.date(2026, 11, 29)


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(REPO_ROOT / "data_standards")


@pytest.fixture(scope="module")
def schemas(spark, catalog):
    """Each dataset's gold schema, as its builder returns it from empty silver frames."""
    from pyspark.sql.types import StructField, StructType, _parse_datatype_string

    from enforcement_brain.pipeline.silver import canonical_columns

    def silver(source):
        fields = [StructField(c.name, _parse_datatype_string(c.type)) for c in source.columns]
        if "biz_date" not in source.column_names:
            fields.append(StructField("biz_date", _parse_datatype_string("date")))
        empty = spark.createDataFrame([], StructType(fields))
        return empty.select("*", *canonical_columns(catalog, source))  # as silver adds them

    out = {}
    for did, dataset in catalog.datasets.items():
        inputs = {sid: silver(catalog.sources[sid]) for sid in dataset.sources}
        out[did] = build(spark, catalog, dataset, inputs).schema
    return out


def gold(spark, schemas, did: str, rows: list[dict]):
    """A gold frame of ``did`` from partial rows (columns not given are null)."""
    from pyspark.sql.types import StructField, StructType

    schema = StructType([StructField(f.name, f.dataType, True) for f in schemas[did].fields])
    return spark.createDataFrame(
        [tuple(r.get(f.name) for f in schema.fields) for r in rows], schema
    )


def shared(catalog, iid: str, did: str, frame, key: str) -> dict[str, dict]:
    """The rows interface ``iid`` receives of ``frame``, by ``key``; columns checked exactly."""
    from enforcement_brain.share.project import project

    entry = next(d for d in catalog.interfaces[iid].datasets if d.dataset == did)
    out = project(frame, entry)
    assert out.columns == list(entry.columns)
    return {r[key]: r.asDict() for r in out.collect()}


def test_every_builder_returns_exactly_its_declared_columns(catalog, schemas):
    for did, dataset in catalog.datasets.items():
        assert schemas[did].names == list(dataset.columns), did


ALARMS = [
    {"alarm_id": "A1", "plate_no": "苏C12345", "alarm_type": "OVERSPEED", "lon": 117.18456,
     "lat": 34.26123, "certificate_no": "320300001", "biz_date": D0},
    {"alarm_id": "A2", "plate_no": "苏CB0002", "alarm_type": "EMERGENCY", "lon": 117.30999,
     "lat": 34.40501, "certificate_no": "320300002", "biz_date": D0},
    {"alarm_id": "A3", "plate_no": "鲁Q8888挂", "alarm_type": "FATIGUE", "lon": 116.9,
     "lat": 34.5, "certificate_no": None, "biz_date": D0},
    {"alarm_id": "A4", "plate_no": "苏CB0004", "alarm_type": "OFFLINE", "lon": 117.0,
     "lat": 34.0, "certificate_no": "320300004", "biz_date": D0},
]  # fmt: skip


def test_police_get_clear_plates_and_1km_positions_of_traffic_offences(spark, catalog, schemas):
    frame = gold(spark, schemas, "dangerous_goods_alarms", ALARMS)
    got = shared(catalog, "traffic_police", "dangerous_goods_alarms", frame, "alarm_id")
    assert sorted(got) == ["A1", "A3"]  # EMERGENCY and OFFLINE are not road-traffic offences
    assert (got["A1"]["plate_no"], got["A1"]["lon"], got["A1"]["lat"]) == (
        "苏C12345",
        117.18,
        34.26,
    )
    assert (got["A3"]["plate_no"], got["A3"]["lon"], got["A3"]["lat"]) == ("鲁Q8888挂", 116.9, 34.5)
    assert "certificate_no" not in got["A1"]


def test_emergency_management_gets_exact_positions_of_possible_incidents(spark, catalog, schemas):
    frame = gold(spark, schemas, "dangerous_goods_alarms", ALARMS)
    got = shared(catalog, "emergency_management", "dangerous_goods_alarms", frame, "alarm_id")
    assert list(got) == ["A2"]
    assert (got["A2"]["plate_no"], got["A2"]["lon"], got["A2"]["lat"]) == (
        "苏CB0002", 117.30999, 34.40501,
    )  # fmt: skip
    assert got["A2"]["certificate_no"] == "320300002"


def test_neighbour_cities_get_only_transfers_out_to_them(spark, catalog, schemas):
    def row(direction, area, n):
        return {"direction": direction, "to_area": area, "is_out_of_province": True,
                "violation_code": "CX01", "transfers": n, "vehicles": 1, "transfers_on_time": n,
                "biz_date": D0}  # fmt: skip

    frame = gold(
        spark, schemas, "violation_transfers_by_destination",
        [row("OUT", "370811", 1), row("OUT", "341302", 2), row("OUT", "321300", 3),
         row("OUT", "370400", 4), row("OUT", "320100", 5), row("OUT", "370100", 6),
         row("IN", "370800", 7)],
    )  # fmt: skip
    got = shared(
        catalog, "neighbour_cities", "violation_transfers_by_destination", frame, "to_area"
    )
    assert {a: r["transfers"] for a, r in got.items()} == {
        "370811": 1, "341302": 2, "321300": 3, "370400": 4,  # 济宁 宿州 宿迁 枣庄; not 南京, 济南
    }  # fmt: skip
    assert "is_out_of_province" not in got["370811"]
    # each transfer recipient: what went to its own city (or a county of it) only
    jining = shared(
        catalog,
        "transfer_recipients_jining",
        "violation_transfers_by_destination",
        frame,
        "to_area",
    )
    assert sorted(jining) == ["370811"]
    nanjing = shared(
        catalog,
        "transfer_recipients_nanjing",
        "violation_transfers_by_destination",
        frame,
        "to_area",
    )
    assert sorted(nanjing) == ["320100"]
    # how fast Xuzhou transfers is its own supervision's figure, not the recipients'
    assert "transfers_on_time" not in got["370811"]
    assert "transfers_on_time" not in jining["370811"]


def test_transfer_recipients_get_vehicles_registered_elsewhere_in_clear(spark, catalog, schemas):
    def row(event, plate, xuzhou):
        return {"event_id": event, "weigh_kind": "WIM", "record_id": event[4:], "plate_no": plate,
                "is_xuzhou_plate": xuzhou, "gross_weight_kg": 101000, "limit_kg": 49000,
                "biz_date": D0}  # fmt: skip

    frame = gold(
        spark, schemas, "shuang_bai_vehicles",
        [row("WIM:1", "苏C12345", True), row("WIM:2", "鲁Q8888挂", False),
         row("WIM:3", "皖L12345", False)],
    )  # fmt: skip
    got = shared(catalog, "transfer_recipients_linyi", "shuang_bai_vehicles", frame, "event_id")
    assert list(got) == ["WIM:2"]  # not Xuzhou's, not Suzhou's (皖L)
    assert got["WIM:2"]["plate_no"] == "鲁Q8888挂"
    assert "record_id" not in got["WIM:2"] and "is_xuzhou_plate" not in got["WIM:2"]
    police = shared(catalog, "traffic_police", "shuang_bai_vehicles", frame, "event_id")
    assert {k: r["plate_no"] for k, r in police.items()} == {
        "WIM:1": "苏C12345", "WIM:2": "鲁Q8888挂", "WIM:3": "皖L12345",
    }  # fmt: skip


def test_highway_centre_gets_its_trunk_roads_without_vehicles(spark, catalog, schemas):
    def row(event, road):
        return {"event_id": event, "event_type": "ROAD_DAMAGE", "road": road, "plate_no": "苏C12345",
                "lon": 117.23456, "lat": 34.05678, "snapshot_key": "s/1.jpg", "biz_date": D0}  # fmt: skip

    frame = gold(
        spark, schemas, "road_asset_incidents",
        [row("E1", "G104"), row("E2", "G30"), row("E3", "S253"), row("E4", "S69"),
         row("E5", None), row("E6", "G2513")],
    )  # fmt: skip
    got = shared(catalog, "highway_centre", "road_asset_incidents", frame, "event_id")
    assert sorted(got) == ["E1", "E3"]  # G30, S69, G2513 are expressways; no road, no owner
    assert (got["E1"]["lon"], got["E1"]["lat"]) == (117.23456, 34.05678)  # clear: find the damage
    assert "plate_no" not in got["E1"] and "snapshot_key" not in got["E1"]


def test_regulator_gets_confirmed_leads_with_masked_plates(spark, catalog, schemas):
    frame = gold(
        spark, schemas, "illegal_operation_leads",
        [{"lead_id": "L1", "plate_no": "苏C12345", "finding": "RIDE_HAILING_WITHOUT_PERMIT",
          "created_at": dt.datetime(2026, 11, 29, 8), "biz_date": D0},
         {"lead_id": "L2", "plate_no": "苏CD1234", "finding": "UNCONFIRMED", "biz_date": D0},
         {"lead_id": "L3", "plate_no": "苏CD5678", "finding": "FREQUENT_UNLICENSED",
          "biz_date": D0}],
    )  # fmt: skip
    got = shared(
        catalog, "passenger_transport_regulator", "illegal_operation_leads", frame, "lead_id"
    )
    assert {k: r["plate_no"] for k, r in got.items()} == {"L1": "苏C****5", "L3": "苏C****8"}
    assert "created_at" not in got["L1"]


def test_market_regulation_gets_enterprise_decisions_only(spark, catalog, schemas):
    frame = gold(
        spark, schemas, "case_disclosures",
        [{"decision_no": "J1", "party_kind": "enterprise", "party_name_disclosed": "徐州某物流有限公司",
          "party_credit_code": "91320300MA1XXXXXX0", "case_status": "CLOSED",
          "decided_on": D0},
         {"decision_no": "J2", "party_kind": "person", "party_name_disclosed": "张**",
          "decided_on": D0}],
    )  # fmt: skip
    got = shared(catalog, "market_regulation", "case_disclosures", frame, "decision_no")
    assert list(got) == ["J1"]
    assert got["J1"]["decided_on"] == D0 and "case_status" not in got["J1"]
    public = shared(catalog, "credit_platform", "case_disclosures", frame, "decision_no")
    assert public["J2"]["party_name_disclosed"] == "张**"


def test_the_masks_no_declared_interface_uses_yet(spark):
    """person_name, phone, id_number and redact, on a frame of their own (exact values)."""
    from enforcement_brain.share.project import project

    frame = spark.createDataFrame(
        [("k1", "张三丰", "13812345678", "32030219900101123X", "free text", D0),
         ("k2", None, None, None, None, D0)],
        "k string, name string, phone string, idno string, note string, biz_date date",
    )  # fmt: skip
    entry = InterfaceDataset(
        "probe", ("k", "name", "phone", "idno", "note", "biz_date"),
        {"name": "person_name", "phone": "phone", "idno": "id_number", "note": "redact"},
        "k <> 'k9'",
    )  # fmt: skip
    got = {r["k"]: r.asDict() for r in project(frame, entry).collect()}
    assert got["k1"] == {"k": "k1", "name": "张**", "phone": "138****5678",
                         "idno": "320302***********X", "note": None, "biz_date": D0}  # fmt: skip
    assert got["k2"] == {"k": "k2", "name": None, "phone": None, "idno": None, "note": None,
                         "biz_date": D0}  # fmt: skip


# --- project_interface: the partitions a day touched ----------------------------------------


def _delta(spark, settings, layer: str, table: str, frame, partition: str | None = None) -> None:
    writer = frame.write.format("delta").mode("overwrite")
    if partition:
        writer = writer.partitionBy(partition)
    writer.save(settings.table_uri(layer, table))


def _silver(spark, rows: list[tuple], schema: str):
    return spark.createDataFrame(rows, f"{schema}, _delivery_date date")


def test_projection_follows_decision_dates_not_update_days_nor_reference_sources(
    spark, settings, catalog, schemas
):
    """A decision updated today stays in its decision date's partition: today's projection
    refreshes that partition (and today's), not the partition of a reference-source row."""
    from enforcement_brain.share.project import project_interface

    today = dt.date(2026, 11, 30)
    decided = [dt.date(2026, 11, 20), dt.date(2026, 11, 25), today]
    _delta(spark, settings, "silver", "penalty_decisions", _silver(
        spark, [("J1", decided[0], today, today), ("J4", today, today, today)],
        "decision_no string, decided_on date, biz_date date",
    ))  # fmt: skip
    # a case record (reference source) delivered today for a case of the 25th drives nothing
    _delta(spark, settings, "silver", "enforcement_cases", _silver(
        spark, [("C3", decided[1], today)], "case_no string, biz_date date",
    ))  # fmt: skip
    rows = [
        {"decision_no": "J1", "party_kind": "enterprise", "decided_on": decided[0]},
        {"decision_no": "J2", "party_kind": "person", "decided_on": decided[0]},
        {"decision_no": "J3", "party_kind": "enterprise", "decided_on": decided[1]},
        {"decision_no": "J4", "party_kind": "enterprise", "decided_on": today},
    ]
    _delta(spark, settings, "gold", "case_disclosures",
           gold(spark, schemas, "case_disclosures", rows), "decided_on")  # fmt: skip

    reports = project_interface(
        spark, settings, catalog, catalog.interfaces["market_regulation"], today
    )
    by = {r.dataset: r for r in reports}
    assert by["source_enterprise_overloads"].skipped == (
        "gold.source_enterprise_overloads is not published yet: run "
        "publish_source_enterprise_overloads first"
    )
    assert (by["case_disclosures"].partitions, by["case_disclosures"].rows) == (
        ["2026-11-20", "2026-11-30"], 2,
    )  # fmt: skip
    share = spark.read.format("delta").load(
        settings.table_uri("share", "market_regulation__case_disclosures")
    )
    assert sorted(r["decision_no"] for r in share.collect()) == ["J1", "J4"]


def test_projection_of_a_monthly_dataset_refreshes_the_months_touched(
    spark, settings, catalog, schemas
):
    from enforcement_brain.share.project import project_interface

    day = dt.date(2026, 11, 1)
    _delta(spark, settings, "silver", "enforcement_tasks", _silver(
        spark, [("T1", dt.date(2026, 10, 31), day, day)],
        "task_id string, planned_date date, biz_date date",
    ))  # fmt: skip
    months = [dt.date(2026, 9, 1), dt.date(2026, 10, 1), dt.date(2026, 11, 1)]
    rows = [{"kpi_id": "inspection_tasks", "kpi_name_zh": "检查任务数", "unit": "tasks",
             "value": float(n), "month": m} for n, m in enumerate(months, start=1)]  # fmt: skip
    _delta(spark, settings, "gold", "kpi_monthly",
           gold(spark, schemas, "kpi_monthly", rows), "month")  # fmt: skip

    reports = project_interface(
        spark, settings, catalog, catalog.interfaces["provincial_supervision"], day
    )
    by = {r.dataset: r for r in reports}
    assert [by[d].skipped is not None for d in ("overload_alerts", "enforcement_activity")] == [
        True, True,
    ]  # fmt: skip
    assert (by["kpi_monthly"].partitions, by["kpi_monthly"].rows) == (
        ["2026-10-01", "2026-11-01"], 2,
    )  # fmt: skip
    share = spark.read.format("delta").load(
        settings.table_uri("share", "provincial_supervision__kpi_monthly")
    )
    assert sorted((r["month"], r["value"]) for r in share.collect()) == [
        (months[1], 2.0), (months[2], 3.0),
    ]  # fmt: skip


def test_an_interface_with_nothing_published_fails_in_one_line(spark, settings, catalog):
    from enforcement_brain.share.project import project_interface

    with pytest.raises(EbError, match=r"^culture_tourism: gold.scenic_passenger_vehicles is not "):
        project_interface(spark, settings, catalog, catalog.interfaces["culture_tourism"], D0)


def test_projection_takes_the_partitions_its_publish_recorded_while_gold_is_unchanged(
    spark, settings, catalog, schemas
):
    """The publish of a day records the partitions it replaced in ``ops.publish_log``; the
    projection of that day replaces those (no silver read). Once gold has moved on, the record
    no longer describes it, and the partitions are derived from silver again."""
    from enforcement_brain.ops.schemas import PUBLISH_LOG_SCHEMA
    from enforcement_brain.share.project import project_interface

    today = dt.date(2026, 11, 30)
    decided = [dt.date(2026, 11, 20), dt.date(2026, 11, 25), today]
    _delta(spark, settings, "silver", "penalty_decisions", _silver(
        spark, [("J4", today, today, today)], "decision_no string, decided_on date, biz_date date",
    ))  # fmt: skip
    _delta(spark, settings, "silver", "enforcement_cases", _silver(
        spark, [("C3", today, today)], "case_no string, biz_date date",
    ))  # fmt: skip
    rows = [
        {"decision_no": f"J{n}", "party_kind": "enterprise", "decided_on": d}
        for n, d in enumerate(decided, start=1)
    ]
    _delta(spark, settings, "gold", "case_disclosures",
           gold(spark, schemas, "case_disclosures", rows), "decided_on")  # fmt: skip
    version = tables.latest_version(settings, "gold", "case_disclosures")
    recorded = (
        "case_disclosures",
        today,
        "2026-11-20,2026-11-25",
        2,
        version,
        "r",
        "published",
        "{}",
    )
    tables.append_rows(
        None, settings, "ops", "publish_log", [recorded], PUBLISH_LOG_SCHEMA, recorded_at=True
    )
    interface = catalog.interfaces["market_regulation"]

    (report,) = [r for r in project_interface(spark, settings, catalog, interface, today)
                 if r.dataset == "case_disclosures"]  # fmt: skip
    assert (report.partitions, report.rows) == (["2026-11-20", "2026-11-25"], 2)
    table = settings.table_uri("share", "market_regulation__case_disclosures")
    share = spark.read.format("delta").load(table)
    assert sorted(r["decision_no"] for r in share.collect()) == ["J1", "J2"]

    # gold changes after the record: the silver-derived partition (today's) is replaced
    _delta(spark, settings, "gold", "case_disclosures",
           gold(spark, schemas, "case_disclosures", rows), "decided_on")  # fmt: skip
    (report,) = [r for r in project_interface(spark, settings, catalog, interface, today)
                 if r.dataset == "case_disclosures"]  # fmt: skip
    assert (report.partitions, report.rows) == (["2026-11-30"], 1)
    share = spark.read.format("delta").load(table)
    assert sorted(r["decision_no"] for r in share.collect()) == ["J1", "J2", "J3"]


def test_share_tables_are_compacted_and_their_change_feed_stays_exact(
    spark, tmp_path, catalog, schemas
):
    """A share table past ``EB_SHARE_MAX_FILES`` files is compacted and stays unpartitioned; a
    day replaced by predicate reports only that day's rows, though Delta rewrote a file holding
    other days too; and the change feed after a compaction holds exactly the replaced day's
    deletes and inserts."""
    from conftest import make_settings
    from deltalake import DeltaTable
    from pyspark.sql import functions as F

    from enforcement_brain.ops.schemas import PUBLISH_LOG_SCHEMA
    from enforcement_brain.share.project import project, project_interface

    settings = make_settings(tmp_path / "var", EB_SHARE_MAX_FILES="1")
    interface = catalog.interfaces["market_regulation"]
    entry = next(d for d in interface.datasets if d.dataset == "case_disclosures")
    today = dt.date(2026, 11, 30)
    days = [dt.date(2026, 11, 20), dt.date(2026, 11, 25), today]

    def publish(rows: list[tuple[str, dt.date]]) -> None:
        frame = gold(spark, schemas, "case_disclosures", [
            {"decision_no": n, "party_kind": "enterprise", "decided_on": d} for n, d in rows
        ])  # fmt: skip
        _delta(spark, settings, "gold", "case_disclosures", frame, "decided_on")
        version = tables.latest_version(settings, "gold", "case_disclosures")
        recorded = ("case_disclosures", today, str(today), 1, version, "r", "published", "{}")
        tables.append_rows(
            None, settings, "ops", "publish_log", [recorded], PUBLISH_LOG_SCHEMA, recorded_at=True
        )

    def projected():
        (report,) = [r for r in project_interface(spark, settings, catalog, interface, today)
                     if r.dataset == "case_disclosures"]  # fmt: skip
        return report

    publish([("J1", days[0]), ("J2", days[1]), ("J3", days[2])])
    uri = settings.table_uri("share", "market_regulation__case_disclosures")
    history = project(
        spark.read.format("delta").load(settings.table_uri("gold", "case_disclosures")), entry
    )
    for day in days:  # an unpartitioned share table of a file per day, as daily loads leave it
        history.where(F.col("decided_on") == day).write.format("delta").mode("append").option(
            "delta.enableChangeDataFeed", "true"
        ).save(uri)
    assert len(DeltaTable(uri).file_uris()) == 3
    assert DeltaTable(uri).metadata().partition_columns == []

    report = projected()
    table = DeltaTable(uri)
    assert table.metadata().partition_columns == []
    assert table.metadata().configuration["delta.enableChangeDataFeed"] == "true"
    assert (report.partitions, report.rows, report.compacted, report.files) == (
        [str(today)], 1, True, 1,
    )  # fmt: skip
    compacted = table.version()
    assert table.history(1)[0]["operation"] == "OPTIMIZE"

    # today's decisions change: J3 is decided again, J4 is new
    publish([("J1", days[0]), ("J2", days[1]), ("J3", days[2]), ("J4", days[2])])
    report = projected()
    assert (report.rows, report.compacted, report.files) == (2, True, 1)
    share = spark.read.format("delta").load(uri)
    assert sorted(r["decision_no"] for r in share.collect()) == ["J1", "J2", "J3", "J4"]
    feed = (
        spark.read.format("delta").option("readChangeFeed", "true")
        .option("startingVersion", compacted + 1).load(uri)
    )  # fmt: skip
    assert sorted((r["decision_no"], r["_change_type"]) for r in feed.collect()) == [
        ("J3", "delete"), ("J3", "insert"), ("J4", "insert"),
    ]  # fmt: skip
