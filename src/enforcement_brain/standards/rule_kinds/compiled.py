"""A source's rules compiled into SQL checks, one per (rule, column), in declared order.

Each check is a boolean SQL expression, true when the row breaks the rule, on the *conformed*
row (typed columns plus the delivered text in ``_raw``). The pipeline evaluates them in one
projection; the GX suites, the Delta constraints and the rendered standard all start from this
same list, so none of them can apply a different set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from enforcement_brain.standards.rule_kinds.base import ColumnCheck, ColumnKind, RowKind, kind_of
from enforcement_brain.standards.rule_kinds.sql import raw_ref, typed_ref

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn

    from enforcement_brain.declarations import Catalog, Column, Rule, Source


@dataclass(frozen=True)
class CompiledCheck:
    rule: Rule
    column: str | None  # None for record-level rules
    sql: str  # true when the row breaks the rule

    @property
    def violated(self) -> SparkColumn:
        from pyspark.sql import functions as F

        return F.expr(self.sql)


def column_violation_sql(catalog: Catalog, rule: Rule, column: Column, raw: str, value: str) -> str:
    """SQL true when ``column`` breaks ``rule``; ``raw`` is its text, ``value`` its typed value.

    A missing value never breaks a column rule: presence is R_REQUIRED_PRESENT's job.
    """
    kind = kind_of(rule)
    if not isinstance(kind, ColumnKind):
        raise TypeError(f"rule {rule.id}: kind '{kind.name}' judges whole rows, not a column")
    element = catalog.elements[column.element]
    ok = kind.valid_sql(ColumnCheck(catalog, rule, column, element, raw, value))
    return f"({raw} IS NOT NULL AND NOT coalesce({ok}, false))"


def row_violation_sql(catalog: Catalog, source: Source, rule: Rule) -> str | None:
    """SQL for a rule that reads several columns of a row, or None if it is a column rule."""
    kind = kind_of(rule)
    return kind.violation_sql(catalog, source, rule) if isinstance(kind, RowKind) else None


def compile_checks(catalog: Catalog, source: Source) -> list[CompiledCheck]:
    """Every (rule, column) check of a source, in declared order, as SQL on a conformed row."""
    checks: list[CompiledCheck] = []
    for rule in catalog.rules_for(source):
        row_sql = row_violation_sql(catalog, source, rule)
        if row_sql is not None:
            checks.append(CompiledCheck(rule, None, f"coalesce({row_sql}, true)"))
            continue
        for column in (c for c in source.columns if c.element in rule.elements):
            sql = column_violation_sql(
                catalog, rule, column, raw_ref(column.name), typed_ref(column.name)
            )
            checks.append(CompiledCheck(rule, column.name, f"coalesce({sql}, true)"))
    return checks
