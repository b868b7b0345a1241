"""The sharing service on an ``s3a://`` lake, against the stock ``delta_sharing`` client.

An S3-compatible server (moto) runs in the test process on a free port. The share tables are
written into it with delta-rs where the share layer puts them (``<lake>/share/<interface>__
<dataset>``) with exactly the columns their interface declares; the service runs in a thread
with ``EB_LAKE_ROOT=s3a://…`` and the endpoint in ``EB_S3_ENDPOINT``, credentials in the
standard AWS variables only. What must hold: the stock client reads the rows straight from the
store through S3 presigned URLs that live ``EB_SHARING_URL_TTL`` seconds, the service serves no
file itself, and no URL is ever signed for a key outside the share table's own prefix, even
when the table's log names one.

Not covered here: moto checks neither signatures nor the expiry of presigned URLs (it answers
an expired URL 200), so that S3 refuses a URL after ``X-Amz-Expires`` is S3's behaviour, not
something this test can show; it checks what the service controls, the signed expiry.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import time
from urllib.parse import parse_qs, urlsplit

import delta_sharing
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from conftest import make_settings, s3_credentials, s3_server
from sharing_support import (
    KPIS,
    ServiceThread,
    audit_rows,
    free_port,
    issue_profile,
    sharing_env,
    standards_copy,
)

from enforcement_brain.declarations import load_catalog
from enforcement_brain.lake.s3 import LakeStore, s3_client
from enforcement_brain.settings import REPO_ROOT
from enforcement_brain.sharing.errors import ProtocolError
from enforcement_brain.sharing.s3 import S3ShareTable

BUCKET = "agency-lake"
IFACE = "provincial_supervision"
TTL = 90
D1, D2 = dt.date(2026, 11, 28), dt.date(2026, 11, 29)


def _alert(alert_id: str, plate: str, excess_rate: float, day: dt.date) -> dict:
    return {
        "alert_id": alert_id,
        "site_code": "WIM-320300-01",
        "road": "G310",
        "division_code": "320300",
        "plate_no": plate,  # masked when the share layer wrote it
        "plate_color": "yellow",
        "vehicle_type_code": "H11",
        "axle_count": 6,
        "gross_weight_kg": int(49000 * (1 + excess_rate)),
        "limit_kg": 49000,
        "excess_kg": int(49000 * excess_rate),
        "excess_rate": excess_rate,  # the interface's row filter: excess_rate >= 0.1
        "fine_yuan": 500.0,
        "needs_static_reweigh": excess_rate >= 1.0,
        "is_bai_dun_wang": False,
        "is_shuang_bai": excess_rate >= 1.0,
        "weigh_time": dt.datetime.combine(day, dt.time(8, 30), tzinfo=dt.UTC),
        "biz_date": day,
    }


ALERTS_V0 = [
    _alert("a1", "苏C****1", 0.22, D1),
    _alert("a2", "苏C****2", 1.2, D1),
    _alert("b1", "苏C****4", 0.4, D2),
    _alert("b2", "苏C****5", 1.1, D2),
]
ALERTS_V1_D2 = [_alert("b1", "苏C****4", 0.4, D2), _alert("b3", "苏C****6", 0.9, D2)]
ACTIVITY_COUNTS = [
    "plans",
    "tasks",
    "special_tasks",
    "tasks_done",
    "joint_actions",
    "officers_deployed",
    "joint_officers_deployed",
    "inspections",
    "vehicles_checked",
    "enterprises_checked",
    "cases_opened",
]
ACTIVITY = [
    {"org_code": "320300-ZD1", **{c: i + 1 for i, c in enumerate(ACTIVITY_COUNTS)}, "biz_date": D1}
]


def _table(dataset: str, rows: list[dict]) -> pa.Table:
    """Rows as the share layer writes them: the interface's declared columns, in their order."""
    entry = next(
        e
        for e in load_catalog(REPO_ROOT / "data_standards").interfaces[IFACE].datasets
        if e.dataset == dataset
    )
    table = pa.Table.from_pylist(rows)
    assert table.column_names == list(entry.columns)  # the test tables follow the declaration
    return table


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """moto with the share tables, the service on it, a profile for the interface."""
    from deltalake import DeltaTable, write_deltalake

    tmp = tmp_path_factory.mktemp("sharing-s3")
    with pytest.MonkeyPatch.context() as mp, s3_server() as endpoint:
        s3_credentials(mp)
        client = s3_client(endpoint)
        client.create_bucket(Bucket=BUCKET)
        options = {"AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true"}

        def uri(dataset: str) -> str:
            return f"s3://{BUCKET}/lake/share/{IFACE}__{dataset}"

        # overload_alerts: v0 two days, v1 day 2 replaced (b2 gone, b3 new), as a rerun does.
        write_deltalake(
            uri("overload_alerts"),
            _table("overload_alerts", ALERTS_V0),
            partition_by=["biz_date"],
            configuration={"delta.enableChangeDataFeed": "true"},
            storage_options=options,
        )
        write_deltalake(
            uri("overload_alerts"),
            _table("overload_alerts", ALERTS_V1_D2),
            partition_by=["biz_date"],
            mode="overwrite",
            predicate=f"biz_date = '{D2}'",
            storage_options=options,
        )
        write_deltalake(
            uri("kpi_monthly"),
            _table("kpi_monthly", KPIS),
            partition_by=["month"],
            storage_options=options,
        )
        # enforcement_activity: v0 fine; v1 and v2 are commits whose log names a file outside
        # the table (an absolute URI of another table's file, then a ``../`` path to it), as a
        # shallow clone or a tampered log would.
        write_deltalake(
            uri("enforcement_activity"),
            _table("enforcement_activity", ACTIVITY),
            partition_by=["biz_date"],
            configuration={"delta.enableChangeDataFeed": "true"},
            storage_options=options,
        )
        foreign = DeltaTable(uri("overload_alerts"), storage_options=options).file_uris()[0]
        relative = "../" + foreign.removeprefix(f"s3://{BUCKET}/lake/share/")
        for version, actions in ((1, [_add(foreign)]), (2, [_remove(foreign), _add(relative)])):
            key = f"lake/share/{IFACE}__enforcement_activity/_delta_log/{version:020d}.json"
            lines = [{"commitInfo": {"timestamp": int(time.time() * 1000)}}, *actions]
            body = "".join(json.dumps(a) + "\n" for a in lines).encode()
            client.put_object(Bucket=BUCKET, Key=key, Body=body)

        port = free_port()
        environ = {
            **sharing_env(tmp, port),
            "EB_LAKE_ROOT": f"s3a://{BUCKET}/lake",
            "EB_S3_ENDPOINT": endpoint,
            "EB_SHARING_URL_TTL": str(TTL),
            "AWS_REGION": "eu-west-1",
        }
        standards_copy(tmp)
        settings = make_settings(tmp / "var", **environ)
        profile = issue_profile(environ, IFACE, tmp / f"{IFACE}.share")
        with ServiceThread(settings) as service:
            store = service.app.state.service.store
            signed: list[str] = []  # every key the service asked boto3 to sign
            sign = store.client.generate_presigned_url

            def recording(method: str, Params: dict, **kw):
                signed.append(Params["Key"])
                return sign(method, Params=Params, **kw)

            mp.setattr(store.client, "generate_presigned_url", recording)
            yield {
                "endpoint": endpoint,
                "client": client,
                "settings": settings,
                "profile": profile,
                "base": service.base,
                "token": json.loads(profile.read_text())["bearerToken"],
                "signed": signed,
                "store": store,
            }


