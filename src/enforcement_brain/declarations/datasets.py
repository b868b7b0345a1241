"""Shared datasets (``data_standards/datasets/<id>.yaml`` beside ``<id>.sql``).

The YAML states what the SQL cannot: grain, key, partitioning, classification, which sources
drive a rebuild and the params the SQL reads as variables. It is checked against the SQL so the
two cannot disagree on what is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from enforcement_brain.declarations.elements import Element
from enforcement_brain.declarations.reading import (
    CLASSIFICATION_LEVELS,
    ID,
    as_tuple,
    level_rank,
    need,
    quality_block,
    read_yaml,
)
from enforcement_brain.declarations.sources import Source
from enforcement_brain.errors import DeclarationError


@dataclass(frozen=True)
class GateCheck:
    """A condition a dataset's rows must meet before a publish is committed."""

    id: str
    title: str
    expr: str


@dataclass(frozen=True)
class Dataset:
    """One shared dataset: its SQL's metadata (grain, key, partitions, classification)."""

    id: str
    title: str
    title_zh: str
    grain: str
    owner: str
    classification: str
    sources: tuple[str, ...]
    partition_by: str
    business_key: tuple[str, ...]
    change_data_feed: bool
    gate: tuple[GateCheck, ...]
    path: Path
    refresh: str = ""
    quality: dict[str, Any] = field(default_factory=dict)
    #: Per source, the column whose local date places a row in the dataset's partitions (default
    #: ``biz_date``). Records updated in place (cases, tickets, tasks) keep a stable date here,
    #: so a late update rebuilds the partition the record belongs to and never leaves a stale copy.
    date_columns: dict[str, str] = field(default_factory=dict)
    #: Sources read whole at every publish (registers, lists, permits): they describe the state
    #: the events are judged against, so they neither drive nor restrict the affected partitions.
    reference: tuple[str, ...] = ()
    #: ``day``: one partition per date; ``month``: one per month (partition value = first day).
    period: str = "day"
    #: The builder's declared parameters (codes it selects, mappings): kept with the declaration.
    params: dict[str, Any] = field(default_factory=dict)
    #: The builder's output columns, in order: what an interface may share, checked at publish.
    columns: tuple[str, ...] = ()
    #: Data elements of columns not named after their element (``lon: longitude``); a column
    #: named like an element (``plate_no``) carries that element without being listed.
    elements: dict[str, str] = field(default_factory=dict)
    #: The text of :attr:`sql_path`, read (and checked) once when the declaration loads.
    sql: str = field(default="", repr=False)

    def element_of(self, column: str, known: dict[str, Element]) -> Element | None:
        """The data element a column carries (its classification decides its masking)."""
        eid = self.elements.get(column, column)
        return known.get(eid)

    @property
    def driving_sources(self) -> tuple[str, ...]:
        """Sources whose deliveries decide which partitions a publish rebuilds."""
        return tuple(s for s in self.sources if s not in self.reference)

    def date_column(self, source_id: str) -> str:
        """The column placing ``source_id``'s rows in partitions (see ``date_columns``)."""
        return self.date_columns.get(source_id, "biz_date")

    @property
    def sql_path(self) -> Path:
        """The dataset's Spark SQL, beside its declaration: one SELECT over ``silver.*``."""
        return self.path.with_suffix(".sql")


#: Partition periods a dataset may declare.
PERIODS = ("day", "month")

_DATASET_KEYS = {
    "id", "title", "title_zh", "grain", "owner", "classification", "sources",
    "refresh", "partition_by", "business_key", "change_data_feed", "quality", "gate",
    "date_columns", "reference", "period", "params", "columns", "elements",
}  # fmt: skip


