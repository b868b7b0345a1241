"""What every handler of the service is given: one process's settings, catalog, governance
database, signer, quota counters and share tables.

Why one object: the handlers live beside the API they answer (``protocol.py``, ``extract.py``,
``files.py``) and all read the same state; the app keeps it as ``app.state.service``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from enforcement_brain.sharing.tables import ShareTables

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from enforcement_brain.declarations import Catalog
    from enforcement_brain.lake.s3 import LakeStore
    from enforcement_brain.settings import Settings
    from enforcement_brain.sharing import audit
    from enforcement_brain.sharing.signing import Signer


@dataclass
class Context:
    settings: Settings
    catalog: Catalog
    engine: Engine
    signer: Signer
    quotas: audit.Quotas


class Service:
    """One :class:`Context` and the share tables its catalog declares."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.tables = ShareTables(ctx.settings, ctx.catalog)

    @property
    def store(self) -> LakeStore | None:
        """The lake's object store, None for a lake on this machine (see :class:`ShareTables`)."""
        return self.tables.store