def _add(path: str) -> dict:
    stats = json.dumps({"numRecords": 1})
    return {
        "add": {
            "path": path,
            "partitionValues": {"biz_date": str(D1)},
            "size": 1,
            "modificationTime": 0,
            "dataChange": True,
            "stats": stats,
        }
    }


def _remove(path: str) -> dict:
    return {"remove": {"path": path, "deletionTimestamp": 0, "dataChange": True}}


def _url(lake, dataset: str) -> str:
    return f"{lake['profile']}#{IFACE}.default.{dataset}"


def _get(lake, url: str, params: dict | None = None) -> requests.Response:
    """A GET with the interface's token."""
    return requests.get(
        url, params=params, headers={"Authorization": f"Bearer {lake['token']}"}, timeout=30
    )


def _query(lake, dataset: str, body: dict | None = None) -> requests.Response:
    return requests.post(
        f"{lake['base']}/shares/{IFACE}/schemas/default/tables/{dataset}/query",
        json=body or {},
        headers={"Authorization": f"Bearer {lake['token']}"},
        timeout=30,
    )


def _prefix(dataset: str) -> str:
    return f"lake/share/{IFACE}__{dataset}/"


# -- the stock client ----------------------------------------------------------------------------


def test_the_stock_client_lists_and_reads_the_tables_from_the_store(lake):
    client = delta_sharing.SharingClient(str(lake["profile"]))
    tables = client.list_all_tables()
    assert sorted((t.share, t.schema, t.name) for t in tables) == [
        (IFACE, "default", "enforcement_activity"),
        (IFACE, "default", "kpi_monthly"),
        (IFACE, "default", "overload_alerts"),
    ]

    alerts = delta_sharing.load_as_pandas(_url(lake, "overload_alerts"))
    expected = ALERTS_V0[:2] + ALERTS_V1_D2
    assert list(alerts.columns) == list(pa.Table.from_pylist(expected).column_names)
    assert sorted(zip(alerts["alert_id"], alerts["plate_no"], strict=True)) == [
        ("a1", "苏C****1"),
        ("a2", "苏C****2"),
        ("b1", "苏C****4"),
        ("b3", "苏C****6"),
    ]
    assert sorted(alerts["excess_kg"]) == sorted(r["excess_kg"] for r in expected)

    kpis = delta_sharing.load_as_pandas(_url(lake, "kpi_monthly")).sort_values(["month", "kpi_id"])
    assert kpis[["kpi_id", "value"]].values.tolist() == [
        ["K01", 120.0],
        ["K02", 0.031],
        ["K01", 131.0],
    ]
    assert [str(m) for m in kpis["month"]] == ["2026-10-01", "2026-10-01", "2026-11-01"]


