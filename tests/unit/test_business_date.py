from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pendulum
import pytest

from enforcement_brain.errors import EbError
from enforcement_brain.orchestration.tasks import business_date


def test_conf_date_wins():
    ctx = {"dag_run": SimpleNamespace(conf={"date": "2026-11-20"}), "logical_date": None}
    assert business_date(ctx) == dt.date(2026, 11, 20)


def test_asset_event_carries_the_day():
    event = SimpleNamespace(extra={"delivery_date": "2026-11-21"})
    ctx = {"dag_run": SimpleNamespace(conf={}), "triggering_asset_events": {"a": [event]}}
    assert business_date(ctx) == dt.date(2026, 11, 21)


def test_logical_date_is_read_in_shanghai():
    # `airflow dags test <dag> 2026-11-29` → midnight UTC, 08:00 in Shanghai, same day.
    ctx = {"logical_date": pendulum.datetime(2026, 11, 29, tz="UTC")}
    assert business_date(ctx) == dt.date(2026, 11, 29)
    # A scheduled run at 01:00 Shanghai for the interval starting on the 28th.
    ctx = {"logical_date": pendulum.datetime(2026, 11, 28, 1, tz="Asia/Shanghai")}
    assert business_date(ctx) == dt.date(2026, 11, 28)


def test_no_date_anywhere_is_a_clear_error():
    with pytest.raises(EbError, match="cannot tell which day"):
        business_date({"logical_date": None})


def test_a_run_on_any_asset_covers_each_triggering_source_on_its_own_day():
    from enforcement_brain.orchestration.tasks import triggering_sources

    def event(name: str, day: str | None) -> SimpleNamespace:
        extra = {"delivery_date": day} if day else {}
        return SimpleNamespace(asset=SimpleNamespace(name=name), extra=extra)

    events = {
        "silver.wim_weighings": [event("silver.wim_weighings", "2026-11-21")],
        "silver.gps_alarms": [
            event("silver.gps_alarms", "2026-11-20"),
            event("silver.gps_alarms", "2026-11-21"),
        ],
        "gold.overload_alerts": [event("gold.overload_alerts", "2026-11-21")],
        "silver.toll_transactions": [event("silver.toll_transactions", None)],
    }
    assert triggering_sources({"triggering_asset_events": events}, "silver") == {
        dt.date(2026, 11, 20): ["gps_alarms"],
        dt.date(2026, 11, 21): ["gps_alarms", "wim_weighings"],
    }
    assert triggering_sources({}, "silver") == {}
