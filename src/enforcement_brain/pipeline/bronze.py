"""Landing → bronze: deliveries as received, with where each row came from.

Bronze keeps every delivered value as a string (nothing is lost to a failed cast), the raw line
of rows that do not parse (``_corrupt_record``), fields the declaration does not know
(``_rescued_data``, JSON), and the file and line of every row.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from typing import TYPE_CHECKING

from enforcement_brain.declarations import Source
from enforcement_brain.errors import DeliveryError, SchemaDriftError
from enforcement_brain.lake.folders import lake_folder
from enforcement_brain.pipeline.delivery import batch_id, landing_files
from enforcement_brain.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyspark.sql import DataFrame, SparkSession

    from enforcement_brain.pipeline.front_db import DbPull

META_COLUMNS = ("_rescued_data", "_corrupt_record", "_source_file", "_source_line")


#: Blocks inside :func:`whole_files` per session, and the settings they replaced: threads of one
#: process share a session (the backfill loads sources side by side), so the first block in
#: sets the keys and the last one out restores them.
_WHOLE_FILES: dict[int, tuple[int, dict[str, str | None]]] = {}
_WHOLE_FILES_LOCK = threading.Lock()


@contextlib.contextmanager
def whole_files(spark: SparkSession) -> Iterator[None]:
    """Scan every delivered file as exactly one Spark partition while the block runs.

    :func:`read_lines` numbers lines by their position inside the partition, which is the line
    in the file only if no file is split and no two files share a partition. Spark decides that
    when an action plans the scan, so the action that writes bronze must run inside this block.
    A file then takes one core; a day's deliveries are several files of tens of MB, which keeps
    two cores busy without the shuffle a line-numbering window would cost.
    """
    keys = {"spark.sql.files.maxPartitionBytes": "1t", "spark.sql.files.openCostInBytes": "1t"}
    with _WHOLE_FILES_LOCK:
        depth, before = _WHOLE_FILES.get(id(spark), (0, {}))
        if depth == 0:
            before = {k: spark.conf.get(k, None) for k in keys}
            for k, v in keys.items():
                spark.conf.set(k, v)
        _WHOLE_FILES[id(spark)] = (depth + 1, before)
    try:
        yield
    finally:
        with _WHOLE_FILES_LOCK:
            depth, before = _WHOLE_FILES.pop(id(spark))
            if depth > 1:
                _WHOLE_FILES[id(spark)] = (depth - 1, before)
            else:
                for k, v in before.items():
                    if v is None:
                        spark.conf.unset(k)
                    else:
                        spark.conf.set(k, v)


def read_lines(spark: SparkSession, files: list[str], encoding: str) -> DataFrame:
    """Every physical line of the files with its file and 1-based line number.

    The CSV reader with a separator and quote that never occur reads whole lines in any declared
    encoding (the text reader knows only UTF-8). The line number is the row's position in its
    partition (``monotonically_increasing_id`` minus the partition's base), exact when each file
    is one partition: run the action inside :func:`whole_files`.
    """
    from pyspark.sql import functions as F

    lines = (
        spark.read.option("sep", "\u0001")
        .option("quote", "")
        .option("escape", "")
        .option("header", False)
        .option("encoding", encoding)
        .option("mode", "PERMISSIVE")
        .schema("value string")
        .csv(files)
    )
    position = F.monotonically_increasing_id() - F.shiftleft(
        F.spark_partition_id().cast("bigint"), 33
    )
    return lines.select(
        "value",
        F.regexp_replace(F.col("_metadata.file_path"), "^file:", "").alias("_source_file"),
        (position + 1).cast("int").alias("_source_line"),
    )


def csv_headers(
    files: list[str], encoding: str, settings: Settings | None = None
) -> dict[str, list[str]]:
    """``{header line: [files]}``: the first line of each file, read directly (no Spark job).

    ``settings`` name the lake the files are in; without them, or for a local lake, the files
    are local paths.
    """
    by_header: dict[str, list[str]] = {}
    for path in files:
        try:
            header = _first_line(settings, path, encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise DeliveryError(
                f"cannot read the header of {path} as {encoding} ({exc}); left in landing"
            ) from None
        by_header.setdefault(header, []).append(path)
    return by_header


def _first_line(settings: Settings | None, path: str, encoding: str) -> str:
    """The first line of a delivered file, without its line break: from the local file, or
    from the first piece of the object on a lake in object storage."""
    if settings is None or settings.lake_is_local:
        with open(path.removeprefix("file://"), encoding=encoding, newline="") as handle:
            return handle.readline().rstrip("\r\n")
    folder, _, name = path.rpartition("/")
    first = next(iter(lake_folder(settings, folder).chunks(name)), b"")
    return first.split(b"\n", 1)[0].decode(encoding).split("\r", 1)[0]


def _rescued(declared: list[str], extra_map: str) -> object:
    """JSON of the fields a row has that the declaration does not know, or null."""
    from pyspark.sql import functions as F

    known = F.array(*[F.lit(c) for c in declared])
    extra = F.map_filter(F.col(extra_map), lambda k, _v: ~F.array_contains(known, k))
    return F.when(F.size(extra) > 0, F.to_json(extra))


def parse_jsonl(lines: DataFrame, source: Source) -> DataFrame:
    from pyspark.sql import functions as F

    names = source.column_names
    schema = ", ".join(f"`{c}` string" for c in names) + ", _corrupt_record string"
    opts = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt_record"}
    parsed = lines.select(
        F.from_json("value", schema, opts).alias("r"),
        F.from_json("value", "map<string,string>").alias("_all"),
        "value",
        "_source_file",
        "_source_line",
    )
    return parsed.select(
        *[F.col(f"r.`{c}`").alias(c) for c in names],
        _rescued(names, "_all").alias("_rescued_data"),
        # from_json reports a truncated object as corrupt; a line that is JSON but not an object
        # (e.g. a bare number) yields no map at all, which is just as unusable.
        F.when(
            F.col("r._corrupt_record").isNotNull() | F.col("_all").isNull(), F.col("value")
        ).alias("_corrupt_record"),
        "_source_file",
        "_source_line",
    )


def parse_csv(
    spark: SparkSession, source: Source, files: list[str], settings: Settings | None = None
) -> DataFrame:
    """Parse CSV files by each file's own header (line 1), so column order may vary by file.

    Files are grouped by header and each group is scanned on its own, so no row has to be
    matched back to its file by path.

    Unknown header columns go to ``_rescued_data``; a missing declared column is schema drift and
    fails the load before anything is written (the delivery stays in landing).
    """
    from functools import reduce

    from pyspark.sql import functions as F

    by_header = csv_headers(files, source.delivery.encoding, settings)
    names = source.column_names
    parts = []
    for header, group in sorted(by_header.items()):
        cols = [h.strip().lstrip("\ufeff") for h in header.split(",")]
        missing = [c for c in names if c not in cols]
        if missing:
            raise SchemaDriftError(
                SchemaDriftError.MISSING,
                f"{source.id}: declared column(s) {missing} missing from the header of "
                f"{group[0]}; nothing loaded, the delivery stays in landing",
            )
        schema = ", ".join(f"`c{i}` string" for i in range(len(cols)))
        schema += ", _corrupt_record string"
        opts = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt_record"}
        lines = read_lines(spark, group, source.delivery.encoding)
        data = lines.where(F.col("_source_line") > 1)
        parsed = data.select(
            F.from_csv("value", schema, opts).alias("r"), "_source_file", "_source_line"
        )
        extras = [(i, c) for i, c in enumerate(cols) if c not in names]
        rescued = (
            F.to_json(F.create_map(*[x for i, c in extras for x in (F.lit(c), F.col(f"r.c{i}"))]))
            if extras
            else F.lit(None).cast("string")
        )
        parts.append(
            parsed.select(
                *[F.col(f"r.c{cols.index(c)}").alias(c) for c in names],
                rescued.alias("_rescued_data"),
                F.col("r._corrupt_record").alias("_corrupt_record"),
                "_source_file",
                "_source_line",
            )
        )
    if not parts:
        raise DeliveryError(f"{source.id}: no header line found in the delivery")
    return reduce(lambda a, b: a.unionByName(b), parts)


def read_delivery(
    spark: SparkSession, settings: Settings, source: Source, day: dt.date
) -> tuple[DataFrame, list[str], DbPull | None]:
    """The day's delivery as bronze columns (without batch stamps), what was read, and for a
    relational source the pull (its day window and the late rows of earlier windows, see
    :mod:`enforcement_brain.pipeline.front_db`) to record once bronze has committed it."""
    if source.delivery.kind == "database":
        from enforcement_brain.pipeline import front_db

        pulled = front_db.pull(spark, settings, source, day)
        return pulled.dataframe(spark), [f"db:{source.delivery.table}"], pulled
    files = landing_files(settings, source, day)
    if source.delivery.format == "csv":
        return parse_csv(spark, source, files, settings), files, None
    return parse_jsonl(read_lines(spark, files, source.delivery.encoding), source), files, None


def with_batch(df: DataFrame, source: Source, day: dt.date, run_id: str) -> DataFrame:
    """Add the batch stamps every bronze row carries."""
    from pyspark.sql import functions as F

    return df.select(
        *source.column_names,
        *META_COLUMNS,
        F.lit(batch_id(source.id, day)).alias("_batch_id"),
        F.lit(run_id).alias("_run_id"),
        F.current_timestamp().alias("_ingested_at"),
        F.lit(day).cast("date").alias("_delivery_date"),
    )
