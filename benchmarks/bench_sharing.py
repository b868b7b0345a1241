"""Benchmark: the partner interfaces under load, while a daily load runs.

Every declared interface × ``--clients`` concurrent clients for ``--seconds`` against the real
service (``eb serve``, separate processes; ``EB_SHARING_WORKERS`` of them), each interface's
clients in a process of their own (partners are separate machines), while ``eb run`` loads
the next day on the same machine and rewrites the share tables. Each client loops over its
interface's tables, with no pause between requests (the strictest reading of "concurrent"):

- **metadata**: ``GET …/tables/{t}/metadata``;
- **page**: ``POST …/tables/{t}/query`` with ``limitHint`` 10,000, then the download of every
  file the answer names (signed URLs served by the service) — a page of up to 10,000 rows.

Same-run baseline: ``GET /healthz`` from one more client during the same window (the service's
floor: routing, auth-free, no lake access). Reported per window and as the median of
``--runs`` windows: p50 / p95 per operation, the ratio to the baseline's p95, and every status
code seen (a 5xx fails the benchmark). Targets: p95 metadata < 300 ms, p95 page < 1 s.

``--days N`` makes the kept lake N loaded days deep (share tables of several files, and pages
that reach 10,000 rows at a large enough ``--scale``); ``--at-share`` holds the first window
until the running load commits to a share table, so pages meet tables being rewritten. Each
window reports how many of its pages held 10,000 rows or more (and their p95) and how many
share-table commits it met.

Quotas are lifted for the run (a copy of ``data_standards`` with each interface's quota raised)
so that the service, not the quota, is measured; 429 answers are tested in
``tests/integration/test_sharing_protocol.py``.

    .venv/bin/python benchmarks/bench_sharing.py --runs 3 [--scale 0.05] [--clients 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

from bench_day import free_port

from enforcement_brain.orchestration.breakdown import machine_busy_seconds, process_tree_cpu

REPO = Path(__file__).resolve().parents[1]
FIRST_DAY = dt.date(2026, 11, 27)
PAGE_ROWS = 10_000


def _eb(env: dict[str, str], *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "enforcement_brain.cli", *args], env=env, cwd=REPO, **kwargs
    )


def _standards_without_quotas(tmp: Path) -> Path:
    import yaml

    root = tmp / "data_standards"
    shutil.copytree(REPO / "data_standards", root, dirs_exist_ok=True)
    for path in (root / "interfaces").glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["quota"] = {"requests_per_minute": 10**7, "rows_per_day": 10**12}
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    return root


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _client_process(
    base: str, interface: str, token: str, tables: list[str], clients: int, start: float,
    deadline: float, out,
) -> None:  # fmt: skip
    """One partner agency: ``clients`` concurrent sessions in their own process.

    A process per interface, as partners are separate machines: client threads of all 13
    interfaces in one Python process would queue on its GIL, and that wait would be counted as
    the service's latency. For the same reason the sessions speak HTTP/1.1 with the standard
    library's ``http.client`` on a kept-alive connection: httpx cost about three times the CPU
    per request, CPU that partners spend on their own machines, not on the service's.
    """
    import http.client
    from urllib.parse import urlsplit

    times: dict[str, list[float]] = defaultdict(list)
    status: Counter = Counter()
    pages: list[tuple[int, float]] = []  # (rows, seconds) of each page answered 200
    lock = threading.Lock()

    def note(op: str, seconds: float, code: int) -> None:
        with lock:
            status[(op, code)] += 1
            if code < 400:
                times[op].append(seconds)

    def session(k: int) -> None:
        target = urlsplit(base)
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30.0)
        auth = {"Authorization": f"Bearer {token}"}

        def call(method: str, url: str, body: bytes | None = None, headers=None):
            conn.request(method, url, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, r.read()

        i = k
        while time.time() < deadline:
            table = tables[i % len(tables)]
            i += 1
            path = f"{target.path}/shares/{interface}/schemas/default/tables/{table}"
            t0 = time.perf_counter()
            code, _ = call("GET", f"{path}/metadata", headers=auth)
            note("metadata", time.perf_counter() - t0, code)
            t0 = time.perf_counter()
            body = json.dumps({"limitHint": PAGE_ROWS}).encode()
            code, text = call(
                "POST", f"{path}/query", body, {**auth, "Content-Type": "application/json"}
            )
            n = 0
            if code == 200:
                for line in text.splitlines():
                    entry = json.loads(line)
                    if "file" in entry:
                        f = entry["file"]
                        url = urlsplit(f["url"])
                        got, blob = call("GET", f"{url.path}?{url.query}")
                        code = max(code, got)
                        if got == 200 and len(blob) != f["size"]:
                            code = 599  # not HTTP's: a file short of its size, a failure
                        n += json.loads(f["stats"])["numRecords"] if f.get("stats") else 0
            elapsed = time.perf_counter() - t0
            note("page", elapsed, code)
            if code == 200:
                with lock:
                    pages.append((n, elapsed))
        conn.close()

    time.sleep(max(0.0, start - time.time()))
    cpu0 = sum(os.times()[:2])
    threads = [threading.Thread(target=session, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((dict(times), dict(status), pages, sum(os.times()[:2]) - cpu0))


def _baseline_process(base: str, start: float, deadline: float, out) -> None:
    """``GET /healthz`` every 50 ms: the service's floor (routing, no token, no lake)."""
    import http.client
    from urllib.parse import urlsplit

    times: dict[str, list[float]] = defaultdict(list)
    status: Counter = Counter()
    target = urlsplit(base)
    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30.0)
    time.sleep(max(0.0, start - time.time()))
    while time.time() < deadline:
        t0 = time.perf_counter()
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        r.read()
        status[("healthz (baseline)", r.status)] += 1
        if r.status < 400:
            times["healthz (baseline)"].append(time.perf_counter() - t0)
        time.sleep(0.05)
    conn.close()
    out.put((dict(times), dict(status), [], 0.0))


