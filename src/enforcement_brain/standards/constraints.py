"""Delta constraints on the silver tables, compiled from the standards.

Why constraints as well as the pipeline's row rules: the pipeline quarantines a bad row before
the MERGE, so silver *should* only ever hold rows that meet the standard. A constraint makes the
table itself refuse a row that does not, whatever wrote it (a backfill script, a hand-run MERGE,
a future pipeline bug). So a constraint is only declared where the pipeline already guarantees
it: rules that quarantine or fail (never ``warn``: those rows load, flagged), and NOT NULL only
where a blocking rule makes a NULL impossible. Otherwise a constraint would turn a quarantined
row into a failed load.

Every expression is the rule's own SQL from :mod:`enforcement_brain.standards.rule_kinds`,
evaluated on the silver columns (the typed values; silver keeps no delivered text). What Delta
4.4.0 does with them was checked on a real table
(see ``tests/integration/test_standards_build.py``):

- ``ALTER TABLE ... ALTER COLUMN c SET NOT NULL`` is refused on a nullable column ("Cannot change
  nullable column to non-nullable", Spark 4.2), so NOT NULL is a named CHECK ``c IS NOT NULL``.
- Lambda functions are refused: Delta stores a constraint as its tokens joined by spaces and
  ``->`` comes back as ``- >``, which does not parse. The GB 32100 / GB 11643 checksums
  (``aggregate(sequence(1, 17), 0, (acc, i) -> acc + ...)``) are therefore unrolled into a plain
  sum of 17 terms, which is the same arithmetic.
- ``current_date()`` is accepted and evaluated at each write. It is kept only for rule kinds that
  compare a value with today as an upper bound (``Delta.clock_safe``): such a check can only go
  from false to true as time passes, so a row accepted once is accepted on every rewrite.
- ``rand()`` is accepted by ``ADD CONSTRAINT`` but then breaks every write; non-deterministic
  functions are never emitted.
- A CHECK whose result is NULL rejects the row, so every expression is made NULL-free.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from enforcement_brain.declarations import Catalog, Column, Rule, Source
from enforcement_brain.errors import EbError
from enforcement_brain.standards.rule_kinds import (
    column_violation_sql,
    compile_checks,
    kind_of,
    row_violation_sql,
)
from enforcement_brain.standards.rule_kinds.sql import ident, sql_string

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: Prefix of every constraint this module manages; others on the table are never touched.
PREFIX = "dqs_"
#: Row rules whose SQL reads the delivered record rather than the conformed columns.
_BRONZE_MARKERS = ("_raw.", "_corrupt_record", "_rescued_data")
_CLOCK = re.compile(
    r"\b(current_date|current_timestamp|now|curdate|localtimestamp|current_timezone)\b"
    r"|\bunix_timestamp\s*\(\s*\)",
    re.IGNORECASE,
)
_NON_DETERMINISTIC = re.compile(
    r"\b(rand|randn|random|uuid|shuffle|monotonically_increasing_id|spark_partition_id|"
    r"input_file_name|input_file_block_start|input_file_block_length|current_user|session_user|"
    r"try_reflect|reflect|java_method)\s*\(",
    re.IGNORECASE,
)
_SUBQUERY = re.compile(r"\bselect\b", re.IGNORECASE)
_RAW_SENTINEL = "\u0000raw\u0000"
_VALUE_SENTINEL = "\u0000value\u0000"


class ConstraintError(EbError):
    """A constraint could not be put on a silver table (the message names table and constraint)."""


# -- the checks as they can be stated on silver ---------------------------------------------------


@dataclass(frozen=True)
class SilverCheck:
    """One (rule, column) check of :func:`~enforcement_brain.standards.rule_kinds.compile_checks`.

    ``pipeline_sql`` is the pipeline's own text (on the conformed row, true when broken);
    ``silver_sql`` the same check on the silver columns, or None with ``note`` saying why it
    cannot be restated there (it is then enforced before silver only).
    """

    rule: Rule
    column: str | None
    pipeline_sql: str
    silver_sql: str | None
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.rule.id}/{self.column}" if self.column else self.rule.id


def _reads_text(catalog: Catalog, rule: Rule, column: Column) -> bool:
    """True when a column rule judges the delivered text, not just the typed value.

    Found by compiling the rule with sentinel references: the text is always read once to ask
    whether a value is present; reading it again (a regex, a code list, a checksum) or never
    reading the typed value means the check is about the text. Works for kinds added later.
    """
    sql = column_violation_sql(catalog, rule, column, _RAW_SENTINEL, _VALUE_SENTINEL)
    return sql.count(_RAW_SENTINEL) > 1 or _VALUE_SENTINEL not in sql


def silver_checks(catalog: Catalog, source: Source) -> list[SilverCheck]:
    """Every check the pipeline applies to ``source``, in its order, restated on silver columns.

    The list is ``compile_checks`` itself (same rules, same columns, same order), so the GX
    suites, the constraints and the rendered standard can never apply a different set.
    """
    out: list[SilverCheck] = []
    for check in compile_checks(catalog, source):
        rule = check.rule
        delta = kind_of(rule).delta
        if check.column is None:
            row_sql = row_violation_sql(catalog, source, rule) or ""
            if any(marker in row_sql for marker in _BRONZE_MARKERS):
                note = "checked before silver: reads the delivered record"
                if delta.not_null:
                    note += "; on silver its columns are NOT NULL"
                out.append(SilverCheck(rule, None, check.sql, None, note))
            else:
                out.append(SilverCheck(rule, None, check.sql, f"coalesce({row_sql}, true)"))
            continue
        column = source.column(check.column)
        if delta.before_silver:
            out.append(SilverCheck(rule, column.name, check.sql, None, delta.before_silver))
            continue
        if column.type != "string" and _reads_text(catalog, rule, column):
            note = (
                f"checked before silver: judges the delivered text of a {column.type} column, "
                "and silver keeps only the typed value"
            )
            out.append(SilverCheck(rule, column.name, check.sql, None, note))
            continue
        ref = ident(column.name)
        sql = column_violation_sql(catalog, rule, column, ref, ref)
        out.append(SilverCheck(rule, column.name, check.sql, f"coalesce({sql}, true)"))
    return out


def presence_rules(catalog: Catalog, source: Source) -> dict[str, Rule]:
    """The first rule applied to ``source`` that guarantees each basis of presence
    (``business_key``, ``required``: the kinds' ``Delta.not_null``)."""
    out: dict[str, Rule] = {}
    for rule in catalog.rules_for(source):
        basis = kind_of(rule).delta.not_null
        if basis:
            out.setdefault(basis, rule)
    return out


def not_null_columns(catalog: Catalog, source: Source) -> list[tuple[Column, Rule | None, str]]:
    """(column, presence rule, basis) for every business-key and required column, in order.

    ``basis`` is ``business_key`` or ``required``; a key column that is also required is listed
    once, as key. The rule is the one that enforces presence in the pipeline (None if the
    source has none).
    """
    rules = presence_rules(catalog, source)
    out = []
    for column in source.columns:
        if column.name in source.business_key:
            out.append((column, rules.get("business_key"), "business_key"))
        elif column.required:
            out.append((column, rules.get("required"), "required"))
    return out


# -- constraints -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Constraint:
    """A named Delta CHECK constraint and the rule of the standard it enforces."""

    name: str
    expr: str
    rule_id: str
    column: str | None  # the column a column rule checks; None for a row rule
    not_null: tuple[str, ...] = ()  # the columns a presence rule's NOT NULL constraint covers


@dataclass(frozen=True)
class Skipped:
    """A blocking check that stays with the pipeline, and why."""

    rule_id: str
    column: str | None
    reason: str


@dataclass(frozen=True)
class ConstraintPlan:
    constraints: list[Constraint]
    skipped: list[Skipped]


def constraint_name(rule_id: str, column: str | None) -> str:
    """``dqs_<rule>__<column>``: the name says which rule of the standard a constraint is."""
    name = PREFIX + rule_id.lower() + (f"__{column.lower()}" if column else "")
    return re.sub(r"[^a-z0-9_]", "_", name)


def _code_segments(sql: str) -> list[tuple[bool, str]]:
    """``sql`` split into (is_code, text): string literals and quoted identifiers are not code."""
    out: list[tuple[bool, str]] = []
    i, start, n = 0, 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"`":
            if start < i:
                out.append((True, sql[start:i]))
            j = i + 1
            while j < n:
                if sql[j] == "\\" and ch != "`":
                    j += 2
                    continue
                if sql[j] == ch:
                    if ch == "`" and j + 1 < n and sql[j + 1] == "`":
                        j += 2
                        continue
                    break
                j += 1
            out.append((False, sql[i : j + 1]))
            i = start = j + 1
            continue
        i += 1
    if start < n:
        out.append((True, sql[start:]))
    return out


def _code_only(sql: str) -> str:
    return " ".join(text for is_code, text in _code_segments(sql) if is_code)


def _in_code(sql: str, pos: int) -> bool:
    """Whether position ``pos`` of ``sql`` is outside string literals and quoted identifiers."""
    at = 0
    for is_code, text in _code_segments(sql):
        if at <= pos < at + len(text):
            return is_code
        at += len(text)
    return False


_AGGREGATE = re.compile(
    r"aggregate\(\s*sequence\(\s*(\d+)\s*,\s*(\d+)\s*\)\s*,\s*0\s*,\s*"
    r"\(\s*([a-z_]\w*)\s*,\s*([a-z_]\w*)\s*\)\s*->\s*\3\s*\+\s*",
    re.IGNORECASE,
)


def _close_paren(sql: str, start: int) -> int:
    """Index of the ``)`` closing the group open at ``start - 1`` (quotes respected)."""
    depth, pos = 1, start
    for is_code, text in _code_segments(sql[start:]):
        if is_code:
            for k, ch in enumerate(text):
                if ch == "(":
                    depth += 1
                elif ch == ")":
                    depth -= 1
                    if depth == 0:
                        return pos + k
        pos += len(text)
    raise ValueError("unbalanced parentheses")


def _substitute(body: str, name: str, value: int) -> str:
    pattern = re.compile(rf"(?<![\w.`]){re.escape(name)}(?![\w`])")
    return "".join(
        pattern.sub(str(value), text) if is_code else text for is_code, text in _code_segments(body)
    )


def unroll_aggregates(sql: str) -> str | None:
    """``sql`` with every ``aggregate(sequence(a, b), 0, (acc, i) -> acc + f(i))`` written as
    ``(0 + (f(a)) + ... + (f(b)))``, or None if a lambda remains that has another shape.

    Delta cannot store a lambda (see the module docstring); the unrolled sum is the same
    integer arithmetic, term for term.
    """
    while True:
        match = next((m for m in _AGGREGATE.finditer(sql) if _in_code(sql, m.start())), None)
        if match is None:
            return sql if "->" not in _code_only(sql) else None
        lo, hi, acc, var = int(match.group(1)), int(match.group(2)), match.group(3), match.group(4)
        open_at = match.start() + len("aggregate(")
        try:
            end = _close_paren(sql, open_at)
        except ValueError:
            return None
        body = sql[match.end() : end]
        # Inside a lambda Spark reads even a quoted `i` as the lambda variable: leave such
        # bodies (and ones that reuse the accumulator) to the pipeline rather than guess.
        quoted = f"`{var}`" in body or f"`{acc}`" in body
        uses_acc = re.search(rf"(?<![\w.`]){re.escape(acc)}(?![\w`])", _code_only(body))
        if quoted or uses_acc or hi - lo > 64:
            return None
        terms = " + ".join(f"({_substitute(body, var, k)})" for k in range(lo, hi + 1))
        sql = f"{sql[: match.start()]}(0 + {terms}){sql[end + 1 :]}"


def _constraint_expr(check: SilverCheck) -> tuple[str | None, str]:
    """(expression that must hold on every silver row, or None; why not)."""
    if check.silver_sql is None:
        return None, check.note
    if check.rule.severity == "warn":
        return None, "warn-level: rows that break it load, flagged"
    sql = unroll_aggregates(check.silver_sql)
    if sql is None:
        return None, "uses a lambda function, which a Delta constraint cannot hold"
    code = _code_only(sql)
    if _NON_DETERMINISTIC.search(code):
        return None, "non-deterministic: a Delta constraint must give the same answer every write"
    if _SUBQUERY.search(code):
        return None, "uses a subquery, which a Delta constraint cannot hold"
    if _CLOCK.search(code) and not kind_of(check.rule).delta.clock_safe:
        return None, "reads the clock: a row accepted today could be refused on a later rewrite"
    return f"NOT ({sql})", ""


def _typed_value_guaranteed(checks: list[SilverCheck], column: Column) -> bool:
    """True when a row whose text is present can never load with a NULL typed value.

    Strings: the typed value *is* the trimmed text. Other types: a blocking check on the column
    must reject text that does not convert (``Delta.rejects_unconverted``).
    """
    if column.type == "string":
        return True
    return any(
        check.column == column.name
        and check.rule.severity != "warn"
        and kind_of(check.rule).delta.rejects_unconverted
        for check in checks
    )


def plan_constraints(catalog: Catalog, source: Source) -> ConstraintPlan:
    """The constraints for ``silver.<source>`` and the blocking checks left to the pipeline.

    In the pipeline's check order. The presence rules become one NOT NULL constraint each over
    the columns they guarantee (``dqs_r_key_present``: ``a IS NOT NULL AND b IS NOT NULL``):
    one rule, one constraint, and each ``ADD CONSTRAINT`` costs a Delta commit (~1.5 s).
    """
    checks = silver_checks(catalog, source)
    not_null: dict[str, list[str]] = {}
    skipped: list[Skipped] = []
    for column, rule, basis in not_null_columns(catalog, source):
        if rule is None or rule.severity == "warn":
            why = "no blocking presence rule" if rule is None else "its presence rule is warn-level"
            skipped.append(Skipped(rule.id if rule else basis, column.name, f"NOT NULL: {why}"))
        elif not _typed_value_guaranteed(checks, column):
            skipped.append(
                Skipped(
                    rule.id,
                    column.name,
                    f"NOT NULL: a {column.type} text that does not convert would load as NULL "
                    f"(no blocking parses or range rule on element {column.element})",
                )
            )
        else:
            not_null.setdefault(rule.id, []).append(column.name)
    constraints: list[Constraint] = []
    seen: set[str] = set()
    for check in checks:
        rule = check.rule
        if kind_of(rule).delta.not_null:
            columns = not_null.get(rule.id, [])
            name = constraint_name(rule.id, None)
            if columns and name not in seen:
                expr = " AND ".join(f"{ident(c)} IS NOT NULL" for c in columns)
                constraints.append(Constraint(name, expr, rule.id, None, tuple(columns)))
                seen.add(name)
            continue
        expr, why = _constraint_expr(check)
        if expr is None:
            if rule.severity != "warn":
                skipped.append(Skipped(rule.id, check.column, why))
            continue
        name = constraint_name(rule.id, check.column)
        if name not in seen:
            seen.add(name)
            constraints.append(Constraint(name, expr, rule.id, check.column))
    return ConstraintPlan(constraints, skipped)


def constraint_statements(catalog: Catalog, source: Source, table_ref: str) -> list[str]:
    """``ALTER TABLE ... ADD CONSTRAINT`` statements for ``table_ref`` (a name or delta.`path`)."""
    return [
        f"ALTER TABLE {table_ref} ADD CONSTRAINT {c.name} CHECK ({c.expr})"
        for c in plan_constraints(catalog, source).constraints
    ]


def create_table_statement(
    catalog: Catalog, source: Source, table_ref: str, columns_ddl: str, partition_by: str
) -> str:
    """``CREATE TABLE`` for ``table_ref`` with every constraint of the standards in one commit.

    Delta stores a CHECK constraint as the table property ``delta.constraints.<name>`` and
    enforces properties set at creation like added ones (tested). One commit instead of one
    ``ALTER TABLE ... ADD CONSTRAINT`` per rule: a new source's first load saves 15-20 s.
    """
    props = ", ".join(
        f"{sql_string('delta.constraints.' + c.name)} = {sql_string(c.expr)}"
        for c in plan_constraints(catalog, source).constraints
    )
    return (
        f"CREATE TABLE IF NOT EXISTS {table_ref} ({columns_ddl}) USING delta "
        f"PARTITIONED BY ({partition_by})" + (f" TBLPROPERTIES ({props})" if props else "")
    )


# -- applying them ---------------------------------------------------------------------------------


@dataclass
class ConstraintReport:
    """What :func:`apply_constraints` changed; all empty but ``unchanged`` on a rerun."""

    table: str
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.replaced or self.dropped)


