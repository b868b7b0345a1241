"""The JDBC/ODBC SQL endpoint (Spark Thrift server), seen from separate client processes.

A tiny lake is written with delta-rs (no JVM in the test process); the endpoint is started as
the platform starts it; every query goes through the pyspark wheel's ``beeline`` (a JDBC client
in a process of its own), while another process appends to a table.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import free_port, make_settings

from enforcement_brain.errors import SetupError
from enforcement_brain.spark import sql_server
from enforcement_brain.spark.jars import pyspark_jars_dir


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def beeline(port: int, sql: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``sql`` through the wheel's beeline; stdout is CSV without headers."""
    spark_home = pyspark_jars_dir().parent
    cmd = [
        str(spark_home / "bin" / "beeline"),
        "-u",
        f"jdbc:hive2://localhost:{port}",
        "-n",
        "analyst",
        "--silent=true",
        "--showHeader=false",
        "--outputformat=csv2",
        "-e",
        sql,
    ]
    env = dict(os.environ, SPARK_HOME=str(spark_home))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


_PROMPT = re.compile(r"^(\d+: jdbc:hive2://\S+> )+")


def _lines(out: str) -> list[str]:
    """Output lines without beeline's prompt (silent mode still echoes it before a result)."""
    return [_PROMPT.sub("", ln).strip() for ln in out.splitlines() if _PROMPT.sub("", ln).strip()]


def _count(port: int, table: str) -> int:
    res = beeline(port, f"select count(*) from {table}")
    assert res.returncode == 0, res.stderr[-2000:]
    return int(_lines(res.stdout)[-1])


WRITER = textwrap.dedent(
    """
    import sys, time
    import pyarrow as pa
    from deltalake import write_deltalake
    alerts, late, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    for i in range(n):
        row = pa.table({"plate_no": [f"苏C9{i:04d}"], "fine_yuan": pa.array([100 * i], pa.int64())})
        write_deltalake(alerts, row, mode="append")
        if i == 1:
            write_deltalake(late, pa.table({"x": pa.array([1, 2, 3], pa.int64())}))
        time.sleep(1.5)
    """
)


def _write_lake(settings) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    alerts = settings.table_uri("gold", "alerts")
    first = {"plate_no": ["苏C00001", "苏C00002", "苏C00003"], "fine_yuan": [200, 0, 1000]}
    write_deltalake(
        alerts, pa.table({**first, "fine_yuan": pa.array(first["fine_yuan"], pa.int64())})
    )
    more = pa.table(
        {"plate_no": ["苏C00004", "苏C00005"], "fine_yuan": pa.array([5, 6], pa.int64())}
    )
    write_deltalake(alerts, more, mode="append")  # version 1: 5 rows
    runs = pa.table({"run_id": ["a", "b", "c", "d"], "status": ["success"] * 4})
    write_deltalake(settings.table_uri("ops", "run_log"), runs)


@pytest.mark.e2e  # ~1-2 min: a Thrift server JVM plus a dozen beeline JVMs
def test_sql_endpoint_serves_the_lake_by_name_while_it_is_written(tmp_path: Path) -> None:
    port = free_port()
    settings = make_settings(
        tmp_path / "var",
        EB_SQL_PORT=str(port),
        EB_SQL_REFRESH_SECONDS="2",
        EB_SQL_DRIVER_MEMORY="1g",
    )
    _write_lake(settings)
    status = sql_server.start(settings, timeout=300)
    try:
        assert status.running and status.url == f"jdbc:hive2://localhost:{port}"
        assert sql_server.status(settings).running
        # A second endpoint on the same port: one clear line, no JVM started.
        other = make_settings(tmp_path / "other", EB_SQL_PORT=str(port))
        with pytest.raises(SetupError, match=f"port {port} is taken"):
            sql_server.start(other)

        # Every table by name, Delta time travel and history, in one client session.
        res = beeline(
            port,
            "select 'now', count(*) from gold.alerts; "
            "select 'ops', count(*) from ops.run_log; "
            "select 'v0', count(*) from gold.alerts VERSION AS OF 0; "
            "describe history gold.alerts",
        )
        assert res.returncode == 0, res.stderr[-2000:]
        lines = _lines(res.stdout)
        assert {"now,5", "ops,4", "v0,3"} <= set(lines), lines
        versions = {ln.split(",", 1)[0] for ln in lines if ln[:1].isdigit()}
        assert versions == {"0", "1"}, lines

        # The shared functions, code tables and params, in another client session.
        res = beeline(
            port,
            "select 'fn', legal_limit_kg(6, true), fine_yuan(1001), min_anpr_passes; "
            "select 'ref', count(*) from ref.wim_sites where code like 'WIM32%'",
        )
        assert res.returncode == 0, res.stderr[-2000:]
        assert {"fn,49000,500,6", "ref,18"} <= set(_lines(res.stdout)), _lines(res.stdout)

        # A writer process appends one row at a time; readers see each commit whole.
        writer = subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                settings.table_uri("gold", "alerts"),
                settings.table_uri("gold", "late_table"),
                "6",
            ]
        )
        seen: list[int] = []
        while writer.poll() is None:
            seen.append(_count(port, "gold.alerts"))
        assert writer.wait() == 0
        seen.append(_count(port, "gold.alerts"))
        assert len(seen) >= 2, seen
        assert seen == sorted(seen), f"counts went backwards: {seen}"
        assert all(5 <= n <= 11 for n in seen), seen
        assert seen[-1] == 11

        # A table created after the endpoint started is found by the next refresh.
        deadline = time.monotonic() + 60
        while True:
            res = beeline(port, "select count(*) from gold.late_table")
            if res.returncode == 0:
                break
            assert time.monotonic() < deadline, res.stderr[-2000:]
            time.sleep(2)
        assert _lines(res.stdout)[-1] == "3"

        # A missing table: a clear error, promptly (beeline's own timeout would show a hang).
        started = time.monotonic()
        res = beeline(port, "select * from gold.no_such_table", timeout=60)
        assert res.returncode != 0
        assert "TABLE_OR_VIEW_NOT_FOUND" in res.stdout + res.stderr
        assert time.monotonic() - started < 60
    finally:
        stopped = sql_server.stop(settings)
    assert stopped
    assert not _port_open(port)
    assert not sql_server.status(settings).running
    assert "sql-server: listening on" in sql_server._log_file(settings).read_text()


def test_start_fails_in_one_line_when_the_jars_are_missing(tmp_path: Path) -> None:
    port = str(free_port())
    settings = make_settings(tmp_path / "var", EB_SQL_PORT=port, EB_JAR_DIR=str(tmp_path / "none"))
    with pytest.raises(SetupError, match="run `make setup`"):
        sql_server.start(settings)
    assert not sql_server.status(settings).running


def test_start_fails_in_one_line_without_java(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    settings = make_settings(tmp_path / "var", EB_SQL_PORT=str(free_port()))
    with pytest.raises(SetupError, match="Java 17 is not installed"):
        sql_server.start(settings)
