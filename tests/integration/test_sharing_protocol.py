"""The sharing service against the stock ``delta_sharing`` client, on small delta-rs tables.

The share tables are written with ``deltalake`` (no JVM) exactly where the share layer puts
them; profiles are issued by the real ``eb sharing issue`` command; the service runs in a
thread on a free port. What must hold: the stock client works unchanged, a token sees its own
interface only, files come only from inside the share table and its log, and every request —
refusals included — is an audit row.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import requests
from sharing_support import (
    SECRET,
    ServiceThread,
    audit_rows,
    eb,
    eb_serve,
    free_port,
    issue_profile,
    settings_for,
    sharing_env,
    standards_copy,
)

from enforcement_brain.declarations import load_catalog
from enforcement_brain.settings import REPO_ROOT

D1, D2 = dt.date(2026, 11, 28), dt.date(2026, 11, 29)


def _alerts(rows: list[tuple]) -> pa.Table:
    df = pd.DataFrame(
        rows,
        columns=["alert_id", "plate_no", "gross_weight_kg", "excess_rate", "is_shuang_bai"],
    )
    df["biz_date"] = [D1 if a.startswith("a") else D2 for a in df["alert_id"]]
    return pa.Table.from_pandas(df, preserve_index=False)


V0 = [
    ("a1", "苏C****1", 60000, 0.22, False),
    ("a2", "苏C****2", 110000, 1.2, True),
    ("a3", "苏C****3", 52000, 0.04, False),
    ("b1", "苏C****4", 70000, 0.4, False),
    ("b2", "苏C****5", 101000, 1.1, True),
]
V1_D2 = [("b1", "苏C****4", 70000, 0.4, False), ("b3", "苏C****6", 99000, 0.9, False)]


def _write_share_table(path: Path) -> None:
    """v0: two days; v1: day 2 replaced (b2 gone, b3 new) — what a rerun of a day does."""
    from deltalake import write_deltalake

    write_deltalake(
        str(path),
        _alerts(V0),
        partition_by=["biz_date"],
        configuration={"delta.enableChangeDataFeed": "true"},
    )
    write_deltalake(
        str(path),
        _alerts(V1_D2),
        partition_by=["biz_date"],
        mode="overwrite",
        predicate=f"biz_date = '{D2}'",
    )


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sharing")
    standards_copy(tmp)
    port = free_port()
    settings = settings_for(tmp, port)
    for name in (
        "provincial_supervision__overload_alerts",
        "city_police__overload_alerts",
        "quota_probe__overload_alerts",
    ):
        _write_share_table(Path(settings.table_uri("share", name)))
    environ = sharing_env(tmp, port)
    profiles = {
        iid: issue_profile(environ, iid, tmp / f"{iid}.share")
        for iid in ("provincial_supervision", "city_police", "quota_probe")
    }
    with ServiceThread(settings) as service:
        yield {
            "tmp": tmp,
            "settings": settings,
            "environ": environ,
            "profiles": profiles,
            "base": service.base,
            "service": service,
        }


def _token(env, iid: str) -> str:
    return json.loads(env["profiles"][iid].read_text())["bearerToken"]


def _get(env, path: str, iid: str | None = "provincial_supervision", **kw):
    headers = kw.pop("headers", {})
    if iid:
        headers["Authorization"] = f"Bearer {_token(env, iid)}"
    return requests.get(env["base"] + path, headers=headers, timeout=10, **kw)


def _post(env, path: str, body, iid: str = "provincial_supervision"):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return requests.post(
        env["base"] + path,
        data=data,
        headers={"Authorization": f"Bearer {_token(env, iid)}"},
        timeout=10,
    )


TABLE = "/shares/provincial_supervision/schemas/default/tables/overload_alerts"


# -- the stock client ----------------------------------------------------------------------------


def test_profile_file_is_what_the_stock_client_reads(env):
    profile = json.loads(env["profiles"]["provincial_supervision"].read_text())
    assert set(profile) == {"shareCredentialsVersion", "endpoint", "bearerToken", "expirationTime"}
    assert profile["endpoint"] == env["base"]
    expires = dt.datetime.fromisoformat(profile["expirationTime"].replace("Z", "+00:00"))
    days = (expires - dt.datetime.now(dt.UTC)).total_seconds() / 86400
    assert 89.9 < days <= 90  # the declaration's token_lifetime_days
    assert oct(env["profiles"]["provincial_supervision"].stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("iid", ["provincial_supervision", "city_police"])
def test_stock_client_lists_and_loads_its_own_share(env, iid):
    import delta_sharing

    profile = str(env["profiles"][iid])
    client = delta_sharing.SharingClient(profile)
    tables = client.list_all_tables()
    declared = {  # every declared table is listed, published or not (the others are 404 until)
        "provincial_supervision": ["overload_alerts", "kpi_monthly", "enforcement_activity"],
        "city_police": ["overload_alerts"],
    }[iid]
    assert [(t.share, t.schema, t.name) for t in tables] == [(iid, "default", t) for t in declared]
    url = f"{profile}#{iid}.default.overload_alerts"
    df = delta_sharing.load_as_pandas(url).sort_values("alert_id").reset_index(drop=True)
    assert list(df.columns) == [
        "alert_id",
        "plate_no",
        "gross_weight_kg",
        "excess_rate",
        "is_shuang_bai",
        "biz_date",
    ]
    assert df["alert_id"].tolist() == ["a1", "a2", "a3", "b1", "b3"]  # v1: b2 replaced by b3
    assert df["plate_no"].tolist() == ["苏C****1", "苏C****2", "苏C****3", "苏C****4", "苏C****6"]
    assert df["biz_date"].tolist() == [D1, D1, D1, D2, D2]
    assert len(delta_sharing.load_as_pandas(url, limit=2)) == 2
    assert len(delta_sharing.load_as_pandas(url, limit=0)) == 0


def test_stock_client_reads_the_change_feed(env):
    import delta_sharing

    profile = env["profiles"]["provincial_supervision"]
    url = f"{profile}#provincial_supervision.default.overload_alerts"
    changes = delta_sharing.load_table_changes_as_pandas(url, starting_version=0, ending_version=1)
    got = sorted(
        zip(
            changes["_commit_version"],
            changes["_change_type"],
            changes["alert_id"],
            strict=True,
        )
    )
    assert got == [
        (0, "insert", "a1"),
        (0, "insert", "a2"),
        (0, "insert", "a3"),
        (0, "insert", "b1"),
        (0, "insert", "b2"),
        (1, "delete", "b1"),
        (1, "delete", "b2"),
        (1, "insert", "b1"),
        (1, "insert", "b3"),
    ]
    only_v1 = delta_sharing.load_table_changes_as_pandas(url, starting_version=1)
    assert set(only_v1["_commit_version"]) == {1}
    assert len(only_v1) == 4


def test_other_interfaces_share_is_refused_to_the_stock_client(env):
    import delta_sharing

    url = f"{env['profiles']['city_police']}#provincial_supervision.default.overload_alerts"
    with pytest.raises(requests.HTTPError) as err:
        delta_sharing.load_as_pandas(url)
    assert err.value.response.status_code == 403
    r = _get(env, "/shares/provincial_supervision/all-tables", iid="city_police")
    assert r.status_code == 403
    assert r.json()["errorCode"] == "PERMISSION_DENIED"
    r = _get(env, "/shares", iid="city_police")
    assert r.json() == {"items": [{"name": "city_police", "id": "city_police"}]}


# -- the protocol, raw ---------------------------------------------------------------------------


def _lines(r) -> list[dict]:
    return [json.loads(x) for x in r.text.splitlines()]


def test_version_metadata_and_query_shapes(env):
    r = _get(env, TABLE + "/version")
    assert r.status_code == 200 and r.headers["delta-table-version"] == "1"
    r = requests.head(
        env["base"] + TABLE,
        headers={"Authorization": f"Bearer {_token(env, 'provincial_supervision')}"},
        timeout=10,
    )
    assert r.status_code == 200 and r.headers["delta-table-version"] == "1"
    r = _get(env, TABLE + "/metadata")
    protocol, meta = _lines(r)
    assert protocol == {"protocol": {"minReaderVersion": 1}}
    assert meta["metaData"]["partitionColumns"] == ["biz_date"]
    assert meta["metaData"]["configuration"] == {"enableChangeDataFeed": "true"}
    r = _post(env, TABLE + "/query", {})
    files = [x["file"] for x in _lines(r)[2:]]
    assert sorted(f["partitionValues"]["biz_date"] for f in files) == [str(D1), str(D2)]
    assert all(f["expirationTimestamp"] > 0 and "signature=" in f["url"] for f in files)
    # time travel: version 0 still has b2's file
    r = _post(env, TABLE + "/query", {"version": 0})
    assert sum(json.loads(x["file"]["stats"])["numRecords"] for x in _lines(r)[2:]) == 5


@pytest.mark.parametrize(
    "body",
    [
        {"predicateHints": [f"biz_date = '{D1}'"]},
        {"predicateHints": [f"biz_date < '{D2}'", "plate_no = 'x'"]},  # non-partition: skipped
        {
            "jsonPredicateHints": json.dumps(
                {
                    "op": "equal",
                    "children": [
                        {"op": "column", "name": "biz_date", "valueType": "date"},
                        {"op": "literal", "value": str(D1), "valueType": "date"},
                    ],
                }
            )
        },
    ],
)
def test_partition_pruning(env, body):
    r = _post(env, TABLE + "/query", body)
    assert r.status_code == 200
    files = [x["file"] for x in _lines(r)[2:]]
    assert [f["partitionValues"]["biz_date"] for f in files] == [str(D1)]


@pytest.mark.parametrize(
    "pred",
    [
        {"op": "someFutureOp"},
        {"op": "and", "children": 5},
        {"op": "equal", "children": ["x", 1]},
        {"op": "equal", "children": [{"op": "column", "name": "plate_no"}, {"op": "literal"}]},
        {"op": "not", "children": [{"op": "isNull"}]},
        {"op": "isNull", "children": [{"op": "column", "name": ["biz_date"]}]},
        {"op": "equal", "children": [{"op": "column", "name": {}}, {"op": "literal", "value": 1}]},
    ],
)
def test_unknown_predicates_keep_every_file(env, pred):
    r = _post(env, TABLE + "/query", {"jsonPredicateHints": json.dumps(pred)})
    assert r.status_code == 200
    assert len(_lines(r)) == 4


def test_limit_hint_prunes(env):
    r = _post(env, TABLE + "/query", {"limitHint": 1})
    assert len(_lines(r)) == 3  # one file holds enough rows


def test_query_then_files_are_counted_in_the_audit(env):
    before = len(audit_rows(env["settings"]))
    r = _post(env, TABLE + "/query", {"predicateHints": [f"biz_date = '{D1}'"]})
    assert r.status_code == 200
    row = audit_rows(env["settings"])[before]
    assert (row["endpoint"], row["status"], row["interface_id"]) == (
        "query",
        200,
        "provincial_supervision",
    )
    assert (row["rows_served"], row["files_served"]) == (3, 1)
    assert json.loads(row["params"]) == {"predicateHints": [f"biz_date = '{D1}'"]}
    assert row["client"] == "127.0.0.1" and row["duration_ms"] >= 0


def test_a_file_comes_whole_or_by_range(env):
    """A plain GET answers the whole file; a Range request (a reader after a footer) gets 206."""
    r = _post(env, TABLE + "/query", {"predicateHints": [f"biz_date = '{D1}'"]})
    entry = next(json.loads(x)["file"] for x in r.text.splitlines() if '"file"' in x)
    whole = requests.get(entry["url"], timeout=10)
    assert whole.status_code == 200 and len(whole.content) == entry["size"]
    assert whole.content[:4] == b"PAR1" and whole.content[-4:] == b"PAR1"
    part = requests.get(entry["url"], headers={"Range": "bytes=4-11"}, timeout=10)
    assert part.status_code == 206 and part.content == whole.content[4:12]
    tail = requests.get(entry["url"], headers={"Range": "bytes=-8"}, timeout=10)
    assert tail.status_code == 206 and tail.content == whole.content[-8:]


def test_a_file_served_is_audited_and_logged_at_debug_a_refusal_at_info(env, caplog):
    """Files are most requests: one served is a row of the audit and a DEBUG log line only;
    a refused one is an INFO line as every API call is, so operators still see denials."""
    import logging

    caplog.set_level(logging.DEBUG, logger="enforcement_brain.sharing")
    url = _file_urls(env)[0]
    before = len(audit_rows(env["settings"]))
    assert requests.get(url, timeout=10).status_code == 200
    assert requests.get(url.replace("signature=", "signature=0"), timeout=10).status_code == 403
    rows = audit_rows(env["settings"])[before:]
    assert [(r["endpoint"], r["status"], r["files_served"]) for r in rows] == [
        ("file", 200, 1),
        ("file", 403, 0),
    ]
    lines = [
        (r.levelname, r.msg["status"])
        for r in caplog.records
        if isinstance(r.msg, dict) and r.msg.get("event") == "request"
        and r.msg.get("endpoint") == "file"
    ]  # fmt: skip
    assert lines == [("DEBUG", 200), ("INFO", 403)]


# -- credentials -----------------------------------------------------------------------------------


def test_tokens_missing_malformed_unknown_expired_revoked_are_401(env):
    from sqlalchemy import create_engine, text

    from enforcement_brain.sharing import credentials
    from enforcement_brain.sharing.db import connect

    settings = env["settings"]
    engine = connect(settings.governance_db_url, create=False)
    expired = credentials.issue(engine, "provincial_supervision", 1)
    with create_engine(settings.governance_db_url).begin() as conn:
        conn.execute(
            text("update sharing_tokens set expires_at = :t where token_id = :i"),
            {"t": dt.datetime(2020, 1, 1), "i": expired.info.token_id},
        )
    revoked = credentials.issue(engine, "provincial_supervision", 1)
    done = eb(env["environ"], "sharing", "revoke", "--token-id", revoked.info.token_id)
    assert done.returncode == 0 and "1 token(s) revoked" in done.stdout
    before = len(audit_rows(settings))
    cases = {
        "missing": {},
        "malformed": {"Authorization": "Token abc"},
        "empty": {"Authorization": "Bearer "},
        "unknown": {"Authorization": "Bearer ebs_not-a-real-token"},
        "expired": {"Authorization": f"Bearer {expired.token}"},
        "revoked": {"Authorization": f"Bearer {revoked.token}"},
    }
    for name, headers in cases.items():
        r = requests.get(env["base"] + "/shares", headers=headers, timeout=10)
        assert r.status_code == 401, name
        assert r.json()["errorCode"] == "UNAUTHENTICATED", name
    assert "expired" in r.json()["message"] or "revoked" in r.json()["message"]
    rows = audit_rows(settings)[before:]
    assert [(x["status"], x["error_code"]) for x in rows] == [(401, "UNAUTHENTICATED")] * 6
    listed = eb(env["environ"], "sharing", "list", "--interface", "provincial_supervision")
    statuses = [line.split()[2] for line in listed.stdout.splitlines()]
    assert sorted(statuses) == ["active", "expired", "revoked"]


def test_rotation_revokes_the_old_token(env, tmp_path):
    iid = "city_police"
    environ = env["environ"]
    old = issue_profile(environ, iid, tmp_path / "old.share")
    old_token = json.loads(old.read_text())["bearerToken"]
    done = eb(environ, "sharing", "rotate", "--interface", iid, "--profile", str(tmp_path / "n"))
    assert done.returncode == 0, done.stderr
    new_token = json.loads((tmp_path / "n").read_text())["bearerToken"]
    auth = {"Authorization": f"Bearer {old_token}"}
    assert requests.get(env["base"] + "/shares", headers=auth, timeout=10).status_code == 401
    auth = {"Authorization": f"Bearer {new_token}"}
    assert requests.get(env["base"] + "/shares", headers=auth, timeout=10).status_code == 200
    env["profiles"][iid] = tmp_path / "n"  # the module's old city_police profile is revoked too


def test_governance_db_holds_only_hashes(env):
    import sqlite3

    db = env["settings"].governance_db_url.removeprefix("sqlite:///")
    dump = "\n".join(sqlite3.connect(db).iterdump())
    token = _token(env, "provincial_supervision")
    assert token not in dump
    import hashlib

    assert hashlib.sha256(token.encode()).hexdigest() in dump


def test_unknown_interface_is_refused_by_the_admin_command(env):
    done = eb(env["environ"], "sharing", "issue", "--interface", "nobody")
    assert done.returncode == 2
    real = load_catalog(REPO_ROOT / "data_standards").interfaces
    declared = ", ".join(sorted([*real, "city_police", "quota_probe"]))  # + the test-only ones
    assert done.stderr.strip().splitlines() == [
        f"error: unknown interface 'nobody'; declared: {declared}"
    ]


# -- signed file URLs and path traversal ---------------------------------------------------------


def _file_urls(env) -> list[str]:
    r = _post(env, TABLE + "/query", {})
    return [x["file"]["url"] for x in _lines(r)[2:]]


def _raw_get(env, target: str) -> tuple[int, bytes]:
    """GET a raw request target, unnormalised (no client rewrites ``..`` or ``%2e``)."""
    port = env["settings"].sharing_port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", target)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body


def _signed_target(
    rel: str, *, signed: str | None = None, share="provincial_supervision", table="overload_alerts"
) -> str:
    """A file URL target for ``rel`` (sent as is) whose signature covers ``signed``."""
    from enforcement_brain.sharing.signing import Signer

    expires, sig = Signer(SECRET.encode(), 60).sign(share, table, rel if signed is None else signed)
    return f"/delta-sharing/files/{share}/{table}/{rel}?expires={expires}&signature={sig}"


def test_signed_url_works_and_tampered_or_expired_is_403(env):
    from urllib.parse import unquote, urlsplit

    from enforcement_brain.sharing.signing import Signer

    url = _file_urls(env)[0]
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.content[:4] == b"PAR1"
    parts = urlsplit(url)
    target = f"{parts.path}?{parts.query}"
    tampered = target[:-2] + ("AA" if not target.endswith("AA") else "BB")
    status, body = _raw_get(env, tampered)
    assert status == 403 and json.loads(body)["errorCode"] == "PERMISSION_DENIED"
    other_file = target.replace("part-", "part-x", 1)
    assert _raw_get(env, other_file)[0] == 403
    rel = unquote(parts.path.split("/overload_alerts/", 1)[1])
    expires, sig = Signer(SECRET.encode(), 60).sign(
        "provincial_supervision", "overload_alerts", rel, now=0
    )
    status, body = _raw_get(env, f"{parts.path}?expires={expires}&signature={sig}")
    assert status == 403 and "expired" in json.loads(body)["message"]
    unsigned = _raw_get(env, parts.path)
    assert unsigned[0] == 403


TRAVERSALS = [
    "../city_police__overload_alerts/_delta_log/00000000000000000000.json",
    "../../../governance.db",
    "..%2F..%2F..%2Fgovernance.db",
    "%2e%2e/%2e%2e/%2e%2e/governance.db",
    "%252e%252e%252f%252e%252e%252fgovernance.db",
    "biz_date=2026-11-28/../../../../../../etc/passwd",
    "_delta_log/00000000000000000000.json",
    "/etc/passwd",
    "stray.parquet",
    "biz_date=2026-11-28/%00.parquet",
]


@pytest.mark.parametrize("rel", TRAVERSALS)
def test_path_traversal_in_file_urls_is_refused_even_when_signed(env, rel):
    table_dir = Path(env["settings"].table_uri("share", "provincial_supervision__overload_alerts"))
    (table_dir / "stray.parquet").write_bytes(b"PAR1 not in the log")
    # The attacker cannot sign, but even a correctly signed traversal must not escape.
    from urllib.parse import unquote

    status, body = _raw_get(env, _signed_target(rel))
    assert 400 <= status < 500, (rel, status)
    assert b"PAR1" not in body and b"root:" not in body and b"SQLite" not in body
    # Signed over the path as the server decodes it, so the containment check is what refuses.
    status, body = _raw_get(env, _signed_target(rel, signed=unquote(rel)))
    assert status == 403, (rel, status)
    assert json.loads(body)["message"] in {
        "the path is outside the share table",
        "the file is not a data file of the share table",
        "the path is not a file",
    }
    assert b"PAR1" not in body and b"root:" not in body and b"SQLite" not in body


@pytest.mark.parametrize(
    "path",
    [
        "/shares/..%2Fcity_police/all-tables",
        "/shares/%2e%2e/schemas",
        "/shares/provincial_supervision/schemas/..%2F..%2F/tables",
        "/shares/provincial_supervision/schemas/default/tables/..%2Fcity_police__overload_alerts/metadata",
        "/shares/provincial_supervision/schemas/default/tables/%252e%252e%252fgold/metadata",
        "/shares/provincial_supervision/schemas/default/tables/overload_alerts%2F..%2F..%2Fgold/version",
    ],
)
def test_path_traversal_in_api_path_parameters_is_4xx(env, path):
    token = _token(env, "provincial_supervision")
    port = env["settings"].sharing_port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/delta-sharing" + path, headers={"Authorization": f"Bearer {token}"})
    r = conn.getresponse()
    body = json.loads(r.read())
    conn.close()
    assert 400 <= r.status < 500
    assert set(body) == {"errorCode", "message"}


def test_every_denial_is_in_the_audit(env):
    rows = audit_rows(env["settings"])
    statuses = {r["status"] for r in rows}
    assert {200, 401, 403, 404}.issubset(statuses)
    assert not any(r["status"] >= 500 for r in rows)
    file_denials = [r for r in rows if r["endpoint"] == "file" and r["status"] == 403]
    assert len(file_denials) >= len(TRAVERSALS)
    assert all(r["error_code"] for r in rows if r["status"] >= 400)


# -- quotas ----------------------------------------------------------------------------------------


def test_requests_per_minute_quota_is_429_with_retry_after(env):
    base = "/shares/quota_probe/schemas/default/tables/overload_alerts"
    r = _post(env, base + "/query", {"predicateHints": [f"biz_date = '{D2}'"]}, iid="quota_probe")
    assert r.status_code == 200  # 2 rows of a 3-row daily allowance
    r = _post(env, base + "/query", {"predicateHints": [f"biz_date = '{D1}'"]}, iid="quota_probe")
    assert r.status_code == 429 and "rows per day" in r.json()["message"]
    assert int(r.headers["Retry-After"]) > 0
    statuses = [_get(env, "/shares", iid="quota_probe").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]  # 4 per minute: two queries and two lists were counted
    r = _get(env, "/shares", iid="quota_probe")
    assert r.status_code == 429 and r.json()["errorCode"] == "RESOURCE_EXHAUSTED"
    assert 0 < int(r.headers["Retry-After"]) <= 60
    rows = [x for x in audit_rows(env["settings"]) if x["interface_id"] == "quota_probe"]
    assert [x["status"] for x in rows] == [200, 429, 200, 200, 429, 429]


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ("{not json", 400, "not valid JSON"),
        ("[1, 2]", 400, "JSON object"),
        ({"limitHint": -1}, 400, "limitHint must be >= 0"),
        ({"limitHint": "10"}, 400, "limitHint must be an integer"),
        ({"limitHint": True}, 400, "limitHint must be an integer"),
        ({"predicateHints": "biz_date = '2026-11-28'"}, 400, "list of strings"),
        ({"jsonPredicateHints": "{oops"}, 400, "not valid JSON"),
        ({"jsonPredicateHints": {"op": "and"}}, 400, "must be a string"),
        ({"jsonPredicateHints": "[1]"}, 400, "JSON object with an 'op'"),
        ({"version": 99}, 404, "version 99 does not exist"),
        ({"version": 0, "timestamp": "2026-01-01T00:00:00Z"}, 400, "not both"),
        ({"timestamp": "yesterday"}, 400, "ISO 8601"),
        ({"timestamp": "2000-01-01T00:00:00Z"}, 400, "no version"),
    ],
)
def test_bad_query_bodies_are_4xx_with_a_message(env, body, status, needle):
    r = _post(env, TABLE + "/query", body)
    assert r.status_code == status, r.text
    assert r.json()["errorCode"] and needle in r.json()["message"]


@pytest.mark.parametrize(
    ("path", "status", "needle"),
    [
        (TABLE + "/changes", 400, "startingVersion or startingTimestamp is required"),
        (TABLE + "/changes?startingVersion=abc", 400, "must be an integer"),
        (TABLE + "/changes?startingVersion=-1", 400, "must be >= 0"),
        (TABLE + "/changes?startingVersion=5", 400, "after the latest version 1"),
        (TABLE + "/changes?startingVersion=1&endingVersion=0", 400, "after endingVersion"),
        (TABLE + "/changes?startingVersion=0&endingVersion=7", 400, "after the latest"),
        (TABLE + "/version?startingTimestamp=nope", 400, "ISO 8601"),
        ("/shares/nobody", 404, "does not exist"),
        ("/shares/provincial_supervision/schemas/nope/tables", 404, "schema 'nope'"),
        (TABLE.replace("overload_alerts", "gold_stuff") + "/metadata", 404, "table 'gold_stuff'"),
        ("/shares?maxResults=0", 400, "maxResults must be >= 1"),
        ("/shares?pageToken=zzz", 400, "pageToken"),
        ("/no/such/endpoint", 404, "no such endpoint"),
    ],
)
def test_bad_requests_are_4xx_with_a_message(env, path, status, needle):
    r = _get(env, path)
    assert r.status_code == status, r.text
    assert needle in r.json()["message"]


def test_changes_by_timestamp(env):
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = _get(env, TABLE + f"/changes?startingTimestamp=2000-01-01T00:00:00Z&endingTimestamp={now}")
    assert r.status_code == 200
    versions = {next(iter(x.values()))["version"] for x in _lines(r)[2:]}
    assert versions == {0, 1}


def test_health_and_openapi(env):
    r = requests.get(env["base"].removesuffix("/delta-sharing") + "/healthz", timeout=10)
    assert r.json() == {"status": "ok"}
    r = requests.get(env["base"].removesuffix("/delta-sharing") + "/openapi.json", timeout=10)
    assert (
        "/delta-sharing/shares/{share}/schemas/{schema}/tables/{table}/query" in r.json()["paths"]
    )


def test_service_starts_on_an_empty_credential_store(tmp_path):
    """``make serve`` before any token is issued: the service starts, creates its empty store
    and refuses every partner (401) until a token is issued."""
    env = sharing_env(tmp_path, free_port())
    with eb_serve(env, EB_SHARING_WORKERS="1", EB_STANDARDS_DIR="") as (port, _):
        r = requests.get(f"http://127.0.0.1:{port}/delta-sharing/shares", timeout=10)
        assert r.status_code == 401 and r.json()["errorCode"] == "UNAUTHENTICATED"
        r = requests.get(
            f"http://127.0.0.1:{port}/delta-sharing/shares",
            headers={"Authorization": "Bearer ebs_guess"},
            timeout=10,
        )
        assert (r.status_code, r.json()["message"]) == (401, "unknown bearer token")
    assert (tmp_path / "var" / "governance.db").is_file()


def _eb_serve(env, **extra: str):
    """``eb serve`` on this module's lake (:func:`sharing_support.eb_serve`)."""
    return eb_serve(env["environ"], **extra)


