"""Who may call what: every declared interface × every endpoint × every kind of credential,
with the exact status the protocol gives and one audit row per request, denials included.

The lake is one small share table per interface (``sharing_lake.py``); the service runs once
in a thread for the module. Quotas are lifted for the sweep and checked on their own (parallel
requests, many tokens of one interface); so are signed-URL tampering, revocation across two
worker processes, and requests for tables, columns and rows an interface is not granted,
including through predicate hints and the change feed.
"""

from __future__ import annotations

import json
import threading
from urllib.parse import urlsplit

import pytest
import requests
from sharing_lake import TOKEN_KINDS, issue_tokens, standards_without_quotas, write_share_tables
from sharing_support import (
    SECRET,
    ServiceThread,
    audit_rows,
    eb_serve,
    free_port,
    probe_interface,
    settings_for,
    sharing_env,
)

from enforcement_brain.declarations import load_catalog
from enforcement_brain.settings import REPO_ROOT

#: The interfaces the standards declare (24: the recipients' file declares one per recipient).
INTERFACES = sorted(load_catalog(REPO_ROOT / "data_standards").interfaces)
ENDPOINTS = (
    "shares", "share", "schemas", "tables", "all_tables", "version", "metadata", "query",
    "changes", "extract", "file",
)  # fmt: skip
#: Test-only interfaces with small quotas: (requests per minute, rows per day).
PROBES = {"burst_probe": (5, 1000), "tokens_probe": (5, 1000), "rows_probe": (1000, 3)}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from enforcement_brain.sharing.db import connect

    tmp = tmp_path_factory.mktemp("sharing-matrix")
    root = standards_without_quotas(tmp)
    for iid, (per_minute, per_day) in PROBES.items():
        text = probe_interface(iid, requests_per_minute=per_minute, rows_per_day=per_day)
        (root / "interfaces" / f"{iid}.yaml").write_text(text, encoding="utf-8")
    port = free_port()
    settings = settings_for(tmp, port)
    catalog = load_catalog(settings.standards_dir)
    write_share_tables(settings, catalog, [*INTERFACES, *PROBES])
    engine = connect(settings.governance_db_url, create=True)
    tokens = {
        iid: issue_tokens(engine, iid, catalog.interfaces[iid].token_lifetime_days)
        for iid in [*INTERFACES, *PROBES]
    }
    with ServiceThread(settings) as service:
        yield {
            "tmp": tmp,
            "settings": settings,
            "catalog": catalog,
            "engine": engine,
            "tokens": tokens,
            "base": service.base,
            "urls": {},
        }
    engine.dispose()


def _dataset(env, iid: str) -> str:
    return env["catalog"].interfaces[iid].datasets[0].dataset


def _other(iid: str) -> str:
    """Another declared interface, whose valid token is presented for ``iid``'s share."""
    return INTERFACES[(INTERFACES.index(iid) + 1) % len(INTERFACES)]


def _file_url(env, iid: str) -> str:
    """A signed URL of one file of ``iid``'s table, from a query with its valid token."""
    if iid not in env["urls"]:
        r = _call(env, iid, "query", env["tokens"][iid].header("valid", env["tokens"][iid]))
        assert r.status_code == 200, r.text
        lines = [json.loads(x) for x in r.text.splitlines()]
        env["urls"][iid] = lines[2]["file"]["url"]
    return env["urls"][iid]


def _call(env, iid: str, endpoint: str, headers: dict[str, str]) -> requests.Response:
    base, table = env["base"], f"{env['base']}/shares/{iid}/schemas/default/tables/"
    table += _dataset(env, iid)
    get = {
        "shares": f"{base}/shares",
        "share": f"{base}/shares/{iid}",
        "schemas": f"{base}/shares/{iid}/schemas",
        "tables": f"{base}/shares/{iid}/schemas/default/tables",
        "all_tables": f"{base}/shares/{iid}/all-tables",
        "version": f"{table}/version",
        "metadata": f"{table}/metadata",
        "changes": f"{table}/changes?startingVersion=0",
        "extract": f"{base.removesuffix('/delta-sharing')}/extract/v1/{iid}/{_dataset(env, iid)}",
    }
    if endpoint == "query":
        return requests.post(f"{table}/query", json={}, headers=headers, timeout=30)
    if endpoint == "file":
        return requests.get(_file_url(env, iid), headers=headers, timeout=30)
    return requests.get(get[endpoint], headers=headers, timeout=30)


def expected(endpoint: str, kind: str) -> int:
    """The status the protocol gives one cell.

    A credential that is missing, malformed, expired, revoked or rotated out is not recognised
    (401, before anything about shares is said); another interface's valid token is recognised
    but not granted this share (403), and lists only its own shares (200). A signed file URL is
    a bearer URL, like an S3 presigned URL: its signature is the credential, and the header is
    not read (tampered, expired or reused URLs are the 403s of ``test_signed_url_*``).
    """
    if endpoint == "file" or kind == "valid":
        return 200
    if kind == "other":
        return 200 if endpoint == "shares" else 403
    return 401


