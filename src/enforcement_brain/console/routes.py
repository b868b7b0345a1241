"""The console's web app: each page as HTML and its data as JSON under ``/api/``, and the
process that serves it (``eb console``, ``make console``).

Read-only and local: it binds to ``EB_CONSOLE_HOST`` (loopback by default) on
``EB_CONSOLE_PORT``; every handler reads the lake's ``ops`` tables, the quarantine tables, the
sharing audit and the declarations at request time, so a page is as fresh as the lake. A day,
source, rule or page the lake has nothing for answers 404 with a sentence saying which; a
parameter that is not a date or a number, 400.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from enforcement_brain.console import queries, render

if TYPE_CHECKING:
    from enforcement_brain.declarations import Catalog
    from enforcement_brain.settings import Settings


def create_app(settings: Settings, catalog: Catalog) -> FastAPI:
    """The console's FastAPI app over ``settings``' lake and audit, ``catalog``'s declarations."""
    app = FastAPI(
        title="enforcement-brain console",
        description="Read-only view of the lake's loads, quality, quarantine, publishes, "
        "partner use and lineage (docs/console.md).",
        version="1",
    )

    @app.exception_handler(queries.NotFound)
    async def _not_found(request: Request, exc: queries.NotFound) -> Any:
        return _error(request, 404, str(exc))

    @app.exception_handler(queries.BadRequest)
    async def _bad_request(request: Request, exc: queries.BadRequest) -> Any:
        return _error(request, 400, str(exc))

    def _error(request: Request, status: int, text: str) -> Any:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"status": status, "message": text}, status_code=status)
        return HTMLResponse(render.error_page(status, text), status_code=status)

    def both(path: str, read: Callable[..., dict[str, Any]], draw: Callable[..., str]) -> None:
        """``path`` as HTML and ``/api`` + ``path`` as JSON, from one reading of the lake."""

        @app.get(f"/api{path}", name=f"api_{path.strip('/')}")
        def _json(request: Request) -> JSONResponse:
            return JSONResponse(read(**dict(request.query_params)))

        @app.get(path, response_class=HTMLResponse, name=path.strip("/"))
        def _html(request: Request) -> HTMLResponse:
            return HTMLResponse(draw(read(**dict(request.query_params))))

    def today(day: str | None = None, **_: str) -> dict[str, Any]:
        return queries.today(settings, catalog, queries.parse_day(day))

    def quality(source: str | None = None, end: str | None = None, **_: str) -> dict[str, Any]:
        return queries.quality(settings, catalog, source, queries.parse_day(end))

    def quarantine(
        source: str | None = None,
        day: str | None = None,
        rule: str | None = None,
        page: str = "1",
        per_page: str = str(queries.PAGE_ROWS),
        **_: str,
    ) -> dict[str, Any]:
        if not source and not day:
            return {"summary": queries.quarantine_summary(settings, catalog)}
        when = queries.parse_day(day)
        numbers = _ints(page=page, per_page=per_page)
        return queries.quarantine(settings, catalog, source, when, rule or None, **numbers)

    def draw_quarantine(data: dict[str, Any]) -> str:
        if "summary" in data:
            return render.quarantine_summary_page(data["summary"])
        return render.quarantine_page(data)

    both("/today", today, render.today_page)
    both("/quality", quality, render.quality_page)
    both("/quarantine", quarantine, draw_quarantine)
    both("/publishing", lambda **_: queries.publishing(settings, catalog), render.publishing_page)
    both("/interfaces", lambda **_: queries.interfaces(settings, catalog), render.interfaces_page)
    both("/lineage", lambda **_: queries.lineage(catalog), render.lineage_page)

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(render.index_page(queries.today(settings, catalog)))

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _ints(**values: str) -> dict[str, int]:
    out = {}
    for name, text in values.items():
        try:
            out[name] = int(text)
        except ValueError:
            raise queries.BadRequest(f"{name}={text!r} is not a whole number") from None
    return out


def serve(settings: Settings) -> None:
    """Run the console in the foreground on ``EB_CONSOLE_HOST``:``EB_CONSOLE_PORT``."""
    import uvicorn

    from enforcement_brain.declarations import load_catalog

    app = create_app(settings, load_catalog(settings.standards_dir))
    queries.warm()
    print(f"console on {settings.console_url} (Ctrl-C stops it)", flush=True)
    uvicorn.run(app, host=settings.console_host, port=settings.console_port, log_level="warning")
