"""The protocol's refusals: an HTTP status, an ``errorCode`` and a message for the partner.

Why one exception for every layer: the Delta log reader, the predicate parser, the access
checks and the handlers all refuse in the same terms (the protocol's ``{"errorCode": …,
"message": …}`` with a 4xx status), and one handler turns any of them into that body
(``sharing/middleware.py``). The small checks every endpoint shares live here with it.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """A request the protocol says is wrong; carries the HTTP status and the errorCode."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def bad_request(message: str) -> ProtocolError:
    """A malformed or impossible parameter (400)."""
    return ProtocolError(400, "INVALID_PARAMETER_VALUE", message)


def not_found(message: str) -> ProtocolError:
    """Something the request names that does not exist, or no longer does (404)."""
    return ProtocolError(404, "RESOURCE_DOES_NOT_EXIST", message)


def quoted(value: str) -> str:
    """A path parameter quoted for a message: bounded, so a partner cannot flood the log."""
    return repr(value[:80])


def int_param(name: str, raw: str | None, *, minimum: int = 0) -> int | None:
    """A query-string integer (None when absent); anything else is a 400 that names it."""
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name} must be an integer, got {raw[:40]!r}") from None
    if value < minimum:
        raise bad_request(f"{name} must be >= {minimum}, got {value}")
    return value