def test_eb_serve_starts_and_answers(env):
    """``eb serve`` (what ``make serve`` runs) as an operator starts it, JSON-line logs included."""
    with _eb_serve(env) as (port, err):
        r = requests.get(
            f"http://127.0.0.1:{port}/delta-sharing/shares",
            headers={"Authorization": f"Bearer {_token(env, 'provincial_supervision')}"},
            timeout=10,
        )
        assert r.json()["items"] == [
            {"name": "provincial_supervision", "id": "provincial_supervision"}
        ]
    logs = [json.loads(line) for line in err if line.startswith("{")]
    served = [x for x in logs if x.get("event") == "request" and x.get("endpoint") == "list_shares"]
    assert served and served[0]["status"] == 200
    assert served[0]["interface"] == "provincial_supervision"


def test_workers_share_one_signing_key(env):
    """Two workers and no EB_SHARING_SECRET: a URL signed by one is honoured by the other.

    Every request goes on a new connection, so the two workers take turns as the kernel
    hands out connections; with a key per worker about half the file fetches would be refused.
    """
    with _eb_serve(env, EB_SHARING_WORKERS="2", EB_SHARING_SECRET="") as (port, err):
        base = f"http://127.0.0.1:{port}/delta-sharing"
        headers = {"Authorization": f"Bearer {_token(env, 'provincial_supervision')}"}
        statuses = []
        for _ in range(16):
            r = requests.post(base + TABLE + "/query", headers=headers, json={}, timeout=10)
            assert r.status_code == 200, r.text
            urls = [json.loads(x)["file"]["url"] for x in r.text.splitlines() if '"file"' in x]
            assert urls
            statuses += [requests.get(u, timeout=10).status_code for u in urls]
    assert statuses == [200] * len(statuses)
    assert sum("Started server process" in x for x in err) == 2


