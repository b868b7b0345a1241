"""The cluster profile's storage and Spark, started for real: versitygw, a Spark standalone
master with two workers, and the Spark Connect server submitting to it.

A partitioned Delta table at ``s3a://`` is written, appended to and MERGEd through the Connect
server with the lake's own functions, its tasks run by the workers' executors; delta-rs reads
it back from the store; two writers through the one Connect server lose no commit; and
``stop`` leaves no process behind.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port, free_ports, make_settings

from enforcement_brain.cluster import profile, spark_side
from enforcement_brain.lake import tables
from enforcement_brain.lake.s3 import S3Location, storage_options
from enforcement_brain.settings import Settings
from enforcement_brain.spark.server import pid_alive, port_open

pytestmark = pytest.mark.cluster

D1, D2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)
SCHEMA = "plate string, biz_date date, kg int"


class Cluster:
    def __init__(self, settings: Settings, run: Settings) -> None:
        self.settings, self.run = settings, run
        self.sessions: list[Any] = []

    def session(self) -> Any:
        """A Spark Connect session of its own (a client, as an Airflow task is)."""
        from pyspark.sql import SparkSession

        session = SparkSession.builder.remote(self.run.spark_remote).create()
        self.sessions.append(session)
        return session

    def delta(self, table: str) -> Any:
        from deltalake import DeltaTable

        uri = S3Location.parse(self.run.table_uri("silver", table)).uri
        return DeltaTable(uri, storage_options=storage_options(self.run))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    var = tmp_path_factory.mktemp("cluster")
    settings = make_settings(
        var,
        EB_CLUSTER_S3_PORT=str(free_port()),
        EB_CLUSTER_MASTER_PORT=str(free_ports(3)),  # the master, then its two workers
        EB_SPARK_CONNECT_PORT=str(free_port()),
        EB_SPARK_DRIVER_MEMORY="1g",
    )
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            mp.delenv(name, raising=False)
        try:
            # no keys given: the cluster draws its own; Airflow's side is test_cluster_airflow's
            profile.start(settings, env={}, airflow=False)
            env = dict(
                line.split("=", 1)
                for line in profile.env_file(settings).read_text().splitlines()
                if "=" in line and not line.startswith("#")
            )
            for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"):
                mp.setenv(name, env[name])  # delta-rs, like every client, reads them here
            cluster = Cluster(settings, profile.run_settings(settings))
            yield cluster
            for session in cluster.sessions:
                session.stop()
        finally:
            profile.stop(settings)


def _rows(cluster: Cluster, table: str) -> list[tuple[str, dt.date, int]]:
    arrow = cluster.delta(table).to_pyarrow_table()
    return sorted(zip(*(arrow[c].to_pylist() for c in ("plate", "biz_date", "kg")), strict=True))


def _executors(settings: Settings) -> list[dict[str, Any]]:
    """The Connect application's executors, from its UI's REST API (port read from its log)."""
    log = (settings.run_dir / "spark-connect.log").read_text()
    port = re.findall(r"Successfully started service 'SparkUI' on port (\d+)", log)[-1]
    base = f"http://127.0.0.1:{port}/api/v1/applications"
    with urllib.request.urlopen(base, timeout=60) as r:
        (app,) = json.load(r)
    with urllib.request.urlopen(f"{base}/{app['id']}/executors", timeout=60) as r:
        return json.load(r)


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (a JVM starts them from any of its threads)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def test_a_partitioned_table_is_written_appended_and_merged_on_s3(cluster):
    spark, run = cluster.session(), cluster.run
    assert run.lake_root.startswith("s3a://") and run.spark_master.startswith("spark://")

    def day(rows: list[tuple[str, dt.date, int]], when: dt.date) -> None:
        df = spark.createDataFrame(rows, SCHEMA)
        predicate = tables.date_predicate("biz_date", [when])
        tables.replace_where(df, run, "silver", "probe", predicate, partition_by=["biz_date"])

    day([("苏C00001", D1, 100), ("苏C00002", D1, 200)], D1)  # creates the table
    assert tables.is_delta_table(run, "silver", "probe")
    day([("苏C00003", D2, 300)], D2)  # a second partition
    spark.createDataFrame(
        [("苏C00002", D1, 250), ("苏C00004", D2, 400)], SCHEMA
    ).createOrReplaceTempView("changes")
    spark.sql(
        f"""MERGE INTO {tables.sql_ident(run.table_uri("silver", "probe"))} t USING changes s
        ON t.plate = s.plate AND t.biz_date = s.biz_date
        WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *"""
    ).collect()

    delta = cluster.delta("probe")
    assert delta.version() == 2
    assert delta.metadata().partition_columns == ["biz_date"]
    assert _rows(cluster, "probe") == [
        ("苏C00001", D1, 100),
        ("苏C00002", D1, 250),
        ("苏C00003", D2, 300),
        ("苏C00004", D2, 400),
    ]
    assert spark.table("silver.probe").count() == 4  # registered where it was born

    # Every task ran on the workers' executors: none on the driver (the Connect server).
    executors = {e["id"]: e for e in _executors(cluster.settings)}
    assert executors["driver"]["totalTasks"] == 0
    workers = {e: x for e, x in executors.items() if e != "driver" and x["isActive"]}
    assert len(workers) == 2 and sum(x["totalTasks"] for x in workers.values()) > 0
    # ... and those executors are JVMs the two worker processes started.
    worker_pids = [d.status().pid for d in spark_side.workers(cluster.settings)]
    backends = [
        child
        for pid in worker_pids
        for child in _children(pid or 0)
        if "CoarseGrainedExecutorBackend" in Path(f"/proc/{child}/cmdline").read_text()
    ]
    assert len(backends) == 2


def test_two_writers_through_the_connect_server_lose_no_commit(cluster):
    """Delta's S3 log store serialises the commits of one driver: blind appends from two
    clients at once all land, each as its own version."""
    run = cluster.run
    first = cluster.session()
    tables.replace_where(
        first.createDataFrame([("苏C00000", D1, 0)], SCHEMA),
        run,
        "silver",
        "appends",
        tables.date_predicate("biz_date", [D1]),
        partition_by=["biz_date"],
    )
    uri = run.table_uri("silver", "appends")
    errors: list[BaseException] = []

    def writer(session: Any, base: int) -> None:
        try:
            for i in range(3):
                df = session.createDataFrame([(f"苏C{base + i:05d}", D1, base + i)], SCHEMA)
                df.write.format("delta").mode("append").save(uri)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [
        threading.Thread(target=writer, args=(cluster.session(), base)) for base in (100, 200)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    delta = cluster.delta("appends")
    assert delta.version() == 6
    assert [h["operation"] for h in delta.history()].count("WRITE") == 7
    assert [kg for *_, kg in _rows(cluster, "appends")] == [0, 100, 101, 102, 200, 201, 202]


def test_stop_leaves_no_process_behind(cluster):
    settings = cluster.settings
    started = profile.components(settings, airflow=False)
    pids = [d.status().pid for _, d in started]
    assert all(pids), profile.status_table(profile.status(settings))
    executors = [c for p in pids[2:-1] for c in _children(p or 0)]
    for session in cluster.sessions:
        session.stop()
    cluster.sessions.clear()
    stopped = dict(profile.stop(settings))
    assert [stopped[name] for name, _ in started] == [True] * len(pids)
    assert not any(was for name, was in stopped.items() if name not in dict(started))
    assert not [p for p in [*pids, *executors] if p and pid_alive(p)]
    assert not [d.port for _, d in started if port_open(d.port)]
    assert not profile.env_file(settings).exists()
