"""The cluster profile's Airflow side: PostgreSQL, Redis and the Celery workers.

On one machine Airflow keeps its metadata in SQLite and runs tasks with the LocalExecutor. The
cluster profile (``EB_AIRFLOW_EXECUTOR=CeleryExecutor``) runs the same DAGs the way a
deployment on several hosts does:

- **PostgreSQL 15** (Debian's ``postgresql-15``) holds Airflow's metadata, Celery's results and
  the sharing service's governance store (partner tokens and the access audit), two databases
  of one server. It refuses to run as root, so when the platform runs as root it runs as the
  ``postgres`` account that Debian's package creates, owning its data folder.
- **Redis** (Debian's ``redis-server``) is the Celery broker; the queue lives in memory, so no
  persistence: a task lost with Redis is a task the scheduler queues again.
- **Celery workers**, one per entry of ``EB_CELERY_WORKER_QUEUES``, each serving its queues
  (``orchestration.defaults.QUEUES``: loads and publishing by default).

A worker that dies (its host lost, the process killed) takes its running tasks with it: they
stop heartbeating, the scheduler fails them after ``[scheduler] task_instance_heartbeat_timeout``
(300 s by default) and, as every task has a retry (``orchestration.defaults``), queues them
again; a worker serving the same queue runs them. A queue only the dead worker served waits for
it: give every queue two workers where that matters.

Each is a :class:`~enforcement_brain.spark.server.Daemon` with its log and pid file under
``<var>/cluster/`` (PostgreSQL and Redis listen on 127.0.0.1 only); :func:`components` lists
them in start order, each with its ``start``, ``stop`` and ``status``. The API server,
scheduler and DAG processor are those of :mod:`enforcement_brain.orchestration.stack`, which
reads the database, broker and JWT secret from its environment: :func:`client_env` is what a
run on this cluster exports (the workers get the same through :func:`node_env`), so no two
nodes can disagree. The passwords and the JWT secret are drawn once into
``<var>/cluster/secrets.json`` (mode 600).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from enforcement_brain.errors import SetupError
from enforcement_brain.settings import Settings
from enforcement_brain.spark.server import Daemon, ServerStatus, last_error, port_open

#: Debian's PostgreSQL 15 server package and where it puts its programs (``pg_config --bindir``
#: says so too when ``pg_config`` is on the PATH).
PG_PACKAGE = "postgresql-15"
PG_BINDIR = Path("/usr/lib/postgresql/15/bin")
#: The account PostgreSQL runs as when the platform runs as root (created by ``postgresql-common``).
PG_OS_USER = "postgres"
#: The database role every client uses, and the two databases of the server.
PG_ROLE = "eb"
AIRFLOW_DB = "airflow"
GOVERNANCE_DB = "governance"
REDIS_PACKAGE = "redis-server"


@dataclass(frozen=True)
class Component:
    """One process of the cluster's Airflow side: start it (no-op when it runs), stop it (True
    when it was running), ask its status."""

    name: str
    daemon: Daemon
    start: Callable[[], ServerStatus]
    stop: Callable[[], bool]

    def status(self) -> ServerStatus:
        return self.daemon.status()


def celery_settings(settings: Settings) -> Settings:
    """``settings`` on the CeleryExecutor: the workers are Celery's whatever the caller set."""
    if settings.airflow_executor == "CeleryExecutor":
        return settings
    extra = {**settings.extra, "EB_AIRFLOW_EXECUTOR": "CeleryExecutor"}
    return dataclasses.replace(settings, extra=extra)


def cluster_secrets(settings: Settings) -> dict[str, str]:
    """The PostgreSQL and Redis passwords and Airflow's JWT secret: drawn once, kept mode 600.

    One JWT secret for every node: the API server signs the tokens each task uses to talk to
    the execution API, and a worker that signed with another key would be refused.
    """
    path = settings.cluster_dir / "secrets.json"
    known: dict[str, str] = {}
    if path.exists():
        with contextlib.suppress(ValueError):
            known = json.loads(path.read_text())
    wanted = ("pg_password", "redis_password", "jwt_secret")
    if not all(known.get(k) for k in wanted):
        for key in wanted:
            known.setdefault(key, secrets.token_urlsafe(24))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(json.dumps(known))
    return known


def pg_url(settings: Settings, database: str, *, scheme: str = "postgresql+psycopg2") -> str:
    """SQLAlchemy URL of one database of the cluster's PostgreSQL."""
    password = cluster_secrets(settings)["pg_password"]
    return f"{scheme}://{PG_ROLE}:{password}@127.0.0.1:{settings.cluster_pg_port}/{database}"