class Window:
    """One measurement window: a process per interface plus one baseline process."""

    def __init__(
        self, base: str, tokens: dict[str, str], tables: dict[str, list[str]], share: Path
    ) -> None:
        self.base, self.tokens, self.tables, self.share = base, tokens, tables, share
        self.times: dict[str, list[float]] = defaultdict(list)
        self.status: Counter = Counter()
        #: (rows, seconds) of every page answered 200.
        self.pages: list[tuple[int, float]] = []
        self.cpu: dict[str, float] = {}
        #: Commits to share tables (replaces, compactions) while the window was open.
        self.share_commits = 0

    def run(self, seconds: float, clients: int, service_pid: int) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")  # a clean interpreter per partner
        out = ctx.Queue()
        start = time.time() + 8  # every process imported and waiting before the window opens
        deadline = start + seconds
        procs = [
            ctx.Process(
                target=_client_process,
                args=(
                    self.base,
                    iface,
                    self.tokens[iface],
                    self.tables[iface],
                    clients,
                    start,
                    deadline,
                    out,
                ),
            )
            for iface in self.tokens
        ]
        procs.append(ctx.Process(target=_baseline_process, args=(self.base, start, deadline, out)))
        for p in procs:
            p.start()
        time.sleep(max(0.0, start - time.time()))
        machine0, service0 = machine_busy_seconds(), process_tree_cpu(service_pid)
        commits0 = _share_commits(self.share)
        client_cpu = 0.0
        for _ in procs:
            times, status, pages, cpu = out.get(timeout=seconds + 120)
            for op, values in times.items():
                self.times[op] += values
            self.status.update(status)
            self.pages += pages
            client_cpu += cpu
        machine, service = (
            machine_busy_seconds() - machine0,
            process_tree_cpu(service_pid) - service0,
        )
        self.share_commits = _share_commits(self.share) - commits0
        self.cpu = {
            "capacity": (os.cpu_count() or 1) * seconds,
            "busy": machine,
            "service": service,
            "clients": client_cpu,
            "rest": max(0.0, machine - service - client_cpu),
        }
        for p in procs:
            p.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="measurement windows")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=5, help="concurrent clients per interface")
    parser.add_argument("--scale", type=float, default=0.05, help="volume of each loaded day")
    parser.add_argument(
        "--keep",
        type=Path,
        help="work in this folder and keep it: the first run saves the lake it starts from in "
        "DIR/pristine, and every later run starts from a copy of that (no first load, and the "
        "same lake each time: windows with a load add days to the working copy only)",
    )
    parser.add_argument(
        "--without-load",
        action="store_true",
        help="no daily load during the windows: the service and its clients alone",
    )
    parser.add_argument(
        "--days",
        type=int,
        default=1,
        help="days the kept lake holds: the days it lacks are loaded, one after the other, "
        "before the windows (and a kept lake is kept with them); share tables then hold several "
        "days (several files, or a compaction) and more rows",
    )
    parser.add_argument(
        "--at-share",
        action="store_true",
        help="start the first window only once the running load has begun to rewrite share "
        "tables (its first share commit), so that pages meet tables being rewritten",
    )
    parser.add_argument(
        "--wait-for-load",
        action="store_true",
        help="after the last window, let the day's load finish (by default it is stopped: the "
        "windows are what is measured, and under the clients a small day takes 20 minutes)",
    )
    args = parser.parse_args()
    # SIGTERM (kill, a CI timeout) unwinds like Ctrl-C, so the finally below stops the load, the
    # service and the Spark Connect server instead of leaving them running
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    with tempfile.TemporaryDirectory(prefix="eb-bench-sharing-") as name:
        tmp = args.keep.resolve() if args.keep else Path(name)
        tmp.mkdir(parents=True, exist_ok=True)
        reuse = _start_from_pristine(tmp) if args.keep else False
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in {"EB_SPARK_REMOTE", "EB_SOURCES"}}
        env.update(
            {
                "EB_VAR_DIR": str(tmp / "var"),
                "EB_STANDARDS_DIR": str(_standards_without_quotas(tmp)),
                "EB_SPARK_CONNECT_PORT": str(free_port()),
                "EB_AIRFLOW_PORT": str(free_port()),
                "EB_SHARING_PORT": str(port),
                "EB_SHARING_ENDPOINT": f"http://127.0.0.1:{port}/delta-sharing",
                "EB_SHARING_SECRET": os.urandom(16).hex(),
            }
        )
        log = (tmp / "load.log").open("a")
        have = len(_loaded_days(tmp)) if reuse else 0
        if reuse:
            print(f"reusing the lake in {tmp / 'var'} ({have} loaded days)")
        for k in range(have, args.days):
            first = FIRST_DAY + dt.timedelta(days=k)
            print(f"loading {first} at scale {args.scale} (the lake the partners read) …")
            t0 = time.monotonic()
            if _eb(env, "run", "--date", str(first), "--scale", str(args.scale),
                   stdout=log, stderr=subprocess.STDOUT).wait() != 0:  # fmt: skip
                sys.exit(f"the load of {first} failed: see {tmp / 'load.log'}")
            print(f"  loaded in {time.monotonic() - t0:.0f} s")
        if args.keep and have < args.days:  # keep the deeper lake as the one runs start from
            shutil.rmtree(tmp / "pristine", ignore_errors=True)
            _start_from_pristine(tmp)
        tokens = _issue(env, tmp)  # the service refuses to start without its credential store
        serve_log = tmp / "serve.log"
        serve = _eb(env, "serve", stdout=serve_log.open("w"), stderr=subprocess.STDOUT)
        load: subprocess.Popen | None = None
        try:
            _wait_healthy(port, serve, serve_log)
            tables = _tables(tokens, port)
            tokens = {k: v for k, v in tokens.items() if tables.get(k)}
            print(f"{len(tokens)} interfaces, {sum(map(len, tables.values()))} shared tables")
            share = tmp / "var" / "lake" / "share"
            print(f"share tables at the start: {_share_files(share)}")
            results = []
            # Each window's load is the day after the last one this lake holds (not a rerun).
            loaded = _loaded_days(tmp)
            day = loaded[-1] if loaded else FIRST_DAY
            for i in range(args.runs):
                if not args.without_load and (load is None or load.poll() is not None):
                    day += dt.timedelta(days=1)
                    load = _eb(env, "run", "--date", str(day), "--scale", str(args.scale),
                               stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
                    if args.at_share:
                        _wait_for_share_commit(share, load)
                    else:
                        time.sleep(45)  # past start-up: the loads are running
                window = Window(f"http://127.0.0.1:{port}/delta-sharing", tokens, tables, share)
                window.run(args.seconds, args.clients, serve.pid)
                results.append(window)
                during = "no load" if args.without_load else f"while loading {day}"
                _report(f"window {i + 1} ({during})", window, load)
            if load is not None and args.wait_for_load:
                load.wait()
        finally:
            if load is not None and load.poll() is None:  # stop the load cleanly (eb run: SIGTERM)
                load.terminate()
                load.wait(timeout=120)
            serve.terminate()
            serve.wait(timeout=30)
            _eb(env, "spark", "stop").wait()
    _summary(results, args)


def _start_from_pristine(tmp: Path) -> bool:
    """Make ``tmp/var`` a fresh copy of ``tmp/pristine/var``; False when there is no lake yet.

    Why: windows with a load each add a day to the lake they run on, so a kept lake used
    as-is grows from one run to the next and its pages (files per query) grow with it; runs
    on different days of the same folder would not be comparable. With no pristine copy yet,
    the lake in ``var`` becomes the pristine (after the loads that built or deepened it).
    """
    var, pristine = tmp / "var", tmp / "pristine" / "var"
    if not pristine.is_dir():
        if not (var / "lake" / "share").is_dir():
            return False
        shutil.copytree(var, pristine, symlinks=True)
        return True
    shutil.rmtree(var, ignore_errors=True)
    shutil.copytree(pristine, var, symlinks=True)
    return True


def _loaded_days(tmp: Path) -> list[dt.date]:
    """The days the lake in ``tmp/var`` has loaded (a run summary each), in order."""
    return sorted(
        dt.date.fromisoformat(p.stem.removeprefix("summary-"))
        for p in (tmp / "var" / "run").glob("summary-*.json")
    )


def _share_commits(share: Path) -> int:
    """Commits in every share table's log: the difference over a window counts the rewrites
    (replaces and compactions) the partners' pages met."""
    return sum(1 for _ in share.glob("*/_delta_log/*.json"))


def _share_files(share: Path) -> str:
    """Data files per share table, as the service lists them (the live snapshot)."""
    from deltalake import DeltaTable

    counts = sorted(
        len(DeltaTable(str(log.parent)).file_uris()) for log in share.glob("*/_delta_log")
    )
    if not counts:
        return "none"
    return (
        f"{len(counts)} tables, files per table median {statistics.median(counts):.0f}, "
        f"max {counts[-1]}"
    )


def _wait_for_share_commit(share: Path, load: subprocess.Popen) -> None:
    """Wait, without clients, until the running load commits to a share table (its share DAGs
    run last, after ingest, validation and publishing)."""
    before, t0 = _share_commits(share), time.monotonic()
    print("waiting for the load to reach its share projections …", flush=True)
    while _share_commits(share) == before:
        if load.poll() is not None:
            sys.exit("the load ended before it committed to a share table: see load.log")
        if time.monotonic() - t0 > 3600:
            sys.exit("the load did not reach its share projections within an hour")
        time.sleep(2)
    print(f"  first share commit after {time.monotonic() - t0:.0f} s", flush=True)


def _wait_healthy(port: int, serve: subprocess.Popen, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and serve.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    sys.exit(f"the sharing service did not become healthy:\n{log.read_text()[-2000:]}")


def _issue(env: dict[str, str], tmp: Path) -> dict[str, str]:
    """A token per declared interface, issued with the admin command (as an operator would)."""
    from enforcement_brain.declarations import load_catalog

    tokens = {}
    for iface in sorted(load_catalog(Path(env["EB_STANDARDS_DIR"])).interfaces):
        profile = tmp / f"{iface}.share"
        done = subprocess.run(
            [sys.executable, "-m", "enforcement_brain.cli", "sharing", "issue",
             "--interface", iface, "--profile", str(profile)],
            env=env, cwd=REPO, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            sys.exit(f"issuing a token for {iface} failed: {done.stderr}")
        tokens[iface] = json.loads(profile.read_text())["bearerToken"]
    return tokens


def _tables(tokens: dict[str, str], port: int) -> dict[str, list[str]]:
    """Each interface's shared tables, as its partner lists them."""
    import httpx

    out = {}
    for iface, token in tokens.items():
        r = httpx.get(
            f"http://127.0.0.1:{port}/delta-sharing/shares/{iface}/all-tables",
            headers={"Authorization": f"Bearer {token}"},
        )
        out[iface] = [t["name"] for t in r.json().get("items", [])]
    return out


def _report(title: str, w: Window, load: subprocess.Popen | None) -> None:
    if load is None:
        print(f"{title}:")
    else:
        print(f"{title}: load {'running' if load.poll() is None else 'finished'} at the end")
    for op, values in sorted(w.times.items()):
        print(
            f"  {op:<20} n={len(values):>6}  p50 {_pct(values, 0.5) * 1000:7.1f} ms"
            f"  p95 {_pct(values, 0.95) * 1000:7.1f} ms"
        )
    print(f"  status codes: {dict(sorted(w.status.items()))}")
    c = w.cpu
    print(
        f"  CPU of the window: {c['busy'] / c['capacity']:.0%} of the cores busy; service "
        f"{c['service'] / c['capacity']:.0%}, clients {c['clients'] / c['capacity']:.0%}, "
        f"the rest (the load, the OS) {c['rest'] / c['capacity']:.0%}"
    )
    if w.pages:
        rows = [n for n, _ in w.pages]
        full = _full_pages(w)
        print(
            f"  rows per page: median {statistics.median(rows):.0f}, max {max(rows)}; "
            f"{len(full)} of {len(rows)} pages held {PAGE_ROWS:,} rows or more"
        )
        if full:
            print(f"  p95 of those full pages: {_pct(full, 0.95) * 1000:.1f} ms")
    print(f"  share-table commits during the window: {w.share_commits}")
    if w.times.get("metadata"):
        print(f"  service CPU per metadata + page cycle: {_cpu_per_cycle(w) * 1000:.1f} ms")


def _full_pages(w: Window) -> list[float]:
    """Seconds of the pages that held a full ``limitHint`` of rows (or more: a file is served
    whole), the case the target names."""
    return [t for n, t in w.pages if n >= PAGE_ROWS]


def _cpu_per_cycle(w: Window) -> float:
    """The service's CPU seconds per metadata + page cycle: its cost, less sensitive than
    latency to what else the shared machine runs (a CPU second is a CPU second)."""
    return w.cpu["service"] / max(1, len(w.times["metadata"]))


def _summary(results: list[Window], args: argparse.Namespace) -> None:
    five = sum(n for w in results for (_, code), n in w.status.items() if code >= 500)
    p95 = {
        op: statistics.median(_pct(w.times[op], 0.95) for w in results)
        for op in ("metadata", "page", "healthz (baseline)")
    }
    base = p95["healthz (baseline)"]
    during = "no load" if args.without_load else "a daily load running"
    print(f"\nmedian of {len(results)} windows of {args.seconds:.0f} s, {args.clients} clients per")
    print(f"interface, scale {args.scale}, {during}:")
    for op, value in p95.items():
        print(f"  p95 {op:<20} {value * 1000:7.1f} ms  ({value / base:.1f}x the baseline)")
    full = [_pct(_full_pages(w), 0.95) for w in results if _full_pages(w)]
    if full:
        value = statistics.median(full)
        print(
            f"  p95 {f'page of {PAGE_ROWS:,}+ rows':<20} {value * 1000:7.1f} ms  "
            f"({value / base:.1f}x the baseline; median of the {len(full)} windows with such pages)"
        )
    else:
        print(f"  no page held {PAGE_ROWS:,} rows: no share table is that large at this scale")
    commits = [w.share_commits for w in results]
    print(f"  share-table commits during the windows: {commits}")
    cycles = statistics.median(len(w.times["metadata"]) / args.seconds for w in results)
    print(f"  throughput: {cycles:.1f} metadata + page cycles a second")
    cost = statistics.median(_cpu_per_cycle(w) for w in results)
    print(f"  service CPU per cycle: {cost * 1000:.1f} ms")
    for part in ("service", "clients", "rest"):
        share = statistics.median(w.cpu[part] / w.cpu["capacity"] for w in results)
        print(f"  CPU share of the {part:<8} {share:5.0%} of the cores")
    print(f"  5xx answers: {five}  (targets: none; p95 metadata < 300 ms; p95 page < 1000 ms)")
    if five:
        sys.exit(1)


if __name__ == "__main__":
    main()
