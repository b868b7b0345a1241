"""What wraps every request: its audit row and log line, and errors as the protocol's bodies.

Errors are the protocol's ``{"errorCode": …, "message": …}`` with a 4xx status, whichever
layer refused (a :class:`~enforcement_brain.sharing.errors.ProtocolError`, FastAPI's parameter
validation, an unknown URL); a bug answers a generic 500 body (the trace goes to the log,
never to the partner). Who may call and how much is checked by the handlers (``access.py``):
only they know which share and which rows a request names.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from enforcement_brain.sharing import audit
from enforcement_brain.sharing.errors import ProtocolError

if TYPE_CHECKING:
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from sqlalchemy import Engine
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import JSONResponse

LOG = logging.getLogger("enforcement_brain.sharing")


def error_response(
    status: int,
    code: str,
    message: str,
    request: Request,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The protocol's error body; the request's audit record learns the code and message."""
    from starlette.responses import JSONResponse

    rec = getattr(request.state, "audit", None)
    if rec is not None:
        rec.error_code, rec.message = code, message
    return JSONResponse(
        {"errorCode": code, "message": message}, status_code=status, headers=headers
    )


def add_error_handlers(app: FastAPI) -> None:
    """Every refusal the app can make, as the protocol's error body."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(ProtocolError)
    async def _protocol_error(request: Request, exc: ProtocolError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, request, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        return error_response(
            400, "INVALID_PARAMETER_VALUE", f"{where}: {first.get('msg', 'invalid')}", request
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "RESOURCE_DOES_NOT_EXIST", 405: "METHOD_NOT_ALLOWED"}.get(
            exc.status_code, "INVALID_REQUEST"
        )
        message = "no such endpoint" if exc.status_code == 404 else str(exc.detail)
        return error_response(exc.status_code, code, message, request)


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
