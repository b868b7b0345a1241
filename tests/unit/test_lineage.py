"""OpenLineage: where events go, what each job reads and writes, and the events built from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from enforcement_brain.declarations import load_catalog
from enforcement_brain.lineage import check, declared, events
from enforcement_brain.lineage.declared import Table
from enforcement_brain.orchestration.airflow_cli import airflow_env
from enforcement_brain.settings import load_settings


@pytest.fixture(autouse=True)
def no_lineage_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests set the variables they are about; none leaks in from the environment."""
    import os

    for key in list(os.environ):
        if key.startswith(("OPENLINEAGE", "AIRFLOW__OPENLINEAGE")):
            monkeypatch.delenv(key)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory):
    var = tmp_path_factory.mktemp("var")
    return load_settings({"EB_VAR_DIR": str(var)})


@pytest.fixture(scope="module")
def catalog(settings):
    return load_catalog(settings.standards_dir)


# -- transport ---------------------------------------------------------------------------------


def test_default_transport_is_a_file_under_the_var_dir(settings) -> None:
    transport = settings.lineage_transport
    assert transport == {
        "type": "file",
        "log_file_path": str(settings.var_dir / "lineage" / "events"),
        "append": False,
    }
    env = airflow_env(settings)
    assert json.loads(env["AIRFLOW__OPENLINEAGE__TRANSPORT"]) == transport
    assert env["AIRFLOW__OPENLINEAGE__NAMESPACE"] == "enforcement-brain"
    assert (settings.var_dir / "lineage").is_dir()  # the file transport does not create it


@pytest.mark.parametrize(
    "key, value",
    [
        ("OPENLINEAGE_URL", "http://marquez:5000"),
        ("OPENLINEAGE_CONFIG", "/etc/openlineage.yml"),
        ("OPENLINEAGE__TRANSPORT__TYPE", "console"),
    ],
)
def test_openlineage_variables_replace_the_default(tmp_path: Path, key: str, value: str) -> None:
    settings = load_settings({"EB_VAR_DIR": str(tmp_path), key: value})
    assert settings.lineage_transport is None
    assert not settings.lineage_disabled
    assert "AIRFLOW__OPENLINEAGE__TRANSPORT" not in airflow_env(settings)


