"""Job: one source's delivery for one day, landing → bronze (replaces that day's slice)."""

from __future__ import annotations

import datetime as dt

from enforcement_brain.lake import tables
from enforcement_brain.orchestration.runtime import JobContext, job_main
from enforcement_brain.pipeline import bronze


def run(ctx: JobContext, source_id: str, day: dt.date, run_id: str) -> dict[str, object]:
    source = ctx.catalog.sources[source_id]
    df, read = bronze.read_delivery(ctx.spark, ctx.settings, source, day)
    stamped = bronze.with_batch(df, source, day, run_id)
    tables.replace_where(
        stamped,
        ctx.settings,
        "bronze",
        source.id,
        f"_delivery_date = '{day.isoformat()}'",
        partition_by=["_delivery_date"],
    )
    from pyspark.sql import functions as F

    bronze_rows = ctx.spark.read.format("delta").load(ctx.settings.table_uri("bronze", source.id))
    rows = bronze_rows.where(F.col("_delivery_date") == F.lit(day)).count()
    return {"source": source.id, "delivery_date": day.isoformat(), "files": len(read), "rows": rows}


def main() -> None:
    job_main(__doc__ or "", "source", run)


if __name__ == "__main__":
    main()
