"""A position outside Xuzhou is data for a moving vehicle and a defect for an officer on duty or
a fixed site: loaded to silver in the first case, quarantined in the others."""

from __future__ import annotations

import datetime as dt

from enforcement_brain.declarations import Catalog, Source, load_catalog
from enforcement_brain.pipeline.bronze import META_COLUMNS
from enforcement_brain.pipeline.silver import load_batch

DAY = dt.date(2026, 11, 28)
JINAN = ("117.120000", "36.650000")  # a Xuzhou truck's alarm on the way north
INSIDE = ("117.187650", "34.261120")  # central Xuzhou


def _bronze(spark, source: Source, rows: list[dict[str, str]]):
    names = source.column_names
    schema = ", ".join(f"`{c}` string" for c in names)
    df = spark.createDataFrame([tuple(r.get(c) for c in names) for r in rows], schema)
    meta = {"_source_line": "int"}
    for name in [*META_COLUMNS, "_batch_id"]:
        df = df.selectExpr("*", f"cast(null as {meta.get(name, 'string')}) as `{name}`")
    return df.selectExpr("*", f"date'{DAY}' as _delivery_date")


def _load(spark, settings, catalog: Catalog, sid: str, rows: list[dict[str, str]]):
    source = catalog.sources[sid]
    load_batch(spark, settings, catalog, source, DAY, "test", _bronze(spark, source, rows))
    key = source.business_key[0]

    def read(layer: str) -> dict[str, list[str]]:
        df = spark.read.format("delta").load(settings.table_uri(layer, sid))
        col = "_violations" if layer == "quarantine" else "_warnings"
        return {r[key]: list(r[col]) for r in df.collect()}

    return read("silver"), read("quarantine")


def test_a_gps_alarm_outside_xuzhou_loads_to_silver(spark, settings):
    catalog = load_catalog(settings.standards_dir)
    base = {"plate_no": "苏C12345", "alarm_type": "OVERSPEED", "alarm_time": f"{DAY} 08:00:00"}
    rows = [
        {**base, "alarm_id": "A1", "lon": JINAN[0], "lat": JINAN[1]},
        {**base, "alarm_id": "A2", "lon": INSIDE[0], "lat": INSIDE[1]},
    ]
    alarm_types = {c["code"] for c in _table(catalog, "gps_alarm_type")}
    assert "OVERSPEED" in alarm_types
    silver, quarantine = _load(spark, settings, catalog, "gps_alarms", rows)
    assert sorted(silver) == ["A1", "A2"] and quarantine == {}


def test_an_officer_track_outside_xuzhou_is_quarantined(spark, settings):
    catalog = load_catalog(settings.standards_dir)
    base = {"terminal_code": "T0000001", "officer_code": "XZ00001", "speed_kmh": "4.0"}
    rows = [
        {**base, "point_id": "P1", "lon": JINAN[0], "lat": JINAN[1]},
        {**base, "point_id": "P2", "lon": INSIDE[0], "lat": INSIDE[1]},
    ]
    for r in rows:
        r["recorded_at"] = f"{DAY} 09:00:00"
    silver, quarantine = _load(spark, settings, catalog, "officer_tracks", rows)
    assert sorted(silver) == ["P2"]
    assert quarantine == {"P1": ["R_IN_XUZHOU"]}


def test_a_fixed_site_outside_xuzhou_is_quarantined(spark, settings):
    catalog = load_catalog(settings.standards_dir)
    base = {
        "road_code": "G104",
        "road_class": "national",
        "stake_from": "K100+000",
        "stake_to": "K101+000",
        "division_code": "320312",
        "updated_at": f"{DAY} 10:00:00",
    }
    rows = [
        {**base, "segment_id": "S1", "lon": JINAN[0], "lat": JINAN[1]},
        {**base, "segment_id": "S2", "lon": INSIDE[0], "lat": INSIDE[1]},
    ]
    silver, quarantine = _load(spark, settings, catalog, "road_network", rows)
    assert sorted(silver) == ["S2"]
    assert quarantine == {"S1": ["R_IN_XUZHOU"]}


def _table(catalog: Catalog, table_id: str) -> list[dict]:
    from enforcement_brain.standards.code_tables import load_code_table

    return load_code_table(catalog.root, table_id).codes
