"""
### Maintain: compact, VACUUM and check every lake table (`maintain_tables`)

One task, daily at 04:00 Asia/Shanghai (after the 01:00 loads), for every table of the lake
(`bronze`, `silver`, `quarantine`, `gold`, `share`, `ops`):

1. sets the table's Delta retention to what Standard 2 declares (`quality.retention_days` of its
   source or dataset);
2. `OPTIMIZE` when the table is made of many small files (`EB_MAINTENANCE_MIN_FILES`,
   `EB_MAINTENANCE_SMALL_FILE_MB`);
3. `VACUUM` with that retention: time travel within the declared period keeps working;
4. checks the Delta log: checkpoint present and recent, old commits cleaned, no orphan tmp files.

One row per table per run goes to `ops.maintenance_log`; the task log has a readable summary.
Not part of the main job (`make run`); run it by hand with `make maintain`. See
docs/maintenance.md.
"""

from __future__ import annotations

from airflow.sdk import DAG, task
from airflow.timetables.interval import CronDataIntervalTimetable

from enforcement_brain.orchestration.defaults import (
    CATCHUP,
    MAINTENANCE_CRON,
    START_DATE,
    default_args,
)
from enforcement_brain.settings import load_settings

# EB_CRON=off (the main job's deployments): triggered by hand only, like the ingest DAGs.
schedule = CronDataIntervalTimetable(MAINTENANCE_CRON, timezone="Asia/Shanghai")
with DAG(
    dag_id="maintain_tables",
    description="OPTIMIZE small files, VACUUM within Standard 2's retention, check Delta logs",
    doc_md=__doc__,
    schedule=schedule if load_settings().cron_enabled else None,
    start_date=START_DATE,
    catchup=CATCHUP,
    default_args=default_args("load"),
    max_active_runs=1,
    tags=["maintenance", "delta"],
):

    @task(task_id="maintain")
    def maintain(**context) -> dict:
        from enforcement_brain.orchestration.tasks import run_job

        return run_job("maintain_tables", "all", context)

    maintain()