def test_the_change_feed_is_read_from_the_log_on_the_store(lake):
    changes = delta_sharing.load_table_changes_as_pandas(
        _url(lake, "overload_alerts"), starting_version=0
    )
    got = sorted(
        zip(changes["_commit_version"], changes["_change_type"], changes["alert_id"], strict=True)
    )
    first = [(0, "insert", a["alert_id"]) for a in ALERTS_V0]
    day2_replaced = [(1, "delete", "b1"), (1, "delete", "b2"), (1, "insert", "b1")]
    assert got == [*first, *day2_replaced, (1, "insert", "b3")]


def test_version_and_metadata_are_read_from_the_log_on_the_store(lake):
    table = f"{lake['base']}/shares/{IFACE}/schemas/default/tables/overload_alerts"
    version = _get(lake, f"{table}/version")
    assert (version.status_code, version.headers["delta-table-version"]) == (200, "1")
    meta = _get(lake, f"{table}/metadata")
    assert meta.status_code == 200, meta.text
    protocol, metadata = (json.loads(line) for line in meta.text.splitlines())
    assert protocol == {"protocol": {"minReaderVersion": 1}}
    assert metadata["metaData"]["partitionColumns"] == ["biz_date"]
    assert metadata["metaData"]["configuration"] == {"enableChangeDataFeed": "true"}
    fields = json.loads(metadata["metaData"]["schemaString"])["fields"]
    assert [f["name"] for f in fields] == list(ALERTS_V0[0])
    missing = _get(lake, f"{table.rsplit('/', 1)[0]}/no_such/metadata")
    assert missing.status_code == 404


