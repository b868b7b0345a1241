"""
### Ingest: one DAG per declared source (`ingest_<source>`)

Generated from `data_standards/sources/*.yaml`: adding a source is writing its declaration.
Each run loads one delivery day:

1. **to_bronze** — landing → `bronze.<source>`: the delivery as received, with file and line.
2. **to_silver** — bronze → `silver.<source>` (MERGE on the business key) and
   `quarantine.<source>`; the data-quality ledger `ops.dq_ledger` records every rule.

`silver.<source>` is an Airflow Asset: shared datasets built from it run when it changes.
Runs at 01:00 Asia/Shanghai for the previous day. Trigger one day by hand with conf
`{"date": "YYYY-MM-DD"}`, or `airflow dags test ingest_<source> YYYY-MM-DD`.
"""

from __future__ import annotations

from airflow.sdk import DAG, task
from airflow.timetables.interval import CronDataIntervalTimetable

from enforcement_brain.declarations import load_catalog
from enforcement_brain.orchestration.assets import table_asset
from enforcement_brain.orchestration.defaults import CATCHUP, DAILY_CRON, DEFAULT_ARGS, START_DATE
from enforcement_brain.settings import load_settings

for source in load_catalog(load_settings().standards_dir).sources.values():
    with DAG(
        dag_id=f"ingest_{source.id}",
        description=f"{source.title} ({source.title_zh}) → bronze → silver",
        doc_md=__doc__,
        schedule=CronDataIntervalTimetable(DAILY_CRON, timezone="Asia/Shanghai"),
        start_date=START_DATE,
        catchup=CATCHUP,
        default_args=DEFAULT_ARGS,
        max_active_runs=1,  # days of one source load one at a time: MERGEs never race
        tags=["ingest", f"delivery:{source.delivery.kind}", source.id],
    ):

        @task(task_id="to_bronze")
        def to_bronze(source_id: str = source.id, **context) -> dict:
            from enforcement_brain.orchestration.tasks import run_job

            return run_job("land_to_bronze", source_id, context)

        @task(task_id="to_silver", outlets=[table_asset("silver", source.id)])
        def to_silver(source_id: str = source.id, **context) -> dict:
            from enforcement_brain.orchestration.tasks import run_job

            return run_job("bronze_to_silver", source_id, context)

        to_bronze() >> to_silver()
