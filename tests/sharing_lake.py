"""A small lake for every declared interface and every kind of token, for the tests that sweep
the whole service (the auth matrix, the API fuzz) and for ``benchmarks/fuzz_sharing.py``.

Why one small table per interface, written with delta-rs: a sweep is thousands of cheap HTTP
calls, and what they check (who may call what, and that nothing answers 5xx) does not depend
on the rows. Each interface's first dataset gets a share table where the share layer puts it
(``share/<interface>__<dataset>``; a recipients' file gets one table partitioned by recipient),
with the interface's declared columns as text (each cell names its row and recipient) and the
dataset's day column as a date, two days
in two commits and the change data feed on, so every endpoint has something to answer.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sharing_support import standards_copy

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from enforcement_brain.declarations import Catalog, Interface
    from enforcement_brain.settings import Settings

DAYS = (dt.date(2026, 11, 28), dt.date(2026, 11, 29))
#: The kinds of credential a sweep presents, in the order a report lists them.
TOKEN_KINDS = ("none", "malformed", "other", "expired", "revoked", "rotated_out", "valid")


def standards_without_quotas(tmp: Path) -> Path:
    """The test copy of the standards with every minute and day quota lifted, so a sweep of
    thousands of requests measures access, not the quota (tested on its own)."""
    root = standards_copy(tmp)
    for path in (root / "interfaces").glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        lifted = re.sub(
            r"quota: \{[^}]*\}",
            "quota: {requests_per_minute: 1000000, rows_per_day: 1000000000}",
            text,
        )
        path.write_text(lifted, encoding="utf-8")
    return root


def _columns(catalog: Catalog, interface: Interface) -> tuple[str, str, tuple[str, ...]]:
    entry = interface.datasets[0]
    return entry.dataset, catalog.datasets[entry.dataset].partition_by, entry.columns


def write_share_tables(settings: Settings, catalog: Catalog, interface_ids: list[str]) -> None:
    """One share table per interface (its first dataset): two days, two commits, CDF on."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from enforcement_brain.share.project import RECIPIENT, share_location

    tables: dict[str, tuple[str, tuple[str, ...], list[str | None]]] = {}
    for iid in interface_ids:
        interface = catalog.interfaces[iid]
        dataset, day, columns = _columns(catalog, interface)
        name, recipient = share_location(interface, dataset)
        tables.setdefault(name, (day, columns, []))[2].append(recipient)
    for name, (day, columns, recipients) in tables.items():
        uri = settings.table_uri("share", name)
        fields = [pa.field(c, pa.date32() if c == day else pa.string()) for c in columns]
        parts = [r for r in recipients if r is not None]
        if parts:
            fields.append(pa.field(RECIPIENT, pa.string()))
        schema = pa.schema(fields)
        for n, when in enumerate(DAYS):
            rows = []
            for who in parts or [None]:
                tag = f"{n}" if who is None else f"{n}-{who}"  # whose row it is, in every cell
                row = {c: (when if c == day else f"{c}-{tag}") for c in columns}
                if who is not None:
                    row[RECIPIENT] = who
                rows.append(row)
            write_deltalake(
                str(uri),
                pa.Table.from_pylist(rows, schema=schema),
                mode="append",
                partition_by=[RECIPIENT] if parts else None,
                configuration={"delta.enableChangeDataFeed": "true"},
            )


@dataclass(frozen=True)
class Tokens:
    """Clear tokens of one interface, one per kind of credential a sweep presents."""

    valid: str
    expired: str
    revoked: str
    rotated_out: str
    revoked_id: str

    def header(self, kind: str, other: Tokens) -> dict[str, str]:
        """The ``Authorization`` header of ``kind`` (``other``: another interface's tokens)."""
        value = {
            "none": None,
            "malformed": "Bearer",
            "other": f"Bearer {other.valid}",
            "expired": f"Bearer {self.expired}",
            "revoked": f"Bearer {self.revoked}",
            "rotated_out": f"Bearer {self.rotated_out}",
            "valid": f"Bearer {self.valid}",
        }[kind]
        return {} if value is None else {"Authorization": value}


def issue_tokens(engine: Engine, interface_id: str, lifetime_days: int) -> Tokens:
    """Tokens of every kind for one interface, through the admin functions ``eb sharing``
    calls; the expired one is issued and then dated back (no lifetime is negative)."""
    from sqlalchemy import update

    from enforcement_brain.sharing import credentials
    from enforcement_brain.sharing.db import tables

    old = credentials.issue(engine, interface_id, lifetime_days, note="before rotation")
    new, _ = credentials.rotate(engine, interface_id, lifetime_days)
    expired = credentials.issue(engine, interface_id, lifetime_days, note="expired")
    t = tables()["tokens"]
    with engine.begin() as conn:
        conn.execute(
            update(t)
            .where(t.c.token_id == expired.info.token_id)
            .values(expires_at=credentials.now() - dt.timedelta(seconds=1))
        )
    revoked = credentials.issue(engine, interface_id, lifetime_days, note="revoked")
    credentials.revoke(engine, token_id=revoked.info.token_id)
    return Tokens(new.token, expired.token, revoked.token, old.token, revoked.info.token_id)
