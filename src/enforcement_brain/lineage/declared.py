"""What each job reads and writes, and which column comes from which, from the declarations.

One derivation for the events (:mod:`.events`) and their checks (:mod:`.check`): the sources'
declarations for bronze and silver, the datasets' SQL for gold, the interfaces' column
projections for the share tables. Dataset names follow the OpenLineage naming spec for files
and object stores: namespace ``file`` (or ``s3://<bucket>``), name the table's path.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from enforcement_brain.settings import Settings

if TYPE_CHECKING:
    from enforcement_brain.declarations import Catalog


@dataclass(frozen=True, order=True)
class Table:
    """A location of the lake: a layer and a table (for ``landing``, a source's folder)."""

    layer: str
    name: str


@dataclass(frozen=True)
class Step:
    """One write of a job: the tables it reads and the tables it writes."""

    name: str
    inputs: tuple[Table, ...]
    outputs: tuple[Table, ...]


@dataclass(frozen=True)
class ColumnSource:
    """An input column an output column is computed from; ``masked`` when the output only
    carries a masked form of it."""

    table: Table
    column: str
    masked: bool = False


# -- names -------------------------------------------------------------------------------------


def _lake_id(settings: Settings) -> tuple[str, str]:
    """The lake root as an OpenLineage (namespace, name prefix)."""
    root = settings.lake_root.rstrip("/")
    if settings.lake_is_local:
        return "file", root.removeprefix("file://")
    _, _, rest = root.partition("://")
    bucket, _, prefix = rest.partition("/")
    return f"s3://{bucket}", prefix


def dataset_id(settings: Settings, table: Table) -> tuple[str, str]:
    """``(namespace, name)`` of a lake location: ``("file", "/abs/lake/silver/x")`` for a
    local lake, ``("s3://bucket", "prefix/silver/x")`` for an object store."""
    namespace, prefix = _lake_id(settings)
    path = f"{table.layer}/{table.name}"
    return namespace, f"{prefix}/{path}" if prefix else path


def asset_uri(settings: Settings, table: Table) -> str:
    """The Airflow asset URI of a lake location, in the scheme the provider converts to the same
    OpenLineage dataset as :func:`dataset_id` (``file://`` or ``s3://``)."""
    namespace, name = dataset_id(settings, table)
    return f"file://{name}" if namespace == "file" else f"{namespace}/{name}"


def table_of(settings: Settings, namespace: str, name: str) -> Table | None:
    """The lake location an OpenLineage dataset names, or None for one outside the lake."""
    lake_namespace, prefix = _lake_id(settings)
    if namespace != lake_namespace:
        return None
    rest = name.removeprefix(f"{prefix}/") if prefix else name
    if prefix and rest == name:
        return None
    layer, _, table = rest.partition("/")
    if layer not in {"landing", "bronze", "silver", "quarantine", "gold", "share", "ops"}:
        return None
    if not table or "/" in table:
        return None
    return Table(layer, table)


# -- steps -------------------------------------------------------------------------------------


def _load_steps(source_id: str) -> list[Step]:
    bronze = Table("bronze", source_id)
    return [
        Step(f"bronze.{source_id}", (Table("landing", source_id),), (bronze,)),
        Step(
            f"silver.{source_id}",
            (bronze,),
            (Table("silver", source_id), Table("quarantine", source_id)),
        ),
    ]


def job_steps(catalog: Catalog, job: str, subject: str) -> list[Step]:
    """The writes of ``jobs.<job>`` for ``subject``, in order: each becomes a run of its own,
    a child of the task's. Validation and maintenance write no lake table of their own (their
    results go to ``ops``), so they have none."""
    if job == "load_source":
        return _load_steps(subject)
    if job == "land_to_bronze":
        return _load_steps(subject)[:1]
    if job == "bronze_to_silver":
        return _load_steps(subject)[1:]
    if job == "publish_dataset":
        dataset = catalog.datasets[subject]
        return [
            Step(
                f"gold.{subject}",
                tuple(Table("silver", s) for s in dataset.sources),
                (Table("gold", subject),),
            )
        ]
    if job == "project_interface":
        from enforcement_brain.share.project import share_location

        steps: dict[str, Step] = {}
        for member in catalog.interface_families()[subject]:
            for entry in member.datasets:
                name, _ = share_location(member, entry.dataset)
                steps.setdefault(
                    name,
                    Step(f"share.{name}", (Table("gold", entry.dataset),), (Table("share", name),)),
                )
        return list(steps.values())
    return []


def task_io(
    catalog: Catalog, job: str, subject: str
) -> tuple[tuple[Table, ...], tuple[Table, ...]]:
    """What the task running ``jobs.<job>`` reads from outside itself and what it writes: the
    inputs and outputs of its Airflow task events."""
    if job == "validate_silver":
        names = [s.strip() for s in subject.split(",") if s.strip()]
        sources = list(catalog.sources) if names in ([], ["all"]) else names
        return tuple(Table("silver", s) for s in sources), ()
    steps = job_steps(catalog, job, subject)
    outputs = tuple(dict.fromkeys(o for s in steps for o in s.outputs))
    inputs = tuple(dict.fromkeys(i for s in steps for i in s.inputs if i not in outputs))
    return inputs, outputs


# -- column lineage ----------------------------------------------------------------------------

#: Spark's typed numeric literals (``0.0D``, ``10L``): the same number to the lineage parser,
#: which reads ANSI SQL and stops at the suffix.
_TYPED_LITERAL = re.compile(r"\b(\d+(?:\.\d+)?)[DLSYdlsy]\b")


@functools.cache
def _sql_column_lineage(sql: str) -> tuple[tuple[str, str, str, str], ...]:
    """``(output column, input schema, input table, input column)`` of a dataset's SQL, by
    openlineage-sql: the parser the OpenLineage integrations use."""
    import openlineage_sql

    parsed = openlineage_sql.parse([_TYPED_LITERAL.sub(r"\1", sql)], dialect="sparksql")
    out = []
    for meta in parsed.column_lineage:
        for origin in meta.lineage:
            if origin.origin is not None:
                out.append(
                    (
                        meta.descendant.name,
                        origin.origin.schema or "",
                        origin.origin.name,
                        origin.name,
                    )
                )
    return tuple(out)


def column_lineage(catalog: Catalog, step: Step, output: Table) -> dict[str, list[ColumnSource]]:
    """Per output column, the input columns it comes from, where the declarations say:

    * silver: each declared column of the source from the bronze column of that name;
    * gold: the dataset's SQL (its ``silver.*`` columns; the ``ref.*`` code tables are views of
      the standards, not lake tables);
    * share: the interface's projection, ``masked`` where a recipient gets a masked value.

    Empty for the other outputs (quarantine keeps the rejected rows as delivered).
    """
    if output.layer == "silver":
        bronze = Table("bronze", output.name)
        return {c: [ColumnSource(bronze, c)] for c in catalog.sources[output.name].column_names}
    if output.layer == "gold":
        dataset = catalog.datasets[output.name]
        allowed = set(dataset.columns) if dataset.columns else None
        gold: dict[str, list[ColumnSource]] = {}
        for column, schema, table, field in _sql_column_lineage(dataset.sql):
            if schema != "silver" or table not in dataset.sources:
                continue
            if allowed is not None and column not in allowed:
                continue
            src = ColumnSource(Table("silver", table), field)
            if src not in gold.setdefault(column, []):
                gold[column].append(src)
        return gold
    if output.layer == "share":
        (source,) = step.inputs
        from enforcement_brain.share.project import share_location

        family = next(
            members
            for members in catalog.interface_families().values()
            if any(
                share_location(m, e.dataset)[0] == output.name for m in members for e in m.datasets
            )
        )
        entries = [e for m in family for e in m.datasets if e.dataset == source.name]
        return {
            c: [ColumnSource(source, c, masked=any(c in e.masks for e in entries))]
            for c in entries[0].columns
        }
    return {}


# -- the declared graph ------------------------------------------------------------------------

#: The console lineage's node kinds as lake layers (its ``source`` boxes are their landing
#: folders; ``interface`` boxes are served by the sharing service, not written to the lake).
_NODE_LAYERS = {
    "source": "landing",
    "bronze": "bronze",
    "silver": "silver",
    "gold": "gold",
    "share": "share",
}


def declared_graph(catalog: Catalog) -> set[tuple[Table, Table]]:
    """Table → table edges of the console's lineage (:func:`~enforcement_brain.console.queries.
    lineage`), between the lake locations its boxes stand for."""
    from enforcement_brain.console.queries import lineage

    edges = set()
    for start, end in lineage(catalog)["edges"]:
        (kind_a, _, a), (kind_b, _, b) = start.partition(":"), end.partition(":")
        if kind_a in _NODE_LAYERS and kind_b in _NODE_LAYERS:
            edges.add((Table(_NODE_LAYERS[kind_a], a), Table(_NODE_LAYERS[kind_b], b)))
    return edges