def governance_url(settings: Settings) -> str:
    """``EB_GOVERNANCE_DB_URL`` of the cluster profile: the sharing service's tokens and audit."""
    return pg_url(settings, GOVERNANCE_DB)


def broker_url(settings: Settings) -> str:
    password = cluster_secrets(settings)["redis_password"]
    return f"redis://:{password}@127.0.0.1:{settings.cluster_redis_port}/0"


def airflow_env(settings: Settings) -> dict[str, str]:
    """What every Airflow node of the cluster profile adds to its environment: the metadata DB on
    PostgreSQL, the CeleryExecutor with its broker and result backend, the shared JWT secret."""
    return {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg_url(settings, AIRFLOW_DB),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": broker_url(settings),
        "AIRFLOW__CELERY__RESULT_BACKEND": pg_url(settings, AIRFLOW_DB, scheme="db+postgresql"),
        "AIRFLOW__API_AUTH__JWT_SECRET": cluster_secrets(settings)["jwt_secret"],
    }


def node_env(settings: Settings, base: dict[str, str]) -> dict[str, str]:
    """``base`` (an Airflow process's environment, e.g. ``stack_env``) on the cluster: the values
    of :func:`airflow_env`, except those set in this process's environment by hand (a
    deployment pointing at another database keeps it)."""
    env = dict(base)
    env.update({k: v for k, v in airflow_env(settings).items() if k not in os.environ})
    return env


def client_env(settings: Settings) -> dict[str, str]:
    """The settings a run on this cluster exports: the Airflow nodes' database, broker and JWT
    secret, the executor switch, and the sharing service's governance store."""
    return {
        **airflow_env(settings),
        "EB_AIRFLOW_EXECUTOR": "CeleryExecutor",
        "EB_GOVERNANCE_DB_URL": governance_url(settings),
    }


# -- PostgreSQL ------------------------------------------------------------------------------
def _pg_daemon(settings: Settings) -> Daemon:
    folder = settings.cluster_dir
    return Daemon(
        "PostgreSQL",
        folder / "postgresql.pid",
        folder / "postgresql.log",
        settings.cluster_pg_port,
        "EB_CLUSTER_PG_PORT",
        f"postgresql://127.0.0.1:{settings.cluster_pg_port}",
    )


def pg_bindir() -> Path:
    """The folder of ``initdb`` and ``postgres``, or a :class:`SetupError` naming the package."""
    candidates = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        proc = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if proc.returncode == 0 and proc.stdout.strip():
            candidates.append(Path(proc.stdout.strip()))
    candidates.append(PG_BINDIR)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "postgres").exists():
            return folder
    raise SetupError(
        "PostgreSQL 15 server programs (initdb, postgres) are not installed: "
        f"apt-get install {PG_PACKAGE}"
    )


