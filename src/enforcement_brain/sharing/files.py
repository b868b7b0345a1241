"""The file endpoint: the data files of a local lake's share tables, for signed URLs only.

``GET /delta-sharing/files/<interface>/<dataset>/<path>?expires=…&signature=…`` serves one
file after checking the signature (``signing.py``), that the interface still shares that
dataset, that the path is a plain path inside the share table's folder and that the table's
own Delta log names it. On an ``s3a://`` lake partners fetch files from the store through S3
presigned URLs (``s3.py``), and this endpoint serves nothing.
"""

from __future__ import annotations

import re
import stat
from typing import TYPE_CHECKING, Any

# Imported for real: :class:`SignedFileRoute` makes one per file request. This module is only
# imported when the app is built (``eb serve`` and tests), never by a DAG.
from starlette.requests import Request

from enforcement_brain.sharing.delta_log import plain_data_path
from enforcement_brain.sharing.errors import ProtocolError, not_found
from enforcement_brain.sharing.middleware import error_response
from enforcement_brain.sharing.protocol import PREFIX
from enforcement_brain.sharing.signing import SignatureError

if TYPE_CHECKING:
    from starlette.responses import Response

    from enforcement_brain.sharing import audit
    from enforcement_brain.sharing.context import Service

#: Data files up to this size are answered from memory in one piece; larger ones are streamed.
SMALL_FILE_BYTES = 1 << 20


def serve_file(
    svc: Service,
    request: Request,
    share: str,
    table: str,
    rel_path: str,
    expires: str | None,
    signature: str | None,
) -> Response:
    """Serve one data file of one share table, for a valid signed URL only."""
    from fastapi.responses import FileResponse

    rec: audit.AuditRecord = request.state.audit
    rec.endpoint = "file"
    rec.params = {"file": rel_path[:300]}
    if not svc.tables.table_class.files_served_here:
        raise not_found("files of a lake on object storage are fetched from the store")
    try:
        svc.ctx.signer.verify(share, table, rel_path, expires or "", signature or "")
    except SignatureError as exc:
        raise ProtocolError(403, "PERMISSION_DENIED", str(exc)) from None
    rec.interface_id = share
    interface = svc.ctx.catalog.interfaces.get(share)
    if interface is None or not any(e.dataset == table for e in interface.datasets):
        raise not_found("the table of this URL is no longer shared")
    st = svc.tables.share_table(share, table)
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


class SignedFileRoute:
    """Signed file URLs go straight to :func:`serve_file`, past FastAPI's routing.

    Why: a page is one query and then one request per file it names, so file requests are
    most of the traffic, and FastAPI's per-request machinery (matching some twenty routes,
    solving the handler's parameters, its exception and exit-stack layers) cost more than the
    file itself. This sits inside
    :class:`~enforcement_brain.sharing.middleware.AuditMiddleware`, so a file request is
    audited and logged as before; errors are the same JSON bodies; the route stays declared on
    the app for the OpenAPI page, and a path this does not recognise goes on to it.
    """

    _PATH = re.compile(re.escape(PREFIX) + r"/files/([^/]+)/([^/]+)/(.+)")

    def __init__(self, app: Any, service: Service) -> None:
        self.app, self.service = app, service

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
            response = serve_file(
                self.service,
                request,
                share,
                table,
                rel_path,
                query.get("expires"),
                query.get("signature"),
            )
        except ProtocolError as exc:
            response = error_response(exc.status, exc.code, exc.message, request, exc.headers)
        await response(scope, receive, send)
