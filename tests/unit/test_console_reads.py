"""The console's reads of the ``ops`` tables: kept between requests, never stale (delta-rs)."""

from __future__ import annotations

import datetime as dt
import shutil

import pyarrow as pa
from conftest import make_settings
from deltalake import write_deltalake

from enforcement_brain.console import queries


def _append(uri: str, day: dt.date, source: str, mode: str = "append") -> None:
    rows = pa.table({"source": [source], "delivery_date": pa.array([day], pa.date32())})
    write_deltalake(uri, rows, mode=mode)


def test_a_page_sees_each_new_version_and_a_replaced_table(tmp_path) -> None:
    settings = make_settings(tmp_path)
    uri = settings.table_uri("ops", "batch_log")
    assert queries._ops(settings, "batch_log") == []  # not there yet: no rows, no error

    d1, d2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)
    _append(uri, d1, "wim")
    assert [r["source"] for r in queries._ops(settings, "batch_log")] == ["wim"]
    kept = queries._ops_table(settings, "batch_log")
    assert queries._ops_table(settings, "batch_log") is kept  # unchanged: not read again

    _append(uri, d2, "anpr")  # a load appends: the next request reads the new version
    rows = queries._ops(settings, "batch_log", columns=["source"])
    assert sorted(r["source"] for r in rows) == ["anpr", "wim"]
    assert queries._last_day(settings, "batch_log") == d2

    shutil.rmtree(uri)  # rebuilt from scratch (a restore, a new lake) up to the same version
    _append(uri, d1, "toll")
    _append(uri, d1, "bus")
    rows = queries._ops(settings, "batch_log", columns=["source"])
    assert sorted(r["source"] for r in rows) == ["bus", "toll"]
