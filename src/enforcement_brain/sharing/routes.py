"""The HTTP endpoints: each URL of the service, its parameters, and the handler that answers it.

Why a module of declarations only: FastAPI reads a handler's signature for the parameters it
parses and for the OpenAPI page (``/docs``), so the parameters keep the protocol's camelCase
names (``maxResults``, ``startingVersion``) and the page documents exactly what a partner sends;
the answers are built elsewhere (``protocol.py``, ``extract.py``, ``files.py``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

# FastAPI resolves the handlers' annotations from this module's globals, so ``Request`` must be
# imported for real; this module is only imported when the app is built (``eb serve`` and
# tests), never by a DAG.
from fastapi import Query, Request

from enforcement_brain.sharing import protocol
from enforcement_brain.sharing.errors import bad_request
from enforcement_brain.sharing.extract import extract_page
from enforcement_brain.sharing.files import serve_file
from enforcement_brain.sharing.protocol import PREFIX

if TYPE_CHECKING:
    from fastapi import FastAPI

    from enforcement_brain.sharing.context import Service


def add_routes(app: FastAPI, svc: Service) -> None:
    """Declare every endpoint on ``app``, answered with ``svc``."""
    from starlette.concurrency import run_in_threadpool

    @app.get("/healthz", tags=["ops"])
    def healthz(request: Request):
        request.state.audit.endpoint = "healthz"
        from sqlalchemy import text

        with svc.ctx.engine.connect() as conn:
            conn.execute(text("select 1"))
        return {"status": "ok"}

    @app.get(PREFIX + "/shares", tags=["delta-sharing"])
    def list_shares(
        request: Request,
        maxResults: str | None = None,
        pageToken: str | None = None,
    ):
        return protocol.list_shares(svc, request, maxResults, pageToken)

    @app.get(PREFIX + "/shares/{share}", tags=["delta-sharing"])
    def get_share(request: Request, share: str):
        return protocol.get_share(svc, request, share)

    @app.get(PREFIX + "/shares/{share}/schemas", tags=["delta-sharing"])
    def list_schemas(
        request: Request,
        share: str,
        maxResults: str | None = None,
        pageToken: str | None = None,
    ):
        return protocol.list_schemas(svc, request, share, maxResults, pageToken)

    @app.get(PREFIX + "/shares/{share}/schemas/{schema}/tables", tags=["delta-sharing"])
    def list_tables(
        request: Request,
        share: str,
        schema: str,
        maxResults: str | None = None,
        pageToken: str | None = None,
    ):
        return protocol.list_tables(svc, request, share, schema, maxResults, pageToken)

    @app.get(PREFIX + "/shares/{share}/all-tables", tags=["delta-sharing"])
    def list_all_tables(
        request: Request,
        share: str,
        maxResults: str | None = None,
        pageToken: str | None = None,
    ):
        return protocol.list_all_tables(svc, request, share, maxResults, pageToken)

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
        return protocol.version(svc, request, share, schema, table, startingTimestamp)

    @app.head(table_path, tags=["delta-sharing"], include_in_schema=False)
    def table_version_deprecated(request: Request, share: str, schema: str, table: str):
        return protocol.version(svc, request, share, schema, table, None)

    @app.get(table_path + "/metadata", tags=["delta-sharing"])
    async def table_metadata(request: Request, share: str, schema: str, table: str):
        return await protocol.metadata(svc, request, share, schema, table)

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
        return await run_in_threadpool(protocol.query, svc, request, share, schema, table, body)

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
        return protocol.changes(svc, request, share, schema, table, params)

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
        return extract_page(svc, request, share, table, params)

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
        # Documents the endpoint; ``files.SignedFileRoute`` answers these requests before the
        # router (on the event loop: a signed URL needs no database, only an HMAC, a set
        # lookup and a stat). This runs only for a path it does not recognise.
        return serve_file(svc, request, share, table, rel_path, expires, signature)
