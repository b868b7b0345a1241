"""The partner-facing HTTP service: the app assembled from its parts, and the process that runs
it (``eb serve``).

The parts: the Delta Sharing endpoints (``protocol.py``), the extract API (``extract.py``), the
file endpoint (``files.py``), declared as URLs in ``routes.py``; access and quotas
(``access.py``), audit and error bodies (``middleware.py``), signed URLs (``signing.py``), the
share tables and their Delta logs (``tables.py``, ``delta_log.py``, ``pruning.py``). Every
request carries a per-interface bearer token, counts against the interface's quota and leaves
one audit row. See docs/sharing.md.

FastAPI and uvicorn are imported when the app is built or served, not with this module.
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
import time
from typing import TYPE_CHECKING, Any

from enforcement_brain.sharing.window import ENV as QUOTA_FILE_ENV
from enforcement_brain.sharing.window import MinuteWindows

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy import Engine

    from enforcement_brain.declarations import Catalog
    from enforcement_brain.settings import Settings
    from enforcement_brain.sharing.signing import Signer

LOG = logging.getLogger("enforcement_brain.sharing")


def create_app(
    settings: Settings, catalog: Catalog, engine: Engine, signer: Signer | None = None
) -> FastAPI:
    """The FastAPI application (the caller owns the engine and the server)."""
    from fastapi import FastAPI

    from enforcement_brain.sharing import audit
    from enforcement_brain.sharing.context import Context, Service
    from enforcement_brain.sharing.files import SignedFileRoute
    from enforcement_brain.sharing.middleware import AuditMiddleware, add_error_handlers
    from enforcement_brain.sharing.routes import add_routes
    from enforcement_brain.sharing.signing import signer_for

    if signer is None:
        signer = signer_for(settings)
    quotas = audit.Quotas(engine, MinuteWindows.for_settings(settings))
    svc = Service(Context(settings, catalog, engine, signer, quotas))
    app = FastAPI(
        title="enforcement-brain sharing",
        description="Delta Sharing protocol over the governed share layer (docs/sharing.md).",
        version="1",
    )
    app.state.service = svc
    add_error_handlers(app)
    # Added first, so it runs inside the audit (the middleware added last is the outermost).
    app.add_middleware(SignedFileRoute, service=svc)
    app.add_middleware(AuditMiddleware, engine=engine)
    add_routes(app, svc)
    return app


def build(settings: Settings) -> FastAPI:
    """The app for ``settings``; refuses (exit 2) a bad configuration.

    A missing credential store is created empty: the service then starts and answers every
    partner 401 until ``eb sharing issue`` adds a token, so it can be started before the first
    partner is set up (it holds no token it did not issue, and so admits nobody).
    """
    from enforcement_brain.declarations import load_catalog
    from enforcement_brain.sharing.db import connect

    engine = connect(settings.governance_db_url, create=True)
    return create_app(settings, load_catalog(settings.standards_dir), engine)


def app_from_environment() -> FastAPI:
    """The app as each ``uvicorn`` worker process builds it (settings from its environment)."""
    from enforcement_brain.settings import load_settings

    configure_logging()
    app = build(load_settings())
    app.state.service.tables.warm()
    return app


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
    """The service's and uvicorn's logs as JSON lines on stderr (:class:`JsonLineFormatter`)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    for name in ("enforcement_brain.sharing", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


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
    build(settings)  # refuse to start (bad config) before forking anything
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
