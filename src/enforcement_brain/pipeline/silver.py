"""Bronze → silver: conform to Standard 1, check against Standard 2, quarantine, MERGE.

Pure transforms (``conform``, ``dedupe``) take and return DataFrames; ``load_batch`` does the
writes to silver and quarantine. Every batch reconciles: rows in = inserted + updated + unchanged
+ duplicates dropped + quarantined. ``load_batch`` returns those terms and each rule's count; the
job that ran it records them in ``ops`` (:func:`enforcement_brain.ops.ledger.record_batch`), so
silver writes only the data it conforms.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from enforcement_brain.declarations import Catalog, Source
from enforcement_brain.errors import DeliveryError, SchemaDriftError
from enforcement_brain.lake import tables
from enforcement_brain.ops.ledger import BatchReport
from enforcement_brain.pipeline.bronze import META_COLUMNS
from enforcement_brain.pipeline.delivery import batch_id
from enforcement_brain.pipeline.rules import (
    compile_checks,
    rule_counts,
    typed,
    violations_column,
)
from enforcement_brain.settings import Settings
from enforcement_brain.standards.code_tables import load_code_table

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession


def canonical_columns(catalog: Catalog, source: Source) -> list[Column]:
    """Canonical values for coded columns whose code table maps to one (e.g. plate colour).

    ``plate_color_code`` from a police feed and from a transport feed use different codes for the
    same colour; silver adds ``plate_color`` in one vocabulary and keeps the source code.
    """
    from pyspark.sql import functions as F

    out = []
    for column in source.columns:
        element = catalog.elements[column.element]
        if not element.code_table or not column.name.endswith("_code"):
            continue
        table = load_code_table(catalog.root, element.code_table)
        pairs = [(str(c["code"]), c["canonical"]) for c in table.codes if "canonical" in c]
        if not pairs:
            continue
        mapping = F.create_map(*[F.lit(x) for pair in pairs for x in pair])
        name = column.name.removesuffix("_code")
        out.append(F.element_at(mapping, F.trim(F.col(column.name))).alias(name))
        out.append(F.lit(element.code_table).alias(f"{name}_system"))
    return out


#: Codes of the coord_system table whose positions silver converts (GCJ-02, BD-09); WGS-84 and
#: CGCS2000 (equal to WGS-84 within centimetres) pass as they are, and so does "0 other".
GCJ02_CODE, BD09_CODE = "1", "3"


def to_wgs84(typed_rows: DataFrame, flag: str, pairs: list[tuple[str, str]]) -> DataFrame:
    """Positions declared GCJ-02 or BD-09 converted to WGS-84 (Standard 1: one datum).

    The feed's flag column is kept as delivered (it says what was received); the stored
    positions are WGS-84 whatever it says. Each inverse step is its own projection, so the
    plan stays small; the formulas are :mod:`~enforcement_brain.standards.checks`'s.
    """
    from pyspark.sql import functions as F

    from enforcement_brain.standards import checks as std

    m = std.spark_math()
    code = F.trim(F.col(flag))
    shifted = code.isin(GCJ02_CODE, BD09_CODE)
    df = typed_rows
    for k, (lon, lat) in enumerate(pairs):
        glon, glat = f"__gcj_lon{k}", f"__gcj_lat{k}"
        blon, blat = std.bd09_to_gcj02(F.col(lon), F.col(lat), m)
        is_bd = code == BD09_CODE
        df = df.withColumns(
            {
                glon: F.when(is_bd, blon).otherwise(F.col(lon)),
                glat: F.when(is_bd, blat).otherwise(F.col(lat)),
            }
        )
        wlon, wlat = glon, glat
        for step in range(std.GCJ_INVERSE_STEPS):
            nlon, nlat = std.gcj02_to_wgs84_step(
                F.col(glon), F.col(glat), F.col(wlon), F.col(wlat), m
            )
            wlon, wlat = f"__wgs_lon{k}_{step}", f"__wgs_lat{k}_{step}"
            df = df.withColumns({wlon: nlon, wlat: nlat})
        df = df.withColumns(
            {
                lon: F.when(shifted, F.round(F.col(wlon), 7)).otherwise(F.col(lon)),
                lat: F.when(shifted, F.round(F.col(wlat), 7)).otherwise(F.col(lat)),
            }
        ).drop(*[c for c in df.columns if c.startswith(("__gcj_", "__wgs_"))])
    return df


def conform(
    bronze: DataFrame, catalog: Catalog, source: Source, checks: list | None = None
) -> DataFrame:
    """Typed, canonical columns plus ``_violations`` / ``_warnings``, in one projection.

    Output: declared columns typed as declared, canonical columns, ``biz_date`` (local business
    date of the event), ``_violations`` (quarantine- and fail-level rule ids broken),
    ``_warnings`` (warn-level ids), ``_all_broken`` (all ids, for the ledger), the bronze
    metadata and the raw columns under ``_raw`` for quarantine.
    """
    from pyspark.sql import functions as F

    checks = compile_checks(catalog, source) if checks is None else checks
    blocking = [c for c in checks if c.rule.severity != "warn"]
    warning = [c for c in checks if c.rule.severity == "warn"]
    raw_struct = F.struct(*[F.col(c) for c in source.column_names])
    typed_cols = [typed(c.name, c.type).alias(c.name) for c in source.columns]
    event = typed(source.event_time, source.column(source.event_time).type)
    # Two projections, one pass: typed values first, then the checks, which read both the typed
    # values and the delivered text (``_raw``). Spark collapses them into one.
    typed_rows = bronze.select(
        *typed_cols,
        *canonical_columns(catalog, source),
        F.to_date(event).alias("biz_date"),
        raw_struct.alias("_raw"),
        *META_COLUMNS,
        "_batch_id",
        "_delivery_date",
    )
    datum = source.datum_columns()
    if datum is not None:
        typed_rows = to_wgs84(typed_rows, *datum)
    return typed_rows.select(
        *[c for c in typed_rows.columns if c != "_raw"],
        violations_column(blocking).alias("_violations"),
        violations_column(warning).alias("_warnings"),
        violations_column(checks).alias("_all_broken"),
        "_raw",
    )


#: A column is taken as retyped when at least this many values were delivered and none parses.
RETYPE_MIN_VALUES = 20


def _delivered(column: str) -> Column:
    """The delivered text of a column, blank read as missing."""
    from pyspark.sql import functions as F

    return F.expr(f"nullif(trim(_raw.`{column}`), '')")


def row_hash(columns: list[str]) -> Column:
    """Content hash of the business columns: a MERGE updates a row only when content changed."""
    from pyspark.sql import functions as F

    parts = [F.coalesce(F.col(c).cast("string"), F.lit("\u0000")) for c in columns]
    return F.sha2(F.concat_ws("\u0001", *parts), 256)


def dedupe(good: DataFrame, source: Source) -> DataFrame:
    """One row per business key; duplicates in a batch resolved deterministically.

    The latest event wins; among equal events the first delivered (file, line) wins, so the
    same delivery always keeps the same row.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = Window.partitionBy(*source.business_key).orderBy(
        F.col(source.event_time).desc_nulls_last(), "_source_file", "_source_line"
    )
    return good.withColumn("_rank", F.row_number().over(order)).where("_rank = 1").drop("_rank")


