"""Silver stores WGS-84: positions a feed declares GCJ-02 or BD-09 are converted back."""

from __future__ import annotations

import datetime as dt

from enforcement_brain.declarations import load_catalog
from enforcement_brain.pipeline.silver import conform
from enforcement_brain.standards import checks

TRUTH = (117.18765, 34.26112)  # WGS-84, central Xuzhou


def test_passenger_trips_declare_their_datum(settings):
    source = load_catalog(settings.standards_dir).sources["passenger_trips"]
    assert source.datum_columns() == ("coord_system", [("depart_lon", "depart_lat")])


def test_declared_positions_come_back_to_wgs84(spark, settings):
    catalog = load_catalog(settings.standards_dir)
    source = catalog.sources["passenger_trips"]
    gcj = checks.wgs84_to_gcj02(*TRUTH)
    bd = checks.gcj02_to_bd09(*gcj)
    # (trip id, declared datum, delivered position)
    delivered = [
        ("O1", "1", gcj),  # GCJ-02, as most platforms send
        ("O2", "3", bd),  # BD-09
        ("O3", "2", TRUTH),  # WGS-84: as is
        ("O4", "4", TRUTH),  # CGCS2000: equal to WGS-84 at this precision
        ("O5", "0", gcj),  # unknown datum: nothing to convert from, stored as delivered
    ]
    values = {c: None for c in source.column_names}
    rows = []
    for trip_id, code, (lon, lat) in delivered:
        row = {
            **values,
            "trip_id": trip_id,
            "depart_time": "2026-11-28 08:00:00",
            "coord_system": code,
            "depart_lon": f"{lon:.6f}",
            "depart_lat": f"{lat:.6f}",
        }
        rows.append(row)
    schema = ", ".join(f"`{c}` string" for c in source.column_names)
    bronze = spark.createDataFrame([tuple(r[c] for c in source.column_names) for r in rows], schema)
    for name, kind in [
        ("_rescued_data", "string"),
        ("_corrupt_record", "string"),
        ("_source_file", "string"),
        ("_source_line", "int"),
        ("_batch_id", "string"),
    ]:
        bronze = bronze.selectExpr("*", f"cast(null as {kind}) as {name}")
    bronze = bronze.selectExpr("*", f"date'{dt.date(2026, 11, 28)}' as _delivery_date")
    got = {
        r["trip_id"]: (r["depart_lon"], r["depart_lat"], r["coord_system"])
        for r in conform(bronze, catalog, source).collect()
    }
    for trip_id in ("O1", "O2", "O3", "O4"):
        lon, lat, _ = got[trip_id]
        # the delivered text has 6 decimals (~0.1 m); the BD-09 inverse adds up to ~15 cm
        assert abs(lon - TRUTH[0]) < 3e-6 and abs(lat - TRUTH[1]) < 3e-6, trip_id
    assert got["O5"][:2] == (round(gcj[0], 6), round(gcj[1], 6))
    assert {k: v[2] for k, v in got.items()} == {
        "O1": "1",
        "O2": "3",
        "O3": "2",
        "O4": "4",
        "O5": "0",
    }
