"""The plain REST extract API (``/extract/v1/{share}/{table}``) on small delta-rs share tables.

Same set-up as ``test_sharing_protocol``: tables written with ``deltalake`` (no JVM) where the
share layer puts them, tokens issued by the real ``eb sharing issue``, the service in a thread.
What must hold: filters are values, never code; pages are pinned to a version; incremental
pulls return what changed; every refusal is a 4xx JSON body and an audit row.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import requests
from sharing_support import (
    ServiceThread,
    audit_rows,
    free_port,
    issue_profile,
    probe_interface,
    settings_for,
    sharing_env,
    standards_copy,
)

D1, D2 = dt.date(2026, 11, 28), dt.date(2026, 11, 29)
COLUMNS = ["alert_id", "plate_no", "gross_weight_kg", "excess_rate", "is_shuang_bai", "biz_date"]

EXTRACT_PROBE = probe_interface("extract_probe", requests_per_minute=1000, rows_per_day=1000000)
COMPACT_PROBE = probe_interface("compact_probe", requests_per_minute=1000, rows_per_day=1000000)


def _alerts(rows: list[tuple]) -> pa.Table:
    df = pd.DataFrame(rows, columns=COLUMNS[:-1])
    df["biz_date"] = [D1 if a.startswith("a") else D2 for a in df["alert_id"]]
    return pa.Table.from_pandas(df, preserve_index=False)


V0 = [
    ("a1", "苏C****1", 60000, 0.22, False),
    ("a2", "苏C****2", 110000, 1.2, True),
    ("a3", None, 52000, 0.04, False),
    ("b1", "苏C****4", 70000, 0.4, False),
    ("b2", "鲁Q****挂", 101000, 1.1, True),
]
V1_D2 = [("b1", "苏C****4", 70000, 0.4, False), ("b3", "苏C****6", 99000, 0.9, False)]
V2_D1 = [("a9", "苏C****9", 80000, 0.6, False)]


def _write(path: Path, rows: list[tuple], day: dt.date | None = None) -> None:
    from deltalake import write_deltalake

    if day is None:
        write_deltalake(str(path), _alerts(rows), partition_by=["biz_date"])
    else:
        write_deltalake(
            str(path), _alerts(rows), partition_by=["biz_date"], mode="overwrite",
            predicate=f"biz_date = '{day}'",
        )  # fmt: skip


def _write_compacted(path: Path) -> Path:
    """The share layer's own layout: not partitioned, days replaced by predicate (Delta writes
    change files for the rows it deletes and inserts), small files compacted in between."""
    from deltalake import DeltaTable, write_deltalake

    days = _alerts(V0)
    cdf = {"delta.enableChangeDataFeed": "true"}
    day1 = days.filter(pc.equal(days["biz_date"], D1))
    write_deltalake(str(path), day1, configuration=cdf)  # v0: day 1
    write_deltalake(str(path), days.filter(pc.equal(days["biz_date"], D2)), mode="append")
    for version, (rows, day) in enumerate([(V1_D2, D2), (None, None), (V2_D1, D1)], start=2):
        if rows is None:  # v3: compaction, a commit that changes no data
            DeltaTable(str(path)).optimize.compact()
        else:  # v2: day 2 replaced; v4: day 1 replaced (rewrites the compacted file)
            write_deltalake(
                str(path), _alerts(rows), mode="overwrite", predicate=f"biz_date = '{day}'"
            )
        assert DeltaTable(str(path)).version() == version
    return path


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("extract")
    root = standards_copy(tmp)
    (root / "interfaces" / "extract_probe.yaml").write_text(EXTRACT_PROBE, encoding="utf-8")
    (root / "interfaces" / "compact_probe.yaml").write_text(COMPACT_PROBE, encoding="utf-8")
    port = free_port()
    settings = settings_for(tmp, port)
    tables = {}
    for iid in ("provincial_supervision", "extract_probe", "quota_probe"):
        path = Path(settings.table_uri("share", f"{iid}__overload_alerts"))
        _write(path, V0)  # version 0: two days
        _write(path, V1_D2, D2)  # version 1: day 2 replaced (b2 gone, b3 new)
        tables[iid] = path
    environ = sharing_env(tmp, port)
    profiles = {
        iid: issue_profile(environ, iid, tmp / f"{iid}.share")
        for iid in ("provincial_supervision", "extract_probe", "quota_probe", "compact_probe")
    }
    with ServiceThread(settings) as service:
        yield {
            "settings": settings,
            "tables": tables,
            "compact": _write_compacted(
                Path(settings.table_uri("share", "compact_probe__overload_alerts"))
            ),
            "profiles": profiles,
            "root": service.base.removesuffix("/delta-sharing"),
        }


def _get(env, table="overload_alerts", iid="extract_probe", share=None, token=True, **params):
    headers = {}
    if token:
        bearer = json.loads(env["profiles"][iid].read_text())["bearerToken"]
        headers["Authorization"] = f"Bearer {bearer}"
    url = f"{env['root']}/extract/v1/{share or iid}/{table}"
    return requests.get(url, params=params, headers=headers, timeout=20)


def _ids(resp) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [r["alert_id"] for r in resp.json()["rows"]]


def test_json_page_holds_the_live_rows_in_a_stable_order(env):
    resp = _get(env)
    body = resp.json()
    assert (body["share"], body["table"], body["version"]) == (
        "extract_probe",
        "overload_alerts",
        1,
    )
    assert body["columns"] == COLUMNS and body["next_cursor"] is None
    assert [r["alert_id"] for r in body["rows"]] == ["a1", "a2", "a3", "b1", "b3"]
    assert body["rows"][0] == {
        "alert_id": "a1", "plate_no": "苏C****1", "gross_weight_kg": 60000, "excess_rate": 0.22,
        "is_shuang_bai": False, "biz_date": "2026-11-28",
    }  # fmt: skip
    assert resp.headers["X-Table-Version"] == "1"


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["biz_date:eq:2026-11-29"], ["b1", "b3"]),
        (["excess_rate:ge:0.5"], ["a2", "b3"]),
        (["excess_rate:ge:0.5", "biz_date:lt:2026-11-29"], ["a2"]),
        (["alert_id:in:a1|b3|zz"], ["a1", "b3"]),
        (["plate_no:isnull"], ["a3"]),
        (["plate_no:prefix:苏C****"], ["a1", "a2", "b1", "b3"]),
        (["is_shuang_bai:eq:true"], ["a2"]),
        (["gross_weight_kg:ne:70000"], ["a1", "a2", "a3", "b3"]),
        # a value is a value: an injection attempt matches nothing and runs nothing
        (["alert_id:eq:a1' or '1'='1"], []),
        (["alert_id:eq:a1:b"], []),
    ],
)
def test_filters_select_rows_by_value(env, filters, expected):
    assert _ids(_get(env, filter=filters)) == expected


def test_columns_and_formats(env):
    body = _get(env, columns="biz_date,alert_id", filter=["alert_id:eq:b3"]).json()
    assert body["rows"] == [{"biz_date": "2026-11-29", "alert_id": "b3"}]
    csv = _get(env, format="csv", columns="alert_id,excess_rate", filter=["biz_date:eq:2026-11-29"])
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines() == ['"alert_id","excess_rate"', '"b1",0.4', '"b3",0.9']
    parquet = _get(env, format="parquet", filter=["alert_id:in:a2|b1"])
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.column_names == COLUMNS
    assert table.column("alert_id").to_pylist() == ["a2", "b1"]


def test_pages_follow_a_cursor_pinned_to_the_table_version(env):
    first = _get(env, page_size=2).json()
    assert [r["alert_id"] for r in first["rows"]] == ["a1", "a2"]
    # the share layer replaces day 1 between two pages: the pages still cut version 1
    _write(env["tables"]["extract_probe"], V2_D1, D1)
    second = _get(env, page_size=2, cursor=first["next_cursor"]).json()
    assert [r["alert_id"] for r in second["rows"]] == ["a3", "b1"]
    third = _get(env, page_size=2, cursor=second["next_cursor"]).json()
    assert ([r["alert_id"] for r in third["rows"]], third["next_cursor"]) == (["b3"], None)
    assert third["version"] == 1
    fresh = _get(env).json()
    assert fresh["version"] == 2 and [r["alert_id"] for r in fresh["rows"]] == ["a9", "b1", "b3"]
    # incremental pulls: since version 1, day 1 was replaced; since 0, both days were
    assert _ids(_get(env, since_version="1")) == ["a9"]
    assert _ids(_get(env, since_version="0")) == ["a9", "b1", "b3"]
    assert _ids(_get(env, since_version="2")) == []


def test_incremental_pulls_follow_changed_days_through_compaction(env):
    """Compaction (v3) hands out nothing again; a day replaced by predicate rewrites a file that
    also holds the other day's unchanged rows (v4), and those are not handed out again either."""
    from deltalake import DeltaTable

    log = DeltaTable(str(env["compact"])).history()
    assert [h["operation"] for h in reversed(log)][1:] == ["WRITE", "WRITE", "OPTIMIZE", "WRITE"]

    def pull(since: str) -> list[str]:
        return _ids(_get(env, iid="compact_probe", since_version=since))

    assert pull("0") == ["a9", "b1", "b3"]  # day 2 (v2) and day 1 (v4)
    assert pull("1") == ["a9", "b1", "b3"]
    assert pull("2") == ["a9"]  # only day 1 changed after v2: not day 2 in the rewritten file
    assert pull("3") == ["a9"]
    assert pull("4") == []


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"filter": ["road:eq:G104"]}, 400, "'road' is not a column of the table"),
        ({"filter": ["alert_id:like:a%"]}, 400, "op must be one of eq, ne, lt, le"),
        ({"filter": ["biz_date:eq:yesterday"]}, 400, "'yesterday' is not a valid date32"),
        ({"filter": ["gross_weight_kg:gt:1e9x"]}, 400, "is not a valid int64 value"),
        ({"filter": ["plate_no:isnull:x"]}, 400, "isnull takes no value"),
        ({"filter": ["alert_id"]}, 400, "'alert_id' is not a column|op must be one of"),
        ({"format": "xml"}, 400, "format must be one of json, csv, parquet"),
        ({"page_size": "0"}, 400, "page_size must be >= 1, got 0"),
        ({"page_size": "100001"}, 400, "page_size must be at most 10000"),
        ({"cursor": "not-a-cursor"}, 400, "cursor is not one this server issued"),
        ({"since_version": "9"}, 400, "since_version 9 is after the table's version"),
        ({"columns": "alert_id,fine_yuan"}, 400, "columns must be distinct columns of the table"),
    ],
)
def test_bad_requests_are_400_with_a_json_message(env, params, status, message):
    import re

    resp = _get(env, **params)
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["errorCode"] == "INVALID_PARAMETER_VALUE"
    assert re.search(message, body["message"]), body["message"]


