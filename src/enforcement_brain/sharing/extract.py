"""The plain REST extract API: rows of a share table as JSON, CSV or Parquet, for partners
without a Delta Sharing client.

``GET /extract/v1/{share}/{table}?format=json|csv|parquet&filter=…&columns=…&page_size=…&
cursor=…&since_version=…`` reads the same physical share table as the protocol (already
projected, filtered and masked), with the same tokens, quotas and audit.

Filters are a small grammar, never SQL: each ``filter`` parameter is ``column:op:value`` with
``op`` one of ``eq ne lt le gt ge in prefix isnull notnull`` (``in`` takes values separated by
``|``). Columns must be the interface's; values are parsed to the column's type and compared
with pyarrow expressions, so a value can never become code.

Pages are pinned to a table version: the cursor carries the version, the offset and a
fingerprint of the query, so a rewrite of the table between two pages does not shift rows and a
cursor cannot be replayed on another query. ``since_version=N`` restricts to the current rows
of the days (the dataset's partition column) whose data changed after version N: a day the
share layer replaced comes whole (replace the days you receive). The answer carries
``version``: the next incremental pull starts from it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from enforcement_brain.sharing.access import authorize, charge
from enforcement_brain.sharing.errors import ProtocolError, bad_request, int_param, not_found
from enforcement_brain.sharing.tables import SCHEMA

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc
    from starlette.requests import Request
    from starlette.responses import Response

    from enforcement_brain.sharing import audit
    from enforcement_brain.sharing.context import Service
    from enforcement_brain.sharing.delta_log import ShareTable

FORMATS = ("json", "csv", "parquet")
OPS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "prefix", "isnull", "notnull")
MAX_FILTERS = 20
MAX_PAGE = 10000
DEFAULT_PAGE = 1000


@dataclass(frozen=True)
class Clause:
    column: str
    op: str
    values: tuple[str, ...]


def parse_filters(raw: list[str], columns: tuple[str, ...]) -> list[Clause]:
    """``column:op:value`` clauses, checked against the interface's columns (400 otherwise)."""
    if len(raw) > MAX_FILTERS:
        raise bad_request(f"at most {MAX_FILTERS} filters")
    out = []
    for text in raw:
        if len(text) > 500:
            raise bad_request("a filter is at most 500 characters")
        column, _, rest = text.partition(":")
        op, sep, value = rest.partition(":")
        if column not in columns:
            raise bad_request(f"filter {text[:80]!r}: {column[:40]!r} is not a column of the table")
        if op not in OPS:
            raise bad_request(f"filter {text[:80]!r}: op must be one of {', '.join(OPS)}")
        if op in ("isnull", "notnull"):
            if sep:
                raise bad_request(f"filter {text[:80]!r}: {op} takes no value")
            out.append(Clause(column, op, ()))
            continue
        if not sep:
            raise bad_request(f"filter {text[:80]!r}: expected column:op:value")
        values = tuple(value.split("|")) if op == "in" else (value,)
        out.append(Clause(column, op, values))
    return out


def _scalar(text: str, kind: pa.DataType, clause: Clause) -> Any:
    """A filter value as a value of the column's type; a value that does not parse is a 400."""
    import pyarrow as pa

    try:
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            return text
        if pa.types.is_boolean(kind):
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
        if pa.types.is_integer(kind):
            value = int(text)
            low, high = _integer_range(kind)
            if not low <= value <= high:
                raise bad_request(
                    f"filter on {clause.column}: {text[:40]!r} is out of range for {kind}"
                )
            return value
        if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            return float(text)
        if pa.types.is_date(kind):
            return dt.date.fromisoformat(text)
        if pa.types.is_timestamp(kind):
            return _instant(dt.datetime.fromisoformat(text), with_zone=kind.tz is not None)
    except ValueError:
        raise bad_request(
            f"filter on {clause.column}: {text[:40]!r} is not a valid {kind} value"
        ) from None
    raise bad_request(f"filter on {clause.column}: columns of type {kind} cannot be filtered")


