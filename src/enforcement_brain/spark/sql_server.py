"""The network SQL endpoint: a Spark Thrift server (HiveServer2 protocol: JDBC, ODBC, beeline).

BI tools and Python clients speak JDBC/ODBC, not Spark Connect. Spark ships a HiveServer2
implementation in the pyspark wheel; this module runs it in a driver of its own and keeps its
catalog in step with the lake:

- **its own catalog, in memory.** The metastore is an in-memory Derby database inside the
  endpoint's JVM. An embedded Derby *file* metastore admits one JVM at a time, and the Connect
  server and ``make sql`` run JVMs of their own; with nothing shared on disk they never fight.
  Nothing is lost at a restart either: the lake is self-describing (``<lake>/<layer>/<table>``)
  and every table is registered again from its folder at start-up.
- **new tables appear by themselves.** The driver looks at the lake every
  ``EB_SQL_REFRESH_SECONDS`` and registers tables created since (and drops the names of tables
  whose folder is gone), so a dataset published after the endpoint started is queryable by name
  within one refresh.
- **reads while the pipeline writes.** Tables are external Delta tables: each query reads the
  latest committed version of the log (Delta's snapshot isolation), so readers never see a
  half-written commit and never block a writer. ``VERSION AS OF`` and ``DESCRIBE HISTORY``
  work because these are Delta tables, not Hive tables.

``eb sql-server start|stop|status`` (and ``make sql-server``); pid file and log in ``var/run``
beside the Connect server's. The driver itself is ``python -m enforcement_brain.spark.sql_server
serve``: a classic (non-Connect) PySpark session with Hive support, handed to
``HiveThriftServer2.startWithContext(SQLContext)`` (the Spark 4.2 signature).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from enforcement_brain.errors import SetupError
from enforcement_brain.settings import EXTRA_KEYS, Settings, load_settings
from enforcement_brain.spark.server import Daemon, ServerStatus, pid_alive, port_open

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

THRIFT_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"


def _pid_file(settings: Settings) -> Path:
    return settings.run_dir / "sql-server.pid"


def _log_file(settings: Settings) -> Path:
    return settings.run_dir / "sql-server.log"


def _home(settings: Settings) -> Path:
    """The endpoint's own scratch folder (Derby's log, the empty Hive warehouse)."""
    return settings.var_dir / "sql-server"


def jdbc_url(settings: Settings) -> str:
    host = "localhost" if settings.sql_host in {"127.0.0.1", "0.0.0.0"} else settings.sql_host
    return f"jdbc:hive2://{host}:{settings.sql_port}"


def _daemon(settings: Settings) -> Daemon:
    return Daemon(
        "the SQL endpoint",
        _pid_file(settings),
        _log_file(settings),
        settings.sql_port,
        "EB_SQL_PORT",
        jdbc_url(settings),
    )


def status(settings: Settings) -> ServerStatus:
    return _daemon(settings).status()


def thrift_conf(settings: Settings) -> dict[str, str]:
    """The platform's Spark configuration, turned into the endpoint's.

    Same Delta, time zone and shuffle settings as every other session (``spark_conf``), with a
    Hive catalog (HiveServer2 needs one) whose metastore lives in memory, its own warehouse and
    Derby home, and the Thrift port and address from the settings.
    """
    from enforcement_brain.spark.session import JVM_ZONE_OPTION, spark_conf

    home = _home(settings)
    conf = spark_conf(settings, ui=False)
    conf["spark.sql.catalogImplementation"] = "hive"
    conf["spark.driver.memory"] = settings.sql_driver_memory
    conf["spark.hadoop.javax.jdo.option.ConnectionURL"] = "jdbc:derby:memory:metastore;create=true"
    conf["spark.sql.warehouse.dir"] = str(home / "warehouse")
    conf["spark.driver.extraJavaOptions"] = f"-Dderby.system.home={home} {JVM_ZONE_OPTION}"
    # The Delta jars on the JVM's own class path too: each JDBC session is opened on a Thrift
    # worker thread whose class loader does not see ``spark.jars``, and the session's catalog
    # (DeltaCatalog) would not load ("ClassNotFoundException: ...DeltaCatalog" at connect).
    conf["spark.driver.extraClassPath"] = os.pathsep.join(conf["spark.jars"].split(","))
    conf["spark.hadoop.hive.server2.thrift.port"] = str(settings.sql_port)
    conf["spark.hadoop.hive.server2.thrift.bind.host"] = settings.sql_host
    conf["spark.hadoop.hive.server2.transport.mode"] = "binary"
    # Queries run as the endpoint's own user: there is no Kerberos to impersonate anyone with,
    # and the lake is read with the server's file permissions either way.
    conf["spark.hadoop.hive.server2.enable.doAs"] = "false"
    # One SQL session for every connection: the shared functions and the datasets' params are
    # session objects, declared once at start-up. A client's USE or SET is then seen by all.
    conf["spark.sql.hive.thriftServer.singleSession"] = "true"
    conf["spark.app.name"] = "enforcement-brain-sql"
    return conf


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment that makes ``load_settings()`` in a child process resolve ``settings``."""
    env = {
        "EB_HOME": str(settings.home),
        "EB_VAR_DIR": str(settings.var_dir),
        "EB_LAKE_ROOT": settings.lake_root,
        "EB_STANDARDS_DIR": str(settings.standards_dir),
        "EB_JAR_DIR": str(settings.jar_dir),
        "EB_SPARK_MASTER": settings.spark_master,
        "EB_SPARK_SHUFFLE_PARTITIONS": str(settings.spark_shuffle_partitions),
        "EB_SPARK_DRIVER_MEMORY": settings.spark_driver_memory,
    }
    env.update({k: v for k, v in settings.extra.items() if k in EXTRA_KEYS})
    return env


