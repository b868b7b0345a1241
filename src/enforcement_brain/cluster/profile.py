"""``eb cluster start|stop|status``: the cluster profile's components on loopback.

The components, in start order: the S3 store (versitygw), the Spark standalone master, its
workers, the Spark Connect server submitting to that master with Delta and S3A on its class
path, then Airflow's side (:mod:`.airflow_side`): PostgreSQL, Redis and the Celery workers.
Each is a :class:`~enforcement_brain.spark.server.Daemon` with its log and pid
under ``<var>/cluster/`` (the Connect server keeps its usual place, ``<var>/run/``: it is the
same server ``eb spark`` manages). Stop goes in the reverse order.

**One writer JVM.** Every write to the lake goes through the one Connect server: the Airflow
tasks are its thin clients, and the executors on the workers write data files but never
commit. Delta's default log store for ``s3a://`` (``S3SingleDriverLogStore``) makes commits
from the threads of one driver safe (it serialises them in that JVM), not commits from two
drivers: S3 has no put-if-absent that every S3-compatible store honours. So this profile
runs no second driver that writes; a deployment that needs one configures Delta's
DynamoDB log store instead (``infra/``). ``docs/design.md`` says the same.

A run on the cluster reads its settings from ``<var>/cluster/env`` (written at start, mode
0600 because it may hold the local store's generated keys): ``make run PROFILE=cluster``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from enforcement_brain.cluster import airflow_side, spark_side, storage
from enforcement_brain.declarations.catalog import load_catalog
from enforcement_brain.errors import SetupError
from enforcement_brain.lake.s3 import DEFAULT_S3_REGION, S3Location, check_lake_store
from enforcement_brain.settings import Settings
from enforcement_brain.spark import server
from enforcement_brain.spark.jars import resolve_s3a_jars
from enforcement_brain.spark.server import Daemon, ServerStatus


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    status: ServerStatus


#: The cluster's lake unless ``EB_LAKE_ROOT`` names an ``s3a://`` one.
DEFAULT_LAKE_ROOT = "s3a://eb-lake/lake"


def lake_root(settings: Settings) -> str:
    """The cluster's lake: ``EB_LAKE_ROOT`` when it is ``s3a://``, else
    :data:`DEFAULT_LAKE_ROOT`; its bucket is created on the store."""
    return settings.lake_root if settings.lake_root.startswith("s3a://") else DEFAULT_LAKE_ROOT


def run_settings(settings: Settings) -> Settings:
    """``settings`` as a run on this cluster sees them (what the ``env`` file sets)."""
    extra = dict(settings.extra)
    extra["EB_S3_ENDPOINT"] = storage.endpoint(settings)
    extra["EB_OBJECTS_URL"] = storage.endpoint(settings)
    extra.setdefault("AWS_REGION", DEFAULT_S3_REGION)
    return dataclasses.replace(
        settings,
        lake_root=lake_root(settings),
        spark_master=spark_side.master_url(settings),
        spark_remote=server.url(settings),
        extra=extra,
    )


def run_environment(settings: Settings) -> dict[str, str]:
    """The variables a run on this cluster needs, without credentials."""
    run = run_settings(settings)
    return {
        "EB_LAKE_ROOT": run.lake_root,
        "EB_SPARK_MASTER": run.spark_master,
        "EB_SPARK_REMOTE": run.spark_remote,
        "EB_S3_ENDPOINT": run.s3_endpoint,
        "EB_OBJECTS_URL": run.objects_url,
        "AWS_REGION": run.s3_region or DEFAULT_S3_REGION,
    }


def env_file(settings: Settings) -> Path:
    return settings.cluster_dir / "env"


def components(settings: Settings, *, airflow: bool = True) -> list[tuple[str, Daemon]]:
    """Every component, in start order (without Airflow's side when ``airflow`` is False)."""
    return [
        ("s3 (versitygw)", storage.daemon(settings)),
        ("spark master", spark_side.master(settings)),
        *((f"spark worker {i}", d) for i, d in enumerate(spark_side.workers(settings))),
        ("spark connect", server.connect_daemon(settings)),
        *((c.name, c.daemon) for c in (airflow_side.components(settings) if airflow else [])),
    ]


def source_buckets(settings: Settings) -> list[str]:
    """The buckets the object sources declare (their systems deliver there)."""
    catalog = load_catalog(settings.standards_dir)
    found = {s.delivery.bucket for s in catalog.sources.values() if s.delivery.bucket}
    return sorted(str(b) for b in found)


def start(
    settings: Settings, env: Mapping[str, str] | None = None, *, airflow: bool = True
) -> list[ComponentStatus]:
    """Start every component not yet running, in dependency order; write the ``env`` file.
    ``airflow=False`` leaves out Airflow's side (for what needs only the store and Spark).

    Everything that can be wrong before a process starts is checked first (credentials,
    ports, the versitygw binary, the S3A jars), so a bad input costs a one-line error and
    leaves nothing behind. If a component then fails to come up, the components this call
    started are stopped again.
    """
    storage.given_credentials(env)
    for _, daemon in components(settings, airflow=airflow):
        daemon.running()  # a port held by another program: one line naming its setting
    connect = server.connect_daemon(settings)
    if connect.status().running and not env_file(settings).exists():
        raise SetupError(
            "a Spark Connect server not started by `eb cluster start` runs on port "
            f"{connect.port}: stop it (eb spark stop) or set EB_SPARK_CONNECT_PORT"
        )
    storage.binary(settings)
    resolve_s3a_jars(settings.s3a_jar_dir)
    keys = storage.credentials(settings, env)
    settings.cluster_dir.mkdir(parents=True, exist_ok=True)
    before = {name for name, d in components(settings, airflow=airflow) if d.status().running}
    run = run_settings(settings)
    process_env = {**keys, "SPARK_LOCAL_IP": "127.0.0.1"}
    try:
        storage.start(settings, keys)
        lake_bucket = S3Location.parse(run.lake_root).bucket
        storage.create_buckets(settings, keys, [lake_bucket, *source_buckets(settings)])
        check_lake_store(run, keys)
        spark_side.start_master(settings)
        # The workers and the Connect server need only the master: they start side by side.
        with ThreadPoolExecutor(2) as pool:
            workers = pool.submit(spark_side.start_workers, settings, keys)
            connect = pool.submit(server.start, run, env=process_env)
            workers.result(), connect.result()
        if airflow:  # its workers run the day's tasks against this lake and Connect server
            airflow_side.start_all(run, run.spark_remote, extra_env=keys)
    except BaseException:
        for name, daemon in reversed(components(settings, airflow=airflow)):
            if name not in before:
                daemon.stop()
        raise
    _write_env(settings, keys, generated=env_keys_unset(env))
    return status(settings)


def env_keys_unset(env: Mapping[str, str] | None) -> bool:
    environment = os.environ if env is None else env
    return not environment.get("AWS_ACCESS_KEY_ID")


def _write_env(settings: Settings, keys: Mapping[str, str], *, generated: bool) -> None:
    """``<var>/cluster/env``: ``KEY=value`` lines for a shell's ``set -a; .`` and make's
    ``include``; the generated keys only when the cluster drew them (else the caller's
    environment has them)."""
    run = {**run_environment(settings), **airflow_side.client_env(settings)}
    lines = [f"{k}={v}" for k, v in run.items()]
    if generated:
        lines += [f"{k}={v}" for k, v in keys.items()]
    path = env_file(settings)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("# eb cluster start: the settings of a run on this cluster\n")
        out.writelines(line + "\n" for line in lines)


def stop(settings: Settings) -> list[tuple[str, bool]]:
    """Stop every component, in reverse order; (name, was running) for each."""
    airflow = airflow_side.components(settings)
    out = [(c.name, c.stop()) for c in reversed(airflow)]  # PostgreSQL's own shutdown signal
    names = {c.name for c in airflow}
    out += [(n, d.stop()) for n, d in reversed(components(settings)) if n not in names]
    env_file(settings).unlink(missing_ok=True)
    return out


def status(settings: Settings) -> list[ComponentStatus]:
    return [ComponentStatus(name, d.status()) for name, d in components(settings)]


def status_table(rows: list[ComponentStatus]) -> str:
    """The components as a fixed-width table, for ``eb cluster status``."""
    header = ("component", "state", "pid", "address", "log")
    body = [
        (
            r.name,
            "running" if r.status.running else "stopped",
            str(r.status.pid or "-"),
            r.status.url,
            str(r.status.log),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *body]
    )
