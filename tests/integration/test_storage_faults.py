"""The object store fails: 500, 503, SlowDown, connection resets, stalls and truncated answers,
injected by :class:`enforcement_brain.faults.FaultProxy` in front of the cluster profile's
store (versitygw), at landing (boto3), on history-table writes (delta-rs) and on the sharing
service's reads of share tables' logs (boto3 and delta-rs). No Spark.

What must hold: a transient fault is retried (a bounded number of times) and the work ends as
if nothing had happened; a persistent one ends in one coded error line, with nothing partial
visible (no half-landed delivery, no table version that was not committed); a partner sees a
store failure only as the protocol's 503 with ``Retry-After`` and a JSON body.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
import requests
from cluster_store import LAKE_BUCKET, s3_lake
from conftest import make_settings
from sharing_support import (
    KPIS,
    ServiceThread,
    free_port,
    issue_profile,
    sharing_env,
    standards_copy,
)

from enforcement_brain.declarations import load_catalog
from enforcement_brain.errors import StoreUnavailableError
from enforcement_brain.faults import FaultProxy, Rule
from enforcement_brain.lake import s3 as lake_s3
from enforcement_brain.lake import tables
from enforcement_brain.lake.folders import lake_folder
from enforcement_brain.lake.s3 import s3_client
from enforcement_brain.pipeline import landing
from enforcement_brain.pipeline.delivery import delivery_dir
from enforcement_brain.settings import Settings

pytestmark = pytest.mark.cluster

DAY = dt.date(2026, 11, 28)
SOURCE = "gps_alarms"  # an object source: jt809-exchange, alarms/{yyyy}/{mm}/{dd}/
SOURCE_BUCKET = "jt809-exchange"
PREFIX = "alarms/2026/11/28/"
SCHEMA = "source string, n bigint, day date"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """One versitygw for the module, with the lake's bucket and the source's bucket."""
    with s3_lake(tmp_path_factory.mktemp("faults"), (SOURCE_BUCKET,)) as settings:
        yield settings


@contextlib.contextmanager
def proxied(store: Settings, var: Path, **extra: str) -> Iterator[tuple[FaultProxy, Settings]]:
    """A fault proxy in front of the module's store, and settings whose clients (the lake's
    and the source systems') all reach the store through it."""
    with FaultProxy(store.s3_endpoint.removeprefix("http://")) as proxy:
        settings = make_settings(
            var,
            EB_LAKE_ROOT=f"s3a://{LAKE_BUCKET}/{var.name}",
            EB_S3_ENDPOINT=proxy.endpoint,
            EB_OBJECTS_URL=proxy.endpoint,
            AWS_REGION="us-east-1",
            **extra,
        )
        yield proxy, settings


def _direct(store: Settings):
    return s3_client(store.s3_endpoint, "us-east-1")


def _deliver(store: Settings, names: list[str]) -> dict[str, bytes]:
    """Put the day's objects into the source bucket, straight at the store."""
    client = _direct(store)
    delivered = {}
    for i, name in enumerate(names):
        body = "".join(
            json.dumps({"alarm_id": f"{name}-{n}", "n": n, "i": i}) + "\n" for n in range(50)
        ).encode()
        client.put_object(Bucket=SOURCE_BUCKET, Key=PREFIX + name, Body=body)
        delivered[name] = body
    return delivered


def _landed(store: Settings, settings: Settings) -> dict[str, bytes]:
    """Every object under the delivery's landing folder, read straight from the store."""
    client = _direct(store)
    folder = lake_folder(settings, delivery_dir(settings, _source(settings), DAY))
    prefix = folder.uri.removeprefix(f"s3a://{LAKE_BUCKET}/") + "/"
    listed = client.list_objects_v2(Bucket=LAKE_BUCKET, Prefix=prefix).get("Contents", [])
    return {
        o["Key"][len(prefix) :]: client.get_object(Bucket=LAKE_BUCKET, Key=o["Key"])["Body"].read()
        for o in listed
    }


def _source(settings: Settings):
    return load_catalog(settings.standards_dir).sources[SOURCE]


# -- landing -----------------------------------------------------------------------------------


