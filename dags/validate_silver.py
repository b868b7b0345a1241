"""
### Validate: the day's silver increments against the GX suites (`validate_silver`)

Scheduled on the Assets of **all** silver tables: it runs once every source has loaded a day,
for the delivery day their events carry. One task validates each source's increment (the silver
rows of that day's batch) with its committed suite in `expectations/`, appends one row per
expectation to `ops.gx_results` and rebuilds the GX Data Docs (`var/gx/gx/uncommitted/
data_docs/local_site/index.html`). It reports, it does not block: each rule already acted
when the rows were loaded (quarantine, warn or stop), and this is the independent record.
"""

from __future__ import annotations

from airflow.sdk import DAG, task

from enforcement_brain.declarations import load_catalog
from enforcement_brain.orchestration.assets import table_asset
from enforcement_brain.orchestration.defaults import CATCHUP, DEFAULT_ARGS, START_DATE
from enforcement_brain.settings import load_settings

sources = list(load_catalog(load_settings().standards_dir).sources)
with DAG(
    dag_id="validate_silver",
    description="GX suites on the day's silver increments → ops.gx_results + Data Docs",
    doc_md=__doc__,
    schedule=[table_asset("silver", s) for s in sources],
    start_date=START_DATE,
    catchup=CATCHUP,
    default_args=DEFAULT_ARGS,
    max_active_runs=1,
    tags=["quality", "gx"],
):

    @task(task_id="validate")
    def validate(**context) -> dict:
        from enforcement_brain.orchestration.tasks import run_job

        return run_job("validate_silver", "all", context)

    validate()
