"""Benchmark: the operators' console (``eb console``) on a lake of 30 days.

The lake is built once with the real pipeline (``eb backfill`` over ``--days`` generated days)
and kept under ``--var`` for later runs (``--rebuild`` makes it anew). Partners then use it:
a token is issued for each of a few interfaces and the stock ``delta-sharing`` client pulls
every table they are granted through ``eb serve``, and some requests come with a bad token,
so the Interfaces page has an audit to count. Then ``eb console`` is started as an operator
starts it and each page is fetched over HTTP, the HTML and its JSON, ``--runs`` times after one
warm-up. The same-run baseline is ``/healthz``: the cost of an HTTP round trip to the console
with no data read. Reported per page: median, min and max, and the ratio to the baseline.

    .venv/bin/python benchmarks/bench_console.py --runs 3 --days 30 --scale 0.01
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAST = dt.date(2026, 11, 28)
#: Interfaces whose partners pull during the benchmark (a token each).
PARTNERS = ("provincial_supervision", "traffic_police", "ship_pollutant_supervision")
SECRET_ENV = "EB_SHARING_SECRET"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(var: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"EB_SPARK_REMOTE", "EB_SOURCES"}}
    env.update({"EB_VAR_DIR": str(var), SECRET_ENV: "bench-console-secret", **extra})
    return env


def _eb(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "enforcement_brain.cli", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def build_lake(var: Path, first: dt.date, scale: float) -> float:
    """The lake's days from ``first`` to :data:`LAST` through ``eb backfill`` (a rerun of a day
    already loaded changes nothing); returns its wall time in seconds."""
    days = (LAST - first).days + 1
    print(f"loading {days} days into {var} (eb backfill, scale {scale})...", flush=True)
    started = time.perf_counter()
    done = _eb(
        _env(var),
        "backfill",
        "--from",
        first.isoformat(),
        "--to",
        LAST.isoformat(),
        "--scale",
        str(scale),
    )
    if done.returncode != 0:
        sys.exit(f"eb backfill failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def lake_days(var: Path) -> set[dt.date]:
    """The delivery days ``ops.batch_log`` holds (none when the lake has no batch log yet)."""
    from deltalake import DeltaTable

    log = var / "lake" / "ops" / "batch_log"
    if not (log / "_delta_log").is_dir():
        return set()
    return set(DeltaTable(str(log)).to_pyarrow_table(columns=["delivery_date"])[0].to_pylist())


def _wait(url: str, proc: subprocess.Popen, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited at start-up: {proc.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    proc.kill()
    sys.exit(f"{what} did not answer {url} within {timeout:.0f} s")


@contextmanager
def _server(env: dict[str, str], command: str, health: str) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "enforcement_brain.cli", command],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait(health, proc, f"eb {command}")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def partners_pull(var: Path) -> dict[str, int]:
    """Each partner pulls every table it is granted with the stock client; some bad tokens."""
    import delta_sharing

    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}/delta-sharing"
    env = _env(var, EB_SHARING_PORT=str(port), EB_SHARING_ENDPOINT=endpoint)
    pulled: dict[str, int] = {}
    profiles = []
    for interface in PARTNERS:
        profile = var / "bench-profiles" / f"{interface}.share"
        profile.parent.mkdir(parents=True, exist_ok=True)
        done = _eb(env, "sharing", "issue", "--interface", interface, "--profile", str(profile))
        if done.returncode != 0:
            sys.exit(f"eb sharing issue failed: {done.stderr[-1000:]}")
        profiles.append((interface, profile))
    with _server(env, "serve", f"http://127.0.0.1:{port}/healthz"):
        for interface, profile in profiles:
            client = delta_sharing.SharingClient(str(profile))
            rows = 0
            for table in client.list_all_tables():
                url = f"{profile}#{table.share}.{table.schema}.{table.name}"
                rows += len(delta_sharing.load_as_pandas(url))
            pulled[interface] = rows
        for token in ("not-a-token", "eb_" + "0" * 40):
            req = urllib.request.Request(
                f"{endpoint}/shares", headers={"Authorization": f"Bearer {token}"}
            )
            with suppress(urllib.error.HTTPError):
                urllib.request.urlopen(req, timeout=10)
    return pulled


def _get(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as r:
        r.read()
        if r.status != 200:
            sys.exit(f"{url}: HTTP {r.status}")
    return time.perf_counter() - started


def time_pages(
    var: Path, runs: int
) -> tuple[dict[str, list[float]], dict[str, float], list[float]]:
    """Each page's times over ``runs`` fetches after a first round, the first round's times
    (the console reads each ``ops`` table on its first request and again after a load; later
    requests find it unchanged), and the ``/healthz`` baseline."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = _env(var, EB_CONSOLE_PORT=str(port))
    with _server(env, "console", f"{base}/healthz"):
        with urllib.request.urlopen(f"{base}/api/today", timeout=60) as r:
            today = json.load(r)
        busiest = max(today["sources"], key=lambda s: s.get("quarantined") or 0)["source"]
        day = today["day"]
        pages = [
            "/today",
            "/quality",
            f"/quality?source={busiest}",
            "/quarantine",
            f"/quarantine?source={busiest}&day={day}",
            "/publishing",
            "/interfaces",
            "/lineage",
        ]
        paths = pages + ["/api" + p for p in pages]
        times: dict[str, list[float]] = {p: [] for p in paths}
        baseline: list[float] = []
        for _ in range(runs + 1):  # the first round warms up
            baseline.append(_get(f"{base}/healthz"))
            for path in paths:
                times[path].append(_get(base + path))
        return (
            {p: t[1:] for p, t in times.items()},
            {p: t[0] for p, t in times.items()},
            baseline[1:],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--var", type=Path, default=REPO / "var" / "bench" / "console")
    parser.add_argument("--rebuild", action="store_true", help="build the lake anew")
    args = parser.parse_args()
    var = args.var.resolve()
    built = None
    wanted = {LAST - dt.timedelta(days=n) for n in range(args.days)}
    if args.rebuild and var.exists():
        subprocess.run(["rm", "-rf", str(var)], check=True)
    # A build that was stopped resumes at its last day (loaded again: a rerun is idempotent).
    have = lake_days(var)
    if not wanted <= have:
        first = max(have) if have else min(wanted)
        built = build_lake(var, first, args.scale)
        print(f"lake built in {built:.0f} s", flush=True)
    pulled = partners_pull(var)
    print("partners pulled: " + ", ".join(f"{k} {v:,} rows" for k, v in pulled.items()))
    times, first, baseline = time_pages(var, args.runs)
    base = statistics.median(baseline)
    print(f"\nconsole on a {args.days}-day lake, {args.runs} runs; baseline /healthz "
          f"{base * 1000:.1f} ms")  # fmt: skip
    print(f"{'page':<48} {'median':>9} {'min':>9} {'max':>9} {'x base':>8} {'first':>9}")
    worst = 0.0
    for path, ts in times.items():
        med = statistics.median(ts)
        worst = max(worst, med)
        print(
            f"{path:<48} {med * 1000:>7.0f}ms {min(ts) * 1000:>7.0f}ms "
            f"{max(ts) * 1000:>7.0f}ms {med / base:>7.1f}x {first[path] * 1000:>7.0f}ms"
        )
    out = var / "bench-console.json"
    out.write_text(
        json.dumps(
            {
                "date": dt.date.today().isoformat(),
                "machine": f"{os.cpu_count()} cores, {platform.machine()}",
                "days": args.days,
                "scale": args.scale,
                "lake_build_s": built,
                "baseline_s": baseline,
                "pages_s": times,
                "first_request_s": first,
                "pulled_rows": pulled,
            },
            indent=2,
        )
    )
    print(f"\nslowest page median {worst * 1000:.0f} ms (target < 1000 ms); figures in {out}")
    sys.exit(0 if worst < 1.0 else 1)


if __name__ == "__main__":
    main()