def _normalise(expr: str) -> str:
    """Delta stores a constraint as its tokens joined by single spaces: compare without spaces."""
    return re.sub(r"\s+", "", expr)


def existing_constraints(spark: SparkSession, table_ref: str) -> dict[str, str]:
    """``{name: stored expression}`` of the CHECK constraints on a Delta table."""
    rows = spark.sql(f"SHOW TBLPROPERTIES {table_ref}").collect()
    prefix = "delta.constraints."
    return {r["key"][len(prefix) :]: r["value"] for r in rows if r["key"].startswith(prefix)}


def apply_constraints(
    spark: SparkSession, table_ref: str, catalog: Catalog, source: Source
) -> ConstraintReport:
    """Bring the constraints of ``table_ref`` (silver.<source>) in line with the standards.

    Idempotent: a constraint already on the table with the same expression is left alone, so a
    second call runs no ALTER at all. One whose expression changed (a code added to a table, a
    range widened) is dropped and re-added; one of ours (``dqs_`` prefix) that the standards no
    longer declare is dropped. Constraints with other names are never touched. Adding a
    constraint makes Delta check the rows already in the table; a failure raises
    :class:`ConstraintError` naming the table and constraint.
    """
    plan = plan_constraints(catalog, source)
    existing = existing_constraints(spark, table_ref)
    wanted = {c.name: c for c in plan.constraints}
    report = ConstraintReport(table_ref)

    def run(sql: str, name: str) -> None:
        try:
            spark.sql(sql)
        except Exception as exc:  # Delta raises several JVM error types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConstraintError(f"{table_ref}: constraint {name}: {first}") from exc

    for name in sorted(existing):
        if name.startswith(PREFIX) and name not in wanted:
            run(f"ALTER TABLE {table_ref} DROP CONSTRAINT IF EXISTS {name}", name)
            report.dropped.append(name)
    for c in plan.constraints:
        if c.name in existing:
            if _normalise(existing[c.name]) == _normalise(c.expr):
                report.unchanged.append(c.name)
                continue
            run(f"ALTER TABLE {table_ref} DROP CONSTRAINT IF EXISTS {c.name}", c.name)
            report.replaced.append(c.name)
        else:
            report.added.append(c.name)
        run(f"ALTER TABLE {table_ref} ADD CONSTRAINT {c.name} CHECK ({c.expr})", c.name)
    return report
