"""Compile the declared row rules into Spark SQL, evaluated in one pass.

Each (rule, column) pair becomes one boolean SQL expression that is true when the row breaks the
rule. The expressions are *text*, on purpose: the same text is evaluated by the pipeline
(``F.expr``), written into the GX suites (``UnexpectedRowsExpectation``) and into Delta CHECK
constraints, so a rule is written once and means the same everywhere.

All of a source's checks are gathered into one array column, ``_violations``, in a single
projection; one aggregate then counts every rule for the ledger. That is one Spark job per batch,
where GX would run one per expectation (see ../shared/docs/anchors.md).

Column references: a check sees the *conformed* row, where each declared column is typed as
declared and the delivered text is kept in the struct ``_raw``. Format checks read the raw text
(``raw_ref``); range and consistency checks read the typed value (``typed_ref``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from enforcement_brain.declarations import Catalog, Column, Element, Rule, Source
from enforcement_brain.errors import DeclarationError
from enforcement_brain.standards.checks import (
    CREDIT_CODE_ALPHABET,
    CREDIT_CODE_RE,
    CREDIT_CODE_WEIGHTS,
    ID_WEIGHTS,
    XUZHOU_BBOX,
)
from enforcement_brain.standards.code_tables import load_code_table

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn

TIME_FORMAT = "yyyy-MM-dd HH:mm:ss"
SQL_TYPES = {"int": "int", "bigint": "bigint", "double": "double", "boolean": "boolean"}


@dataclass(frozen=True)
class CompiledCheck:
    rule: Rule
    column: str | None  # None for record-level rules
    sql: str  # true when the row breaks the rule

    @property
    def violated(self) -> SparkColumn:
        from pyspark.sql import functions as F

        return F.expr(self.sql)


def sql_string(text: str) -> str:
    """A Spark SQL string literal for ``text`` (backslashes and quotes escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ident(name: str) -> str:
    return f"`{name}`"


def blank_to_null(sql: str) -> str:
    """Trimmed text, blank read as missing."""
    return f"nullif(trim({sql}), '')"


def raw_ref(name: str) -> str:
    """The delivered text of a column in a conformed row, blank read as missing."""
    return blank_to_null(f"_raw.{ident(name)}")


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


def credit_code_valid_sql(v: str) -> str:
    """GB 32100: format and check character, as Spark SQL (no UDF)."""
    weights = ",".join(str(w) for w in CREDIT_CODE_WEIGHTS)
    a = sql_string(CREDIT_CODE_ALPHABET)
    total = (
        f"aggregate(sequence(1, 17), 0, (eb_acc, eb_pos) -> eb_acc + "
        f"(instr({a}, substring({v}, eb_pos, 1)) - 1) * element_at(array({weights}), eb_pos))"
    )
    expected = f"substring({a}, ((31 - ({total}) % 31) % 31) + 1, 1)"
    return f"({v} rlike {sql_string(CREDIT_CODE_RE)} AND substring({v}, 18, 1) = {expected})"


def id_number_valid_sql(v: str) -> str:
    """GB 11643: 17 digits + check, a real birth date not after today, and the check digit."""
    weights = ",".join(str(w) for w in ID_WEIGHTS)
    total = (
        f"aggregate(sequence(1, 17), 0, (eb_acc, eb_pos) -> eb_acc + "
        f"try_cast(substring({v}, eb_pos, 1) as int) * element_at(array({weights}), eb_pos))"
    )
    birth = f"try_to_date(substring({v}, 7, 8), 'yyyyMMdd')"
    return (
        f"({v} rlike '^[1-9][0-9]{{16}}[0-9X]$' AND {birth} BETWEEN DATE'1900-01-01' "
        f"AND current_date() AND substring({v}, 18, 1) = "
        f"substring('10X98765432', ({total}) % 11 + 1, 1))"
    )


def ship_id_valid_sql(v: str) -> str:
    """Ship identification number: CN + 11 digits, digits 1-4 a keel year not in the future.

    The 11th digit is a check digit whose algorithm was not found: it is not checked.
    """
    # try_cast: Spark does not promise to evaluate AND left to right, and under ANSI a failed
    # cast would stop the whole load instead of flagging one row.
    year = f"try_cast(substring({v}, 3, 4) as int)"
    return f"({v} rlike '^CN[0-9]{{11}}$' AND {year} BETWEEN 1900 AND year(current_date()))"


def _code_list(catalog: Catalog, element: Element, rule: Rule) -> list[str]:
    if not element.code_table:
        raise DeclarationError(f"rule {rule.id}: element {element.id} has no code_table")
    return sorted(load_code_table(catalog.root, element.code_table).code_set())


def _in_list(v: str, values: list[str]) -> str:
    return f"{v} IN ({', '.join(sql_string(x) for x in values)})"


def column_violation_sql(catalog: Catalog, rule: Rule, column: Column, raw: str, value: str) -> str:
    """SQL true when ``column`` breaks ``rule``; ``raw`` is its text, ``value`` its typed value.

    A missing value never breaks a column rule: presence is R_REQUIRED_PRESENT's job.
    """
    element = catalog.elements[column.element]
    kind, params = rule.kind, rule.params
    if kind == "regex":
        ok = f"{raw} rlike {sql_string(params.get('regex') or element.pattern or '')}"
        if params.get("allow"):
            ok = f"({ok} OR {_in_list(raw, list(params['allow']))})"
    elif kind == "in_code_table":
        ok = _in_list(raw, _code_list(catalog, element, rule))
    elif kind == "range":
        lo = params.get("min", element.min)
        hi = params.get("max", element.max)
        ok = f"({value} BETWEEN {lo} AND {hi})"
    elif kind == "parses":
        ok = f"{value} IS NOT NULL"
    elif kind == "credit_code":
        ok = credit_code_valid_sql(raw)
    elif kind == "id_number":
        ok = id_number_valid_sql(raw)
    elif kind == "ship_id":
        ok = ship_id_valid_sql(raw)
    else:
        raise DeclarationError(f"rule {rule.id}: unknown check kind '{kind}'")
    return f"({raw} IS NOT NULL AND NOT coalesce({ok}, false))"


def _pair(source: Source, rule: Rule, key: str) -> Column:
    element = rule.params[key]
    found = [c for c in source.columns if c.element == element]
    if len(found) != 1:
        raise DeclarationError(
            f"rule {rule.id}: source {source.id} needs exactly one column of element {element}"
        )
    return found[0]


def typed_ref(name: str) -> str:
    """A typed declared column in a conformed row."""
    return ident(name)


def row_violation_sql(catalog: Catalog, source: Source, rule: Rule) -> str | None:
    """SQL for a rule that reads several columns of a row, or None if it is a column rule."""
    kind, params = rule.kind, rule.params
    if kind == "record_parses":
        return "_corrupt_record IS NOT NULL"
    if kind == "no_unexpected_fields":
        return "_rescued_data IS NOT NULL"
    if kind == "key_present":
        return " OR ".join(f"{raw_ref(k)} IS NULL" for k in source.business_key)
    if kind == "required_present":
        req = [f"{raw_ref(c.name)} IS NULL" for c in source.columns if c.required]
        return " OR ".join(req) if req else "false"
    if kind == "in_area":
        lon = ident(_pair(source, rule, "lon").name)
        lat = ident(_pair(source, rule, "lat").name)
        (x0, x1), (y0, y1) = XUZHOU_BBOX
        pad = float(params.get("buffer_deg", 0.05))
        ok = (
            f"{lon} BETWEEN {x0 - pad:.3f} AND {x1 + pad:.3f} "
            f"AND {lat} BETWEEN {y0 - pad:.3f} AND {y1 + pad:.3f}"
        )
        return f"({lon} IS NOT NULL AND {lat} IS NOT NULL AND NOT coalesce({ok}, false))"
    if kind == "datum_offset":
        # A position reported for a registered fixed site that sits ~500 m east-south-east of
        # the register (WGS-84): the feed wrote GCJ-02. The band is Standard 1's.
        site_col = _pair(source, rule, "site")
        lon = ident(_pair(source, rule, "lon").name)
        lat = ident(_pair(source, rule, "lat").name)
        site_el = catalog.elements[site_col.element]
        table = load_code_table(catalog.root, site_el.code_table or "")
        pairs = [(c["code"], c["lon"], c["lat"]) for c in table.codes if "lon" in c]
        lon_map = "map(" + ", ".join(f"{sql_string(c)}, {x}D" for c, x, _ in pairs) + ")"
        lat_map = "map(" + ", ".join(f"{sql_string(c)}, {y}D" for c, _, y in pairs) + ")"
        site = ident(site_col.name)
        dlon = f"({lon} - element_at({lon_map}, {site}))"
        dlat = f"({lat} - element_at({lat_map}, {site}))"
        lo_x, hi_x = params.get("dlon", [0.0045, 0.0065])
        lo_y, hi_y = params.get("dlat", [-0.0018, -0.0004])
        return (
            f"coalesce({dlon} BETWEEN {lo_x} AND {hi_x} AND {dlat} BETWEEN {lo_y} AND {hi_y}, "
            "false)"
        )
    if kind == "expr":
        # A consistency rule written in SQL over elements; each {element} becomes the source's
        # typed column of that element. Rows where an operand is missing are not judged.
        sql = params["sql"]
        for element in rule.requires:
            column = next(c for c in source.columns if c.element == element)
            sql = sql.replace("{" + element + "}", ident(column.name))
        return f"NOT coalesce({sql}, true)"
    return None


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


def violations_column(checks: list[CompiledCheck]) -> SparkColumn:
    """``array<string>`` of the rule ids a row breaks (each id once), in declared order."""
    from pyspark.sql import functions as F

    if not checks:
        return F.array().cast("array<string>")
    flags = [F.when(c.violated, F.lit(c.rule.id)) for c in checks]
    return F.array_distinct(F.filter(F.array(*flags), lambda x: x.isNotNull()))
