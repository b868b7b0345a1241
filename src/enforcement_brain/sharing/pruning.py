"""Predicate pruning: which files of a snapshot may hold rows a query's hints ask for.

Why files and not rows: the protocol hands out files, and its ``predicateHints`` (SQL),
``jsonPredicateHints`` and ``limitHint`` are hints, best effort by the protocol's own terms. A
file is dropped only when its partition values or its min/max statistics prove that no row of
it can match; a predicate that cannot be evaluated keeps the file, and the client filters the
rows it reads.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

from enforcement_brain.sharing.delta_log import FileEntry
from enforcement_brain.sharing.errors import bad_request

_SQL_PRED = re.compile(
    r"^\s*`?([A-Za-z_][A-Za-z0-9_]*)`?\s*(=|==|<>|!=|<=|>=|<|>)\s*"
    r"(?:'((?:[^']|'')*)'|(-?\d+(?:\.\d+)?))\s*$"
)
_SQL_NULL = re.compile(r"^\s*`?([A-Za-z_][A-Za-z0-9_]*)`?\s+IS\s+(NOT\s+)?NULL\s*$", re.I)
_OPS = {
    "=": lambda a, b: a == b,
    "==": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_JSON_OPS = {
    "equal": "=",
    "lessThan": "<",
    "lessThanOrEqual": "<=",
    "greaterThan": ">",
    "greaterThanOrEqual": ">=",
}


def _typed(value: str | None, like: str) -> Any:
    """Compare partition values by type: dates as dates, numbers as numbers, else text."""
    if value is None:
        return None
    for parse in (dt.date.fromisoformat, int, float):
        try:
            parse(like)
            return parse(value)
        except (ValueError, TypeError):
            continue
    return value


#: What pruning knows of one column in one file: ``(low, high, exact)``. A partition column is
#: exact (``low == high``, ``None`` for a null partition); a column with min/max statistics is a
#: range (never ``None``: a file without them is not described at all).
Bounds = dict[str, tuple[str | None, str | None, bool]]


def file_bounds(entry: FileEntry) -> Bounds:
    """Partition values, then statistics ranges, of one file (see :data:`Bounds`)."""
    bounds: Bounds = {c: (v, v, True) for c, v in entry.partition_values.items()}
    for c, (lo, hi) in entry.ranges.items():
        bounds.setdefault(c, (lo, hi, False))
    return bounds


def _may_hold(bound: tuple[str | None, str | None, bool], sym: str, literal: str) -> bool | None:
    """Can a value within ``bound`` satisfy ``value sym literal``? ``None``: cannot tell."""
    lo, hi, _ = bound
    try:
        low, high, lit = _typed(lo, literal), _typed(hi, literal), _typed(literal, literal)
        if sym in ("=", "=="):
            return bool(low <= lit <= high)
        if sym in ("<>", "!="):
            return not (low == high == lit)
        return bool(_OPS[sym](low, lit) if sym in ("<", "<=") else _OPS[sym](high, lit))
    except TypeError:
        return None


def sql_predicate(text: str) -> Callable[[Bounds], bool] | None:
    """A file filter for one ``predicateHints`` entry, or ``None`` when we cannot use it.

    The filter keeps a file unless its bounds prove no row can match: a column the file has
    no bounds for keeps it.
    """
    m = _SQL_NULL.match(text)
    if m:
        col, negate = m.group(1), bool(m.group(2))

        def keep_null(bounds: Bounds) -> bool:
            bound = bounds.get(col)
            if bound is None or not bound[2]:  # statistics say nothing of nulls here
                return True
            return (bound[0] is not None) if negate else (bound[0] is None)

        return keep_null
    m = _SQL_PRED.match(text)
    if not m:
        return None
    col, op = m.group(1), m.group(2)
    literal = m.group(3).replace("''", "'") if m.group(3) is not None else m.group(4)

    def keep(bounds: Bounds) -> bool:
        bound = bounds.get(col)
        if bound is None:
            return True
        if bound[0] is None:  # a null partition matches no comparison
            return not bound[2]
        return _may_hold(bound, op, literal) is not False

    return keep


def _json_eval(node: Any, bounds: Bounds) -> bool | None:
    """Three-valued: ``False`` prunes, ``True``/``None`` (cannot tell) keeps."""
    if not isinstance(node, dict):
        return None
    op = node.get("op")
    if not isinstance(op, str):
        return None  # an op we do not know: cannot tell, keep the file
    children = node.get("children") or []
    if not isinstance(children, list) or not all(isinstance(c, dict) for c in children):
        return None  # a shape we do not know: cannot tell, keep the file
    if op == "and":
        results = [_json_eval(c, bounds) for c in children]
        return False if any(r is False for r in results) else (None if None in results else True)
    if op == "or":
        results = [_json_eval(c, bounds) for c in children]
        return True if any(r is True for r in results) else (None if None in results else False)
    if op == "not" and len(children) == 1:
        r = _json_eval(children[0], bounds)
        return None if r is None else not r
    if op == "isNull" and len(children) == 1:
        c = children[0]
        name = c.get("name") if c.get("op") == "column" else None
        bound = bounds.get(name) if isinstance(name, str) else None
        if bound is not None and bound[2]:
            return bound[0] is None
        return None
    if op in _JSON_OPS and len(children) == 2:
        left, right = children
        if left.get("op") == "literal" and right.get("op") == "column":
            left, right = right, left
            flip = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "="}
            sym = flip[_JSON_OPS[op]]
        else:
            sym = _JSON_OPS[op]
        if left.get("op") != "column" or right.get("op") != "literal":
            return None
        name = left.get("name")
        bound = bounds.get(name) if isinstance(name, str) else None
        literal = right.get("value")
        if bound is None or bound[0] is None or literal is None:
            return None
        may = _may_hold(bound, sym, str(literal))
        # a range proves only that no row matches; "some row may" is not "every row does"
        return may if bound[2] or may is False else None
    return None


#: How deep a ``jsonPredicateHints`` tree may nest: far beyond any real predicate, and well
#: within what evaluating it recursively can hold.
MAX_PREDICATE_DEPTH = 64


def _depth(node: Any) -> int:
    """How deep a parsed JSON value nests (iteratively: the value may be deeper than the stack)."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return deepest