def _integer_range(kind: pa.DataType) -> tuple[int, int]:
    """The values an integer column of ``kind`` holds: a value beyond them is no filter value
    of that column (Arrow cannot even compare it)."""
    import pyarrow as pa

    bits = kind.bit_width
    if pa.types.is_unsigned_integer(kind):
        return 0, 2**bits - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def _instant(value: dt.datetime, *, with_zone: bool) -> dt.datetime:
    """A filter timestamp as the column compares it: a value without an offset is UTC; a
    column with a zone takes an aware value, a column without one the UTC wall time."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    return aware if with_zone else aware.astimezone(dt.UTC).replace(tzinfo=None)


def expression(clauses: list[Clause], schema: pa.Schema) -> pc.Expression | None:
    """The clauses ANDed as one pyarrow expression (None for no clause)."""
    import pyarrow.compute as pc

    expr = None
    for c in clauses:
        field = pc.field(c.column)
        kind = schema.field(c.column).type
        vals = [_scalar(v, kind, c) for v in c.values]
        if c.op == "isnull":
            e = field.is_null()
        elif c.op == "notnull":
            e = field.is_valid()
        elif c.op == "in":
            e = field.isin(vals)
        elif c.op == "prefix":
            if not isinstance(vals[0], str):
                raise bad_request(f"filter on {c.column}: prefix needs a text column")
            e = pc.starts_with(field, vals[0])
        else:
            e = {
                "eq": field == vals[0],
                "ne": field != vals[0],
                "lt": field < vals[0],
                "le": field <= vals[0],
                "gt": field > vals[0],
                "ge": field >= vals[0],
            }[c.op]
        expr = e if expr is None else expr & e
    return expr


def fingerprint(*parts: Any) -> str:
    """What a cursor is bound to (filters, columns, since_version): another query's is refused."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def encode_cursor(version: int, offset: int, query: str) -> str:
    """The next page's cursor: opaque to the partner, read back by :func:`decode_cursor`."""
    raw = json.dumps({"v": version, "o": offset, "q": query}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, query: str) -> tuple[int, int]:
    """``(version, offset)`` of a cursor this query was given; anything else is a 400."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        version, offset, q = int(data["v"]), int(data["o"]), str(data["q"])
    except (ValueError, TypeError, KeyError):
        raise bad_request("cursor is not one this server issued") from None
    if q != query:
        raise bad_request("cursor belongs to another query (filters, columns or since_version)")
    if version < 0 or offset < 0:
        raise bad_request("cursor is not one this server issued")
    return version, offset


def changed_days(
    st: ShareTable, since: int, version: int, day_column: str, kind: pa.DataType
) -> set[Any]:
    """The values of ``day_column`` the data changes of commits ``since+1 .. version`` touched.

    Why days and not files: the share layer compacts its tables (``OPTIMIZE``, a commit that
    changes no data), so "files added since N" would hand out every compacted row again, and
    a rewritten file also carries rows of days nobody changed. The change feed says which rows
    were inserted or deleted; the days of those rows are what was replaced. A file's day comes
    from its partition value, else from its statistics when they name one day, else from the
    file itself (only that column is read: change files are small).
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    as_day = Clause(day_column, "eq", ())  # typed as a filter value would be
    days: set[Any] = set()
    for entry in st.changes(since + 1, version):
        if day_column in entry.partition_values:
            text = entry.partition_values[day_column]
            days.add(None if text is None else _scalar(text, kind, as_day))
            continue
        low, high = entry.ranges.get(day_column, (None, None))
        if low is not None and low == high:
            days.add(_scalar(low, kind, as_day))
            continue
        column = pq.read_table(st.data_file(entry.rel_path), columns=[day_column])[day_column]
        days.update(pc.unique(column).to_pylist())
    return days


def read_rows(
    st: ShareTable,
    version: int,
    columns: list[str],
    clauses: list[Clause],
    since: int | None,
    day_column: str,
) -> pa.Table:
    """The matching rows of the table at ``version``, in a stable order (sorted by every
    column returned, so pages cut the same sequence every time). With ``since``, only the
    rows of the days changed after that version (:func:`changed_days`)."""
    import pyarrow.compute as pc

    dataset = st.delta_table(version).to_pyarrow_dataset()
    expr = expression(clauses, dataset.schema)
    served = st.row_filter()  # a recipient's partition of a recipients' table
    if served is not None:
        expr = served if expr is None else expr & served
    if since is not None:
        days = changed_days(st, since, version, day_column, dataset.schema.field(day_column).type)
        fresh = pc.field(day_column).isin([d for d in days if d is not None])
        if None in days:
            fresh = fresh | pc.field(day_column).is_null()
        expr = fresh if expr is None else expr & fresh
    table = dataset.to_table(columns=columns, filter=expr)
    if table.num_rows:
        table = table.sort_by([(c, "ascending") for c in columns])
    return table


