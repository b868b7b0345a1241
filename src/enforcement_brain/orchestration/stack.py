"""A real Airflow deployment for the main job: API server, scheduler and DAG processor.

``make run`` starts the three Airflow 3 components with the LocalExecutor on the SQLite
metadata DB, triggers the day's ingest DAGs through Airflow's public REST API, lets the
scheduler run them in parallel and lets Asset events trigger the publish and share DAGs, then
stops everything. What runs is what a deployment runs; only the executor is the local one, or,
with ``EB_AIRFLOW_EXECUTOR=CeleryExecutor``, Celery workers on the cluster profile's PostgreSQL
and Redis (:mod:`enforcement_brain.cluster.airflow_side`).

The client side speaks plain HTTP (``urllib``): this process never imports Airflow, so its
configuration cannot leak into the platform's own process.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from enforcement_brain.errors import EbError, SetupError
from enforcement_brain.orchestration.airflow_cli import (
    airflow_bin,
    airflow_env,
    default_db_url,
    ensure_db,
    first_error,
)
from enforcement_brain.settings import Settings
from enforcement_brain.spark.server import port_open

COMPONENTS = ("api-server", "scheduler", "dag-processor")
#: The one user of the main job's API server (simple auth manager, admin role).
API_USER = "engineer"
TERMINAL = frozenset({"success", "failed"})


class AirflowError(EbError):
    """The Airflow deployment did not start or refused a request."""


def stack_env(settings: Settings, spark_remote: str) -> dict[str, str]:
    """Environment of every component: one place, so they cannot disagree."""
    port = settings.airflow_port
    env = airflow_env(settings, spark_remote)
    env.update(
        {
            "AIRFLOW__CORE__EXECUTOR": settings.airflow_executor,
            "AIRFLOW__CORE__PARALLELISM": str(settings.airflow_parallelism),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{API_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(_passwords_file(settings)),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            # One worker: each costs ~5 s of CPU to start and ~300 MB, and one client polls.
            "AIRFLOW__API__WORKERS": "1",
            # The DAG files do not change during a run: parse them once, not every 30 s.
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "3600",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "EB_CRON": "off",
        }
    )
    return env


def _passwords_file(settings: Settings) -> Path:
    return settings.airflow_home / "simple_auth_manager_passwords.json"


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])


def component_command(name: str) -> list[str]:
    """The command of one Airflow component; the scheduler preloads the task libraries (see
    :mod:`enforcement_brain.orchestration.scheduler`)."""
    if name == "scheduler":
        python = str(Path(airflow_bin()).parent / "python")
        return [python, "-m", "enforcement_brain.orchestration.scheduler"]
    return [airflow_bin(), name]


@dataclass
class DagRunState:
    dag_id: str
    run_id: str
    state: str
    seconds: float | None
    triggered_by: str = ""
    start: str = ""
    end: str = ""
    error: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    #: Seconds its task waited for an executor slot (queued → started), from Airflow.
    wait_seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.state == "success"


@dataclass
class AirflowStack:
    """The running components and a small client for the public REST API."""

    settings: Settings
    spark_remote: str
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    token: str = ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.airflow_port}"

    @property
    def log_dir(self) -> Path:
        return self.settings.run_dir / "airflow"

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 180.0) -> None:
        """Create or upgrade the metadata DB, start the components, and wait until the API
        answers and the scheduler and DAG processor are healthy."""
        port = self.settings.airflow_port
        if port_open(port):
            raise SetupError(
                f"port {port} is taken (an Airflow started by `make airflow`?): stop it or set "
                "EB_AIRFLOW_PORT to a free port"
            )
        env = stack_env(self.settings, self.spark_remote)
        if self.settings.airflow_executor == "CeleryExecutor" and env[
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
        ] == default_db_url(self.settings):
            raise SetupError(
                "EB_AIRFLOW_EXECUTOR=CeleryExecutor needs the cluster's database and broker in "
                "the environment (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, AIRFLOW__CELERY__BROKER_URL)"
                ": start the cluster and use the settings it prints"
            )
        ensure_db(self.settings, env)
        password = self._password()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name in COMPONENTS:
            log = (self.log_dir / f"{name}.log").open("w")
            self.procs[name] = subprocess.Popen(
                self.settings.batch_command(component_command(name)),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # stop() signals the component and its children
            )
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            health = self._health()
            if health and all(
                (health.get(part) or {}).get("status") == "healthy"
                for part in ("metadatabase", "scheduler", "dag_processor")
            ):
                break
            if time.monotonic() > deadline:
                raise AirflowError(
                    f"Airflow did not become healthy in {timeout:.0f} s; logs in {self.log_dir}"
                )
            time.sleep(1.0)
        self.token = self._login(password)

    def stop(self) -> None:
        """SIGTERM every component (and its task processes), SIGKILL what is left after 15 s.

        A SIGINT or SIGTERM to this process while it runs is held and acted on right after:
        ``eb run`` turns them into KeyboardInterrupt / SystemExit, which must not cut this
        clean-up short and leave the scheduler running. ``timeout`` and process supervisors
        send one signal to the whole process group and then another to the job itself, so the
        second one often arrives here. Handlers are swapped rather than the signals blocked: a
        blocked signal can still be taken by another thread, and Python then runs its handler
        in the main thread all the same.
        """
        if threading.current_thread() is not threading.main_thread():
            self._stop()  # only the main thread can set handlers (and receives the signals)
            return
        held: list[int] = []
        kinds = (signal.SIGINT, signal.SIGTERM)
        previous = {s: signal.signal(s, lambda signum, _frame: held.append(signum)) for s in kinds}
        try:
            self._stop()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        if held:
            signal.raise_signal(held[0])

    def _stop(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()

    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                log = self.log_dir / f"{name}.log"
                raise AirflowError(
                    f"airflow {name} exited with code {proc.returncode}: {_tail(log)} "
                    f"(full log {log})"
                )

    def _password(self) -> str:
        """The API user's password: generated once, kept in AIRFLOW_HOME (mode 600)."""
        path = _passwords_file(self.settings)
        known: dict[str, str] = {}
        if path.exists():
            with contextlib.suppress(ValueError):
                known = json.loads(path.read_text())
        if API_USER not in known:
            known[API_USER] = secrets.token_urlsafe(18)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(known))
            path.chmod(0o600)
        return known[API_USER]

    def _health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"{self.base_url}/api/v2/monitor/health", timeout=5) as r:
                return json.loads(r.read())
        except (OSError, ValueError):
            return None

    def _login(self, password: str) -> str:
        body = json.dumps({"username": API_USER, "password": password}).encode()
        request = urllib.request.Request(
            f"{self.base_url}/auth/token",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())["access_token"]
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:200].decode(errors="replace")
            raise AirflowError(f"Airflow refused the login ({exc.code}): {detail}") from None

    # -- REST --------------------------------------------------------------------------------
    def api(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, ok: tuple = ()
    ) -> Any:
        """One call of Airflow's public REST API (``/api/v2``); errors name the call.

        A 5xx (the metadata DB busy for a moment) is retried a few times; ``ok`` lists HTTP
        codes that count as success (409 for a run that a retried trigger already created).
        """
        request = urllib.request.Request(
            f"{self.base_url}/api/v2/{path.lstrip('/')}",
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            method=method,
        )
        for attempt in range(5):
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    raw = response.read()
                return json.loads(raw) if raw else None
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode(errors="replace")[:300]
                if exc.code in ok:
                    return None
                if exc.code < 500 or attempt == 4:
                    raise AirflowError(
                        f"{method} /api/v2/{path}: HTTP {exc.code} {detail}"
                    ) from None
            except OSError as exc:
                if attempt == 4:
                    raise AirflowError(f"{method} /api/v2/{path}: {exc}") from None
            time.sleep(1.0 + attempt)
        raise AssertionError("unreachable")

    def wait_parsed(self, dag_ids: list[str], timeout: float = 180.0) -> None:
        """Wait until the DAG processor has put every DAG in the DB; import errors fail fast."""
        deadline = time.monotonic() + timeout
        wanted = set(dag_ids)
        while True:
            self._check_alive()
            errors = self.api("GET", "importErrors?limit=10").get("import_errors", [])
            if errors:
                first = errors[0]
                stack = str(first.get("stack_trace", "")).strip().splitlines()
                raise AirflowError(
                    f"DAG file {first.get('filename')} does not import: "
                    f"{stack[-1] if stack else '?'}"
                )
            known = {d["dag_id"] for d in self.api("GET", "dags?limit=1000")["dags"]}
            if wanted <= known:
                return
            if time.monotonic() > deadline:
                missing = ", ".join(sorted(wanted - known)[:5])
                raise AirflowError(f"DAGs not parsed after {timeout:.0f} s: {missing}")
            time.sleep(1.0)

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"dags/{urllib.parse.quote(dag_id)}", {"is_paused": False})

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any]) -> None:
        self.api(
            "POST",
            f"dags/{urllib.parse.quote(dag_id)}/dagRuns",
            {"dag_run_id": run_id, "logical_date": None, "conf": conf},
            ok=(409,),  # already there: an earlier attempt got through before its answer failed
        )

    def runs_since(self, dag_ids: list[str], since: dt.datetime) -> list[dict[str, Any]]:
        """Every run of these DAGs that started after ``since`` (newest first)."""
        body = {
            "dag_ids": dag_ids,
            "run_after_gte": since.isoformat(),
            "page_limit": 1000,
            "order_by": "-run_after",
        }
        return self.api("POST", "dags/~/dagRuns/list", body)["dag_runs"]

    def task_result(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        """The task's return value (its XCom), or {} if it has none."""
        path = (
            f"dags/{urllib.parse.quote(dag_id)}/dagRuns/{urllib.parse.quote(run_id)}/"
            f"taskInstances/{task_id}/xcomEntries/return_value?deserialize=true"
        )
        try:
            value = self.api("GET", path).get("value")
        except AirflowError:
            return {}
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        return value if isinstance(value, dict) else {}

    def task_wait(self, dag_id: str, run_id: str) -> float | None:
        """Seconds the run's tasks waited for an executor slot: queued until started."""
        path = (
            f"dags/{urllib.parse.quote(dag_id)}/dagRuns/{urllib.parse.quote(run_id)}/taskInstances"
        )
        try:
            instances = self.api("GET", path).get("task_instances") or []
        except AirflowError:
            return None
        waits = [
            (_instant(ti["start_date"]) - _instant(ti["queued_when"])).total_seconds()
            for ti in instances
            if ti.get("start_date") and ti.get("queued_when")
        ]
        return round(sum(waits), 3) if waits else None

    def task_error(self, dag_id: str, run_id: str) -> str:
        """The first error line of the run's failed task logs (no stack trace)."""
        folder = self.settings.airflow_home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
        for log in sorted(folder.glob("task_id=*/attempt=*.log"), reverse=True):
            message = first_error(_log_text(log))
            if message:
                return message
        return f"see the task logs under {folder}"


def _log_text(path: Path) -> str:
    """Task logs are JSON lines in Airflow 3: flatten events and exception values to text."""
    out: list[str] = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            out.append(line)
            continue
        if not isinstance(record, dict):
            continue
        for exc in record.get("error_detail") or []:
            if isinstance(exc, dict):
                out.append(f"{exc.get('exc_type', 'Error')}: {exc.get('exc_value', '')}")
        out.append(str(record.get("event", "")))
    return "\n".join(out)


@contextlib.contextmanager
def running_stack(settings: Settings, spark_remote: str) -> Iterator[AirflowStack]:
    """Start the deployment for the block; it is always stopped afterwards."""
    stack = AirflowStack(settings, spark_remote)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


#: DAGs scheduled on *any* of the silver Assets, with the task whose result lists the sources it
#: covered: a day takes as many of their runs as it takes, and is covered when every source
#: that loaded is in some run's result.
BATCHED = {"validate_silver": "validate"}


def run_dags(
    stack: AirflowStack,
    day: dt.date,
    triggered: list[str],
    downstream: list[str],
    *,
    say: Callable[[str], None] = print,
    settle_seconds: float = 20.0,
    timeout: float = 3 * 3600.0,
) -> list[DagRunState]:
    """Trigger ``triggered`` for ``day``; wait for them and for the Asset-triggered
    ``downstream`` DAGs. A downstream DAG that does not start within ``settle_seconds`` of
    everything else finishing is reported as not run (an upstream load failed)."""
    everything = triggered + downstream
    stack.wait_parsed(everything)
    for dag_id in everything:
        stack.unpause(dag_id)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    for dag_id in triggered:
        stack.trigger(dag_id, f"eb__{day.isoformat()}__{stamp}", {"date": day.isoformat()})
    say(f"    triggered {len(triggered)} ingest DAG(s) for {day}; {len(downstream)} follow")
    deadline = time.monotonic() + timeout
    reported: set[str] = set()
    results: dict[tuple[str, str], dict[str, Any]] = {}
    idle_since: float | None = None
    while True:
        stack._check_alive()
        every_run = stack.runs_since(everything, since)
        runs = {r["dag_id"]: r for r in reversed(every_run)}  # the newest of each DAG
        loaded = {
            d.removeprefix("ingest_")
            for d, r in runs.items()
            if d.startswith("ingest_") and r["state"] == "success"
        }
        done = {
            d
            for d in everything
            if d in runs
            and (
                _covered(stack, d, every_run, loaded, results)
                if d in BATCHED
                else runs[d]["state"] in TERMINAL
            )
        }
        for dag_id in sorted(done - reported):
            reported.add(dag_id)
            r = runs[dag_id]
            mark = "✓" if r["state"] == "success" else "✗"
            say(f"    {mark} {dag_id} {_seconds(r) or 0:.1f} s ({len(reported)}/{len(everything)})")
        busy = any(r["state"] not in TERMINAL for r in runs.values())
        if done == set(everything):
            break
        if busy:
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > settle_seconds:
            break
        if time.monotonic() > deadline:
            raise AirflowError(f"the day's DAG runs did not finish in {timeout:.0f} s")
        time.sleep(2.0)
    out: list[DagRunState] = []
    for dag_id in everything:
        r = runs.get(dag_id)
        if r is None:
            out.append(DagRunState(dag_id, "", "not run", None, error="an upstream load failed"))
            continue
        if dag_id in BATCHED:
            out.append(_batched_state(stack, dag_id, every_run, results))
            continue
        state = DagRunState(
            dag_id,
            r["dag_run_id"],
            r["state"],
            _seconds(r),
            str(r.get("run_type", "")),
            r.get("start_date") or "",
            r.get("end_date") or "",
        )
        if state.ok:
            state.wait_seconds = stack.task_wait(dag_id, state.run_id)
        if state.ok and dag_id.startswith("ingest_"):
            state.result = stack.task_result(dag_id, state.run_id, "load")
        elif not state.ok:
            state.error = stack.task_error(dag_id, state.run_id)
        out.append(state)
    return out


def _batch_result(
    stack: AirflowStack, dag_id: str, run: dict[str, Any], results: dict[tuple[str, str], Any]
) -> dict[str, Any]:
    """A finished run's task result, asked once."""
    key = (dag_id, run["dag_run_id"])
    if key not in results:
        results[key] = stack.task_result(dag_id, run["dag_run_id"], BATCHED[dag_id])
    return results[key]


def _covered(
    stack: AirflowStack,
    dag_id: str,
    every_run: list[dict[str, Any]],
    loaded: set[str],
    results: dict[tuple[str, str], Any],
) -> bool:
    """Whether a batched DAG is done for the day: its runs have all ended, and one has failed
    or together they covered every source that loaded."""
    mine = [r for r in every_run if r["dag_id"] == dag_id]
    if not mine or any(r["state"] not in TERMINAL for r in mine):
        return False
    if any(r["state"] != "success" for r in mine):
        return True
    covered = {
        s for r in mine for s in _batch_result(stack, dag_id, r, results).get("validated", [])
    }
    return loaded <= covered


def _batched_state(
    stack: AirflowStack,
    dag_id: str,
    every_run: list[dict[str, Any]],
    results: dict[tuple[str, str], Any],
) -> DagRunState:
    """One state for a batched DAG's runs of the day: failed if one failed; its time is the
    sum of its runs' (they overlap nothing else of theirs), from the first start to the last end."""
    mine = sorted(
        (r for r in every_run if r["dag_id"] == dag_id), key=lambda r: r.get("start_date") or ""
    )
    failed = [r for r in mine if r["state"] != "success"]
    newest = failed[0] if failed else mine[-1]
    seconds = [x for x in (_seconds(r) for r in mine) if x is not None]
    waits = [stack.task_wait(dag_id, r["dag_run_id"]) for r in mine if r["state"] == "success"]
    state = DagRunState(
        dag_id,
        newest["dag_run_id"],
        newest["state"],
        round(sum(seconds), 3) if seconds else None,
        str(newest.get("run_type", "")),
        mine[0].get("start_date") or "",
        max((r.get("end_date") or "" for r in mine), default=""),
        wait_seconds=round(sum(w for w in waits if w is not None), 3) if waits else None,
    )
    if failed:
        state.error = stack.task_error(dag_id, newest["dag_run_id"])
    else:
        state.result = {
            "runs": len(mine),
            "validated": sorted(
                {
                    s
                    for r in mine
                    for s in _batch_result(stack, dag_id, r, results).get("validated", [])
                }
            ),
        }
    return state


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def phases(runs: list[DagRunState]) -> dict[str, float]:
    """Wall time of each phase (ingest, validate, publish, share): first start to last end; and
    the time GX validation went on after every other DAG run had ended."""
    out: dict[str, float] = {}
    for phase in ("ingest", "validate", "publish", "share"):
        spans = [
            (dt.datetime.fromisoformat(r.start), dt.datetime.fromisoformat(r.end))
            for r in runs
            if r.dag_id.startswith(f"{phase}_") and r.start and r.end
        ]
        if spans:
            first, last = min(s for s, _ in spans), max(e for _, e in spans)
            out[phase] = round((last - first).total_seconds(), 1)
    # How long the day waited for GX after everything else had ended (0: it did not).
    ends = [
        (r.dag_id.startswith("validate_"), dt.datetime.fromisoformat(r.end)) for r in runs if r.end
    ]
    checks, others = [e for v, e in ends if v], [e for v, e in ends if not v]
    if checks and others:
        out["validation after the rest"] = round(
            max(0.0, (max(checks) - max(others)).total_seconds()), 1
        )
    return out


def _seconds(run: dict[str, Any]) -> float | None:
    start, end = run.get("start_date"), run.get("end_date")
    if not start or not end:
        return None
    return (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds()
