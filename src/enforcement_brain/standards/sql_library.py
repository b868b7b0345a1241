"""What a dataset's SQL may call: shared functions, ``ref.*`` code tables and declared params.

Why: the shared datasets are Spark SQL files (``data_standards/datasets/<id>.sql``) that an
analyst reads and runs in ``make sql``. The formulas they share (the legal gross limit, the fine,
双百) must be the standard's, not a copy per file, so they are SQL functions generated here from
Standard 1's constants in :mod:`enforcement_brain.standards.checks`. Code tables become views
``ref.<table>`` built from their YAML, so a code added to a table reaches every dataset. A
dataset's ``params`` become SQL session variables of the same name.

Everything here is plain text (no Spark import): the publish step, the ``spark-sql`` shell's
init script and the SQL endpoint run the same statements.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from enforcement_brain.standards import checks
from enforcement_brain.standards.code_tables import list_code_tables, load_code_table

#: The schema that holds one view per code table.
REF_SCHEMA = "ref"


@dataclass(frozen=True)
class SqlFunction:
    """A shared SQL function: its signature, its body and why it says what it says."""

    name: str
    params: str
    returns: str
    body: str
    doc: str

    def statement(self) -> str:
        return (
            f"CREATE OR REPLACE TEMPORARY FUNCTION {self.name}({self.params}) "
            f"RETURNS {self.returns} RETURN {self.body}"
        )


def _limit_case() -> str:
    """Order 2016-62 Art. 3 as a CASE over the axle count (6 and more share the 6-axle row)."""
    arms = []
    for axles, (rigid, combination) in sorted(checks.GROSS_LIMITS_KG.items()):
        cond = f"axles >= {axles}" if axles == max(checks.GROSS_LIMITS_KG) else f"axles = {axles}"
        arms.append(
            f"WHEN {cond} THEN CASE WHEN is_combination THEN {combination} ELSE {rigid} END"
        )
    return f"CASE {' '.join(arms)} END"


def _road_train_sql() -> str:
    """:func:`checks.is_road_train` in SQL: type class, or a trailer plate at either end."""
    classes = ", ".join(f"'{c}'" for c in checks.ROAD_TRAIN_TYPE_CLASSES)
    suffix = checks.TRAILER_PLATE_SUFFIX
    return (
        f"coalesce(left(trim(vehicle_type_code), 1) IN ({classes}), false) "
        f"OR coalesce(endswith(trim(plate_no), '{suffix}'), false) "
        f"OR coalesce(endswith(trim(trailer_plate_no), '{suffix}'), false)"
    )


FUNCTIONS: tuple[SqlFunction, ...] = (
    SqlFunction(
        "is_road_train",
        "vehicle_type_code STRING, plate_no STRING, trailer_plate_no STRING",
        "BOOLEAN",
        _road_train_sql(),
        "A 汽车列车 (Order 2016-62 Art. 3): a tractor or trailer type (GA 24.4 "
        f"{'/'.join(checks.ROAD_TRAIN_TYPE_CLASSES)}), or a trailer plate (…"
        f"{checks.TRAILER_PLATE_SUFFIX}) read at the front or the rear.",
    ),
    SqlFunction(
        "legal_limit_kg",
        "axles INT, is_combination BOOLEAN",
        "INT",
        _limit_case(),
        "Gross-weight limit in kg (Order 2016-62 Art. 3); null below 2 axles.",
    ),
    SqlFunction(
        "fine_yuan",
        "excess_kg BIGINT",
        "INT",
        f"CAST(CASE WHEN excess_kg <= {checks.FINE_FREE_EXCESS_KG} THEN 0 ELSE least("
        f"{checks.FINE_PER_FULL_TONNE_YUAN} * (excess_kg div {checks.FINE_STEP_KG}), "
        f"{checks.FINE_CAP_YUAN}) END AS INT)",
        "Fine in yuan for an excess in kg (Order 2016-62 Art. 43(二)): ¥500 per full 1,000 kg.",
    ),
    SqlFunction(
        "is_bai_dun_wang",
        "gross_kg BIGINT",
        "BOOLEAN",
        f"gross_kg >= {checks.BAI_DUN_WANG_KG}",
        "百吨王: a gross weight of 100 t or more.",
    ),
    SqlFunction(
        "is_shuang_bai",
        "gross_kg BIGINT, limit_kg BIGINT",
        "BOOLEAN",
        f"gross_kg >= {checks.BAI_DUN_WANG_KG} OR gross_kg - limit_kg >= limit_kg",
        "双百: 百吨王, or an excess of 100 % of the limit or more (integer arithmetic).",
    ),
    SqlFunction(
        "plate_region",
        "plate STRING",
        "STRING",
        "CASE WHEN char_length(plate) >= 2 THEN left(plate, 2) END",
        "The plate's issuing region: province character and office letter (GA 36), e.g. 苏C.",
    ),
    SqlFunction(
        "is_xuzhou_plate",
        "plate STRING",
        "BOOLEAN",
        f"startswith(plate, '{checks.XUZHOU_PLATE_PREFIX}')",
        "A plate issued in Xuzhou (苏C).",
    ),
    SqlFunction(
        "is_recognised_plate",
        "plate STRING",
        "BOOLEAN",
        f"plate IS NOT NULL AND trim(plate) <> '{checks.UNRECOGNISED_PLATE}'",
        "A plate that names a vehicle: cameras write '-' for one they could not read.",
    ),
    SqlFunction(
        "is_out_of_province",
        "area_code STRING",
        "BOOLEAN",
        f"NOT startswith(area_code, '{checks.HOME_PROVINCE_AREA_PREFIX}')",
        "A GB/T 2260 area code outside Jiangsu (32xxxx).",
    ),
    SqlFunction(
        "valid_on",
        "day DATE, valid_from DATE, valid_until DATE",
        "BOOLEAN",
        "(valid_from IS NULL OR valid_from <= day) AND (valid_until IS NULL OR valid_until >= day)",
        "A permit, certificate or list entry in force on a day (open ends allowed).",
    ),
    SqlFunction(
        "working_days_after",
        "closed_on DATE, sent_on DATE",
        "INT",
        "CASE WHEN sent_on > closed_on THEN size(filter(sequence(date_add(closed_on, 1), sent_on),"
        f" d -> weekday(d) IN ({', '.join(map(str, checks.WORKING_WEEKDAYS))})))"
        " WHEN sent_on <= closed_on THEN 0 END",
        "Working days (Monday to Friday; public holidays not applied) after a day, up to and "
        "including another; null when either day is unknown.",
    ),
    SqlFunction(
        "is_transfer_on_time",
        "closed_at TIMESTAMP, sent_at TIMESTAMP",
        "BOOLEAN",
        "working_days_after(to_date(closed_at), to_date(sent_at)) <= "
        f"{checks.TRANSFER_DEADLINE_WORKING_DAYS}",
        "抄告 sent within 7 working days of the case's closure (Order 2016-62 Art. 44).",
    ),
    SqlFunction(
        "safe_ratio",
        "numerator DOUBLE, denominator DOUBLE",
        "DOUBLE",
        "CASE WHEN denominator > 0 THEN round(numerator / denominator, 4) END",
        "A ratio rounded to 4 digits; null (not an error, not 0) when the denominator is not > 0.",
    ),
)


def function_statements() -> list[str]:
    """``CREATE TEMPORARY FUNCTION`` for every shared function, in dependency order."""
    return [f.statement() for f in FUNCTIONS]


def used_functions(sql: str) -> list[SqlFunction]:
    """The shared functions a SQL text calls (a name followed by ``(``), with the shared
    functions their bodies call, in dependency order (the order of :data:`FUNCTIONS`)."""
    texts = [sql]
    used: set[str] = set()
    while texts:
        text = texts.pop()
        for f in FUNCTIONS:
            if f.name not in used and re.search(rf"\b{f.name}\s*\(", text):
                used.add(f.name)
                texts.append(f.body)
    return [f for f in FUNCTIONS if f.name in used]


# -- literals -----------------------------------------------------------------------------------


def sql_literal(value: Any) -> str:
    """A Python value as a Spark SQL literal: strings quoted, lists as arrays, dicts as maps."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return f"array({', '.join(sql_literal(v) for v in value)})"
    if isinstance(value, dict):
        pairs = ", ".join(f"{sql_literal(str(k))}, {sql_literal(v)}" for k, v in value.items())
        return f"map({pairs})"
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


# -- code tables as ref.* views -----------------------------------------------------------------


def _column_type(values: list[Any]) -> str:
    """The SQL type of a code table attribute: boolean, int, double, else string.

    Lists (a channel's configured event types, a checkpoint's directions) become one string joined
    with commas, the form partners receive.
    """
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return "BOOLEAN"
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "INT"
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)
    if present and numeric:
        return "DOUBLE"
    return "STRING"