def _as_pg_user() -> list[str]:
    """The prefix that runs a command as PostgreSQL's account when we are root (empty else)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(PG_OS_USER)
    except KeyError:
        raise SetupError(
            f"PostgreSQL does not run as root and there is no {PG_OS_USER!r} account to run it "
            f"as: apt-get install {PG_PACKAGE} (it creates one)"
        ) from None
    setpriv = shutil.which("setpriv") or "setpriv"
    return [setpriv, f"--reuid={PG_OS_USER}", f"--regid={PG_OS_USER}", "--init-groups", "--"]


def _pg_folders(settings: Settings, prefix: list[str]) -> tuple[Path, Path]:
    """The data folder and socket folder, owned by the account PostgreSQL runs as."""
    root = settings.cluster_dir / "pg"
    data, sockets = root / "data", root / "run"
    for folder in (root, sockets):
        folder.mkdir(parents=True, exist_ok=True)
    if prefix:
        account = pwd.getpwnam(PG_OS_USER)
        for folder in (root, sockets, *([data] if data.exists() else [])):
            os.chown(folder, account.pw_uid, account.pw_gid)
        if subprocess.run([*prefix, "test", "-w", str(root)], check=False).returncode != 0:
            raise SetupError(
                f"the {PG_OS_USER!r} account cannot reach {root}: make its parent folders "
                "traversable (chmod o+x) or set EB_VAR_DIR to a folder it can reach"
            )
    return data, sockets


def _initdb(settings: Settings, bindir: Path, data: Path, prefix: list[str]) -> None:
    """A new database cluster with password authentication for the role every client uses."""
    root = data.parent
    pwfile = root / "initdb.pw"
    pwfile.write_text(cluster_secrets(settings)["pg_password"] + "\n")
    pwfile.chmod(0o600)
    if prefix:
        account = pwd.getpwnam(PG_OS_USER)
        os.chown(pwfile, account.pw_uid, account.pw_gid)
    log = root / "initdb.log"
    cmd = [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", PG_ROLE]
    cmd += ["--pwfile", str(pwfile), "--auth", "scram-sha-256", "-E", "UTF8", "--no-locale"]
    try:
        with log.open("wb") as out:
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
    finally:
        pwfile.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise SetupError(f"initdb failed ({last_error(log)}); see {log}")


def _create_databases(settings: Settings, timeout: float = 30.0) -> None:
    """Airflow's and the governance store's databases, created when missing."""
    import psycopg2

    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = psycopg2.connect(
                host="127.0.0.1",
                port=settings.cluster_pg_port,
                user=PG_ROLE,
                password=cluster_secrets(settings)["pg_password"],
                dbname="postgres",
                connect_timeout=5,
            )
            break
        except psycopg2.OperationalError as exc:  # "the database system is starting up"
            if time.monotonic() > deadline:
                raise SetupError(f"PostgreSQL does not accept connections: {exc}") from None
            time.sleep(0.3)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for database in (AIRFLOW_DB, GOVERNANCE_DB):
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{database}"')
    finally:
        conn.close()


def start_postgres(settings: Settings, *, timeout: float = 60.0) -> ServerStatus:
    """Start PostgreSQL (``initdb`` on first use) and create its two databases."""
    daemon = _pg_daemon(settings)
    current = daemon.running()
    if current is None:
        bindir = pg_bindir()
        prefix = _as_pg_user()
        data, sockets = _pg_folders(settings, prefix)
        if not (data / "PG_VERSION").exists():
            _initdb(settings, bindir, data, prefix)
        cmd = [*prefix, str(bindir / "postgres"), "-D", str(data), "-h", "127.0.0.1"]
        cmd += ["-p", str(settings.cluster_pg_port), "-k", str(sockets)]
        # The scheduler, API server, DAG processor, each worker's slots and the sharing
        # service hold connections at once: Debian's 100 is too few for a Celery deployment.
        cmd += ["-c", "max_connections=300"]
        current = daemon.launch(cmd, dict(os.environ), timeout=timeout, stop=daemon.stop)
    _create_databases(settings)
    return current


def stop_postgres(settings: Settings) -> bool:
    """Fast shutdown (SIGINT): sessions are ended and the data is checkpointed."""
    return _pg_daemon(settings).stop(signum=signal.SIGINT)


def postgres(settings: Settings) -> Component:
    return Component(
        "postgresql",
        _pg_daemon(settings),
        lambda: start_postgres(settings),
        lambda: stop_postgres(settings),
    )


# -- Redis -----------------------------------------------------------------------------------
def _redis_daemon(settings: Settings) -> Daemon:
    folder = settings.cluster_dir
    return Daemon(
        "Redis",
        folder / "redis.pid",
        folder / "redis.log",
        settings.cluster_redis_port,
        "EB_CLUSTER_REDIS_PORT",
        f"redis://127.0.0.1:{settings.cluster_redis_port}/0",
    )


def start_redis(settings: Settings, *, timeout: float = 30.0) -> ServerStatus:
    """Start Redis on loopback with a password, without snapshots or an append-only file."""
    daemon = _redis_daemon(settings)
    current = daemon.running()
    if current is not None:
        return current
    program = shutil.which("redis-server")
    if program is None:
        raise SetupError(f"redis-server is not installed: apt-get install {REDIS_PACKAGE}")
    folder = settings.cluster_dir / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "redis.conf"
    conf.touch(mode=0o600)
    conf.chmod(0o600)
    # A config file, not arguments: the password stays out of the process list.
    conf.write_text(
        "\n".join(
            [
                "bind 127.0.0.1",
                f"port {settings.cluster_redis_port}",
                f'dir "{folder}"',
                'save ""',
                "appendonly no",
                "daemonize no",
                "protected-mode yes",
                f"requirepass {cluster_secrets(settings)['redis_password']}",
                "",
            ]
        )
    )
    return daemon.launch([program, str(conf)], dict(os.environ), timeout=timeout, stop=daemon.stop)


def redis(settings: Settings) -> Component:
    return Component(
        "redis",
        _redis_daemon(settings),
        lambda: start_redis(settings),
        lambda: _redis_daemon(settings).stop(),
    )


# -- Celery workers --------------------------------------------------------------------------
def _worker_daemon(settings: Settings, index: int, queues: tuple[str, ...]) -> Daemon:
    """Worker ``index``; its port is its log server's (from which the API server reads the
    logs of the tasks it ran), the first worker's port + ``index``. Airflow binds that server
    to every interface, not only loopback; it answers only requests signed with the JWT secret."""
    name = worker_name(queues)
    folder = settings.cluster_dir
    port = settings.cluster_worker_log_port + index
    return Daemon(
        f"the Celery worker for queue(s) {','.join(queues)}",
        folder / f"{name}.pid",
        folder / f"{name}.log",
        port,
        "EB_CLUSTER_WORKER_LOG_PORT",
        f"http://127.0.0.1:{port}/log/",
    )


def worker_name(queues: tuple[str, ...]) -> str:
    """A worker's name, after its first queue (its Celery node is ``<name>@<host>``)."""
    return f"celery-{queues[0]}"


