"""Checks of emitted OpenLineage events: against the OpenLineage model, and as a lineage graph.

The model check structures each event into the openlineage-python classes generated from the
OpenLineage JSON schema (required fields, no unknown ones, UUID run ids, ISO times, the event
types) and validates the Airflow provider's facets against the JSON schemas the provider ships.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from enforcement_brain.lineage.declared import Table, table_of
from enforcement_brain.lineage.events import INTEGRATION
from enforcement_brain.settings import Settings


def read_events(folder: Path) -> list[dict[str, Any]]:
    """Every event a file transport wrote under ``folder`` (one JSON file each, or JSON lines),
    in time order."""
    out = []
    for path in sorted(folder.glob("*")):
        if path.is_file():
            out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sorted(out, key=lambda e: e.get("eventTime", ""))


def events_graph(
    settings: Settings, events: Iterable[Mapping[str, Any]]
) -> set[tuple[Table, Table]]:
    """Table → table edges the platform's completed write runs describe (each input to each
    output). Quarantine tables are drawn as their silver table, as the console draws them."""
    edges = set()
    for event in events:
        facets = event.get("job", {}).get("facets", {})
        if event.get("eventType") != "COMPLETE":
            continue
        if facets.get("jobType", {}).get("integration") != INTEGRATION:
            continue
        inputs = [_node(settings, d) for d in event.get("inputs", [])]
        outputs = [_node(settings, d) for d in event.get("outputs", [])]
        edges |= {(a, b) for a in inputs for b in outputs if a and b and a != b}
    return edges


def _node(settings: Settings, dataset: Mapping[str, Any]) -> Table | None:
    table = table_of(settings, dataset["namespace"], dataset["name"])
    if table is not None and table.layer == "quarantine":
        return Table("silver", table.name)
    return table


# -- the model ---------------------------------------------------------------------------------


#: Where apache-airflow-providers-openlineage 2.20.3 on Airflow 3.3 departs from the facet
#: schema it ships itself (``AirflowRunFacet.json``): its ``airflow`` facet has no
#: ``taskInstance.pool``, and ``task.retry_exponential_backoff`` is Airflow 3.3's multiplier
#: (a number) where the schema says a boolean. Reported by :func:`problems`; tests accept these
#: two and nothing else.
PROVIDER_SCHEMA_DRIFT = frozenset(
    {
        "run.airflow: 'pool' is a required property",
        "run.airflow: 0 is not of type 'boolean'",
    }
)


def problems(event: Mapping[str, Any]) -> list[str]:
    """What in ``event`` breaks the OpenLineage model; empty when nothing does."""
    out: list[str] = []
    try:
        _structure_event(dict(event))
    except Exception as exc:
        out.append(f"{type(exc).__name__}: {exc}")
    for where, name, facet in _facets(event):
        schema = _provider_schemas().get((where, name))
        if schema is not None:
            out += [f"{where}.{name}: {e}" for e in _schema_errors(schema, facet)]
    return out


def _facets(event: Mapping[str, Any]) -> Iterable[tuple[str, str, Any]]:
    for part in ("run", "job"):
        for name, facet in (event.get(part, {}) or {}).get("facets", {}).items():
            yield part, name, facet


def _structure_event(data: dict[str, Any]) -> Any:
    from openlineage.client import event_v2

    data = dict(data)
    if "eventType" in data:
        data["eventType"] = event_v2.RunState[data["eventType"]]
    run = dict(data.pop("run"))
    job = dict(data.pop("job"))
    run["facets"] = {k: _facet(k, v, "run") for k, v in (run.get("facets") or {}).items()}
    job["facets"] = {k: _facet(k, v, "job") for k, v in (job.get("facets") or {}).items()}
    data.pop("schemaURL", None)
    return event_v2.RunEvent(
        run=event_v2.Run(**run),
        job=event_v2.Job(**job),
        inputs=[_structure_dataset(d, event_v2.InputDataset) for d in data.pop("inputs", [])],
        outputs=[_structure_dataset(d, event_v2.OutputDataset) for d in data.pop("outputs", [])],
        **data,
    )


def _structure_dataset(data: Mapping[str, Any], cls: type) -> Any:
    data = dict(data)
    data["facets"] = {k: _facet(k, v, "dataset") for k, v in (data.get("facets") or {}).items()}
    for key in ("inputFacets", "outputFacets"):
        if key in data:
            data[key] = {k: _facet(k, v, key) for k, v in data[key].items()}
    return cls(**data)


def _facet(name: str, data: Mapping[str, Any], where: str) -> Any:
    """A facet of the standard set as its generated class (nested fields too). Every facet must
    carry ``_producer`` and ``_schemaURL`` (the spec's BaseFacet); the others (the provider's
    ``airflow*``, ``tags``, ``ownership``, ...) are checked by their shipped JSON schema when
    there is one (:func:`problems`)."""
    from openlineage.client.facet_v2 import (
        column_lineage_dataset,
        error_message_run,
        job_type_job,
        parent_run,
        schema_dataset,
    )

    missing = [k for k in ("_producer", "_schemaURL") if k not in data]
    if missing:
        raise ValueError(f"{where} facet {name!r} lacks {', '.join(missing)}")
    data = {k: v for k, v in data.items() if k not in ("_producer", "_schemaURL", "_deleted")}
    if name == "schema" and where == "dataset":
        return schema_dataset.SchemaDatasetFacet(fields=[_schema_field(f) for f in data["fields"]])
    if name == "columnLineage" and where == "dataset":
        cl = column_lineage_dataset

        def field(f: Mapping[str, Any]) -> Any:
            f = dict(f)
            f["transformations"] = [cl.Transformation(**t) for t in f.get("transformations", [])]
            return cl.InputField(**f)

        return cl.ColumnLineageDatasetFacet(
            fields={
                k: cl.Fields(
                    inputFields=[field(f) for f in v["inputFields"]],
                    **{x: y for x, y in v.items() if x != "inputFields"},
                )
                for k, v in data["fields"].items()
            },
            dataset=[field(f) for f in data.get("dataset", [])],
        )
    if name == "parent" and where == "run":
        root = data.get("root")
        return parent_run.ParentRunFacet(
            run=parent_run.Run(**data["run"]),
            job=parent_run.Job(**data["job"]),
            root=(
                parent_run.Root(
                    run=parent_run.RootRun(**root["run"]), job=parent_run.RootJob(**root["job"])
                )
                if root
                else None
            ),
        )
    if name == "errorMessage" and where == "run":
        return error_message_run.ErrorMessageRunFacet(**data)
    if name == "jobType" and where == "job":
        return job_type_job.JobTypeJobFacet(**data)
    return data


def _schema_field(data: Mapping[str, Any]) -> Any:
    from openlineage.client.facet_v2 import schema_dataset

    data = dict(data)
    data["fields"] = [_schema_field(f) for f in data.get("fields", [])]
    return schema_dataset.SchemaDatasetFacetFields(**data)


@functools.cache
def _provider_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """The JSON schemas of the facets the Airflow provider adds, as the provider ships them, by
    where the facet sits and its name (``("run", "airflow")``, ``("job", "airflow")``,
    ``("run", "airflowDagRun")``, ...). A name alone is ambiguous: ``airflow`` is the task run's
    facet on a run and the DAG's tasks on a job. Which one a file describes is in its name
    (``AirflowJobFacet.json``): the schemas themselves all extend ``RunFacet``."""
    try:
        import airflow.providers.openlineage.facets as facets
    except ImportError:
        return {}
    out = {}
    for path in Path(facets.__file__ or "").parent.glob("*.json"):
        schema = json.loads(path.read_text())
        part = "job" if path.stem.endswith("JobFacet") else "run"
        for name, prop in _facet_properties(schema).items():
            out[part, name] = {**schema, "$ref": prop}
    return out


def _facet_properties(schema: Mapping[str, Any]) -> dict[str, str]:
    """``facet name → $ref`` of the facet's definition, from the schema's ``properties``."""
    return {
        name: prop["$ref"]
        for name, prop in schema.get("properties", {}).items()
        if isinstance(prop, Mapping) and "$ref" in prop
    }


#: The core spec's facet base types the facet schemas extend (``allOf`` with a ``$ref`` to
#: ``OpenLineage.json#/$defs/RunFacet``). No installed package ships the core schema, so they
#: stand here as open schemas: the base's own fields (``_producer``, ``_schemaURL``) are
#: checked by :func:`_facet` instead.
_CORE_BASES = {
    "$defs": {
        name: {}
        for name in (
            "BaseFacet",
            "RunFacet",
            "JobFacet",
            "DatasetFacet",
            "InputDatasetFacet",
            "OutputDatasetFacet",
        )
    }
}


def _schema_errors(schema: Mapping[str, Any], facet: Any) -> list[str]:
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    def retrieve(uri: str) -> Resource:
        return Resource.from_contents(_CORE_BASES, default_specification=DRAFT202012)

    registry: Registry = Registry(retrieve=retrieve)  # type: ignore[call-arg]
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    return [e.message for e in validator.iter_errors(facet)]
