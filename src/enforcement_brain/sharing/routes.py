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
from pydantic import BaseModel, Field

from enforcement_brain.sharing import protocol
from enforcement_brain.sharing.errors import bad_request
from enforcement_brain.sharing.extract import FORMATS, extract_page
from enforcement_brain.sharing.files import serve_file
from enforcement_brain.sharing.protocol import PREFIX

if TYPE_CHECKING:
    from fastapi import FastAPI

    from enforcement_brain.sharing.context import Service


class ErrorBody(BaseModel):
    """Every refusal's body (the protocol's): a code a client can branch on, and why."""

    errorCode: str = Field(
        description="INVALID_PARAMETER_VALUE (400), UNAUTHENTICATED (401), PERMISSION_DENIED "
        "(403), RESOURCE_DOES_NOT_EXIST (404), RESOURCE_EXHAUSTED (429, with Retry-After)"
    )
    message: str = Field(description="what was refused and why, for the partner")


class QueryBody(BaseModel):
    """The body of a table query (the protocol's fields; unknown fields are ignored). Declared
    for the OpenAPI page only: the handler reads the raw body, so a body that is not JSON, or a
    field of the wrong type, is the protocol's 400 with a message naming it."""

    predicateHints: list[str] | None = Field(
        None, description="SQL hints (`col = 'v'`, `<`, `>=`, `IS NULL`…), best effort"
    )
    jsonPredicateHints: str | None = Field(
        None, description="a JSON predicate tree as a string (and/or/not/equal/lessThan…)"
    )
    limitHint: int | None = Field(None, ge=0, description="enough files for this many rows")
    version: int | None = Field(None, ge=0, description="the table at this version")
    timestamp: str | None = Field(None, description="the table at this time (ISO 8601 UTC)")
    startingVersion: int | None = Field(None, ge=0, description="refused: use /changes")
    endingVersion: int | None = Field(None, ge=0)


#: What every API endpoint declares: the bearer token it needs and the body of its refusals
#: (a ``4XX`` entry, so FastAPI does not document its own 422, which this service never sends).
SECURITY_SCHEME = "bearerToken"
ERRORS = {"4XX": {"model": ErrorBody, "description": "refused: the protocol's error body"}}
API = {"responses": ERRORS, "openapi_extra": {"security": [{SECURITY_SCHEME: []}]}}


def _document_security(app: FastAPI) -> None:
    """Add the bearer token scheme to the OpenAPI document the app generates."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            doc = generate()
            doc.setdefault("components", {})["securitySchemes"] = {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the interface's token (`eb sharing issue`, docs/sharing.md)",
                }
            }
        return app.openapi_schema

    app.openapi = openapi


def add_routes(app: FastAPI, svc: Service) -> None:
    """Declare every endpoint on ``app``, answered with ``svc``."""
    from starlette.concurrency import run_in_threadpool

    _document_security(app)

    @app.get("/healthz", tags=["ops"])
    def healthz(request: Request):
        request.state.audit.endpoint = "healthz"
        from sqlalchemy import text

        with svc.ctx.engine.connect() as conn:
            conn.execute(text("select 1"))
        return {"status": "ok"}

    @app.get(PREFIX + "/shares", tags=["delta-sharing"], **API)
    def list_shares(
        request: Request,
        maxResults: str | None = None,
        pageToken: str | None = None,
    ):
        return protocol.list_shares(svc, request, maxResults, pageToken)

    @app.get(PREFIX + "/shares/{share}", tags=["delta-sharing"], **API)
    def get_share(request: Request, share: str):
        return protocol.get_share(svc, request, share)

    @app.get(PREFIX + "/shares/{share}/schemas", tags=["delta-sharing"], **API)
    def list_schemas(
        request: Request,
        share: str,
        maxResults: str | None = None,
        pageToken: str | None = None,
    ):
        return protocol.list_schemas(svc, request, share, maxResults, pageToken)

    @app.get(PREFIX + "/shares/{share}/schemas/{schema}/tables", tags=["delta-sharing"], **API)
    def list_tables(
        request: Request,
        share: str,
        schema: str,
        maxResults: str | None = None,
        pageToken: str | None = None,
    ):
        return protocol.list_tables(svc, request, share, schema, maxResults, pageToken)

    @app.get(PREFIX + "/shares/{share}/all-tables", tags=["delta-sharing"], **API)
    def list_all_tables(
        request: Request,
        share: str,
        maxResults: str | None = None,
        pageToken: str | None = None,
    ):
        return protocol.list_all_tables(svc, request, share, maxResults, pageToken)

    table_path = PREFIX + "/shares/{share}/schemas/{schema}/tables/{table}"

    @app.get(table_path + "/version", tags=["delta-sharing"], **API)
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

    @app.get(table_path + "/metadata", tags=["delta-sharing"], **API)
    async def table_metadata(request: Request, share: str, schema: str, table: str):
        return await protocol.metadata(svc, request, share, schema, table)

    query_body = {"content": {"application/json": {"schema": QueryBody.model_json_schema()}}}

    @app.post(
        table_path + "/query",
        tags=["delta-sharing"],
        responses=ERRORS,
        openapi_extra={**API["openapi_extra"], "requestBody": query_body},
    )
    async def query(request: Request, share: str, schema: str, table: str):
        raw = await request.body()
        if raw.strip():
            try:
                body = json.loads(raw)
            except (ValueError, RecursionError):  # RecursionError: nested past the parser
                request.state.audit.endpoint = "query"
                raise bad_request("the request body is not valid JSON") from None
        else:
            body = {}
        if not isinstance(body, dict):
            request.state.audit.endpoint = "query"
            raise bad_request("the request body must be a JSON object")
        return await run_in_threadpool(protocol.query, svc, request, share, schema, table, body)

    @app.get(table_path + "/changes", tags=["delta-sharing"], **API)
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

    @app.get("/extract/v1/{share}/{table}", tags=["extract"], **API)
    def extract(
        request: Request,
        share: str,
        table: str,
        format: str | None = Query(None, json_schema_extra={"enum": list(FORMATS)}),
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

    @app.get(PREFIX + "/files/{share}/{table}/{rel_path:path}", tags=["files"], responses=ERRORS)
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