def _last_audit_id(env) -> int:
    from sqlalchemy import text

    with env["engine"].connect() as conn:
        return int(conn.execute(text("select coalesce(max(id), 0) from sharing_audit")).scalar())


def _audit_since(env, after: int) -> list[dict]:
    from sqlalchemy import text

    with env["engine"].connect() as conn:
        rows = conn.execute(
            text("select * from sharing_audit where id > :i order by id"), {"i": after}
        )
        return [dict(r) for r in rows.mappings()]


CELLS = [(i, e, k) for i in INTERFACES for e in ENDPOINTS for k in TOKEN_KINDS]


@pytest.mark.parametrize(("iid", "endpoint", "kind"), CELLS)
def test_cell(env, iid, endpoint, kind):
    tokens = env["tokens"]
    headers = tokens[iid].header(kind, tokens[_other(iid)])
    if endpoint == "file":
        _file_url(env, iid)  # the query that hands out the URL is not this cell's request
    before = _last_audit_id(env)
    r = _call(env, iid, endpoint, headers)
    rows = _audit_since(env, before)
    assert r.status_code == expected(endpoint, kind), r.text[:300]
    assert [x["status"] for x in rows] == [r.status_code]  # this request, audited once
    if r.status_code >= 400:
        body = r.json()
        assert set(body) == {"errorCode", "message"} and body["message"]
        assert (rows[0]["error_code"], rows[0]["message"]) == (body["errorCode"], body["message"])
        who = None if r.status_code == 401 else _other(iid)
        assert rows[0]["interface_id"] == who
    elif endpoint == "shares":
        owner = iid if kind == "valid" else _other(iid)
        assert [x["name"] for x in r.json()["items"]] == [owner]
    if r.status_code == 200 and endpoint != "file":
        assert rows[0]["interface_id"] == (iid if kind == "valid" else _other(iid))


def test_matrix_covers_every_declared_interface():
    assert len(INTERFACES) == 24
    assert len(CELLS) == 24 * len(ENDPOINTS) * len(TOKEN_KINDS) == 1848


# -- signed file URLs ------------------------------------------------------------------------


def _tampered(env, iid: str) -> dict[str, str]:
    """The URL of one of ``iid``'s files, altered in each way a holder could try."""
    from enforcement_brain.sharing.signing import Signer

    url = _file_url(env, iid)
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    query = dict(x.split("=", 1) for x in parts.query.split("&"))
    prefix, rel = parts.path.split(f"/{_dataset(env, iid)}/", 1)
    other = _other(iid)
    other_url = urlsplit(_file_url(env, other))
    other_rel = other_url.path.split(f"/{_dataset(env, other)}/", 1)[1]
    expires, sig = Signer(SECRET.encode(), 60).sign(iid, _dataset(env, iid), rel, now=0)
    later = int(query["expires"]) + 3600
    second = next(x for x in _query_files(env, iid) if urlsplit(x).path != parts.path)
    return {
        "path": url.replace(rel, "x" + rel, 1),
        "expiry": url.replace(f"expires={query['expires']}", f"expires={later}"),
        "signature": url.replace(query["signature"], query["signature"][::-1]),
        "no signature": f"{origin}{parts.path}",
        "expired": f"{origin}{parts.path}?expires={expires}&signature={sig}",
        # this URL's signature on another file of the same table, and on another table's file
        "another file": second.split("?")[0] + "?" + parts.query,
        "another table": f"{origin}{other_url.path.rsplit(other_rel, 1)[0]}{rel}?{parts.query}",
        "another share": f"{origin}{prefix.replace(iid, other)}/{_dataset(env, iid)}/{rel}?"
        + parts.query,
        "its own signature elsewhere": f"{origin}{prefix}/{_dataset(env, iid)}/{other_rel}?"
        + other_url.query,
    }