def silver_columns(conformed: DataFrame, source: Source) -> list[str]:
    skip = {"_violations", "_all_broken", "_raw", "_corrupt_record"}
    return [c for c in conformed.columns if c not in skip]


#: The event time of a record kept in its latest state: a new version of the record may carry
#: another date than the old one, so its MERGE looks for the old version in every partition.
UPDATE_TIME = "updated_at"


def bound_predicate(source: Source, dates: list[dt.date], null_date: bool, column: str) -> str:
    """The partitions of ``column`` (``biz_date``) the batch's rows belong to, as SQL; empty
    when the source's records are unbounded.

    An event (a weighing, a pass) keeps its date for good, so the existing version of a batch
    row can only sit in a partition of the batch's own dates (late rows included): Delta then
    reads and rewrites those partitions and nothing else, however long the history. A record
    kept in its latest state moves to the date of its last update, so it is looked for in every
    partition (those registers are small).
    """
    if source.event_time == UPDATE_TIME:
        return ""
    terms = []
    if dates:
        terms.append(tables.date_predicate(column, dates))
    if null_date:
        terms.append(f"{column} IS NULL")
    return f"({' OR '.join(terms) or 'false'})"


def date_bound(source: Source, dates: list[dt.date], null_date: bool) -> str:
    """The MERGE's ON clause term (:func:`bound_predicate` on the target ``t``)."""
    bound = bound_predicate(source, dates, null_date, "t.biz_date")
    return f" AND {bound}" if bound else ""


#: What :func:`classify` finds for a batch row, in ``_change``.
INSERT, UPDATE, SAME = "insert", "update", "same"


