"""Job: one source's delivery for one day, landing → bronze (replaces that day's slice).

Landing comes first: object sources are fetched into landing, every file delivery is checksummed
into its manifest and ``ops.landing_log``, and a landed file altered since fails the job before
bronze is touched. A relational source's pull (its day window and the late rows of earlier
windows) is recorded in ``ops.db_pulls`` once bronze holds it.
"""

from __future__ import annotations

import datetime as dt

from enforcement_brain.lake import tables
from enforcement_brain.orchestration.runtime import JobContext, job_main
from enforcement_brain.pipeline import bronze, front_db, landing


def run(
    ctx: JobContext, source_id: str, day: dt.date, run_id: str, *, count: bool = True
) -> dict[str, object]:
    """Replace the day's slice of ``bronze.<source>``; ``count=False`` skips reading it back
    (the silver step counts the same rows anyway)."""
    source = ctx.catalog.sources[source_id]
    landed = landing.land(ctx.settings, source, day, run_id)
    if landed is not None:
        landing.record(ctx.spark, ctx.settings, landed)
    df, read, pulled = bronze.read_delivery(ctx.spark, ctx.settings, source, day)
    stamped = bronze.with_batch(df, source, day, run_id)
    with bronze.whole_files(ctx.spark):  # line numbers are exact only inside this block
        tables.replace_where(
            stamped,
            ctx.settings,
            "bronze",
            source.id,
            f"_delivery_date = '{day.isoformat()}'",
            partition_by=["_delivery_date"],
        )
    if pulled is not None:  # after the commit: the record never names rows bronze lacks
        front_db.record(ctx.spark, ctx.settings, pulled, run_id)
    result: dict[str, object] = {
        "source": source.id,
        "delivery_date": day.isoformat(),
        "files": len(read),
        "files_landed": len(landed.changed) if landed is not None else 0,
        "late_rows": pulled.late_rows if pulled is not None else 0,
    }
    if not count:
        return result
    from pyspark.sql import functions as F

    bronze_rows = ctx.spark.read.format("delta").load(ctx.settings.table_uri("bronze", source.id))
    rows = bronze_rows.where(F.col("_delivery_date") == F.lit(day)).count()
    return {**result, "rows": rows}


def main() -> None:
    job_main(__doc__ or "", "source", run)


if __name__ == "__main__":
    main()