def test_the_providers_own_transport_is_kept(settings, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__TRANSPORT", '{"type": "console"}')
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__NAMESPACE", "detachment")
    env = airflow_env(settings)
    assert env["AIRFLOW__OPENLINEAGE__TRANSPORT"] == '{"type": "console"}'
    assert env["AIRFLOW__OPENLINEAGE__NAMESPACE"] == "detachment"


def test_lineage_can_be_turned_off(tmp_path: Path) -> None:
    settings = load_settings({"EB_VAR_DIR": str(tmp_path), "OPENLINEAGE_DISABLED": "true"})
    assert settings.lineage_disabled
    assert settings.lineage_transport is None
    assert events.make_client(settings) is None


# -- naming ------------------------------------------------------------------------------------


def test_dataset_names_follow_the_openlineage_naming_spec(tmp_path: Path) -> None:
    local = load_settings({"EB_VAR_DIR": str(tmp_path)})
    lake = tmp_path.resolve() / "lake"
    assert declared.dataset_id(local, Table("silver", "anpr_passes")) == (
        "file",
        f"{lake}/silver/anpr_passes",
    )
    assert declared.asset_uri(local, Table("gold", "x")) == f"file://{lake}/gold/x"
    s3 = load_settings({"EB_VAR_DIR": str(tmp_path), "EB_LAKE_ROOT": "s3a://eb-lake/prod"})
    assert declared.dataset_id(s3, Table("gold", "overload_alerts")) == (
        "s3://eb-lake",
        "prod/gold/overload_alerts",
    )
    assert declared.asset_uri(s3, Table("gold", "x")) == "s3://eb-lake/prod/gold/x"
    for settings in (local, s3):
        ns, name = declared.dataset_id(settings, Table("quarantine", "wim_weighings"))
        assert declared.table_of(settings, ns, name) == Table("quarantine", "wim_weighings")
        assert declared.table_of(settings, "file", "/elsewhere/silver/x") is None


# -- what jobs read and write ------------------------------------------------------------------


def test_a_load_writes_bronze_from_landing_then_silver_and_quarantine_from_bronze(catalog) -> None:
    steps = declared.job_steps(catalog, "load_source", "wim_weighings")
    assert [(s.name, s.inputs, s.outputs) for s in steps] == [
        (
            "bronze.wim_weighings",
            (Table("landing", "wim_weighings"),),
            (Table("bronze", "wim_weighings"),),
        ),
        (
            "silver.wim_weighings",
            (Table("bronze", "wim_weighings"),),
            (Table("silver", "wim_weighings"), Table("quarantine", "wim_weighings")),
        ),
    ]
    reads, writes = declared.task_io(catalog, "load_source", "wim_weighings")
    assert reads == (Table("landing", "wim_weighings"),)
    assert writes == (
        Table("bronze", "wim_weighings"),
        Table("silver", "wim_weighings"),
        Table("quarantine", "wim_weighings"),
    )


def test_a_publish_reads_the_datasets_sources(catalog) -> None:
    dataset = catalog.datasets["shuang_bai_vehicles"]
    (step,) = declared.job_steps(catalog, "publish_dataset", dataset.id)
    assert step.inputs == tuple(Table("silver", s) for s in dataset.sources)
    assert step.outputs == (Table("gold", dataset.id),)


def test_a_validation_reads_silver_and_writes_no_lake_table(catalog) -> None:
    assert declared.job_steps(catalog, "validate_silver", "wim_weighings,anpr_passes") == []
    reads, writes = declared.task_io(catalog, "validate_silver", "wim_weighings,anpr_passes")
    assert reads == (Table("silver", "wim_weighings"), Table("silver", "anpr_passes"))
    assert writes == ()
    reads, _ = declared.task_io(catalog, "validate_silver", "all")
    assert reads == tuple(Table("silver", s) for s in catalog.sources)


def test_a_projection_writes_each_share_table_once(catalog) -> None:
    for family, members in catalog.interface_families().items():
        steps = declared.job_steps(catalog, "project_interface", family)
        outputs = [o for s in steps for o in s.outputs]
        assert len(outputs) == len(set(outputs)) == len(members[0].datasets)
        for step in steps:
            (source,) = step.inputs
            assert source.layer == "gold" and step.outputs[0].layer == "share"


# -- column lineage ----------------------------------------------------------------------------


def test_silver_columns_come_from_the_same_bronze_columns(catalog) -> None:
    source = catalog.sources["wim_weighings"]
    (_, step) = declared.job_steps(catalog, "load_source", source.id)
    columns = declared.column_lineage(catalog, step, Table("silver", source.id))
    assert set(columns) == set(source.column_names)
    assert columns["plate_no"] == [declared.ColumnSource(Table("bronze", source.id), "plate_no")]
    assert declared.column_lineage(catalog, step, Table("quarantine", source.id)) == {}


def test_gold_columns_come_from_the_datasets_sql(catalog) -> None:
    (step,) = declared.job_steps(catalog, "publish_dataset", "case_disclosures")
    columns = declared.column_lineage(catalog, step, Table("gold", "case_disclosures"))
    assert columns["decision_no"] == [
        declared.ColumnSource(Table("silver", "penalty_decisions"), "decision_no")
    ]
    assert set(columns) <= set(catalog.datasets["case_disclosures"].columns)


def test_gold_column_lineage_reads_spark_typed_literals(catalog) -> None:
    (step,) = declared.job_steps(catalog, "publish_dataset", "taxi_service_quality")
    columns = declared.column_lineage(catalog, step, Table("gold", "taxi_service_quality"))
    assert columns["substantiated"] == [
        declared.ColumnSource(Table("silver", "complaint_tickets"), "substantiated")
    ]


def test_share_columns_are_the_interfaces_projection_with_masks(catalog) -> None:
    for family, members in catalog.interface_families().items():
        for step in declared.job_steps(catalog, "project_interface", family):
            (gold,) = step.inputs
            (share,) = step.outputs
            entry = next(e for e in members[0].datasets if e.dataset == gold.name)
            columns = declared.column_lineage(catalog, step, share)
            assert list(columns) == list(entry.columns)
            for column, (src,) in columns.items():
                assert src.table == gold and src.column == column
                masked = any(
                    column in e.masks for m in members for e in m.datasets if e.dataset == gold.name
                )
                assert src.masked == masked
            if any(e.masks for m in members for e in m.datasets):
                return
    pytest.fail("no interface masks a column: the masking case is untested")


# -- events ------------------------------------------------------------------------------------


def test_step_events_carry_datasets_schema_column_lineage_and_parent(settings, catalog) -> None:
    (step,) = declared.job_steps(catalog, "publish_dataset", "case_disclosures")
    parent = events.Parent(
        namespace="enforcement-brain",
        job_name="publish_case_disclosures.publish",
        run_id="01930000-0000-7000-8000-000000000001",
        root_job_name="publish_case_disclosures",
        root_run_id="01930000-0000-7000-8000-000000000002",
    )
    schemas = {Table("gold", "case_disclosures"): [("case_no", "string"), ("decided_on", "date")]}
    run_id = "01930000-0000-7000-8000-000000000003"
    start = events.step_event(
        settings,
        catalog,
        step,
        "START",
        run_id,
        parent,
        job_label="publish_case_disclosures.publish",
    )
    done = events.step_event(
        settings,
        catalog,
        step,
        "COMPLETE",
        run_id,
        parent,
        job_label="publish_case_disclosures.publish",
        schemas=schemas,
    )
    failed = events.step_event(
        settings, catalog, step, "FAIL", run_id, parent, job_label="x", error=ValueError("boom")
    )
    for event in (start, done, failed):
        assert check.problems(events.to_dict(event)) == []
    data = events.to_dict(done)
    assert data["eventType"] == "COMPLETE"
    assert data["job"] == {
        "namespace": "enforcement-brain",
        "name": "publish_case_disclosures.publish.gold.case_disclosures",
        "facets": data["job"]["facets"],
    }
    assert data["job"]["facets"]["jobType"]["integration"] == events.INTEGRATION
    assert data["run"]["facets"]["parent"]["run"]["runId"] == parent.run_id
    assert data["run"]["facets"]["parent"]["root"]["run"]["runId"] == parent.root_run_id
    names = {(d["namespace"], d["name"]) for d in data["inputs"]}
    assert names == {declared.dataset_id(settings, t) for t in step.inputs}
    (out,) = data["outputs"]
    assert (out["namespace"], out["name"]) == declared.dataset_id(
        settings, Table("gold", "case_disclosures")
    )
    assert [(f["name"], f["type"]) for f in out["facets"]["schema"]["fields"]] == [
        ("case_no", "string"),
        ("decided_on", "date"),
    ]
    penalty = declared.dataset_id(settings, Table("silver", "penalty_decisions"))
    assert out["facets"]["columnLineage"]["fields"]["decision_no"]["inputFields"] == [
        {"namespace": penalty[0], "name": penalty[1], "field": "decision_no", "transformations": []}
    ]
    assert "columnLineage" not in events.to_dict(start)["outputs"][0].get("facets", {})
    error = events.to_dict(failed)["run"]["facets"]["errorMessage"]
    assert error["message"] == "boom" and error["programmingLanguage"] == "PYTHON"


def _run_event(run_id: str, job: str, job_facets: dict | None = None) -> dict:
    """A START run event with no datasets, as the spec's RunEvent has it."""
    return {
        "eventType": "START",
        "eventTime": "2026-12-05T01:00:00+00:00",
        "producer": events.PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id, "facets": {}},
        "job": {"namespace": "n", "name": job, "facets": job_facets or {}},
        "inputs": [],
        "outputs": [],
    }


