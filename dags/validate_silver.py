"""
### Validate: the day's silver increments against the GX suites (`validate_silver`)

Scheduled on **any** silver table's Asset: it runs as soon as a source has loaded, for the
sources and delivery days whose events triggered it. While a run is busy, the scheduler keeps
the events of the loads that finish meanwhile and the next run validates them all, so a day
takes a few runs, beside the loads and publishes, and never waits for validation after its
last load. The task validates each source's increment (the silver rows of that day's batch)
with its committed suite in `expectations/`, appends one row per expectation to
`ops.gx_results` and updates the GX Data Docs (`var/gx/gx/uncommitted/data_docs/local_site/
index.html`). Triggered by hand (conf `{"date": "YYYY-MM-DD"}`), it validates every source of
that day. It reports, it does not block: each rule already acted when the rows were loaded
(quarantine, warn or stop), and this is the independent record.
"""

from __future__ import annotations

from airflow.sdk import DAG, AssetAny, task

from enforcement_brain.declarations import load_catalog
from enforcement_brain.orchestration.assets import table_asset
from enforcement_brain.orchestration.defaults import CATCHUP, START_DATE, default_args
from enforcement_brain.settings import load_settings

sources = list(load_catalog(load_settings().standards_dir).sources)
with DAG(
    dag_id="validate_silver",
    description="GX suites on the day's silver increments → ops.gx_results + Data Docs",
    doc_md=__doc__,
    schedule=AssetAny(*[table_asset("silver", s) for s in sources]),
    start_date=START_DATE,
    catchup=CATCHUP,
    default_args=default_args("load"),
    max_active_runs=1,  # events arriving during a run wait for the next one
    tags=["quality", "gx"],
):

    @task(task_id="validate")
    def validate(**context) -> dict:
        from enforcement_brain.orchestration.tasks import validate_triggered

        return validate_triggered(context)

    validate()
