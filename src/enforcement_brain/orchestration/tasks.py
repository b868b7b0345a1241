"""Task bodies for the DAGs: resolve the day from Airflow's context, run a job, log it.

DAG files stay wiring only; everything a task does is here and in ``jobs/``, importable and
tested. Heavy imports (pyspark) happen inside the task, never when the DAG file is parsed.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from enforcement_brain.errors import EbError
from enforcement_brain.orchestration.runtime import job_context, parse_date
from enforcement_brain.settings import BUSINESS_TZ

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


def business_date(context: Mapping[str, Any]) -> dt.date:
    """The delivery day a run processes.

    In order: an explicit ``date`` in the run's conf (manual triggers, backfills of one day);
    the ``delivery_date`` carried by the asset event that triggered the run (publish and share
    DAGs); the run's logical date read in Asia/Shanghai (scheduled runs and ``airflow dags test``).
    """
    dag_run = context.get("dag_run")
    conf = getattr(dag_run, "conf", None) or {}
    if conf.get("date"):
        return parse_date(str(conf["date"]))
    days = sorted({day for _, day in asset_event_days(context)})
    if days:
        return days[-1]
    logical = context.get("logical_date")
    if logical is None:
        raise EbError("cannot tell which day to process: no date in conf, asset event or run")
    import pendulum

    return pendulum.instance(logical).in_timezone(BUSINESS_TZ).date()


def triggering_sources(context: Mapping[str, Any], layer: str) -> dict[dt.date, list[str]]:
    """Per delivery day, the tables of ``layer`` whose Asset events triggered the run.

    A DAG scheduled on *any* of several Assets runs for whatever has changed since its last
    run; while one run is busy the scheduler holds the new events and the next run takes them
    all. Empty for a run not triggered by Assets (a manual trigger or ``airflow dags test``).
    """
    out: dict[dt.date, set[str]] = {}
    for name, day in asset_event_days(context):
        if name.startswith(f"{layer}."):
            out.setdefault(day, set()).add(name.removeprefix(f"{layer}."))
    return {day: sorted(names) for day, names in sorted(out.items())}


def asset_event_days(context: Mapping[str, Any]) -> list[tuple[str, dt.date]]:
    """``(asset name, delivery day)`` of each Asset event that triggered the run and carries a
    day: the one reading of the events that the run's day and its sources both come from."""
    out = []
    for asset, asset_events in (context.get("triggering_asset_events") or {}).items():
        for event in asset_events:
            extra = getattr(event, "extra", None) or {}
            if extra.get("delivery_date"):
                ref = getattr(event, "asset", None) or asset
                name = str(getattr(ref, "name", "") or "")
                out.append((name, parse_date(str(extra["delivery_date"]))))
    return out


def task_timings(started: dt.datetime) -> dict[str, float]:
    """The task process's start and imports, until its job begins (the slot wait before it is
    Airflow's to tell: :meth:`~enforcement_brain.orchestration.stack.AirflowStack.task_wait`)."""
    import psutil

    born = dt.datetime.fromtimestamp(psutil.Process().create_time(), dt.UTC)
    return {"startup_seconds": round(max(0.0, (started - born).total_seconds()), 3)}


def attach_session(spark: SparkSession, label: str) -> str:
    """Attach to Spark and label the task's work there.

    Every Delta commit the task makes carries ``label`` as its user metadata, so the commits of
    a task can be counted from the tables' logs; the Spark Connect session id (empty for a local
    session) tells the server's jobs of this task from the others'.
    """
    spark.conf.set("spark.databricks.delta.commitInfo.userMetadata", label)
    return str(getattr(spark, "session_id", "") or "")


def run_job(
    job: str, subject: str, context: Mapping[str, Any], day: dt.date | None = None
) -> dict[str, Any]:
    """Run ``jobs.<job>.run`` for ``subject`` on ``day`` (default: the context's day); record
    it in ``ops.run_log``.

    Asset outlets of the task get ``{"delivery_date": ...}`` as extra, so downstream DAGs
    scheduled on those assets process the same day. OpenLineage: the task's lake tables go to
    the provider's task events (hook lineage), and each write of the job is a run of its own
    under the task's (:mod:`enforcement_brain.lineage`).
    """
    from enforcement_brain.lineage.events import emitting, parent_from_context, report_task_io
    from enforcement_brain.ops.ledger import record_run

    ctx = job_context()
    day = business_date(context) if day is None else day
    run_id = str(context.get("run_id", "manual"))
    task = context.get("task")
    dag_id = getattr(context.get("dag"), "dag_id", "") or ""
    task_id = getattr(task, "task_id", job)
    started = dt.datetime.now(dt.UTC)
    timings = task_timings(started)
    module = importlib.import_module(f"jobs.{job}")
    attach = time.monotonic()
    session = attach_session(ctx.spark, f"{dag_id}:{task_id}:{day}")
    timings["attach_seconds"] = round(time.monotonic() - attach, 3)
    log.info("%s %s for %s (run %s)", job, subject, day, run_id)
    status, detail = "failed", ""
    report_task_io(ctx.settings, ctx.catalog, job, subject)
    parent = parent_from_context(context)
    label = parent.job_name if parent is not None else f"{dag_id or job}.{task_id}"
    running = time.monotonic()
    try:
        with emitting(ctx.settings, ctx.catalog, job, subject, parent, label):
            result = module.run(ctx, subject, day, run_id)
        timings["run_seconds"] = round(time.monotonic() - running, 3)
        status = "success"
        detail = json.dumps({**result, "timings": timings, "spark_session": session}, default=str)
    except EbError as exc:
        detail = str(exc)
        raise
    finally:
        record_run(
            ctx.spark,
            ctx.settings,
            run_id=run_id,
            dag_id=dag_id,
            task=task_id,
            subject=subject,
            day=day,
            started_at=started,
            status=status,
            detail=detail,
        )
    outlet_events = context.get("outlet_events")
    for outlet in getattr(task, "outlets", None) or []:
        if outlet_events is not None:
            outlet_events[outlet].extra = {"delivery_date": day.isoformat()}
    log.info("%s %s done: %s", job, subject, result)
    return result


def validate_triggered(context: Mapping[str, Any]) -> dict[str, Any]:
    """GX validation of the silver increments whose loads triggered this run, day by day; of
    every source of the context's day when nothing did (a manual run).

    Why per trigger and not once all sources have loaded: validation then runs beside the
    loads and publishes, and the day no longer waits for it after its last load.
    """
    by_day = triggering_sources(context, "silver")
    if not by_day:
        by_day = {business_date(context): ["all"]}
    results = {
        day.isoformat(): run_job("validate_silver", ",".join(names), context, day)
        for day, names in by_day.items()
    }
    return {
        "days": results,
        "validated": sorted({s for r in results.values() for s in r.get("validated", [])}),
    }
