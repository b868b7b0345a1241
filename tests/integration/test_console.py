"""The operators' console on a small real lake (``console_support``): a WIM day loaded by the
real pipeline, a dataset published and projected, another refused by its gate, a partner's
requests audited by the real sharing service. Each page's figures are checked against the
tables as Spark (or the audit database) reads them; an empty lake and unknown days or sources
are checked too."""

from __future__ import annotations

import hashlib
import time

import pytest
from conftest import make_settings
from console_support import PAGES, delta, shared_lake
from sharing_support import audit_rows
from wim_support import DAY

from enforcement_brain.declarations import load_catalog


@pytest.fixture(scope="module")
def lake(request, spark, tmp_path_factory):
    """The lake, its catalog, the partner's token, and the console's test client."""
    return shared_lake(request, spark, tmp_path_factory)


def test_today_shows_each_source_from_the_batch_log(lake, spark):
    settings, client = lake["settings"], lake["client"]
    batch = delta(spark, settings, "ops", "batch_log").collect()
    assert len(batch) == 1
    b = batch[0]
    data = client.get("/api/today").json()
    assert data["day"] == DAY.isoformat() and data["days"] == [DAY.isoformat()]
    by_source = {r["source"]: r for r in data["sources"]}
    assert set(by_source) == set(lake["catalog"].sources)
    wim = by_source["wim_weighings"]
    assert {k: wim[k] for k in ("rows_in", "loaded", "duplicates", "quarantined", "warned")} == {
        "rows_in": b["rows_in"],
        "loaded": b["inserted"] + b["updated"] + b["unchanged"],
        "duplicates": b["duplicates_dropped"],
        "quarantined": b["quarantined"],
        "warned": b["warned"],
    }
    assert (wim["rows_in"], wim["loaded"], wim["quarantined"], wim["warned"]) == (10, 5, 4, 1)
    assert wim["reconciles"] is b["reconciles"] is True
    assert wim["loads"] == 1 and wim["freshness_hours"] == 30
    # loaded days after the end of 2026-11-29 (Asia/Shanghai): past the 30 h of Standard 2
    assert wim["status"] == "late" and wim["hours_after_day_end"] > 30
    assert wim["deadline"] == "2026-12-01T06:00:00+08:00"
    anpr = by_source["anpr_passes"]
    assert anpr["status"] == "failed" and "no delivery in landing" in anpr["error"]
    # what needs someone first: the failed source, then the missing ones, then the late one
    statuses = [r["status"] for r in data["sources"]]
    assert statuses == ["failed"] + ["missing"] * (len(statuses) - 2) + ["late"]
    assert data["statuses"] == {"failed": 1, "missing": len(statuses) - 2, "late": 1}
    html = client.get("/today").text
    assert (
        "Today: 2026-11-29" in html
        and "/quarantine?source=wim_weighings&amp;day=2026-11-29" in html
    )


def test_an_unknown_or_malformed_day_is_refused_with_a_message(lake):
    client = lake["client"]
    r = client.get("/api/today?day=2026-01-01")
    assert r.status_code == 404
    assert r.json()["message"] == (
        "no load recorded for 2026-01-01: loads exist from 2026-11-29 to 2026-11-29"
    )
    r = client.get("/today?day=2026-01-01")
    assert r.status_code == 404 and "no load recorded for 2026-01-01" in r.text
    r = client.get("/api/today?day=yesterday")
    assert r.status_code == 400 and "is not a date" in r.json()["message"]
    for path in ("/api/quality?source=nope", "/api/quarantine?source=nope&day=2026-11-29"):
        r = client.get(path)
        assert r.status_code == 404 and r.json()["message"].startswith("unknown source 'nope'")


def test_quality_trends_are_the_ledger_and_the_batch_log(lake, spark):
    settings, client, catalog = lake["settings"], lake["client"], lake["catalog"]
    ledger = {r["rule_id"]: r for r in delta(spark, settings, "ops", "dq_ledger").collect()}
    data = client.get("/api/quality?source=wim_weighings").json()
    assert (data["start"], data["end"]) == ("2026-10-31", "2026-11-29")
    assert len(data["days"]) == 30
    (wim,) = data["sources"]
    assert {r["rule"]: r["failed"] for r in wim["rules"]} == {
        rule: {DAY.isoformat(): row["failed"]} for rule, row in ledger.items()
    }
    assert {r["rule"]: r["failed"][DAY.isoformat()] for r in wim["rules"]}["R_PLATE_FORMAT"] == 1
    source = catalog.sources["wim_weighings"]
    assert wim["thresholds"] == {
        k: source.quality[k] for k in ("completeness", "validity", "uniqueness", "freshness_hours")
    }
    day = {
        name: dict(map(tuple, points))[DAY.isoformat()]
        for name, points in wim["dimensions"].items()
    }
    missing = sum(ledger[r]["failed"] for r in ("R_KEY_PRESENT", "R_REQUIRED_PRESENT"))
    assert day["completeness"] == round(1 - missing / 10, 4)
    assert day["validity"] == 0.6  # 6 of 10 rows reached silver's checks
    assert day["uniqueness"] == round(5 / 6, 4)  # one of them a duplicate
    assert day["freshness_hours"] > 30
    html = client.get("/quality?source=wim_weighings").text
    assert html.count("<svg") == 4 + len(ledger)


