"""The Delta Sharing protocol's endpoints and their answers.

Mapping: share = interface id, one schema ``default``, table = dataset id, served from the
physical share table ``<lake>/share/<interface>__<dataset>`` only (its files were projected,
filtered and masked when the share layer was written). Answers about one table are NDJSON in
the protocol's parquet response format: a protocol line, a metadata line, then one line per
file with the URL the partner's client fetches it from (a plain GET, without the token).

Why the handlers are plain functions of a :class:`~enforcement_brain.sharing.context.Service`:
the HTTP layer (``routes.py``) stays a list of URLs, and each handler reads in order what a
request goes through: access (``access.py``), the table (``tables.py``), its log
(``delta_log.py``), pruning (``pruning.py``), the answer.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from enforcement_brain.sharing.access import authorize, charge
from enforcement_brain.sharing.errors import (
    ProtocolError,
    bad_request,
    int_param,
    not_found,
    quoted,
)
from enforcement_brain.sharing.pruning import parse_json_predicate, prune
from enforcement_brain.sharing.tables import SCHEMA

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from enforcement_brain.declarations import Interface
    from enforcement_brain.sharing import audit
    from enforcement_brain.sharing.context import Service
    from enforcement_brain.sharing.delta_log import FileEntry, ShareTable, Snapshot

#: Where the protocol's endpoints are mounted (the profile's ``endpoint``).
PREFIX = "/delta-sharing"
NDJSON = "application/x-ndjson; charset=utf-8"
CAPABILITIES = {"delta-sharing-capabilities": "responseformat=parquet"}
PROTOCOL_LINE = {"protocol": {"minReaderVersion": 1}}


# -- the answers -------------------------------------------------------------------------------
def ndjson(lines: list[dict[str, Any]], version: int, status: int = 200) -> Response:
    """One JSON object per line, with the table version and the response format in headers."""
    from fastapi import Response

    body = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
    headers = {"delta-table-version": str(version), **CAPABILITIES}
    return Response(body, status_code=status, media_type=NDJSON, headers=headers)


def page(
    items: list[dict[str, Any]], max_results: str | None, page_token: str | None
) -> dict[str, Any]:
    """Protocol pagination: ``maxResults`` and an opaque ``pageToken`` (here, an offset)."""
    size = int_param("maxResults", max_results, minimum=1) or 1000
    if size > 1000:
        raise bad_request("maxResults must be at most 1000")
    start = 0
    if page_token:
        if not page_token.isdigit() or int(page_token) > len(items):
            raise bad_request("pageToken is not one this server issued")
        start = int(page_token)
    out: dict[str, Any] = {"items": items[start : start + size]}
    if start + size < len(items):
        out["nextPageToken"] = str(start + size)
    return out


def metadata_line(snap: Snapshot, *, with_version: bool = False) -> dict[str, Any]:
    """The ``metaData`` line; of the table's configuration, only whether it has a change feed."""
    meta: dict[str, Any] = {
        "id": snap.table_id,
        "format": {"provider": "parquet"},
        "schemaString": snap.schema_string,
        "partitionColumns": snap.partition_columns,
        "configuration": {
            k.removeprefix("delta."): v
            for k, v in snap.configuration.items()
            if k == "delta.enableChangeDataFeed"
        },
    }
    if with_version:
        meta["version"] = snap.version
    return {"metaData": meta}


def table_items(interface: Interface) -> list[dict[str, Any]]:
    """The tables of an interface's share, as the listing endpoints name them."""
    return [
        {
            "name": e.dataset,
            "schema": SCHEMA,
            "share": interface.id,
            "shareId": interface.id,
            "id": f"{interface.id}.{e.dataset}",
        }
        for e in interface.datasets
    ]


def file_line(
    svc: Service,
    request: Request,
    interface_id: str,
    dataset_id: str,
    st: ShareTable,
    f: FileEntry,
) -> dict[str, Any]:
    """One file of an answer: where to fetch it, until when, its size and row count."""
    url, expires = file_url(svc, request, interface_id, dataset_id, st, f.rel_path)
    out: dict[str, Any] = {
        "url": url,
        "id": f.file_id,
        "partitionValues": f.partition_values,
        "size": f.size,
        "expirationTimestamp": expires * 1000,
    }
    if f.num_records is not None:
        out["stats"] = json.dumps({"numRecords": f.num_records})
    return out


