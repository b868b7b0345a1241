"""Relational sources (前置库): the day's watermark window, and the rows earlier days missed.

A front database is read through SQLAlchemy one business day at a time: the rows whose
watermark column falls in ``[D, D+1)``. That window alone is rerun-safe and order-independent,
but blind to a row committed *late*: stamped with a time in a day already loaded, committed
after that day's pull ran. So the load of day D also sweeps the ``EB_DB_LOOKBACK_DAYS`` windows
before D that were pulled before, and takes from them the row versions no other batch holds.

Row versions, not counts or high-water marks
    A row version is (business key, watermark value). A late row often carries a watermark
    *below* its window's high water (its transaction stamped it before committing), so
    "watermark > recorded high water" misses it; and in a latest-state table (a case is one
    row, moved to a later window by each update) a window can gain a late row and lose a moved
    one with its count and maximum unchanged. So the sweep compares the versions the window
    holds in the source with those bronze already holds, and takes only the missing ones. Each
    version then sits in exactly one batch's bronze slice: the ledger counts a late row once,
    in the batch that pulled it, and a quarantined row is not quarantined again by a re-pull.
    Re-pulling whole windows and leaving it to the MERGE's content hash would keep silver right
    but count every re-pulled row (and its rule failures) in the ledger again.

Reruns and load order
    "Held by another batch" means present in a bronze slice of another delivery date: the
    batch's own slice, which its rerun replaces, never counts. A rerun against an unchanged
    source therefore pulls exactly the rows its first run pulled, whatever ran in between.
    A window is swept only once its own day was pulled (an unloaded day takes its rows itself
    when it loads), so days loaded in any order from the same source state give the same
    tables; if the source changes in between, the order only decides which batch carries a late
    row. A rerun also sweeps every window its batch swept before, even if the lookback was
    shortened since: a rerun that read less would drop from bronze, and from the batch's
    ledger, rows silver already holds.

The pull record, ``ops.db_pulls``
    One row per window a pull read: the window, its row count and high-water value at pull time
    (what grew, for people watching a source), the rows taken, the run. It decides which earlier
    windows are swept; bronze decides which rows are taken, so the record never has to agree
    with bronze after a crash. It is a Delta table in ``ops``, appended through the same
    :func:`~enforcement_brain.lake.tables.append_rows` as ``ops.batch_log``, rather than a table
    in a SQLAlchemy database: the front database belongs to the source system and is only read;
    in the lake the record survives restarts and moves with the bronze it describes (a restored
    or copied lake carries its own records), and analysts query it by name like the ledger. It
    is appended after bronze commits, so it never names a pull bronze lacks; a load killed in
    between re-pulls the same rows on its retry.

Limits: a row committed later than the lookback is never pulled; a change that does not move
the watermark (an in-place correction) is invisible to any watermark pull; days pulled before
``ops.db_pulls`` existed have no record, so they are not swept.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from enforcement_brain.declarations import Source
from enforcement_brain.errors import DeliveryError, SchemaDriftError
from enforcement_brain.lake import tables
from enforcement_brain.ops.schemas import DB_PULLS_SCHEMA
from enforcement_brain.pipeline.delivery import batch_id
from enforcement_brain.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

DAY, SWEEP = "day", "sweep"


@dataclass(frozen=True)
class WindowPull:
    """What the pull of one watermark window saw in the source and took into the batch."""

    window_day: dt.date
    pull: str  # DAY: the batch's own window; SWEEP: an earlier window searched for late rows
    row_count: int  # rows in the window at pull time
    high_water: str | None  # greatest watermark value in the window at pull time
    rows_pulled: int  # versions no other batch held, taken into this batch


@dataclass(frozen=True)
class DbPull:
    """One batch's pull from a relational source: its rows (as text) and its windows."""

    source: str
    delivery_date: dt.date
    columns: tuple[str, ...]
    rows: tuple[tuple[str | None, ...], ...]  # declared values, _rescued_data, _source_file
    windows: tuple[WindowPull, ...]

    @property
    def late_rows(self) -> int:
        """Rows taken from earlier windows: committed after those days were pulled."""
        return sum(w.rows_pulled for w in self.windows if w.pull == SWEEP)

    def dataframe(self, spark: SparkSession) -> DataFrame:
        """The rows as bronze columns (without batch stamps), like a file delivery's."""
        from pyspark.sql import functions as F

        schema = ", ".join(f"`{c}` string" for c in self.columns)
        schema += ", _rescued_data string, _source_file string"
        df = spark.createDataFrame(list(self.rows), schema)
        return df.select(
            *self.columns,
            "_rescued_data",
            F.lit(None).cast("string").alias("_corrupt_record"),
            "_source_file",
            F.lit(None).cast("int").alias("_source_line"),
        )


def window(day: dt.date) -> tuple[str, str]:
    """The watermark bounds of a business day, ``[start, end)``, as the query compares them."""
    return day.isoformat(), (day + dt.timedelta(days=1)).isoformat()


def sweep_windows(
    records: Iterable[tuple[dt.date, dt.date, str]], day: dt.date, lookback: int
) -> list[dt.date]:
    """Earlier windows day ``day``'s batch sweeps, from ``(delivery date, window, pull)`` records.

    The ``lookback`` days before ``day`` whose own pull is recorded, and every window this
    batch swept in an earlier run (a rerun never reads less than the run it replaces).
    """
    records = list(records)
    pulled = {w for batch, w, kind in records if kind == DAY and batch == w}
    recent = {day - dt.timedelta(days=n) for n in range(1, lookback + 1)}
    again = {w for batch, w, kind in records if kind == SWEEP and batch == day}
    return sorted((pulled & recent) | again)


