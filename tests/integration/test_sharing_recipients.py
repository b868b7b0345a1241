"""Transfer recipients through the real service: each receiving agency reads only the 双百
weighings of plates registered in its own area, with its own token.

Gold-shaped 双百 rows of plates from Linyi (鲁Q), Suzhou in Anhui (皖L) and Xuzhou (苏C) are
published to gold and projected by ``project_family`` for the whole ``transfer_recipients``
file: one share table, partitioned by recipient. The stock client with each recipient's profile
must then see its own region's plates and nothing else (snapshot and change feed), the service
must hand a recipient no file of another's partition, not even for a validly signed URL, and one
recipient's token must not open the other's share.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import requests
from sharing_support import (
    ServiceThread,
    free_port,
    issue_profile,
    settings_for,
    sharing_env,
    standards_copy,
)

D1 = dt.date(2026, 11, 29)
GOLD = (
    "event_id string, weigh_kind string, record_id string, site_code string, plate_no string, "
    "is_xuzhou_plate boolean, axle_count int, gross_weight_kg int, limit_kg int, excess_kg int, "
    "excess_rate double, is_bai_dun_wang boolean, weigh_time timestamp, biz_date date"
)
LINYI, SUZHOU_AH = "transfer_recipients_linyi", "transfer_recipients_suzhou_anhui"


def _row(event_id: str, plate: str) -> tuple:
    return (
        event_id, "WIM", event_id, "WIM01", plate, plate.startswith("苏C"), 2, 40000, 18000,
        22000, 1.2222, False, dt.datetime.combine(D1, dt.time(9)), D1,
    )  # fmt: skip


ROWS = [
    _row("e1", "鲁Q12345"),
    _row("e2", "皖L23456"),
    _row("e3", "苏C34567"),
    _row("e4", "鲁Q7777挂"),
]


@pytest.fixture(scope="module")
def env(spark, tmp_path_factory):
    from enforcement_brain.declarations import load_catalog
    from enforcement_brain.share.project import project_family

    tmp = tmp_path_factory.mktemp("sharing-recipients")
    standards_copy(tmp)
    port = free_port()
    settings = settings_for(tmp, port)
    catalog = load_catalog(settings.standards_dir)
    gold = spark.createDataFrame(ROWS, GOLD)
    gold.write.format("delta").partitionBy("biz_date").save(
        settings.table_uri("gold", "shuang_bai_vehicles")
    )
    members = catalog.interface_families()["transfer_recipients"]
    reports = project_family(spark, settings, catalog, members, D1)
    environ = sharing_env(tmp, port)
    profiles = {
        iid: issue_profile(environ, iid, tmp / f"{iid}.share") for iid in (LINYI, SUZHOU_AH)
    }
    with ServiceThread(settings) as service:
        yield {
            "profiles": profiles,
            "base": service.base,
            "settings": settings,
            "reports": {r.dataset: r for r in reports},
        }


def _token(env, iid: str) -> str:
    return json.loads(env["profiles"][iid].read_text())["bearerToken"]


def _query(env, iid: str) -> list[dict]:
    """The NDJSON lines of a query of the recipient's 双百 table."""
    r = requests.post(
        f"{env['base']}/shares/{iid}/schemas/default/tables/shuang_bai_vehicles/query",
        headers={"Authorization": f"Bearer {_token(env, iid)}"},
        json={},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return [json.loads(line) for line in r.text.splitlines() if line.strip()]


def _plates(env, iid: str) -> list[str]:
    import delta_sharing

    url = f"{env['profiles'][iid]}#{iid}.default.shuang_bai_vehicles"
    return sorted(delta_sharing.load_as_pandas(url)["plate_no"].tolist())


def test_each_recipient_reads_only_the_plates_of_its_own_area(env):
    assert _plates(env, LINYI) == ["鲁Q12345", "鲁Q7777挂"]
    assert _plates(env, SUZHOU_AH) == ["皖L23456"]


def test_one_projection_per_dataset_holds_every_recipients_partition(env):
    from deltalake import DeltaTable

    report = env["reports"]["shuang_bai_vehicles"]
    assert (report.interface, report.table, report.rows) == (
        "transfer_recipients", "share.transfer_recipients__shuang_bai_vehicles", 3,
    )  # fmt: skip
    assert env["reports"]["violation_transfers_by_destination"].skipped
    share = env["settings"].table_uri("share", "transfer_recipients__shuang_bai_vehicles")
    table = DeltaTable(share)
    assert table.metadata().partition_columns == ["recipient"]
    rows = table.to_pyarrow_table(columns=["recipient", "plate_no"]).to_pylist()
    assert sorted((r["recipient"], r["plate_no"]) for r in rows) == [
        ("linyi", "鲁Q12345"), ("linyi", "鲁Q7777挂"), ("suzhou_anhui", "皖L23456"),
    ]  # fmt: skip


def test_a_recipient_is_served_its_partition_as_a_table_of_its_own(env):
    lines = _query(env, SUZHOU_AH)
    meta = next(line["metaData"] for line in lines if "metaData" in line)
    fields = [f["name"] for f in json.loads(meta["schemaString"])["fields"]]
    assert "recipient" not in fields and meta["partitionColumns"] == []
    files = [line["file"] for line in lines if "file" in line]
    assert len(files) == 1 and files[0]["partitionValues"] == {}
    assert "recipient=suzhou_anhui/" in requests.utils.unquote(files[0]["url"])


def test_a_signed_url_for_another_recipients_file_is_refused(env):
    """Linyi's share, a valid signature, but a file of Suzhou's partition: 403."""
    from enforcement_brain.sharing.signing import signer_for

    (suzhou_file,) = [line["file"] for line in _query(env, SUZHOU_AH) if "file" in line]
    rel = requests.utils.unquote(suzhou_file["url"].split("/shuang_bai_vehicles/", 1)[1])
    rel = rel.split("?", 1)[0]
    expires, sig = signer_for(env["settings"]).sign(LINYI, "shuang_bai_vehicles", rel)
    r = requests.get(
        f"{env['base']}/files/{LINYI}/shuang_bai_vehicles/{rel}",
        params={"expires": expires, "signature": sig},
        timeout=30,
    )
    assert r.status_code == 403, r.text
    assert "not a data file of the share table" in r.text


def test_the_change_feed_and_the_extract_api_hold_only_the_recipients_rows(env):
    import delta_sharing

    url = f"{env['profiles'][LINYI]}#{LINYI}.default.shuang_bai_vehicles"
    changes = delta_sharing.load_table_changes_as_pandas(url, starting_version=0)
    assert sorted(changes["plate_no"]) == ["鲁Q12345", "鲁Q7777挂"]
    assert "recipient" not in changes.columns
    base = env["base"].removesuffix("/delta-sharing")
    r = requests.get(
        f"{base}/extract/v1/{LINYI}/shuang_bai_vehicles",
        headers={"Authorization": f"Bearer {_token(env, LINYI)}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert sorted(row["plate_no"] for row in body["rows"]) == ["鲁Q12345", "鲁Q7777挂"]
    assert "recipient" not in body["columns"] and "recipient" not in body["rows"][0]


def test_a_recipients_token_does_not_open_another_recipients_share(env):
    token = _token(env, LINYI)
    r = requests.get(
        f"{env['base']}/shares/{SUZHOU_AH}/schemas/default/tables",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert r.status_code == 403, r.text
