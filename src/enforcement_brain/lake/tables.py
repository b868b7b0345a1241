"""Delta tables of the lake, and their names in the Spark catalog.

The lake is self-describing: every table lives at ``<lake>/<layer>/<table>`` and the catalog is
derived from the folders (``register_lake``). So any Spark session, the Connect server, the
``spark-sql`` shell or a Thrift server, reaches every table as ``<layer>.<table>`` after a cheap
registration, and no metastore has to be shared between JVMs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from enforcement_brain.errors import (
    ConfigError,
    DiskFullError,
    StoreUnavailableError,
    is_disk_full,
)
from enforcement_brain.lake.s3 import delta_store_unavailable
from enforcement_brain.settings import LAYERS, Settings

if TYPE_CHECKING:
    from deltalake import DeltaTable
    from pyspark.sql import DataFrame, SparkSession

TABLE_LAYERS = tuple(layer for layer in LAYERS if layer != "landing")

#: Columns that stamp *when* a row was processed. They are the only columns allowed to differ
#: when the same day is run twice; every other column must be identical (see tests).
RUN_STAMP_COLUMNS = frozenset(
    {"_ingested_at", "_loaded_at", "_run_id", "recorded_at", "run_id", "validated_at"}
)


#: Tables that are a history of runs: they grow with every run by design.
RUN_HISTORY_TABLES = frozenset(
    {
        "ops.run_log",
        "ops.batch_log",
        "ops.dq_ledger",
        "ops.gx_results",
        "ops.db_pulls",
        "ops.publish_log",
    }
)


def qualified(layer: str, table: str) -> str:
    if layer not in TABLE_LAYERS:
        raise ConfigError(f"{layer!r} is not a table layer ({', '.join(TABLE_LAYERS)})")
    return f"{layer}.{table}"


def _sql_path(uri: str) -> str:
    return uri.replace("'", "''")


def sql_ident(uri: str) -> str:
    """A table by path as a SQL identifier (``delta.`uri```), for commands such as OPTIMIZE."""
    return "delta.`" + uri.replace("`", "``") + "`"


def optimize(spark: SparkSession, uri: str) -> None:
    """Bin-pack a table's small files (Delta's ``OPTIMIZE``, a commit with ``dataChange =
    false``). Maintenance and the share projection each decide when, by rules of their own."""
    spark.sql(f"OPTIMIZE {sql_ident(uri)}").collect()


def _has_commit(folder: Path) -> bool:
    """A Delta table exists once its log holds a commit; a bare ``_delta_log`` folder (a first
    write that died before committing) is not a table."""
    log = folder / "_delta_log"
    return log.is_dir() and any(log.glob("*.json"))


def delta_location(settings: Settings, layer: str, table: str) -> tuple[str, dict[str, str]]:
    """The table as delta-rs opens it: its URI and storage options.

    A local lake's folder needs no options; an ``s3a://`` lake is ``s3://`` to delta-rs, with
    the lake store's endpoint, region and conditional-write commits
    (:func:`enforcement_brain.lake.s3.storage_options`), the credentials from ``AWS_*``.
    """
    return delta_uri(settings, settings.table_uri(layer, table))


def delta_uri(settings: Settings, uri: str) -> tuple[str, dict[str, str]]:
    """A lake table's URI as Spark names it (a path, or ``s3a://``), as delta-rs opens it."""
    if settings.lake_is_local:
        return uri, {}
    from enforcement_brain.lake.s3 import S3Location, storage_options

    return S3Location.parse(uri).uri, storage_options(settings)


def open_delta(settings: Settings, layer: str, table: str) -> DeltaTable:
    """The table's current version, opened with delta-rs wherever the lake lives."""
    return open_delta_at(settings, settings.table_uri(layer, table))


def open_delta_at(settings: Settings, uri: str) -> DeltaTable:
    """The lake table at ``uri`` (as Spark names it), opened with delta-rs."""
    from deltalake import DeltaTable

    uri, options = delta_uri(settings, uri)
    return DeltaTable(uri, storage_options=options or None)


