"""DAG defaults chosen on purpose, shared by every DAG file."""

from __future__ import annotations

import datetime as dt

import pendulum

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
