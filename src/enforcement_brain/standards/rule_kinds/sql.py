"""Spark SQL text shared by the rule kinds: literals, column references and identifier checksums.

The checks are *text*, not Spark columns, on purpose: the same text is evaluated by the pipeline
(``F.expr``), written into the GX suites (``UnexpectedRowsExpectation``) and into Delta CHECK
constraints, so a rule is written once and means the same everywhere. Nothing here imports
Spark.

Column references: a check sees the *conformed* row, where each declared column is typed as
declared and the delivered text is kept in the struct ``_raw``. Format checks read the raw text
(:func:`raw_ref`); range and consistency checks read the typed value (:func:`typed_ref`).
"""

from __future__ import annotations

from enforcement_brain.standards import checks
from enforcement_brain.standards.checks import (
    CREDIT_CODE_ALPHABET,
    CREDIT_CODE_RE,
    CREDIT_CODE_WEIGHTS,
    ID_WEIGHTS,
)


def sql_string(text: str) -> str:
    """A Spark SQL string literal for ``text`` (backslashes and quotes escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ident(name: str) -> str:
    """A quoted column name: declared names may collide with SQL keywords."""
    return f"`{name}`"


def blank_to_null(sql: str) -> str:
    """Trimmed text, blank read as missing."""
    return f"nullif(trim({sql}), '')"


def raw_ref(name: str) -> str:
    """The delivered text of a column in a conformed row, blank read as missing."""
    return blank_to_null(f"_raw.{ident(name)}")


def typed_ref(name: str) -> str:
    """A typed declared column in a conformed row."""
    return ident(name)


def in_list(sql: str, values: list[str]) -> str:
    """``sql IN ('a', 'b', ...)``: the form the GX suites look for to prove a value set."""
    return f"{sql} IN ({', '.join(sql_string(x) for x in values)})"


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


def station_limit_explained_sql(axles: str, limit: str, registered: str | None) -> str:
    """SQL true when a static station's limit is one Order 2016-62 Art. 3 explains.

    The same as :func:`checks.is_station_limit_explained`: a CASE over the axle count lists the
    limits of :func:`checks.station_limits_kg`; a 行驶证 maximum lower than the highest of them
    is accepted when the limit equals it. NULL (not judged) when the axle count or the limit is
    missing.
    """
    low, top = min(checks.GROSS_LIMITS_KG), max(checks.GROSS_LIMITS_KG)
    arms, highest = [], []
    for a in range(low, top + 1):
        allowed = checks.station_limits_kg(a)
        cond = (
            f"{axles} >= {a}" if a == top else f"{axles} <= {a}" if a == low else f"{axles} = {a}"
        )
        arms.append(f"WHEN {cond} THEN {limit} IN ({', '.join(map(str, allowed))})")
        highest.append(f"WHEN {cond} THEN {max(allowed)}")
    in_table = f"CASE {' '.join(arms)} END"
    if registered is None:
        return f"({in_table})"
    below = f"CASE {' '.join(highest)} END"
    by_licence = f"coalesce({limit} = {registered} AND {registered} < {below}, false)"
    return f"({in_table} OR {by_licence})"
