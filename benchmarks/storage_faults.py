"""Storage faults at random: landing, history appends and partner queries through the fault
proxy (``enforcement_brain.faults``) in its seeded random mode, in front of a versitygw of
its own. No Spark.

Every operation ends one of three ways: it recovered (the store's faults were retried and the
result is exactly right), it failed with a coded error (``[EB-STORE-UNAVAILABLE]``, or for a
partner the protocol's 503 with ``Retry-After``), or it is wrong. Wrong is: anything partial
visible (files under ``landing/`` from a failed landing, a history row of a failed append, a
row twice), a partner answer other than 200 or 503-with-``Retry-After``, a file served with
other bytes than the store holds. The run exits 1 on any wrong outcome.

    .venv/bin/python benchmarks/storage_faults.py --objects 40 --appends 40 --queries 60
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

SOURCE, SOURCE_BUCKET = "gps_alarms", "jt809-exchange"
IFACE = "provincial_supervision"
SCHEMA = "source string, n bigint, day date"
FIRST_DAY = dt.date(2026, 1, 1)


def where(path: str, query: str) -> str:
    """The part of the platform a faulted request belonged to (a LIST by its prefix)."""
    prefix = re.search(r"(?:^|&)prefix=([^&]*)", query)
    if prefix:
        path = f"{path}/{_unquote(prefix.group(1))}"
    if path.startswith(f"/{SOURCE_BUCKET}"):
        return "landing: source store"
    if "/landing/" in path:
        return "landing: lake write"
    if "/ops/" in path:
        return "history append"
    if "/_delta_log" in path:
        return "sharing: log read"
    if "/share/" in path:
        return "sharing: data file"
    return "other"


def _unquote(text: str) -> str:
    from urllib.parse import unquote

    return unquote(text)


def _append_kpi(uri: str, row: dict, options: dict[str, str]) -> None:
    """One row appended to the share table the partners query, as a new commit."""
    import pyarrow as pa
    from deltalake import write_deltalake

    write_deltalake(
        uri, pa.Table.from_pylist([row]), partition_by=["month"], mode="append",
        storage_options=options,
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=40, help="objects landed (2 a day)")
    parser.add_argument("--appends", type=int, default=40, help="history appends")
    parser.add_argument("--queries", type=int, default=60, help="partner queries")
    parser.add_argument("--rate", type=float, default=0.1, help="fraction of requests faulted")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    import logging

    import pyarrow as pa
    import requests
    from cluster_store import LAKE_BUCKET, s3_lake
    from conftest import make_settings
    from deltalake import DeltaTable
    from sharing_support import ServiceThread, free_port, issue_profile, sharing_env, standards_copy

    from enforcement_brain.declarations import load_catalog
    from enforcement_brain.errors import StoreUnavailableError
    from enforcement_brain.faults import FaultProxy, RandomFaults
    from enforcement_brain.lake import tables
    from enforcement_brain.lake.s3 import s3_client
    from enforcement_brain.pipeline import landing
    from enforcement_brain.pipeline.delivery import object_prefix

    logging.getLogger("enforcement_brain.sharing").setLevel(logging.ERROR)
    started = time.monotonic()
    outcomes: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    wrong: list[str] = []
    failures: list[str] = []  # the coded lines of the operations that failed
    tmp = Path(tempfile.mkdtemp(prefix="eb-storage-faults-"))
    with s3_lake(tmp / "store", (SOURCE_BUCKET,)) as store:
        direct = s3_client(store.s3_endpoint, "us-east-1")
        upstream = store.s3_endpoint.removeprefix("http://")
        with FaultProxy(upstream) as proxy:
            settings = make_settings(
                tmp / "lake",
                EB_LAKE_ROOT=f"s3a://{LAKE_BUCKET}/lake",
                EB_S3_ENDPOINT=proxy.endpoint,
                EB_OBJECTS_URL=proxy.endpoint,
                AWS_REGION="us-east-1",
            )
            source = load_catalog(settings.standards_dir).sources[SOURCE]
            chaos = RandomFaults(args.rate, args.seed, ("500", "503", "slowdown", "reset"))

            # -- landing: one delivery of two objects a day --------------------------------
            # One random stream per phase: the checks read the store directly, not through it.
            days = [FIRST_DAY + dt.timedelta(days=i) for i in range((args.objects + 1) // 2)]
            for day in days:
                prefix = object_prefix(source, day)
                delivered = {}
                for i in range(2):
                    body = "".join(
                        json.dumps({"alarm_id": f"{day}-{i}-{n}"}) + "\n" for n in range(200)
                    ).encode()
                    name = f"alarms-{i:02d}.jsonl"
                    direct.put_object(Bucket=SOURCE_BUCKET, Key=prefix + name, Body=body)
                    delivered[name] = body
                if day == FIRST_DAY:
                    proxy.random(chaos)
                try:
                    landing.land(settings, source, day, "bench")
                    ok = True
                except StoreUnavailableError as exc:
                    ok = False
                    failures.append(str(exc))
                key = f"lake/landing/{SOURCE}/{day.isoformat()}/"
                listed = direct.list_objects_v2(Bucket=LAKE_BUCKET, Prefix=key).get("Contents", [])
                landed = {
                    o["Key"][len(key) :]: direct.get_object(Bucket=LAKE_BUCKET, Key=o["Key"])[
                        "Body"
                    ].read()
                    for o in listed
                }
                if ok:
                    files = {k: v for k, v in landed.items() if not k.startswith("_")}
                    if files != delivered or "_manifest.json" not in landed:
                        wrong.append(f"landing {day}: landed files differ from the delivery")
                    outcomes["landing"]["recovered"] += 1
                else:
                    outcomes["landing"]["failed, coded"] += 1
                    if landed:
                        outcomes["landing"]["partial visible"] += 1
                        wrong.append(f"landing {day}: failed but left {sorted(landed)}")

            # -- history appends -------------------------------------------------------------
            committed = []
            for n in range(args.appends):
                try:
                    tables.append_rows(
                        None, settings, "ops", "bench_log", [("gps", n, FIRST_DAY)], SCHEMA
                    )
                    committed.append(n)
                    outcomes["history"]["recovered"] += 1
                except StoreUnavailableError as exc:
                    outcomes["history"]["failed, coded"] += 1
                    failures.append(str(exc))
            proxy.random(None)
            got = sorted(r["n"] for r in tables.read_rows(settings, "ops", "bench_log"))
            extra = collections.Counter(got) - collections.Counter(committed)
            lost = collections.Counter(committed) - collections.Counter(got)
            outcomes["history"]["partial visible"] += sum(extra.values())
            if extra or lost:
                wrong.append(f"history: rows of failed or twice-made appends {sorted(extra)}")
                wrong.append(f"history: appends reported committed but missing {sorted(lost)}")

            # -- partner queries -------------------------------------------------------------
            uri = f"s3://{LAKE_BUCKET}/lake/share/{IFACE}__kpi_monthly"
            options = {"AWS_ENDPOINT_URL": store.s3_endpoint, "AWS_ALLOW_HTTP": "true"}
            for month in (10, 11):
                row = {
                    "kpi_id": "K01",
                    "kpi_name_zh": "执法检查次数",
                    "unit": "count",
                    "value": float(month),
                    "month": dt.date(2026, month, 1),
                }
                _append_kpi(uri, row, options)
            port = free_port()
            environ = {
                **sharing_env(tmp / "sharing", port),
                "EB_LAKE_ROOT": f"s3a://{LAKE_BUCKET}/lake",
                "EB_S3_ENDPOINT": proxy.endpoint,
                "AWS_REGION": "us-east-1",
            }
            standards_copy(tmp / "sharing")
            service_settings = make_settings(tmp / "sharing" / "var", **environ)
            profile = issue_profile(environ, IFACE, tmp / "sharing" / "p.share")
            token = json.loads(profile.read_text())["bearerToken"]
            headers = {"Authorization": f"Bearer {token}"}
            partner_faults = RandomFaults(
                args.rate, args.seed + 1, ("500", "503", "slowdown", "reset", "truncate")
            )
            with ServiceThread(service_settings) as service:
                table_url = f"{service.base}/shares/{IFACE}/schemas/default/tables/kpi_monthly"
                for q in range(args.queries):
                    # Every third query follows a new commit: the log must be read again.
                    if q % 3 == 0:
                        row = {**row, "value": float(q), "month": dt.date(2027, 1 + q % 12, 1)}
                        _append_kpi(uri, row, options)
                    truth = DeltaTable(uri, storage_options=options)
                    expected = sorted(
                        pa.table(truth.get_add_actions()).column("size_bytes").to_pylist()
                    )
                    if q == 0:
                        proxy.random(partner_faults)
                    answer = requests.post(
                        f"{table_url}/query", json={}, headers=headers, timeout=120
                    )
                    files = [
                        json.loads(line)["file"]
                        for line in answer.text.splitlines()
                        if answer.status_code == 200 and '"file"' in line
                    ]
                    fetched = []
                    for f in files[:2]:
                        try:
                            got_file = requests.get(f["url"], timeout=60)
                        except requests.RequestException:
                            fetched.append(("refused", f))
                            continue
                        fetched.append((got_file, f))
                    status = answer.status_code
                    if status == 200:
                        if sorted(f["size"] for f in files) != expected:
                            wrong.append(f"query {q}: files {len(files)} differ from the log")
                        outcomes["sharing query"]["answered 200"] += 1
                    elif (
                        status == 503
                        and answer.headers.get("Retry-After")
                        and answer.json().get("errorCode") == "TEMPORARILY_UNAVAILABLE"
                    ):
                        outcomes["sharing query"]["503 with Retry-After"] += 1
                    else:
                        outcomes["sharing query"][f"other {status}"] += 1
                        wrong.append(f"query {q}: {status} {answer.text[:200]}")
                    for got_file, f in fetched:
                        if got_file == "refused":
                            outcomes["partner file"]["connection error (no bytes used)"] += 1
                            continue
                        key = re.sub(r"^http://[^/]+/[^/]+/", "", f["url"].split("?", 1)[0])
                        key = requests.utils.unquote(key)
                        body = direct.get_object(Bucket=LAKE_BUCKET, Key=key)["Body"].read()
                        if got_file.status_code == 200:
                            outcomes["partner file"]["200, exact bytes"] += 1
                            if got_file.content != body:
                                wrong.append(f"query {q}: a file served with other bytes")
                        else:
                            outcomes["partner file"][f"store answered {got_file.status_code}"] += 1
                proxy.random(None)

            injected = proxy.injected()
    elapsed = time.monotonic() - started

    print(f"storage faults: seed {args.seed}, rate {args.rate}, {elapsed:.0f} s")
    print(f"faults injected: {len(injected)}")
    by_where = collections.Counter((where(i.path, i.query), i.fault) for i in injected)
    for (place, fault), count in sorted(by_where.items()):
        print(f"  {place:<24} {fault:<9} {count}")
    print("outcomes:")
    for phase, counts in outcomes.items():
        print(f"  {phase:<14} " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    partial = sum(c["partial visible"] for c in outcomes.values())
    other_5xx = sum(
        v
        for k, v in outcomes["sharing query"].items()
        if k.startswith("other 5") and k != "other 503"
    )
    print(f"partial visible: {partial}; 5xx other than 503 to partners: {other_5xx}")
    for line in sorted(set(failures)):
        print(f"  coded: {line}")
    for line in wrong:
        print(f"WRONG {line}")
    return 1 if wrong or partial or other_5xx else 0


if __name__ == "__main__":
    sys.exit(main())
