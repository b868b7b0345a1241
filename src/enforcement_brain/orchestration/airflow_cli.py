"""Drive the real Airflow 3 CLI for the platform: its environment, DB set-up, ``dags test``.

The main job runs each DAG through ``airflow dags test`` (a real DAG run in Airflow's metadata DB,
tasks executed by Airflow), not by calling Python functions: what runs here is what the
scheduler runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from enforcement_brain.errors import SetupError
from enforcement_brain.settings import Settings


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
    env.setdefault(
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{settings.airflow_home / 'airflow.db'}"
    )
    if spark_remote:
        env["EB_SPARK_REMOTE"] = spark_remote
    return env


def airflow_bin() -> str:
    path = Path(sys.executable).parent / "airflow"
    if not path.exists():
        raise SetupError("the airflow command is missing from the venv: run `make setup`")
    return str(path)


def ensure_db(settings: Settings) -> None:
    """Create or upgrade Airflow's metadata DB (idempotent, ~4 s on SQLite).

    A stamp with the Airflow version skips the migration when nothing changed.
    """
    import importlib.metadata

    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    stamp = settings.airflow_home / ".migrated"
    version = importlib.metadata.version("apache-airflow")
    uses_default_db = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in os.environ
    if uses_default_db and stamp.exists() and stamp.read_text() == version:
        return
    proc = subprocess.run(
        [airflow_bin(), "db", "migrate"],
        env=airflow_env(settings),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise SetupError(f"`airflow db migrate` failed: {tail}")
    stamp.write_text(version)


@dataclass(frozen=True)
class DagRunResult:
    dag_id: str
    ok: bool
    seconds: float
    log: Path
    error: str = ""


def dags_test(settings: Settings, dag_id: str, day: str, spark_remote: str) -> DagRunResult:
    """``airflow dags test <dag_id> <day>``; output goes to a log file under var/run/."""
    log_dir = settings.run_dir / "dag-tests" / day
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{dag_id}.log"
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.run(
            [airflow_bin(), "dags", "test", dag_id, day],
            env=airflow_env(settings, spark_remote),
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    seconds = time.monotonic() - started
    text = log.read_text(errors="replace")
    failed = proc.returncode != 0 or "state=failed" in text or "DagRunState.FAILED" in text
    error = first_error(text) if failed else ""
    if failed and not error:
        error = f"see {log}"
    return DagRunResult(dag_id, not failed, seconds, log, error)


_ERROR_LINE = re.compile(r"^(?:[\w.]+\.)?(\w*(?:Error|Exception|Failed)): (.+)$")


def first_error(log_text: str) -> str:
    """The first exception line in a task log, without the stack trace around it."""
    for line in log_text.splitlines():
        match = _ERROR_LINE.match(line.strip())
        if match:
            return f"{match.group(1)}: {match.group(2).strip()}"[:400]
    return ""