def test_check_reports_what_breaks_the_model() -> None:
    good = _run_event("01930000-0000-7000-8000-000000000003", "j")
    assert check.problems(good) == []
    assert check.problems({**good, "run": {"runId": "not-a-uuid"}})
    assert check.problems({**good, "eventType": "DONE"})
    assert check.problems({**good, "eventTime": "yesterday"})
    assert check.problems({**good, "job": {"name": "j"}})
    assert check.problems({**good, "inputs": [{"namespace": "file", "name": "/x", "colour": 1}]})


def test_the_providers_airflow_facet_is_checked_by_where_it_sits() -> None:
    """``airflow`` names two provider facets: on a DAG run's job, the DAG's tasks
    (``AirflowJobFacet``); on a task's run, the task instance (``AirflowRunFacet``)."""
    meta = {"_producer": events.PRODUCER, "_schemaURL": "https://example.invalid/x.json"}
    dag_job = {**meta, "taskTree": {}, "taskGroups": {}, "tasks": {}}
    event = _run_event("01930000-0000-7000-8000-000000000004", "ingest_x", {"airflow": dag_job})
    assert check.problems(event) == []
    on_run = {**event, "run": {**event["run"], "facets": {"airflow": dag_job}}}
    assert "run.airflow: 'taskInstance' is a required property" in check.problems(on_run)