def test_a_cursor_is_refused_on_another_query(env):
    first = _get(env, page_size=1, filter=["biz_date:eq:2026-11-29"]).json()
    resp = _get(env, page_size=1, cursor=first["next_cursor"])
    assert resp.status_code == 400
    assert resp.json()["message"] == (
        "cursor belongs to another query (filters, columns or since_version)"
    )


def test_tokens_shares_and_tables_as_in_the_protocol(env):
    assert _get(env, token=False).status_code == 401
    other = _get(env, share="provincial_supervision")
    assert (other.status_code, other.json()["errorCode"]) == (403, "PERMISSION_DENIED")
    missing = _get(env, table="shuang_bai_vehicles")
    assert (missing.status_code, missing.json()["errorCode"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    declared = _get(env, iid="provincial_supervision", table="kpi_monthly")
    assert declared.status_code == 404
    assert declared.json()["message"] == "table kpi_monthly is declared but not published yet"


def test_rows_per_day_quota_and_audit(env):
    ok = _get(env, iid="quota_probe", page_size=2)
    assert _ids(ok) == ["a1", "a2"]
    over = _get(env, iid="quota_probe", page_size=2)
    assert over.status_code == 429 and int(over.headers["Retry-After"]) > 0
    assert over.json()["errorCode"] == "RESOURCE_EXHAUSTED"
    rows = [r for r in audit_rows(env["settings"]) if r["interface_id"] == "quota_probe"]
    assert [(r["endpoint"], r["status"], r["rows_served"]) for r in rows] == [
        ("extract", 200, 2), ("extract", 429, 0),
    ]  # fmt: skip
    assert json.loads(rows[0]["params"])["page_size"] == "2"
