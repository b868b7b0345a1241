"""The governance database: partner tokens and the access audit, through SQLAlchemy.

Why a relational database and not the lake: a token check and an audit insert happen on every
request, in milliseconds, from a service that must not start a JVM. SQLite under ``var/`` by
default (``EB_GOVERNANCE_DB_URL`` for any SQLAlchemy URL, e.g. PostgreSQL in production).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from enforcement_brain.errors import SetupError

if TYPE_CHECKING:
    from sqlalchemy import Engine, MetaData, Table

_TABLES: dict[str, Table] = {}
_METADATA: list[MetaData] = []


def tables() -> dict[str, Table]:
    """The governance tables (defined on first use, so importing this module stays cheap)."""
    if _TABLES:
        return _TABLES
    from sqlalchemy import (
        BigInteger,
        Column,
        DateTime,
        Integer,
        MetaData,
        String,
        Table,
        Text,
    )

    md = MetaData()
    _TABLES["tokens"] = Table(
        "sharing_tokens",
        md,
        Column("token_id", String(32), primary_key=True),
        Column("interface_id", String(100), nullable=False, index=True),
        # sha256 of the bearer token: the token itself is shown once, at issue, and never stored.
        Column("token_sha256", String(64), nullable=False, unique=True),
        Column("issued_at", DateTime(timezone=True), nullable=False),
        Column("expires_at", DateTime(timezone=True), nullable=False),
        Column("revoked_at", DateTime(timezone=True), nullable=True),
        Column("note", Text, nullable=True),
    )
    _TABLES["audit"] = Table(
        "sharing_audit",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("at", DateTime(timezone=True), nullable=False, index=True),
        Column("interface_id", String(100), nullable=True, index=True),
        Column("token_id", String(32), nullable=True),
        Column("method", String(8), nullable=False),
        Column("endpoint", String(40), nullable=False),
        Column("path", Text, nullable=False),
        Column("params", Text, nullable=True),
        Column("status", Integer, nullable=False),
        Column("error_code", String(60), nullable=True),
        Column("message", Text, nullable=True),
        Column("rows_served", BigInteger, nullable=False, default=0),
        Column("files_served", Integer, nullable=False, default=0),
        Column("duration_ms", Integer, nullable=False),
        Column("client", String(100), nullable=True),
    )
    _METADATA.append(md)
    return _TABLES


def connect(url: str, *, create: bool) -> Engine:
    """An engine on the governance DB; ``create`` makes the file and tables when missing.

    Without ``create`` a missing store is a :class:`SetupError`, for readers that must not
    leave one behind (the operators' console reads the audit and writes nothing).
    """
    from sqlalchemy import create_engine, event, inspect

    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not create and not path.exists():
            raise SetupError(
                f"no credential store at {path}: issue a token first "
                "(eb sharing issue --interface <id>) or set EB_GOVERNANCE_DB_URL"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _wal(dbapi_conn, _record) -> None:  # concurrent audit writes and admin commands
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=5000")
            # WAL + NORMAL: a commit (one audit row per request) is not an fsync; a power cut
            # can lose the last commits, never corrupt the file. FULL cost ~5 % of a request.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

    t = tables()
    if create:
        _METADATA[0].create_all(engine)
    else:
        names = set(inspect(engine).get_table_names())
        missing = [x.name for x in t.values() if x.name not in names]
        if missing:
            raise SetupError(
                f"the credential store {url.split('://')[0]}://… has no {', '.join(missing)} "
                "table: issue a token first (eb sharing issue --interface <id>)"
            )
    return engine
