"""Compile the declared row rules into Spark built-in expressions, evaluated in one pass.

Each (rule, column) pair becomes a boolean "violated" expression. All of a source's checks are
gathered into one array column, ``_violations``, in a single projection; one aggregate then
counts every rule for the ledger. That is one Spark job per batch, where GX would run one per
expectation (see ../shared/docs/anchors.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from enforcement_brain.declarations import Catalog, Rule, Source
from enforcement_brain.errors import DeclarationError
from enforcement_brain.standards.checks import CREDIT_CODE_ALPHABET, CREDIT_CODE_WEIGHTS
from enforcement_brain.standards.code_tables import load_code_table

if TYPE_CHECKING:
    from pyspark.sql import Column

TIME_FORMAT = "yyyy-MM-dd HH:mm:ss"


@dataclass(frozen=True)
class CompiledCheck:
    rule: Rule
    column: str | None  # None for record-level rules
    violated: Column


def raw(name: str) -> Column:
    """A delivered (string) value with blanks read as missing."""
    from pyspark.sql import functions as F

    c = F.trim(F.col(name))
    return F.when(c == "", None).otherwise(c)


def typed(name: str, type_: str) -> Column:
    """The typed value of a delivered string; null when it does not parse (never an error)."""
    from pyspark.sql import functions as F

    value = raw(name)
    if type_ == "timestamp":
        return F.try_to_timestamp(value, F.lit(TIME_FORMAT))
    if type_ == "date":
        return F.expr(f"try_to_date(trim(`{name}`), 'yyyy-MM-dd')")
    if type_ == "string":
        return value
    sql_type = {"int": "int", "bigint": "bigint", "double": "double", "boolean": "boolean"}[type_]
    # JSON numbers may arrive as "12.0" for an int column: go through double first for ints.
    if sql_type in ("int", "bigint"):
        as_double = value.try_cast("double")
        whole = F.when(as_double == F.floor(as_double), as_double)
        return whole.try_cast(sql_type)
    return value.try_cast(sql_type)


def credit_code_valid(col_sql: str) -> Column:
    """GB 32100 check character as a Spark SQL expression (no UDF)."""
    from pyspark.sql import functions as F

    weights = ",".join(str(w) for w in CREDIT_CODE_WEIGHTS)
    alphabet = CREDIT_CODE_ALPHABET
    total = (
        f"aggregate(sequence(1, 17), 0, (acc, i) -> acc + "
        f"(instr('{alphabet}', substring({col_sql}, i, 1)) - 1) * element_at(array({weights}), i))"
    )
    expected = f"substring('{alphabet}', ((31 - ({total}) % 31) % 31) + 1, 1)"
    pattern = "^[0-9A-HJ-NP-RTUW-Y]{2}[0-9]{6}[0-9A-HJ-NP-RTUW-Y]{10}$"
    return F.expr(f"{col_sql} rlike '{pattern}' and substring({col_sql}, 18, 1) = {expected}")


def compile_checks(catalog: Catalog, source: Source) -> list[CompiledCheck]:
    """Every (rule, column) check of a source, in declared order."""
    from pyspark.sql import functions as F

    checks: list[CompiledCheck] = []
    for rule in catalog.rules_for(source):
        kind, params = rule.kind, rule.params
        if kind == "record_parses":
            checks.append(CompiledCheck(rule, None, F.col("_corrupt_record").isNotNull()))
            continue
        if kind == "key_present":
            missing = [raw(k).isNull() for k in source.business_key]
            checks.append(CompiledCheck(rule, None, _any(missing)))
            continue
        if kind == "required_present":
            req = [raw(c.name).isNull() for c in source.columns if c.required]
            checks.append(CompiledCheck(rule, None, _any(req) if req else F.lit(False)))
            continue
        columns = [c for c in source.columns if c.element in rule.elements]
        for column in columns:
            element = catalog.elements[column.element]
            value = raw(column.name)
            if kind == "regex":
                ok = value.rlike(params["regex"])
                allowed = params.get("allow") or []
                if allowed:
                    ok = ok | value.isin(*allowed)
                bad = value.isNotNull() & ~ok
            elif kind == "in_code_table":
                if not element.code_table:
                    raise DeclarationError(
                        f"rule {rule.id}: element {element.id} has no code_table"
                    )
                codes = sorted(load_code_table(catalog.root, element.code_table).code_set())
                bad = value.isNotNull() & ~value.isin(*codes)
            elif kind == "range":
                v = typed(column.name, column.type)
                lo = params.get("min", element.min)
                hi = params.get("max", element.max)
                bad = value.isNotNull() & (v.isNull() | (v < F.lit(lo)) | (v > F.lit(hi)))
            elif kind == "parses":
                bad = value.isNotNull() & typed(column.name, column.type).isNull()
            elif kind == "credit_code":
                bad = value.isNotNull() & ~credit_code_valid(f"trim(`{column.name}`)")
            else:
                raise DeclarationError(f"rule {rule.id}: unknown check kind '{kind}'")
            checks.append(CompiledCheck(rule, column.name, F.coalesce(bad, F.lit(True))))
    return checks


def _any(conditions: list[Column]) -> Column:
    out = conditions[0]
    for c in conditions[1:]:
        out = out | c
    return out


def violations_column(checks: list[CompiledCheck]) -> Column:
    """``array<string>`` of the rule ids a row breaks (each id once), in declared order."""
    from pyspark.sql import functions as F

    if not checks:
        return F.array().cast("array<string>")
    flags = [F.when(c.violated, F.lit(c.rule.id)) for c in checks]
    return F.array_distinct(F.filter(F.array(*flags), lambda x: x.isNotNull()))
