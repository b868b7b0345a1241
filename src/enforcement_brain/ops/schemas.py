"""The columns of the ``ops`` tables: the platform's own history of what it did.

In one place so that a reader of ``ops.*`` (the SQL endpoint, a dashboard, a test) finds every
table's columns without reading the code that writes it, and so that the writers, which sit in
several layers, share no more than these strings. Each schema is Spark DDL; the writers append
with :func:`enforcement_brain.lake.tables.append_rows`, most adding a ``recorded_at`` timestamp.
Every table is a history: rows are appended, never replaced.
"""

from __future__ import annotations

#: ``ops.dq_ledger``: run × source × delivery date × rule -> rows checked and failed, the action
#: taken and the standard version (a rerun appends its own rows; the latest wins).
DQ_LEDGER_SCHEMA = (
    "source string, delivery_date date, batch_id string, rule_id string, rule_title string, "
    "severity string, action string, checked bigint, failed bigint, standard_version string, "
    "run_id string"
)
#: ``ops.batch_log``: one row per load of a batch, with its reconciliation terms.
BATCH_LOG_SCHEMA = (
    "source string, delivery_date date, batch_id string, rows_in bigint, inserted bigint, "
    "updated bigint, unchanged bigint, duplicates_dropped bigint, quarantined bigint, "
    "warned bigint, reconciles boolean, run_id string"
)
#: ``ops.run_log``: one row per task execution.
RUN_LOG_SCHEMA = (
    "run_id string, dag_id string, task string, subject string, delivery_date date, "
    "started_at timestamp, finished_at timestamp, seconds double, status string, detail string"
)
#: ``ops.landing_log``: one row per version of a landed file.
LANDING_LOG_SCHEMA = (
    "source string, delivery_date date, file string, bytes bigint, sha256 string, "
    "origin string, etag string, landed_at timestamp, run_id string"
)
#: ``ops.db_pulls``: one row per watermark window a front-database pull read.
DB_PULLS_SCHEMA = (
    "source string, delivery_date date, batch_id string, window_day date, pull string, "
    "window_start string, window_end string, row_count bigint, high_water string, "
    "rows_pulled bigint, run_id string"
)
#: ``ops.gx_results``: one row per expectation of a source's GX suite run on an increment.
GX_RESULTS_SCHEMA = (
    "source string, delivery_date date, batch_id string, suite string, "
    "expectation_type string, column_name string, rule_id string, severity string, "
    "success boolean, unexpected_count bigint, element_count bigint, error string, "
    "standard_version string, run_id string, validated_at timestamp"
)
#: ``ops.maintenance_log``: one row per table per maintenance run (OPTIMIZE, VACUUM, checkpoint).
MAINTENANCE_LOG_SCHEMA = (
    "run_id string, table_name string, action string, files_before bigint, files_after bigint, "
    "bytes_before bigint, bytes_after bigint, files_removed bigint, bytes_removed bigint, "
    "version_before bigint, version_after bigint, retention_days int, retention_basis string, "
    "checkpoint_status string, log_commits bigint, seconds double, error string"
)


def column_names(schema: str) -> list[str]:
    """The column names of a schema, in order: writers build their row tuples in this order."""
    return [c.split()[0] for c in schema.split(", ")]


#: ``ops.publish_log``: one row per publish of a dataset for a delivery day, naming the partitions
#: it replaced (ISO dates, comma-separated). The share projections of that day read it rather
#: than re-deriving the partitions from silver (one Spark job per driving source). ``status`` is
#: ``published``, or ``refused`` when the quality gate stopped the publish: then nothing was
#: written and ``gold_version`` is the last good version that stays current. ``gate`` holds the
#: rows failing each gate check (JSON, ``{"G_DIRECTION": 1}``), what the console shows.
PUBLISH_LOG_SCHEMA = (
    "dataset string, delivery_date date, partitions string, rows bigint, gold_version bigint, "
    "run_id string, status string, gate string"
)

#: ``ops.publish_log.status``: a publish that replaced gold's partitions, and one the quality
#: gate refused.
PUBLISHED, PUBLISH_REFUSED = "published", "refused"
