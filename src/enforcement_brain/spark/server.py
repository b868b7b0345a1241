"""The platform's long-lived Spark Connect server.

Airflow starts a process per task; a JVM per task would cost 7-10 s each, dozens of times a day.
Instead the platform starts one Spark Connect server (it ships inside pyspark 4.2) with Delta on
its classpath, and every task attaches to it as a thin gRPC client. ``eb spark start|stop|status``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from enforcement_brain.errors import SetupError
from enforcement_brain.lake.s3 import check_lake_store
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


@dataclass(frozen=True)
class Daemon:
    """A server this platform starts and stops (the Spark Connect server, the SQL endpoint):
    where its pid and log go, the port it listens on, the setting that moves that port, the
    URL clients use. Each module builds one from the settings; start, status and the wait for
    its port are written once, here."""

    what: str
    pid_file: Path
    log: Path
    port: int
    port_setting: str
    url: str

    def status(self) -> ServerStatus:
        """Running while its recorded pid lives and its port listens (a pid alone could be a
        recycled one; a port alone, another program)."""
        pid = int(self.pid_file.read_text()) if self.pid_file.exists() else None
        running = pid is not None and pid_alive(pid) and port_open(self.port)
        return ServerStatus(running, pid if running else None, self.url, self.log)

    def running(self) -> ServerStatus | None:
        """Its status if it already runs; None when its port is free to start on; a
        :class:`SetupError` when another program holds the port."""
        current = self.status()
        if current.running:
            return current
        if port_open(self.port):
            raise SetupError(
                f"port {self.port} is taken by another process: stop it or set {self.port_setting}"
            )
        return None

    def launch(
        self, cmd: list[str], env: dict[str, str], *, timeout: float, stop: Callable[[], object]
    ) -> ServerStatus:
        """Start ``cmd`` in a session of its own, output to the log, pid to the pid file;
        return once it listens. A start-up that exits, or does not listen within ``timeout``
        (then ``stop()`` is called), is a :class:`SetupError` naming the log's most telling
        line."""
        with self.log.open("wb") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self.pid_file.write_text(str(proc.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise SetupError(
                    f"{self.what} exited at start-up ({last_error(self.log)}); see {self.log}"
                )
            if port_open(self.port):
                return self.status()
            time.sleep(0.5)
        stop()
        raise SetupError(f"{self.what} did not listen within {timeout:.0f} s; see {self.log}")

    def stop(self, *, signum: int = signal.SIGTERM, timeout: float = 30.0) -> bool:
        """Stop what :meth:`launch` started; True if it was running.

        ``signum`` goes to its process group (a launcher script and the JVM it started are one
        group, and so are a Spark worker and its executors), as the server's own orderly
        shutdown signal (PostgreSQL's fast shutdown is SIGINT); what is left of its session
        after ``timeout`` is killed, process groups of its own included (an Airflow task runs
        in one). Returns once no process of the session is left and the port is free, so a
        caller may start it again right away; the pid file goes either way.
        """
        if not self.pid_file.exists():
            return False
        pid = int(self.pid_file.read_text())
        was_running = pid_alive(pid)
        if was_running or group_alive(pid):
            try:
                os.killpg(pid, signum)
            except OSError:
                with contextlib.suppress(OSError):
                    os.kill(pid, signum)
            deadline = time.monotonic() + timeout
            # pid_alive first: it reaps the leader, whose zombie would keep the group.
            while (pid_alive(pid) or group_alive(pid)) and time.monotonic() < deadline:
                time.sleep(0.2)
            for member in [pid, *session_pids(pid)]:  # what it forked, in any process group
                with contextlib.suppress(OSError):
                    os.kill(member, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and (
                pid_alive(pid) or group_alive(pid) or port_open(self.port) or session_pids(pid)
            ):
                time.sleep(0.2)
        self.pid_file.unlink(missing_ok=True)
        return was_running


def session_pids(sid: int) -> list[int]:
    """The live processes of session ``sid`` (a daemon launched here leads its own session);
    exited ones waiting to be reaped are not counted."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
                if state != "Z" and os.getsid(int(entry.name)) == sid:
                    found.append(int(entry.name))
    return found


def group_alive(pgid: int) -> bool:
    """True while a process of group ``pgid`` runs."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def last_error(log: Path) -> str:
    """The most telling line of a start-up log, for a one-line error."""
    lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    for marker in ("error:", "Exception", "ERROR"):
        hits = [ln for ln in lines if marker in ln]
        if hits:
            return hits[-1][:300]
    return lines[-1][:300] if lines else "no output"


def connect_daemon(settings: Settings) -> Daemon:
    """The Connect server as a :class:`Daemon` (the cluster profile lists it with its own)."""
    return Daemon(
        "the Spark Connect server",
        _pid_file(settings),
        _log_file(settings),
        settings.spark_connect_port,
        "EB_SPARK_CONNECT_PORT",
        url(settings),
    )


def status(settings: Settings) -> ServerStatus:
    return connect_daemon(settings).status()


def start(
    settings: Settings, *, timeout: float = 120.0, env: Mapping[str, str] | None = None
) -> ServerStatus:
    """Start the server unless it already runs; wait until it accepts connections.

    ``env`` adds to this process's environment for the server (the cluster profile passes
    its store's credentials and loopback address; they never enter the Spark configuration).
    """
    daemon = connect_daemon(settings)
    current = daemon.running()
    if current is not None:
        return current
    require_java()
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    spark_home = pyspark_jars_dir().parent
    cmd = [str(spark_home / "bin" / "spark-submit"), "--master", settings.spark_master]
    conf = spark_conf(settings, ui=True)
    conf["spark.connect.grpc.binding.port"] = str(settings.spark_connect_port)
    if env and env.get("SPARK_LOCAL_IP"):  # the address the rest of the server binds to
        conf["spark.connect.grpc.binding.address"] = env["SPARK_LOCAL_IP"]
    cmd += ["--driver-memory", conf.pop("spark.driver.memory")]
    for key, value in conf.items():
        cmd += ["--conf", f"{key}={value}"]
    cmd += ["--class", CONNECT_CLASS, "spark-internal"]
    environment = dict(os.environ, **(env or {}))
    environment.update(SPARK_HOME=str(spark_home), PYSPARK_PYTHON=sys.executable)
    if not settings.lake_is_local:  # a wrong store fails here in one line, not in S3A
        check_lake_store(settings, environment)
    return daemon.launch(
        settings.batch_command(cmd), environment, timeout=timeout, stop=lambda: stop(settings)
    )


def stop(settings: Settings, *, timeout: float = 30.0) -> bool:
    """Stop the server this platform started; True if one was running."""
    return connect_daemon(settings).stop(timeout=timeout)
