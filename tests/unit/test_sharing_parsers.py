"""Property tests of what the sharing service parses from partners: the extract API's filters
(``extract.py``) and the predicate hints that prune files (``pruning.py``).

Two properties on random input: they never raise anything but the service's 400
(``ProtocolError``), and what they select is right: a parsed filter selects exactly the rows a
plain-Python evaluation of it selects on a random small table, and pruning never drops a file
that holds a row the hint matches (hints are best effort: keeping more is allowed).
"""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.dataset as pads
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enforcement_brain.sharing.delta_log import FileEntry
from enforcement_brain.sharing.errors import ProtocolError
from enforcement_brain.sharing.extract import OPS, expression, parse_filters
from enforcement_brain.sharing.pruning import parse_json_predicate, prune, sql_predicate

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
UTC = dt.UTC

# -- the extract API's filters -------------------------------------------------------------------

DOMAIN = {
    "n": (pa.int64(), [-2, 0, 1, 3]),
    "x": (pa.float64(), [-1.5, 0.0, 2.5]),
    "s": (pa.string(), ["", "a", "ab", "b", "苏C1"]),
    "d": (pa.date32(), [dt.date(2026, 11, 28), dt.date(2026, 11, 29)]),
    "b": (pa.bool_(), [True, False]),
    "ts": (
        pa.timestamp("us", tz="UTC"),
        [dt.datetime(2026, 11, 29, 8, tzinfo=UTC), dt.datetime(2026, 11, 29, 9, tzinfo=UTC)],
    ),
    "tn": (pa.timestamp("us"), [dt.datetime(2026, 11, 29, 8), dt.datetime(2026, 11, 29, 9)]),
}
COLUMNS = tuple(DOMAIN)
INT64 = (-(2**63), 2**63 - 1)


def _render(column: str, value) -> st.SearchStrategy[str]:
    """Texts a partner could send for ``value`` of ``column``."""
    if isinstance(value, bool):
        return st.sampled_from([str(value).lower(), str(value).upper()])
    if isinstance(value, dt.datetime):
        texts = [value.isoformat()]
        if value.tzinfo is None:
            texts.append(value.replace(tzinfo=UTC).isoformat())
        else:
            texts += [value.replace(tzinfo=None).isoformat(), value.astimezone(
                dt.timezone(dt.timedelta(hours=8))).isoformat()]  # fmt: skip
        return st.sampled_from(texts)
    return st.just(str(value))


def _value_text(column: str) -> st.SearchStrategy[str]:
    values = DOMAIN[column][1]
    typed = st.sampled_from(values).flatmap(lambda v: _render(column, v))
    odd = st.sampled_from(
        ["", "x", "1.5", "nan", "inf", "2026-13-01", str(2**63), str(-(2**64)), "9" * 40, "|"]
    )
    return st.one_of(typed, odd, st.text(max_size=12))


@st.composite
def clause_texts(draw) -> str:
    column = draw(st.sampled_from([*COLUMNS, "nope"]))
    op = draw(st.sampled_from([*OPS, "like"]))
    if op in ("isnull", "notnull") and draw(st.booleans()):
        return f"{column}:{op}"
    if op == "in":
        n = draw(st.integers(1, 3))
        parts = [draw(_value_text(column if column in DOMAIN else "s")) for _ in range(n)]
        return f"{column}:{op}:{'|'.join(parts)}"
    return f"{column}:{op}:{draw(_value_text(column if column in DOMAIN else 's'))}"


@st.composite
def tables(draw) -> pa.Table:
    rows = draw(st.integers(0, 8))
    data = {
        c: pa.array(
            [draw(st.one_of(st.none(), st.sampled_from(values))) for _ in range(rows)], kind
        )
        for c, (kind, values) in DOMAIN.items()
    }
    data["row"] = pa.array(range(rows), pa.int64())
    return pa.table(data)


class Refused(Exception):
    """What the plain-Python evaluation expects the service to refuse with a 400."""


