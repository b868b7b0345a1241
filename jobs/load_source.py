"""Job: one source's delivery for one day, landing → bronze → silver + quarantine + ledger.

One Airflow task runs both steps in one process: a task process costs seconds of imports and a
Spark Connect session on two cores, more than many sources' data. Each step stays separately
runnable (``jobs.land_to_bronze``, ``jobs.bronze_to_silver``) and idempotent, so a retry of
the task redoes both without doubling anything.
"""

from __future__ import annotations

import datetime as dt
import time

from enforcement_brain.orchestration.runtime import JobContext, job_main
from jobs import bronze_to_silver, land_to_bronze


def run(ctx: JobContext, source_id: str, day: dt.date, run_id: str) -> dict[str, object]:
    started = time.monotonic()
    landed = land_to_bronze.run(ctx, source_id, day, run_id, count=False)
    middle = time.monotonic()
    loaded = bronze_to_silver.run(ctx, source_id, day, run_id)
    return {
        **loaded,
        "files": landed["files"],
        "late_rows": landed["late_rows"],
        "bronze_seconds": round(middle - started, 2),
        "silver_seconds": round(time.monotonic() - middle, 2),
    }


def main() -> None:
    job_main(__doc__ or "", "source", run)


if __name__ == "__main__":
    main()
