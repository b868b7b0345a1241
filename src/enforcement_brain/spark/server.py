"""The platform's long-lived Spark Connect server.

Airflow starts a process per task; a JVM per task would cost 7-10 s each, dozens of times a day.
Instead the platform starts one Spark Connect server (it ships inside pyspark 4.2) with Delta on
its classpath, and every task attaches to it as a thin gRPC client. ``eb spark start|stop|status``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from enforcement_brain.errors import SetupError
from enforcement_brain.settings import Settings
from enforcement_brain.spark.jars import pyspark_jars_dir
from enforcement_brain.spark.session import require_java, spark_conf

CONNECT_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pid: int | None
    url: str
    log: Path


def _pid_file(settings: Settings) -> Path:
    return settings.run_dir / "spark-connect.pid"


def _log_file(settings: Settings) -> Path:
    return settings.run_dir / "spark-connect.log"


def url(settings: Settings) -> str:
    return f"sc://localhost:{settings.spark_connect_port}"


def port_open(port: int) -> bool:
    """True when something on this host accepts connections on ``port``."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` runs (an exited child of ours is reaped, not counted)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child that has exited: reap it
            return False
    except ChildProcessError:
        pass  # not our child: ask the kernel below
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def status(settings: Settings) -> ServerStatus:
    pid_file = _pid_file(settings)
    pid = int(pid_file.read_text()) if pid_file.exists() else None
    running = pid is not None and pid_alive(pid) and port_open(settings.spark_connect_port)
    return ServerStatus(running, pid if running else None, url(settings), _log_file(settings))


def start(settings: Settings, *, timeout: float = 120.0) -> ServerStatus:
    """Start the server unless it already runs; wait until it accepts connections."""
    current = status(settings)
    if current.running:
        return current
    if port_open(settings.spark_connect_port):
        raise SetupError(
            f"port {settings.spark_connect_port} is taken by another process: stop it or set "
            "EB_SPARK_CONNECT_PORT"
        )
    require_java()
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    spark_home = pyspark_jars_dir().parent
    cmd = [str(spark_home / "bin" / "spark-submit"), "--master", settings.spark_master]
    conf = spark_conf(settings, ui=True)
    conf["spark.connect.grpc.binding.port"] = str(settings.spark_connect_port)
    cmd += ["--driver-memory", conf.pop("spark.driver.memory")]
    for key, value in conf.items():
        cmd += ["--conf", f"{key}={value}"]
    cmd += ["--class", CONNECT_CLASS, "spark-internal"]
    env = dict(os.environ, SPARK_HOME=str(spark_home), PYSPARK_PYTHON=sys.executable)
    log = _log_file(settings)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            settings.batch_command(cmd),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    _pid_file(settings).write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SetupError(f"the Spark Connect server exited at start-up; see {log}")
        if port_open(settings.spark_connect_port):
            return status(settings)
        time.sleep(0.5)
    stop(settings)
    raise SetupError(f"the Spark Connect server did not listen within {timeout:.0f} s; see {log}")


def stop(settings: Settings, *, timeout: float = 30.0) -> bool:
    """Stop the server this platform started; True if one was running."""
    pid_file = _pid_file(settings)
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text())
    was_running = pid_alive(pid)
    if was_running:
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.3)
        if pid_alive(pid):
            os.killpg(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return was_running