def test_quarantine_pages_through_the_days_rows_in_file_order(lake, spark):
    settings, client = lake["settings"], lake["client"]
    q = delta(spark, settings, "quarantine", "wim_weighings").orderBy("_source_line").collect()
    expected = [(r["_source_line"], list(r["_violations"])) for r in q]
    assert [line for line, _ in expected] == [5, 6, 7, 8]
    first = client.get(f"/api/quarantine?source=wim_weighings&day={DAY}&per_page=3").json()
    second = client.get(f"/api/quarantine?source=wim_weighings&day={DAY}&per_page=3&page=2").json()
    assert (first["total"], first["pages"], second["page"]) == (4, 2, 2)
    got = [(r["line"], [x["rule"] for x in r["reasons"]]) for r in first["rows"] + second["rows"]]
    assert got == expected
    w4 = first["rows"][0]
    assert w4["file"] == q[0]["_source_file"]
    assert w4["delivered"]["record_id"] == "W4" and w4["delivered"]["plate_no"] == "苏CO1234"
    assert w4["reasons"][0]["title"] == lake["catalog"].rules["R_PLATE_FORMAT"].title
    assert first["replay"] == ".venv/bin/eb replay --source wim_weighings --date 2026-11-29"
    only = client.get(f"/api/quarantine?source=wim_weighings&day={DAY}&rule=R_SITE_KNOWN").json()
    assert [r["line"] for r in only["rows"]] == [7] and only["total"] == 1
    r = client.get(f"/api/quarantine?source=wim_weighings&day={DAY}&per_page=3&page=3")
    assert r.status_code == 404 and r.json()["message"].endswith("there are 2 page(s)")
    latest = client.get("/api/quarantine?source=wim_weighings&per_page=3").json()
    assert (latest["day"], latest["total"]) == (DAY.isoformat(), 4)  # the latest day loaded
    r = client.get("/api/quarantine?source=anpr_passes")
    assert (r.status_code, r.json()["message"]) == (404, "no load of anpr_passes recorded yet")
    r = client.get(f"/api/quarantine?day={DAY}")
    assert r.status_code == 400 and r.json()["message"].startswith("give a source")
    r = client.get("/api/quarantine?source=wim_weighings&day=2026-01-01")
    assert r.status_code == 404
    assert r.json()["message"] == "no load of wim_weighings recorded for 2026-01-01"
    html = client.get(f"/quarantine?source=wim_weighings&day={DAY}").text
    assert "eb replay --source wim_weighings --date 2026-11-29" in html and "苏CO1234" in html
    ledger = delta(spark, settings, "ops", "dq_ledger").where("severity = 'quarantine'")
    failing = {(r["rule_id"], r["failed"]) for r in ledger.collect() if r["failed"]}
    summary = client.get("/api/quarantine").json()["summary"]["rows"]
    assert {(r["rule"], r["failed"]) for r in summary} == failing
    assert {r["source"] for r in summary} == {"wim_weighings"}


def test_publishing_shows_the_last_good_version_and_the_refused_days(lake, spark):
    settings, client = lake["settings"], lake["client"]
    log = delta(spark, settings, "ops", "publish_log").collect()
    published = {r["dataset"]: r for r in log if r["status"] == "published"}
    (refused,) = [r for r in log if r["status"] == "refused"]
    data = client.get("/api/publishing").json()
    by_id = {d["dataset"]: d for d in data["datasets"]}
    assert set(by_id) == set(lake["catalog"].datasets)
    assert data["datasets"][0]["dataset"] == "violation_transfers_by_destination"  # refused first
    for did in ("overload_alerts", "violation_transfers_by_destination"):
        good = by_id[did]["last_good"]
        assert (good["version"], good["rows"], good["day"]) == (
            published[did]["gold_version"],
            published[did]["rows"],
            DAY.isoformat(),
        )
    transfers = by_id["violation_transfers_by_destination"]
    assert transfers["refused"] == [
        {
            "day": DAY.isoformat(),
            "at": transfers["refused"][0]["at"],
            "failed": {"G_DIRECTION": 1},
            "kept_version": refused["gold_version"],
            "run_id": "refused-run",
        }
    ]
    assert transfers["latest_gate"]["G_DIRECTION"] == 1
    assert by_id["kpi_monthly"]["last_good"] is None and by_id["kpi_monthly"]["refused"] == []
    assert "G_DIRECTION (1 rows)" in client.get("/publishing").text


