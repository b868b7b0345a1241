"""API fuzz of the sharing service (a fast sample; ``benchmarks/fuzz_sharing.py`` is the long
run): its OpenAPI document describes every endpoint a partner calls, and no generated request,
with or without a valid token, gets a 5xx or a 4xx that is not the protocol's JSON error."""

from __future__ import annotations

import pytest
import requests
from sharing_fuzz import fuzz, problem
from sharing_lake import issue_tokens, standards_without_quotas, write_share_tables
from sharing_support import ServiceThread, audit_rows, free_port, settings_for

from enforcement_brain.declarations import load_catalog

TARGETS = ("provincial_supervision", "transfer_recipients_linyi", "emergency_management")
SAMPLE = 300


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from enforcement_brain.sharing.db import connect

    tmp = tmp_path_factory.mktemp("sharing-fuzz")
    standards_without_quotas(tmp)
    settings = settings_for(tmp, free_port())
    catalog = load_catalog(settings.standards_dir)
    write_share_tables(settings, catalog, list(TARGETS))
    engine = connect(settings.governance_db_url, create=True)
    tokens = {
        iid: issue_tokens(engine, iid, catalog.interfaces[iid].token_lifetime_days)
        for iid in TARGETS
    }
    with ServiceThread(settings) as service:
        yield {
            "settings": settings,
            "origin": service.base.removesuffix("/delta-sharing"),
            "tokens": tokens,
            "targets": {i: catalog.interfaces[i].datasets[0].dataset for i in TARGETS},
        }
    engine.dispose()


def _operation(doc: dict, path: str, method: str = "get") -> dict:
    return doc["paths"][path][method]


def test_openapi_declares_the_query_body_the_bearer_token_and_the_error_body(env):
    doc = requests.get(env["origin"] + "/openapi.json", timeout=30).json()
    table = "/delta-sharing/shares/{share}/schemas/{schema}/tables/{table}"
    query = _operation(doc, table + "/query", "post")
    body = query["requestBody"]["content"]["application/json"]["schema"]
    body = doc["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]] if "$ref" in body else body
    assert {"predicateHints", "jsonPredicateHints", "limitHint", "version", "timestamp"} <= set(
        body["properties"]
    )
    schemes = doc["components"]["securitySchemes"]
    assert [s["scheme"] for s in schemes.values()] == ["bearer"]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if path == "/healthz" or path.startswith("/delta-sharing/files/"):
                assert "security" not in op, (method, path)  # no token: a health probe, a URL
                continue
            assert op["security"] == [{name: []} for name in schemes], (method, path)
            assert "422" not in op["responses"], (method, path)  # refusals are 400, not 422
            error = op["responses"]["4XX"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorBody"}, (method, path)
    assert set(doc["components"]["schemas"]["ErrorBody"]["required"]) == {"errorCode", "message"}
    extract = _operation(doc, "/extract/v1/{share}/{table}")
    params = {p["name"]: p for p in extract["parameters"]}
    assert params["format"]["schema"]["enum"] == ["json", "csv", "parquet"]


def test_problem_names_what_breaks_the_contract():
    assert problem(200, b"PAR1") is None
    assert problem(404, b'{"errorCode": "RESOURCE_DOES_NOT_EXIST", "message": "no"}') is None
    assert problem(500, b"{}") == "500: server error"
    assert problem(400, b"Bad Request") == "400: body is not JSON"
    assert problem(400, b'{"detail": "x"}') == "400: body is not the protocol's error shape"
    assert problem(403, b'{"errorCode": "X", "message": " "}') == "403: empty message"


def test_a_sample_of_generated_requests_gets_no_5xx_and_explains_every_4xx(env):
    before = len(audit_rows(env["settings"]))
    report = fuzz(env["origin"], env["tokens"], env["targets"], SAMPLE, seed=20261205)
    assert report.failures == []
    assert report.requests == SAMPLE
    assert "5xx" not in report.by_class
    assert report.by_class["2xx"] > 0 and report.by_class["4xx"] > 0
    assert len(report.by_operation) >= 10  # every operation of the document, nearly
    audited = [r for r in audit_rows(env["settings"])[before:] if r["endpoint"] != "unknown"]
    assert len(audit_rows(env["settings"])) - before <= report.requests
    assert all(r["status"] < 500 for r in audited)


@pytest.mark.parametrize("depth", [10, 400, 800, 990, 5000, 100000])
def test_a_deeply_nested_query_body_is_answered_and_audited(env, depth):
    iid = "provincial_supervision"
    table = env["targets"][iid]
    url = f"{env['origin']}/delta-sharing/shares/{iid}/schemas/default/tables/{table}/query"
    tokens = env["tokens"][iid]
    body = '{"limitHint": 1, "x": ' + "[" * depth + "]" * depth + "}"
    before = len(audit_rows(env["settings"]))
    r = requests.post(url, data=body, headers=tokens.header("valid", tokens), timeout=60)
    assert r.status_code in (200, 400), r.text[:300]
    assert problem(r.status_code, r.content) is None
    rows = audit_rows(env["settings"])[before:]
    assert [x["status"] for x in rows] == [r.status_code]


RAW = [
    ("GET", "/delta-sharing/shares?maxResults=%FF%FE"),
    ("GET", "/delta-sharing/shares/%FF/schemas"),
    ("GET", "/delta-sharing/shares/provincial_supervision/schemas/default/tables/%00/metadata"),
    ("GET", "/extract/v1/provincial_supervision/overload_alerts?filter=%00&filter=%FF:eq:1"),
    ("GET", "/extract/v1/provincial_supervision/overload_alerts?page_size=99999999999999999999"),
    ("GET", "/extract/v1/provincial_supervision/overload_alerts?since_version=-1"),
    ("GET", "/extract/v1/provincial_supervision/overload_alerts?cursor=%FF%FF"),
    (
        "GET",
        "/delta-sharing/shares/provincial_supervision/schemas/default/tables/overload_alerts/"
        "changes?startingVersion=99999999999999999999999",
    ),
    (
        "GET",
        "/delta-sharing/shares/provincial_supervision/schemas/default/tables/overload_alerts/"
        "version?startingTimestamp=9999-99-99",
    ),
    ("DELETE", "/delta-sharing/shares"),
    ("PUT", "/delta-sharing/shares/provincial_supervision/schemas/default/tables/x/query"),
    ("GET", "/delta-sharing/files/provincial_supervision/overload_alerts/x?expires=%FF"),
    ("GET", "/nothing/here"),
]


@pytest.mark.parametrize(("method", "target"), RAW)
@pytest.mark.parametrize("auth", ["Bearer \u00e9\u00ff", "Bearer x y", "valid"])
def test_hand_picked_odd_requests_are_explained_4xx_and_audited(env, method, target, auth):
    import http.client
    from urllib.parse import urlsplit

    iid = "provincial_supervision"
    tokens = env["tokens"][iid]
    value = tokens.header("valid", tokens)["Authorization"] if auth == "valid" else auth
    target = target.replace("overload_alerts", env["targets"][iid])
    before = len(audit_rows(env["settings"]))
    conn = http.client.HTTPConnection(urlsplit(env["origin"]).netloc, timeout=30)
    conn.putrequest(method, target, skip_accept_encoding=True)
    conn.putheader("Authorization", value.encode("latin-1"))
    conn.endheaders()
    r = conn.getresponse()
    body = r.read()
    conn.close()
    assert 400 <= r.status < 500, (r.status, body[:300])
    assert problem(r.status, body) is None, body[:300]
    rows = audit_rows(env["settings"])[before:]
    assert [x["status"] for x in rows] == [r.status]