def test_landing_recovers_from_transient_faults_with_the_right_bytes(
    store: Settings, tmp_path: Path
) -> None:
    names = ["alarms-00.jsonl", "alarms-01.jsonl", "alarms-02.jsonl"]
    delivered = _deliver(store, names)
    with proxied(store, tmp_path / "transient") as (proxy, settings):
        proxy.add(
            Rule("503", "GET", r"^/jt809-exchange/?$", query="list-type", label="list"),
            Rule("500", "GET", r"/alarms-00\.jsonl$", label="get"),
            Rule("slowdown", "GET", r"/alarms-01\.jsonl$", label="get"),
            Rule("reset", "GET", r"/alarms-02\.jsonl$", label="get"),
            Rule("503", "PUT", r"/landing/gps_alarms/.*/alarms-01\.jsonl$", label="put"),
            Rule("reset", "PUT", r"/landing/gps_alarms/.*/_manifest", label="put"),
        )
        landed = landing.land(settings, _source(settings), DAY, "run-1")
        assert landed is not None
        assert proxy.counts() == {"503": 2, "500": 1, "slowdown": 1, "reset": 2}
        assert proxy.remaining() == [0] * 6  # every fault was met
    got = _landed(store, settings)
    assert {k: v for k, v in got.items() if not k.startswith("_")} == delivered
    assert sorted(e.file for e in landed.files) == names
    assert {e.file: e.sha256 for e in landed.files} == {
        n: hashlib.sha256(b).hexdigest() for n, b in delivered.items()
    }


def test_landing_under_a_persistent_fault_stops_coded_and_leaves_nothing(
    store: Settings, tmp_path: Path
) -> None:
    names = ["alarms-10.jsonl", "alarms-11.jsonl", "alarms-12.jsonl"]
    delivered = _deliver(store, names)
    with proxied(store, tmp_path / "persistent") as (proxy, settings):
        # The first two objects land; the third's GET fails every time.
        proxy.add(Rule("503", "GET", r"/alarms-12\.jsonl$", times=-1, label="get"))
        with pytest.raises(StoreUnavailableError) as caught:
            landing.land(settings, _source(settings), DAY, "run-1")
        attempts = proxy.counts()["503"]
    message = str(caught.value)
    assert message.startswith("[EB-STORE-UNAVAILABLE] gps_alarms: delivery 2026-11-28 at ")
    assert "s3://jt809-exchange/alarms/2026/11/28/alarms-12.jsonl" in message
    assert "after 3 attempts" in message and "\n" not in message
    assert attempts == 3  # boto3's bounded retries: three attempts, then the error
    assert _landed(store, settings) == {}  # nothing partial under landing/
    client = _direct(store)
    for name in names:  # the delivery is still where the source system put it
        body = client.get_object(Bucket=SOURCE_BUCKET, Key=PREFIX + name)["Body"].read()
        assert body == delivered[name]


# -- history tables (delta-rs) -----------------------------------------------------------------


def test_a_history_append_through_transient_put_faults_commits_exactly_once(
    store: Settings, tmp_path: Path
) -> None:
    with proxied(store, tmp_path / "hist") as (proxy, settings):
        tables.append_rows(None, settings, "ops", "probe_log", [("gps", 1, DAY)], SCHEMA)
        proxy.add(
            Rule("503", "PUT", r"/ops/probe_log/[^_].*\.parquet$", label="data"),
            Rule("slowdown", "PUT", r"/_delta_log/00000000000000000001\.json$", label="commit"),
            Rule("500", "PUT", r"/_delta_log/00000000000000000001\.json$", label="commit"),
            Rule("reset", "PUT", r"/_delta_log/00000000000000000001\.json$", label="commit"),
        )
        rows = [("gps", 2, DAY), ("wim", 3, DAY)]
        tables.append_rows(None, settings, "ops", "probe_log", rows, SCHEMA)
        assert proxy.counts() == {"503": 1, "slowdown": 1, "500": 1, "reset": 1}
        proxy.clear()
        got = tables.read_rows(settings, "ops", "probe_log")
        assert sorted((r["source"], r["n"]) for r in got) == [("gps", 1), ("gps", 2), ("wim", 3)]
        assert tables.latest_version(settings, "ops", "probe_log") == 1


