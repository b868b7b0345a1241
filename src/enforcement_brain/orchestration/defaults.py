"""DAG defaults chosen on purpose, shared by every DAG file."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum

from enforcement_brain.settings import Settings, load_settings

#: A fixed start in the past: catchup is off, backfills are explicit (``airflow backfill``).
START_DATE = pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai")
CATCHUP = False
OWNER = "data-engineering"
DEFAULT_ARGS = {
    "owner": OWNER,
    # Transient failures (a source DB restarting, a Spark hiccup) deserve one more try;
    # more would only delay the alert about a bad delivery.
    "retries": 1,
    "retry_delay": dt.timedelta(minutes=2),
}
#: Deliveries arrive after midnight; loads run at 01:00 local for the previous day's interval.
DAILY_CRON = "0 1 * * *"
#: Table maintenance runs after the loads of the night, before analysts start their day.
MAINTENANCE_CRON = "0 4 * * *"

#: The Celery queue of each kind of work on the cluster profile (``EB_AIRFLOW_EXECUTOR=
#: CeleryExecutor``): loading (ingest, validation, maintenance: they write bronze and silver) and
#: publishing (gold and the interfaces' share tables). Separate queues let a deployment give each
#: its own workers, so a slow night of loads does not hold up what partners read.
QUEUES = {"load": "loads", "publish": "publish"}


def default_args(work: str, settings: Settings | None = None) -> dict[str, Any]:
    """:data:`DEFAULT_ARGS` for one kind of ``work`` (a key of :data:`QUEUES`).

    On the CeleryExecutor the tasks go to that work's queue; on the LocalExecutor (embedded)
    the arguments are :data:`DEFAULT_ARGS` unchanged: every task stays on Airflow's default
    queue, which that executor does not read.
    """
    queue = QUEUES[work]
    settings = settings or load_settings()
    if settings.airflow_executor != "CeleryExecutor":
        return dict(DEFAULT_ARGS)
    return {**DEFAULT_ARGS, "queue": queue}