def _cell(value: Any, kind: str) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    if kind == "STRING":
        value = str(value)
    elif kind == "DOUBLE":
        value = float(value)
    return sql_literal(value)


def ref_view_statement(standards_dir: Path, table_id: str) -> str:
    """``CREATE OR REPLACE VIEW ref.<table>``: the code table's entries, every attribute a column.

    Columns are the attributes in the order they first appear; an entry without one has NULL.
    """
    codes = load_code_table(standards_dir, table_id).codes
    names: list[str] = []
    for entry in codes:
        names += [k for k in entry if k not in names]
    kinds = {n: _column_type([e.get(n) for e in codes]) for n in names}
    rows = ",\n  ".join(
        "(" + ", ".join(_cell(e.get(n), kinds[n]) for n in names) + ")" for e in codes
    )
    aliases = ", ".join(f"c{i}" for i in range(len(names)))
    select = ", ".join(f"CAST(c{i} AS {kinds[n]}) AS `{n}`" for i, n in enumerate(names))
    return (
        f"CREATE OR REPLACE VIEW {REF_SCHEMA}.{table_id} AS SELECT {select}\n"
        f"FROM VALUES\n  {rows}\nAS t({aliases})"
    )


def used_ref_tables(sql: str) -> list[str]:
    """The ``ref.<table>`` names a SQL text reads, in order of first use."""
    seen: list[str] = []
    for name in re.findall(rf"\b{REF_SCHEMA}\.(\w+)", sql):
        if name not in seen:
            seen.append(name)
    return seen