def parse_json_predicate(text: str) -> Any:
    """Parse ``jsonPredicateHints``; text that is not JSON, or a tree nested deeper than
    :data:`MAX_PREDICATE_DEPTH`, is a malformed request (400)."""
    try:
        node = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested past the parser's stack
        raise bad_request("jsonPredicateHints is not valid JSON") from None
    if not isinstance(node, dict) or "op" not in node:
        raise bad_request("jsonPredicateHints must be a JSON object with an 'op'")
    if _depth(node) > 2 * MAX_PREDICATE_DEPTH:  # a level is an object and its children list
        raise bad_request(f"jsonPredicateHints is nested deeper than {MAX_PREDICATE_DEPTH} levels")
    return node


def prune(
    files: list[FileEntry],
    predicate_hints: list[str] | None,
    json_predicate: Any | None,
    limit_hint: int | None,
) -> list[FileEntry]:
    """Files that may hold matching rows (by partition values, else by min/max statistics);
    then just enough of them to cover ``limit_hint``."""
    filters = [f for f in (sql_predicate(p) for p in predicate_hints or []) if f]
    kept = []
    for entry in files:
        if filters or json_predicate is not None:
            bounds = file_bounds(entry)
            if not all(f(bounds) for f in filters):
                continue
            if json_predicate is not None and _json_eval(json_predicate, bounds) is False:
                continue
        kept.append(entry)
    if limit_hint is None:
        return kept
    out, rows = [], 0
    for entry in kept:
        if rows >= limit_hint:
            break
        out.append(entry)
        if entry.num_records is None:  # cannot tell how many rows: keep the rest
            return kept
        rows += entry.num_records
    return out
