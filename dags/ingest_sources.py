"""
### Ingest: one DAG per declared source (`ingest_<source>`)

Generated from `data_standards/sources/*.yaml`: adding a source is writing its declaration.
Each run loads one delivery day in one task, **load**:

1. landing → `bronze.<source>`: the delivery as received, with file and line;
2. bronze → `silver.<source>` (MERGE on the business key) and `quarantine.<source>`; the
   data-quality ledger `ops.dq_ledger` records every rule, `ops.batch_log` the reconciliation.

Both steps are idempotent, so a retry (or a rerun of the day) gives the same tables.

`silver.<source>` is an Airflow Asset: shared datasets built from it run when it changes.
Runs at 01:00 Asia/Shanghai for the previous day. Trigger one day by hand with conf
`{"date": "YYYY-MM-DD"}`, or `airflow dags test ingest_<source> YYYY-MM-DD`.
"""

from __future__ import annotations

from airflow.sdk import DAG, task
from airflow.timetables.interval import CronDataIntervalTimetable

from enforcement_brain.declarations import load_catalog
from enforcement_brain.orchestration.assets import table_asset
from enforcement_brain.orchestration.defaults import (
    CATCHUP,
    DAILY_CRON,
    START_DATE,
    default_args,
)
from enforcement_brain.settings import load_settings

settings = load_settings()
# EB_CRON=off (the main job): runs only when triggered, never for the latest cron interval.
schedule = CronDataIntervalTimetable(DAILY_CRON, timezone="Asia/Shanghai")
for source in load_catalog(settings.standards_dir).sources.values():
    with DAG(
        dag_id=f"ingest_{source.id}",
        description=f"{source.title} ({source.title_zh}) → bronze → silver",
        doc_md=__doc__,
        schedule=schedule if settings.cron_enabled else None,
        start_date=START_DATE,
        catchup=CATCHUP,
        default_args=default_args("load", settings),
        max_active_runs=1,  # days of one source load one at a time: MERGEs never race
        tags=["ingest", f"delivery:{source.delivery.kind}", source.id],
    ):
        # Big sources first: a long load started last would finish alone on an idle machine.
        @task(
            task_id="load",
            outlets=[table_asset("silver", source.id)],
            priority_weight=1 + source.expected_daily_rows // 1000,
            weight_rule="absolute",
        )
        def load(source_id: str = source.id, **context) -> dict:
            from enforcement_brain.orchestration.tasks import run_job

            return run_job("load_source", source_id, context)

        load()