def _parse(column: str, text: str):
    """A filter value of ``column`` by the documented rules (docs/sharing.md, section 7)."""
    kind = DOMAIN[column][0]
    try:
        if kind == pa.string():
            return text
        if kind == pa.bool_():
            if text.lower() not in ("true", "false"):
                raise Refused
            return text.lower() == "true"
        if kind == pa.int64():
            value = int(text)
            if not INT64[0] <= value <= INT64[1]:
                raise Refused
            return value
        if kind == pa.float64():
            return float(text)
        if kind == pa.date32():
            return dt.date.fromisoformat(text)
        value = dt.datetime.fromisoformat(text)  # without an offset: UTC
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware if kind.tz else aware.astimezone(UTC).replace(tzinfo=None)
    except ValueError:
        raise Refused from None


def _matches(value, op: str, args: list) -> bool:
    if op == "isnull":
        return value is None
    if op == "notnull":
        return value is not None
    if value is None:
        return False
    if op == "in":
        return any(value == a for a in args)
    if op == "prefix":
        return value.startswith(args[0])
    a = args[0]
    return {
        "eq": value == a,
        "ne": value != a,
        "lt": value < a,
        "le": value <= a,
        "gt": value > a,
        "ge": value >= a,
    }[op]


def python_rows(table: pa.Table, raw: list[str]) -> list[int]:
    """The rows the filters select, evaluated in plain Python (or :class:`Refused`)."""
    clauses = []
    for text in raw:
        column, _, rest = text.partition(":")
        op, sep, value = rest.partition(":")
        if column not in DOMAIN or op not in OPS:
            raise Refused
        if op in ("isnull", "notnull"):
            if sep:
                raise Refused
            clauses.append((column, op, []))
            continue
        if not sep:
            raise Refused
        args = [_parse(column, v) for v in (value.split("|") if op == "in" else [value])]
        if op == "prefix" and DOMAIN[column][0] != pa.string():
            raise Refused
        clauses.append((column, op, args))
    return [
        row["row"]
        for row in table.to_pylist()
        if all(_matches(_aware(row[c], c), op, args) for c, op, args in clauses)
    ]


def _aware(value, column: str):
    """A value of a timestamp-with-zone column as pyarrow hands it back (aware, UTC)."""
    if isinstance(value, dt.datetime) and DOMAIN[column][0] == pa.timestamp("us", tz="UTC"):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return value


@PROPERTY
@given(table=tables(), raw=st.lists(clause_texts(), max_size=3))
def test_a_parsed_filter_selects_exactly_the_rows_python_selects(table, raw):
    try:
        expected = python_rows(table, raw)
    except Refused:
        expected = None
    try:
        expr = expression(parse_filters(raw, COLUMNS), table.schema)
        got = pads.dataset(table).to_table(filter=expr)["row"].to_pylist()
    except ProtocolError as exc:
        assert exc.status == 400 and exc.message
        assert expected is None, (raw, exc.message)
        return
    assert expected is not None, raw
    assert sorted(got) == expected, raw


@PROPERTY
@given(raw=st.lists(st.text(max_size=60), max_size=25))
def test_any_filter_text_is_parsed_or_refused_with_a_400(raw):
    schema = pa.schema([pa.field(c, k) for c, (k, _) in DOMAIN.items()])
    try:
        expression(parse_filters(raw, COLUMNS), schema)
    except ProtocolError as exc:
        assert exc.status == 400 and exc.message


