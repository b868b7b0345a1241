"""The share layer: each interface's physically projected, filtered and masked copy.

``share.<interface>__<dataset>`` holds only the columns the interface may see, only its rows,
with masked values already masked. The interface service serves files of these tables only, so
no partner can ever fetch a file that holds something it may not see.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from enforcement_brain.declarations import Catalog, Interface, InterfaceDataset
from enforcement_brain.errors import EbError
from enforcement_brain.gold.publish import affected_biz_dates, date_predicate
from enforcement_brain.lake import tables
from enforcement_brain.settings import Settings
from enforcement_brain.share.masking import mask_column

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


@dataclass(frozen=True)
class ProjectionReport:
    interface: str
    dataset: str
    table: str
    biz_dates: list[str]
    rows: int


def share_table_name(interface_id: str, dataset_id: str) -> str:
    return f"{interface_id}__{dataset_id}"


def project(gold: DataFrame, entry: InterfaceDataset) -> DataFrame:
    """Row filter, then column allowlist with masks: a pure transform."""
    from pyspark.sql import functions as F

    missing = [c for c in entry.columns if c not in gold.columns]
    if missing:
        raise EbError(f"interface columns {missing} are not in gold.{entry.dataset}")
    rows = gold.where(F.expr(entry.row_filter)) if entry.row_filter else gold
    return rows.select(
        *[
            (mask_column(entry.masks[c], F.col(c)) if c in entry.masks else F.col(c)).alias(c)
            for c in entry.columns
        ]
    )


def project_interface(
    spark: SparkSession, settings: Settings, catalog: Catalog, interface: Interface, day: dt.date
) -> list[ProjectionReport]:
    """Refresh every dataset projection of one interface for the dates ``day`` touched."""
    from pyspark.sql import functions as F

    reports = []
    for entry in interface.datasets:
        dataset = catalog.datasets[entry.dataset]
        if not tables.is_delta_table(settings, "gold", dataset.id):
            raise EbError(f"gold.{dataset.id} is not published yet: run publish_{dataset.id} first")
        dates = affected_biz_dates(spark, settings, dataset.sources, day)
        gold = spark.read.format("delta").load(settings.table_uri("gold", dataset.id))
        gold = gold.where(F.col(dataset.partition_by).isin(*dates))
        projected = project(gold, entry)
        if dataset.partition_by not in entry.columns:
            raise EbError(
                f"{interface.id}: {dataset.id} must expose its partition column "
                f"{dataset.partition_by} so increments can be replaced by date"
            )
        name = share_table_name(interface.id, dataset.id)
        tables.replace_where(
            projected,
            settings,
            "share",
            name,
            date_predicate(dataset.partition_by, dates),
            partition_by=[dataset.partition_by],
            properties={"delta.enableChangeDataFeed": "true"},
        )
        rows = spark.read.format("delta").load(settings.table_uri("share", name))
        count = rows.where(F.col(dataset.partition_by).isin(*dates)).count()
        reports.append(
            ProjectionReport(
                interface.id, dataset.id, f"share.{name}", [str(d) for d in dates], count
            )
        )
    return reports