# -- params as session variables ----------------------------------------------------------------


def param_statements(params: dict[str, Any]) -> list[str]:
    """``DECLARE OR REPLACE VARIABLE`` for each param: an analyst's shell sees the same values.

    A mapping becomes a ``map<string, string>`` (lists of values joined with commas), a list an
    array, a number or text a scalar; the variable takes the type of its literal.
    """
    out = []
    for name, value in params.items():
        if isinstance(value, dict):
            value = {
                str(k): ",".join(map(str, v)) if isinstance(v, list) else str(v)
                for k, v in value.items()
            }
        out.append(f"DECLARE OR REPLACE VARIABLE {name} DEFAULT {sql_literal(value)}")
    return out


def session_statements(
    standards_dir: Path, sql: str | None = None, params: dict[str, Any] | None = None
) -> list[str]:
    """Everything a dataset's SQL needs declared in a session, in order.

    With ``sql``, only the functions and ref views it uses (each is one round trip to the
    server); without, all of them (the analyst's shell).
    """
    functions = used_functions(sql) if sql is not None else FUNCTIONS
    tables = used_ref_tables(sql) if sql is not None else list_code_tables(standards_dir)
    out = [f.statement() for f in functions]
    if tables:
        out.append(f"CREATE SCHEMA IF NOT EXISTS {REF_SCHEMA}")
        out += [ref_view_statement(standards_dir, t) for t in tables]
    return out + param_statements(params or {})


def all_params(datasets: Iterable[Any]) -> dict[str, Any]:
    """The params of every dataset, by name (names are unique across datasets, see declarations)."""
    out: dict[str, Any] = {}
    for d in datasets:
        out.update(d.params)
    return out