def classify(batch: DataFrame, target: DataFrame, source: Source) -> DataFrame:
    """Each batch row against the silver row of its business key, in ``_change``: ``insert``
    (no such key), ``update`` (its content changed and it is not older) or ``same``.

    Why before the write: a MERGE rewrites every file holding a matched row, even a row it
    leaves as it is, so a rerun of a day would rewrite the day's files. Classified first (one read
    of the batch's partitions), new rows are appended, changed rows alone are MERGEd, and a
    batch with nothing new writes nothing. ``target`` is silver already cut to the batch's
    partitions.
    """
    from pyspark.sql import functions as F

    ev = source.event_time
    keys = list(source.business_key)
    existing = target.select(
        *[F.col(k).alias(f"_t_{k}") for k in keys],
        F.col("_row_hash").alias("_t_hash"),
        F.col(ev).alias("_t_ev"),
    )
    on = [F.col(k) == F.col(f"_t_{k}") for k in keys]
    joined = batch.join(existing, on, "left")
    change = (
        F.when(F.col("_t_hash").isNull(), F.lit(INSERT))
        .when((F.col("_t_hash") != F.col("_row_hash")) & (F.col(ev) >= F.col("_t_ev")), UPDATE)
        .otherwise(SAME)
    )
    return joined.select(*batch.columns, change.alias("_change"))


def _prepare_table(
    spark: SparkSession, settings: Settings, catalog: Catalog, source: Source, batch: DataFrame
) -> str:
    """``silver.<source>``'s location, the table created with every constraint if new.

    The table itself refuses what the standards say must never reach silver: created with
    every constraint, then kept in line when the standards change (one metadata read when
    nothing changed).
    """
    from enforcement_brain.standards.constraints import apply_constraints, create_table_statement

    uri = settings.table_uri("silver", source.id)
    table_ref = f"delta.`{uri}`"
    if not tables.is_delta_table(settings, "silver", source.id):
        ddl = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in batch.schema.fields)
        spark.sql(create_table_statement(catalog, source, table_ref, ddl, "biz_date"))
        tables.register(spark, settings, "silver", source.id)
    apply_constraints(spark, table_ref, catalog, source)
    return uri


def _merge(
    spark: SparkSession, uri: str, source: Source, changed: DataFrame, bound: str, tag: str
) -> tuple[int, int]:
    """MERGE the changed rows into silver; returns (inserted, updated).

    ``bound`` (from :func:`date_bound`) restricts the target to the batch's partitions. The
    clauses still guard as if nothing were classified: an older version of a row never
    replaces a newer one, and a key that appeared meanwhile is updated, not doubled."""
    view = f"_batch_{source.id}"
    changed.createOrReplaceTempView(view)
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in source.business_key) + bound
    ev = source.event_time
    label = spark.conf.get(USER_METADATA, None)  # the task's, restored after the MERGE
    spark.conf.set(USER_METADATA, tag)
    try:
        result = spark.sql(
            f"""
            MERGE INTO delta.`{uri}` t USING {view} s ON {on}
            WHEN MATCHED AND t._row_hash <> s._row_hash AND s.`{ev}` >= t.`{ev}` THEN UPDATE SET *
            WHEN NOT MATCHED THEN INSERT *
            """
        ).collect()
    finally:
        if label:
            spark.conf.set(USER_METADATA, label)
        else:
            spark.conf.unset(USER_METADATA)
        spark.catalog.dropTempView(view)
    metrics = result[0].asDict() if result else {}
    return int(metrics.get("num_inserted_rows", 0)), int(metrics.get("num_updated_rows", 0))


#: The Spark setting that stamps a Delta commit's ``userMetadata`` (the MERGE's; an append
#: takes the writer option of the same name).
USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"


def commit_tag(batch: str, run_id: str) -> str:
    """What silver's commits of one batch loaded by one run carry in ``userMetadata``, after
    the task's label (:func:`labelled`)."""
    return f"batch={batch} run={run_id}"


def labelled(spark: SparkSession, tag: str) -> str:
    """``tag`` after the label the task put on its session's commits (``dag:task:day``, no
    space), so a silver commit is still counted as the task's (``breakdown``) and still
    found by its batch and run (:func:`carries_tag`)."""
    label = spark.conf.get(USER_METADATA, None)
    return " ".join(part for part in (label, tag) if part)


def carries_tag(user_metadata: str | None, tag: str) -> bool:
    """Whether a commit's ``userMetadata`` is ``tag``, alone or after a task's label."""
    text = user_metadata or ""
    return text == tag or text.endswith(" " + tag)


