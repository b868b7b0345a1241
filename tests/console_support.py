"""The small real lake the console's tests read, built once per test run.

A WIM day loaded by the real pipeline, a dataset published and projected, another refused by
its gate, a failed task of another source, a partner's requests audited by the real sharing
service. The console only reads, so the HTML/JSON tests (``test_console.py``) and the browser
tests (``test_console_browser.py``) share one lake (:func:`shared_lake`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from conftest import make_settings
from wim_support import DAY, load_day, rows, wim_site, write_delivery

from enforcement_brain.declarations import load_catalog
from enforcement_brain.gold.publish import GateFailed, publish
from enforcement_brain.lake import tables
from enforcement_brain.ops.schemas import RUN_LOG_SCHEMA
from enforcement_brain.orchestration.runtime import JobContext
from jobs import project_interface, publish_dataset

TRANSFERS = (
    "transfer_id string, direction string, plate_no string, to_area string, "
    "violation_code string, case_closed_at timestamp, transferred_at timestamp, biz_date date, "
    "_delivery_date date"
)
QUERY = "/delta-sharing/shares/provincial_supervision/schemas/default/tables/overload_alerts/query"
#: Every page of the console, as an operator opens it from the navigation bar.
PAGES = ("/", "/today", "/quality", "/quarantine", "/publishing", "/interfaces", "/lineage")

_LAKE = pytest.StashKey[dict[str, Any]]()


def _transfers(spark, settings, direction: str) -> None:
    """silver.violation_transfers holding one transfer of DAY, in ``direction``."""
    row = ("T1", direction, "皖F1", "340100", "CX01", None, None, DAY, DAY)
    frame = spark.createDataFrame([row], TRANSFERS)
    frame.write.format("delta").mode("overwrite").save(
        settings.table_uri("silver", "violation_transfers")
    )


def build_lake(spark, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The lake, its catalog, the partner's token, and the console's test client."""
    from fastapi.testclient import TestClient

    from enforcement_brain.console.routes import create_app
    from enforcement_brain.sharing import credentials
    from enforcement_brain.sharing.db import connect
    from enforcement_brain.sharing.service import create_app as sharing_app

    settings = make_settings(tmp_path_factory.mktemp("console") / "var")
    catalog = load_catalog(settings.standards_dir)
    ctx = JobContext(settings, catalog)
    write_delivery(settings, rows(settings, wim_site(settings)))
    load_day(ctx)
    publish_dataset.run(ctx, "overload_alerts", DAY, "test-run")
    project_interface.run(ctx, "provincial_supervision", DAY, "test-run")
    dataset = catalog.datasets["violation_transfers_by_destination"]
    _transfers(spark, settings, "OUT")
    publish(spark, settings, catalog, dataset, DAY, "good-run")
    _transfers(spark, settings, "SIDEWAYS")
    with pytest.raises(GateFailed):
        publish(spark, settings, catalog, dataset, DAY, "refused-run")
    # A task of anpr_passes' day that failed (what run_job records when a job raises).
    started = dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.UTC)
    failed = ("r1", "ingest_anpr_passes", "land", "anpr_passes", DAY, started, started, 0.0)
    tables.append_rows(
        None,
        settings,
        "ops",
        "run_log",
        [(*failed, "failed", "anpr_passes 2026-11-29: no delivery in landing")],
        RUN_LOG_SCHEMA,
    )
    engine = connect(settings.governance_db_url, create=True)
    issued = credentials.issue(engine, "provincial_supervision", 90)
    partner = TestClient(sharing_app(settings, catalog, engine))
    auth = {"Authorization": f"Bearer {issued.token}"}
    assert partner.get("/delta-sharing/shares", headers=auth).status_code == 200
    assert partner.post(QUERY, headers=auth, json={}).status_code == 200
    assert (
        partner.get("/delta-sharing/shares/traffic_police/schemas", headers=auth).status_code == 403
    )
    bad = {"Authorization": "Bearer ebs_not-a-token"}
    assert partner.get("/delta-sharing/shares", headers=bad).status_code == 401
    engine.dispose()
    client = TestClient(create_app(settings, catalog))
    return {"settings": settings, "catalog": catalog, "token": issued, "client": client}


def shared_lake(
    request: pytest.FixtureRequest, spark, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The console's lake (:func:`build_lake`) for a module's ``lake`` fixture: built by the
    first module of the run that asks, then kept in the run's stash for the others."""
    stash = request.config.stash
    if _LAKE not in stash:
        stash[_LAKE] = build_lake(spark, tmp_path_factory)
    return stash[_LAKE]


def delta(spark, settings, layer: str, table: str):
    """A lake table as Spark reads it: the figures the console's pages must show."""
    return spark.read.format("delta").load(settings.table_uri(layer, table))