def test_a_request_lists_the_log_on_the_store_once(lake, monkeypatch):
    """S3 has no folder mtime to skip a listing by, so each LIST is a round trip to the store:
    a metadata or version request takes one (its latest version), not one more to learn that
    the table exists."""
    store = lake["store"]
    lists: list[str] = []

    def count(params, **_):
        lists.append(params["Prefix"])

    store.client.meta.events.register("before-parameter-build.s3.ListObjectsV2", count)
    try:
        table = f"{lake['base']}/shares/{IFACE}/schemas/default/tables/kpi_monthly"
        assert _get(lake, f"{table}/metadata").status_code == 200  # the table seen once
        lists.clear()
        assert _get(lake, f"{table}/metadata").status_code == 200
        assert _get(lake, f"{table}/version").headers["delta-table-version"] == "0"
        assert lists == [f"lake/share/{IFACE}__kpi_monthly/_delta_log/"] * 2
    finally:
        store.client.meta.events.unregister("before-parameter-build.s3.ListObjectsV2", count)


# -- the URLs ------------------------------------------------------------------------------------


def test_file_urls_are_presigned_on_the_store_for_the_table_prefix_with_the_ttl(lake):
    before = time.time()
    answer = _query(lake, "overload_alerts")
    after = time.time()
    assert answer.status_code == 200, answer.text
    files = [json.loads(line)["file"] for line in answer.text.splitlines() if '"file"' in line]
    assert len(files) == 2  # day 1's file and day 2's replacement

    prefix = f"{lake['endpoint']}/{BUCKET}/{_prefix('overload_alerts')}"
    for f in files:
        url = urlsplit(f["url"])
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        assert f["url"].startswith(prefix)
        assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
        assert query["X-Amz-Expires"] == str(TTL)
        assert query["X-Amz-SignedHeaders"] == "host"
        assert query["X-Amz-Credential"].startswith("testing/")
        assert query["X-Amz-Credential"].endswith("/eu-west-1/s3/aws4_request")
        signed_at = dt.datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
        signed_at = signed_at.replace(tzinfo=dt.UTC).timestamp()
        assert before - 1 <= signed_at <= after
        # What the client is told matches what S3 enforces: not later than signature + TTL.
        assert (int(before) + TTL) * 1000 <= f["expirationTimestamp"] <= (signed_at + TTL) * 1000

        # The URL fetches exactly that object from the store, without the bearer token.
        got = requests.get(f["url"], timeout=30)
        assert got.status_code == 200
        key = url.path.removeprefix(f"/{BUCKET}/").replace("%3D", "=")
        stored = lake["client"].get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert got.content == stored and len(stored) == f["size"]
        assert (
            pq.read_table(io.BytesIO(got.content)).num_rows == json.loads(f["stats"])["numRecords"]
        )


def test_the_service_serves_no_file_itself(lake):
    """The client's downloads went to the store: the service's file endpoint has no audit row
    but the one probe here, which it answers 404."""
    kpis = delta_sharing.load_as_pandas(_url(lake, "kpi_monthly"))
    assert len(kpis) == 3
    probe = requests.get(
        f"{lake['base']}/files/{IFACE}/kpi_monthly/part-0.parquet?expires=1&signature=x",
        timeout=10,
    )
    assert probe.status_code == 404
    assert probe.json()["message"] == "files of a lake on object storage are fetched from the store"
    rows = audit_rows(lake["settings"])
    query = [r for r in rows if r["endpoint"] == "query" and "kpi_monthly" in r["path"]][-1]
    assert (query["status"], query["files_served"], query["rows_served"]) == (200, 2, 3)
    assert [r["status"] for r in rows if r["endpoint"] == "file"] == [404]


