"""One day on both profiles: the embedded one (a local lake, the LocalExecutor) and the cluster
one (`eb cluster start`: the lake on versitygw, Spark standalone, Airflow on PostgreSQL and
Celery), through the same `eb run`. Both must account for every row, and every table must hold
the same rows on both, run stamps and the places files came from aside.

The cluster run must also write nothing to local disk under its var folder but logs, the
components' own data (``cluster/``) and Airflow's files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port, free_ports, reachable_root

from enforcement_brain.lake import tables
from enforcement_brain.lake.tables import RUN_HISTORY_TABLES, RUN_STAMP_COLUMNS
from enforcement_brain.settings import REPO_ROOT, load_settings

pytestmark = [pytest.mark.e2e, pytest.mark.cluster, pytest.mark.slow]

DAY = "2026-11-28"
SCALE = "0.002"

#: Columns that say where a file was read from: a local path on one profile, an S3 URI on the
#: other; the file names in them are compared, not the folders.
LOCATION_COLUMNS = frozenset({"_source_file", "file", "origin"})

#: What the cluster run may leave on local disk under its var folder: the components' data and
#: logs, Airflow's home, the run's logs and summary, and the generator's answer key and source
#: database (the source systems' side, not the platform's).
LOCAL_ALLOWED = {
    "airflow",
    "cluster",
    "run",
    "ground_truth",
    "sources",
    "lineage",
    "lake.lock",
    ".lake.lock.guard",
}


def _eb(env: dict[str, str], *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "enforcement_brain.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
    )


def _base_env(var: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("EB_SPARK_REMOTE", "EB_LAKE_ROOT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(name, None)
    env.update(
        {
            "EB_VAR_DIR": str(var),
            "EB_SPARK_CONNECT_PORT": str(free_port()),
            "EB_AIRFLOW_PORT": str(free_port()),
            "EB_INTERFACE_PORT": str(free_port()),
            "EB_SQL_PORT": str(free_port()),
            "EB_SPARK_DRIVER_MEMORY": "2g",
        }
    )
    return env


def _run_day(env: dict[str, str]) -> dict[str, Any]:
    proc = _eb(env, "run", "--date", DAY, "--scale", SCALE)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((Path(env["EB_VAR_DIR"]) / "run" / f"summary-{DAY}.json").read_text())


@pytest.fixture(scope="module")
def embedded(tmp_path_factory) -> Iterator[tuple[dict[str, str], dict[str, Any]]]:
    env = _base_env(tmp_path_factory.mktemp("embedded-var"))
    try:
        yield env, _run_day(env)
    finally:
        _eb(env, "spark", "stop", timeout=120)


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[dict[str, str], dict[str, Any]]]:
    root = reachable_root("eb-cluster-day-")  # PostgreSQL's account must reach its folder
    var = root / "var"
    env = _base_env(var)
    master = free_ports(3)  # the master, then its two workers
    env.update(
        {
            "EB_CLUSTER_S3_PORT": str(free_port()),
            "EB_CLUSTER_MASTER_PORT": str(master),
            "EB_CLUSTER_PG_PORT": str(free_port()),
            "EB_CLUSTER_REDIS_PORT": str(free_port()),
            "EB_CLUSTER_WORKER_LOG_PORT": str(free_port()),
        }
    )
    try:
        started = _eb(env, "cluster", "start", timeout=900)
        assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
        env_file = var / "cluster" / "env"
        for line in env_file.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, value = line.split("=", 1)
                env[key] = value
        yield env, _run_day(env)
    finally:
        _eb(env, "cluster", "stop", timeout=300)
        shutil.rmtree(root, ignore_errors=True)


def _snapshot(env: dict[str, str]) -> dict[str, list[tuple]]:
    """Every table's rows, sorted, read with delta-rs; run stamps dropped, file locations
    reduced to the file's name."""
    settings = load_settings(env)
    with pytest.MonkeyPatch.context() as mp:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            if key in env:
                mp.setenv(key, env[key])
        out = {}
        for layer, table in tables.lake_tables(settings):
            data = tables.open_delta(settings, layer, table).to_pyarrow_table()
            keep = [c for c in data.column_names if c not in RUN_STAMP_COLUMNS]
            rows = []
            for row in data.select(keep).to_pylist():
                for column in LOCATION_COLUMNS & row.keys():
                    if isinstance(row[column], str):
                        row[column] = row[column].rsplit("/", 1)[-1]
                rows.append(tuple((k, repr(v)) for k, v in sorted(row.items())))
            out[f"{layer}.{table}"] = sorted(rows)
    return out


def test_the_day_runs_on_the_cluster_with_exact_accounting(cluster) -> None:
    _, summary = cluster
    assert summary["ok"], [r for r in summary["dag_runs"] if not r["ok"]]
    for batch in summary["batches"]:
        assert batch["reconciles"], batch
        assert batch["rows_in"] == summary["generated"][batch["source"]], batch


@pytest.mark.xfail(
    strict=True,
    reason="the GX results (var/gx) and the Connect server's catalog folder (var/warehouse) "
    "are still written to local disk on the cluster profile",
)
def test_the_cluster_writes_nothing_local_but_logs_and_component_data(cluster) -> None:
    env, _ = cluster
    var = Path(env["EB_VAR_DIR"])
    assert not (var / "lake").exists() and not (var / "objects").exists()
    assert {p.name for p in var.iterdir()} <= LOCAL_ALLOWED


def test_every_table_holds_the_same_rows_on_both_profiles(embedded, cluster) -> None:
    (embedded_env, embedded_summary), (cluster_env, cluster_summary) = embedded, cluster
    assert embedded_summary["ok"] and cluster_summary["ok"]
    local, remote = _snapshot(embedded_env), _snapshot(cluster_env)
    assert sorted(remote) == sorted(local)
    for name in local:
        if name in RUN_HISTORY_TABLES or name == "ops.landing_log":
            # Histories of runs: durations, attempts and landing times differ by design.
            continue
        assert remote[name] == local[name], name
