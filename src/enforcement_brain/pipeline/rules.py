"""The pipeline's side of the row rules: typing the delivered text, and the violations column.

The checks themselves are SQL text compiled from the declared rules by
:mod:`enforcement_brain.standards.rule_kinds` (``compile_checks``), where each rule kind is
declared once; the same text is written into the GX suites and the Delta constraints. Here they
become Spark columns.

All of a source's checks are gathered into one array column, ``_violations``, in a single
projection; one aggregate then counts every rule for the ledger. That is one Spark job per batch,
where GX runs one per expectation (docs/benchmarks.md compares the two).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from enforcement_brain.standards.rule_kinds import CompiledCheck, compile_checks
from enforcement_brain.standards.rule_kinds.sql import blank_to_null, ident, sql_string

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn

__all__ = [
    "CompiledCheck",
    "compile_checks",
    "rule_counts",
    "typed",
    "typed_sql",
    "violations_column",
]

TIME_FORMAT = "yyyy-MM-dd HH:mm:ss"
SQL_TYPES = {"int": "int", "bigint": "bigint", "double": "double", "boolean": "boolean"}


def typed_sql(text_sql: str, type_: str) -> str:
    """The typed value of a delivered (trimmed, non-blank) text; null when it does not parse."""
    if type_ == "timestamp":
        return f"try_to_timestamp({text_sql}, {sql_string(TIME_FORMAT)})"
    if type_ == "date":
        return f"try_to_date({text_sql}, 'yyyy-MM-dd')"
    if type_ == "string":
        return text_sql
    sql_type = SQL_TYPES[type_]
    # JSON numbers may arrive as "12.0" for an int column: go through double first for ints.
    if sql_type in ("int", "bigint"):
        d = f"try_cast({text_sql} as double)"
        return f"try_cast(CASE WHEN {d} = floor({d}) THEN {d} END AS {sql_type})"
    return f"try_cast({text_sql} as {sql_type})"


def typed(name: str, type_: str) -> SparkColumn:
    """The typed value of a delivered string column (bronze), as a Spark column."""
    from pyspark.sql import functions as F

    return F.expr(typed_sql(blank_to_null(ident(name)), type_))


def violations_column(checks: list[CompiledCheck]) -> SparkColumn:
    """``array<string>`` of the rule ids a row breaks (each id once), in declared order."""
    from pyspark.sql import functions as F

    if not checks:
        return F.array().cast("array<string>")
    flags = [F.when(c.violated, F.lit(c.rule.id)) for c in checks]
    return F.array_distinct(F.filter(F.array(*flags), lambda x: x.isNotNull()))


def rule_counts(rule_ids: list[str]) -> list[SparkColumn]:
    """Aggregate columns, one per rule id (named by it): the rows whose ``_all_broken`` holds it.

    Part of the one aggregate that counts a batch for the ledger (and the benchmark against GX).
    """
    from pyspark.sql import functions as F

    return [F.sum(F.array_contains("_all_broken", rid).cast("int")).alias(rid) for rid in rule_ids]