def test_interfaces_count_the_audit_and_never_show_a_token(lake):
    settings, client = lake["settings"], lake["client"]
    audit = audit_rows(settings)
    data = client.get("/api/interfaces").json()
    by_id = {i["interface"]: i for i in data["interfaces"]}
    assert set(by_id) == set(lake["catalog"].interfaces)

    def counted(rows):
        return {
            "requests": len(rows),
            "rows_served": sum(r["rows_served"] for r in rows if r["status"] < 400),
            "401": sum(r["status"] == 401 for r in rows),
            "403": sum(r["status"] == 403 for r in rows),
            "429": sum(r["status"] == 429 for r in rows),
        }

    mine = [r for r in audit if r["interface_id"] == "provincial_supervision"]
    prov = by_id["provincial_supervision"]
    assert {k: prov[k] for k in ("requests", "rows_served", "401", "403", "429")} == counted(mine)
    assert (prov["requests"], prov["403"]) == (3, 1) and prov["rows_served"] > 0
    last = max(str(r["at"]) for r in mine)  # SQLite's text, "YYYY-MM-DD HH:MM:SS.ffffff"
    assert prov["last_access"][:26] == last[:26].replace(" ", "T")
    nobody = [r for r in audit if r["interface_id"] is None]
    assert {k: data["unattributed"][k] for k in counted(nobody)} == counted(nobody)
    assert data["unattributed"]["401"] == 1
    issued = lake["token"]
    (token,) = prov["tokens"]
    assert token == {
        "token_id": issued.info.token_id,
        "issued_at": issued.info.issued_at.isoformat(),
        "expires_at": issued.info.expires_at.isoformat(),
        "status": "active",
    }
    assert by_id["traffic_police"]["requests"] == 0 and by_id["traffic_police"]["tokens"] == []
    secret, digest = issued.token, hashlib.sha256(issued.token.encode()).hexdigest()
    for path in PAGES:
        for url in (path, "/api" + path if path != "/" else "/api/today"):
            text = client.get(url).text
            assert secret not in text and digest not in text, url


def test_lineage_links_every_declared_node(lake):
    client, catalog = lake["client"], lake["catalog"]
    graph = client.get("/api/lineage").json()
    ids = {n["id"] for c in graph["columns"] for n in c["nodes"]}
    assert {f"source:{s}" for s in catalog.sources} <= ids
    assert {f"interface:{i}" for i in catalog.interfaces} <= ids
    assert all(a in ids and b in ids for a, b in graph["edges"])
    assert "<svg" in client.get("/lineage").text


def test_every_page_answers_well_under_a_second(lake):
    client = lake["client"]
    paths = [*PAGES, "/api/today", "/api/quality", f"/quarantine?source=wim_weighings&day={DAY}"]
    for path in paths:
        assert client.get(path).status_code == 200, path  # warm: imports, first table opens
    for path in paths:
        started = time.perf_counter()
        assert client.get(path).status_code == 200
        assert time.perf_counter() - started < 1.0, path


def test_an_empty_lake_says_so(tmp_path):
    from fastapi.testclient import TestClient

    from enforcement_brain.console.queries import EMPTY_LAKE
    from enforcement_brain.console.routes import create_app

    settings = make_settings(tmp_path / "var")
    client = TestClient(create_app(settings, load_catalog(settings.standards_dir)))
    for path in PAGES:
        r = client.get(path)
        assert r.status_code == 200, path
    assert client.get("/api/today").json() == {
        "day": None,
        "days": [],
        "sources": [],
        "message": EMPTY_LAKE,
    }
    assert EMPTY_LAKE in client.get("/today").text
    assert EMPTY_LAKE in client.get("/quality").text
    assert "no sharing audit yet" in client.get("/interfaces").text
    assert "nothing published yet" in client.get("/publishing").text
    r = client.get("/api/quarantine?source=wim_weighings&day=2026-11-29")
    assert r.status_code == 404
    assert not (tmp_path / "var" / "governance.db").exists()  # the console created nothing
    assert not (tmp_path / "var" / "lake").exists()
