"""Table maintenance: compact small files, VACUUM within Standard 2's retention, check the logs.

Why it is needed: every load commits a few small files per table (a day's slice, one MERGE, one
ledger append), so a table read by analysts grows to hundreds of files within weeks, and files
replaced by MERGE and ``replaceWhere`` stay on disk until a VACUUM removes them. Standard 2 sets,
per source and dataset, how long the lake keeps rows *and Delta time travel*
(``quality.retention_days``), so how long old files must stay is a declaration, not a guess.

For every lake table, in one pass (``maintain_lake``):

1. **retention** — the table's ``delta.deletedFileRetentionDuration`` and
   ``delta.logRetentionDuration`` are set to the declared days (one metadata commit, the first
   time only). Delta then honours the standard by itself: its log clean-up keeps the commits
   time travel needs (Delta's default would drop them after 30 days), and VACUUM's safety check
   compares against the table's own retention.
2. **OPTIMIZE** (bin-packing) when the table has at least ``EB_MAINTENANCE_MIN_FILES`` files of
   mean size below ``EB_MAINTENANCE_SMALL_FILE_MB``; a commit with ``dataChange = false``, so
   readers, streaming consumers and Delta Sharing partners see the same rows.
3. **VACUUM** at the table's retention, which step 1 made the declared one (Delta 4.4 reads it
   from the table property only): only files no version inside the retention references, and
   older than it, are deleted. Delta's retention check
   (``spark.databricks.delta.retentionDurationCheck.enabled``) stays on (see :func:`vacuum`).
4. **log health** — a checkpoint exists once the table has more commits than its checkpoint
   interval, ``_last_checkpoint`` parses and names a checkpoint that exists and is recent, commit
   files older than the log retention were cleaned up (the log does not grow without bound), and
   no ``*.tmp`` file of a commit that died is left in ``_delta_log`` (those older than an hour are
   removed: a live commit renames its temporary file within seconds).

Each table gives one row of ``ops.maintenance_log`` per run (what was done, files and bytes
before and after, files VACUUM removed, versions, the retention and where it comes from, the log
status, seconds, the error if any) and a line of the readable summary in the task log. A failing
table is recorded and the pass goes on; the caller fails the task afterwards.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from enforcement_brain.lake import tables
from enforcement_brain.lake.doctor import data_files
from enforcement_brain.ops.schemas import MAINTENANCE_LOG_SCHEMA, column_names
from enforcement_brain.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from enforcement_brain.declarations import Catalog

#: A ``*.tmp`` file in ``_delta_log`` older than this belongs to a commit that died.
ORPHAN_TMP_SECONDS = 3600
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
_MB = 1024 * 1024


@dataclass(frozen=True)
class Retention:
    days: int
    basis: str  # where the figure comes from, e.g. "source wim_weighings"

    @property
    def hours(self) -> int:
        return self.days * 24


@dataclass
class TableReport:
    """One row of ``ops.maintenance_log``."""

    run_id: str
    table_name: str
    action: str = ""
    files_before: int | None = None
    files_after: int | None = None
    bytes_before: int | None = None
    bytes_after: int | None = None
    files_removed: int | None = None
    bytes_removed: int | None = None
    version_before: int | None = None
    version_after: int | None = None
    retention_days: int | None = None
    retention_basis: str = ""
    checkpoint_status: str = ""
    log_commits: int | None = None
    seconds: float = 0.0
    error: str = ""


def retention_for(catalog: Catalog, settings: Settings, layer: str, table: str) -> Retention:
    """The retention Standard 2 declares for a table.

    bronze, silver and quarantine tables carry their source's ``retention_days``; gold tables
    their dataset's; ``share.<interface>__<dataset>`` the dataset's it projects. Tables the
    standard declares nothing for (``ops.*``) get ``EB_MAINTENANCE_DEFAULT_RETENTION_DAYS``.
    """
    quality: dict | None = None
    basis = ""
    if layer in {"bronze", "silver", "quarantine"} and table in catalog.sources:
        quality, basis = catalog.sources[table].quality, f"source {table}"
    elif layer == "gold" and table in catalog.datasets:
        quality, basis = catalog.datasets[table].quality, f"dataset {table}"
    elif layer == "share" and "__" in table:
        dataset = table.split("__", 1)[1]
        if dataset in catalog.datasets:
            quality, basis = catalog.datasets[dataset].quality, f"dataset {dataset}"
    if quality and quality.get("retention_days") is not None:
        return Retention(int(quality["retention_days"]), f"Standard 2, {basis}")
    return Retention(
        settings.maintenance_default_retention_days,
        "default (EB_MAINTENANCE_DEFAULT_RETENTION_DAYS)",
    )


def _detail(spark: SparkSession, uri: str) -> tuple[int, int, dict[str, str]]:
    row = spark.sql(f"DESCRIBE DETAIL {tables.sql_ident(uri)}").collect()[0]
    return int(row["numFiles"]), int(row["sizeInBytes"]), dict(row["properties"] or {})


def _version(spark: SparkSession, uri: str) -> int:
    last = spark.sql(f"DESCRIBE HISTORY {tables.sql_ident(uri)} LIMIT 1").collect()[0]
    return int(last["version"])


def set_retention(spark: SparkSession, uri: str, props: dict[str, str], days: int) -> bool:
    """Make the table's own retention properties say what the standard says; True if changed."""
    wanted = {
        "delta.deletedFileRetentionDuration": f"interval {days} days",
        "delta.logRetentionDuration": f"interval {days} days",
    }
    if all(props.get(k) == v for k, v in wanted.items()):
        return False
    assignments = ", ".join(f"'{k}' = '{v}'" for k, v in wanted.items())
    spark.sql(f"ALTER TABLE {tables.sql_ident(uri)} SET TBLPROPERTIES ({assignments})")
    return True