def start_worker(
    settings: Settings,
    index: int,
    queues: tuple[str, ...],
    spark_remote: str = "",
    *,
    timeout: float = 180.0,
    extra_env: Mapping[str, str] | None = None,
) -> ServerStatus:
    """Start one Celery worker serving ``queues`` once PostgreSQL and Redis answer; return when
    Celery reports it ready for tasks. ``extra_env`` reaches the tasks it runs (the lake
    store's keys when the cluster drew them)."""
    from enforcement_brain.orchestration.airflow_cli import airflow_bin
    from enforcement_brain.orchestration.stack import stack_env

    settings = celery_settings(settings)
    daemon = _worker_daemon(settings, index, queues)
    current = daemon.running()
    if current is not None:
        return current
    for needed, port, setting in (
        ("PostgreSQL", settings.cluster_pg_port, "EB_CLUSTER_PG_PORT"),
        ("Redis", settings.cluster_redis_port, "EB_CLUSTER_REDIS_PORT"),
    ):
        if not port_open(port):
            raise SetupError(f"{needed} does not answer on port {port} ({setting}): start it first")
    # No metadata DB migration here: a worker reaches Airflow through the execution API only,
    # and the API server's start migrates the database.
    env = node_env(settings, stack_env(settings, spark_remote or settings.spark_remote))
    env.update(extra_env or {})
    name = worker_name(queues)
    env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(daemon.port)
    env["EB_CELERY_WORKER"] = name  # for the tasks' own logs: which worker ran them
    cmd = [airflow_bin(), "celery", "worker", "--queues", ",".join(queues)]
    cmd += ["--concurrency", str(settings.airflow_parallelism), "--celery-hostname", f"{name}@%h"]
    status = daemon.launch(
        settings.batch_command(cmd), env, timeout=timeout, stop=lambda: daemon.stop()
    )
    _wait_ready(daemon, timeout)
    return status


def _wait_ready(daemon: Daemon, timeout: float) -> None:
    """Until the worker's log says it consumes from the broker (its log server listens first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = daemon.log.read_text(errors="replace") if daemon.log.exists() else ""
        if " ready." in text:
            return
        if not daemon.status().running:
            break
        time.sleep(0.5)
    daemon.stop()
    raise SetupError(
        f"{daemon.what} did not become ready ({last_error(daemon.log)}); see {daemon.log}"
    )


def workers(
    settings: Settings, spark_remote: str = "", extra_env: Mapping[str, str] | None = None
) -> list[Component]:
    """One component per worker of ``EB_CELERY_WORKER_QUEUES``."""
    out = []
    for index, queues in enumerate(settings.celery_worker_queues):
        daemon = _worker_daemon(settings, index, queues)
        out.append(
            Component(
                worker_name(queues),
                daemon,
                lambda i=index, q=queues: start_worker(
                    settings, i, q, spark_remote, extra_env=extra_env
                ),
                daemon.stop,
            )
        )
    return out


def components(
    settings: Settings, spark_remote: str = "", extra_env: Mapping[str, str] | None = None
) -> list[Component]:
    """PostgreSQL, Redis and the Celery workers, in the order they start (stop in reverse)."""
    return [postgres(settings), redis(settings), *workers(settings, spark_remote, extra_env)]


def start_all(
    settings: Settings, spark_remote: str = "", extra_env: Mapping[str, str] | None = None
) -> list[ServerStatus]:
    """Start every component: PostgreSQL and Redis in turn, then the workers side by side (each
    spends its start importing Airflow, and they need nothing of each other). On a failure,
    what this call started is stopped again and the first error raised."""
    from concurrent.futures import ThreadPoolExecutor

    every = components(settings, spark_remote, extra_env)
    services, pool = every[:2], every[2:]
    running_before = {c.name for c in every if c.status().running}
    out: list[ServerStatus] = []
    try:
        out += [c.start() for c in services]
        with ThreadPoolExecutor(max_workers=len(pool)) as threads:
            futures = [threads.submit(c.start) for c in pool]
        out += [f.result() for f in futures]
    except BaseException:
        for component in reversed(every):
            if component.name not in running_before:
                component.stop()
        raise
    return out


def stop_all(settings: Settings) -> list[str]:
    """Stop every component, last started first; the names of those that were running."""
    return [c.name for c in reversed(components(settings)) if c.stop()]
