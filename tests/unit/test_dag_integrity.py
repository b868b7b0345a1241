"""DAG integrity: every DAG file imports fast, with no DB or network at parse time, and every
DAG has its tags, owner, retries and catchup set on purpose."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from enforcement_brain.settings import REPO_ROOT

DAG_FILES = sorted((REPO_ROOT / "dags").glob("*.py"))


@pytest.fixture(scope="module", autouse=True)
def airflow_home(tmp_path_factory):
    """Airflow's settings for this module only: restored after it, so no later test (one that
    starts ``eb run`` with ``os.environ``) inherits this AIRFLOW_HOME."""
    home = tmp_path_factory.mktemp("airflow")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_HOME", str(home))
        mp.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        mp.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(REPO_ROOT / "dags"))
        import airflow.sdk  # noqa: F401 - Airflow's own import cost is not the DAG file's

        yield


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"dagfile_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_are_dag_files():
    assert {p.name for p in DAG_FILES} >= {
        "ingest_sources.py",
        "publish_datasets.py",
        "share_interfaces.py",
        "validate_silver.py",
        "maintain_tables.py",
    }


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_imports_fast_without_db_or_network(path, monkeypatch):
    """Parse time must not touch the metadata DB, a connection or the network."""

    def no_network(*args, **kwargs):
        raise AssertionError(f"{path.name} opened a network connection at parse time")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    import sqlalchemy

    def no_db(*args, **kwargs):
        raise AssertionError(f"{path.name} created a DB engine at parse time")

    monkeypatch.setattr(sqlalchemy, "create_engine", no_db)
    started = time.perf_counter()
    _load(path)
    seconds = time.perf_counter() - started
    # ~0.3 s for 28 source DAGs on an idle 2-core VM; the margin absorbs a loaded shared machine
    # (Airflow's own parse timeout is 30 s). What must never happen at parse time - a DB engine,
    # the network, pyspark - is asserted exactly.
    assert seconds < 1.0, f"{path.name} took {seconds:.2f} s to import"


def test_dag_files_do_not_import_pyspark():
    """A fresh interpreter parses every DAG file without loading pyspark (heavy, JVM)."""
    code = (
        "import importlib.util, sys\n"
        f"for p in {[str(p) for p in DAG_FILES]!r}:\n"
        "    s = importlib.util.spec_from_file_location('m', p)\n"
        "    m = importlib.util.module_from_spec(s); s.loader.exec_module(m)\n"
        "print('pyspark' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_dagbag_has_one_dag_per_declaration_with_required_settings():
    from airflow.dag_processing.dagbag import DagBag

    from enforcement_brain.declarations import load_catalog

    catalog = load_catalog(REPO_ROOT / "data_standards")
    bag = DagBag(str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    expected = (
        {f"ingest_{s}" for s in catalog.sources}
        | {f"publish_{d}" for d in catalog.datasets}
        | {f"share_{i}" for i in catalog.interface_families()}
        | {"validate_silver", "maintain_tables"}
    )
    assert set(bag.dags) == expected
    for dag in bag.dags.values():
        assert dag.tags, dag.dag_id
        assert dag.catchup is False, dag.dag_id
        assert dag.max_active_runs == 1, dag.dag_id
        assert dag.doc_md, dag.dag_id
        for t in dag.tasks:
            assert t.owner == "data-engineering", (dag.dag_id, t.task_id)
            assert t.retries == 1, (dag.dag_id, t.task_id)


def test_asset_wiring_follows_declarations():
    from airflow.dag_processing.dagbag import DagBag

    from enforcement_brain.declarations import load_catalog

    bag = DagBag(str(REPO_ROOT / "dags"))
    silver = bag.dags["ingest_wim_weighings"].get_task("load")
    assert [a.name for a in silver.outlets] == ["silver.wim_weighings"]
    publish = bag.dags["publish_overload_alerts"]
    assert "silver.wim_weighings" in str(publish.timetable.asset_condition)
    validate = str(bag.dags["validate_silver"].timetable.asset_condition)
    assert all(
        f"silver.{s}" in validate for s in load_catalog(REPO_ROOT / "data_standards").sources
    )
    share = bag.dags["share_provincial_supervision"]
    assert "gold.overload_alerts" in str(share.timetable.asset_condition)
    shares = sorted(d for d in bag.dags if d.startswith("share_"))
    assert len(shares) == 13  # the report's 13 interfaces (开放使用接口13个)
    cities = str(bag.dags["share_neighbour_cities"].timetable.asset_condition)
    assert "gold.regional_emergency_warnings" in cities
    assert "gold.violation_transfers_by_destination" in cities


def test_maintenance_dag_is_daily_and_not_part_of_the_main_job(monkeypatch):
    """Daily at 04:00 local after the loads; no cron under EB_CRON=off; never in dag_order."""
    from airflow.dag_processing.dagbag import DagBag

    from enforcement_brain.declarations import load_catalog
    from enforcement_brain.orchestration.daily import dag_order

    bag = DagBag(str(REPO_ROOT / "dags"))
    dag = bag.dags["maintain_tables"]
    assert "0 4 * * *" in str(dag.timetable.summary)
    assert [t.task_id for t in dag.tasks] == ["maintain"]
    assert "maintain_tables" not in dag_order(load_catalog(REPO_ROOT / "data_standards"))
    monkeypatch.setenv("EB_CRON", "off")
    triggered_only = DagBag(str(REPO_ROOT / "dags" / "maintain_tables.py")).dags["maintain_tables"]
    assert type(triggered_only.timetable).__name__ == "NullTimetable"