def test_events_graph_equals_declared_graph_for_matching_events(settings, catalog) -> None:
    dataset = catalog.datasets["shuang_bai_vehicles"]
    steps = [
        *[s for sid in dataset.sources for s in declared.job_steps(catalog, "load_source", sid)],
        *declared.job_steps(catalog, "publish_dataset", dataset.id),
    ]
    emitted = [
        events.to_dict(
            events.step_event(settings, catalog, s, "COMPLETE", events.new_run_id(), None, "t")
        )
        for s in steps
    ]
    graph = check.events_graph(settings, emitted)
    expected = {
        (a, b)
        for a, b in declared.declared_graph(catalog)
        if b
        in {Table("gold", dataset.id)}
        | {t for sid in dataset.sources for t in (Table("bronze", sid), Table("silver", sid))}
    }
    assert graph == expected
    assert (Table("landing", "wim_weighings"), Table("bronze", "wim_weighings")) in graph


def test_the_write_runs_of_every_dag_describe_the_declared_graph(settings, catalog) -> None:
    """Every ingest, publish and share task's writes, as COMPLETE events: their graph is the
    console's, edge for edge (its interface boxes aside: the sharing service serves them)."""
    jobs = [("load_source", s) for s in catalog.sources]
    jobs += [("publish_dataset", d) for d in catalog.datasets]
    jobs += [("project_interface", f) for f in catalog.interface_families()]
    emitted = [
        events.to_dict(
            events.step_event(settings, catalog, step, "COMPLETE", events.new_run_id(), None, job)
        )
        for job, subject in jobs
        for step in declared.job_steps(catalog, job, subject)
    ]
    assert check.events_graph(settings, emitted) == declared.declared_graph(catalog)
    assert len(declared.declared_graph(catalog)) > 100


def test_a_failing_job_emits_fail_and_its_error_goes_on(tmp_path: Path, catalog) -> None:
    settings = load_settings({"EB_VAR_DIR": str(tmp_path)})
    failing = events.emitting(settings, catalog, "load_source", "anpr_passes", None, "x.load")
    with pytest.raises(ZeroDivisionError), failing:
        _ = 1 / 0
    emitted = check.read_events(tmp_path / "lineage")
    assert sorted((e["job"]["name"], e["eventType"]) for e in emitted) == [
        ("x.load.bronze.anpr_passes", "FAIL"),
        ("x.load.bronze.anpr_passes", "START"),
        ("x.load.silver.anpr_passes", "FAIL"),
        ("x.load.silver.anpr_passes", "START"),
    ]
    assert all(check.problems(e) == [] for e in emitted)


def test_a_broken_transport_is_a_warning_not_a_failure(tmp_path: Path, catalog, caplog) -> None:
    settings = load_settings({"EB_VAR_DIR": str(tmp_path)})
    (tmp_path / "lineage").write_text("a file where the folder should be")
    job = events.emitting(settings, catalog, "publish_dataset", "kpi_monthly", None, "x.p")
    with caplog.at_level("WARNING", logger="enforcement_brain.lineage.events"), job:
        done = True
    assert done
    assert "OpenLineage" in caplog.text
