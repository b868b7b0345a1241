"""
### Share: one DAG per governed interface (`share_<interface>`)

Generated from `data_standards/interfaces/*.yaml`, one DAG per file (a file with `recipients:`
projects each recipient's interface). Scheduled on the Assets of the gold datasets the
interface exposes; writes `share.<interface>__<dataset>`: only the allowed columns and rows,
masked values already masked, so the interface service can never hand out a file holding
something the partner may not see.
"""

from __future__ import annotations

from airflow.sdk import DAG, task

from enforcement_brain.declarations import load_catalog
from enforcement_brain.orchestration.assets import table_asset
from enforcement_brain.orchestration.defaults import CATCHUP, START_DATE, default_args
from enforcement_brain.settings import load_settings

for family, members in load_catalog(load_settings().standards_dir).interface_families().items():
    interface = members[0]  # recipients of one file share its title, datasets and consumer kind
    with DAG(
        dag_id=f"share_{family}",
        description=f"{interface.title} ({interface.title_zh}): gold → share",
        doc_md=__doc__,
        schedule=[table_asset("gold", d.dataset) for d in interface.datasets],
        start_date=START_DATE,
        catchup=CATCHUP,
        default_args=default_args("publish"),
        max_active_runs=1,
        tags=["share", family],
    ):

        @task(task_id="project")
        def project(interface_id: str = family, **context) -> dict:
            from enforcement_brain.orchestration.tasks import run_job

            return run_job("project_interface", interface_id, context)

        project()
