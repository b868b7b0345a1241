"""The cluster profile's Airflow side, for real: PostgreSQL, Redis, the API server, scheduler
and DAG processor on the CeleryExecutor, and two Celery workers on different queues.

A probe DAG (no Spark) runs one task on each worker's queue; then a task on the queue both
workers share loses its worker to a SIGKILL mid-run and must be retried, and succeed, on the
other. The governance store is exercised through the sharing module's own functions. Nothing
may be left running afterwards.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import free_port, make_settings, reachable_root

from enforcement_brain.cluster import airflow_side
from enforcement_brain.errors import SetupError
from enforcement_brain.orchestration.stack import AirflowStack
from enforcement_brain.settings import Settings
from enforcement_brain.spark.server import port_open, session_pids

pytestmark = pytest.mark.cluster

PROBE_DAG = '''
"""Probe DAGs of the cluster test: which worker runs what, and a task that outlives its worker."""
import datetime as dt
import os
import time
from pathlib import Path

import pendulum
from airflow.sdk import DAG, task

MARKS = Path(os.environ["EB_PROBE_DIR"])
START = pendulum.datetime(2026, 1, 1, tz="UTC")

with DAG("cluster_probe", schedule=None, start_date=START, catchup=False):

    @task(queue="qa")
    def on_qa():
        return {"worker": os.environ.get("EB_CELERY_WORKER"), "pid": os.getpid()}

    @task(queue="qb")
    def on_qb():
        return {"worker": os.environ.get("EB_CELERY_WORKER"), "pid": os.getpid()}

    on_qa()
    on_qb()

with DAG("cluster_kill", schedule=None, start_date=START, catchup=False):

    @task(queue="shared", retries=2, retry_delay=dt.timedelta(seconds=1))
    def outlives_its_worker(**context):
        attempt = context["ti"].try_number
        worker = os.environ.get("EB_CELERY_WORKER")
        (MARKS / f"attempt-{attempt}").write_text(worker)
        if attempt == 1:
            time.sleep(300)  # the test kills this worker meanwhile
        return {"worker": worker, "attempt": attempt}

    outlives_its_worker()
'''


@dataclass
class Cluster:
    settings: Settings
    stack: AirflowStack
    marks: Path


def _sessions_alive(sessions: set[int]) -> list[str]:
    """Processes still running in the sessions the test's components started."""
    return [
        f"{pid}: {Path(f'/proc/{pid}/cmdline').read_bytes()[:120]!r}"
        for sid in sessions
        for pid in session_pids(sid)
    ]


