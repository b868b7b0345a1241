"""Landing → bronze: deliveries as received, with where each row came from.

Bronze keeps every delivered value as a string (nothing is lost to a failed cast), the raw line
of rows that do not parse (``_corrupt_record``), fields the declaration does not know
(``_rescued_data``, JSON), and the file and line of every row.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from enforcement_brain.declarations import Source
from enforcement_brain.errors import DeliveryError
from enforcement_brain.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

META_COLUMNS = ("_rescued_data", "_corrupt_record", "_source_file", "_source_line")


def batch_id(source_id: str, day: dt.date) -> str:
    """Deterministic id of one source's delivery for one day: reruns keep the same id."""
    digest = hashlib.sha1(f"{source_id}/{day.isoformat()}".encode()).hexdigest()[:12]
    return f"{source_id}-{day:%Y%m%d}-{digest}"


def delivery_dir(settings: Settings, source: Source, day: dt.date) -> str:
    """Where a day's delivery is: the landing folder, or the bucket prefix of an object source."""
    if source.delivery.kind == "objects":
        prefix = (source.delivery.prefix or "").format(
            yyyy=f"{day:%Y}", mm=f"{day:%m}", dd=f"{day:%d}"
        )
        return f"{settings.objects_root}/{source.delivery.bucket}/{prefix.rstrip('/')}"
    return f"{settings.landing_uri}/{source.id}/{day.isoformat()}"


def landing_files(settings: Settings, source: Source, day: dt.date) -> list[str]:
    """The day's delivered files for a file source, sorted; an error names what is missing."""
    folder = Path(delivery_dir(settings, source, day).removeprefix("file://"))
    if not folder.is_dir():
        raise DeliveryError(f"{source.id}: no delivery for {day} (expected folder {folder})")
    files = sorted(
        str(p)
        for p in folder.iterdir()
        if p.is_file() and fnmatch.fnmatch(p.name, source.delivery.pattern)
    )
    if not files:
        raise DeliveryError(
            f"{source.id}: delivery folder {folder} has no file matching {source.delivery.pattern}"
        )
    empty = [f for f in files if Path(f).stat().st_size == 0]
    if empty:
        raise DeliveryError(
            f"{source.id}: empty delivery file(s) {', '.join(empty)}; left in landing"
        )
    return files


def read_lines(spark: SparkSession, files: list[str], encoding: str) -> DataFrame:
    """Every physical line of the files with its file and 1-based line number.

    The CSV reader with a separator and quote that never occur reads whole lines in any declared
    encoding (the text reader knows only UTF-8). Line numbers come from the split's byte offset and
    the read order inside a split, so they stay right when Spark splits a large file.
    """
    from pyspark.sql import Window
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
        .select(
            "value",
            F.col("_metadata.file_path").alias("_source_file"),
            F.col("_metadata.file_block_start").alias("_block"),
            F.monotonically_increasing_id().alias("_seq"),
        )
    )
    order = Window.partitionBy("_source_file").orderBy("_block", "_seq")
    return lines.select(
        "value",
        F.regexp_replace("_source_file", "^file:", "").alias("_source_file"),
        F.row_number().over(order).cast("int").alias("_source_line"),
    )


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


def parse_csv(spark: SparkSession, lines: DataFrame, source: Source) -> DataFrame:
    """Parse CSV lines by each file's own header (line 1), so column order may vary by file.

    Unknown header columns go to ``_rescued_data``; a missing declared column is schema drift and
    fails the load before anything is written (the delivery stays in landing).
    """
    from functools import reduce

    from pyspark.sql import functions as F

    headers = lines.where("_source_line = 1").select("_source_file", "value").collect()
    by_header: dict[str, list[str]] = {}
    for row in headers:
        by_header.setdefault(row["value"], []).append(row["_source_file"])
    names = source.column_names
    parts = []
    for header, files in sorted(by_header.items()):
        cols = [h.strip().lstrip("\ufeff") for h in header.split(",")]
        missing = [c for c in names if c not in cols]
        if missing:
            raise DeliveryError(
                f"{source.id}: schema drift in {files[0]}: declared column(s) {missing} missing "
                f"from the header; the delivery stays in landing"
            )
        schema = ", ".join(f"`c{i}` string" for i in range(len(cols)))
        schema += ", _corrupt_record string"
        opts = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt_record"}
        data = lines.where(F.col("_source_file").isin(*files) & (F.col("_source_line") > 1))
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


def read_database(
    spark: SparkSession, settings: Settings, source: Source, day: dt.date
) -> DataFrame:
    """Rows of a relational source updated during the business day, through SQLAlchemy.

    The day window on the watermark column makes the pull partition-scoped: rerunning a day
    pulls the same rows. Values are read as text, like a file delivery.
    """
    import sqlalchemy as sa

    table, watermark = source.delivery.table, source.delivery.watermark
    names = source.column_names
    start, end = day.isoformat(), (day + dt.timedelta(days=1)).isoformat()
    try:
        engine = sa.create_engine(settings.source_db_url)
        with engine.connect() as conn:
            meta = sa.MetaData()
            tbl = sa.Table(table, meta, autoload_with=conn)
            missing = [c for c in names if c not in tbl.c]
            if missing:
                raise DeliveryError(
                    f"{source.id}: schema drift: column(s) {missing} missing in {table}"
                )
            query = (
                sa.select(*[sa.cast(tbl.c[c], sa.String).label(c) for c in names])
                .where(tbl.c[watermark] >= start, tbl.c[watermark] < end)
                .order_by(tbl.c[watermark], *[tbl.c[k] for k in source.business_key])
            )
            rows = [tuple(r) for r in conn.execute(query)]
    except sa.exc.SQLAlchemyError as exc:
        raise DeliveryError(
            f"{source.id}: source database unreachable or unreadable ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0]})"
        ) from None
    finally:
        if "engine" in locals():
            engine.dispose()
    from pyspark.sql import functions as F

    schema = ", ".join(f"`{c}` string" for c in names)
    df = spark.createDataFrame(rows, schema) if rows else spark.createDataFrame([], schema)
    location = f"db:{table}"
    return df.select(
        *names,
        F.lit(None).cast("string").alias("_rescued_data"),
        F.lit(None).cast("string").alias("_corrupt_record"),
        F.lit(location).alias("_source_file"),
        F.lit(None).cast("int").alias("_source_line"),
    )


def read_delivery(
    spark: SparkSession, settings: Settings, source: Source, day: dt.date
) -> tuple[DataFrame, list[str]]:
    """The day's delivery as bronze columns (without batch stamps), and what was read."""
    if source.delivery.kind == "database":
        return read_database(spark, settings, source, day), [f"db:{source.delivery.table}"]
    files = landing_files(settings, source, day)
    lines = read_lines(spark, files, source.delivery.encoding)
    if source.delivery.format == "csv":
        return parse_csv(spark, lines, source), files
    return parse_jsonl(lines, source), files


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
