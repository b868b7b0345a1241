"""Per-interface bearer tokens: issue, check, rotate, revoke — stored only as sha256 hashes.

Why per interface: the reference Delta Sharing server has one global token, so revoking one
partner means re-keying all of them and the audit cannot say who read what. Here each
interface (one partner agency) has its own tokens with the lifetime its declaration sets
(``token_lifetime_days``). Tokens are 256 random bits, so a plain sha256 is enough (no slow
password hash is needed against guessing); the clear token is returned once, at issue, and
written to the partner's profile file — never to the database or a log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from enforcement_brain.errors import EbError
from enforcement_brain.sharing.db import tables

if TYPE_CHECKING:
    from sqlalchemy import Engine

#: Profile file format version the stock client reads.
SHARE_CREDENTIALS_VERSION = 1


class AuthError(Exception):
    """A bearer token is missing, unknown, expired or revoked (HTTP 401)."""


@dataclass(frozen=True)
class TokenInfo:
    token_id: str
    interface_id: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    note: str | None

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= now() else "active"


@dataclass(frozen=True)
class Issued:
    info: TokenInfo
    token: str  # shown once


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands datetimes back naive; every stored time is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _info(row) -> TokenInfo:
    return TokenInfo(
        token_id=row.token_id,
        interface_id=row.interface_id,
        issued_at=_utc(row.issued_at),
        expires_at=_utc(row.expires_at),
        revoked_at=_utc(row.revoked_at),
        note=row.note,
    )


def issue(
    engine: Engine, interface_id: str, lifetime_days: int, *, note: str | None = None
) -> Issued:
    """Create a new token for ``interface_id``; older tokens stay valid (see :func:`rotate`)."""
    if lifetime_days <= 0:
        raise EbError(f"{interface_id}: token_lifetime_days must be positive")
    token = "ebs_" + secrets.token_urlsafe(32)
    issued = now()
    info = TokenInfo(
        token_id=secrets.token_hex(8),
        interface_id=interface_id,
        issued_at=issued,
        expires_at=issued + dt.timedelta(days=lifetime_days),
        revoked_at=None,
        note=note,
    )
    with engine.begin() as conn:
        conn.execute(
            tables()["tokens"]
            .insert()
            .values(
                token_id=info.token_id,
                interface_id=interface_id,
                token_sha256=token_hash(token),
                issued_at=info.issued_at,
                expires_at=info.expires_at,
                note=note,
            )
        )
    return Issued(info, token)


def revoke(engine: Engine, *, interface_id: str | None = None, token_id: str | None = None) -> int:
    """Revoke one token (``token_id``) or every live token of an interface; returns how many."""
    from sqlalchemy import update

    t = tables()["tokens"]
    stmt = update(t).where(t.c.revoked_at.is_(None)).values(revoked_at=now())
    if token_id:
        stmt = stmt.where(t.c.token_id == token_id)
    elif interface_id:
        stmt = stmt.where(t.c.interface_id == interface_id)
    else:
        raise EbError("revoke needs --interface or --token-id")
    with engine.begin() as conn:
        return conn.execute(stmt).rowcount


def rotate(engine: Engine, interface_id: str, lifetime_days: int) -> tuple[Issued, int]:
    """Issue a new token and revoke the interface's older ones, in that order."""
    new = issue(engine, interface_id, lifetime_days, note="rotation")
    from sqlalchemy import update

    t = tables()["tokens"]
    with engine.begin() as conn:
        revoked = conn.execute(
            update(t)
            .where(t.c.interface_id == interface_id)
            .where(t.c.revoked_at.is_(None))
            .where(t.c.token_id != new.info.token_id)
            .values(revoked_at=now())
        ).rowcount
    return new, revoked


def list_tokens(engine: Engine, interface_id: str | None = None) -> list[TokenInfo]:
    from sqlalchemy import select

    t = tables()["tokens"]
    stmt = select(t).order_by(t.c.interface_id, t.c.issued_at)
    if interface_id:
        stmt = stmt.where(t.c.interface_id == interface_id)
    with engine.connect() as conn:
        return [_info(r) for r in conn.execute(stmt)]


def authenticate(engine: Engine, authorization: str | None) -> TokenInfo:
    """The token behind an ``Authorization: Bearer …`` header, or :class:`AuthError` saying why."""
    from sqlalchemy import select

    if not authorization:
        raise AuthError("missing Authorization header (expected 'Bearer <token>')")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise AuthError("malformed Authorization header (expected 'Bearer <token>')")
    digest = token_hash(token)
    t = tables()["tokens"]
    with engine.connect() as conn:
        row = conn.execute(select(t).where(t.c.token_sha256 == digest)).first()
    if row is None or not hmac.compare_digest(row.token_sha256, digest):
        raise AuthError("unknown bearer token")
    info = _info(row)
    if info.revoked_at is not None:
        raise AuthError("the bearer token was revoked; ask the agency for a new profile")
    if info.expires_at <= now():
        raise AuthError(f"the bearer token expired at {info.expires_at:%Y-%m-%dT%H:%M:%SZ}")
    return info


def profile(endpoint: str, issued: Issued) -> dict[str, object]:
    """The profile file the stock ``delta-sharing`` client reads."""
    return {
        "shareCredentialsVersion": SHARE_CREDENTIALS_VERSION,
        "endpoint": endpoint,
        "bearerToken": issued.token,
        "expirationTime": issued.info.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def write_profile(path: Path, endpoint: str, issued: Issued) -> Path:
    """Write the profile readable by its owner only (it holds a live credential)."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(profile(endpoint, issued), f, indent=2)
        f.write("\n")
    return path