def test_a_history_commit_whose_answer_is_lost_is_not_committed_twice(
    store: Settings, tmp_path: Path
) -> None:
    with proxied(store, tmp_path / "lost") as (proxy, settings):
        tables.append_rows(None, settings, "ops", "probe_log", [("gps", 1, DAY)], SCHEMA)
        # The store writes version 1; the connection closes before its answer.
        proxy.add(Rule("lost", "PUT", r"/_delta_log/00000000000000000001\.json$", label="commit"))
        tables.append_rows(None, settings, "ops", "probe_log", [("gps", 2, DAY)], SCHEMA)
        assert proxy.counts() == {"lost": 1}
        got = tables.read_rows(settings, "ops", "probe_log")
        assert sorted(r["n"] for r in got) == [1, 2]
        assert tables.latest_version(settings, "ops", "probe_log") == 1


def test_a_history_append_under_a_persistent_commit_fault_stops_coded_at_the_old_version(
    store: Settings, tmp_path: Path
) -> None:
    with proxied(store, tmp_path / "hist2") as (proxy, settings):
        tables.append_rows(None, settings, "ops", "probe_log", [("gps", 1, DAY)], SCHEMA)
        proxy.add(Rule("503", "PUT", r"/_delta_log/\d+\.json$", times=-1, label="commit"))
        with pytest.raises(StoreUnavailableError) as caught:
            tables.append_rows(None, settings, "ops", "probe_log", [("gps", 2, DAY)], SCHEMA)
        attempts = proxy.counts()["503"]
        proxy.clear()
        message = str(caught.value)
        assert message.startswith("[EB-STORE-UNAVAILABLE] ops.probe_log: the lake's store ")
        assert "nothing was committed" in message and "\n" not in message
        # Bounded: three writes, each a first try of the commit and delta-rs's retries of it.
        assert attempts == tables.APPEND_STORE_ATTEMPTS * (1 + lake_s3.DELTA_MAX_RETRIES) == 12
        got = tables.read_rows(settings, "ops", "probe_log")
        assert [(r["source"], r["n"]) for r in got] == [("gps", 1)]
        assert tables.latest_version(settings, "ops", "probe_log") == 0
        # Once the store answers again, the same append commits as version 1.
        tables.append_rows(None, settings, "ops", "probe_log", [("gps", 2, DAY)], SCHEMA)
        got = tables.read_rows(settings, "ops", "probe_log")
        assert sorted(r["n"] for r in got) == [1, 2]
        assert tables.latest_version(settings, "ops", "probe_log") == 1


# -- the sharing service -----------------------------------------------------------------------

IFACE = "provincial_supervision"