def is_delta_table(settings: Settings, layer: str, table: str) -> bool:
    """Whether the table exists: a commit in its log, read from the folder of a local lake
    and with delta-rs on an ``s3a://`` lake (no Spark job either way)."""
    if settings.lake_is_local:
        return _has_commit(Path(settings.table_uri(layer, table)))
    from deltalake import DeltaTable

    uri, options = delta_location(settings, layer, table)
    return DeltaTable.is_deltatable(uri, storage_options=options)


def lake_tables(settings: Settings) -> list[tuple[str, str]]:
    """Every (layer, table) that exists in the lake, in layer order.

    On an ``s3a://`` lake the table folders are the key prefixes one level under each layer
    (one listing per layer), each kept when its log holds a commit.
    """
    out: list[tuple[str, str]] = []
    for layer in TABLE_LAYERS:
        if settings.lake_is_local:
            folder = Path(settings.layer_uri(layer))
            if folder.is_dir():
                out += [(layer, p.name) for p in sorted(folder.iterdir()) if _has_commit(p)]
            continue
        names = _s3_folders(settings, settings.layer_uri(layer))
        out += [(layer, name) for name in names if is_delta_table(settings, layer, name)]
    return out


def _s3_folders(settings: Settings, uri: str) -> list[str]:
    """The sorted names of the "folders" (common prefixes) directly under ``uri`` on the
    lake's store."""
    from enforcement_brain.lake.s3 import LakeStore, S3Location

    location = S3Location.parse(uri)
    client = LakeStore.from_settings(settings).client
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=location.bucket, Prefix=location.prefix + "/", Delimiter="/"
    )
    names = [
        common["Prefix"].rstrip("/").rsplit("/", 1)[-1]
        for page in pages
        for common in page.get("CommonPrefixes", [])
    ]
    return sorted(names)


def row_count_from_log(settings: Settings, layer: str, table: str) -> int | None:
    """Rows of the current version from the Delta log's per-file statistics, or None.

    Every data file Spark writes carries ``numRecords`` in its log entry, so the count of a
    table is a sum over its active files: milliseconds with delta-rs, where a Spark count
    costs a query per table (~30 s for the day's ~90 tables at full scale). None when the
    answer would not be exact (a file without statistics, deletion vectors), and the caller
    counts with Spark instead.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    delta = open_delta(settings, layer, table)
    features = delta.protocol().writer_features or []
    if "deletionVectors" in features:  # numRecords counts rows a deletion vector hides
        return None
    actions = pa.table(delta.get_add_actions(flatten=True))
    records = actions["num_records"]
    if records.null_count:
        return None
    return int(pc.sum(records).as_py() or 0)


def partition_is_empty(settings: Settings, layer: str, table: str, column: str, value: str) -> bool:
    """True when the table exists and none of its files lies in partition ``column = value``.

    Read from the log with delta-rs (no Spark job). A writer whose slice is empty uses it to
    skip a ``replaceWhere`` that would replace nothing with nothing: a commit and a planned
    job in the shared JVM for each clean source load. False for a missing table (the write
    creates it).
    """
    if not is_delta_table(settings, layer, table):
        return False
    files = open_delta(settings, layer, table).file_uris(partition_filters=[(column, "=", value)])
    return not files


def latest_version(settings: Settings, layer: str, table: str) -> int:
    """The table's current version, read from its log with delta-rs (no Spark job)."""
    return open_delta(settings, layer, table).version()


def rows_written(delta: DeltaTable) -> int | None:
    """Rows the table's latest commit wrote (``numOutputRows`` less ``numCopiedRows``), or None.

    For a ``replaceWhere`` that is the rows the replaced slice now holds, so a writer that is
    the table's only writer need not count them back with a Spark job. Copied rows are those of
    other slices that shared a rewritten file (a table not partitioned by the slice's column).
    Takes the table as the caller opened it (delta-rs), who usually asks it more.
    """
    (last,) = delta.history(1)
    metrics = last.get("operationMetrics") or {}
    value = metrics.get("numOutputRows")
    return None if value is None else int(value) - int(metrics.get("numCopiedRows") or 0)


