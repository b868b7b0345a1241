"""The column rule kinds: each judges one delivered value of a rule's elements.

A missing value never breaks a column rule (presence is R_REQUIRED_PRESENT's job): the compiled
check is ``<text> IS NOT NULL AND NOT coalesce(<valid_sql>, false)``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from enforcement_brain.errors import DeclarationError
from enforcement_brain.standards import checks as std_checks
from enforcement_brain.standards.code_tables import load_code_table
from enforcement_brain.standards.rule_kinds.base import (
    ColumnCheck,
    ColumnKind,
    Delta,
    Params,
    Planting,
    code_span,
    rule_kind,
)
from enforcement_brain.standards.rule_kinds.defects import bad_time_value, break_regex
from enforcement_brain.standards.rule_kinds.sql import (
    credit_code_valid_sql,
    id_number_valid_sql,
    in_list,
    ship_id_valid_sql,
    sql_string,
)

if TYPE_CHECKING:
    from enforcement_brain.declarations import Column, Element, Rule


def _codes(c: ColumnCheck) -> list[str]:
    """The sorted codes of the element's code table (the SQL and GX list them in this order)."""
    if not c.element.code_table:
        raise DeclarationError(f"rule {c.rule.id}: element {c.element.id} has no code_table")
    return sorted(load_code_table(c.catalog.root, c.element.code_table).code_set())


def _regex_literal(text: str) -> str:
    """``text`` as a regex matching itself, in the syntax Python ``re`` and Java share."""
    return re.escape(text)


@rule_kind
class Regex(ColumnKind):
    """The text matches a regular expression: the rule's ``pattern`` (a name in
    ``standards/checks.py`` or a literal) or each element's own; ``allow`` lists extra values."""

    name = "regex"
    defect = "bad_format"

    def resolve_params(self, params: Params, declared: list[Element], where: str) -> Params:
        patterns: dict[str | None, str] = {}
        if params.get("pattern"):
            name = params["pattern"]
            patterns[None] = getattr(std_checks, name, name)
        else:  # each element's own pattern
            for element in declared:
                if not element.pattern:
                    raise DeclarationError(f"{where}: element '{element.id}' has no pattern")
                patterns[element.id] = element.pattern
        for pattern in patterns.values():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise DeclarationError(f"{where}: regex does not compile ({exc})") from None
        if None in patterns:
            params["regex"] = patterns[None]
        return params

    def valid_sql(self, c: ColumnCheck) -> str:
        params = c.rule.params
        ok = f"{c.raw} rlike {sql_string(params.get('regex') or c.element.pattern or '')}"
        if params.get("allow"):
            ok = f"({ok} OR {in_list(c.raw, list(params['allow']))})"
        return ok

    def describe(self, rule: Rule) -> str:
        params = rule.params
        if params.get("pattern"):
            name = params["pattern"]
            value = params.get("regex", name)
            where = f"{code_span(name)} = {code_span(value)}" if value != name else code_span(value)
            text = f"The delivered text (trimmed) matches the regular expression {where}"
        else:
            text = "The delivered text (trimmed) matches its element's pattern (Standard 1)"
        if params.get("allow"):
            allowed = ", ".join(code_span(a) for a in params["allow"])
            text += f"; these values are also accepted: {allowed}"
        return text + "."

    def element_note(self, rule: Rule, element: Element) -> str:
        pattern = getattr(element, "pattern", None)
        if not rule.params.get("regex") and pattern:
            return f" (pattern {code_span(pattern)})"
        return ""

    def gx_expectation(self, c: ColumnCheck, silver_sql: str) -> tuple[str, Params] | None:
        if c.column.type != "string":
            return None  # the rule judges the text; silver has only the typed value
        regex = c.rule.params.get("regex") or getattr(c.element, "pattern", None)
        if not regex or f"{c.raw} rlike {sql_string(regex)}" not in silver_sql:
            return None
        allow = [str(a) for a in c.rule.params.get("allow") or []]
        if allow:
            if in_list(c.raw, allow) not in silver_sql:
                return None
            alternatives = "|".join(_regex_literal(a) for a in allow)
            regex = f"(?:{regex})|^(?:{alternatives})$"
        return "expect_column_values_to_match_regex", {"column": c.column.name, "regex": regex}

    def broken_value(self, at: Planting) -> str:
        assert at.column is not None
        element = at.catalog.elements[at.column.element]
        pattern = at.rule.params.get("regex") or element.pattern or ""
        return break_regex(at.get(at.column.name), pattern, at.rng)


@rule_kind
class InCodeTable(ColumnKind):
    """The text is a code of the element's code table (Standard 1, §5)."""

    name = "in_code_table"
    defect = "unknown_code"

    def valid_sql(self, c: ColumnCheck) -> str:
        return in_list(c.raw, _codes(c))

    words = "The delivered text is a code of the element's code table (Standard 1, §5)."

    def gx_expectation(self, c: ColumnCheck, silver_sql: str) -> tuple[str, Params] | None:
        if c.column.type != "string" or not c.element.code_table:
            return None
        codes = _codes(c)
        if in_list(c.raw, codes) not in silver_sql:
            return None
        return "expect_column_values_to_be_in_set", {"column": c.column.name, "value_set": codes}

    def broken_value(self, at: Planting) -> str:
        return "ZX" + str(int(at.rng.integers(100, 999)))


