"""OpenLineage events of real tasks' jobs: a day loaded, published and shared through
``run_job`` with the default file transport; every event checked against the OpenLineage model,
their graph against the declarations."""

from __future__ import annotations

import datetime as dt
import logging
from types import SimpleNamespace

import pytest
from conftest import free_port

from enforcement_brain.declarations import load_catalog
from enforcement_brain.generate.day import generate_day
from enforcement_brain.lineage import check, declared
from enforcement_brain.lineage.declared import Table
from enforcement_brain.orchestration.tasks import run_job
from enforcement_brain.settings import REPO_ROOT, load_settings

DAY = dt.date(2026, 11, 28)
SOURCES = ("violation_transfers", "wim_weighings", "static_reweighs")
DATASETS = ("violation_transfers_by_destination", "shuang_bai_vehicles")
FAMILY = "transfer_recipients"  # twelve recipients, one share table per dataset


@pytest.fixture
def lake_env(tmp_path, monkeypatch):
    """The process environment of a task on a temporary lake (``run_job`` reads it)."""
    import os

    for key in list(os.environ):
        if key.startswith(("OPENLINEAGE", "AIRFLOW__OPENLINEAGE")):
            monkeypatch.delenv(key)
    env = {
        "EB_HOME": str(REPO_ROOT),
        "EB_VAR_DIR": str(tmp_path / "var"),
        "EB_SPARK_MASTER": "local[2]",
        "EB_SPARK_SHUFFLE_PARTITIONS": "2",
        "EB_SCALE": "0.01",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return load_settings()


def context(day: dt.date = DAY) -> dict:
    return {
        "run_id": "lineage-test",
        "dag_run": SimpleNamespace(conf={"date": day.isoformat()}),
        "task": SimpleNamespace(task_id="t", outlets=[]),
    }


def test_a_days_jobs_emit_valid_events_whose_graph_is_the_declared_one(spark, lake_env):
    settings = lake_env
    catalog = load_catalog(settings.standards_dir)
    generate_day(settings, DAY)
    for sid in SOURCES:
        run_job("load_source", sid, context())
    for did in DATASETS:
        run_job("publish_dataset", did, context())
    run_job("project_interface", FAMILY, context())

    events = check.read_events(settings.var_dir / "lineage")
    assert [(e["job"]["name"], check.problems(e)) for e in events if check.problems(e)] == []
    steps = [
        *[s for sid in SOURCES for s in declared.job_steps(catalog, "load_source", sid)],
        *[s for did in DATASETS for s in declared.job_steps(catalog, "publish_dataset", did)],
        *declared.job_steps(catalog, "project_interface", FAMILY),
    ]
    assert sorted((e["job"]["name"].rsplit(".", 2)[-2:], e["eventType"]) for e in events) == sorted(
        (s.name.split(".", 1), t) for s in steps for t in ("START", "COMPLETE")
    )
    runs = {}
    for event in events:
        runs.setdefault(event["run"]["runId"], []).append(event["eventType"])
    assert all(types == ["START", "COMPLETE"] for types in runs.values())

    graph = check.events_graph(settings, events)
    touched = {o for s in steps for o in s.outputs}
    assert graph == {(a, b) for a, b in declared.declared_graph(catalog) if b in touched}

    done = [e for e in events if e["eventType"] == "COMPLETE"]
    outputs = {
        declared.table_of(settings, o["namespace"], o["name"]): o
        for e in done
        for o in e["outputs"]
    }
    silver = spark.read.format("delta").load(settings.table_uri("silver", "wim_weighings"))
    schema = outputs[Table("silver", "wim_weighings")]["facets"]["schema"]["fields"]
    assert [f["name"] for f in schema] == silver.columns
    gold = outputs[Table("gold", "shuang_bai_vehicles")]["facets"]["columnLineage"]["fields"]
    wim = declared.dataset_id(settings, Table("silver", "wim_weighings"))
    assert wim in {(f["namespace"], f["name"]) for c in gold.values() for f in c["inputFields"]}
    family = catalog.interface_families()[FAMILY]
    for entry in family[0].datasets:
        step = next(s for s in steps if s.inputs == (Table("gold", entry.dataset),))
        facets = outputs[step.outputs[0]]["facets"]
        lineage = facets["columnLineage"]["fields"]
        assert set(lineage) == set(entry.columns)
        assert set(lineage) <= {f["name"] for f in facets["schema"]["fields"]}


def test_a_failing_job_emits_fail_and_still_fails(spark, lake_env):
    settings = lake_env
    with pytest.raises(Exception):  # noqa: B017 - whatever the job raises must reach Airflow
        run_job("publish_dataset", "shuang_bai_vehicles", context())  # no silver table yet
    events = check.read_events(settings.var_dir / "lineage")
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    assert events[1]["run"]["facets"]["errorMessage"]["message"]
    assert [check.problems(e) for e in events] == [[], []]


def test_an_unreachable_lineage_server_does_not_fail_the_task(spark, lake_env, monkeypatch, caplog):
    monkeypatch.setenv("OPENLINEAGE_URL", f"http://127.0.0.1:{free_port()}")
    settings = load_settings()
    assert settings.lineage_transport is None
    generate_day(settings, DAY)
    with caplog.at_level(logging.WARNING, logger="enforcement_brain.lineage.events"):
        result = run_job("load_source", "violation_transfers", context())
    assert result["inserted"] > 0
    assert "could not emit" in caplog.text
    assert not (settings.var_dir / "lineage").exists()
