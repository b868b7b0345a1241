"""Job: compact, VACUUM and check every lake table (the daily ``maintain_tables`` DAG).

``--tables`` is ``all`` or a comma-separated list of ``layer.table`` names. Each table gives one
row of ``ops.maintenance_log``; the readable summary goes to the task log. A table that fails is
recorded and the others are still maintained; the task then fails so that Airflow alerts.
"""

from __future__ import annotations

import datetime as dt
import logging

from enforcement_brain.errors import EbError
from enforcement_brain.lake import maintenance
from enforcement_brain.orchestration.runtime import JobContext, job_main

log = logging.getLogger(__name__)


def run(ctx: JobContext, subject: str, day: dt.date, run_id: str) -> dict[str, object]:
    names = [s.strip() for s in subject.split(",") if s.strip()]
    only = None if names in ([], ["all"]) else names
    reports = maintenance.maintain_lake(ctx.spark, ctx.settings, ctx.catalog, run_id, only)
    maintenance.record(ctx.spark, ctx.settings, reports)
    text = maintenance.summary(reports)
    log.info("table maintenance, run %s:\n%s", run_id, text)
    failed = [r.table_name for r in reports if r.error]
    if failed:
        raise EbError(
            f"maintenance failed for {len(failed)} table(s): {', '.join(failed[:5])} "
            "(see ops.maintenance_log and the task log)"
        )
    return {
        "tables": len(reports),
        "compacted": sum(1 for r in reports if "optimize" in r.action),
        "files_vacuumed": sum(r.files_removed or 0 for r in reports),
    }


def main() -> None:
    job_main(__doc__ or "", "tables", run)


if __name__ == "__main__":
    main()