def unrecorded_version(settings: Settings, source: Source, batch: str, run_id: str) -> int | None:
    """The silver version just before an earlier attempt of this run at this batch, when that
    attempt committed to silver but died before ``ops.batch_log`` recorded it; else None.

    A retry (the same run id) then counts the batch against silver as it was before the
    attempt, so the batch log says what the batch did (N new) and not what the retry found
    (N unchanged); the writes are still decided against silver as it is, so nothing is written
    twice. Read from the logs with delta-rs: no Spark job.
    """
    import pyarrow.compute as pc

    if not tables.is_delta_table(settings, "silver", source.id):
        return None
    recorded = (pc.field("batch_id") == batch) & (pc.field("run_id") == run_id)
    if tables.read_rows(settings, "ops", "batch_log", recorded, ["run_id"]):
        return None
    tag = commit_tag(batch, run_id)
    history = tables.open_delta(settings, "silver", source.id).history()
    tagged = [int(h["version"]) for h in history if carries_tag(h.get("userMetadata"), tag)]
    return min(tagged) - 1 if tagged else None


def _counts(classified: DataFrame) -> tuple[int, int, int]:
    """(rows, inserts, updates) of a classified batch, in one aggregate."""
    from pyspark.sql import functions as F

    counts = classified.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum((F.col("_change") == INSERT).cast("int")).alias("inserts"),
        F.sum((F.col("_change") == UPDATE).cast("int")).alias("updates"),
    ).first()
    rows, inserts, updates = (int(counts[k] or 0) for k in ("rows", "inserts", "updates"))
    return rows, inserts, updates


def write_silver(
    spark: SparkSession,
    settings: Settings,
    catalog: Catalog,
    source: Source,
    batch: DataFrame,
    dates: list[dt.date],
    null_date: bool,
    tag: str = "",
    counted_as_of: int | None = None,
) -> tuple[int, int, int]:
    """Write a deduplicated batch into ``silver.<source>``; returns (rows, inserted, updated).

    One aggregate over the classified batch gives every count; new rows are one append, changed
    rows one MERGE, and each is skipped when it has nothing to write, so a rerun commits nothing.
    An append and a MERGE are two commits: a crash between them leaves the appended rows, which
    a retry finds ``same`` and does not write again. Both commits carry ``tag`` in their
    ``userMetadata``; ``counted_as_of`` (see :func:`unrecorded_version`) counts the batch
    against that older version of silver instead of the current one.
    """
    from pyspark.sql import functions as F

    uri = _prepare_table(spark, settings, catalog, source, batch)
    tag = labelled(spark, tag)
    bound = bound_predicate(source, dates, null_date, "biz_date")
    target = spark.read.format("delta").load(uri)
    classified = classify(batch, target.where(bound) if bound else target, source).cache()
    try:
        rows, inserts, updates = _counts(classified)
        if counted_as_of is not None:
            before = spark.read.format("delta").option("versionAsOf", counted_as_of).load(uri)
            _, counted_inserts, counted_updates = _counts(
                classify(batch, before.where(bound) if bound else before, source)
            )
        if inserts:
            # One file per date partition, as a MERGE writes them (not one per shuffle slice).
            new = classified.where(F.col("_change") == INSERT).drop("_change")
            writer = new.repartition("biz_date").write.format("delta").mode("append")
            writer.option("userMetadata", tag).save(uri)
        inserted, updated = 0, 0
        if updates:
            changed = classified.where(F.col("_change") == UPDATE).drop("_change")
            inserted, updated = _merge(
                spark, uri, source, changed, date_bound(source, dates, null_date), tag
            )
        if counted_as_of is not None:
            return rows, counted_inserts, counted_updates
        return rows, inserts + inserted, updated
    finally:
        classified.unpersist()


