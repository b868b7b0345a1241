"""Helpers for the sharing tests: a test copy of the standards, the service in a thread, profiles.

The standards copy adds test-only interfaces next to the real ``provincial_supervision`` so the
real declaration is exercised while nothing test-only lands in ``data_standards/``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import requests
from conftest import free_port, make_settings

from enforcement_brain.settings import REPO_ROOT, Settings

SECRET = "test-sharing-secret"

#: Rows of ``gold.kpi_monthly`` for a share table the tests serve (three KPI values, two months).
KPIS = [
    {"kpi_id": k, "kpi_name_zh": n, "unit": u, "value": v, "month": m}
    for k, n, u, v, m in [
        ("K01", "执法检查次数", "count", 120.0, dt.date(2026, 10, 1)),
        ("K02", "超限率", "ratio", 0.031, dt.date(2026, 10, 1)),
        ("K01", "执法检查次数", "count", 131.0, dt.date(2026, 11, 1)),
    ]
]

CITY_POLICE = """\
id: city_police
title: City traffic police (test-only interface)
consumer: 市公安局交警支队
clearance: L2
datasets:
  - dataset: overload_alerts
    columns: [alert_id, plate_no, gross_weight_kg, excess_rate, is_shuang_bai, biz_date]
    clear: {plate_no: intercepts the vehicle}
    row_filter: "is_shuang_bai"
    share_type: 有条件共享
    share_condition: the police act on 双百 vehicles only
quota: {requests_per_minute: 1000, rows_per_day: 1000000}
token_lifetime_days: 7
"""


def probe_interface(interface_id: str, *, requests_per_minute: int, rows_per_day: int) -> str:
    """A test-only interface's declaration (YAML): overload alerts with plates masked, and the
    quotas a test needs."""
    title = interface_id.replace("_", " ").capitalize()
    return f"""\
id: {interface_id}
title: {title} (test-only interface)
consumer: test
clearance: L2
datasets:
  - dataset: overload_alerts
    columns: [alert_id, plate_no, gross_weight_kg, excess_rate, is_shuang_bai, biz_date]
    masks: {{plate_no: plate}}
    share_type: 有条件共享
    share_condition: test only
quota: {{requests_per_minute: {requests_per_minute}, rows_per_day: {rows_per_day}}}
token_lifetime_days: 1
"""


QUOTA_PROBE = probe_interface("quota_probe", requests_per_minute=4, rows_per_day=3)


def standards_copy(tmp: Path) -> Path:
    """``data_standards/`` with the test-only interfaces added."""
    root = tmp / "data_standards"
    shutil.copytree(REPO_ROOT / "data_standards", root)
    (root / "interfaces" / "city_police.yaml").write_text(CITY_POLICE, encoding="utf-8")
    (root / "interfaces" / "quota_probe.yaml").write_text(QUOTA_PROBE, encoding="utf-8")
    return root


def share_day(spark, settings: Settings, interface_id: str, entry, gold, dates, **kw) -> None:
    """Write ``gold`` projected for one interface entry to its share table, as the share DAG
    does: the days' slice replaced, the change data feed on."""
    from enforcement_brain.lake import tables
    from enforcement_brain.share.project import project, share_table_name

    tables.replace_where(
        project(gold, entry),
        settings,
        "share",
        share_table_name(interface_id, entry.dataset),
        tables.date_predicate("biz_date", dates),
        properties={"delta.enableChangeDataFeed": "true"},
        **kw,
    )


def sharing_env(tmp: Path, port: int) -> dict[str, str]:
    """The environment an operator would set: var dir, standards, endpoint, secret."""
    return {
        "EB_VAR_DIR": str(tmp / "var"),
        "EB_STANDARDS_DIR": str(tmp / "data_standards"),
        "EB_SHARING_PORT": str(port),
        "EB_SHARING_ENDPOINT": f"http://127.0.0.1:{port}/delta-sharing",
        "EB_SHARING_SECRET": SECRET,
    }


def settings_for(tmp: Path, port: int) -> Settings:
    return make_settings(tmp / "var", **sharing_env(tmp, port))


def eb(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """Run the real ``eb`` CLI (this worktree's source first) with ``env`` on top."""
    full = {**os.environ, **env, "PYTHONPATH": str(REPO_ROOT / "src"), "EB_HOME": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "enforcement_brain.cli", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )


def issue_profile(env: dict[str, str], interface: str, path: Path) -> Path:
    """Issue a token with the admin command; returns the profile file it wrote."""
    done = eb(env, "sharing", "issue", "--interface", interface, "--profile", str(path))
    assert done.returncode == 0, done.stderr
    assert path.is_file()
    return path


@contextlib.contextmanager
def eb_serve(environ: dict[str, str], **extra: str) -> Iterator[tuple[int, list[str]]]:
    """``eb serve`` as an operator starts it (a separate process); yields (port, stderr lines).

    ``environ`` is :func:`sharing_env`'s; ``extra`` overrides it, an empty value removes the
    variable. It yields once every worker has started, not only the first to answer
    ``/healthz``: a worker still warming up takes no connections, so a test meant to spread
    requests over the workers would send them all to one. The stderr lines come in as they are
    written and are complete when the service has stopped.
    """
    port = free_port()
    full = {
        **os.environ,
        **environ,
        "EB_SHARING_PORT": str(port),
        "EB_SHARING_ENDPOINT": f"http://127.0.0.1:{port}/delta-sharing",
        **extra,
        "PYTHONPATH": str(REPO_ROOT / "src"),
        "EB_HOME": str(REPO_ROOT),
    }
    full = {k: v for k, v in full.items() if v != ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "enforcement_brain.cli", "serve"],
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline, ok = time.monotonic() + 60, False
        while time.monotonic() < deadline and not ok:
            try:
                ok = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except requests.ConnectionError:
                time.sleep(0.2)
        assert ok, "eb serve did not answer /healthz"
        while time.monotonic() < deadline and _workers_started(lines) < _workers(lines):
            time.sleep(0.05)
        assert _workers_started(lines) >= _workers(lines), "not every worker started"
        yield port, lines
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        reader.join(timeout=20)


def _workers(lines: list[str]) -> int:
    """The worker count the service announced in its ``starting`` log line."""
    for line in list(lines):
        if '"event": "starting"' in line:
            return int(json.loads(line)["workers"])
    return 1 << 30  # not announced yet


def _workers_started(lines: list[str]) -> int:
    return sum("Application startup complete." in x for x in list(lines))


class AppThread:
    """An ASGI app served by uvicorn in a thread of this process on ``port``, for one test
    module: real HTTP on loopback, as a client (or a browser) meets it, with no process to
    start."""

    def __init__(self, app, port: int) -> None:
        import uvicorn

        self.app = app
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.root = f"http://127.0.0.1:{port}"

    def __enter__(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"{type(self).__name__}: the app did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class ServiceThread(AppThread):
    """The sharing service on ``settings.sharing_port``, in-process (uvicorn in a thread)."""

    def __init__(self, settings: Settings) -> None:
        from enforcement_brain.sharing.service import build

        super().__init__(build(settings), settings.sharing_port)
        self.base = f"{self.root}/delta-sharing"


def audit_rows(settings: Settings) -> list[dict]:
    """Every audit row, oldest first, as dicts."""
    from sqlalchemy import create_engine, text

    engine = create_engine(settings.governance_db_url)
    with engine.connect() as conn:
        rows = conn.execute(text("select * from sharing_audit order by id")).mappings().all()
    engine.dispose()
    return [dict(r) for r in rows]
