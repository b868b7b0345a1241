"""The one place that resolves the environment.

Every path, URL and knob the platform uses is derived here from environment variables, with an
embedded default that runs on one laptop: the lake in a local folder, Spark ``local[*]`` (or the
platform's own Spark Connect server), Airflow metadata and source databases in SQLite. The same
code accepts a cluster master URL and an ``s3a://`` lake root: nothing else in the code base knows
where things live. The README lists every variable; ``eb settings`` prints the resolved values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from enforcement_brain.errors import ConfigError

#: The repository root, when the package is installed in editable mode from a clone.
REPO_ROOT = Path(__file__).resolve().parents[2]

#: Layers of the lake, in the order data flows through them.
#: The platform's time zone: every source writes local time without an offset, so the Spark
#: session, its JVM and the schedules read times in this zone (``spark.session``, ``eb doctor``).
PLATFORM_TZ = "Asia/Shanghai"

LAYERS = ("landing", "bronze", "silver", "quarantine", "gold", "share", "ops")

#: The agency's time zone: a business day runs from midnight to midnight here (Xuzhou, UTC+8),
#: whatever the zone of the machine that loads or reports on it.
BUSINESS_TZ = "Asia/Shanghai"

#: Airflow executors the platform runs on: one machine, or the cluster profile's Celery workers.
EXECUTORS = ("LocalExecutor", "CeleryExecutor")


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. Build it with :func:`load_settings`, never by hand in production."""

    home: Path
    var_dir: Path
    lake_root: str
    standards_dir: Path
    jar_dir: Path
    spark_master: str
    spark_remote: str
    spark_connect_port: int
    spark_driver_memory: str
    spark_shuffle_partitions: int
    source_db_url: str
    governance_db_url: str
    airflow_home: Path
    interface_host: str
    interface_port: int
    seed: int
    scale: float
    defect_rate: float
    extra: dict[str, str] = field(default_factory=dict)

    # -- derived locations -------------------------------------------------------------------
    @property
    def lake_is_local(self) -> bool:
        """True when the lake is a folder on this machine (not ``s3a://`` or another scheme)."""
        return "://" not in self.lake_root or self.lake_root.startswith("file://")

    @property
    def objects_root(self) -> Path:
        """The local stand-in for the source systems' object store: ``<root>/<bucket>/<key>``.

        Sources that deliver objects under a bucket prefix (GPS alarms, video AI events...) are
        fetched from here into landing when :attr:`objects_url` is empty; ``EB_OBJECTS_ROOT``
        moves it.
        """
        return Path(self.extra.get("EB_OBJECTS_ROOT") or self.var_dir / "objects")

    @property
    def objects_url(self) -> str:
        """Where object sources are fetched from (``EB_OBJECTS_URL``); empty: :attr:`objects_root`.

        ``s3://`` is Amazon S3 (endpoint and region resolved by boto3); ``http(s)://host:port``
        is any S3-compatible store (MinIO, Ceph...). A setting of its own, not
        ``EB_S3_ENDPOINT``: the source systems' store and the lake's store are different systems
        with different owners. Credentials are never settings: boto3 reads the usual ``AWS_*``
        variables. The buckets are the ones each source declares.
        """
        raw = self.extra.get("EB_OBJECTS_URL", "").strip()
        if raw and not raw.startswith(("s3://", "http://", "https://")):
            raise ConfigError(
                f"EB_OBJECTS_URL={raw!r}: use s3:// (Amazon S3) or http(s)://host:port "
                "(an S3-compatible endpoint), or leave it empty for the local stand-in"
            )
        return raw if raw.startswith("s3://") else raw.rstrip("/")

    @property
    def s3_endpoint(self) -> str:
        """The lake's own S3-compatible store for an ``s3a://`` lake (``EB_S3_ENDPOINT``,
        ``http(s)://host:port``); empty: Amazon S3, the endpoint resolved by each client.

        One value for every reader of the lake (Spark's S3A, delta-rs, boto3), so they cannot
        address different stores. Credentials are never settings: the clients read the usual
        ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``.
        """
        raw = self.extra.get("EB_S3_ENDPOINT", "").strip()
        if raw and not raw.startswith(("http://", "https://")):
            raise ConfigError(
                f"EB_S3_ENDPOINT={raw!r}: use http(s)://host:port, or leave it empty for Amazon S3"
            )
        return raw.rstrip("/")

    @property
    def s3_region(self) -> str | None:
        """Region of the lake's store: ``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else None.

        Resolved here because boto3 reads only ``AWS_DEFAULT_REGION`` and delta-rs both: a
        presigned URL signed for another region than the bucket's is refused by S3.
        """
        raw = self.extra.get("AWS_REGION", "").strip() or self.extra.get("AWS_DEFAULT_REGION", "")
        return raw.strip() or None

    @property
    def run_sources(self) -> tuple[str, ...]:
        """Sources the main job runs (``EB_SOURCES``, comma-separated); empty means all."""
        raw = self.extra.get("EB_SOURCES", "")
        return tuple(s.strip() for s in raw.split(",") if s.strip())

    @property
    def airflow_port(self) -> int:
        """Port of the Airflow API server the main job starts (``EB_AIRFLOW_PORT``)."""
        return _int(self.extra, "EB_AIRFLOW_PORT", 8080)

    @property
    def spark_java_options(self) -> str:
        """JVM options added to every Spark driver and executor the platform starts
        (``EB_SPARK_JAVA_OPTIONS``; empty by default), after the platform's own (the collector
        and the zone), so that one given here wins."""
        return self.extra.get("EB_SPARK_JAVA_OPTIONS", "").strip()

    @property
    def batch_nice(self) -> int:
        """CPU niceness of the batch processes the platform starts: the Spark Connect server and
        Airflow with its tasks (``EB_BATCH_NICE``, 0-19, default 10).

        Partners and analysts wait on the interface service and the SQL endpoint; the daily
        load waits on nobody. On a shared host the batch therefore yields the CPU to them when
        both want it, and loses nothing when they are idle (niceness only orders contention).
        0 runs the batch at normal priority.
        """
        value = _int(self.extra, "EB_BATCH_NICE", 10)
        if not 0 <= value <= 19:
            raise ConfigError(f"EB_BATCH_NICE={value} must be between 0 and 19")
        return value

    def batch_command(self, command: list[str]) -> list[str]:
        """``command`` run at :attr:`batch_nice` (through ``nice``, which execs it: same pid)."""
        return ["nice", "-n", str(self.batch_nice), *command] if self.batch_nice else command

    @property
    def airflow_parallelism(self) -> int:
        """Tasks the main job's LocalExecutor runs at once (``EB_AIRFLOW_PARALLELISM``).

        Three on two cores: the Connect server does the heavy work, and a third task process
        keeps it busy while another pays its start-up cost.
        """
        value = _int(self.extra, "EB_AIRFLOW_PARALLELISM", 3)
        if not 1 <= value <= 32:
            raise ConfigError(f"EB_AIRFLOW_PARALLELISM={value} must be between 1 and 32")
        return value

    @property
    def airflow_executor(self) -> str:
        """Airflow's executor (``EB_AIRFLOW_EXECUTOR``): ``LocalExecutor`` (embedded, default)
        or ``CeleryExecutor`` (the cluster profile: metadata on PostgreSQL, tasks sent through
        Redis to Celery workers, see :mod:`enforcement_brain.cluster.airflow_side`)."""
        raw = self.extra.get("EB_AIRFLOW_EXECUTOR", "").strip() or "LocalExecutor"
        if raw not in EXECUTORS:
            raise ConfigError(f"EB_AIRFLOW_EXECUTOR={raw!r} must be one of {', '.join(EXECUTORS)}")
        return raw

    @property
    def cluster_pg_port(self) -> int:
        """Port of the cluster profile's PostgreSQL on 127.0.0.1 (``EB_CLUSTER_PG_PORT``, default
        15432: beside, not on, a system PostgreSQL's 5432)."""
        return _port(self.extra, "EB_CLUSTER_PG_PORT", 15432)

    @property
    def cluster_redis_port(self) -> int:
        """Port of the cluster profile's Redis, the Celery broker (``EB_CLUSTER_REDIS_PORT``,
        default 16379: beside, not on, a system Redis's 6379)."""
        return _port(self.extra, "EB_CLUSTER_REDIS_PORT", 16379)

    @property
    def cluster_worker_log_port(self) -> int:
        """Port of the first Celery worker's log server (``EB_CLUSTER_WORKER_LOG_PORT``, default
        18793: not Airflow's own 8793, which an embedded Airflow on the machine may hold);
        worker *i* listens on this port + *i*."""
        return _port(self.extra, "EB_CLUSTER_WORKER_LOG_PORT", 18793)

    @property
    def celery_worker_queues(self) -> tuple[tuple[str, ...], ...]:
        """The Celery workers the cluster profile starts and the queues each serves
        (``EB_CELERY_WORKER_QUEUES``: workers separated by ``;``, queues by ``,``).

        Default: one worker for the loads and one for publishing, both also serving Airflow's
        ``default`` queue (the names are declared in ``orchestration.defaults.QUEUES``).
        """
        raw = (
            self.extra.get("EB_CELERY_WORKER_QUEUES", "").strip() or "loads,default;publish,default"
        )
        workers = tuple(
            tuple(q.strip() for q in worker.split(",") if q.strip()) for worker in raw.split(";")
        )
        if not workers or any(not queues for queues in workers):
            raise ConfigError(
                f"EB_CELERY_WORKER_QUEUES={raw!r}: list each worker's queues, workers separated "
                "by ';' and queues by ',' (e.g. loads,default;publish,default)"
            )
        return workers

    @property
    def cron_enabled(self) -> bool:
        """Whether ingest DAGs carry their cron schedule (``EB_CRON``, default on).

        The main job turns it off: it triggers the day it was asked for, and an unpaused DAG
        with a cron would also start a run for the latest scheduled interval.
        """
        raw = self.extra.get("EB_CRON", "on").strip().lower()
        if raw not in {"on", "off"}:
            raise ConfigError(f"EB_CRON={raw!r} must be on or off")
        return raw == "on"

    @property
    def sharing_port(self) -> int:
        """Port of the partner-facing Delta Sharing service (``EB_SHARING_PORT``).

        Defaults to ``EB_INTERFACE_PORT`` (8090): the sharing service *is* the interface service.
        """
        return _int(self.extra, "EB_SHARING_PORT", self.interface_port)

    @property
    def sharing_endpoint(self) -> str:
        """The URL partners reach the service at, written into their profile files.

        ``EB_SHARING_ENDPOINT`` when the service sits behind a proxy or a public host name;
        otherwise ``http://<EB_INTERFACE_HOST>:<port>/delta-sharing``.
        """
        raw = self.extra.get("EB_SHARING_ENDPOINT", "").strip()
        return raw.rstrip("/") or f"http://{self.interface_host}:{self.sharing_port}/delta-sharing"

    @property
    def sharing_secret(self) -> str | None:
        """HMAC key for the service's signed file URLs (``EB_SHARING_SECRET``), never a default.

        ``None`` when unset: the service then draws a random key per process (URLs are
        short-lived, so one process needs no shared key; several replicas need this one).
        """
        raw = self.extra.get("EB_SHARING_SECRET", "")
        return raw or None

    @property
    def sharing_workers(self) -> int:
        """Worker processes of the sharing service (``EB_SHARING_WORKERS``, default 2).

        The handlers are Python: one process uses one core at a time, so a second worker lets
        a slow page (a large Delta log read the first time) not hold up every other partner's
        metadata request. With more than one, the signing key must be shared: ``eb serve``
        draws one for its workers when ``EB_SHARING_SECRET`` is unset.
        """
        value = _int(self.extra, "EB_SHARING_WORKERS", 2)
        if not 1 <= value <= 64:
            raise ConfigError(f"EB_SHARING_WORKERS={value} must be between 1 and 64")
        return value

    @property
    def sharing_quota_file(self) -> Path | None:
        """The requests-per-minute table the workers of one ``eb serve`` share.

        ``eb serve`` writes a new one at every start and sets ``EB_SHARING_QUOTA_FILE`` for its
        workers (as it does the signing key), so it is not set by hand. ``None``: an app built
        in-process (tests) counts in its own memory.
        """
        raw = self.extra.get("EB_SHARING_QUOTA_FILE", "").strip()
        return Path(raw) if raw else None

    @property
    def sharing_url_ttl_seconds(self) -> int:
        """Lifetime of a signed file URL (``EB_SHARING_URL_TTL``, seconds, default 900)."""
        value = _int(self.extra, "EB_SHARING_URL_TTL", 900)
        if not 1 <= value <= 86400:
            raise ConfigError(f"EB_SHARING_URL_TTL={value} must be between 1 and 86400 seconds")
        return value

    @property
    def console_host(self) -> str:
        """Address the operators' console binds to (``EB_CONSOLE_HOST``, default 127.0.0.1).

        Loopback by default: the console has no login of its own and shows quarantined rows as
        delivered (plates, identity numbers), so exposing it is a deliberate choice, behind a
        proxy that authenticates.
        """
        return self.extra.get("EB_CONSOLE_HOST", "").strip() or "127.0.0.1"

    @property
    def console_port(self) -> int:
        """Port of the operators' console, ``eb console`` (``EB_CONSOLE_PORT``, default 8091)."""
        value = _int(self.extra, "EB_CONSOLE_PORT", 8091)
        if not 1 <= value <= 65535:
            raise ConfigError(f"EB_CONSOLE_PORT={value} is not a TCP port")
        return value

    @property
    def console_url(self) -> str:
        """Where an operator on this machine opens the console."""
        return f"http://{self.console_host}:{self.console_port}/"

    @property
    def sql_port(self) -> int:
        """Port of the JDBC/ODBC SQL endpoint, the Spark Thrift server (``EB_SQL_PORT``).

        10000 is HiveServer2's port, the one BI tools and ``beeline`` assume.
        """
        value = _int(self.extra, "EB_SQL_PORT", 10000)
        if not 1 <= value <= 65535:
            raise ConfigError(f"EB_SQL_PORT={value} is not a TCP port")
        return value

    @property
    def sql_host(self) -> str:
        """Address the SQL endpoint binds to (``EB_SQL_HOST``, default 127.0.0.1).

        Loopback by default: the endpoint has no authentication of its own (HiveServer2
        ``NONE``), so exposing it to the network is a deliberate choice, behind a proxy or VPN.
        """
        return self.extra.get("EB_SQL_HOST", "").strip() or "127.0.0.1"

    @property
    def sql_refresh_seconds(self) -> float:
        """How often the SQL endpoint looks for new lake tables (``EB_SQL_REFRESH_SECONDS``)."""
        return _float(self.extra, "EB_SQL_REFRESH_SECONDS", 10.0, 0.5, 3600.0)

    @property
    def sql_driver_memory(self) -> str:
        """Driver memory of the SQL endpoint's JVM (``EB_SQL_DRIVER_MEMORY``, default 2g).

        Smaller than the Connect server's: it answers analysts' queries, the pipeline's heavy
        work runs elsewhere, and both JVMs may run at once on one machine.
        """
        return self.extra.get("EB_SQL_DRIVER_MEMORY", "").strip() or "2g"

    @property
    def maintenance_min_files(self) -> int:
        """A table is compacted only from this many data files on (``EB_MAINTENANCE_MIN_FILES``).

        Below it OPTIMIZE would rewrite a few files for no measurable gain in read time.
        """
        value = _int(self.extra, "EB_MAINTENANCE_MIN_FILES", 16)
        if value < 2:
            raise ConfigError(f"EB_MAINTENANCE_MIN_FILES={value} must be at least 2")
        return value

    @property
    def share_max_files(self) -> int:
        """A share table is compacted right after its projection once it holds more data files
        than this (``EB_SHARE_MAX_FILES``, default 4).

        Why here and not only in maintenance: a partner's query fetches every file it names,
        one request each, so the files of a share table are what a page costs; the share layer
        writes a file or two a day, and waiting for the maintenance pass would let them pile up.
        """
        value = _int(self.extra, "EB_SHARE_MAX_FILES", 4)
        if value < 1:
            raise ConfigError(f"EB_SHARE_MAX_FILES={value} must be at least 1")
        return value

    @property
    def maintenance_small_file_mb(self) -> float:
        """Mean file size under which a table counts as made of small files
        (``EB_MAINTENANCE_SMALL_FILE_MB``, default 32)."""
        return _float(self.extra, "EB_MAINTENANCE_SMALL_FILE_MB", 32.0, 0.001, 1024.0)

    @property
    def maintenance_default_retention_days(self) -> int:
        """Retention for tables Standard 2 declares none for, e.g. ``ops.*``
        (``EB_MAINTENANCE_DEFAULT_RETENTION_DAYS``, default 30).

        30 days is Delta's own default log retention; never below Delta's 7-day file-retention
        safety default: only a declaration in the standard may go shorter.
        """
        value = _int(self.extra, "EB_MAINTENANCE_DEFAULT_RETENTION_DAYS", 30)
        if value < 7:
            raise ConfigError(
                f"EB_MAINTENANCE_DEFAULT_RETENTION_DAYS={value} is below Delta's 7-day safety "
                "default; a shorter retention must be declared in the standard"
            )
        return value

    @property
    def db_lookback_days(self) -> int:
        """Earlier day windows a relational source's load sweeps for late rows
        (``EB_DB_LOOKBACK_DAYS``, default 7; 0 pulls the day's window only, though a rerun
        still re-reads the windows its batch swept before).

        A front database commits some rows after the day they are stamped with (a long
        transaction, a batch that re-imports a day): a week catches what the agency's systems
        deliver late in practice, at the price of re-reading seven small windows per load.
        """
        value = _int(self.extra, "EB_DB_LOOKBACK_DAYS", 7)
        if not 0 <= value <= 90:
            raise ConfigError(f"EB_DB_LOOKBACK_DAYS={value} must be between 0 and 90")
        return value

    # -- the cluster profile (``eb cluster``): storage and Spark -------------------------------
    @property
    def cluster_dir(self) -> Path:
        """Logs, pid files, data folders and the ``env`` file of ``eb cluster``'s components."""
        return self.var_dir / "cluster"

    def _cluster_port(self, name: str, default: int) -> int:
        value = _int(self.extra, name, default)
        if not 1 <= value <= 65535:
            raise ConfigError(f"{name}={value} is not a TCP port")
        return value

    @property
    def cluster_s3_port(self) -> int:
        """Port of the cluster's S3-compatible store, versitygw (``EB_CLUSTER_S3_PORT``, 7070)."""
        return self._cluster_port("EB_CLUSTER_S3_PORT", 7070)

    @property
    def cluster_master_port(self) -> int:
        """Port of the Spark standalone master (``EB_CLUSTER_MASTER_PORT``, default 7077);
        worker ``i`` listens on the next, plus ``i``. The web UIs take free ports."""
        return self._cluster_port("EB_CLUSTER_MASTER_PORT", 7077)

    @property
    def versitygw_binary(self) -> Path:
        """The versitygw binary: ``<home>/.cache/bin/versitygw``, built there once with
        ``go install`` when the cluster first asks for it."""
        return self.home / ".cache" / "bin" / "versitygw"

    @property
    def s3a_jar_dir(self) -> Path:
        """Cache of the S3A jars (hadoop-aws and the AWS SDK v2 modules): ``<home>/.cache/
        s3a-jars``, fetched by ``eb cluster start`` only, as an ``s3a://`` lake needs them."""
        return self.home / ".cache" / "s3a-jars"

    @property
    def local_lake(self) -> Path:
        """The lake as a local path; only meaningful when :attr:`lake_is_local`."""
        return Path(self.lake_root.removeprefix("file://"))

    def layer_uri(self, layer: str) -> str:
        """URI of one layer's folder, e.g. ``<lake>/silver``."""
        if layer not in LAYERS:
            raise ConfigError(f"unknown lake layer {layer!r}; layers are {', '.join(LAYERS)}")
        return f"{self.lake_root.rstrip('/')}/{layer}"

    def table_uri(self, layer: str, table: str) -> str:
        """URI of one Delta table: ``<lake>/<layer>/<table>``. The lake is self-describing."""
        return f"{self.layer_uri(layer)}/{table}"

    @property
    def landing_uri(self) -> str:
        return self.layer_uri("landing")

    # -- lineage -------------------------------------------------------------------------------
    @property
    def lineage_disabled(self) -> bool:
        """OpenLineage off (``OPENLINEAGE_DISABLED``: the client and the provider both read it)."""
        return self.extra.get("OPENLINEAGE_DISABLED", "").strip().lower() in {"true", "1", "t"}

    @property
    def lineage_namespace(self) -> str:
        """The OpenLineage namespace of the platform's jobs (``OPENLINEAGE_NAMESPACE``)."""
        return self.extra.get("OPENLINEAGE_NAMESPACE") or "enforcement-brain"

    @property
    def lineage_transport(self) -> dict[str, object] | None:
        """Where OpenLineage events go when no ``OPENLINEAGE_*`` variable says: one JSON file per
        event under ``var/lineage/`` (files, so concurrent task processes never interleave).

        ``None`` when lineage is off or configured the usual OpenLineage way (``OPENLINEAGE_URL``,
        ``OPENLINEAGE_CONFIG``, ``OPENLINEAGE__TRANSPORT__*``): the Airflow provider and the
        client then read those themselves.
        """
        if self.lineage_disabled or any(k in self.extra for k in LINEAGE_TRANSPORT_KEYS):
            return None
        return {
            "type": "file",
            "log_file_path": str(self.var_dir / "lineage" / "events"),
            "append": False,
        }

    @property
    def run_dir(self) -> Path:
        """Where run summaries, server logs and pid files go."""
        return self.var_dir / "run"

    def as_public_dict(self) -> dict[str, str]:
        """Settings as strings with credentials in URLs masked, for ``eb settings`` and logs."""
        out: dict[str, str] = {}
        for key, value in asdict(self).items():
            if key == "extra":  # secrets live here (EB_SHARING_SECRET): never print them
                value = {k: ("***" if "SECRET" in k else v) for k, v in value.items()}
            text = str(value)
            if key.endswith("_url") and "@" in text:
                scheme, _, rest = text.partition("://")
                text = f"{scheme}://***@{rest.split('@', 1)[1]}"
            out[key] = text
        return out