def vacuum(spark: SparkSession, uri: str) -> None:
    """VACUUM at the table's own retention, Delta's retention check **on**.

    Delta 4.4 takes the retention from ``delta.deletedFileRetentionDuration`` only (a
    ``RETAIN n HOURS`` other than 0 is ignored with a warning), which is why
    :func:`set_retention` writes the declared days there first. The check
    (``spark.databricks.delta.retentionDurationCheck.enabled``) refuses a VACUUM shorter than
    that property; we set it on explicitly, whatever the server's default, and never turn it
    off. A declaration under Delta's 7-day default passes because the table itself says so
    (the agency's decision, recorded in ``retention_basis``), not because a check was lifted.
    """
    previous = spark.conf.get(RETENTION_CHECK, "true")
    spark.conf.set(RETENTION_CHECK, "true")
    try:
        spark.sql(f"VACUUM {tables.sql_ident(uri)}").collect()
    finally:
        spark.conf.set(RETENTION_CHECK, previous or "true")


def log_health(
    table_dir: Path, retention: Retention, props: dict[str, str], now: float | None = None
) -> tuple[str, int]:
    """Status of the table's Delta log and its number of commit files (see module doc, step 4)."""
    now = time.time() if now is None else now
    log = table_dir / "_delta_log"
    commits = sorted(int(p.stem) for p in log.glob("*.json") if p.stem.isdigit())
    latest = commits[-1] if commits else -1
    interval = int(props.get("delta.checkpointInterval", "10"))
    problems: list[str] = []
    notes: list[str] = []
    last = log / "_last_checkpoint"
    checkpoint: int | None = None
    if last.exists():
        try:
            checkpoint = int(json.loads(last.read_text())["version"])
        except (ValueError, KeyError, TypeError):
            problems.append("_last_checkpoint unreadable")
        if checkpoint is not None:
            if not any(log.glob(f"{checkpoint:020d}.checkpoint*")):
                problems.append(f"_last_checkpoint names version {checkpoint}, which has no file")
            elif latest - checkpoint > 2 * interval:
                problems.append(f"checkpoint stale: {latest - checkpoint} commits behind")
    elif latest + 1 > interval:
        problems.append(f"no checkpoint after {latest + 1} commits (interval {interval})")
    else:
        notes.append(f"no checkpoint needed yet ({latest + 1} commits)")
    if checkpoint is not None:  # Delta cleans commits older than the log retention at checkpoints
        horizon = now - (retention.days + 2) * 86400
        stale = [
            v
            for v in commits
            if v < checkpoint and (log / f"{v:020d}.json").stat().st_mtime < horizon
        ]
        if stale:
            problems.append(f"log not cleaned: {len(stale)} commits older than the log retention")
    removed = 0
    for tmp in log.glob("*.tmp"):
        if now - tmp.stat().st_mtime > ORPHAN_TMP_SECONDS:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed += 1
    if removed:
        notes.append(f"removed {removed} orphan tmp file(s)")
    status = "; ".join(problems) if problems else "ok"
    if notes:
        status += " (" + "; ".join(notes) + ")"
    return status, len(commits)


