"""The ``ops`` schema: the data-quality ledger, the batch log and the run log.

- ``ops.dq_ledger``: run × source × delivery date × rule → checked, failed, action, standard
  version, Airflow run id (history: a rerun appends its own rows; the latest ``recorded_at``
  of a source and day is the current truth, see :data:`LATEST_LEDGER_SQL`). Appends never
  conflict, so the 28 loads of a day write it at the same time, one cheap commit each.
- ``ops.batch_log``: one row per load of a batch with the reconciliation terms of
  :class:`BatchReport` (history: a rerun appends what *it* did, e.g. 0 new and N unchanged).
  A retry of a load that died after silver committed and before its row was appended (the
  same run id) counts the batch against silver as it was before that load, so the run's row
  says what the run did (:func:`enforcement_brain.pipeline.silver.unrecorded_version`).
- ``ops.run_log``: one row per task execution (history: appended, never replaced).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from enforcement_brain.lake import tables
from enforcement_brain.ops.schemas import (
    BATCH_LOG_SCHEMA,
    DQ_LEDGER_SCHEMA,
    RUN_LOG_SCHEMA,
    column_names,
)
from enforcement_brain.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: The ledger as it stands: each source and day's rows from its latest load.
LATEST_LEDGER_SQL = """
SELECT * FROM ops.dq_ledger l
WHERE recorded_at = (SELECT max(recorded_at) FROM ops.dq_ledger m
                     WHERE m.source = l.source AND m.delivery_date = l.delivery_date)
"""


@dataclass(frozen=True)
class BatchReport:
    """What one source's batch did; the run summary and ``ops.batch_log`` print this.

    It lives with the ledger, not with silver, because the job that loads a batch is what
    records it: silver computes the report, the job appends it (:func:`record_batch`).
    """

    source: str
    delivery_date: str
    batch_id: str
    rows_in: int
    inserted: int
    updated: int
    unchanged: int
    duplicates_dropped: int
    quarantined: int
    warned: int

    def reconciles(self) -> bool:
        out = self.inserted + self.updated + self.unchanged + self.duplicates_dropped
        return out + self.quarantined == self.rows_in

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def record_batch(
    spark: SparkSession,
    settings: Settings,
    report: BatchReport,
    ledger_rows: list[dict[str, Any]],
    run_id: str,
) -> None:
    """Append the batch's ledger rows and its reconciliation to the ops history tables."""
    day = dt.date.fromisoformat(report.delivery_date)
    tables.append_rows(
        spark,
        settings,
        "ops",
        "dq_ledger",
        [tuple(r[c] for c in column_names(DQ_LEDGER_SCHEMA)) for r in ledger_rows],
        DQ_LEDGER_SCHEMA,
        partition_by=["source"],
        recorded_at=True,
    )
    values = {**report.as_dict(), "delivery_date": day, "reconciles": report.reconciles()}
    values["run_id"] = run_id
    batch = [tuple(values[c] for c in column_names(BATCH_LOG_SCHEMA))]
    tables.append_rows(
        spark, settings, "ops", "batch_log", batch, BATCH_LOG_SCHEMA, recorded_at=True
    )


def record_run(
    spark: SparkSession,
    settings: Settings,
    *,
    run_id: str,
    dag_id: str,
    task: str,
    subject: str,
    day: dt.date,
    started_at: dt.datetime,
    status: str,
    detail: str = "",
) -> None:
    """Append one task execution to ``ops.run_log``."""
    finished = dt.datetime.now(dt.UTC)
    row = (
        run_id,
        dag_id,
        task,
        subject,
        day,
        started_at,
        finished,
        (finished - started_at).total_seconds(),
        status,
        detail[:2000],
    )
    tables.append_rows(spark, settings, "ops", "run_log", [row], RUN_LOG_SCHEMA)
