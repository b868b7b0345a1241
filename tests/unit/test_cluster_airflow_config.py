"""The cluster profile's Airflow side, without starting anything: which executor and queues the
settings choose, the environment every Airflow node gets, and the one-line set-up errors."""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path

import pytest
from conftest import free_port, make_settings

from enforcement_brain.cluster import airflow_side
from enforcement_brain.errors import ConfigError, SetupError
from enforcement_brain.orchestration.defaults import DEFAULT_ARGS, QUEUES, default_args
from enforcement_brain.orchestration.stack import AirflowStack, stack_env
from enforcement_brain.settings import REPO_ROOT


def test_embedded_profile_keeps_every_task_on_the_default_queue(tmp_path, monkeypatch):
    monkeypatch.delenv("EB_AIRFLOW_EXECUTOR", raising=False)
    settings = make_settings(tmp_path / "var")
    assert settings.airflow_executor == "LocalExecutor"
    assert default_args("load", settings) == DEFAULT_ARGS
    assert "queue" not in default_args("publish", settings)
    assert stack_env(settings, "")["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"


def test_celery_profile_routes_loads_and_publishing_to_their_queues(tmp_path):
    settings = make_settings(tmp_path / "var", EB_AIRFLOW_EXECUTOR="CeleryExecutor")
    assert default_args("load", settings) == {**DEFAULT_ARGS, "queue": "loads"}
    assert default_args("publish", settings) == {**DEFAULT_ARGS, "queue": "publish"}
    assert QUEUES == {"load": "loads", "publish": "publish"}
    with pytest.raises(KeyError):
        default_args("nonsense", settings)


def test_executor_setting_is_checked(tmp_path):
    with pytest.raises(ConfigError, match="EB_AIRFLOW_EXECUTOR"):
        make_settings(tmp_path / "var", EB_AIRFLOW_EXECUTOR="KubernetesExecutor")


def test_worker_layout_defaults_to_one_worker_per_queue(tmp_path):
    settings = make_settings(tmp_path / "var")
    assert settings.celery_worker_queues == (("loads", "default"), ("publish", "default"))
    custom = make_settings(tmp_path / "var", EB_CELERY_WORKER_QUEUES="qa,shared; qb,shared")
    assert custom.celery_worker_queues == (("qa", "shared"), ("qb", "shared"))
    with pytest.raises(ConfigError, match="EB_CELERY_WORKER_QUEUES"):
        make_settings(tmp_path / "var", EB_CELERY_WORKER_QUEUES="qa;;")


def test_every_node_gets_one_database_broker_and_jwt_secret(tmp_path, monkeypatch):
    settings = make_settings(
        tmp_path / "var",
        EB_AIRFLOW_EXECUTOR="CeleryExecutor",
        EB_CLUSTER_PG_PORT="25432",
        EB_CLUSTER_REDIS_PORT="26379",
    )
    first = airflow_side.airflow_env(settings)
    again = airflow_side.node_env(settings, stack_env(settings, "sc://x:1"))
    secrets = json.loads((tmp_path / "var" / "cluster" / "secrets.json").read_text())
    password = secrets["pg_password"]
    assert (tmp_path / "var" / "cluster" / "secrets.json").stat().st_mode & 0o777 == 0o600
    assert first["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == (
        f"postgresql+psycopg2://eb:{password}@127.0.0.1:25432/airflow"
    )
    assert first["AIRFLOW__CELERY__BROKER_URL"] == (
        f"redis://:{secrets['redis_password']}@127.0.0.1:26379/0"
    )
    assert first["AIRFLOW__CELERY__RESULT_BACKEND"] == (
        f"db+postgresql://eb:{password}@127.0.0.1:25432/airflow"
    )
    assert first["AIRFLOW__API_AUTH__JWT_SECRET"] == secrets["jwt_secret"]
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__API_AUTH__JWT_SECRET"):
        assert again[key] == first[key]
    assert again["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert airflow_side.client_env(settings)["EB_GOVERNANCE_DB_URL"] == (
        f"postgresql+psycopg2://eb:{password}@127.0.0.1:25432/governance"
    )
    assert airflow_side.client_env(settings)["EB_AIRFLOW_EXECUTOR"] == "CeleryExecutor"
    # A database set by hand wins over the cluster's own.
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql://elsewhere/af")
    mine = airflow_side.node_env(settings, stack_env(settings, ""))
    assert mine["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql://elsewhere/af"
    assert mine["AIRFLOW__CELERY__BROKER_URL"] == first["AIRFLOW__CELERY__BROKER_URL"]
    names = [c.name for c in airflow_side.components(settings)]
    assert names == ["postgresql", "redis", "celery-loads", "celery-publish"]


def test_missing_postgres_programs_name_the_debian_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no pg_config
    monkeypatch.setattr(airflow_side, "PG_BINDIR", tmp_path / "postgresql" / "15" / "bin")
    settings = make_settings(tmp_path / "var", EB_CLUSTER_PG_PORT=str(free_port()))
    with pytest.raises(SetupError, match=r"^PostgreSQL 15 .* apt-get install postgresql-15$"):
        airflow_side.postgres(settings).start()
    assert not (tmp_path / "var" / "cluster" / "pg").exists()


def test_missing_redis_server_names_the_debian_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    settings = make_settings(tmp_path / "var", EB_CLUSTER_REDIS_PORT=str(free_port()))
    with pytest.raises(SetupError, match=r"^redis-server .* apt-get install redis-server$"):
        airflow_side.redis(settings).start()


@pytest.mark.parametrize(
    ("component", "setting"),
    [("postgres", "EB_CLUSTER_PG_PORT"), ("redis", "EB_CLUSTER_REDIS_PORT")],
)
def test_a_taken_port_names_its_setting(tmp_path, component, setting):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        settings = make_settings(tmp_path / "var", **{setting: str(port)})
        with pytest.raises(SetupError, match=rf"port {port} is taken.*{setting}"):
            getattr(airflow_side, component)(settings).start()
    assert not (Path(tmp_path) / "var" / "cluster" / "pg" / "data").exists()


def test_a_worker_needs_postgresql_and_redis_up_first(tmp_path):
    pg_port = free_port()
    settings = make_settings(
        tmp_path / "var",
        EB_CLUSTER_PG_PORT=str(pg_port),
        EB_CLUSTER_WORKER_LOG_PORT=str(free_port()),
    )
    first = airflow_side.workers(settings)[0]
    message = f"PostgreSQL does not answer on port {pg_port} (EB_CLUSTER_PG_PORT): start it first"
    with pytest.raises(SetupError, match=f"^{re.escape(message)}$"):
        first.start()
    assert not first.daemon.pid_file.exists()


def test_the_celery_stack_refuses_to_start_on_the_embedded_database(tmp_path, monkeypatch):
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__BROKER_URL"):
        monkeypatch.delenv(key, raising=False)
    settings = make_settings(
        tmp_path / "var", EB_AIRFLOW_EXECUTOR="CeleryExecutor", EB_AIRFLOW_PORT=str(free_port())
    )
    with pytest.raises(SetupError, match=r"^EB_AIRFLOW_EXECUTOR=CeleryExecutor needs .*"):
        AirflowStack(settings, "").start()
    assert not (tmp_path / "var" / "airflow" / "airflow.db").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="PostgreSQL runs as its own account only for root")
def test_a_data_folder_the_postgres_account_cannot_reach_is_named(tmp_path):
    # pytest's temporary folders are mode 700: the postgres account cannot enter them.
    settings = make_settings(tmp_path / "var", EB_CLUSTER_PG_PORT=str(free_port()))
    folder = tmp_path / "var" / "cluster" / "pg"
    message = (
        f"the 'postgres' account cannot reach {folder}: make its parent folders traversable "
        "(chmod o+x) or set EB_VAR_DIR to a folder it can reach"
    )
    with pytest.raises(SetupError, match=f"^{re.escape(message)}$"):
        airflow_side.postgres(settings).start()
    assert not (folder / "data").exists()


@pytest.mark.parametrize("executor", ["LocalExecutor", "CeleryExecutor"])
def test_the_dags_put_loads_and_publishing_on_their_queues_only_under_celery(
    tmp_path, monkeypatch, executor
):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    monkeypatch.setenv("EB_AIRFLOW_EXECUTOR", executor)
    bag = DagBag(str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    work = {"ingest": "load", "validate": "load", "maintain": "load"}
    work |= {"publish": "publish", "share": "publish"}
    queues = {
        (dag_id.split("_")[0], task.queue) for dag_id, dag in bag.dags.items() for task in dag.tasks
    }
    if executor == "LocalExecutor":
        assert {queue for _, queue in queues} == {"default"}
    else:
        assert queues == {(kind, QUEUES[work[kind]]) for kind in work}


def test_task_processes_reach_the_lake_store_a_worker_was_started_for(tmp_path, monkeypatch):
    """A Celery worker is started by ``eb cluster start``, whose own environment names no
    store: the tasks it runs must get the lake's store, the source systems' store and the
    region from the settings the worker was started with."""
    from enforcement_brain.orchestration.airflow_cli import airflow_env

    for name in ("EB_S3_ENDPOINT", "EB_OBJECTS_URL", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    settings = make_settings(
        tmp_path / "var",
        EB_LAKE_ROOT="s3a://eb-lake/lake",
        EB_S3_ENDPOINT="http://127.0.0.1:7070",
        EB_OBJECTS_URL="http://127.0.0.1:7071",
        AWS_REGION="us-east-1",
    )
    env = airflow_env(settings)
    assert {k: env.get(k) for k in ("EB_LAKE_ROOT", "EB_S3_ENDPOINT", "EB_OBJECTS_URL")} == {
        "EB_LAKE_ROOT": "s3a://eb-lake/lake",
        "EB_S3_ENDPOINT": "http://127.0.0.1:7070",
        "EB_OBJECTS_URL": "http://127.0.0.1:7071",
    }
    assert env["AWS_REGION"] == "us-east-1"
    assert "EB_S3_ENDPOINT" not in airflow_env(make_settings(tmp_path / "embedded"))
