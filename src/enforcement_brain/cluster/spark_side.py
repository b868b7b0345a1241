"""The cluster profile's Spark: a standalone master and its workers, from the pyspark wheel.

The wheel has no ``start-master.sh``, but ``bin/spark-class`` runs the master and worker
classes in the foreground, which is what a :class:`Daemon` wants (its output to the log, its
pid in the pid file). Everything binds to 127.0.0.1 (``SPARK_LOCAL_IP``). Each worker offers
:data:`WORKER_CORES` and :data:`WORKER_MEMORY`; its executors take the store's credentials
from the worker's environment (S3A's default chain), never from the configuration.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from enforcement_brain.settings import Settings
from enforcement_brain.spark.jars import pyspark_jars_dir
from enforcement_brain.spark.server import Daemon, ServerStatus
from enforcement_brain.spark.session import require_java

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"

#: The workers: two, so that a task can move to another worker when one is lost.
WORKERS = 2

#: What each worker offers: one core, so that two workers fit a two-core machine beside the
#: Connect server, and room for one executor of Spark's default 1 GB.
WORKER_CORES = 1
WORKER_MEMORY = "2g"


def master_url(settings: Settings) -> str:
    """What ``EB_SPARK_MASTER`` is for a run on this cluster."""
    return f"spark://127.0.0.1:{settings.cluster_master_port}"


def master(settings: Settings) -> Daemon:
    return Daemon(
        "the Spark master",
        settings.cluster_dir / "spark-master.pid",
        settings.cluster_dir / "spark-master.log",
        settings.cluster_master_port,
        "EB_CLUSTER_MASTER_PORT",
        master_url(settings),
    )


def workers(settings: Settings) -> list[Daemon]:
    """The workers, ``i`` on ``EB_CLUSTER_MASTER_PORT`` + 1 + ``i``."""
    return [
        Daemon(
            f"Spark worker {i}",
            settings.cluster_dir / f"spark-worker-{i}.pid",
            settings.cluster_dir / f"spark-worker-{i}.log",
            settings.cluster_master_port + 1 + i,
            "EB_CLUSTER_MASTER_PORT",
            f"spark://127.0.0.1:{settings.cluster_master_port + 1 + i}",
        )
        for i in range(WORKERS)
    ]


def environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment of every Spark process of the cluster: loopback, the wheel's Spark."""
    spark_home = pyspark_jars_dir().parent
    return dict(
        os.environ,
        **extra,
        SPARK_HOME=str(spark_home),
        SPARK_LOCAL_IP="127.0.0.1",
        PYSPARK_PYTHON=sys.executable,
    )


def _spark_class() -> str:
    return str(pyspark_jars_dir().parent / "bin" / "spark-class")


def start_master(settings: Settings, *, timeout: float = 60.0) -> ServerStatus:
    daemon = master(settings)
    current = daemon.running()
    if current is not None:
        return current
    require_java()
    cmd = [_spark_class(), MASTER_CLASS, "--host", "127.0.0.1"]
    cmd += ["--port", str(settings.cluster_master_port)]
    cmd += ["--webui-port", "0"]  # a free port: the UI is for people, nothing connects to it
    return daemon.launch(cmd, environment({}), timeout=timeout, stop=daemon.stop)


def start_workers(
    settings: Settings, keys: Mapping[str, str], *, timeout: float = 60.0
) -> list[ServerStatus]:
    """Start the workers (those already running are left alone), registered with the master.

    They run at the batch's niceness: their executors do the daily load's work.
    """
    out: list[ServerStatus] = []
    for i, daemon in enumerate(workers(settings)):
        current = daemon.running()
        if current is not None:
            out.append(current)
            continue
        work = settings.cluster_dir / f"spark-worker-{i}"
        work.mkdir(parents=True, exist_ok=True)
        cmd = [_spark_class(), WORKER_CLASS, master_url(settings), "--host", "127.0.0.1"]
        cmd += ["--port", str(daemon.port)]
        cmd += ["--webui-port", "0"]
        cmd += ["--cores", str(WORKER_CORES), "--memory", WORKER_MEMORY]
        cmd += ["--work-dir", str(work)]
        env = environment(keys)
        out.append(
            daemon.launch(settings.batch_command(cmd), env, timeout=timeout, stop=daemon.stop)
        )
    return out