def _query_files(env, iid: str, body: dict | None = None) -> list[str]:
    tokens = env["tokens"]
    r = requests.post(
        f"{env['base']}/shares/{iid}/schemas/default/tables/{_dataset(env, iid)}/query",
        json=body or {},
        headers=tokens[iid].header("valid", tokens[iid]),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return [json.loads(x)["file"]["url"] for x in r.text.splitlines()[2:]]


@pytest.mark.parametrize("iid", ["provincial_supervision", "transfer_recipients_linyi"])
def test_signed_url_tampered_expired_or_reused_is_403_and_audited(env, iid):
    assert requests.get(_file_url(env, iid), timeout=30).status_code == 200
    for how, url in _tampered(env, iid).items():
        before = _last_audit_id(env)
        r = requests.get(url, timeout=30)
        rows = _audit_since(env, before)
        assert r.status_code == 403, (how, r.status_code, r.text[:200])
        assert r.json()["errorCode"] == "PERMISSION_DENIED" and r.json()["message"], how
        assert b"PAR1" not in r.content, how
        assert [(x["status"], x["endpoint"]) for x in rows] == [(403, "file")], how


# -- revocation across worker processes ------------------------------------------------------


def test_revocation_takes_effect_on_the_next_request_in_every_worker(env):
    from enforcement_brain.sharing import credentials

    iid = "culture_tourism"
    issued = credentials.issue(env["engine"], iid, 1, note="two workers")
    auth = {"Authorization": f"Bearer {issued.token}"}
    environ = sharing_env(env["tmp"], env["settings"].sharing_port)
    with eb_serve(environ, EB_SHARING_WORKERS="2") as (port, _):
        url = f"http://127.0.0.1:{port}/delta-sharing/shares/{iid}/all-tables"
        # eight kept-alive connections, which the kernel spreads over the two workers
        sessions = [requests.Session() for _ in range(8)]
        assert [s.get(url, headers=auth).status_code for s in sessions] == [200] * 8
        credentials.revoke(env["engine"], token_id=issued.info.token_id)
        after = [s.get(url, headers=auth) for s in sessions]
        for s in sessions:
            s.close()
    assert [r.status_code for r in after] == [401] * 8
    assert all("revoked" in r.json()["message"] for r in after)
    rows = [r for r in audit_rows(env["settings"]) if r["path"].endswith(f"/{iid}/all-tables")]
    assert [r["status"] for r in rows[-16:]] == [200] * 8 + [401] * 8


# -- quotas: per interface, whatever the token or the concurrency ------------------------------


def _parallel(calls: list) -> list[int]:
    """Run the calls at once (threads released together); their statuses."""
    out: list[int] = [0] * len(calls)
    gate = threading.Barrier(len(calls))

    def run(n: int) -> None:
        gate.wait()
        out[n] = calls[n]().status_code

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_parallel_requests_do_not_pass_the_minute_quota(env):
    tokens, iid = env["tokens"], "burst_probe"
    url = f"{env['base']}/shares/{iid}/all-tables"
    headers = tokens[iid].header("valid", tokens[iid])
    before = _last_audit_id(env)
    statuses = _parallel([lambda: requests.get(url, headers=headers, timeout=30)] * 20)
    assert sorted(statuses) == [200] * 5 + [429] * 15
    assert sorted(r["status"] for r in _audit_since(env, before)) == sorted(statuses)


def test_many_tokens_of_one_interface_share_its_quota(env):
    from enforcement_brain.sharing import credentials

    iid = "tokens_probe"
    more = [credentials.issue(env["engine"], iid, 1).token for _ in range(4)]
    url = f"{env['base']}/shares/{iid}/all-tables"
    calls = [
        (lambda t=t: requests.get(url, headers={"Authorization": f"Bearer {t}"}, timeout=30))
        for t in [*more, env["tokens"][iid].valid] * 3
    ]
    statuses = [c().status_code for c in calls]
    assert statuses == [200] * 5 + [429] * 10


def test_parallel_queries_do_not_pass_the_rows_of_the_day(env):
    tokens, iid = env["tokens"], "rows_probe"
    url = f"{env['base']}/shares/{iid}/schemas/default/tables/overload_alerts/query"
    headers = tokens[iid].header("valid", tokens[iid])
    statuses = _parallel([lambda: requests.post(url, json={}, headers=headers, timeout=30)] * 8)
    assert sorted(statuses) == [200] + [429] * 7  # 2 rows a query, 3 a day
    served = [r for r in audit_rows(env["settings"]) if r["interface_id"] == iid]
    assert sum(r["rows_served"] for r in served if r["status"] == 200) == 2


# -- nothing the interface is not granted ------------------------------------------------------


def _read_files(urls: list[str]):
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [pq.read_table(io.BytesIO(requests.get(u, timeout=30).content)) for u in urls]
    return pa.concat_tables(tables) if tables else None


def test_a_table_not_granted_is_404_and_another_shares_table_403(env):
    tokens, iid = env["tokens"], "culture_tourism"
    headers = tokens[iid].header("valid", tokens[iid])
    base = env["base"]
    not_granted = f"{base}/shares/{iid}/schemas/default/tables/overload_alerts/metadata"
    r = requests.get(not_granted, headers=headers, timeout=30)
    assert r.status_code == 404 and r.json()["errorCode"] == "RESOURCE_DOES_NOT_EXIST"
    foreign = f"{base}/shares/provincial_supervision/schemas/default/tables/overload_alerts/query"
    r = requests.post(foreign, json={}, headers=headers, timeout=30)
    assert r.status_code == 403
    r = requests.get(
        f"{base.removesuffix('/delta-sharing')}/extract/v1/{iid}/overload_alerts",
        headers=headers,
        timeout=30,
    )
    assert r.status_code == 404


OTHER_RECIPIENT = {
    "op": "equal",
    "children": [
        {"op": "column", "name": "recipient", "valueType": "string"},
        {"op": "literal", "value": "suzhou_anhui", "valueType": "string"},
    ],
}
RECIPIENT_HINTS = [
    {"predicateHints": ["recipient = 'suzhou_anhui'"]},
    {"predicateHints": ["recipient <> 'linyi'"]},
    {"jsonPredicateHints": json.dumps(OTHER_RECIPIENT)},
    {"version": 0},
    {"timestamp": "2099-01-01T00:00:00Z"},
]


@pytest.mark.parametrize("body", RECIPIENT_HINTS)
def test_hints_and_versions_never_reach_another_recipients_rows(env, body):
    iid = "transfer_recipients_linyi"
    r = requests.post(
        f"{env['base']}/shares/{iid}/schemas/default/tables/{_dataset(env, iid)}/query",
        json=body,
        headers=env["tokens"][iid].header("valid", env["tokens"][iid]),
        timeout=30,
    )
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        return
    urls = [json.loads(x)["file"]["url"] for x in r.text.splitlines()[2:]]
    assert all(f"/files/{iid}/" in u and "recipient%3Dlinyi/" in u for u in urls)
    _assert_only_linyi(_read_files(urls))


def _assert_only_linyi(rows) -> None:
    """Every text cell of the rows served names the Linyi recipient (``sharing_lake.py``)."""
    if rows is None:
        return
    assert "recipient" not in rows.column_names
    cells = [v for c in rows.column_names for v in rows[c].to_pylist() if isinstance(v, str)]
    assert cells and all(v.endswith("-linyi") for v in cells)


def test_starting_version_and_the_change_feed_hold_only_the_interfaces_rows(env):
    iid = "transfer_recipients_linyi"
    tokens = env["tokens"]
    headers = tokens[iid].header("valid", tokens[iid])
    table = f"{env['base']}/shares/{iid}/schemas/default/tables/{_dataset(env, iid)}"
    r = requests.post(f"{table}/query", json={"startingVersion": 0}, headers=headers, timeout=30)
    assert r.status_code == 400 and "/changes" in r.json()["message"]
    r = requests.get(f"{table}/changes?startingVersion=0", headers=headers, timeout=30)
    assert r.status_code == 200
    lines = [json.loads(x) for x in r.text.splitlines()[2:]]
    urls = [next(iter(x.values()))["url"] for x in lines]
    assert urls and all("recipient%3Dlinyi/" in u for u in urls)
    assert all("recipient" not in next(iter(x.values()))["partitionValues"] for x in lines)
    _assert_only_linyi(_read_files(urls))


@pytest.mark.parametrize(
    "query",
    [
        "columns=recipient",
        "filter=recipient:eq:suzhou_anhui",
        "filter=plate_no:isnull",  # a dataset column this interface does not share
        "columns=biz_date,plate_no&filter=biz_date:ge:2026-11-01",
    ],
)
def test_extract_refuses_a_column_not_granted(env, query):
    iid = "transfer_recipients_linyi"
    tokens = env["tokens"]
    assert "plate_no" not in env["catalog"].interfaces[iid].datasets[0].columns
    r = requests.get(
        f"{env['base'].removesuffix('/delta-sharing')}/extract/v1/{iid}/{_dataset(env, iid)}?"
        + query,
        headers=tokens[iid].header("valid", tokens[iid]),
        timeout=30,
    )
    assert r.status_code == 400, r.text
    assert r.json()["errorCode"] == "INVALID_PARAMETER_VALUE" and r.json()["message"]


def test_extract_of_a_recipient_holds_only_its_partition(env):
    iid = "transfer_recipients_linyi"
    tokens = env["tokens"]
    r = requests.get(
        f"{env['base'].removesuffix('/delta-sharing')}/extract/v1/{iid}/{_dataset(env, iid)}",
        headers=tokens[iid].header("valid", tokens[iid]),
        timeout=30,
    )
    assert r.status_code == 200
    body = r.json()
    assert body["columns"] == list(env["catalog"].interfaces[iid].datasets[0].columns)
    assert len(body["rows"]) == 2 and all("recipient" not in row for row in body["rows"])
    cells = [v for row in body["rows"] for k, v in row.items() if k != "biz_date"]
    assert all(v.endswith("-linyi") for v in cells)