@pytest.mark.parametrize(
    ("text", "rows"),
    [
        (f"n:eq:{2**63}", None),
        (f"n:in:1|{-(2**64)}", None),
        ("ts:ge:2026-11-29T08:30:00", [1]),
        ("ts:ge:2026-11-29T16:30:00+08:00", [1]),
        ("tn:lt:2026-11-29T08:30:00+00:00", [0]),
        ("tn:lt:2026-11-29T16:30:00+08:00", [0]),
    ],
)
def test_large_integers_are_refused_and_timestamps_compare_in_utc(text, rows):
    """A value outside the column's type is a 400; a timestamp without an offset is UTC, and
    one with an offset compares with either kind of timestamp column."""
    kind_tz, naive = DOMAIN["ts"], DOMAIN["tn"]
    table = pa.table({
        "n": pa.array([1, 2], pa.int64()),
        "ts": pa.array(kind_tz[1], kind_tz[0]),
        "tn": pa.array(naive[1], naive[0]),
        "row": pa.array([0, 1], pa.int64()),
    })  # fmt: skip
    if rows is None:
        with pytest.raises(ProtocolError) as exc:
            expression(parse_filters([text], COLUMNS), table.schema)
        assert exc.value.status == 400 and "out of range" in exc.value.message
        return
    expr = expression(parse_filters([text], COLUMNS), table.schema)
    assert pads.dataset(table).to_table(filter=expr)["row"].to_pylist() == rows


# -- predicate hints -----------------------------------------------------------------------------

DAYS = [dt.date(2026, 11, 27) + dt.timedelta(days=k) for k in range(4)]
PARTS = ["a", "b", "c"]


@st.composite
def files(draw) -> list[tuple[FileEntry, list[dict]]]:
    """Files of a table, each with its rows: ``p`` its partition column, ``n`` and ``d`` with
    min/max statistics as Delta keeps them (none when a file holds only nulls)."""
    out = []
    for k in range(draw(st.integers(1, 5))):
        p = draw(st.one_of(st.none(), st.sampled_from(PARTS)))
        rows = [
            {
                "p": p,
                "n": draw(st.one_of(st.none(), st.integers(-3, 3))),
                "d": draw(st.one_of(st.none(), st.sampled_from(DAYS))),
            }
            for _ in range(draw(st.integers(1, 4)))
        ]
        ranges = {}
        for c in ("n", "d"):
            seen = [r[c] for r in rows if r[c] is not None]
            if seen:
                ranges[c] = (str(min(seen)), str(max(seen)))
        entry = FileEntry(
            rel_path=f"part-{k}.parquet",
            partition_values={"p": p},
            size=100,
            num_records=len(rows),
            ranges=ranges,
        )
        out.append((entry, rows))
    return out


SYMBOLS = ["=", "==", "<>", "!=", "<", "<=", ">", ">="]
JSON_OPS = {
    "equal": "=",
    "lessThan": "<",
    "lessThanOrEqual": "<=",
    "greaterThan": ">",
    "greaterThanOrEqual": ">=",
}


def _literal(column: str) -> st.SearchStrategy:
    if column == "n":
        return st.integers(-4, 4)
    if column == "d":
        return st.sampled_from(DAYS)
    return st.sampled_from(PARTS)


def _compare(value, sym: str, literal) -> bool | None:
    """SQL comparison: unknown (None) when the value is null."""
    if value is None:
        return None
    return {
        "=": value == literal,
        "==": value == literal,
        "<>": value != literal,
        "!=": value != literal,
        "<": value < literal,
        "<=": value <= literal,
        ">": value > literal,
        ">=": value >= literal,
    }[sym]


@st.composite
def sql_hints(draw) -> tuple[str, object]:
    """A ``predicateHints`` entry and its Python meaning (a function of a row)."""
    column = draw(st.sampled_from(["p", "n", "d"]))
    if draw(st.integers(0, 4)) == 0:
        negate = draw(st.booleans())
        text = f"{column} IS {'NOT ' if negate else ''}NULL"
        return text, (lambda r: (r[column] is not None) if negate else (r[column] is None))
    sym = draw(st.sampled_from(SYMBOLS))
    lit = draw(_literal(column))
    shown = str(lit) if column == "n" else f"'{lit}'"
    return f"{column} {sym} {shown}", (lambda r: _compare(r[column], sym, lit) is True)