_REGISTERED: dict[tuple[int, str], str] = {}
_REGISTERING = threading.Lock()


def register(spark: SparkSession, settings: Settings, layer: str, table: str) -> str:
    """Make ``layer.table`` resolve in this session's catalog; returns the qualified name.

    If this process registered the name for another lake before (tests use a lake per test in
    one session), the entry is re-pointed; dropping an external table leaves its data alone.

    Writers call it only when they create a table: the pipeline reads tables by path, and a
    name costs two statements over Spark Connect in every Airflow task, each a new session.
    Whoever reads by name registers the lake first (``register_lake`` in ``eb run``'s summary
    and the SQL endpoint, ``registration_sql`` for ``make sql``); the Connect server's catalog
    is shared by its sessions, so a table created by one task is named for all.
    """
    name = qualified(layer, table)
    uri = _sql_path(settings.table_uri(layer, table))
    key = (id(spark), name)
    # Threads of one process share a session (the backfill loads sources side by side), and
    # "IF NOT EXISTS" is a check, then a create: one thread at a time.
    with _REGISTERING:
        known = _REGISTERED.get(key)
        if known == uri:
            return name
        spark.sql(f"CREATE SCHEMA IF NOT EXISTS {layer}")
        if known is not None:
            spark.sql(f"DROP TABLE IF EXISTS {name}")
        spark.sql(f"CREATE TABLE IF NOT EXISTS {name} USING delta LOCATION '{uri}'")
        _REGISTERED[key] = uri
    return name


def unregister(spark: SparkSession, name: str) -> None:
    """Drop ``layer.table`` from this session's catalog (the table was removed from the lake).

    The tables are external: dropping the name never touches the data.
    """
    spark.sql(f"DROP TABLE IF EXISTS {name}")
    _REGISTERED.pop((id(spark), name), None)


def register_lake(spark: SparkSession, settings: Settings) -> list[str]:
    """Register every table of the lake; returns the qualified names."""
    return [register(spark, settings, layer, table) for layer, table in lake_tables(settings)]


def registration_sql(settings: Settings) -> str:
    """The same registration as a SQL script, for ``spark-sql -i`` and the Thrift server."""
    lines = [f"CREATE SCHEMA IF NOT EXISTS {layer};" for layer in TABLE_LAYERS]
    for layer, table in lake_tables(settings):
        uri = _sql_path(settings.table_uri(layer, table))
        lines.append(f"CREATE TABLE IF NOT EXISTS {layer}.{table} USING delta LOCATION '{uri}';")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def disk_full_reported(settings: Settings, layer: str, table: str) -> Iterator[None]:
    """Turn a write's full-disk failure (Spark's or delta-rs's, a long trace either way) into
    one coded line: :class:`DiskFullError` with the table and the space left.

    Nothing needs undoing: Delta writes the commit file last, so a write that dies on a full
    disk leaves the table at its previous version and only orphaned data files behind.
    """
    try:
        yield
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        free = "unknown"
        if settings.lake_is_local:
            probe = settings.local_lake
            while not probe.exists() and probe != probe.parent:
                probe = probe.parent
            free = f"{shutil.disk_usage(probe).free / 1024 / 1024:.1f} MB free at {probe}"
        raise DiskFullError(
            f"{qualified(layer, table)}: the lake's disk is full ({free}); nothing was "
            "committed: free space, then rerun the day (reruns are idempotent)"
        ) from None


def date_predicate(column: str, dates: Sequence[dt.date]) -> str:
    """``column IN ('2026-11-28', ...)``: the literal date list Delta prunes partitions by, for
    a ``replaceWhere`` and a MERGE condition alike."""
    return f"{column} IN ({', '.join(repr(d.isoformat()) for d in dates)})"


