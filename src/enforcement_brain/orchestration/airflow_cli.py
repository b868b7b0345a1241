"""The Airflow 3 CLI for the platform: its environment, the metadata DB, log parsing.

Every Airflow process the platform starts (the components of :mod:`.stack`, ``make airflow``,
an engineer's ``airflow dags test``) gets its environment from :func:`airflow_env`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from enforcement_brain.errors import SetupError
from enforcement_brain.settings import Settings

#: Settings that locate the object stores (the lake's and the source systems'), passed on to
#: every Airflow process with the lake root. Credentials are not settings: they travel in the
#: ``AWS_*`` variables of the environment.
STORE_KEYS = ("EB_S3_ENDPOINT", "EB_OBJECTS_URL", "AWS_REGION", "AWS_DEFAULT_REGION")


def airflow_env(settings: Settings, spark_remote: str | None = None) -> dict[str, str]:
    """Environment for Airflow processes, derived from the platform settings."""
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(settings.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(settings.home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Shanghai",
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "60",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(settings.airflow_home / "logs"),
            # The venv's bin first: Airflow spawns `airflow` subprocesses by name.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            "EB_HOME": str(settings.home),
            "EB_VAR_DIR": str(settings.var_dir),
            "EB_LAKE_ROOT": settings.lake_root,
        }
    )
    # The stores a task reaches, as these settings resolved them: a Celery worker is started
    # by `eb cluster start`, whose own environment names none of them.
    env.update({k: settings.extra[k] for k in STORE_KEYS if k in settings.extra})
    env.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", default_db_url(settings))
    if spark_remote:
        env["EB_SPARK_REMOTE"] = spark_remote
    # OpenLineage: the provider emits every task's START/COMPLETE/FAIL; by default to files
    # under var/lineage/, unless the usual OPENLINEAGE_* variables (or the provider's own
    # AIRFLOW__OPENLINEAGE__* options, kept as given) say where.
    env.setdefault("AIRFLOW__OPENLINEAGE__NAMESPACE", settings.lineage_namespace)
    transport = settings.lineage_transport
    if transport is not None:
        Path(str(transport["log_file_path"])).parent.mkdir(parents=True, exist_ok=True)
        env.setdefault("AIRFLOW__OPENLINEAGE__TRANSPORT", json.dumps(transport))
    return env


def default_db_url(settings: Settings) -> str:
    """The embedded profile's metadata DB: SQLite in ``AIRFLOW_HOME``."""
    return f"sqlite:///{settings.airflow_home / 'airflow.db'}"


def airflow_bin() -> str:
    path = Path(sys.executable).parent / "airflow"
    if not path.exists():
        raise SetupError("the airflow command is missing from the venv: run `make setup`")
    return str(path)


def ensure_db(settings: Settings, env: Mapping[str, str] | None = None) -> None:
    """Create or upgrade Airflow's metadata DB (idempotent, ~4 s on SQLite).

    ``env`` is the environment of the Airflow processes (default :func:`airflow_env`); a
    stamp with the Airflow version skips the migration of the default SQLite DB when nothing
    changed.
    """
    import importlib.metadata

    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    stamp = settings.airflow_home / ".migrated"
    version = importlib.metadata.version("apache-airflow")
    env = dict(env) if env is not None else airflow_env(settings)
    uses_default_db = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == default_db_url(settings)
    if uses_default_db and stamp.exists() and stamp.read_text() == version:
        use_wal(settings.airflow_home / "airflow.db")
        return
    proc = subprocess.run(
        [airflow_bin(), "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise SetupError(f"`airflow db migrate` failed: {tail}")
    use_wal(settings.airflow_home / "airflow.db")
    stamp.write_text(version)


def use_wal(db: Path) -> None:
    """Put Airflow's SQLite DB in write-ahead-log mode (a setting kept in the file).

    The scheduler, the API server (for the tasks' execution API and the main job's requests)
    and the DAG processor write the one file at once; in SQLite's default mode a reader blocks
    a writer, and a busy moment ends in "database is locked" (seen: a trigger request got a
    500). With WAL, readers never block the writer.
    """
    import sqlite3

    if not db.exists():
        return
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")


_ERROR_LINE = re.compile(r"^(?:[\w.]+\.)?(\w*(?:Error|Exception|Failed)): (.+)$")


def first_error(log_text: str) -> str:
    """The first exception line in a task log, without the stack trace around it."""
    for line in log_text.splitlines():
        match = _ERROR_LINE.match(line.strip())
        if match:
            return f"{match.group(1)}: {match.group(2).strip()}"[:400]
    return ""
