"""Spark sessions: one configuration, two ways to get a session.

- ``EB_SPARK_REMOTE`` set (``sc://host:port``): attach to a running Spark Connect server. This is
  how Airflow tasks run: the platform starts one long-lived server, and each task attaches in
  about a second instead of paying several seconds for a JVM of its own (docs/design.md, "One
  Spark Connect server, thin tasks").
- otherwise: an in-process session on ``EB_SPARK_MASTER`` (``local[*]`` by default), used by tests,
  the ``jobs/`` entry points under ``spark-submit``, and ad-hoc work.

Both get the same configuration from :func:`spark_conf`, so behaviour cannot drift between them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from typing import TYPE_CHECKING

from enforcement_brain.errors import ConfigError, SetupError
from enforcement_brain.lake.doctor import require_clock
from enforcement_brain.settings import PLATFORM_TZ, Settings
from enforcement_brain.spark.jars import cached_jars

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_SESSIONS: dict[str, SparkSession] = {}

#: The JVM's default zone, pinned to the platform's (see :func:`spark_conf`).
JVM_ZONE_OPTION = f"-Duser.timezone={PLATFORM_TZ}"

#: The zones a running session uses: the session's and its JVM's default.
ZONES_SQL = (
    "select current_timezone() as session_tz, "
    "reflect('java.lang.System', 'getProperty', 'user.timezone') as jvm_tz"
)


def spark_conf(settings: Settings, *, ui: bool = False) -> dict[str, str]:
    """The Spark configuration every session and server of the platform uses.

    Why these values: Delta as the catalog; an in-memory catalog because the lake is
    self-describing (tables are registered from their folders, see ``lake.catalog``) and an
    embedded Derby metastore would admit one JVM at a time; the platform's zone
    (``PLATFORM_TZ``, Asia/Shanghai) for the session *and* the JVM's default because every
    source writes local time without an offset, and conversions through ``java.sql`` types use
    the JVM default, not the session's zone; few shuffle and snapshot partitions because a day is
    about a million rows on two cores, where Spark's defaults (200 and 50) cost more than the data.
    """
    conf = {
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.catalogImplementation": "in-memory",
        "spark.sql.session.timeZone": PLATFORM_TZ,
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
        # Source systems deliver GBK CSV; Spark 4 accepts only a few charsets unless told.
        "spark.sql.legacy.javaCharsets": "true",
        "spark.default.parallelism": str(settings.spark_shuffle_partitions),
        "spark.databricks.delta.snapshotPartitions": "2",
        # Delta re-derives a table's whole file list after every commit when the session time
        # zone is not UTC, to guard timestamp *partition* values. Ours are dates and strings, and
        # the check costs a small commit most of its time.
        "spark.databricks.delta.allFilesInCrc.verificationMode.forceOnNonUTC.enabled": "false",
        "spark.sql.warehouse.dir": str(settings.var_dir / "warehouse"),
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.ui.enabled": "true" if ui else "false",
        # A day runs a few thousand small jobs; the UI keeps them all (Spark keeps 1,000), so a
        # task's jobs can be counted from the server's job list when the day is done.
        "spark.ui.retainedJobs": "20000",
        "spark.ui.retainedStages": "40000",
        "spark.ui.showConsoleProgress": "false",
        "spark.jars": ",".join(str(j) for j in cached_jars(settings.jar_dir)),
        # The throughput collector: a day is batch work on two cores, where G1's concurrent
        # threads buy short pauses nobody waits for and cost CPU the loads need.
        "spark.driver.extraJavaOptions": (
            f"-XX:+UseParallelGC -Dderby.system.home={settings.var_dir / 'derby'} "
            f"{JVM_ZONE_OPTION} {settings.spark_java_options}"
        ).strip(),
    }
    # Executors of a standalone cluster are JVMs of their own: the same zone as the driver's.
    conf["spark.executor.extraJavaOptions"] = (
        f"-XX:+UseParallelGC {JVM_ZONE_OPTION} {settings.spark_java_options}"
    ).strip()
    if settings.lake_root.startswith("s3a://"):
        conf.update(s3a_conf(settings))
    return conf


def s3a_conf(settings: Settings) -> dict[str, str]:
    """S3A settings for the lake's bucket, and the S3A jars on the class path.

    Per bucket (``fs.s3a.bucket.<bucket>.*``): the lake's store is one store among others a
    job may read (the source systems' exchange store is another), so its endpoint must not
    become every bucket's. Path-style addressing because S3-compatible stores do not resolve
    bucket sub-domains. The jars go on ``extraClassPath`` (every worker of this deployment
    sees the same cache path), not ``spark.jars``: nothing is copied to the executors.
    Credentials never enter the configuration: S3A's default chain reads ``AWS_ACCESS_KEY_ID``
    and ``AWS_SECRET_ACCESS_KEY`` from the environment of the driver and of each worker.
    """
    from enforcement_brain.lake.s3 import DEFAULT_S3_REGION, S3Location
    from enforcement_brain.spark.jars import cached_s3a_jars

    classpath = ":".join(str(j) for j in cached_s3a_jars(settings.s3a_jar_dir))
    prefix = f"spark.hadoop.fs.s3a.bucket.{S3Location.parse(settings.lake_root).bucket}."
    conf = {
        "spark.driver.extraClassPath": classpath,
        "spark.executor.extraClassPath": classpath,
        prefix + "path.style.access": "true",
        prefix + "endpoint.region": settings.s3_region or DEFAULT_S3_REGION,
    }
    if settings.s3_endpoint:
        conf[prefix + "endpoint"] = settings.s3_endpoint
        conf[prefix + "connection.ssl.enabled"] = str(
            settings.s3_endpoint.startswith("https://")
        ).lower()
    return conf


def require_java() -> str:
    """Path to ``java``, or a one-line error saying how to get it."""
    java = shutil.which("java")
    if java is None and not os.environ.get("JAVA_HOME"):
        raise SetupError("Java 17 is not installed: apt-get install openjdk-17-jre-headless")
    return java or os.path.join(os.environ["JAVA_HOME"], "bin", "java")


def check_zones(session: SparkSession) -> None:
    """Fail with a coded :class:`ClockError` if the session's, its JVM's and this process's
    zones disagree (``lake.doctor.clock_findings``)."""
    row = session.sql(ZONES_SQL).collect()[0]
    require_clock(row["session_tz"], row["jvm_tz"])


def get_spark(settings: Settings) -> SparkSession:
    """The process's session for these settings (created once, then reused).

    The zones are checked before the session is handed out, so a load never writes dates
    under a mismatched clock: this process's zone before a JVM is started or attached, the
    session's and the JVM's once it runs (the same query doubles as the Connect server's
    reachability probe).
    """
    # One local JVM per process, whatever the lake: tests give each test its own lake.
    key = settings.spark_remote or "local"
    session = _SESSIONS.get(key)
    if session is not None:
        return session
    from pyspark.sql import SparkSession

    require_clock(PLATFORM_TZ, None)

    if settings.spark_remote:
        if not settings.spark_remote.startswith("sc://"):
            raise ConfigError(
                f"EB_SPARK_REMOTE={settings.spark_remote!r} must look like sc://host:port"
            )
        try:
            session = SparkSession.builder.remote(settings.spark_remote).getOrCreate()
            row = session.sql(ZONES_SQL).collect()[0]
        except Exception as exc:  # the client raises several gRPC error types
            raise SetupError(
                f"cannot reach the Spark Connect server at {settings.spark_remote}: "
                "start it with `eb spark start` (or unset EB_SPARK_REMOTE for a local session)"
            ) from exc
        require_clock(row["session_tz"], row["jvm_tz"])
    else:
        require_java()
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = SparkSession.builder.master(settings.spark_master).appName("enforcement-brain")
        for k, v in spark_conf(settings).items():
            builder = builder.config(k, v)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("WARN")
        check_zones(session)
    _SESSIONS[key] = session
    return session


def stop_all() -> None:
    """Stop every session this process opened (tests and CLI exit paths)."""
    for session in _SESSIONS.values():
        with contextlib.suppress(Exception):
            session.stop()
    _SESSIONS.clear()