def _wait_run(stack: AirflowStack, dag_id: str, run_id: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = stack.api("GET", f"dags/{dag_id}/dagRuns/{run_id}")["state"]
        if state in ("success", "failed"):
            return state
        time.sleep(1.0)
    raise AssertionError(f"{dag_id} {run_id} did not finish in {timeout:.0f} s")


def _instances(stack: AirflowStack, dag_id: str, run_id: str) -> dict[str, dict]:
    found = stack.api("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances")
    return {ti["task_id"]: ti for ti in found["task_instances"]}


def test_a_component_that_does_not_come_up_stops_those_started_before_it():
    root = reachable_root("eb-cluster-airflow-")
    try:
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            redis_port = busy.getsockname()[1]
            settings = make_settings(
                root / "var",
                EB_CLUSTER_PG_PORT=str(free_port()),
                EB_CLUSTER_REDIS_PORT=str(redis_port),
            )
            message = (
                f"port {redis_port} is taken by another process: stop it or set "
                "EB_CLUSTER_REDIS_PORT"
            )
            with pytest.raises(SetupError, match=f"^{re.escape(message)}$"):
                airflow_side.start_all(settings)
        pg = airflow_side.postgres(settings)
        assert (root / "var" / "cluster" / "pg" / "data" / "PG_VERSION").exists()  # it had started
        assert not pg.status().running and not pg.daemon.pid_file.exists()
        assert not port_open(settings.cluster_pg_port)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    root = reachable_root("eb-cluster-airflow-")
    home, marks = root / "home", root / "marks"
    (home / "dags").mkdir(parents=True)
    marks.mkdir()
    (home / "dags" / "cluster_probe.py").write_text(textwrap.dedent(PROBE_DAG))
    log_port = free_port()
    settings = make_settings(
        root / "var",
        EB_HOME=str(home),
        EB_AIRFLOW_EXECUTOR="CeleryExecutor",
        EB_CELERY_WORKER_QUEUES="qa,shared;qb,shared",
        EB_CLUSTER_PG_PORT=str(free_port()),
        EB_CLUSTER_REDIS_PORT=str(free_port()),
        EB_CLUSTER_WORKER_LOG_PORT=str(log_port),
        EB_AIRFLOW_PORT=str(free_port()),
        EB_AIRFLOW_PARALLELISM="2",
    )
    stack = AirflowStack(settings, "")
    sessions: set[int] = set()
    with pytest.MonkeyPatch.context() as mp:
        # What a run on the cluster exports, as `eb cluster start` prints it.
        for key, value in airflow_side.client_env(settings).items():
            mp.setenv(key, value)
        mp.setenv("EB_PROBE_DIR", str(marks))
        # A task whose worker died is failed after 10 s without a heartbeat (default 300 s).
        mp.setenv("AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT", "10")
        mp.setenv("AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL", "2")
        mp.setenv("AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL", "5")
        try:
            for status in airflow_side.start_all(settings):
                sessions.add(status.pid)
            stack.start()
            sessions.update(p.pid for p in stack.procs.values())
            yield Cluster(settings, stack, marks)
        finally:
            stack.stop()
            stopped = airflow_side.stop_all(settings)
            left = _sessions_alive(sessions)
            shutil.rmtree(root, ignore_errors=True)
    assert stopped[-2:] == ["redis", "postgresql"]
    assert left == []


def test_each_task_runs_on_the_worker_of_its_queue(cluster: Cluster):
    stack = cluster.stack
    stack.wait_parsed(["cluster_probe", "cluster_kill"])
    stack.unpause("cluster_probe")
    stack.trigger("cluster_probe", "probe-1", {})
    assert _wait_run(stack, "cluster_probe", "probe-1", 120) == "success"
    instances = _instances(stack, "cluster_probe", "probe-1")
    assert {t: ti["queue"] for t, ti in instances.items()} == {"on_qa": "qa", "on_qb": "qb"}
    results = {t: stack.task_result("cluster_probe", "probe-1", t) for t in instances}
    assert results["on_qa"]["worker"] == "celery-qa"
    assert results["on_qb"]["worker"] == "celery-qb"
    assert results["on_qa"]["pid"] != results["on_qb"]["pid"]
    # Each worker's own log shows it took the task of its queue and only that one.
    workers = {c.name: c for c in airflow_side.workers(cluster.settings)}
    qa_log = workers["celery-qa"].daemon.log.read_text(errors="replace")
    qb_log = workers["celery-qb"].daemon.log.read_text(errors="replace")
    assert "on_qa" in qa_log and "on_qa" not in qb_log
    assert "on_qb" in qb_log and "on_qb" not in qa_log


def test_a_task_whose_worker_is_killed_is_retried_on_the_other(cluster: Cluster):
    stack = cluster.stack
    stack.wait_parsed(["cluster_kill"])
    stack.unpause("cluster_kill")
    stack.trigger("cluster_kill", "kill-1", {})
    first = cluster.marks / "attempt-1"
    deadline = time.monotonic() + 120
    while not first.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert first.exists(), "the task never started"
    victim = first.read_text()
    workers = {c.name: c for c in airflow_side.workers(cluster.settings)}
    assert set(workers) == {"celery-qa", "celery-qb"}
    pid = workers[victim].status().pid
    assert pid is not None
    for member in [pid, *session_pids(pid)]:  # the worker, its pool and the task it runs
        os.kill(member, signal.SIGKILL)  # as a lost host: nothing of the worker stops in order
    assert _wait_run(stack, "cluster_kill", "kill-1", 150) == "success"
    survivor = ({"celery-qa", "celery-qb"} - {victim}).pop()
    result = stack.task_result("cluster_kill", "kill-1", "outlives_its_worker")
    assert result == {"worker": survivor, "attempt": 2}
    ti = _instances(stack, "cluster_kill", "kill-1")["outlives_its_worker"]
    assert (ti["state"], ti["try_number"], ti["queue"]) == ("success", 2, "shared")
    assert not workers[victim].status().running
    assert workers[survivor].status().running


def test_the_governance_store_works_on_postgresql(cluster: Cluster):
    from sqlalchemy import func, select

    from enforcement_brain.sharing import credentials, db
    from enforcement_brain.sharing.audit import AuditRecord, GroupWriter, rows_served_since

    url = os.environ["EB_GOVERNANCE_DB_URL"]
    assert url == airflow_side.governance_url(cluster.settings)
    engine = db.connect(url, create=True)
    assert engine.dialect.name == "postgresql"
    issued = credentials.issue(engine, "police_traffic", 30, note="cluster test")
    info = credentials.authenticate(engine, f"Bearer {issued.token}")
    assert (info.interface_id, info.token_id) == ("police_traffic", issued.info.token_id)
    with pytest.raises(credentials.AuthError, match="unknown bearer token"):
        credentials.authenticate(engine, "Bearer ebs_not-a-token")
    since = credentials.now()
    record = AuditRecord(
        method="GET",
        path="/delta-sharing/shares",
        client="127.0.0.1",
        endpoint="list_shares",
        interface_id=info.interface_id,
        token_id=info.token_id,
        status=200,
        rows_served=42,
        files_served=1,
        duration_ms=3,
    )
    asyncio.run(GroupWriter(engine).write(record))
    audit = db.tables()["audit"]
    with engine.connect() as conn:
        rows = conn.execute(
            select(func.count()).where(audit.c.token_id == info.token_id)
        ).scalar_one()
    assert rows == 1
    assert rows_served_since(engine, "police_traffic", since) == 42
    # A second connect finds the store and creates nothing (the console's read-only path).
    assert db.connect(url, create=False).dialect.name == "postgresql"
    engine.dispose()