@pytest.fixture(scope="module")
def service(store: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The sharing service on an ``s3a://`` lake whose store it reaches through the proxy; one
    share table (``kpi_monthly``, two commits) written straight to the store."""
    from deltalake import write_deltalake

    tmp = tmp_path_factory.mktemp("faults-sharing")
    options = {"AWS_ENDPOINT_URL": store.s3_endpoint, "AWS_ALLOW_HTTP": "true"}
    uri = f"s3://{LAKE_BUCKET}/sharelake/share/{IFACE}__kpi_monthly"
    table = pa.Table.from_pylist(KPIS)
    write_deltalake(uri, table.slice(0, 2), partition_by=["month"], storage_options=options)
    write_deltalake(
        uri, table.slice(2), partition_by=["month"], mode="append", storage_options=options
    )
    upstream = store.s3_endpoint.removeprefix("http://")
    with FaultProxy(upstream) as proxy, pytest.MonkeyPatch.context() as mp:
        mp.setattr(lake_s3, "READ_TIMEOUT", 2)  # a stall longer than this is a timeout
        port = free_port()
        environ = {
            **sharing_env(tmp, port),
            "EB_LAKE_ROOT": f"s3a://{LAKE_BUCKET}/sharelake",
            "EB_S3_ENDPOINT": proxy.endpoint,
            "AWS_REGION": "us-east-1",
        }
        standards_copy(tmp)
        settings = make_settings(tmp / "var", **environ)
        profile = issue_profile(environ, IFACE, tmp / f"{IFACE}.share")
        with ServiceThread(settings) as running:
            yield {
                "proxy": proxy,
                "base": running.base,
                "token": json.loads(profile.read_text())["bearerToken"],
                "profile": profile,
                "uri": uri,
                "options": options,
                "month": 0,
            }


def _table_url(service: dict) -> str:
    return f"{service['base']}/shares/{IFACE}/schemas/default/tables/kpi_monthly"


def _ask(service: dict, what: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {service['token']}"}
    if what == "query":
        return requests.post(f"{_table_url(service)}/query", json={}, headers=headers, timeout=60)
    return requests.get(f"{_table_url(service)}/{what}", headers=headers, timeout=60)


def _files(answer: requests.Response) -> list[dict]:
    lines = [json.loads(line) for line in answer.text.splitlines()]
    return [line["file"] for line in lines if "file" in line]


LIST = {"method": "GET", "path": rf"^/{LAKE_BUCKET}/?$", "query": "list-type"}
COMMIT_GET = {"method": "GET", "path": r"__kpi_monthly/_delta_log/\d+\.json$"}


@pytest.mark.parametrize(
    ("fault", "where", "seconds"),
    [
        ("503", LIST, 0.0),
        ("slowdown", LIST, 0.0),
        ("reset", LIST, 0.0),
        ("stall", LIST, 3.0),  # past the 2 s read timeout, on every attempt
        ("500", COMMIT_GET, 0.0),
        ("reset", COMMIT_GET, 0.0),
    ],
)
@pytest.mark.parametrize("what", ["query", "metadata"])
def test_a_partner_sees_a_failing_store_as_a_retryable_503(
    service: dict, fault: str, where: dict, seconds: float, what: str
) -> None:
    from deltalake import DeltaTable, write_deltalake

    proxy: FaultProxy = service["proxy"]
    proxy.clear()
    assert _ask(service, what).status_code == 200
    # A new commit the service has not read: the faulted request has to read the log again.
    service["month"] += 1
    row = {**KPIS[0], "month": dt.date(2027, service["month"], 1)}
    write_deltalake(
        service["uri"],
        pa.Table.from_pylist([row]),
        partition_by=["month"],
        mode="append",
        storage_options=service["options"],
    )
    proxy.add(Rule(fault, times=-1, seconds=seconds, label="log", **where))
    try:
        answer = _ask(service, what)
    finally:
        proxy.clear()
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "5"
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert body["errorCode"] == "TEMPORARILY_UNAVAILABLE"
    assert body["message"].startswith("the lake's store did not answer")
    assert "Traceback" not in answer.text and "botocore" not in answer.text
    assert proxy.counts()[fault] >= 1

    again = _ask(service, what)
    assert again.status_code == 200, again.text
    truth = DeltaTable(service["uri"], storage_options=service["options"])
    if what == "query":
        expected = sorted(pa.table(truth.get_add_actions()).column("size_bytes").to_pylist())
        assert sorted(f["size"] for f in _files(again)) == expected
        assert len(_files(again)) == 2 + service["month"]
    else:
        assert _ask(service, "version").headers["delta-table-version"] == str(truth.version())


def test_a_presigned_file_cut_short_by_the_store_is_an_error_to_the_partner_never_rows(
    service: dict,
) -> None:
    import aiohttp
    import delta_sharing

    proxy: FaultProxy = service["proxy"]
    proxy.clear()
    answer = _ask(service, "query")
    assert answer.status_code == 200
    url = _files(answer)[0]["url"]
    assert url.startswith(proxy.endpoint)  # presigned for the store's address: the proxy
    whole = requests.get(url, timeout=30)
    assert whole.status_code == 200 and whole.content[:4] == b"PAR1"

    data_file = r"__kpi_monthly/month(=|%3D).*\.parquet$"
    proxy.add(Rule("truncate", "GET", data_file, times=-1, label="file"))
    try:
        # The store sends its Content-Length and half the bytes, then closes: the partner's
        # HTTP client refuses the short body.
        with pytest.raises(requests.exceptions.ChunkedEncodingError, match="Connection broken"):
            requests.get(url, timeout=30)
        # The stock client reads the files with fsspec over aiohttp, which holds the body to
        # its Content-Length: an error, and no rows.
        table_url = f"{service['profile']}#{IFACE}.default.kpi_monthly"
        with pytest.raises(aiohttp.ClientPayloadError, match="Not enough data to satisfy"):
            delta_sharing.load_as_pandas(table_url)
    finally:
        proxy.clear()
    assert proxy.counts()["truncate"] >= 2
    rows = delta_sharing.load_as_pandas(f"{service['profile']}#{IFACE}.default.kpi_monthly")
    assert len(rows) == len(KPIS) + service["month"]
