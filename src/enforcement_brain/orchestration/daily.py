"""The main job (`make run`): one day through the whole pipeline, through real Airflow.

Stages: set-up check → generate the day's deliveries → start the Spark Connect server → start
Airflow (API server, scheduler, DAG processor; LocalExecutor) → trigger every ingest DAG for the
day through the REST API; the scheduler runs them in parallel and their Asset events trigger the
publish DAGs, whose events trigger the share DAGs → stop Airflow → a summary read back from the
lake.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from enforcement_brain.declarations import Catalog, load_catalog
from enforcement_brain.errors import EbError
from enforcement_brain.settings import Settings


@dataclass
class DayRun:
    day: dt.date
    scale: float
    stages: list[tuple[str, float]] = field(default_factory=list)
    dag_runs: list[Any] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    generated: Any = None
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.dag_runs)


def dag_order(catalog: Catalog, only: tuple[str, ...] = ()) -> list[str]:
    """DAG ids in the order data flows: ingest, then validate, publish, share.

    ``only`` (``EB_SOURCES``) limits the run to some sources, and to the datasets built only from
    them and the interfaces serving only those datasets; GX validates whichever sources load.
    """
    unknown = sorted(set(only) - set(catalog.sources))
    if unknown:
        raise EbError(
            f"EB_SOURCES names unknown source(s) {', '.join(unknown)}; "
            f"declared: {', '.join(sorted(catalog.sources))}"
        )
    sources = [s for s in catalog.sources if not only or s in only]
    datasets = [d.id for d in catalog.datasets.values() if set(d.sources) <= set(sources)]
    interfaces = [
        family
        for family, members in catalog.interface_families().items()
        if {x.dataset for i in members for x in i.datasets} <= set(datasets)
    ]
    return (
        [f"ingest_{s}" for s in sources]
        + ["validate_silver"]  # runs on any source's load, as many times as it takes
        + [f"publish_{d}" for d in datasets]
        + [f"share_{i}" for i in interfaces]
    )


def check_writable(settings: Settings) -> None:
    """Fail early, in one line, if the lake root cannot be written."""
    import tempfile

    if not settings.lake_is_local:
        return
    root = settings.local_lake
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".probe-"):
            pass
    except OSError as exc:
        raise EbError(
            f"the lake root {root} is not writable ({exc.strerror}): set EB_LAKE_ROOT to a "
            "folder you can write"
        ) from None


def run_day(
    settings: Settings,
    day: dt.date,
    *,
    scale: float | None = None,
    generate: bool = True,
    say: Callable[[str], None] = print,
) -> DayRun:
    """Run one day end to end. ``say`` receives one progress line per step.

    The lake lock is taken first: a second run (or a backfill) of the lake refuses at once,
    before it generates landing files or starts anything (:mod:`.lock`).
    """
    from enforcement_brain.orchestration.lock import lake_lock

    catalog = load_catalog(settings.standards_dir)
    dag_order(catalog, settings.run_sources)  # an unknown EB_SOURCES entry fails before any work
    with lake_lock(settings, f"eb run --date {day}", say):
        return _run_day(settings, catalog, day, scale=scale, generate=generate, say=say)


def _run_day(
    settings: Settings,
    catalog: Catalog,
    day: dt.date,
    *,
    scale: float | None,
    generate: bool,
    say: Callable[[str], None],
) -> DayRun:
    from enforcement_brain.orchestration import stack
    from enforcement_brain.orchestration.breakdown import cpu_sample, cpu_use
    from enforcement_brain.spark import server
    from enforcement_brain.spark.jars import cached_jars

    scale = settings.scale if scale is None else scale
    result = DayRun(day, scale)

    def stage(name: str, fn: Callable[[], Any]) -> Any:
        say(f"▶ {name} …")
        started = time.monotonic()
        value = fn()
        seconds = time.monotonic() - started
        result.stages.append((name, seconds))
        say(f"  ✓ {name} ({seconds:.1f} s)")
        return value

    from enforcement_brain.spark.session import require_java

    require_java()
    check_writable(settings)
    cached_jars(settings.jar_dir)  # one-line error naming `make setup` if missing
    dag_ids = dag_order(catalog, settings.run_sources)
    triggered = [d for d in dag_ids if d.startswith("ingest_")]
    downstream = [d for d in dag_ids if not d.startswith("ingest_")]
    airflow = stack.AirflowStack(settings, server.url(settings))
    steps: list[tuple[str, Callable[[], Any]]] = []
    if generate:
        from enforcement_brain.generate import generate_day

        steps.append(
            (f"generate {day} at scale {scale}", lambda: generate_day(settings, day, scale=scale))
        )
    steps += [
        ("Spark Connect server", lambda: server.start(settings)),
        (
            f"Airflow up (db migrate, api-server, scheduler, dag-processor; LocalExecutor × "
            f"{settings.airflow_parallelism})",
            airflow.start,
        ),
    ]
    try:
        *generated, status, _ = together(steps, result, say)
        if generated:
            result.generated = generated[0]
            width = max(len(sid) for sid in result.generated.rows_by_source)
            for sid, n in sorted(result.generated.rows_by_source.items()):
                say(f"    {sid:<{width}} {n:>9,} rows delivered")
        say(f"    Spark Connect {status.url} (log {status.log})")
        say(f"    Airflow {airflow.base_url} (logs {airflow.log_dir})")
        before = cpu_sample(status.pid)
        result.dag_runs = stage(
            "Airflow DAG runs",
            lambda: stack.run_dags(airflow, day, triggered, downstream, say=say),
        )
        result.cpu = cpu_use(before, cpu_sample(status.pid))
    finally:
        stage("Airflow stop", airflow.stop)
    result.phases = stack.phases(result.dag_runs)
    waits = {r.dag_id: r.wait_seconds for r in result.dag_runs}
    result.summary = stage("summary", lambda: collect_summary(settings, catalog, day, waits))
    write_summary_file(settings, result)
    return result


def together(
    steps: list[tuple[str, Callable[[], Any]]], result: DayRun, say: Callable[[str], None]
) -> list[Any]:
    """Run independent start-up steps at once (threads: each mostly waits on a child process
    or on disk) and record each one's own time plus the wall time of the whole.

    Generating the day, starting the Connect server's JVM and starting Airflow's three
    processes share nothing, so they need not wait for each other. Every step runs to its end
    even if another fails, so nothing is left half started without the caller knowing; then
    the first error is raised.
    """
    from concurrent.futures import ThreadPoolExecutor, as_completed

    say(f"▶ at once: {' ∥ '.join(name.split(' (')[0] for name, _ in steps)} …")
    started = time.monotonic()

    def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
        t0 = time.monotonic()
        return fn(), time.monotonic() - t0

    values: dict[str, Any] = {}
    errors: list[BaseException] = []
    with ThreadPoolExecutor(max_workers=len(steps)) as pool:
        futures = {pool.submit(timed, fn): name for name, fn in steps}
        for future in as_completed(futures):
            name = futures[future]
            try:
                values[name], seconds = future.result()
            except BaseException as exc:  # re-raised below, once the others have ended
                errors.append(exc)
                continue
            result.stages.append((f"∥ {name}", seconds))
            say(f"  ✓ {name} ({seconds:.1f} s)")
    wall = time.monotonic() - started
    result.stages.append(("start-up (the steps above, at once)", wall))
    say(f"  ✓ start-up ({wall:.1f} s wall)")
    if errors:
        raise errors[0]
    return [values[name] for name, _ in steps]


def collect_summary(
    settings: Settings,
    catalog: Catalog,
    day: dt.date,
    waits: dict[str, float | None] | None = None,
) -> dict[str, Any]:
    """Read the day's figures back from the lake (ops.batch_log, table counts)."""
    from pyspark.sql import functions as F

    from enforcement_brain.lake import tables
    from enforcement_brain.spark import server
    from enforcement_brain.spark.session import get_spark

    spark = get_spark(_with_remote(settings, server.url(settings)))
    tables.register_lake(spark, settings)
    batches: list[dict[str, Any]] = []
    if tables.is_delta_table(settings, "ops", "batch_log"):
        from pyspark.sql import Window

        latest = Window.partitionBy("source").orderBy(F.col("recorded_at").desc())
        rows = (
            spark.read.format("delta")
            .load(settings.table_uri("ops", "batch_log"))
            .where(F.col("delivery_date") == F.lit(day))
            .withColumn("_n", F.row_number().over(latest))
            .where("_n = 1")
            .drop("_n")
            .orderBy("source")
            .collect()
        )
        batches = [r.asDict() for r in rows]
    counts = {}
    for layer, table in tables.lake_tables(settings):
        n = tables.row_count_from_log(settings, layer, table)
        if n is None:
            n = spark.read.format("delta").load(settings.table_uri(layer, table)).count()
        counts[f"{layer}.{table}"] = n
    from enforcement_brain.orchestration.breakdown import summarise, task_costs

    return {
        "batches": batches,
        "tables": counts,
        "breakdown": summarise(task_costs(settings, day, waits)),
    }


def _with_remote(settings: Settings, remote: str) -> Settings:
    import dataclasses

    return dataclasses.replace(settings, spark_remote=remote)


def write_summary_file(settings: Settings, run: DayRun) -> None:
    """Keep the summary as JSON (var/run/summary-<day>.json) for tests and tooling."""
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    data = {
        "day": run.day.isoformat(),
        "scale": run.scale,
        "ok": run.ok,
        "stages": run.stages,
        "phases": run.phases,
        "cpu": run.cpu,
        "dag_runs": [
            {
                "dag_id": r.dag_id,
                "ok": r.ok,
                "state": r.state,
                "seconds": None if r.seconds is None else round(r.seconds, 1),
                "error": r.error,
                "result": r.result,
            }
            for r in run.dag_runs
        ],
        "generated": run.generated.rows_by_source if run.generated else None,
        **run.summary,
    }
    path = settings.run_dir / f"summary-{run.day.isoformat()}.json"
    path.write_text(json.dumps(data, default=str, ensure_ascii=False, indent=2))
