"""Who may call and how much: the bearer token, the interface's quotas, the share it names.

Why checked in this order (token → interface → requests per minute → share): it is the order
in which refusals are reported, so a partner without a valid token learns nothing about which
shares exist, and a request over quota is refused before any table is read. Rows are charged
against the daily quota only once the answer is known, by the handler that built it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from enforcement_brain.sharing import audit, credentials
from enforcement_brain.sharing.errors import ProtocolError, not_found, quoted

if TYPE_CHECKING:
    from starlette.requests import Request

    from enforcement_brain.declarations import Interface
    from enforcement_brain.sharing.context import Context


def exhausted(exc: audit.QuotaExceeded) -> ProtocolError:
    """A quota refusal as the protocol's 429, with when to try again."""
    return ProtocolError(429, "RESOURCE_EXHAUSTED", str(exc), {"Retry-After": str(exc.retry_after)})


def authorize(ctx: Context, request: Request, endpoint: str, share: str | None = None) -> Interface:
    """The interface the request's token belongs to, after its quota and its share are checked;
    the audit record learns the endpoint, the interface and the token as they are known."""
    rec: audit.AuditRecord = request.state.audit
    rec.endpoint = endpoint
    try:
        info = credentials.authenticate(ctx.engine, request.headers.get("authorization"))
    except credentials.AuthError as exc:
        raise ProtocolError(401, "UNAUTHENTICATED", str(exc)) from None
    rec.interface_id, rec.token_id = info.interface_id, info.token_id
    interface = ctx.catalog.interfaces.get(info.interface_id)
    if interface is None:
        raise ProtocolError(
            403, "PERMISSION_DENIED", f"interface {info.interface_id} is no longer declared"
        )
    try:
        ctx.quotas.hit(interface.id, interface.quota.get("requests_per_minute"))
    except audit.QuotaExceeded as exc:
        raise exhausted(exc) from None
    if share is not None and share.lower() != interface.id:
        if share.lower() in ctx.catalog.interfaces:
            raise ProtocolError(
                403, "PERMISSION_DENIED", f"share {quoted(share)} is not granted to this token"
            )
        raise not_found(f"share {quoted(share)} does not exist")
    return interface


def charge(
    ctx: Context, interface: Interface, rec: audit.AuditRecord, rows: int, files: int
) -> None:
    """Count the rows and files an answer hands out; refuse (429) beyond the daily rows."""
    try:
        ctx.quotas.take_rows(interface.id, rows, interface.quota.get("rows_per_day"))
    except audit.QuotaExceeded as exc:
        raise exhausted(exc) from None
    rec.rows_served, rec.files_served = rows, files
