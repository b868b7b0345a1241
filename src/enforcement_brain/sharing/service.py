"""The partner-facing HTTP service: the Delta Sharing REST protocol, governed.

Mapping: share = interface id, one schema ``default``, table = dataset id, served from the
physical share table ``<lake>/share/<interface>__<dataset>`` only (its files were projected,
filtered and masked when the share layer was written). Every request carries a per-interface
bearer token, counts against the interface's quota and leaves one audit row. On a local lake,
files are fetched through URLs this service signs (HMAC, short-lived) and serves itself, after
checking the file is inside that share table's folder and named by its Delta log; on an
``s3a://`` lake, through S3 presigned URLs for keys under that share table's prefix only
(``sharing/s3.py``), and the service serves no file itself.

Errors are the protocol's ``{"errorCode": …, "message": …}`` with a 4xx status; a bug answers a
generic 500 body (the trace goes to the log, never to the partner).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

# FastAPI resolves the handlers' annotations from this module's globals, so ``Request`` must be
# imported for real; this module is only imported by ``eb serve`` and tests, never by a DAG.
from fastapi import FastAPI, Query, Request

from enforcement_brain.declarations import Catalog, Interface, InterfaceDataset
from enforcement_brain.lake.s3 import LakeStore
from enforcement_brain.settings import Settings
from enforcement_brain.share.project import share_table_name
from enforcement_brain.sharing import audit, credentials
from enforcement_brain.sharing.delta_log import (
    PROTOCOL_LINE,
    FileEntry,
    ShareTable,
    plain_data_path,
)
from enforcement_brain.sharing.errors import ProtocolError, bad_request, not_found
from enforcement_brain.sharing.pruning import parse_json_predicate, prune
from enforcement_brain.sharing.s3 import S3ShareTable
from enforcement_brain.sharing.signing import SignatureError, Signer
from enforcement_brain.sharing.window import ENV as QUOTA_FILE_ENV
from enforcement_brain.sharing.window import MinuteWindows

if TYPE_CHECKING:
    from sqlalchemy import Engine

PREFIX = "/delta-sharing"
SCHEMA = "default"
NDJSON = "application/x-ndjson; charset=utf-8"
CAPABILITIES = {"delta-sharing-capabilities": "responseformat=parquet"}
LOG = logging.getLogger("enforcement_brain.sharing")
#: Data files up to this size are answered from memory in one piece; larger ones are streamed.
SMALL_FILE_BYTES = 1 << 20


@dataclass
class Context:
    settings: Settings
    catalog: Catalog
    engine: Engine
    signer: Signer
    quotas: audit.Quotas


def _name(value: str) -> str:
    """A path parameter quoted for a message: bounded, so a partner cannot flood the log."""
    return repr(value[:80])


def _ndjson(lines: list[dict[str, Any]], version: int, status: int = 200):
    from fastapi import Response

    body = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
    headers = {"delta-table-version": str(version), **CAPABILITIES}
    return Response(body, status_code=status, media_type=NDJSON, headers=headers)


def _int_param(name: str, raw: str | None, *, minimum: int = 0) -> int | None:
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name} must be an integer, got {raw[:40]!r}") from None
    if value < minimum:
        raise bad_request(f"{name} must be >= {minimum}, got {value}")
    return value


def _page(items: list[dict[str, Any]], max_results: str | None, page_token: str | None):
    """Protocol pagination: ``maxResults`` and an opaque ``pageToken`` (here, an offset)."""
    size = _int_param("maxResults", max_results, minimum=1) or 1000
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


class Service:
    """The handlers, bound to one :class:`Context` (settings, catalog, store, signer, quotas)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._share_tables: dict[tuple[str, str], ShareTable] = {}
        #: The lake's object store, None for a lake on this machine. With a store, partners
        #: fetch files from it (S3 presigned URLs): the service's /files endpoint, and the
        #: log's path set it checks, are not used.
        self.store = None if ctx.settings.lake_is_local else LakeStore.from_settings(ctx.settings)
        #: What the lake's share tables are: the one place that knows local disk from a store.
        self.table_class: type[ShareTable] = ShareTable if self.store is None else S3ShareTable

    def warm(self) -> None:
        """Read every published share table's snapshot before taking connections.

        Otherwise the first requests pay the Delta reader's imports and the log reads (seconds
        on a busy machine), and every request arriving meanwhile queues behind them.
        """
        import pyarrow.parquet  # noqa: F401 - the file endpoint's and the extract API's reader

        for interface in self.ctx.catalog.interfaces.values():
            for entry in interface.datasets:
                st = self.share_table(interface.id, entry.dataset)
                try:
                    if st.exists():
                        st.snapshot()
                        if st.files_served_here:
                            st.listed_paths()
                except ProtocolError:
                    continue  # a table being written: the first request reads it

    # -- access ------------------------------------------------------------------------------
    def authorize(self, request: Request, endpoint: str, share: str | None = None) -> Interface:
        """Token → interface → quota → share: the order in which refusals are reported."""
        rec: audit.AuditRecord = request.state.audit
        rec.endpoint = endpoint
        try:
            info = credentials.authenticate(self.ctx.engine, request.headers.get("authorization"))
        except credentials.AuthError as exc:
            raise ProtocolError(401, "UNAUTHENTICATED", str(exc)) from None
        rec.interface_id, rec.token_id = info.interface_id, info.token_id
        interface = self.ctx.catalog.interfaces.get(info.interface_id)
        if interface is None:
            raise ProtocolError(
                403, "PERMISSION_DENIED", f"interface {info.interface_id} is no longer declared"
            )
        try:
            self.ctx.quotas.hit(interface.id, interface.quota.get("requests_per_minute"))
        except audit.QuotaExceeded as exc:
            raise ProtocolError(
                429, "RESOURCE_EXHAUSTED", str(exc), {"Retry-After": str(exc.retry_after)}
            ) from None
        if share is not None and share.lower() != interface.id:
            if share.lower() in self.ctx.catalog.interfaces:
                raise ProtocolError(
                    403, "PERMISSION_DENIED", f"share {_name(share)} is not granted to this token"
                )
            raise not_found(f"share {_name(share)} does not exist")
        return interface

    def table(
        self, interface: Interface, schema: str, table: str
    ) -> tuple[InterfaceDataset, ShareTable]:
        if schema.lower() != SCHEMA:
            raise not_found(f"schema {_name(schema)} does not exist in share {interface.id}")
        entry = next((e for e in interface.datasets if e.dataset == table.lower()), None)
        if entry is None:
            raise not_found(f"table {_name(table)} does not exist in {interface.id}.{SCHEMA}")
        share_table = self.share_table(interface.id, entry.dataset)
        if not share_table.exists():
            raise not_found(f"table {entry.dataset} is declared but not published yet")
        return entry, share_table

    def share_table(self, interface_id: str, dataset_id: str) -> ShareTable:
        """The share table of one declared (interface, dataset), made once per process.

        Its folder is resolved (symlinks followed) once: on every file request that walk of
        the path cost about a tenth of a worker's time under load.
        """
        key = (interface_id, dataset_id)
        st = self._share_tables.get(key)
        if st is None:
            uri = self.ctx.settings.table_uri("share", share_table_name(interface_id, dataset_id))
            st = self._share_tables[key] = self.table_class.at(uri, self.store)
        return st

    def _tables(self, interface: Interface) -> list[dict[str, Any]]:
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

    # -- discovery -----------------------------------------------------------------------------
    def list_shares(self, request: Request, max_results: str | None, page_token: str | None):
        interface = self.authorize(request, "list_shares")
        return _page([{"name": interface.id, "id": interface.id}], max_results, page_token)

    def get_share(self, request: Request, share: str):
        interface = self.authorize(request, "get_share", share)
        return {"share": {"name": interface.id, "id": interface.id}}

    def list_schemas(self, request: Request, share: str, max_results, page_token):
        interface = self.authorize(request, "list_schemas", share)
        return _page([{"name": SCHEMA, "share": interface.id}], max_results, page_token)

    def list_tables(self, request: Request, share: str, schema: str, max_results, page_token):
        interface = self.authorize(request, "list_tables", share)
        if schema.lower() != SCHEMA:
            raise not_found(f"schema {_name(schema)} does not exist in share {interface.id}")
        return _page(self._tables(interface), max_results, page_token)

    def list_all_tables(self, request: Request, share: str, max_results, page_token):
        interface = self.authorize(request, "list_all_tables", share)
        return _page(self._tables(interface), max_results, page_token)

    # -- one table -----------------------------------------------------------------------------
    def version(self, request: Request, share, schema, table, starting_timestamp: str | None):
        from fastapi import Response

        interface = self.authorize(request, "table_version", share)
        _, st = self.table(interface, schema, table)
        request.state.audit.params = {"startingTimestamp": starting_timestamp}
        if starting_timestamp is not None:
            version = st.version_at(starting_timestamp, earliest_after=True)
        else:
            version = st.latest_version()
        return Response(status_code=200, headers={"delta-table-version": str(version)})

    async def metadata(self, request: Request, share, schema, table):
        """Answered on the event loop when the snapshot is in memory (the usual case: a token
        lookup, a directory listing, no log read); the log is read in a worker thread only
        for a version no request has seen yet. (The hop to a worker thread and back costs two
        wake-ups per request; whether that moves the p95 under load was not isolated.)

        On object storage every look at the log is a request to the store (a LIST for the
        latest version), which must not hold the event loop: there it all runs in a thread."""
        from starlette.concurrency import run_in_threadpool

        interface = self.authorize(request, "table_metadata", share)
        if self.table_class.log_reads_block:
            snap = await run_in_threadpool(
                lambda: self.table(interface, schema, table)[1].snapshot()
            )
        else:
            _, st = self.table(interface, schema, table)
            snap = st.cached_snapshot()
            if snap is None:
                snap = await run_in_threadpool(st.snapshot)
        return _ndjson([PROTOCOL_LINE, snap.metadata_line()], snap.version)

    def query(self, request: Request, share, schema, table, body: dict[str, Any]):
        interface = self.authorize(request, "query", share)
        rec: audit.AuditRecord = request.state.audit
        rec.params = body
        entry, st = self.table(interface, schema, table)
        opts = _query_options(body)
        if opts["startingVersion"] is not None:
            raise bad_request(
                "startingVersion on /query (streaming) is not supported: use /changes"
            )
        version = opts["version"]
        if opts["timestamp"] is not None:
            version = st.version_at(opts["timestamp"], earliest_after=False)
        snap = st.snapshot(version)
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
            snap.metadata_line(with_version=version is not None),
        ]
        lines += [
            {"file": self._file_json(request, interface.id, entry.dataset, st, f)} for f in files
        ]
        self._charge(interface, rec, st, files)
        if st.files_served_here:
            st.listed_paths()  # here, in a worker thread: the file requests that follow find it
        return _ndjson(lines, snap.version)

    def changes(self, request: Request, share, schema, table, params: dict[str, str | None]):
        interface = self.authorize(request, "changes", share)
        rec: audit.AuditRecord = request.state.audit
        rec.params = {k: v for k, v in params.items() if v is not None}
        entry, st = self.table(interface, schema, table)
        latest = st.latest_version()
        start = _int_param("startingVersion", params["startingVersion"])
        end = _int_param("endingVersion", params["endingVersion"])
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
            raise bad_request(
                f"versions {start}..{end} are no longer all in the log: {exc}"
            ) from None
        lines: list[dict[str, Any]] = [PROTOCOL_LINE, snap.metadata_line()]
        for f in files:
            body = self._file_json(request, interface.id, entry.dataset, st, f)
            body.pop("stats", None)
            body["timestamp"], body["version"] = f.timestamp, f.version
            lines.append({f.kind: body})
        self._charge(interface, rec, st, files)
        return _ndjson(lines, latest)

    def _charge(
        self, interface: Interface, rec: audit.AuditRecord, st: ShareTable, files: list[FileEntry]
    ) -> None:
        """Count rows and files handed out; refuse (429) beyond the interface's daily rows."""
        rows = sum(st.count_rows(f) for f in files)
        try:
            self.ctx.quotas.take_rows(interface.id, rows, interface.quota.get("rows_per_day"))
        except audit.QuotaExceeded as exc:
            raise ProtocolError(
                429, "RESOURCE_EXHAUSTED", str(exc), {"Retry-After": str(exc.retry_after)}
            ) from None
        rec.rows_served, rec.files_served = rows, len(files)

    def _file_json(
        self, request: Request, interface_id: str, dataset_id: str, st: ShareTable, f: FileEntry
    ) -> dict[str, Any]:
        url, expires = self._file_url(request, interface_id, dataset_id, st, f.rel_path)
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

    def _file_url(
        self, request: Request, interface_id: str, dataset_id: str, st: ShareTable, rel_path: str
    ) -> tuple[str, int]:
        """Where the partner's client fetches one file (a plain GET, without the token), and
        until when (epoch seconds): an S3 presigned URL on object storage, else a URL of this
        service's file endpoint signed with its key."""
        if not st.files_served_here:  # the store serves the file (S3ShareTable)
            ttl = self.ctx.settings.sharing_url_ttl_seconds
            expires = int(time.time()) + ttl  # not after the signature's own expiry
            return st.presigned_url(rel_path, ttl), expires
        expires, sig = self.ctx.signer.sign(interface_id, dataset_id, rel_path)
        base = self.ctx.settings.extra.get("EB_SHARING_ENDPOINT") or (
            str(request.base_url).rstrip("/") + PREFIX
        )
        url = (
            f"{base.rstrip('/')}/files/{interface_id}/{dataset_id}/"
            f"{quote(rel_path, safe='/')}?expires={expires}&signature={sig}"
        )
        return url, expires

    # -- the plain REST extract API (sharing/extract.py) ------------------------------------
    def extract(self, request: Request, share: str, table: str, params: dict[str, Any]):
        """One page of rows of a share table as JSON, CSV or Parquet; same tokens, quotas, audit."""
        from fastapi import Response

        from enforcement_brain.sharing import extract as ex

        interface = self.authorize(request, "extract", share)
        rec: audit.AuditRecord = request.state.audit
        rec.params = {k: v for k, v in params.items() if v not in (None, [])}
        entry, st = self.table(interface, SCHEMA, table)
        fmt = (params["format"] or "json").lower()
        if fmt not in ex.FORMATS:
            raise bad_request(f"format must be one of {', '.join(ex.FORMATS)}")
        size = _int_param("page_size", params["page_size"], minimum=1) or ex.DEFAULT_PAGE
        if size > ex.MAX_PAGE:
            raise bad_request(f"page_size must be at most {ex.MAX_PAGE}")
        since = _int_param("since_version", params["since_version"])
        columns = list(entry.columns)
        if params["columns"]:
            columns = [c.strip() for c in params["columns"].split(",") if c.strip()]
            unknown = [c for c in columns if c not in entry.columns]
            if unknown or not columns or len(set(columns)) != len(columns):
                raise bad_request(
                    f"columns must be distinct columns of the table; not: {unknown[:5]}"
                )
        clauses = ex.parse_filters(params["filter"], entry.columns)
        query = ex.fingerprint(params["filter"], columns, since)
        latest = st.latest_version()
        if params["cursor"]:
            version, offset = ex.decode_cursor(params["cursor"], query)
            if version > latest:
                raise bad_request("cursor is not one this server issued")
        else:
            version, offset = latest, 0
        if since is not None and since > version:
            raise bad_request(f"since_version {since} is after the table's version {version}")
        try:
            day = self.ctx.catalog.datasets[entry.dataset].partition_by
            rows = ex.read_rows(st, version, columns, clauses, since, day)
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
        try:
            self.ctx.quotas.take_rows(
                interface.id, page.num_rows, interface.quota.get("rows_per_day")
            )
        except audit.QuotaExceeded as exc:
            raise ProtocolError(
                429, "RESOURCE_EXHAUSTED", str(exc), {"Retry-After": str(exc.retry_after)}
            ) from None
        rec.rows_served, rec.files_served = page.num_rows, 0
        cursor = ex.encode_cursor(version, offset + size, query) if more else None
        headers = {"X-Table-Version": str(version)}
        if cursor:
            headers["X-Next-Cursor"] = cursor
        if fmt == "json":
            body = {
                "share": interface.id,
                "table": entry.dataset,
                "version": version,
                "columns": columns,
                "rows": ex.json_rows(page),
                "next_cursor": cursor,
            }
            return Response(
                json.dumps(body, ensure_ascii=False),
                media_type="application/json",
                headers=headers,
            )
        data, media = ex.render(page, fmt)
        return Response(data, media_type=media, headers=headers)

    # -- the files -----------------------------------------------------------------------------
    def file(
        self,
        request: Request,
        share: str,
        table: str,
        rel_path: str,
        expires: str | None,
        signature: str | None,
    ):
        """Serve one data file of one share table, for a valid signed URL only."""
        from fastapi.responses import FileResponse

        rec: audit.AuditRecord = request.state.audit
        rec.endpoint = "file"
        rec.params = {"file": rel_path[:300]}
        if not self.table_class.files_served_here:
            raise not_found("files of a lake on object storage are fetched from the store")
        try:
            self.ctx.signer.verify(share, table, rel_path, expires or "", signature or "")
        except SignatureError as exc:
            raise ProtocolError(403, "PERMISSION_DENIED", str(exc)) from None
        rec.interface_id = share
        interface = self.ctx.catalog.interfaces.get(share)
        if interface is None or not any(e.dataset == table for e in interface.datasets):
            raise not_found("the table of this URL is no longer shared")
        st = self.share_table(share, table)
        if not plain_data_path(rel_path):
            raise ProtocolError(403, "PERMISSION_DENIED", "the path is outside the share table")
        if not st.names_file(rel_path):
            raise ProtocolError(
                403, "PERMISSION_DENIED", "the file is not a data file of the share table"
            )
        # A plain relative path that the table's own log names, under the share
        # table's resolved folder; lstat, so a symlink planted there is not followed.
        target = st.root / rel_path
        try:
            info = target.lstat()
        except (OSError, ValueError):
            info = None
        if info is None or not stat.S_ISREG(info.st_mode):
            raise not_found("the file no longer exists (vacuumed): query the table again")
        rec.files_served = 1
        small = info.st_size <= SMALL_FILE_BYTES
        if request.method == "GET" and small and "range" not in request.headers:
            from fastapi import Response

            # One read here instead of FileResponse's stat, open and chunk reads, each a hop
            # to a worker thread: most share files of a day's partition are this small. Range
            # requests (a reader fetching a footer) keep FileResponse, which answers them 206.
            return Response(target.read_bytes(), media_type="application/octet-stream")
        return FileResponse(target, media_type="application/octet-stream")


