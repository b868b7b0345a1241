"""The sharing service over share tables written by the project's real Spark path.

A gold-shaped frame (every gold column, plates in clear, a column no interface may see) goes
through ``share.project.project`` and ``lake.tables.replace_where`` with the change data feed on
— what ``project_interface`` does — twice, the second time replacing one day. The stock client
must then see masked plates, only the declared columns and only the rows of the interface's
row filter, in snapshots and in the change feed (whose second version Delta wrote as
``_change_data`` files).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
import requests
from sharing_support import (
    ServiceThread,
    free_port,
    issue_profile,
    settings_for,
    share_day,
    sharing_env,
    standards_copy,
)

D1, D2 = dt.date(2026, 11, 28), dt.date(2026, 11, 29)
GOLD = (
    "alert_id string, site_code string, road string, division_code string, plate_no string, "
    "plate_color string, vehicle_type_code string, axle_count int, is_combination boolean, "
    "gross_weight_kg int, limit_kg int, excess_kg int, excess_rate double, fine_yuan int, "
    "needs_static_reweigh boolean, is_bai_dun_wang boolean, is_shuang_bai boolean, "
    "weigh_time timestamp, biz_date date"
)


def _row(alert_id: str, plate: str, gross: int, limit: int, day: dt.date) -> tuple:
    excess = gross - limit
    return (
        alert_id,
        "WIM01",
        "G206",
        "320300",
        plate,
        "2",
        "H11",
        6,
        True,
        gross,
        limit,
        excess,
        round(excess / limit, 4),
        min(30000, excess // 10),
        gross * 0.95 <= limit,
        gross >= 100000,
        gross >= 100000 or excess >= limit,
        dt.datetime.combine(day, dt.time(8, 30)),
        day,
    )


FIRST = [
    _row("a1", "苏C12341", 52000, 49000, D1),  # rate 0.061: below the province's 0.1
    _row("a2", "苏C12342", 60000, 49000, D1),  # 0.2245
    _row("a3", "苏C12343", 110000, 49000, D1),  # 百吨王, 双百
    _row("b1", "苏C12344", 70000, 49000, D2),  # 0.4286
    _row("b2", "苏C12345", 99000, 49000, D2),  # 双百 (excess >= limit)
]
SECOND_D2 = [
    _row("b1", "苏C12344", 71000, 49000, D2),  # reweighed: changed
    _row("b3", "苏C12346", 50000, 49000, D2),  # 0.0204: below the province's filter
    _row("b4", "苏C12347", 101000, 49000, D2),  # 百吨王
]


@pytest.fixture(scope="module")
def env(spark, tmp_path_factory):
    from enforcement_brain.declarations import load_catalog
    from enforcement_brain.share.project import share_table_name

    tmp = tmp_path_factory.mktemp("sharing-spark")
    standards_copy(tmp)
    port = free_port()
    settings = settings_for(tmp, port)
    catalog = load_catalog(settings.standards_dir)
    for iid in ("provincial_supervision", "city_police"):
        entry = catalog.interfaces[iid].datasets[0]
        for rows, dates in ((FIRST, [D1, D2]), (SECOND_D2, [D2])):
            gold = spark.createDataFrame(rows, GOLD)
            share_day(spark, settings, iid, entry, gold, dates, partition_by=["biz_date"])
    # A correction of one row (what a reweigh or an erasure request does): Delta rewrites the
    # file and, the change feed being on, writes _change_data files (pre- and post-images).
    province = settings.table_uri(
        "share", share_table_name("provincial_supervision", "overload_alerts")
    )
    spark.sql(f"UPDATE delta.`{province}` SET fine_yuan = fine_yuan + 1 WHERE alert_id = 'b1'")
    environ = sharing_env(tmp, port)
    profiles = {
        iid: issue_profile(environ, iid, tmp / f"{iid}.share")
        for iid in ("provincial_supervision", "city_police")
    }
    with ServiceThread(settings) as service:
        yield {"settings": settings, "profiles": profiles, "base": service.base, "catalog": catalog}


def _url(env, iid: str) -> str:
    return f"{env['profiles'][iid]}#{iid}.default.overload_alerts"


def test_province_sees_masked_plates_its_columns_and_rows_only(env):
    import delta_sharing

    df = delta_sharing.load_as_pandas(_url(env, "provincial_supervision"))
    df = df.sort_values("alert_id").reset_index(drop=True)
    declared = env["catalog"].interfaces["provincial_supervision"].datasets[0].columns
    assert list(df.columns) == list(declared)
    assert "is_combination" not in df.columns
    assert df["alert_id"].tolist() == ["a2", "a3", "b1", "b4"]  # a1, b3 below 0.1; b2 replaced
    assert df["plate_no"].tolist() == ["苏C****2", "苏C****3", "苏C****4", "苏C****7"]
    assert (df["excess_rate"] >= 0.1).all()
    assert df.loc[df["alert_id"] == "b1", "gross_weight_kg"].item() == 71000


def test_police_sees_clear_plates_of_shuang_bai_rows_only(env):
    import delta_sharing

    df = delta_sharing.load_as_pandas(_url(env, "city_police"))
    df = df.sort_values("alert_id").reset_index(drop=True)
    assert list(df.columns) == [
        "alert_id",
        "plate_no",
        "gross_weight_kg",
        "excess_rate",
        "is_shuang_bai",
        "biz_date",
    ]
    assert df["alert_id"].tolist() == ["a3", "b4"]  # b2 was 双百 on day 1's version only
    assert df["plate_no"].tolist() == ["苏C12343", "苏C12347"]
    assert len(delta_sharing.load_as_pandas(_url(env, "city_police"), limit=1)) == 1


def _changes_kinds(env, start: int) -> list[str]:
    token = json.loads(env["profiles"]["provincial_supervision"].read_text())["bearerToken"]
    r = requests.get(
        env["base"]
        + "/shares/provincial_supervision/schemas/default/tables/overload_alerts/changes",
        params={"startingVersion": start, "endingVersion": start},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return sorted({next(iter(json.loads(x))) for x in r.text.splitlines()[2:]})


def test_change_feed_of_a_replaced_day(env):
    """replace_where on the partition column drops whole files: Delta writes no cdc files, and
    the feed says what happened in file terms — the day's old rows deleted, new rows inserted."""
    import delta_sharing

    assert _changes_kinds(env, 2) == ["add", "remove"]
    changes = delta_sharing.load_table_changes_as_pandas(
        _url(env, "provincial_supervision"), starting_version=2, ending_version=2
    )
    got = sorted(zip(changes["_change_type"], changes["alert_id"], strict=True))
    assert got == [
        ("delete", "b1"),
        ("delete", "b2"),
        ("insert", "b1"),
        ("insert", "b4"),
    ]
    assert set(changes["_commit_version"]) == {2}
    assert all(re.fullmatch(r"苏C\*{4}\d", p) for p in changes["plate_no"])
    assert "is_combination" not in changes.columns


def test_change_feed_from_real_cdc_files(env):
    import delta_sharing

    settings = env["settings"]
    table_dir = Path(settings.table_uri("share", "provincial_supervision__overload_alerts"))
    assert list((table_dir / "_change_data").rglob("*.parquet")), "Delta wrote no cdc files"
    assert _changes_kinds(env, 3) == ["cdf"]
    changes = delta_sharing.load_table_changes_as_pandas(
        _url(env, "provincial_supervision"), starting_version=3
    )
    got = sorted(
        zip(changes["_change_type"], changes["alert_id"], changes["fine_yuan"], strict=True)
    )
    assert got == [("update_postimage", "b1", 2201), ("update_preimage", "b1", 2200)]
    assert changes["plate_no"].tolist() == ["苏C****4", "苏C****4"]
    everything = delta_sharing.load_table_changes_as_pandas(
        _url(env, "provincial_supervision"), starting_version=0
    )
    assert sorted(set(everything["_commit_version"])) == [0, 2, 3]  # v1 set the properties
    assert set(everything["alert_id"]) == {"a2", "a3", "b1", "b2", "b4"}