@rule_kind
class Range(ColumnKind):
    """The typed value lies within the rule's ``min``/``max``, else the element's range."""

    name = "range"
    defect = "out_of_range"
    # NULL is not BETWEEN anything: text that does not convert breaks the rule.
    delta = Delta(rejects_unconverted=True)

    @staticmethod
    def bounds(rule: Rule, element: Element) -> tuple[Any, Any]:
        return rule.params.get("min", element.min), rule.params.get("max", element.max)

    def valid_sql(self, c: ColumnCheck) -> str:
        lo, hi = self.bounds(c.rule, c.element)
        return f"({c.value} BETWEEN {lo} AND {hi})"

    def describe(self, rule: Rule) -> str:
        p = rule.params
        bounds = [f"{k} {p[k]}" for k in ("min", "max") if k in p]
        own = f" ({', '.join(bounds)})" if bounds else " (the element's valid range, Standard 1)"
        return (
            f"The typed value lies within its range{own}, bounds included; a delivered value that "
            "does not convert to the element's type counts as outside."
        )

    def gx_expectation(self, c: ColumnCheck, silver_sql: str) -> tuple[str, Params] | None:
        if c.column.type == "string":
            return None  # GX compares ranges on numbers and dates only
        lo, hi = self.bounds(c.rule, c.element)
        numbers = all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in (lo, hi))
        if not numbers or f"({c.value} BETWEEN {lo} AND {hi})" not in silver_sql:
            return None
        # GX holds the bounds as floats; written so, the file is what GX itself would write.
        return "expect_column_values_to_be_between", {
            "column": c.column.name,
            "min_value": float(lo),
            "max_value": float(hi),
        }

    def broken_value(self, at: Planting) -> str:
        assert at.column is not None
        lo, hi = self.bounds(at.rule, at.catalog.elements[at.column.element])
        bad = hi + (hi - lo) + 1 if at.rng.random() < 0.6 else lo - (hi - lo) - 1
        return str(int(bad)) if at.column.type in ("int", "bigint") else f"{bad:.2f}"


@rule_kind
class Parses(ColumnKind):
    """The delivered text converts to the element's type."""

    name = "parses"
    defect = "bad_value"
    # On silver the typed value is NULL exactly when the text was missing or did not convert.
    delta = Delta(
        before_silver=(
            "checked before silver: on silver the typed value is NULL exactly when the "
            "delivered text was missing or did not parse"
        ),
        rejects_unconverted=True,
    )

    words = (
        "The delivered text converts to the element's type in the element's format; a value "
        "that does not convert breaks the rule."
    )

    def valid_sql(self, c: ColumnCheck) -> str:
        return f"{c.value} IS NOT NULL"

    def defect_label(self, column: Column) -> str:
        return "bad_time" if column.type == "timestamp" else super().defect_label(column)

    def broken_value(self, at: Planting) -> str:
        assert at.column is not None
        type_ = at.column.type
        if type_ == "timestamp":
            return bad_time_value(at.rng, at.day)
        bad = "2026-02-30" if type_ == "date" else "maybe"
        numeric = type_ in ("int", "bigint", "double")
        # JSON numbers are written bare: a bad one is a JSON string, so the line still parses.
        return f'"{bad}"' if numeric and at.source.delivery.format == "jsonl" else bad


class _Identifier(ColumnKind):
    """An identifier whose format and check digits one SQL function of its text decides."""

    #: SQL true when the text (SQL) is a valid identifier.
    text_valid_sql: ClassVar[Callable[[str], str]]

    def valid_sql(self, c: ColumnCheck) -> str:
        return type(self).text_valid_sql(c.raw)


@rule_kind
class CreditCode(_Identifier):
    """GB 32100-2015 unified social credit code: format and check character."""

    name = "credit_code"
    defect = "bad_credit_code"
    text_valid_sql = credit_code_valid_sql
    words = (
        "GB 32100-2015: 18 characters of the code alphabet (0-9, A-Y without I O S V Z) and "
        "a correct check character: 31 − (Σ value × 3^(i−1) mod 31 over the first 17), "
        "31 written as 0."
    )

    def broken_value(self, at: Planting) -> str:
        code = at.get_column()
        wrong = [c for c in std_checks.CREDIT_CODE_ALPHABET if c != code[17]]
        return code[:17] + wrong[int(at.rng.integers(0, len(wrong)))]


@rule_kind
class IdNumber(_Identifier):
    """GB 11643-1999 resident ID number: format, birth date and check character."""

    name = "id_number"
    defect = "bad_id_number"
    delta = Delta(clock_safe=True)  # the birth date is "not after today"
    text_valid_sql = id_number_valid_sql
    words = (
        "GB 11643-1999: 17 digits and a check character (0-9 or X); the birth date "
        "(digits 7-14) is a real date from 1900-01-01 to today; the check character is "
        "'10X98765432'[Σ digit × weight mod 11], weights "
        f"{' '.join(str(w) for w in std_checks.ID_WEIGHTS)}."
    )

    def broken_value(self, at: Planting) -> str:
        number = at.get_column()
        if at.rng.random() < 0.5:
            wrong = [c for c in "0123456789X" if c != number[17]]
            return number[:17] + wrong[int(at.rng.integers(0, len(wrong)))]
        return number[:6] + number[6:10] + "0231" + number[14:]  # 31 February: no such day


@rule_kind
class ShipId(_Identifier):
    """Ship identification number: CN + 11 digits with a keel year that has come."""

    name = "ship_id"
    defect = "bad_ship_id"
    delta = Delta(clock_safe=True)  # the keel year is "not after this year"
    text_valid_sql = ship_id_valid_sql
    words = (
        "CN + 11 digits; digits 1-4 (the keel year) lie between 1900 and this year. The "
        "11th digit is a check digit whose algorithm was not found: it is not checked."
    )

    def broken_value(self, at: Planting) -> str:
        sid = at.get_column()
        return sid[:2] + "2999" + sid[6:] if at.rng.random() < 0.5 else sid[:-1]
