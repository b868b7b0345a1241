"""The platform's own OpenLineage events: one run per write of a job, a child of the Airflow
task's run; and the task's inputs and outputs, handed to the Airflow provider.

Why the platform emits its writes itself: Spark's OpenLineage integration names a Delta MERGE
or ``replaceWhere`` by its plan, not by the table, and knows nothing of the declarations; here
each write is named by its Delta location with the schema the table has after it and the column
lineage the declarations give. Emitting never fails a task: a transport error is a warning.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from enforcement_brain.lineage.declared import (
    Step,
    Table,
    asset_uri,
    column_lineage,
    dataset_id,
    job_steps,
    task_io,
)
from enforcement_brain.settings import Settings

if TYPE_CHECKING:
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import RunEvent

    from enforcement_brain.declarations import Catalog

log = logging.getLogger(__name__)

#: The ``producer`` of the platform's events (a URI, as the spec asks).
PRODUCER = "urn:enforcement-brain:lineage"
#: ``jobType.integration`` of the platform's write runs: tells them from the provider's task runs.
INTEGRATION = "ENFORCEMENT_BRAIN"
#: ``(column name, type)`` of a table, as its Delta schema states them.
Schema = list[tuple[str, str]]


@dataclass(frozen=True)
class Parent:
    """The Airflow task run a write hangs under, and the DAG run above it (ParentRunFacet)."""

    namespace: str
    job_name: str
    run_id: str
    root_job_name: str = ""
    root_run_id: str = ""


def new_run_id() -> str:
    """A UUIDv7 run id, as the OpenLineage clients make them."""
    from openlineage.client.uuid import generate_new_uuid

    return str(generate_new_uuid())


def make_client(settings: Settings, parent: Parent | None = None) -> OpenLineageClient | None:
    """The client for the platform's events; None when lineage is off.

    In an Airflow task (``parent`` given), the provider's own client: the platform's events go
    where the task's go, however the provider is configured. Elsewhere, the default file under
    ``var/lineage/`` or what the ``OPENLINEAGE_*`` variables configure.
    """
    if settings.lineage_disabled:
        return None
    if parent is not None:
        try:
            from airflow.providers.openlineage import conf
            from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter
        except ImportError:
            pass
        else:
            if conf.is_disabled():
                return None
            return OpenLineageAdapter().get_or_create_openlineage_client()
    from openlineage.client import OpenLineageClient

    if settings.lineage_transport is None:
        return OpenLineageClient()
    from openlineage.client.transport.file import FileConfig, FileTransport

    (settings.var_dir / "lineage").mkdir(parents=True, exist_ok=True)
    return OpenLineageClient(
        transport=FileTransport(FileConfig.from_dict(dict(settings.lineage_transport)))
    )


def parent_from_context(context: Mapping[str, Any]) -> Parent | None:
    """The task run of an Airflow context, with the run ids the provider gives its own events
    (its macros): None outside Airflow or without the provider."""
    ti = context.get("ti") or context.get("task_instance")
    if ti is None:
        return None
    try:
        from airflow.providers.openlineage.plugins import macros

        return Parent(
            namespace=macros.lineage_job_namespace(),
            job_name=macros.lineage_job_name(ti),
            run_id=macros.lineage_run_id(ti),
            root_job_name=macros.lineage_root_job_name(ti),
            root_run_id=macros.lineage_root_run_id(ti),
        )
    except Exception as exc:
        log.warning("OpenLineage: no parent run for this task (%s)", exc)
        return None


def delta_schema(settings: Settings, table: Table) -> Schema | None:
    """A Delta table's columns and types from its log (no Spark), or None when it has none."""
    if table.layer == "landing":
        return None
    try:
        from enforcement_brain.lake.tables import open_delta

        fields = open_delta(settings, table.layer, table.name).schema().fields
    except Exception:
        return None
    return [(f.name, str(getattr(f.type, "type", f.type))) for f in fields]


def _dataset(
    settings: Settings,
    table: Table,
    schema: Schema | None,
    columns: dict[str, list[Any]] | None = None,
    output: bool = False,
) -> Any:
    from openlineage.client.event_v2 import InputDataset, OutputDataset
    from openlineage.client.facet_v2 import column_lineage_dataset, schema_dataset

    facets: dict[str, Any] = {}
    if schema is not None:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[schema_dataset.SchemaDatasetFacetFields(name=n, type=t) for n, t in schema]
        )
    if columns:
        fields = {}
        for column, sources in columns.items():
            inputs = []
            for src in sources:
                namespace, name = dataset_id(settings, src.table)
                transformations = (
                    [
                        column_lineage_dataset.Transformation(
                            type="DIRECT", subtype="TRANSFORMATION", masking=True
                        )
                    ]
                    if src.masked
                    else []
                )
                inputs.append(
                    column_lineage_dataset.InputField(
                        namespace=namespace,
                        name=name,
                        field=src.column,
                        transformations=transformations,
                    )
                )
            fields[column] = column_lineage_dataset.Fields(inputFields=inputs)
        facets["columnLineage"] = column_lineage_dataset.ColumnLineageDatasetFacet(fields=fields)
    namespace, name = dataset_id(settings, table)
    cls = OutputDataset if output else InputDataset
    return cls(namespace=namespace, name=name, facets=facets)