def _json_leaf(draw) -> tuple[dict, object]:
    column = draw(st.sampled_from(["p", "n", "d"]))
    if draw(st.integers(0, 4)) == 0:
        node = {"op": "isNull", "children": [{"op": "column", "name": column}]}
        return node, (lambda r: r[column] is None)
    op = draw(st.sampled_from(sorted(JSON_OPS)))
    lit = draw(_literal(column))
    col = {"op": "column", "name": column, "valueType": "int" if column == "n" else "string"}
    val = {"op": "literal", "value": str(lit), "valueType": col["valueType"]}
    flipped = draw(st.booleans())
    sym = JSON_OPS[op]
    if flipped:  # literal first: `3 < n` is `n > 3`
        sym = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "="}[sym]
    children = [val, col] if flipped else [col, val]
    return {"op": op, "children": children}, (lambda r: _compare(r[column], sym, lit))


@st.composite
def json_hints(draw, depth: int = 0) -> tuple[dict, object]:
    """A ``jsonPredicateHints`` tree and its three-valued Python meaning."""
    if depth >= 3 or draw(st.integers(0, 2)) == 0:
        return _json_leaf(draw)
    op = draw(st.sampled_from(["and", "or", "not"]))
    if op == "not":
        node, fn = draw(json_hints(depth + 1))
        return {"op": "not", "children": [node]}, (lambda r: None if fn(r) is None else not fn(r))
    kids = [draw(json_hints(depth + 1)) for _ in range(draw(st.integers(1, 3)))]

    def kleene(r, kids=kids, op=op):
        values = [fn(r) for _, fn in kids]
        if op == "and":
            return False if False in values else (None if None in values else True)
        return True if True in values else (None if None in values else False)

    return {"op": op, "children": [n for n, _ in kids]}, kleene


@PROPERTY
@given(table=files(), hints=st.lists(sql_hints(), max_size=3), tree=st.none() | json_hints())
def test_pruning_never_drops_a_file_holding_a_matching_row(table, hints, tree):
    entries = [e for e, _ in table]
    node = None if tree is None else parse_json_predicate(json.dumps(tree[0], default=str))
    kept = {e.rel_path for e in prune(entries, [h for h, _ in hints], node, None)}
    for entry, rows in table:
        matching = [
            r
            for r in rows
            if all(fn(r) for _, fn in hints) and (tree is None or tree[1](r) is True)
        ]
        if matching:
            assert entry.rel_path in kept, (entry, matching, [h for h, _ in hints], tree)


def _json_values() -> st.SearchStrategy:
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    ops = st.sampled_from(["and", "or", "not", "equal", "lessThan", "isNull", "column", "literal"])
    return st.recursive(
        scalars | ops,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(["op", "children", "name", "value"]), inner, max_size=4
            )
        ),
        max_leaves=12,
    )


@PROPERTY
@given(
    table=files(),
    text=st.one_of(
        st.text(max_size=40),
        _json_values().map(json.dumps),
        st.integers(1, 5000).map(lambda k: '{"op": "not", "children": [' * k + "{}" + "]}" * k),
        st.integers(1, 5000).map(lambda k: "[" * k + "]" * k),
    ),
    sql=st.lists(st.text(max_size=40), max_size=3),
    limit=st.none() | st.integers(0, 10),
)
def test_any_hint_text_prunes_or_is_refused_with_a_400(table, text, sql, limit):
    for hint in sql:
        keep = sql_predicate(hint)
        assert keep is None or callable(keep)
    try:
        node = parse_json_predicate(text)
    except ProtocolError as exc:
        assert exc.status == 400 and exc.message
        node = None
    kept = prune([e for e, _ in table], sql, node, limit)
    assert {e.rel_path for e in kept} <= {e.rel_path for e, _ in table}


def test_a_predicate_tree_nested_too_deep_is_refused():
    deep = '{"op": "not", "children": [' * 200 + '{"op": "isNull"}' + "]}" * 200
    with pytest.raises(ProtocolError) as exc:
        parse_json_predicate(deep)
    assert exc.value.status == 400 and "nested" in exc.value.message


def test_a_predicate_with_an_op_that_is_not_text_keeps_the_files():
    entry = FileEntry("f.parquet", {"p": "a"}, 1, 1)
    for op in (["and"], {"op": "x"}, 3):
        node = {"op": op, "children": [{"op": "column", "name": "p"}]}
        assert prune([entry], None, node, None) == [entry]