def replace_where(
    df: DataFrame,
    settings: Settings,
    layer: str,
    table: str,
    predicate: str,
    *,
    partition_by: list[str] | None = None,
    properties: dict[str, str] | None = None,
    options: dict[str, str] | None = None,
) -> None:
    """Atomically replace the rows matching ``predicate`` with ``df`` (one Delta commit).

    This is what makes reruns and retries idempotent: a day's slice is swapped whole, and a
    crash before the commit leaves the previous version in place. Delta refuses the write if a
    row of ``df`` falls outside ``predicate``, so a bug cannot overwrite another day.
    """
    spark = df.sparkSession
    uri = settings.table_uri(layer, table)
    exists = is_delta_table(settings, layer, table)
    writer = df.write.format("delta").mode("overwrite").option("replaceWhere", predicate)
    writer = writer.options(**(options or {}))
    if partition_by and not exists:  # partitioning is fixed when the table is created
        writer = writer.partitionBy(*partition_by)
    with disk_full_reported(settings, layer, table):
        writer.save(uri)
    if not exists:  # the name is given where the table is born (see ``register``)
        name = register(spark, settings, layer, table)
        if properties:
            props = ", ".join(f"'{k}' = '{v}'" for k, v in properties.items())
            spark.sql(f"ALTER TABLE {name} SET TBLPROPERTIES ({props})")


def append_rows(
    spark: SparkSession | None,
    settings: Settings,
    layer: str,
    table: str,
    rows: Sequence[Sequence[Any]],
    schema: str,
    *,
    partition_by: list[str] | None = None,
    recorded_at: bool = False,
) -> None:
    """Append a few rows built in Python to a history table (the ledger, the logs).

    Written with delta-rs from the calling process, not through Spark: a Spark append of a
    handful of rows costs a planned job and a commit in the shared JVM (five of them per source
    load), delta-rs a fraction of that and no JVM time. The table is the
    same Delta table either way, and Spark reads it as before. On an ``s3a://`` lake each
    commit is a conditional write (see :func:`enforcement_brain.lake.s3.storage_options`), so
    task processes on several workers append to one table without losing a commit.

    ``schema`` is a Spark DDL list (``"source string, n bigint, ..."``) naming the columns in
    ``rows`` order; ``recorded_at`` adds a UTC ``recorded_at timestamp`` column with the time
    of the append. Appends never conflict with each other, but on a new lake the 28 loads of a
    day may all *create* ``ops.dq_ledger`` at once; the losers see the winner's first commit
    and append again. ``spark``, when given, gets the ``layer.table`` name registered if the
    append created the table.
    """

    import deltalake
    import pyarrow as pa
    from deltalake.exceptions import CommitFailedError

    if not rows:
        return
    fields = [_arrow_field(column) for column in schema.split(", ")]
    data = [dict(zip((f.name for f in fields), row, strict=True)) for row in rows]
    if recorded_at:
        fields.append(pa.field("recorded_at", pa.timestamp("us", tz="UTC")))
        now = dt.datetime.now(dt.UTC)
        data = [{**d, "recorded_at": now} for d in data]
    arrow = pa.Table.from_pylist(data, schema=pa.schema(fields))
    uri, options = delta_location(settings, layer, table)
    with store_unavailable_reported(settings, layer, table):
        existed = is_delta_table(settings, layer, table)
    # Each commit carries an id of this append: after a failure the store may still have
    # taken the commit (a reset after the write), and the log tells whether it did.
    append_id = uuid.uuid4().hex
    properties = deltalake.CommitProperties(custom_metadata={APPEND_ID: append_id})
    store_failures = 0
    for attempt in range(5):
        try:
            with disk_full_reported(settings, layer, table):
                deltalake.write_deltalake(
                    uri,
                    arrow,
                    mode="append",
                    schema_mode="merge",
                    partition_by=partition_by,
                    storage_options=options or None,
                    commit_properties=properties,
                )
            break
        except CommitFailedError:  # lost a race to create the table, or retries ran out
            if attempt == 4:
                raise
        except Exception as exc:
            if not delta_store_unavailable(exc):
                raise
            store_failures += 1
            with store_unavailable_reported(settings, layer, table):
                if _committed(uri, options, append_id):
                    break
                if store_failures == APPEND_STORE_ATTEMPTS:
                    raise
    if spark is not None and not existed:
        register(spark, settings, layer, table)


