"""Job: refresh one interface's share tables (projected, filtered, masked) for a day; for an
interface file with recipients, one table per dataset with every recipient's partition."""

from __future__ import annotations

import dataclasses
import datetime as dt

from enforcement_brain.orchestration.runtime import JobContext, job_main
from enforcement_brain.share.project import project_family


def run(ctx: JobContext, interface_id: str, day: dt.date, run_id: str) -> dict[str, object]:
    members = ctx.catalog.interface_families()[interface_id]
    reports = project_family(ctx.spark, ctx.settings, ctx.catalog, members, day)
    return {"interface": interface_id, "tables": [dataclasses.asdict(r) for r in reports]}


def main() -> None:
    job_main(__doc__ or "", "interface", run)


if __name__ == "__main__":
    main()