def load_dataset(
    path: Path, sources: dict[str, Source], elements: dict[str, Element] | None = None
) -> Dataset:
    """One dataset declaration, checked against the sources, the elements and its SQL file.

    Reference and date columns must name its own sources, its columns may carry nothing
    classified above it, and its SQL must read exactly its sources.
    """
    data = read_yaml(path)
    did = need(data, "id", str(path))
    where = f"{path} (dataset {did})"
    for sid in as_tuple(need(data, "sources", where)):
        if sid not in sources:
            raise DeclarationError(f"{where}: unknown source '{sid}'")
    unknown = set(data) - _DATASET_KEYS
    if unknown:
        raise DeclarationError(f"{where}: unknown keys {sorted(unknown)}")
    if not ID.match(did) or did != path.stem:
        raise DeclarationError(f"{where}: id must be snake_case and equal the file name")
    declared = as_tuple(data["sources"])
    gate = tuple(GateCheck(g["id"], g["title"], g["expr"]) for g in data.get("gate", []))
    if len({g.id for g in gate}) != len(gate):
        raise DeclarationError(f"{where}: duplicate gate id")
    level = data.get("classification", "L1")
    if level not in CLASSIFICATION_LEVELS:
        raise DeclarationError(
            f"{where}: classification must be one of {', '.join(CLASSIFICATION_LEVELS)}"
        )
    reference = as_tuple(data.get("reference"))
    for sid in reference:
        if sid not in declared:
            raise DeclarationError(f"{where}: reference source '{sid}' is not in its sources")
    if not [s for s in declared if s not in reference]:
        raise DeclarationError(f"{where}: at least one source must not be a reference source")
    date_columns = dict(data.get("date_columns") or {})
    for sid, column in date_columns.items():
        if sid not in declared or sid in reference:
            raise DeclarationError(
                f"{where}: date_columns names '{sid}', not one of its non-reference sources"
            )
        if column == "biz_date":
            continue
        if column not in sources[sid].column_names:
            raise DeclarationError(f"{where}: '{column}' is not a column of source '{sid}'")
        if sources[sid].column(column).type not in ("date", "timestamp"):
            raise DeclarationError(f"{where}: date column '{sid}.{column}' is not a date or time")
    period = str(data.get("period", "day"))
    if period not in PERIODS:
        raise DeclarationError(f"{where}: period must be one of {', '.join(PERIODS)}")
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise DeclarationError(f"{where}: params must be a mapping")
    columns, column_elements = dataset_columns(data, where, level, elements or {})
    sql = read_dataset_sql(path.with_suffix(".sql"), declared, where)
    return Dataset(
        id=did,
        title=need(data, "title", where),
        title_zh=data.get("title_zh", ""),
        grain=need(data, "grain", where),
        owner=data.get("owner", ""),
        classification=level,
        sources=declared,
        partition_by=need(data, "partition_by", where),
        business_key=as_tuple(need(data, "business_key", where)),
        change_data_feed=bool(data.get("change_data_feed", True)),
        gate=gate,
        path=path,
        refresh=str(data.get("refresh", "")),
        quality=quality_block(data, where),
        date_columns=date_columns,
        reference=reference,
        period=period,
        params=params,
        columns=columns,
        elements=column_elements,
        sql=sql,
    )


#: A silver table named in a dataset's SQL (``silver.<source>``).
SILVER_REF = re.compile(r"\bsilver\.(\w+)")


def read_dataset_sql(sql_path: Path, declared: tuple[str, ...], where: str) -> str:
    """The SQL file's text, once it is found to exist and to read exactly the declared sources.

    The declaration's ``sources`` decide what a publish reads and which loads trigger it: a SQL
    that reads an undeclared table would run on a whole table nobody restricted, and a declared
    source it never reads would trigger publishes for nothing.
    """
    if not sql_path.is_file():
        raise DeclarationError(f"{where}: no SQL file {sql_path.name} beside the declaration")
    text = sql_path.read_text(encoding="utf-8")
    read = set(SILVER_REF.findall(text))
    undeclared = sorted(read - set(declared))
    if undeclared:
        names = ", ".join(f"silver.{s}" for s in undeclared)
        raise DeclarationError(f"{where}: {sql_path.name} reads {names}, not among its sources")
    if set(declared) - read:
        raise DeclarationError(
            f"{where}: source(s) {', '.join(sorted(set(declared) - read))} are declared but "
            f"{sql_path.name} never reads them"
        )
    return text


def check_params(datasets: dict[str, Dataset]) -> None:
    """A param is a SQL session variable: one name has one value across all datasets."""
    seen: dict[str, tuple[str, Any]] = {}
    for d in datasets.values():
        for name, value in d.params.items():
            if not ID.match(name):
                raise DeclarationError(
                    f"{d.path} (dataset {d.id}): param '{name}' is not snake_case"
                )
            if name in seen and seen[name][1] != value:
                raise DeclarationError(
                    f"{d.path} (dataset {d.id}): param '{name}' differs from dataset "
                    f"{seen[name][0]}'s; a param name has one value (it is one SQL variable)"
                )
            seen.setdefault(name, (d.id, value))


def dataset_columns(
    data: dict[str, Any], where: str, level: str, elements: dict[str, Element]
) -> tuple[tuple[str, ...], dict[str, str]]:
    """A dataset's declared output columns and their elements, cross-checked.

    The partition column and business key must be among them, and no column may carry an
    element classified above the dataset: the dataset's level is what interfaces are cleared
    against, so it must not understate what the table holds.
    """
    raw = data.get("columns")
    if raw is None:
        if data.get("elements"):
            raise DeclarationError(f"{where}: 'elements' needs a 'columns' list")
        return (), {}
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw) or not raw:
        raise DeclarationError(f"{where}: columns must be a list of column names")
    columns = tuple(raw)
    if len(set(columns)) != len(columns):
        dup = next(c for c in columns if columns.count(c) > 1)
        raise DeclarationError(f"{where}: column '{dup}' is declared twice")
    for key in (data.get("partition_by"), *as_tuple(data.get("business_key"))):
        if key not in columns:
            raise DeclarationError(f"{where}: '{key}' (partition or key) is not in its columns")
    mapping = dict(data.get("elements") or {})
    for column, eid in mapping.items():
        if column not in columns:
            raise DeclarationError(f"{where}: elements names '{column}', not one of its columns")
        if eid not in elements:
            raise DeclarationError(f"{where}: column {column}: unknown element '{eid}'")
    if elements:
        for column in columns:
            element = elements.get(mapping.get(column, column))
            if element and level_rank(element.classification) > level_rank(level):
                raise DeclarationError(
                    f"{where}: column {column} carries element '{element.id}' "
                    f"({element.classification}), above the dataset's classification {level}"
                )
    return columns, mapping