#: The commit metadata key naming the append a commit made (:func:`append_rows`).
APPEND_ID = "eb.append_id"

#: Writes :func:`append_rows` makes of one append when the store fails (each with
#: delta-rs's own retries of every request, ``lake.s3.DELTA_MAX_RETRIES``).
APPEND_STORE_ATTEMPTS = 3


def _committed(uri: str, options: dict[str, str], append_id: str) -> bool:
    """Whether a commit of the log's latest few carries ``append_id``."""
    import deltalake

    if not deltalake.DeltaTable.is_deltatable(uri, storage_options=options or None):
        return False
    history = deltalake.DeltaTable(uri, storage_options=options or None).history(20)
    return any(commit.get(APPEND_ID) == append_id for commit in history)


@contextlib.contextmanager
def store_unavailable_reported(settings: Settings, layer: str, table: str) -> Iterator[None]:
    """Turn delta-rs's failure on a store that kept failing (a long cause chain) into one
    coded line: :class:`StoreUnavailableError` naming the table and the store's answer.

    Nothing needs undoing: a write that did not commit leaves the table at its previous
    version, and its data files are orphans VACUUM removes.
    """
    try:
        yield
    except StoreUnavailableError:
        raise
    except Exception as exc:
        reason = delta_store_unavailable(exc)
        if not reason:
            raise
        raise StoreUnavailableError(
            f"{qualified(layer, table)}: the lake's store ({settings.s3_endpoint or 'S3'}) "
            f"kept failing: {reason}; nothing was committed: rerun when it answers again"
        ) from None


def read_rows(
    settings: Settings,
    layer: str,
    table: str,
    where: Any = None,
    columns: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Rows of a small history table as dicts, read with delta-rs: the counterpart of
    :func:`append_rows`, for the few rows a task needs back (no Spark job). ``where`` is a
    ``pyarrow.compute`` expression; a table that does not exist yet has no rows."""
    if not is_delta_table(settings, layer, table):
        return []
    dataset = open_delta(settings, layer, table).to_pyarrow_dataset()
    return dataset.to_table(columns=columns, filter=where).to_pylist()


def read_all(delta: Any) -> Any:
    """Every row of an open Delta table as one Arrow table in one chunk.

    Read by delta-rs's own query engine, which opens the files in parallel: on a month of
    small history files it was 1.7x (``ops.batch_log``) to 2.5-6x (``ops.dq_ledger``,
    partitioned) faster than :func:`read_rows`' Arrow dataset, which lists each file's
    partition first. One chunk, because filters over a thousand chunks cost more than the
    rows. Its text columns come as ``string_view``; they are cast to plain strings, which
    Arrow's filters and sorts take."""
    import pyarrow as pa
    from deltalake import QueryBuilder

    table = pa.table(QueryBuilder().register("t", delta).execute("select * from t").read_all())
    plain = {pa.string_view(): pa.string(), pa.binary_view(): pa.binary()}
    schema = pa.schema([f.with_type(plain.get(f.type, f.type)) for f in table.schema])
    return table.cast(schema).combine_chunks()


#: Spark DDL types of the history tables, as Arrow types (what Delta stores for each).
_ARROW_TYPES = {
    "string": "string",
    "bigint": "int64",
    "int": "int32",
    "double": "float64",
    "boolean": "bool_",
    "date": "date32",
}


def _arrow_field(column: str) -> Any:
    import pyarrow as pa

    name, kind = column.split()
    if kind == "timestamp":
        return pa.field(name, pa.timestamp("us", tz="UTC"))
    if kind not in _ARROW_TYPES:
        raise ConfigError(f"history table column {name}: type {kind} is not supported")
    return pa.field(name, getattr(pa, _ARROW_TYPES[kind])())
