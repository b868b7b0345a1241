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
    #: Data files the share table holds after the projection (and its compaction, if any).
    files: int = 0
    #: Whether this projection compacted the table.
    compacted: bool = False


def share_table_name(interface_id: str, dataset_id: str) -> str:
    return f"{interface_id}__{dataset_id}"


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
    """Refresh every dataset projection of one interface for the partitions ``day`` touched.

    The partitions are exactly the ones the dataset's publish rebuilt for ``day``, as it
    recorded them in ``ops.publish_log`` (or, without a record that matches gold, derived
    again by :func:`affected_partitions`: each source placed by its declared date column,
    months for a monthly dataset, reference sources not driving), so the share copy never lags
    gold.

    A dataset whose gold table does not exist yet is reported as skipped rather than failing
    the interface: one late dataset must not hold back a partner's others, and the service
    already answers 404 "declared but not published yet" for that table.
    """
    from deltalake import DeltaTable
    from pyspark.sql import functions as F

    reports = []
    for entry in interface.datasets:
        dataset = catalog.datasets[entry.dataset]
        if dataset.partition_by not in entry.columns:
            raise EbError(
                f"{interface.id}: {dataset.id} must expose its partition column "
                f"{dataset.partition_by} so increments can be replaced by partition"
            )
        name = share_table_name(interface.id, dataset.id)
        if not tables.is_delta_table(settings, "gold", dataset.id):
            why = f"gold.{dataset.id} is not published yet: run publish_{dataset.id} first"
            reports.append(ProjectionReport(interface.id, dataset.id, f"share.{name}", [], 0, why))
            continue
        dates = published_partitions(settings, dataset, day)
        if dates is None:
            dates = affected_partitions(spark, settings, dataset, day)
        gold = spark.read.format("delta").load(settings.table_uri("gold", dataset.id))
        gold = gold.where(F.col(dataset.partition_by).isin(*dates))
        projected = project(gold, entry)
        uri = settings.table_uri("share", name)
        tables.replace_where(
            projected,
            settings,
            "share",
            name,
            tables.date_predicate(dataset.partition_by, dates),
            properties={"delta.enableChangeDataFeed": "true"},
            options={"optimizeWrite": "true"},
        )
        written = DeltaTable(uri)  # one look at the log answers the count and the files
        count = tables.rows_written(written)
        if count is None:
            rows = spark.read.format("delta").load(uri)
            count = rows.where(F.col(dataset.partition_by).isin(*dates)).count()
        files, compacted = compact(spark, settings, uri, len(written.file_uris()))
        reports.append(
            ProjectionReport(
                interface.id,
                dataset.id,
                f"share.{name}",
                [str(d) for d in dates],
                count,
                files=files,
                compacted=compacted,
            )
        )
    if all(r.skipped for r in reports):
        # nothing at all to share: a wrong lake root or a run out of order, not a late dataset
        raise EbError(f"{interface.id}: {'; '.join(r.skipped or '' for r in reports)}")
    return reports


def compact(spark: SparkSession, settings: Settings, uri: str, files: int) -> tuple[int, bool]:
    """``OPTIMIZE`` the share table at ``uri`` once its ``files`` (data files now) are more
    than ``EB_SHARE_MAX_FILES``; returns (files it holds after, whether it was compacted).

    Compaction commits with ``dataChange = false``: the change feed, the extract API's
    incremental pulls and partners' time travel see the same rows. Delta bin-packs only files
    smaller than its ``optimize.minFileSize``, so a large table should rewrite its small tail,
    not its history (by Delta's documentation).
    """
    from deltalake import DeltaTable

    if files <= settings.share_max_files:
        return files, False
    tables.optimize(spark, uri)
    return len(DeltaTable(uri).file_uris()), True
