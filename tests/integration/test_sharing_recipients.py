"""Transfer recipients through the real service: each receiving agency reads only the 双百
weighings of plates registered in its own area, with its own token.

Gold-shaped 双百 rows of plates from Linyi (鲁Q), Suzhou in Anhui (皖L) and Xuzhou (苏C) go
through ``share.project.project`` for two recipients of ``transfer_recipients``, as
``project_interface`` does; the stock client with each recipient's profile must then see its
own region's plates and nothing else, and one recipient's token must not open the other's share.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import requests
from sharing_support import (
    ServiceThread,
    free_port,
    issue_profile,
    settings_for,
    share_day,
    sharing_env,
    standards_copy,
)

D1 = dt.date(2026, 11, 29)
GOLD = (
    "event_id string, weigh_kind string, record_id string, site_code string, plate_no string, "
    "is_xuzhou_plate boolean, axle_count int, gross_weight_kg int, limit_kg int, excess_kg int, "
    "excess_rate double, is_bai_dun_wang boolean, weigh_time timestamp, biz_date date"
)
LINYI, SUZHOU_AH = "transfer_recipients_linyi", "transfer_recipients_suzhou_anhui"


def _row(event_id: str, plate: str) -> tuple:
    return (
        event_id, "WIM", event_id, "WIM01", plate, plate.startswith("苏C"), 2, 40000, 18000,
        22000, 1.2222, False, dt.datetime.combine(D1, dt.time(9)), D1,
    )  # fmt: skip


ROWS = [
    _row("e1", "鲁Q12345"),
    _row("e2", "皖L23456"),
    _row("e3", "苏C34567"),
    _row("e4", "鲁Q7777挂"),
]


@pytest.fixture(scope="module")
def env(spark, tmp_path_factory):
    from enforcement_brain.declarations import load_catalog

    tmp = tmp_path_factory.mktemp("sharing-recipients")
    standards_copy(tmp)
    port = free_port()
    settings = settings_for(tmp, port)
    catalog = load_catalog(settings.standards_dir)
    for iid in (LINYI, SUZHOU_AH):
        entry = next(
            e for e in catalog.interfaces[iid].datasets if e.dataset == "shuang_bai_vehicles"
        )
        share_day(spark, settings, iid, entry, spark.createDataFrame(ROWS, GOLD), [D1])
    environ = sharing_env(tmp, port)
    profiles = {
        iid: issue_profile(environ, iid, tmp / f"{iid}.share") for iid in (LINYI, SUZHOU_AH)
    }
    with ServiceThread(settings) as service:
        yield {"profiles": profiles, "base": service.base}


def _plates(env, iid: str) -> list[str]:
    import delta_sharing

    url = f"{env['profiles'][iid]}#{iid}.default.shuang_bai_vehicles"
    return sorted(delta_sharing.load_as_pandas(url)["plate_no"].tolist())


def test_each_recipient_reads_only_the_plates_of_its_own_area(env):
    assert _plates(env, LINYI) == ["鲁Q12345", "鲁Q7777挂"]
    assert _plates(env, SUZHOU_AH) == ["皖L23456"]


def test_a_recipients_token_does_not_open_another_recipients_share(env):
    token = json.loads(env["profiles"][LINYI].read_text())["bearerToken"]
    r = requests.get(
        f"{env['base']}/shares/{SUZHOU_AH}/schemas/default/tables",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert r.status_code == 403, r.text