def pull_records(
    settings: Settings,
    source_id: str,
    day: dt.date | None = None,
    lookback: int = 0,
) -> list[dict]:
    """The source's rows of ``ops.db_pulls`` (every run's); none before its first pull.

    With ``day``: only those a pull of that day reads, its own batch's and those of the windows
    from ``lookback`` days before it up to it, so the read stays small as the history grows.
    Read with delta-rs: a small table, and no Spark job for it.
    """
    import pyarrow.compute as pc

    wanted = pc.field("source") == source_id
    if day is not None:
        since = day - dt.timedelta(days=lookback)
        recent = (pc.field("window_day") >= since) & (pc.field("window_day") <= day)
        wanted = wanted & ((pc.field("delivery_date") == day) | recent)
    return tables.read_rows(settings, "ops", "db_pulls", wanted)


def versions_elsewhere(
    spark: SparkSession, settings: Settings, source: Source, day: dt.date, since: dt.date
) -> set[tuple[str | None, ...]]:
    """(business key..., watermark) of every row version bronze holds in the slices of other
    delivery dates from ``since`` on: a window's rows sit in its own slice or a later one."""
    from pyspark.sql import functions as F

    if not tables.is_delta_table(settings, "bronze", source.id):
        return set()
    columns = [*source.business_key, str(source.delivery.watermark)]
    rows = (
        spark.read.format("delta")
        .load(settings.table_uri("bronze", source.id))
        .where((F.col("_delivery_date") >= F.lit(since)) & (F.col("_delivery_date") != F.lit(day)))
        .select(*columns)
        .distinct()
        .collect()
    )
    return {tuple(r) for r in rows}


def pull(spark: SparkSession, settings: Settings, source: Source, day: dt.date) -> DbPull:
    """Day ``day``'s pull: its own window, plus the late versions of the earlier windows swept.

    Values are read as text, like a file delivery; columns the declaration does not know go to
    ``_rescued_data``. Rows of the day's window carry ``_source_file = db:<table>``, late rows
    ``db:<table>?window=<day they are stamped with>``.
    """
    import sqlalchemy as sa

    table, watermark = str(source.delivery.table), str(source.delivery.watermark)
    names = source.column_names
    lookback = settings.db_lookback_days
    records = pull_records(settings, source.id, day, lookback)
    sweep = sweep_windows(
        ((r["delivery_date"], r["window_day"], r["pull"]) for r in records), day, lookback
    )
    # Versions held elsewhere matter for the swept windows, and for the day's own window only
    # once a later batch swept it (this is a rerun of a day whose late rows another batch took).
    swept_by_others = any(r["window_day"] == day and r["delivery_date"] != day for r in records)
    held = (
        versions_elsewhere(spark, settings, source, day, min([day, *sweep]))
        if sweep or swept_by_others
        else set()
    )
    version = [names.index(k) for k in source.business_key] + [names.index(watermark)]
    rows: list[tuple[str | None, ...]] = []
    windows: list[WindowPull] = []
    try:
        engine = sa.create_engine(settings.source_db_url)
        with engine.connect() as conn:
            tbl = sa.Table(table, sa.MetaData(), autoload_with=conn)
            missing = [c for c in names if c not in tbl.c]
            if missing:
                raise SchemaDriftError(
                    SchemaDriftError.MISSING,
                    f"{source.id}: declared column(s) {missing} missing in the source table "
                    f"{table}; nothing loaded",
                )
            # Columns the declaration does not know (the system added one): kept, not dropped.
            extras = [c.name for c in tbl.columns if c.name not in names]
            query = sa.select(
                *[sa.cast(tbl.c[c], sa.String).label(c) for c in [*names, *extras]]
            ).order_by(tbl.c[watermark], *[tbl.c[k] for k in source.business_key])
            for w, kind in [(day, DAY), *[(d, SWEEP) for d in sweep]]:
                start, end = window(w)
                found = conn.execute(
                    query.where(tbl.c[watermark] >= start, tbl.c[watermark] < end)
                ).all()
                taken = [r for r in found if tuple(r[i] for i in version) not in held]
                where = f"db:{table}" if kind == DAY else f"db:{table}?window={w.isoformat()}"
                rows += [(*_with_rescued(tuple(r), len(names), extras), where) for r in taken]
                marks = [r[version[-1]] for r in found if r[version[-1]] is not None]
                high_water = max(marks, default=None)
                windows.append(WindowPull(w, kind, len(found), high_water, len(taken)))
    except sa.exc.SQLAlchemyError as exc:
        raise DeliveryError(
            f"{source.id}: source database unreachable or unreadable ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0]})"
        ) from None
    finally:
        if "engine" in locals():
            engine.dispose()
    return DbPull(source.id, day, tuple(names), tuple(rows), tuple(windows))


def _with_rescued(row: tuple, declared: int, extras: list[str]) -> tuple:
    """The declared values, then the undeclared ones as JSON (or null), like a file's extras."""
    found = {k: v for k, v in zip(extras, row[declared:], strict=True) if v is not None}
    rescued = json.dumps(found, ensure_ascii=False, sort_keys=True) if found else None
    return (*row[:declared], rescued)


def record(spark: SparkSession, settings: Settings, pulled: DbPull, run_id: str) -> None:
    """Append the pull's windows to ``ops.db_pulls``; call it once bronze has committed."""
    batch = batch_id(pulled.source, pulled.delivery_date)
    rows = [
        (
            pulled.source,
            pulled.delivery_date,
            batch,
            w.window_day,
            w.pull,
            *window(w.window_day),
            w.row_count,
            w.high_water,
            w.rows_pulled,
            run_id,
        )
        for w in pulled.windows
    ]
    tables.append_rows(spark, settings, "ops", "db_pulls", rows, DB_PULLS_SCHEMA, recorded_at=True)
