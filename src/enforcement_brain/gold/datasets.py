"""Build a shared dataset by running its SQL file over the silver inputs of a publish.

Why SQL: a dataset is read, reviewed and changed by analysts, who run the same file in
``make sql`` against whole tables. At publish time the same text runs with each ``silver.<source>``
bound to just the rows the publish may read (the partitions the day's deliveries touched), so
the query stays the analyst's and the cost follows the day's data.

The inputs are bound as DataFrame arguments of ``spark.sql`` (``{name}`` in the text), not as
temporary views: over Spark Connect they travel with the query's plan, so a long session (a
backfill, the shared server) keeps no view per build, and two builds cannot see each other's
inputs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from enforcement_brain.declarations import SILVER_REF, Catalog, Dataset
from enforcement_brain.standards.sql_library import session_statements

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def bind_inputs(sql: str, views: dict[str, str]) -> str:
    """``sql`` with every ``silver.<source>`` replaced by the named view of that source."""
    return SILVER_REF.sub(lambda m: views.get(m.group(1), m.group(0)), sql)


def prepare_session(spark: SparkSession, catalog: Catalog, dataset: Dataset) -> None:
    """Declare the functions, ``ref.*`` views and params the dataset's SQL uses."""
    for statement in session_statements(catalog.root, dataset.sql, dataset.params):
        spark.sql(statement)


def build(
    spark: SparkSession, catalog: Catalog, dataset: Dataset, inputs: dict[str, DataFrame]
) -> DataFrame:
    """The dataset's rows from ``inputs`` (silver DataFrames by source id), by its SQL file."""
    missing = [s for s in dataset.sources if s not in inputs]
    if missing:
        raise KeyError(f"{dataset.id}: no input for source(s) {', '.join(missing)}")
    prepare_session(spark, catalog, dataset)
    # braces of the SQL itself (a regex quantifier) are kept as text by the formatter
    text = dataset.sql.replace("{", "{{").replace("}", "}}")
    names = {sid: f"in_{sid}" for sid in dataset.sources}
    bound = bind_inputs(text, {sid: "{" + name + "}" for sid, name in names.items()})
    return spark.sql(bound, **{names[sid]: inputs[sid] for sid in dataset.sources})