def render(table: pa.Table, fmt: str) -> tuple[bytes, str]:
    """The page in the requested format: (body, media type)."""
    import io

    if fmt == "parquet":
        import pyarrow.parquet as pq

        buf = io.BytesIO()
        pq.write_table(table, buf)
        return buf.getvalue(), "application/vnd.apache.parquet"
    if fmt == "csv":
        import pyarrow.csv as pcsv

        buf = io.BytesIO()
        pcsv.write_csv(table, buf)
        return buf.getvalue(), "text/csv; charset=utf-8"
    raise ValueError(fmt)


def json_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as JSON-safe dicts (dates and times in ISO 8601)."""

    def safe(v: Any) -> Any:
        return v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v

    return [{k: safe(v) for k, v in row.items()} for row in table.to_pylist()]


def extract_page(
    svc: Service, request: Request, share: str, table: str, params: dict[str, Any]
) -> Response:
    """One page of rows of a share table as JSON, CSV or Parquet; same tokens, quotas, audit."""
    from fastapi import Response

    interface = authorize(svc.ctx, request, "extract", share)
    rec: audit.AuditRecord = request.state.audit
    rec.params = {k: v for k, v in params.items() if v not in (None, [])}
    entry, st = svc.tables.table(interface, SCHEMA, table)
    fmt = (params["format"] or "json").lower()
    if fmt not in FORMATS:
        raise bad_request(f"format must be one of {', '.join(FORMATS)}")
    size = int_param("page_size", params["page_size"], minimum=1) or DEFAULT_PAGE
    if size > MAX_PAGE:
        raise bad_request(f"page_size must be at most {MAX_PAGE}")
    since = int_param("since_version", params["since_version"])
    columns = list(entry.columns)
    if params["columns"]:
        columns = [c.strip() for c in params["columns"].split(",") if c.strip()]
        unknown = [c for c in columns if c not in entry.columns]
        if unknown or not columns or len(set(columns)) != len(columns):
            raise bad_request(f"columns must be distinct columns of the table; not: {unknown[:5]}")
    clauses = parse_filters(params["filter"], entry.columns)
    query = fingerprint(params["filter"], columns, since)
    latest = st.latest_version()
    if params["cursor"]:
        version, offset = decode_cursor(params["cursor"], query)
        if version > latest:
            raise bad_request("cursor is not one this server issued")
    else:
        version, offset = latest, 0
    if since is not None and since > version:
        raise bad_request(f"since_version {since} is after the table's version {version}")
    try:
        day = svc.ctx.catalog.datasets[entry.dataset].partition_by
        rows = read_rows(st, version, columns, clauses, since, day)
    except ProtocolError as exc:
        if since is not None and exc.status == 404:
            raise bad_request(
                f"since_version {since}: {exc.message}; pull the whole table again"
            ) from None
        raise
    except OSError:
        raise not_found(
            f"version {version} is no longer readable (files vacuumed): start again"
        ) from None
    page = rows.slice(offset, size)
    more = offset + size < rows.num_rows
    charge(svc.ctx, interface, rec, page.num_rows, 0)
    cursor = encode_cursor(version, offset + size, query) if more else None
    headers = {"X-Table-Version": str(version)}
    if cursor:
        headers["X-Next-Cursor"] = cursor
    if fmt == "json":
        body = {
            "share": interface.id,
            "table": entry.dataset,
            "version": version,
            "columns": columns,
            "rows": json_rows(page),
            "next_cursor": cursor,
        }
        return Response(
            json.dumps(body, ensure_ascii=False),
            media_type="application/json",
            headers=headers,
        )
    data, media = render(page, fmt)
    return Response(data, media_type=media, headers=headers)