def _query_options(body: dict[str, Any]) -> dict[str, Any]:
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


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line: what log shippers and ``jq`` read without a parser."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if isinstance(record.msg, dict):
            out.update(record.msg)
        else:
            out["message"] = record.getMessage()
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    for name in ("enforcement_brain.sharing", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


class SignedFileRoute:
    """Signed file URLs go straight to :meth:`Service.file`, past FastAPI's routing.

    Why: a page is one query and then one request per file it names, so file requests are
    most of the traffic, and FastAPI's per-request machinery (matching some twenty routes,
    solving the handler's parameters, its exception and exit-stack layers) cost more than the
    file itself. This sits inside
    :class:`AuditMiddleware`, so a file request is audited and logged as before; errors are the
    same JSON bodies; the route stays declared on the app for the OpenAPI page, and a path
    this does not recognise goes on to it.
    """

    _PATH = re.compile(re.escape(PREFIX) + r"/files/([^/]+)/([^/]+)/(.+)")

    def __init__(self, app: Any, service: Service, error: Callable[..., Any]) -> None:
        self.app, self.service, self.error = app, service, error

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        match = None
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            match = self._PATH.fullmatch(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        query = request.query_params
        share, table, rel_path = match.groups()
        try:
            response = self.service.file(
                request, share, table, rel_path, query.get("expires"), query.get("signature")
            )
        except ProtocolError as exc:
            response = self.error(exc.status, exc.code, exc.message, request, exc.headers)
        await response(scope, receive, send)


class AuditMiddleware:
    """One audit row and one JSON log line per request; a bug answers a generic 500.

    A plain ASGI middleware rather than ``@app.middleware("http")``: Starlette's
    ``BaseHTTPMiddleware`` runs every request through an extra task and memory streams, a cost
    paid on every file request. The audit row is committed when the response starts, before the
    partner sees its status, so "who read what" is in the table by the time they have it.
    """

    def __init__(self, app: Any, engine: Engine) -> None:
        self.app = app
        self.writer = audit.GroupWriter(engine)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from starlette.responses import JSONResponse

        started = time.perf_counter()
        raw = scope.get("raw_path", b"").decode("latin-1") or scope.get("path", "")
        client = scope.get("client")
        rec = audit.AuditRecord(
            method=scope["method"], path=raw, client=client[0] if client else None
        )
        scope.setdefault("state", {})["audit"] = rec
        begun = False

        async def finish(status: int) -> None:
            rec.status = status
            rec.duration_ms = int((time.perf_counter() - started) * 1000)
            if rec.endpoint != "healthz" and not raw.startswith(("/docs", "/openapi", "/redoc")):
                try:
                    await self.writer.write(rec)
                except Exception:
                    LOG.exception({"event": "audit write failed", "path": raw[:300]})
            # A file served is in the audit already, and files are most of the requests: its
            # log line is DEBUG (the line cost a tenth of a worker's time under load, py-spy).
            # Every API call and every refusal stays an INFO line.
            level = logging.DEBUG if rec.endpoint == "file" and status < 400 else logging.INFO
            if not LOG.isEnabledFor(level):
                return
            LOG.log(
                level,
                {
                    "event": "request",
                    "method": rec.method,
                    "path": raw[:300],
                    "endpoint": rec.endpoint,
                    "status": rec.status,
                    "interface": rec.interface_id,
                    "rows": rec.rows_served,
                    "files": rec.files_served,
                    "ms": rec.duration_ms,
                    "client": rec.client,
                    "error": rec.error_code,
                },
            )

        async def audited_send(message: dict[str, Any]) -> None:
            nonlocal begun
            if message["type"] == "http.response.start":
                begun = True
                await finish(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, audited_send)
        except Exception:
            LOG.exception({"event": "unhandled error", "path": raw[:300]})
            if begun:  # the status already went out: nothing else can be said
                raise
            rec.error_code, rec.message = "INTERNAL_ERROR", "internal error (see the service log)"
            response = JSONResponse(
                {"errorCode": "INTERNAL_ERROR", "message": "internal error; it has been logged"},
                status_code=500,
            )
            await response(scope, receive, audited_send)


def create_app(
    settings: Settings, catalog: Catalog, engine: Engine, signer: Signer | None = None
) -> FastAPI:
    """The FastAPI application (the caller owns the engine and the server).

    Handler parameters keep the protocol's camelCase names (``maxResults``, ``startingVersion``)
    so the OpenAPI page documents exactly what a partner sends.
    """
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException

    if signer is None:
        secret = settings.sharing_secret
        if secret is None and settings.lake_is_local:
            LOG.warning({"event": "no EB_SHARING_SECRET: signing with a per-process random key"})
        signer = Signer(
            (secret or secrets.token_hex(32)).encode(), settings.sharing_url_ttl_seconds
        )
    quotas = audit.Quotas(engine, MinuteWindows.for_settings(settings))
    svc = Service(Context(settings, catalog, engine, signer, quotas))
    app = FastAPI(
        title="enforcement-brain sharing",
        description="Delta Sharing protocol over the governed share layer (docs/sharing.md).",
        version="1",
    )
    app.state.service = svc

    def error(status: int, code: str, message: str, request: Request, headers=None):
        rec = getattr(request.state, "audit", None)
        if rec is not None:
            rec.error_code, rec.message = code, message
        return JSONResponse(
            {"errorCode": code, "message": message}, status_code=status, headers=headers
        )

    @app.exception_handler(ProtocolError)
    async def _protocol_error(request: Request, exc: ProtocolError):
        return error(exc.status, exc.code, exc.message, request, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        return error(
            400, "INVALID_PARAMETER_VALUE", f"{where}: {first.get('msg', 'invalid')}", request
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "RESOURCE_DOES_NOT_EXIST", 405: "METHOD_NOT_ALLOWED"}.get(
            exc.status_code, "INVALID_REQUEST"
        )
        message = "no such endpoint" if exc.status_code == 404 else str(exc.detail)
        return error(exc.status_code, code, message, request)

    # Added first, so it runs inside the audit (the middleware added last is the outermost).
    app.add_middleware(SignedFileRoute, service=svc, error=error)
    app.add_middleware(AuditMiddleware, engine=engine)

    @app.get("/healthz", tags=["ops"])
    def healthz(request: Request):
        request.state.audit.endpoint = "healthz"
        from sqlalchemy import text

        with engine.connect() as conn:
            conn.execute(text("select 1"))
        return {"status": "ok"}

    @app.get(PREFIX + "/shares", tags=["delta-sharing"])
    def list_shares(
        request: Request,
        maxResults: str | None = None,
        pageToken: str | None = None,
    ):
        return svc.list_shares(request, maxResults, pageToken)

    @app.get(PREFIX + "/shares/{share}", tags=["delta-sharing"])
    def get_share(request: Request, share: str):
        return svc.get_share(request, share)

    @app.get(PREFIX + "/shares/{share}/schemas", tags=["delta-sharing"])
    def list_schemas(
        request: Request,
        share: str,
        maxResults: str | None = None,
        pageToken: str | None = None,
    ):
        return svc.list_schemas(request, share, maxResults, pageToken)

    @app.get(PREFIX + "/shares/{share}/schemas/{schema}/tables", tags=["delta-sharing"])
    def list_tables(
        request: Request,
        share: str,
        schema: str,
        maxResults: str | None = None,
        pageToken: str | None = None,
    ):
        return svc.list_tables(request, share, schema, maxResults, pageToken)

    @app.get(PREFIX + "/shares/{share}/all-tables", tags=["delta-sharing"])
    def list_all_tables(
        request: Request,
        share: str,
        maxResults: str | None = None,
        pageToken: str | None = None,
    ):
        return svc.list_all_tables(request, share, maxResults, pageToken)

    table_path = PREFIX + "/shares/{share}/schemas/{schema}/tables/{table}"

    @app.get(table_path + "/version", tags=["delta-sharing"])
    @app.head(table_path + "/version", include_in_schema=False)
    def table_version(
        request: Request,
        share: str,
        schema: str,
        table: str,
        startingTimestamp: str | None = None,
    ):
        return svc.version(request, share, schema, table, startingTimestamp)

    @app.head(table_path, tags=["delta-sharing"], include_in_schema=False)
    def table_version_deprecated(request: Request, share: str, schema: str, table: str):
        return svc.version(request, share, schema, table, None)

    @app.get(table_path + "/metadata", tags=["delta-sharing"])
    async def table_metadata(request: Request, share: str, schema: str, table: str):
        return await svc.metadata(request, share, schema, table)

    @app.post(table_path + "/query", tags=["delta-sharing"])
    async def query(request: Request, share: str, schema: str, table: str):
        raw = await request.body()
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                request.state.audit.endpoint = "query"
                raise bad_request("the request body is not valid JSON") from None
        else:
            body = {}
        if not isinstance(body, dict):
            request.state.audit.endpoint = "query"
            raise bad_request("the request body must be a JSON object")
        return await run_in_threadpool(svc.query, request, share, schema, table, body)

    @app.get(table_path + "/changes", tags=["delta-sharing"])
    def changes(
        request: Request,
        share: str,
        schema: str,
        table: str,
        startingVersion: str | None = None,
        startingTimestamp: str | None = None,
        endingVersion: str | None = None,
        endingTimestamp: str | None = None,
        includeHistoricalMetadata: str | None = None,
    ):
        params = {
            "startingVersion": startingVersion,
            "startingTimestamp": startingTimestamp,
            "endingVersion": endingVersion,
            "endingTimestamp": endingTimestamp,
        }
        return svc.changes(request, share, schema, table, params)

    @app.get("/extract/v1/{share}/{table}", tags=["extract"])
    def extract(
        request: Request,
        share: str,
        table: str,
        format: str | None = None,
        filters: list[str] = Query(default=[], alias="filter"),  # noqa: B008 - FastAPI idiom
        columns: str | None = None,
        page_size: str | None = None,
        cursor: str | None = None,
        since_version: str | None = None,
    ):
        """Rows of a share table (JSON, CSV or Parquet) for partners without a Delta Sharing
        client: ``filter=column:op:value`` (repeatable), a cursor per page, ``since_version``
        for incremental pulls (docs/sharing.md)."""
        params = {
            "format": format,
            "filter": filters,
            "columns": columns,
            "page_size": page_size,
            "cursor": cursor,
            "since_version": since_version,
        }
        return svc.extract(request, share, table, params)

    @app.get(PREFIX + "/files/{share}/{table}/{rel_path:path}", tags=["files"])
    @app.head(PREFIX + "/files/{share}/{table}/{rel_path:path}", include_in_schema=False)
    async def file(
        request: Request,
        share: str,
        table: str,
        rel_path: str,
        expires: str | None = None,
        signature: str | None = None,
    ):
        # Documents the endpoint; :class:`SignedFileRoute` answers these requests before the
        # router (on the event loop: a signed URL needs no database, only an HMAC, a set
        # lookup and a stat). This runs only for a path it does not recognise.
        return svc.file(request, share, table, rel_path, expires, signature)

    return app


def build(settings: Settings) -> FastAPI:
    """The app for ``settings``: refuses (exit 2) without a credential store or with bad config."""
    from enforcement_brain.declarations import load_catalog
    from enforcement_brain.sharing.db import connect

    engine = connect(settings.governance_db_url, create=False)
    return create_app(settings, load_catalog(settings.standards_dir), engine)


def app_from_environment() -> FastAPI:
    """The app as each ``uvicorn`` worker process builds it (settings from its environment)."""
    from enforcement_brain.settings import load_settings

    configure_logging()
    app = build(load_settings())
    app.state.service.warm()
    return app


def serve(settings: Settings) -> None:
    """Run the service in the foreground on ``EB_INTERFACE_HOST``:``EB_SHARING_PORT``.

    With ``EB_SHARING_WORKERS`` > 1, uvicorn starts that many worker processes sharing the
    port; each builds the app from the environment, and they share one signing key (a URL
    signed by one worker is fetched from another) and one table of quota counters (requests
    per minute and rows per day; a file under ``run_dir``, removed when the service stops
    cleanly), so a quota is not multiplied by the number of workers.
    """
    import atexit
    import os

    import uvicorn

    configure_logging()
    workers = settings.sharing_workers
    if workers > 1 and settings.sharing_secret is None:
        os.environ["EB_SHARING_SECRET"] = secrets.token_hex(32)  # inherited by the workers
    build(settings)  # refuse to start (credential store, config) before forking anything
    quota_file = MinuteWindows.create(settings.run_dir)
    atexit.register(quota_file.unlink, missing_ok=True)
    os.environ[QUOTA_FILE_ENV] = str(quota_file)  # inherited by the workers, like the key
    LOG.info(
        {
            "event": "starting",
            "endpoint": settings.sharing_endpoint,
            "host": settings.interface_host,
            "port": settings.sharing_port,
            "workers": workers,
        }
    )
    uvicorn.run(
        "enforcement_brain.sharing.service:app_from_environment",
        factory=True,
        workers=workers,
        host=settings.interface_host,
        port=settings.sharing_port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
    )
