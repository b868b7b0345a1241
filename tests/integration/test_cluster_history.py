"""The history tables (``lake.tables.append_rows`` and its readers) on an ``s3a://`` lake,
served by the cluster profile's own S3 store (versitygw), with no Spark.

Several Airflow task processes append to the same history table at once; delta-rs commits
with S3's conditional writes (``conditional_put: etag``), so a commit that loses the race
is retried on the next version instead of overwriting the winner's: no commit is lost.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
from collections.abc import Iterator

import pyarrow.compute as pc
import pytest
from cluster_store import s3_lake

from enforcement_brain.lake import tables
from enforcement_brain.lake.s3 import storage_options
from enforcement_brain.settings import Settings

pytestmark = pytest.mark.cluster

SCHEMA = "source string, n bigint, day date"
DAY = dt.date(2026, 11, 28)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """An ``s3a://`` lake on a versitygw of its own, keys in the environment."""
    with s3_lake(tmp_path_factory.mktemp("cluster-history")) as settings:
        yield settings


def test_options_commit_with_conditional_writes(lake: Settings) -> None:
    assert storage_options(lake) == {
        "AWS_ENDPOINT_URL": lake.s3_endpoint,
        "AWS_ALLOW_HTTP": "true",
        "AWS_REGION": "us-east-1",
        "conditional_put": "etag",
        "max_retries": "3",
        "retry_timeout": "30s",
    }


def test_append_read_list_and_count_on_s3(lake: Settings) -> None:
    rows = [("gps", 3, DAY), ("wim", 5, DAY)]
    tables.append_rows(None, lake, "ops", "probe_log", rows, SCHEMA)
    tables.append_rows(None, lake, "ops", "probe_log", [("gps", 7, DAY)], SCHEMA)

    got = tables.read_rows(lake, "ops", "probe_log", pc.field("source") == "gps", ["n"])
    assert sorted(r["n"] for r in got) == [3, 7]
    assert tables.read_rows(lake, "ops", "missing_log") == []
    assert ("ops", "probe_log") in tables.lake_tables(lake)
    assert ("ops", "missing_log") not in tables.lake_tables(lake)
    assert tables.row_count_from_log(lake, "ops", "probe_log") == 3
    assert tables.latest_version(lake, "ops", "probe_log") == 1


def _append_many(settings: Settings, writer: int, count: int) -> None:
    for i in range(count):
        row = (f"w{writer}", i, DAY)
        tables.append_rows(None, settings, "ops", "race_log", [row], SCHEMA)


def test_concurrent_appends_from_processes_lose_no_commit(lake: Settings) -> None:
    writers, each = 6, 5
    context = multiprocessing.get_context("spawn")  # a task process each, as Airflow runs them
    procs = [context.Process(target=_append_many, args=(lake, w, each)) for w in range(writers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=300)
    assert [p.exitcode for p in procs] == [0] * writers

    rows = tables.read_rows(lake, "ops", "race_log")
    assert sorted((r["source"], r["n"]) for r in rows) == sorted(
        (f"w{w}", i) for w in range(writers) for i in range(each)
    )
    assert tables.latest_version(lake, "ops", "race_log") == writers * each - 1
    assert tables.row_count_from_log(lake, "ops", "race_log") == writers * each