#: Knobs kept as text and read through properties of :class:`Settings`.
EXTRA_KEYS = (
    "EB_OBJECTS_ROOT",
    "EB_OBJECTS_URL",
    "EB_SOURCES",
    "EB_AIRFLOW_PORT",
    "EB_AIRFLOW_PARALLELISM",
    "EB_CRON",
    "EB_AIRFLOW_EXECUTOR",
    "EB_CLUSTER_PG_PORT",
    "EB_CLUSTER_REDIS_PORT",
    "EB_CLUSTER_WORKER_LOG_PORT",
    "EB_CELERY_WORKER_QUEUES",
    "EB_SHARING_PORT",
    "EB_SHARING_ENDPOINT",
    "EB_SHARING_SECRET",
    "EB_SHARING_URL_TTL",
    "EB_SHARING_WORKERS",
    "EB_SHARING_QUOTA_FILE",
    "EB_SQL_PORT",
    "EB_SQL_HOST",
    "EB_CONSOLE_HOST",
    "EB_CONSOLE_PORT",
    "EB_SQL_REFRESH_SECONDS",
    "EB_SQL_DRIVER_MEMORY",
    "EB_MAINTENANCE_MIN_FILES",
    "EB_SHARE_MAX_FILES",
    "EB_MAINTENANCE_SMALL_FILE_MB",
    "EB_MAINTENANCE_DEFAULT_RETENTION_DAYS",
    "EB_DB_LOOKBACK_DAYS",
    "EB_BATCH_NICE",
    "EB_SPARK_JAVA_OPTIONS",
    "EB_S3_ENDPOINT",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "EB_CLUSTER_S3_PORT",
    "EB_CLUSTER_MASTER_PORT",
    "OPENLINEAGE_DISABLED",
    "OPENLINEAGE_NAMESPACE",
)