def file_url(
    svc: Service,
    request: Request,
    interface_id: str,
    dataset_id: str,
    st: ShareTable,
    rel_path: str,
) -> tuple[str, int]:
    """Where the partner's client fetches one file (a plain GET, without the token), and
    until when (epoch seconds): an S3 presigned URL on object storage, else a URL of this
    service's file endpoint (``files.py``) signed with its key (``signing.py``)."""
    settings = svc.ctx.settings
    if not st.files_served_here:  # the store serves the file (S3ShareTable)
        ttl = settings.sharing_url_ttl_seconds
        expires = int(time.time()) + ttl  # not after the signature's own expiry
        return st.presigned_url(rel_path, ttl), expires
    expires, sig = svc.ctx.signer.sign(interface_id, dataset_id, rel_path)
    base = settings.extra.get("EB_SHARING_ENDPOINT") or (str(request.base_url).rstrip("/") + PREFIX)
    url = (
        f"{base.rstrip('/')}/files/{interface_id}/{dataset_id}/"
        f"{quote(rel_path, safe='/')}?expires={expires}&signature={sig}"
    )
    return url, expires


def query_options(body: dict[str, Any]) -> dict[str, Any]:
    """Validate the query body's known fields by type; unknown fields are ignored (protocol)."""

    def typed(name: str, kind: type, check=None):
        value = body.get(name)
        if value is None:
            return None
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise bad_request(f"{name} must be an integer, got {type(value).__name__}")
        if kind is str and not isinstance(value, str):
            raise bad_request(f"{name} must be a string, got {type(value).__name__}")
        if check and not check(value):
            raise bad_request(f"{name} must be >= 0, got {value}")
        return value

    hints = body.get("predicateHints")
    if hints is not None and (
        not isinstance(hints, list) or not all(isinstance(h, str) for h in hints)
    ):
        raise bad_request("predicateHints must be a list of strings")
    opts = {
        "predicateHints": hints,
        "jsonPredicateHints": typed("jsonPredicateHints", str),
        "limitHint": typed("limitHint", int, lambda v: v >= 0),
        "version": typed("version", int, lambda v: v >= 0),
        "timestamp": typed("timestamp", str),
        "startingVersion": typed("startingVersion", int, lambda v: v >= 0),
        "endingVersion": typed("endingVersion", int, lambda v: v >= 0),
    }
    if opts["version"] is not None and opts["timestamp"] is not None:
        raise bad_request("give version or timestamp, not both")
    return opts


def _charge_files(
    svc: Service,
    interface: Interface,
    rec: audit.AuditRecord,
    st: ShareTable,
    files: list[FileEntry],
) -> None:
    """Charge the rows of the files an answer names (from their stats, else their footers)."""
    rows = sum(st.count_rows(f) for f in files)
    charge(svc.ctx, interface, rec, rows, len(files))


# -- discovery ---------------------------------------------------------------------------------
def list_shares(
    svc: Service, request: Request, max_results: str | None, page_token: str | None
) -> dict[str, Any]:
    interface = authorize(svc.ctx, request, "list_shares")
    return page([{"name": interface.id, "id": interface.id}], max_results, page_token)


def get_share(svc: Service, request: Request, share: str) -> dict[str, Any]:
    interface = authorize(svc.ctx, request, "get_share", share)
    return {"share": {"name": interface.id, "id": interface.id}}


def list_schemas(
    svc: Service,
    request: Request,
    share: str,
    max_results: str | None,
    page_token: str | None,
) -> dict[str, Any]:
    interface = authorize(svc.ctx, request, "list_schemas", share)
    return page([{"name": SCHEMA, "share": interface.id}], max_results, page_token)


def list_tables(
    svc: Service,
    request: Request,
    share: str,
    schema: str,
    max_results: str | None,
    page_token: str | None,
) -> dict[str, Any]:
    interface = authorize(svc.ctx, request, "list_tables", share)
    if schema.lower() != SCHEMA:
        raise not_found(f"schema {quoted(schema)} does not exist in share {interface.id}")
    return page(table_items(interface), max_results, page_token)


def list_all_tables(
    svc: Service,
    request: Request,
    share: str,
    max_results: str | None,
    page_token: str | None,
) -> dict[str, Any]:
    interface = authorize(svc.ctx, request, "list_all_tables", share)
    return page(table_items(interface), max_results, page_token)


# -- one table ---------------------------------------------------------------------------------
def version(
    svc: Service,
    request: Request,
    share: str,
    schema: str,
    table: str,
    starting_timestamp: str | None,
) -> Response:
    """The table's latest version, or the first one committed at or after a timestamp."""
    from fastapi import Response

    interface = authorize(svc.ctx, request, "table_version", share)
    _, st = svc.tables.table(interface, schema, table)
    request.state.audit.params = {"startingTimestamp": starting_timestamp}
    if starting_timestamp is not None:
        found = st.version_at(starting_timestamp, earliest_after=True)
    else:
        found = st.latest_version()
    return Response(status_code=200, headers={"delta-table-version": str(found)})