def test_a_log_naming_a_file_outside_the_table_gets_no_url(lake):
    """v1 names another table's file by absolute URI, v2 by a ``../`` path: every answer that
    reaches them is a 403 with no URL, and the foreign file's key is never signed."""
    signed = lake["signed"]
    signed.clear()
    for version in (1, 2):
        answer = _query(lake, "enforcement_activity", {"version": version})
        assert answer.status_code == 403, answer.text
        assert answer.json()["errorCode"] == "PERMISSION_DENIED"
        assert "outside the table" in answer.json()["message"]
        assert "X-Amz" not in answer.text
        assert "overload_alerts" not in answer.text  # the foreign name stays in the service log
    changes = _get(
        lake,
        f"{lake['base']}/shares/{IFACE}/schemas/default/tables/enforcement_activity/changes",
        {"startingVersion": "0"},
    )
    assert changes.status_code == 403, changes.text
    assert "X-Amz" not in changes.text
    with pytest.raises(requests.HTTPError, match="403"):
        delta_sharing.load_as_pandas(_url(lake, "enforcement_activity"))
    refused = list(signed)

    # Version 0, before the foreign commits, is served as usual: one file, under the prefix.
    ok = _query(lake, "enforcement_activity", {"version": 0})
    assert ok.status_code == 200, ok.text
    (own,) = [json.loads(line)["file"] for line in ok.text.splitlines() if '"file"' in line]
    own_key = signed[-1]
    assert own_key.startswith(_prefix("enforcement_activity") + "biz_date=2026-11-28/part-")
    assert own["url"].split("?")[0].endswith(own_key.rsplit("/", 1)[1])
    # While refusing, only that file of the table's own was signed (v1 and the change feed list
    # it before the foreign one; the answers were refused before any URL went out).
    assert set(refused) == {own_key}


@pytest.mark.parametrize(
    "rel_path",
    [
        "../other__table/part-0.parquet",
        "biz_date=2026-11-28/../../other__table/part-0.parquet",
        "./part-0.parquet",
        "/lake/share/other__table/part-0.parquet",
        "s3://agency-lake/lake/share/other__table/part-0.parquet",
        "s3a://elsewhere/part-0.parquet",
        "_delta_log/00000000000000000000.json",
        "biz_date=2026-11-28//part-0.parquet",
        "",
    ],
)
def test_no_key_outside_the_table_prefix_is_signed(rel_path):
    store = LakeStore(client=_Refuse(), storage_options={})
    st = S3ShareTable(f"s3a://{BUCKET}/lake/share/{IFACE}__kpi_monthly", store)
    with pytest.raises(ProtocolError) as refused:
        st.presigned_url(rel_path, TTL)
    assert refused.value.status == 403


def test_a_data_file_path_maps_to_its_key_under_the_prefix():
    st = S3ShareTable(f"s3a://{BUCKET}/lake/share/{IFACE}__kpi_monthly/", LakeStore(_Refuse(), {}))
    assert st.uri == f"s3://{BUCKET}/lake/share/{IFACE}__kpi_monthly"
    assert st.key("month=2026-10-01/part-0.parquet") == (
        f"lake/share/{IFACE}__kpi_monthly/month=2026-10-01/part-0.parquet"
    )


class _Refuse:
    """A client that fails the test if anything is signed or fetched."""

    def __getattr__(self, name: str):
        raise AssertionError(f"the S3 client was called: {name}")


def test_the_extract_api_reads_the_table_from_the_store(lake):
    answer = _get(
        lake,
        f"{lake['base'].removesuffix('/delta-sharing')}/extract/v1/{IFACE}/kpi_monthly",
        {"filter": "month:eq:2026-10-01"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["version"] == 0
    assert [(r["kpi_id"], r["value"]) for r in body["rows"]] == [("K01", 120.0), ("K02", 0.031)]
