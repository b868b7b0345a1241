"""The Airflow OpenLineage provider on a real task run (``airflow dags test``): START and
COMPLETE for a task that succeeds, START and FAIL for one that fails, in the default file
transport; the task's lake tables in its COMPLETE event (hook lineage), and the platform's write
run hanging under the task's run."""

from __future__ import annotations

import subprocess
import textwrap

from conftest import make_settings

from enforcement_brain.declarations import load_catalog
from enforcement_brain.lineage import check, declared
from enforcement_brain.lineage.events import INTEGRATION
from enforcement_brain.orchestration.airflow_cli import airflow_bin, airflow_env, ensure_db
from enforcement_brain.settings import REPO_ROOT

PROBE = """
import pendulum
from airflow.sdk import DAG, task

with DAG("lineage_probe", schedule=None, catchup=False,
         start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai")):

    @task(task_id="publish")
    def publish(**context):
        from enforcement_brain.declarations import load_catalog
        from enforcement_brain.lineage.events import emitting, parent_from_context, report_task_io
        from enforcement_brain.settings import load_settings

        settings = load_settings()
        catalog = load_catalog(settings.standards_dir)
        report_task_io(settings, catalog, "publish_dataset", "shuang_bai_vehicles")
        parent = parent_from_context(context)
        with emitting(settings, catalog, "publish_dataset", "shuang_bai_vehicles", parent,
                      parent.job_name):
            pass

    @task(task_id="fail")
    def fail():
        raise RuntimeError("the probe fails on purpose")

    publish()
    fail()
"""


def test_an_airflow_task_run_emits_the_providers_events(tmp_path):
    settings = make_settings(tmp_path / "var")
    ensure_db(settings)
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "lineage_probe.py").write_text(textwrap.dedent(PROBE))
    env = airflow_env(settings)
    env = {k: v for k, v in env.items() if not k.startswith("OPENLINEAGE")}
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
    env["PYTHONPATH"] = f"{REPO_ROOT / 'src'}:{REPO_ROOT}"
    proc = subprocess.run(
        [airflow_bin(), "dags", "test", "lineage_probe", "2026-11-28"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    events = check.read_events(settings.var_dir / "lineage")
    assert events, proc.stdout[-3000:] + proc.stderr[-3000:]
    found = [
        (e["job"]["name"], set(check.problems(e)) - check.PROVIDER_SCHEMA_DRIFT) for e in events
    ]
    assert [(job, errors) for job, errors in found if errors] == []

    def types(job: str) -> list[str]:
        return [e["eventType"] for e in events if e["job"]["name"] == job]

    assert types("lineage_probe.publish") == ["START", "COMPLETE"]
    assert types("lineage_probe.fail") == ["START", "FAIL"]

    (task_done,) = [
        e
        for e in events
        if e["job"]["name"] == "lineage_probe.publish" and e["eventType"] == "COMPLETE"
    ]
    assert task_done["job"]["namespace"] == settings.lineage_namespace
    named = {(d["namespace"], d["name"]) for d in task_done["inputs"] + task_done["outputs"]}
    catalog = load_catalog(settings.standards_dir)
    reads, writes = declared.task_io(catalog, "publish_dataset", "shuang_bai_vehicles")
    assert {(d["namespace"], d["name"]) for d in task_done["outputs"]} == {
        declared.dataset_id(settings, t) for t in writes
    }
    assert named == {declared.dataset_id(settings, t) for t in (*reads, *writes)}

    writes_done = [
        e for e in events if e["job"]["facets"].get("jobType", {}).get("integration") == INTEGRATION
    ]
    assert [e["eventType"] for e in writes_done] == ["START", "COMPLETE"]
    parent = writes_done[1]["run"]["facets"]["parent"]
    assert parent["run"]["runId"] == task_done["run"]["runId"]
    assert (parent["job"]["namespace"], parent["job"]["name"]) == (
        settings.lineage_namespace,
        "lineage_probe.publish",
    )
