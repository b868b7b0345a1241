"""The share layer: each interface's physically projected, filtered and masked copy.

``share.<interface>__<dataset>`` holds only the columns the interface may see, only its rows,
with masked values already masked. The interface service serves files of these tables only, so
no partner can ever fetch a file that holds something it may not see.

Share tables are **not partitioned**, unlike gold. A partner's query is answered with a list of
files that it then fetches one request at a time, so the number of files, not their size, is
what a page costs: a table partitioned by day holds at least one file per day (a history of
years in thousands of files of a few rows each). Instead the day's slice is replaced by a
predicate on the dataset's partition column (Delta rewrites only the files whose statistics say
they hold that day, and writes change files for the rows it deletes and inserts, so the change
feed stays exact), written as few files as the data needs (Delta's optimized write), and the
table is compacted (``OPTIMIZE``, a commit that changes no data) as soon as it holds more than
``EB_SHARE_MAX_FILES`` files. The service prunes files by their min/max day statistics instead
of partition values.

An interface file with ``recipients:`` (one interface per receiving agency) is projected once
per dataset into one table, ``share.<file id>__<dataset>``, partitioned by :data:`RECIPIENT`:
each recipient's rows (its own row filter) in its own partition, and nothing else there. The
service serves each recipient's share from its partition only (``sharing/tables.py``), so a file
a recipient can be handed holds that recipient's rows alone, as with a table of its own, but a
day costs one projection per dataset instead of one per recipient and dataset.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from enforcement_brain.declarations import Catalog, Interface, InterfaceDataset
from enforcement_brain.errors import EbError
from enforcement_brain.gold.publish import affected_partitions, published_partitions
from enforcement_brain.lake import tables
from enforcement_brain.settings import Settings
from enforcement_brain.standards.masking import mask_column
from enforcement_brain.standards.sql_library import used_functions

if TYPE_CHECKING:
    from deltalake import DeltaTable
    from pyspark.sql import DataFrame, SparkSession


@dataclass(frozen=True)
class ProjectionReport:
    interface: str
    dataset: str
    table: str
    #: Partition values refreshed (days, or first days of months for a monthly dataset).
    partitions: list[str]
    rows: int
    #: Why the dataset was not projected (its gold table does not exist yet), else None.
    skipped: str | None = None
    #: Data files the share table holds after the projection (and its compaction, if any);
    #: for a recipients' table, in its fullest partition.
    files: int = 0
    #: Whether this projection compacted the table.
    compacted: bool = False


#: The partition column of a recipients' share table: the recipient's id.
RECIPIENT = "recipient"


def share_table_name(interface_id: str, dataset_id: str) -> str:
    return f"{interface_id}__{dataset_id}"


def share_location(interface: Interface, dataset_id: str) -> tuple[str, str | None]:
    """Where one interface's copy of a dataset lives: (share table name, the recipient whose
    partition it is, or None for a table of the interface's own)."""
    if interface.recipient is None:
        return share_table_name(interface.id, dataset_id), None
    return share_table_name(interface.family, dataset_id), interface.recipient.id


def project(gold: DataFrame, entry: InterfaceDataset) -> DataFrame:
    """Row filter, then column allowlist with masks: a pure transform."""
    from pyspark.sql import functions as F

    missing = [c for c in entry.columns if c not in gold.columns]
    if missing:
        raise EbError(f"interface columns {missing} are not in gold.{entry.dataset}")
    rows = gold
    if entry.row_filter:
        # a row filter may call the standard's shared functions (plate_region, ...): the same
        # definitions the datasets' SQL uses, declared in the session first
        for function in used_functions(entry.row_filter):
            gold.sparkSession.sql(function.statement())
        rows = gold.where(F.expr(entry.row_filter))
    return rows.select(
        *[
            (mask_column(entry.masks[c], F.col(c)) if c in entry.masks else F.col(c)).alias(c)
            for c in entry.columns
        ]
    )


def project_interface(
    spark: SparkSession, settings: Settings, catalog: Catalog, interface: Interface, day: dt.date
) -> list[ProjectionReport]:
    """Refresh every dataset projection of one interface for the partitions ``day`` touched
    (a recipient's interface: its whole family's, see :func:`project_family`)."""
    family = interface.family or interface.id
    return project_family(spark, settings, catalog, catalog.interface_families()[family], day)


def project_family(
    spark: SparkSession,
    settings: Settings,
    catalog: Catalog,
    members: list[Interface],
    day: dt.date,
) -> list[ProjectionReport]:
    """Refresh the share tables of one interface file for the partitions ``day`` touched: the
    interface's own tables, or for a file with recipients one table per dataset holding every
    recipient's rows in its partition.

    The partitions are exactly the ones the dataset's publish rebuilt for ``day``, as it
    recorded them in ``ops.publish_log`` (or, without a record that matches gold, derived
    again by :func:`affected_partitions`: each source placed by its declared date column,
    months for a monthly dataset, reference sources not driving), so the share copy never lags
    gold.

    A dataset whose gold table does not exist yet is reported as skipped rather than failing
    the interface: one late dataset must not hold back a partner's others, and the service
    already answers 404 "declared but not published yet" for that table.
    """
    first = members[0]
    family = first.family or first.id
    reports = []
    for k in range(len(first.datasets)):
        entries = [(m.recipient.id if m.recipient else None, m.datasets[k]) for m in members]
        reports.append(_project_dataset(spark, settings, catalog, family, entries, day))
    if all(r.skipped for r in reports):
        # nothing at all to share: a wrong lake root or a run out of order, not a late dataset
        raise EbError(f"{family}: {'; '.join(r.skipped or '' for r in reports)}")
    return reports


