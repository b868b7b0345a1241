"""The share tables a request may name: ``<share>/default/<table>`` resolved to the physical
share table ``<lake>/share/<interface>__<dataset>`` of a declared, published dataset (for a
recipient's interface: its partition of ``<lake>/share/<interface file>__<dataset>``).

Why one object per table per process: a :class:`~enforcement_brain.sharing.delta_log.ShareTable`
keeps its resolved folder and its last log listing, which every request of that table reuses;
and this is the one place that knows a lake on local disk from one on object storage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from enforcement_brain.lake.s3 import LakeStore
from enforcement_brain.share.project import RECIPIENT, share_location
from enforcement_brain.sharing.delta_log import ShareTable
from enforcement_brain.sharing.errors import ProtocolError, not_found, quoted
from enforcement_brain.sharing.s3 import S3ShareTable

if TYPE_CHECKING:
    from enforcement_brain.declarations import Catalog, Interface, InterfaceDataset
    from enforcement_brain.settings import Settings

#: The one schema of every share (the protocol's share → schema → table).
SCHEMA = "default"


class ShareTables:
    """The share tables of one catalog on one lake, each made once."""

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.settings = settings
        self.catalog = catalog
        self._share_tables: dict[tuple[str, str], ShareTable] = {}
        #: The lake's object store, None for a lake on this machine. With a store, partners
        #: fetch files from it (S3 presigned URLs): the service's /files endpoint, and the
        #: log's path set it checks, are not used.
        self.store = None if settings.lake_is_local else LakeStore.from_settings(settings)
        #: What the lake's share tables are: the one place that knows local disk from a store.
        self.table_class: type[ShareTable] = ShareTable if self.store is None else S3ShareTable

    def warm(self) -> None:
        """Read every published share table's snapshot before taking connections.

        Otherwise the first requests pay the Delta reader's imports and the log reads (seconds
        on a busy machine), and every request arriving meanwhile queues behind them.
        """
        import pyarrow.parquet  # noqa: F401 - the file endpoint's and the extract API's reader

        for interface in self.catalog.interfaces.values():
            for entry in interface.datasets:
                st = self.share_table(interface.id, entry.dataset)
                try:
                    if st.exists():
                        st.snapshot()
                        if st.files_served_here:
                            st.listed_paths()
                except ProtocolError:
                    continue  # a table being written: the first request reads it

    def table(
        self, interface: Interface, schema: str, table: str
    ) -> tuple[InterfaceDataset, ShareTable]:
        """The declared dataset and the published share table a request names (404 else)."""
        if schema.lower() != SCHEMA:
            raise not_found(f"schema {quoted(schema)} does not exist in share {interface.id}")
        entry = next((e for e in interface.datasets if e.dataset == table.lower()), None)
        if entry is None:
            raise not_found(f"table {quoted(table)} does not exist in {interface.id}.{SCHEMA}")
        share_table = self.share_table(interface.id, entry.dataset)
        if not share_table.exists():
            raise not_found(f"table {entry.dataset} is declared but not published yet")
        return entry, share_table

    def share_table(self, interface_id: str, dataset_id: str) -> ShareTable:
        """The share table of one declared (interface, dataset), made once per process.

        Its folder is resolved (symlinks followed) once: on every file request that walk of
        the path cost about a tenth of a worker's time under load.
        """
        key = (interface_id, dataset_id)
        st = self._share_tables.get(key)
        if st is None:
            name, recipient = share_location(self.catalog.interfaces[interface_id], dataset_id)
            st = self.table_class.at(self.settings.table_uri("share", name), self.store)
            if recipient is not None:  # its partition of the recipients' table, alone
                st.sliced(RECIPIENT, recipient)
            self._share_tables[key] = st
        return st