async def metadata(svc: Service, request: Request, share: str, schema: str, table: str) -> Response:
    """Answered on the event loop when the snapshot is in memory (the usual case: a token
    lookup, a directory listing, no log read); the log is read in a worker thread only
    for a version no request has seen yet. (The hop to a worker thread and back costs two
    wake-ups per request; whether that moves the p95 under load was not isolated.)

    On object storage every look at the log is a request to the store (a LIST for the
    latest version), which must not hold the event loop: there it all runs in a thread."""
    from starlette.concurrency import run_in_threadpool

    interface = authorize(svc.ctx, request, "table_metadata", share)
    if svc.tables.table_class.log_reads_block:
        snap = await run_in_threadpool(
            lambda: svc.tables.table(interface, schema, table)[1].snapshot()
        )
    else:
        _, st = svc.tables.table(interface, schema, table)
        snap = st.cached_snapshot()
        if snap is None:
            snap = await run_in_threadpool(st.snapshot)
    return ndjson([PROTOCOL_LINE, metadata_line(snap)], snap.version)


def query(
    svc: Service, request: Request, share: str, schema: str, table: str, body: dict[str, Any]
) -> Response:
    """The files of the table (at a version or a timestamp) that may hold the hinted rows."""
    interface = authorize(svc.ctx, request, "query", share)
    rec: audit.AuditRecord = request.state.audit
    rec.params = body
    entry, st = svc.tables.table(interface, schema, table)
    opts = query_options(body)
    if opts["startingVersion"] is not None:
        raise bad_request("startingVersion on /query (streaming) is not supported: use /changes")
    wanted = opts["version"]
    if opts["timestamp"] is not None:
        wanted = st.version_at(opts["timestamp"], earliest_after=False)
    snap = st.snapshot(wanted)
    json_pred = (
        parse_json_predicate(opts["jsonPredicateHints"])
        if opts["jsonPredicateHints"] is not None
        else None
    )
    files = prune(
        snap.files,
        opts["predicateHints"],
        json_pred,
        opts["limitHint"],
    )
    lines: list[dict[str, Any]] = [
        PROTOCOL_LINE,
        metadata_line(snap, with_version=wanted is not None),
    ]
    lines += [{"file": file_line(svc, request, interface.id, entry.dataset, st, f)} for f in files]
    _charge_files(svc, interface, rec, st, files)
    if st.files_served_here:
        st.listed_paths()  # here, in a worker thread: the file requests that follow find it
    return ndjson(lines, snap.version)


def changes(
    svc: Service,
    request: Request,
    share: str,
    schema: str,
    table: str,
    params: dict[str, str | None],
) -> Response:
    """The change files of a range of versions (the change data feed)."""
    interface = authorize(svc.ctx, request, "changes", share)
    rec: audit.AuditRecord = request.state.audit
    rec.params = {k: v for k, v in params.items() if v is not None}
    entry, st = svc.tables.table(interface, schema, table)
    latest = st.latest_version()
    start = int_param("startingVersion", params["startingVersion"])
    end = int_param("endingVersion", params["endingVersion"])
    if start is not None and params["startingTimestamp"] is not None:
        raise bad_request("give startingVersion or startingTimestamp, not both")
    if end is not None and params["endingTimestamp"] is not None:
        raise bad_request("give endingVersion or endingTimestamp, not both")
    if params["startingTimestamp"] is not None:
        start = st.version_at(params["startingTimestamp"], earliest_after=True)
    if params["endingTimestamp"] is not None:
        end = st.version_at(params["endingTimestamp"], earliest_after=False)
    if start is None:
        raise bad_request("startingVersion or startingTimestamp is required")
    if start > latest:
        raise bad_request(f"startingVersion {start} is after the latest version {latest}")
    end = latest if end is None else end
    if end > latest:
        raise bad_request(f"endingVersion {end} is after the latest version {latest}")
    if start > end:
        raise bad_request(f"startingVersion {start} is after endingVersion {end}")
    snap = st.snapshot()
    if not snap.cdf_enabled:
        raise bad_request(f"change data feed is not enabled on {entry.dataset}")
    try:
        files = st.changes(start, end)
    except ProtocolError as exc:
        if exc.status != 404:  # a 403 (a file outside the table) stays one
            raise
        raise bad_request(f"versions {start}..{end} are no longer all in the log: {exc}") from None
    lines: list[dict[str, Any]] = [PROTOCOL_LINE, metadata_line(snap)]
    for f in files:
        body = file_line(svc, request, interface.id, entry.dataset, st, f)
        body.pop("stats", None)
        body["timestamp"], body["version"] = f.timestamp, f.version
        lines.append({f.kind: body})
    _charge_files(svc, interface, rec, st, files)
    return ndjson(lines, latest)