def step_event(
    settings: Settings,
    catalog: Catalog,
    step: Step,
    event_type: str,
    run_id: str,
    parent: Parent | None,
    job_label: str,
    schemas: Mapping[Table, Schema | None] | None = None,
    error: BaseException | None = None,
) -> RunEvent:
    """One event of a write's run. START names the tables; COMPLETE adds each table's schema
    (from ``schemas``) and the outputs' column lineage; FAIL carries the error.

    The job is named ``<parent job>.<step>`` (``ingest_x.load.silver.x``) under the parent's
    namespace, so a lineage server lists a task's writes beside it."""
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import error_message_run, job_type_job, parent_run

    schemas = schemas or {}
    complete = event_type == "COMPLETE"
    run_facets: dict[str, Any] = {}
    if parent is not None:
        root = None
        if parent.root_run_id:
            root = parent_run.Root(
                run=parent_run.RootRun(runId=parent.root_run_id),
                job=parent_run.RootJob(namespace=parent.namespace, name=parent.root_job_name),
            )
        run_facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=parent.run_id),
            job=parent_run.Job(namespace=parent.namespace, name=parent.job_name),
            root=root,
        )
    if error is not None:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=str(error)[:2000], programmingLanguage="PYTHON"
        )
    namespace = parent.namespace if parent is not None else settings.lineage_namespace
    return RunEvent(
        eventType=RunState[event_type],
        eventTime=dt.datetime.now(dt.UTC).isoformat(),
        producer=PRODUCER,
        run=Run(runId=run_id, facets=run_facets),
        job=Job(
            namespace=namespace,
            name=f"{job_label}.{step.name}",
            facets={
                "jobType": job_type_job.JobTypeJobFacet(
                    processingType="BATCH", integration=INTEGRATION, jobType="WRITE"
                )
            },
        ),
        inputs=[_dataset(settings, t, schemas.get(t)) for t in step.inputs],
        outputs=[
            _dataset(
                settings,
                t,
                schemas.get(t),
                column_lineage(catalog, step, t) if complete else None,
                output=True,
            )
            for t in step.outputs
        ],
    )


def to_dict(event: RunEvent) -> dict[str, Any]:
    """The event as the transports write it (JSON-ready)."""
    import json

    from openlineage.client.serde import Serde

    return json.loads(Serde.to_json(event))


def _emit(client: OpenLineageClient, build: Callable[[], RunEvent]) -> None:
    """Build one event and emit it; a failure of either is a warning, never the task's."""
    try:
        event = build()
    except Exception as exc:
        log.warning("OpenLineage: could not build an event (%s)", exc)
        return
    try:
        client.emit(event)
    except Exception as exc:
        log.warning("OpenLineage: could not emit %s %s (%s)", event.eventType, event.job.name, exc)


@contextlib.contextmanager
def emitting(
    settings: Settings,
    catalog: Catalog,
    job: str,
    subject: str,
    parent: Parent | None,
    job_label: str,
) -> Iterator[None]:
    """Emit START for each write of the job, then COMPLETE (or FAIL with the error) when the
    body ends; nothing when lineage is off or the job writes no lake table."""
    try:
        steps = job_steps(catalog, job, subject)
        client = make_client(settings, parent) if steps else None
    except Exception as exc:
        log.warning("OpenLineage: no client (%s); the job runs without lineage events", exc)
        client = None
    if client is None:
        yield
        return
    runs = [(step, new_run_id()) for step in steps]

    def emit_all(event_type: str, error: BaseException | None = None) -> None:
        # A table one step writes and the next reads (bronze in a load) has its log read once.
        known: dict[Any, Any] = {}

        def schemas(step: Any) -> dict[Any, Any] | None:
            if event_type != "COMPLETE":
                return None
            for table in {*step.inputs, *step.outputs} - known.keys():
                known[table] = delta_schema(settings, table)
            return {t: known[t] for t in {*step.inputs, *step.outputs}}

        for step, run_id in runs:
            _emit(
                client,
                lambda step=step, run_id=run_id: step_event(
                    settings,
                    catalog,
                    step,
                    event_type,
                    run_id,
                    parent,
                    job_label,
                    schemas=schemas(step),
                    error=error,
                ),
            )

    emit_all("START")
    try:
        yield
    except BaseException as exc:
        emit_all("FAIL", exc)
        raise
    else:
        emit_all("COMPLETE")
    finally:
        if parent is None:  # a client of its own: flushed here; the provider's stays open
            with contextlib.suppress(Exception):
                client.close(timeout=5)


def report_task_io(settings: Settings, catalog: Catalog, job: str, subject: str) -> None:
    """Hand the task's lake inputs and outputs to the Airflow provider through hook lineage:
    its COMPLETE (or FAIL) event of the task then names them. A no-op outside an Airflow task
    or with OpenLineage off (the collector is then a no-op)."""
    try:
        from airflow.sdk.lineage import get_hook_lineage_collector
    except ImportError:
        return
    try:
        collector = get_hook_lineage_collector()
        inputs, outputs = task_io(catalog, job, subject)
        for table in inputs:
            collector.add_input_asset(context=_HOOK, uri=asset_uri(settings, table))
        for table in outputs:
            collector.add_output_asset(context=_HOOK, uri=asset_uri(settings, table))
    except Exception as exc:
        log.warning("OpenLineage: could not report the task's tables (%s)", exc)


class _LakeLineage:
    """The hook lineage context of the platform's tables (the collector keys entries by it)."""


_HOOK = _LakeLineage()