#: Variables that configure an OpenLineage transport: any of them replaces the default file.
LINEAGE_TRANSPORT_KEYS = (
    "OPENLINEAGE_URL",
    "OPENLINEAGE_CONFIG",
    "OPENLINEAGE__TRANSPORT__TYPE",
)


def _get(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "")
    return value if value.strip() else default


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = _get(env, name, str(default))
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if not 1 <= value <= 65535:
        raise ConfigError(f"{name}={value} is not a TCP port")
    return value


def _float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = _get(env, name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name}={raw} is out of range [{lo}, {hi}]")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Resolve settings from ``env`` (default: the process environment).

    Why a function and not module globals: tests build settings for a temporary lake without
    touching the process environment, and nothing is resolved at import time.
    """
    env = os.environ if env is None else env
    home = Path(_get(env, "EB_HOME", str(REPO_ROOT))).resolve()
    var_dir = Path(_get(env, "EB_VAR_DIR", str(home / "var"))).resolve()
    lake_root = _get(env, "EB_LAKE_ROOT", str(var_dir / "lake"))
    if "://" not in lake_root:
        lake_root = str(Path(lake_root).resolve())
    scheme = lake_root.split("://", 1)[0] if "://" in lake_root else "file"
    if scheme not in {"file", "s3a"}:
        raise ConfigError(f"EB_LAKE_ROOT={lake_root!r}: use a local folder or an s3a:// URI")
    airflow_home = Path(_get(env, "AIRFLOW_HOME", str(var_dir / "airflow"))).resolve()
    settings = Settings(
        home=home,
        var_dir=var_dir,
        lake_root=lake_root,
        standards_dir=Path(_get(env, "EB_STANDARDS_DIR", str(home / "data_standards"))),
        jar_dir=Path(_get(env, "EB_JAR_DIR", str(home / ".cache" / "jars"))),
        spark_master=_get(env, "EB_SPARK_MASTER", "local[*]"),
        spark_remote=env.get("EB_SPARK_REMOTE", "").strip(),
        spark_connect_port=_int(env, "EB_SPARK_CONNECT_PORT", 15002),
        spark_driver_memory=_get(env, "EB_SPARK_DRIVER_MEMORY", "6g"),
        spark_shuffle_partitions=_int(env, "EB_SPARK_SHUFFLE_PARTITIONS", 4),
        source_db_url=_get(
            env, "EB_SOURCE_DB_URL", f"sqlite:///{var_dir / 'sources' / 'case_system.db'}"
        ),
        governance_db_url=_get(
            env, "EB_GOVERNANCE_DB_URL", f"sqlite:///{var_dir / 'governance.db'}"
        ),
        airflow_home=airflow_home,
        interface_host=_get(env, "EB_INTERFACE_HOST", "127.0.0.1"),
        interface_port=_int(env, "EB_INTERFACE_PORT", 8090),
        seed=_int(env, "EB_SEED", 20250106),
        scale=_float(env, "EB_SCALE", 0.05, 0.0001, 10.0),
        defect_rate=_float(env, "EB_DEFECT_RATE", 0.01, 0.0, 0.5),
        extra={k: env[k] for k in (*EXTRA_KEYS, *LINEAGE_TRANSPORT_KEYS) if env.get(k)},
    )
    # The text knobs fail here, in one line, not later in the middle of a run.
    _ = (settings.airflow_port, settings.airflow_parallelism, settings.cron_enabled)
    _ = (
        settings.sharing_port,
        settings.sharing_url_ttl_seconds,
        settings.sharing_workers,
        settings.objects_url,
        settings.s3_endpoint,
    )
    _ = (settings.sql_port, settings.sql_refresh_seconds, settings.console_port)
    _ = (settings.maintenance_min_files, settings.maintenance_small_file_mb)
    _ = settings.share_max_files
    _ = (settings.maintenance_default_retention_days, settings.db_lookback_days)
    _ = settings.batch_nice
    _ = (settings.airflow_executor, settings.celery_worker_queues)
    _ = (settings.cluster_pg_port, settings.cluster_redis_port, settings.cluster_worker_log_port)
    _ = (settings.cluster_s3_port, settings.cluster_master_port)
    return settings
