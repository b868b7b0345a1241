"""Job: validate the day's silver increments with the GX suites, store results, build Data Docs.

``--sources`` is a comma-separated list of source ids, or ``all`` for every declared source that
has a silver table. Failed expectations are reported, not raised: the pipeline already acted on
each rule when it loaded the rows (quarantine, warn or stop), and this is the independent record.
"""

from __future__ import annotations

import datetime as dt

from enforcement_brain.orchestration.runtime import JobContext, job_main
from enforcement_brain.pipeline.gx_validation import data_docs_path, validate_increments


def run(ctx: JobContext, subject: str, day: dt.date, run_id: str) -> dict[str, object]:
    names = [s.strip() for s in subject.split(",") if s.strip()]
    sources = None if names in ([], ["all"]) else names
    summary = validate_increments(ctx.spark, ctx.settings, ctx.catalog, day, run_id, sources)
    return {
        "day": day.isoformat(),
        "sources": len(summary),
        "validated": [str(s["source"]) for s in summary],
        "failed_expectations": sum(int(s["failed_expectations"]) for s in summary),
        "data_docs": data_docs_path(ctx.settings),
    }


def main() -> None:
    job_main(__doc__ or "", "sources", run)


if __name__ == "__main__":
    main()