def start(settings: Settings, *, timeout: float = 180.0) -> ServerStatus:
    """Start the endpoint unless it already runs; wait until it accepts JDBC connections."""
    from enforcement_brain.spark.jars import cached_jars, pyspark_jars_dir
    from enforcement_brain.spark.session import require_java

    daemon = _daemon(settings)
    current = daemon.running()
    if current is not None:
        return current
    require_java()
    cached_jars(settings.jar_dir)  # one-line error naming `make setup` if the jars are missing
    if not any(pyspark_jars_dir().glob("spark-hive-thriftserver_*.jar")):
        raise SetupError("the Spark Thrift server jar is missing from pyspark: run `make setup`")
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    _home(settings).mkdir(parents=True, exist_ok=True)
    package_root = str(Path(__file__).resolve().parents[2])  # this checkout's src/
    env = dict(os.environ)
    env.update(settings_env(settings))
    env.pop("EB_SPARK_REMOTE", None)  # the endpoint is a classic driver, never a Connect client
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env["PYSPARK_PYTHON"] = sys.executable
    env["SPARK_HOME"] = str(pyspark_jars_dir().parent)
    cmd = [sys.executable, "-m", "enforcement_brain.spark.sql_server", "serve"]
    return daemon.launch(cmd, env, timeout=timeout, stop=lambda: stop(settings))


def stop(settings: Settings, *, timeout: float = 30.0) -> bool:
    """Stop the endpoint this platform started; True if one was running.

    SIGTERM goes to the driver alone, which stops the Thrift server and its JVM in order (the
    JVM also exits when its driver's pipe closes). Only what is still alive after ``timeout``,
    the driver or a JVM left in its process group still holding the port, is killed. Returns
    once the port is free: a caller may restart the endpoint right away.
    """
    pid_file = _pid_file(settings)
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text())
    was_running = pid_alive(pid)
    if was_running:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.3)
    deadline = time.monotonic() + (timeout if was_running else 0)
    while port_open(settings.sql_port) and time.monotonic() < deadline:
        time.sleep(0.3)
    if was_running and (pid_alive(pid) or port_open(settings.sql_port)):
        with contextlib.suppress(OSError):  # the driver's group: the driver and its JVM only
            os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while port_open(settings.sql_port) and time.monotonic() < deadline:
            time.sleep(0.3)
    pid_file.unlink(missing_ok=True)
    return was_running


# -- the driver process ----------------------------------------------------------------------


def sync_catalog(spark: SparkSession, settings: Settings, known: set[str]) -> tuple[int, int]:
    """Register lake tables not yet in ``known`` and drop names whose table is gone.

    Returns (added, dropped). ``known`` is updated in place. A table that fails to register
    (e.g. a first commit in flight) is tried again at the next refresh.
    """
    from enforcement_brain.lake.tables import lake_tables, qualified, register, unregister

    present = {qualified(layer, table): (layer, table) for layer, table in lake_tables(settings)}
    added = dropped = 0
    for name, (layer, table) in present.items():
        if name in known:
            continue
        try:
            register(spark, settings, layer, table)
        except Exception as exc:  # logged; retried at the next refresh
            print(f"sql-server: cannot register {name} yet: {str(exc).splitlines()[0]}", flush=True)
            continue
        known.add(name)
        added += 1
    for name in sorted(known - present.keys()):
        unregister(spark, name)  # external: the data is not touched
        known.discard(name)
        dropped += 1
    return added, dropped


def analyst_statements(settings: Settings) -> list[str]:
    """The shared SQL functions, ``ref.*`` code tables and dataset params, so a dataset's SQL
    file runs here as it is."""
    from enforcement_brain.declarations import load_catalog
    from enforcement_brain.standards.sql_library import all_params, session_statements

    catalog = load_catalog(settings.standards_dir)
    return session_statements(catalog.root, params=all_params(catalog.datasets.values()))


def serve(settings: Settings) -> None:
    """Run the endpoint in this process until SIGTERM (the ``serve`` entry point)."""
    from pyspark.sql import SparkSession

    from enforcement_brain.lake.tables import TABLE_LAYERS

    stopping = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    builder = SparkSession.builder.master(settings.spark_master).enableHiveSupport()
    for key, value in thrift_conf(settings).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    for layer in TABLE_LAYERS:  # every schema exists, even before its first table
        spark.sql(f"CREATE SCHEMA IF NOT EXISTS {layer}")
    for statement in analyst_statements(settings):
        spark.sql(statement)
    known: set[str] = set()
    added, _ = sync_catalog(spark, settings, known)
    print(f"sql-server: {added} lake tables registered", flush=True)
    jvm = spark._jvm  # the Thrift server has no Python API
    server = jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2.startWithContext(
        spark._jsparkSession.sqlContext()
    )
    print(f"sql-server: listening on {jdbc_url(settings)}", flush=True)
    while not stopping:
        time.sleep(settings.sql_refresh_seconds)
        if stopping:
            break
        try:
            added, dropped = sync_catalog(spark, settings, known)
        except Exception as exc:  # keep serving; the next refresh retries
            print(f"sql-server: refresh failed: {str(exc).splitlines()[0]}", flush=True)
            continue
        if added or dropped:
            print(f"sql-server: +{added} / -{dropped} tables ({len(known)} in all)", flush=True)
    print("sql-server: stopping", flush=True)
    with contextlib.suppress(Exception):  # the JVM may already be going down
        server.stop()
    with contextlib.suppress(Exception):
        spark.stop()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args != ["serve"]:
        print("usage: python -m enforcement_brain.spark.sql_server serve", file=sys.stderr)
        return 2
    serve(load_settings())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