def test_files_of_a_table_not_partitioned_are_pruned_by_their_day_ranges():
    """Share tables are not partitioned (fewer files per query): min/max statistics prune."""
    from enforcement_brain.sharing.delta_log import FileEntry
    from enforcement_brain.sharing.pruning import prune

    d1, d2 = str(D1), str(D2)
    files = [
        FileEntry("one_day.parquet", {}, 10, 3, ranges={"biz_date": (d1, d1)}),
        FileEntry("next_day.parquet", {}, 10, 3, ranges={"biz_date": (d2, d2)}),
        FileEntry("both_days.parquet", {}, 10, 3, ranges={"biz_date": (d1, d2)}),
        FileEntry("no_stats.parquet", {}, 10, None),
    ]

    def kept(hints=None, pred=None) -> list[str]:
        body = json.dumps(pred) if pred else None
        return [
            f.rel_path.split(".")[0] for f in prune(files, hints, body and json.loads(body), None)
        ]

    def cmp(op: str, day: str, negate: bool = False) -> dict:
        node = {
            "op": op,
            "children": [{"op": "column", "name": "biz_date"}, {"op": "literal", "value": day}],
        }
        return {"op": "not", "children": [node]} if negate else node

    assert kept([f"biz_date = '{d1}'"]) == ["one_day", "both_days", "no_stats"]
    assert kept([f"biz_date > '{d1}'"]) == ["next_day", "both_days", "no_stats"]
    assert kept([f"biz_date <> '{d1}'"]) == ["next_day", "both_days", "no_stats"]
    assert kept([f"biz_date >= '{d2}'", "plate_no = 'x'"]) == ["next_day", "both_days", "no_stats"]
    assert kept(["biz_date IS NULL"]) == [f.rel_path.split(".")[0] for f in files]
    assert kept(pred=cmp("lessThan", d2)) == ["one_day", "both_days", "no_stats"]
    assert kept(pred=cmp("equal", d2)) == ["next_day", "both_days", "no_stats"]
    # a range proves only that no row matches: "not" over it can prune nothing
    assert kept(pred=cmp("equal", d1, negate=True)) == [f.rel_path.split(".")[0] for f in files]
    # a partition value is exact: "not" over it prunes
    exact = [
        FileEntry("p1.parquet", {"biz_date": d1}, 10, 3),
        FileEntry("p2.parquet", {"biz_date": d2}, 10, 3),
    ]
    assert [f.rel_path for f in prune(exact, None, cmp("equal", d1, negate=True), None)] == [
        "p2.parquet"
    ]