def maintain_table(
    spark: SparkSession,
    settings: Settings,
    layer: str,
    table: str,
    retention: Retention,
    run_id: str,
) -> TableReport:
    """Maintain one table (module doc, steps 1–4); errors are recorded, not raised."""
    started = time.perf_counter()
    uri = settings.table_uri(layer, table)
    table_dir = Path(uri.removeprefix("file://"))
    report = TableReport(
        run_id=run_id,
        table_name=tables.qualified(layer, table),
        retention_days=retention.days,
        retention_basis=retention.basis,
    )
    actions: list[str] = []
    try:
        report.version_before = _version(spark, uri)
        files, size, props = _detail(spark, uri)
        report.files_before, report.bytes_before = files, size
        if set_retention(spark, uri, props, retention.days):
            actions.append("set-retention")
        small = files >= settings.maintenance_min_files and (
            size / max(files, 1) < settings.maintenance_small_file_mb * _MB
        )
        if small:
            tables.optimize(spark, uri)
            actions.append("optimize")
        on_disk = data_files(table_dir)
        vacuum(spark, uri)
        actions.append("vacuum")
        left = data_files(table_dir)
        gone = on_disk.keys() - left.keys()
        report.files_removed = len(gone)
        report.bytes_removed = sum(on_disk[f] for f in gone)
        files, size, props = _detail(spark, uri)
        report.files_after, report.bytes_after = files, size
        report.version_after = _version(spark, uri)
        report.checkpoint_status, report.log_commits = log_health(table_dir, retention, props)
    except Exception as exc:  # one table's failure must not stop the others' maintenance
        actions.append("failed")
        report.error = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:1000]
    report.action = "+".join(actions)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def maintain_lake(
    spark: SparkSession,
    settings: Settings,
    catalog: Catalog,
    run_id: str,
    only: list[str] | None = None,
) -> list[TableReport]:
    """Maintain every lake table (or the ``layer.table`` names in ``only``), in layer order."""
    targets = tables.lake_tables(settings)
    if only:
        wanted = set(only)
        targets = [(ly, t) for ly, t in targets if f"{ly}.{t}" in wanted]
    return [
        maintain_table(spark, settings, ly, t, retention_for(catalog, settings, ly, t), run_id)
        for ly, t in targets
    ]


def record(spark: SparkSession, settings: Settings, reports: list[TableReport]) -> None:
    """Append the run's rows to ``ops.maintenance_log`` (a history: one row per table per run)."""
    columns = column_names(MAINTENANCE_LOG_SCHEMA)
    rows = [tuple(asdict(r)[c] for c in columns) for r in reports]
    tables.append_rows(
        spark, settings, "ops", "maintenance_log", rows, MAINTENANCE_LOG_SCHEMA, recorded_at=True
    )


def _mb(n: int | None) -> str:
    return "-" if n is None else f"{n / _MB:.1f}"


def summary(reports: list[TableReport]) -> str:
    """A readable table of what the run did, for the task log and ``eb maintain``."""
    head = f"{'table':<48} {'action':<30} {'files':>11} {'MB':>13} {'vacuumed':>8} {'log':<10} s"
    lines = [head, "-" * len(head)]
    for r in reports:
        files = f"{r.files_before if r.files_before is not None else '-'}→" + (
            f"{r.files_after if r.files_after is not None else '-'}"
        )
        size = f"{_mb(r.bytes_before)}→{_mb(r.bytes_after)}"
        removed = "-" if r.files_removed is None else str(r.files_removed)
        log = "ERROR" if r.error else r.checkpoint_status.split(" (")[0]
        lines.append(
            f"{r.table_name:<48} {r.action:<30} {files:>11} {size:>13} {removed:>8} "
            f"{log:<10} {r.seconds:.1f}"
        )
        if r.error:
            lines.append(f"    error: {r.error}")
        elif not r.checkpoint_status.startswith("ok"):
            lines.append(f"    log: {r.checkpoint_status}")
    failed = sum(1 for r in reports if r.error)
    optimized = sum(1 for r in reports if "optimize" in r.action)
    removed = sum(r.files_removed or 0 for r in reports)
    lines.append(
        f"{len(reports)} tables: {optimized} compacted, {removed} unreferenced files vacuumed, "
        f"{failed} failed"
    )
    return "\n".join(lines)