def project_recipients(gold: DataFrame, entries: list[tuple[str, InterfaceDataset]]) -> DataFrame:
    """Each recipient's projection of ``gold`` with its id in :data:`RECIPIENT`, all in one
    frame (a row two recipients' filters both admit is in both partitions)."""
    from functools import reduce

    from pyspark.sql import functions as F

    parts = [project(gold, entry).withColumn(RECIPIENT, F.lit(rid)) for rid, entry in entries]
    return reduce(lambda a, b: a.unionByName(b), parts)


def _project_dataset(
    spark: SparkSession,
    settings: Settings,
    catalog: Catalog,
    family: str,
    entries: list[tuple[str | None, InterfaceDataset]],
    day: dt.date,
) -> ProjectionReport:
    """One dataset of one interface file, projected for the partitions ``day`` touched."""
    from pyspark.sql import functions as F

    lead = entries[0][1]
    dataset = catalog.datasets[lead.dataset]
    if dataset.partition_by not in lead.columns:
        raise EbError(
            f"{family}: {dataset.id} must expose its partition column "
            f"{dataset.partition_by} so increments can be replaced by partition"
        )
    per_recipient = entries[0][0] is not None
    if per_recipient and RECIPIENT in lead.columns:
        raise EbError(f"{family}: {dataset.id} shares a column named {RECIPIENT}, the partition")
    name = share_table_name(family, dataset.id)
    if not tables.is_delta_table(settings, "gold", dataset.id):
        why = f"gold.{dataset.id} is not published yet: run publish_{dataset.id} first"
        return ProjectionReport(family, dataset.id, f"share.{name}", [], 0, why)
    dates = published_partitions(settings, dataset, day)
    if dates is None:
        dates = affected_partitions(spark, settings, dataset, day)
    gold = spark.read.format("delta").load(settings.table_uri("gold", dataset.id))
    gold = gold.where(F.col(dataset.partition_by).isin(*dates))
    if per_recipient:
        projected = project_recipients(gold, [(str(r), e) for r, e in entries])
    else:
        projected = project(gold, lead)
    uri = settings.table_uri("share", name)
    tables.replace_where(
        projected,
        settings,
        "share",
        name,
        tables.date_predicate(dataset.partition_by, dates),
        partition_by=[RECIPIENT] if per_recipient else None,
        properties={"delta.enableChangeDataFeed": "true"},
        options={"optimizeWrite": "true"},
    )
    # One look at the log answers the count and the files.
    written = tables.open_delta_at(settings, uri)
    count = tables.rows_written(written)
    if count is None:
        rows = spark.read.format("delta").load(uri)
        count = rows.where(F.col(dataset.partition_by).isin(*dates)).count()
    files, compacted = compact(spark, settings, uri, most_files(written))
    return ProjectionReport(
        family,
        dataset.id,
        f"share.{name}",
        [str(d) for d in dates],
        count,
        files=files,
        compacted=compacted,
    )


def most_files(delta: DeltaTable) -> int:
    """Data files of the table's fullest partition (the whole table when not partitioned):
    what one share serves, and so what a partner's query pays for."""
    import pyarrow as pa

    columns = delta.metadata().partition_columns
    if not columns:
        return len(delta.file_uris())
    adds = pa.table(delta.get_add_actions(flatten=True)).to_pylist()
    counts: dict[tuple[object, ...], int] = {}
    for add in adds:
        key = tuple(add.get(f"partition.{c}") for c in columns)
        counts[key] = counts.get(key, 0) + 1
    return max(counts.values(), default=0)


def compact(spark: SparkSession, settings: Settings, uri: str, files: int) -> tuple[int, bool]:
    """``OPTIMIZE`` the share table at ``uri`` once its ``files`` (data files now, in its
    fullest partition: :func:`most_files`) are more than ``EB_SHARE_MAX_FILES``; returns (the
    files after, counted the same way, and whether it was compacted).

    Compaction commits with ``dataChange = false``: the change feed, the extract API's
    incremental pulls and partners' time travel see the same rows. Delta bin-packs only files
    smaller than its ``optimize.minFileSize``, so a large table should rewrite its small tail,
    not its history (by Delta's documentation).
    """
    if files <= settings.share_max_files:
        return files, False
    tables.optimize(spark, uri)
    return most_files(tables.open_delta_at(settings, uri)), True
