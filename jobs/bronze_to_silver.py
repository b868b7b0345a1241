"""Job: conform one source's day from bronze into silver and quarantine, and record the ledger.

Silver computes the batch's report and its ledger rows and writes only silver and quarantine;
this job appends the report and the rows to ``ops.batch_log`` and ``ops.dq_ledger`` after the
load has committed.
"""

from __future__ import annotations

import datetime as dt

from enforcement_brain.ops.ledger import record_batch
from enforcement_brain.orchestration.runtime import JobContext, job_main
from enforcement_brain.pipeline.silver import load_batch


def run(ctx: JobContext, source_id: str, day: dt.date, run_id: str) -> dict[str, object]:
    source = ctx.catalog.sources[source_id]
    report, ledger = load_batch(ctx.spark, ctx.settings, ctx.catalog, source, day, run_id)
    record_batch(ctx.spark, ctx.settings, report, ledger, run_id)
    return report.as_dict()


def main() -> None:
    job_main(__doc__ or "", "source", run)


if __name__ == "__main__":
    main()
