"""Job: publish one shared dataset (gold) for the business dates a day's deliveries touched."""

from __future__ import annotations

import dataclasses
import datetime as dt

from enforcement_brain.gold.publish import publish
from enforcement_brain.orchestration.runtime import JobContext, job_main


def run(ctx: JobContext, dataset_id: str, day: dt.date, run_id: str) -> dict[str, object]:
    dataset = ctx.catalog.datasets[dataset_id]
    return dataclasses.asdict(publish(ctx.spark, ctx.settings, ctx.catalog, dataset, day, run_id))


def main() -> None:
    job_main(__doc__ or "", "dataset", run)


if __name__ == "__main__":
    main()