def test_snapshot_and_log_statistics_give_the_same_ranges():
    """The snapshot (delta-rs values) and the change feed (the log's JSON) must bound the same
    columns the same way, or a file would be pruned from one answer and kept in the other.
    Only days and integers bound a range: truncated strings, timestamps and booleans do not."""
    from enforcement_brain.sharing.delta_log import _log_stats, _stat_ranges

    expected = {"biz_date": ("2026-11-28", "2026-11-29"), "axles": ("2", "6")}
    snapshot = {
        "min.biz_date": dt.date(2026, 11, 28),
        "max.biz_date": dt.date(2026, 11, 29),
        "min.axles": 2,
        "max.axles": 6,
        "min.plate_no": "苏C12345",
        "max.plate_no": "苏C99999",
        "min.event_ts": dt.datetime(2026, 11, 28, 1),
        "max.event_ts": dt.datetime(2026, 11, 29, 23),
        "min.checked": False,
        "max.checked": True,
        "min.half": 2,  # no max: no range
    }
    log = {
        "stats": json.dumps(
            {
                "numRecords": 7,
                "minValues": {
                    "biz_date": "2026-11-28",
                    "axles": 2,
                    "plate_no": "苏C12345",
                    "event_ts": "2026-11-28T01:00:00.000+08:00",
                    "checked": False,
                    "half": 2,
                },
                "maxValues": {
                    "biz_date": "2026-11-29",
                    "axles": 6,
                    "plate_no": "苏C99999",
                    "event_ts": "2026-11-29T23:00:00.000+08:00",
                    "checked": True,
                },
            }
        )
    }
    assert _stat_ranges(snapshot) == expected
    assert _log_stats(log) == (7, expected)
    assert _log_stats({"stats": '{"numRecords": 1, "minValues": [1]}'}) == (None, {})
    assert _log_stats({"stats": '{"numRecords": "many"}'}) == (None, {})
    assert _log_stats({"stats": '{"numRecords": [1]}'}) == (None, {})
