"""
### Publish: one DAG per shared dataset (`publish_<dataset>`)

Generated from `data_standards/datasets/*.yaml`. Scheduled on the Assets of the silver tables
the dataset is built from: it runs when they change, for the delivery day they carry.
The dataset's quality gate runs before the write; a failing gate leaves the last good version
published. `gold.<dataset>` is itself an Asset for the interfaces that share it.
"""

from __future__ import annotations

from airflow.sdk import DAG, task

from enforcement_brain.declarations import load_catalog
from enforcement_brain.orchestration.assets import table_asset
from enforcement_brain.orchestration.defaults import CATCHUP, START_DATE, default_args
from enforcement_brain.settings import load_settings

for dataset in load_catalog(load_settings().standards_dir).datasets.values():
    with DAG(
        dag_id=f"publish_{dataset.id}",
        description=f"{dataset.title} ({dataset.title_zh}): silver → gold",
        doc_md=__doc__,
        schedule=[table_asset("silver", s) for s in dataset.sources],
        start_date=START_DATE,
        catchup=CATCHUP,
        default_args=default_args("publish"),
        max_active_runs=1,
        tags=["publish", f"classification:{dataset.classification}", dataset.id],
    ):

        @task(task_id="publish", outlets=[table_asset("gold", dataset.id)])
        def publish(dataset_id: str = dataset.id, **context) -> dict:
            from enforcement_brain.orchestration.tasks import run_job

            return run_job("publish_dataset", dataset_id, context)

        publish()