def load_batch(
    spark: SparkSession,
    settings: Settings,
    catalog: Catalog,
    source: Source,
    day: dt.date,
    run_id: str,
    bronze: DataFrame | None = None,
) -> tuple[BatchReport, list[dict[str, Any]]]:
    """Conform one delivered day of a source from bronze into silver and quarantine.

    Returns the batch's report and its ``ops.dq_ledger`` rows (one per rule) for the caller to
    record with :func:`enforcement_brain.ops.ledger.record_batch` once the load has committed.

    ``bronze`` replaces the day's bronze rows as input: the quarantine replay passes the
    quarantined rows (corrected or not) to go through the same checks again.
    """
    from pyspark.sql import functions as F

    if bronze is None:
        bronze = spark.read.format("delta").load(settings.table_uri("bronze", source.id))
        bronze = bronze.where(F.col("_delivery_date") == F.lit(day))
    checks = compile_checks(catalog, source)
    conformed = conform(bronze, catalog, source, checks).cache()
    try:
        # One aggregate for the whole ledger: rows in, quarantined, warned, each rule's failures.
        rule_ids = list(dict.fromkeys(c.rule.id for c in checks))
        typed_columns = [c.name for c in source.columns if c.type != "string"]
        agg = conformed.agg(
            F.count(F.lit(1)).alias("rows_in"),
            F.sum(F.when(F.size("_violations") > 0, 1).otherwise(0)).alias("quarantined"),
            F.sum(
                F.when((F.size("_violations") == 0) & (F.size("_warnings") > 0), 1).otherwise(0)
            ).alias("warned"),
            # The dates silver's rows will carry: what the write may read of silver.
            F.collect_set(F.when(F.size("_violations") == 0, F.col("biz_date"))).alias("_dates"),
            F.max((F.size("_violations") == 0) & F.col("biz_date").isNull()).alias("_no_date"),
            *rule_counts(rule_ids),
            # Per typed column: delivered values, and how many do not parse (retype check).
            *[F.count(_delivered(c)).alias(f"_n{i}") for i, c in enumerate(typed_columns)],
            *[
                F.count(F.when(_delivered(c).isNotNull() & F.col(c).isNull(), 1)).alias(f"_p{i}")
                for i, c in enumerate(typed_columns)
            ],
        ).first()
        rows_in = int(agg["rows_in"])
        retyped = [
            f"{c} ({agg[f'_n{i}']} value(s), none parses)"
            for i, c in enumerate(typed_columns)
            if agg[f"_n{i}"] >= RETYPE_MIN_VALUES and agg[f"_p{i}"] == agg[f"_n{i}"]
        ]
        if retyped:
            raise SchemaDriftError(
                SchemaDriftError.RETYPED,
                f"{source.id} {day}: column(s) {', '.join(retyped)} no longer carry the "
                "declared type; nothing written to silver or quarantine, the delivery stays "
                "in landing",
            )
        failing = sorted(
            {c.rule.id for c in checks if c.rule.severity == "fail" and agg[c.rule.id]}
        )
        if failing:
            raise DeliveryError(
                f"{source.id} {day}: fail-level rule(s) {', '.join(failing)} broken; "
                "nothing was written and the delivery stays in landing"
            )
        quarantined = int(agg["quarantined"] or 0)

        bad = conformed.where(F.size("_violations") > 0).select(
            "_raw.*",
            "_violations",
            "_warnings",
            F.lit(catalog.standard_version).alias("_standard_version"),
            *META_COLUMNS,
            "_batch_id",
            F.lit(run_id).alias("_run_id"),
            "_delivery_date",
        )
        # A clean day on a table that holds nothing of that day has nothing to replace; the
        # table is still created by the first load, so analysts find it by name.
        if quarantined or not tables.partition_is_empty(
            settings, "quarantine", source.id, "_delivery_date", day.isoformat()
        ):
            tables.replace_where(
                bad,
                settings,
                "quarantine",
                source.id,
                f"_delivery_date = '{day.isoformat()}'",
                partition_by=["_delivery_date"],
            )

        good = conformed.where(F.size("_violations") == 0)
        keep = silver_columns(conformed, source)
        business = [c for c in keep if not c.startswith("_")]
        deduped = dedupe(good.select(*keep), source)
        batch = deduped.select(
            *keep, row_hash(business).alias("_row_hash"), F.current_timestamp().alias("_loaded_at")
        )
        this_batch = batch_id(source.id, day)
        with tables.disk_full_reported(settings, "silver", source.id):
            unique_rows, inserted, updated = write_silver(
                spark,
                settings,
                catalog,
                source,
                batch,
                sorted(agg["_dates"]),
                bool(agg["_no_date"]),
                commit_tag(this_batch, run_id),
                unrecorded_version(settings, source, this_batch, run_id),
            )
        good_rows = rows_in - quarantined
        report = BatchReport(
            source=source.id,
            delivery_date=day.isoformat(),
            batch_id=this_batch,
            rows_in=rows_in,
            inserted=inserted,
            updated=updated,
            unchanged=unique_rows - inserted - updated,
            duplicates_dropped=good_rows - unique_rows,
            quarantined=quarantined,
            warned=int(agg["warned"] or 0),
        )
        ledger = [
            {
                "source": source.id,
                "delivery_date": day,
                "batch_id": report.batch_id,
                "rule_id": c.rule.id,
                "rule_title": c.rule.title,
                "severity": c.rule.severity,
                "action": {"warn": "flagged", "quarantine": "quarantined", "fail": "load failed"}[
                    c.rule.severity
                ],
                "checked": rows_in,
                "failed": int(agg[c.rule.id] or 0),
                "standard_version": catalog.standard_version,
                "run_id": run_id,
            }
            for c in {c.rule.id: c for c in checks}.values()
        ]
        return report, ledger
    finally:
        conformed.unpersist()
