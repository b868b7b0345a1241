# ruff: noqa: E501  (schema strings of the hand-made frames read best on one line)
"""Each shared dataset's SQL on tiny hand-made silver frames, with outputs computed by hand.

The frames carry only the columns the SQL reads (silver has more); values are chosen so every
branch of a dataset's logic shows in the expected rows.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from wim_support import KPI_INPUTS, empty_kpi_inputs
from wim_support import SILVER_STATIC as STATIC
from wim_support import SILVER_WIM as WIM

from enforcement_brain.declarations import load_catalog
from enforcement_brain.gold.datasets import build as build_dataset
from enforcement_brain.gold.datasets import prepare_session
from enforcement_brain.gold.publish import evaluate_gate
from enforcement_brain.settings import REPO_ROOT
from enforcement_brain.standards.code_tables import load_code_table

D1, D2 = dt.date(2026, 11, 29), dt.date(2026, 11, 30)


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(REPO_ROOT / "data_standards")


def build(spark, catalog, name: str, **frames: tuple[list[tuple], str]) -> list[dict]:
    inputs = {sid: spark.createDataFrame(rows, schema) for sid, (rows, schema) in frames.items()}
    out = build_dataset(spark, catalog, catalog.datasets[name], inputs)
    return [r.asDict() for r in out.collect()]


def with_trailer(rows: list[tuple]) -> list[tuple]:
    """WIM rows with the rear camera's trailer plate; none read unless a row gives one."""
    return [r if len(r) == 10 else (*r, None) for r in rows]


def test_every_declared_dataset_has_its_sql_beside_it(catalog):
    assert len(catalog.datasets) == 18
    assert all(d.sql_path.is_file() and d.sql.strip() for d in catalog.datasets.values())


def test_shuang_bai_vehicles(spark, catalog):
    wim = [
        # 6-axle tractor at 101 t: 百吨王 (rate 106 %, also ≥ 100 %)
        ("W1", "S1", "苏C12345", "yellow", "Q11", 6, 101000, ts("2026-11-29 08:00:00"), D1),
        # 2-axle rigid at 36 t: exactly 100 % over 18 t → 双百, not 百吨王
        ("W2", "S1", "鲁Q8888挂", "yellow", "H11", 2, 36000, ts("2026-11-29 09:00:00"), D1),
        # 2-axle at 35,999 kg: 99.99 % → not listed
        ("W3", "S1", "苏C00001", "yellow", "H11", 2, 35999, ts("2026-11-29 10:00:00"), D1),
        # unread plate at 120 t: names no vehicle → not listed
        ("W4", "S1", "-", None, "Q11", 6, 120000, ts("2026-11-29 11:00:00"), D1),
    ]
    static = [("R1", "S1", "苏CA0001", 3, 50000, 25000, ts("2026-11-29 12:00:00"), D1)]
    rows = build(
        spark, catalog, "shuang_bai_vehicles",
        wim_weighings=(with_trailer(wim), WIM), static_reweighs=(static, STATIC),
    )  # fmt: skip
    got = {r["event_id"]: r for r in rows}
    assert sorted(got) == ["STATIC:R1", "WIM:W1", "WIM:W2"]
    w1, w2, r1 = got["WIM:W1"], got["WIM:W2"], got["STATIC:R1"]
    assert (w1["limit_kg"], w1["excess_kg"], w1["is_bai_dun_wang"], w1["is_xuzhou_plate"]) == (
        49000, 52000, True, True,
    )  # fmt: skip
    assert (w2["limit_kg"], w2["excess_rate"], w2["is_bai_dun_wang"], w2["is_xuzhou_plate"]) == (
        18000, 1.0, False, False,
    )  # fmt: skip
    assert (r1["weigh_kind"], r1["limit_kg"], r1["excess_kg"], r1["excess_rate"]) == (
        "STATIC", 25000, 25000, 1.0,
    )  # fmt: skip


def test_overload_alerts_give_every_road_train_its_limit(spark, catalog):
    wim = [
        # truck + centre-axle trailer, 3 axles at 26 t: under the road-train limit of 27 t
        (
            "A1",
            "S1",
            "苏C11111",
            "yellow",
            "H11",
            3,
            26000,
            ts("2026-11-29 08:00:00"),
            D1,
            "苏C1111挂",
        ),
        # truck + full trailer, 4 axles at 35 t: under 36 t
        (
            "A2",
            "S1",
            "苏C22222",
            "yellow",
            "H11",
            4,
            35000,
            ts("2026-11-29 08:10:00"),
            D1,
            "苏C2222挂",
        ),
        # truck + full trailer, 4 axles at 38 t: 2,000 kg over 36 t
        (
            "A3",
            "S1",
            "苏C33333",
            "yellow",
            "H11",
            4,
            38000,
            ts("2026-11-29 08:20:00"),
            D1,
            "苏C3333挂",
        ),
        # rigid 4-axle truck at 35 t: 4,000 kg over 31 t
        ("A4", "S1", "苏C44444", "yellow", "H11", 4, 35000, ts("2026-11-29 08:30:00"), D1),
        # the camera read the semi-trailer's plate (B11): 3 axles at 26 t is under 27 t
        ("A5", "S1", "苏C5555挂", "yellow", "B11", 3, 26000, ts("2026-11-29 08:40:00"), D1),
    ]
    rows = build(spark, catalog, "overload_alerts", wim_weighings=(with_trailer(wim), WIM))
    got = {r["alert_id"]: (r["is_combination"], r["limit_kg"], r["excess_kg"]) for r in rows}
    assert got == {"A3": (True, 36000, 2000), "A4": (False, 31000, 4000)}


def test_overload_alerts_take_the_tolerance_from_the_site_class(spark, catalog):
    sites = load_code_table(REPO_ROOT / "data_standards", "wim_sites").codes
    in_force = [s for s in sites if str(s["verified_until"]) >= str(D1)]
    c2 = next(s["code"] for s in in_force if s["accuracy_class"] == "2")
    c10 = next(s["code"] for s in in_force if s["accuracy_class"] == "10")
    lapsed = next(s["code"] for s in sites if str(s["verified_until"]) < str(D1))
    wim = [
        # 6-axle tractor at 51 t: 4.1 % over 49 t. Class 2 (±2 %): beyond the band, enforceable
        ("T1", c2, "苏C11111", "yellow", "Q11", 6, 51000, ts("2026-11-29 08:00:00"), D1),
        # the same on a class-10 scale (±10 %): inside the band, re-weigh statically
        ("T2", c10, "苏C22222", "yellow", "Q11", 6, 51000, ts("2026-11-29 08:10:00"), D1),
        # class 10 at 55 t: 12.2 % over, 55,000 × 0.9 = 49,500 > 49,000: enforceable
        ("T3", c10, "苏C33333", "yellow", "Q11", 6, 55000, ts("2026-11-29 08:20:00"), D1),
        # far over on a site whose verification has lapsed: an alert, counted, not enforceable
        ("T4", lapsed, "苏C44444", "yellow", "Q11", 6, 80000, ts("2026-11-29 08:30:00"), D1),
    ]
    rows = build(spark, catalog, "overload_alerts", wim_weighings=(with_trailer(wim), WIM))
    got = {
        r["alert_id"]: (r["wim_tolerance"], r["needs_static_reweigh"], r["site_verified"],
                        r["is_enforceable"])
        for r in rows
    }  # fmt: skip
    assert got == {
        "T1": (0.02, False, True, True),
        "T2": (0.1, True, True, False),
        "T3": (0.1, False, True, True),
        "T4": (got["T4"][0], False, False, False),
    }


def test_violation_transfers_by_destination(spark, catalog):
    schema = "transfer_id string, direction string, plate_no string, to_area string, violation_code string, case_closed_at timestamp, transferred_at timestamp, biz_date date"
    closed, sent = ts("2026-11-18 09:00:00"), ts("2026-11-29 10:00:00")  # 7 working days after
    rows = [
        ("T1", "OUT", "皖F1", "340100", "CX01", closed, sent, D1),
        ("T2", "OUT", "皖F1", "340100", "CX01", ts("2026-11-17 09:00:00"), sent, D1),  # 8: late
        ("T3", "OUT", "皖F2", "340100", "CX01", closed, sent, D1),
        ("T4", "OUT", "苏N1", "320500", "CX01", closed, sent, D1),
        ("T5", "IN", "苏C1", "320300", "YY01", None, ts("2026-11-30 10:00:00"), D2),
    ]
    out = build(
        spark, catalog, "violation_transfers_by_destination", violation_transfers=(rows, schema)
    )
    got = {(r["biz_date"], r["direction"], r["to_area"]): r for r in out}
    assert len(got) == 3
    a = got[(D1, "OUT", "340100")]
    assert (a["transfers"], a["vehicles"], a["is_out_of_province"], a["violation_name_zh"]) == (
        3, 2, True, "违法超限运输",
    )  # fmt: skip
    assert a["transfers_on_time"] == 2
    assert got[(D1, "OUT", "320500")]["is_out_of_province"] is False
    assert (
        got[(D2, "IN", "320300")]["transfers"],
        got[(D2, "IN", "320300")]["transfers_on_time"],
    ) == (1, 0)


def test_source_enterprise_overloads_traced_to_the_first_later_wim(spark, catalog):
    sew_schema = (
        "ticket_no string, enterprise_credit_code string, enterprise_name string, plate_no string, "
        "axle_count int, gross_weight_kg int, tare_kg int, net_kg int, weigh_time timestamp, biz_date date"
    )
    sew = [
        # 3 axles: combination limit 27 t applies (benefit of the doubt) → 3 t over
        ("K1", "91X", "甲矿", "苏C11111", 3, 30000, 12000, 18000, ts("2026-11-29 07:00:00"), D1),
        # 3 axles at 26 t: over the rigid 25 t but not the 27 t applied → not listed
        ("K2", "91X", "甲矿", "苏C22222", 3, 26000, 12000, 14000, ts("2026-11-29 07:30:00"), D1),
        # 6 axles at 100 t → 51 t over, 双百, no WIM weighing after it
        ("K3", "91Y", "乙厂", "苏C33333", 6, 100000, 15000, 85000, ts("2026-11-29 09:00:00"), D1),
    ]
    wim = [
        (
            "W0",
            "S1",
            "苏C11111",
            "yellow",
            "H11",
            3,
            30500,
            ts("2026-11-29 06:00:00"),
            D1,
        ),  # before
        ("W1", "S2", "苏C11111", "yellow", "H11", 3, 30100, ts("2026-11-29 08:00:00"), D1),
        ("W2", "S3", "苏C11111", "yellow", "H11", 3, 30200, ts("2026-11-29 09:00:00"), D1),
        (
            "W3",
            "S3",
            "苏C33333",
            "yellow",
            "Q11",
            6,
            99000,
            ts("2026-11-28 23:00:00"),
            D2,
        ),  # other day
    ]
    out = build(
        spark, catalog, "source_enterprise_overloads",
        source_enterprise_weighings=(sew, sew_schema), wim_weighings=(with_trailer(wim), WIM),
    )  # fmt: skip
    got = {r["ticket_no"]: r for r in out}
    assert sorted(got) == ["K1", "K3"]
    k1, k3 = got["K1"], got["K3"]
    assert (k1["limit_kg"], k1["excess_kg"], k1["wim_record_id"], k1["wim_site_code"]) == (
        27000, 3000, "W1", "S2",
    )  # fmt: skip
    assert (k3["limit_kg"], k3["excess_kg"], k3["is_shuang_bai"], k3["wim_record_id"]) == (
        49000, 51000, True, None,
    )  # fmt: skip


def test_case_disclosures_mask_people_and_keep_enterprises(spark, catalog):
    dec_schema = (
        "decision_no string, case_no string, party_name string, party_credit_code string, "
        "party_id_no string, violation_code string, fine_yuan int, decided_on date, biz_date date"
    )
    decisions = [
        ("J1", "C1", "徐州甲运输有限公司", "91320300MA0000000X", None, "CX01", 3000, D1, D2),
        ("J2", "C2", "张三丰", None, "320302199001011234", "YY01", 20000, D1, D1),
    ]
    # C2 delivered under two case ids: the row updated last is the case's state
    cases = [
        ("K1", "C1", "320321", "CLOSED", ts("2026-11-29 08:00:00")),
        ("K2", "C2", "320311", "FILED", ts("2026-11-28 08:00:00")),
        ("K3", "C2", "320302", "EXECUTING", ts("2026-11-30 08:00:00")),
        ("K4", "C2", "320303", "FILED", ts("2026-11-29 08:00:00")),
    ]
    case_schema = (
        "case_id string, case_no string, division_code string, status string, updated_at timestamp"
    )
    out = build(
        spark, catalog, "case_disclosures",
        penalty_decisions=(decisions, dec_schema),
        enforcement_cases=(cases, case_schema),
    )  # fmt: skip
    assert sorted(r["decision_no"] for r in out) == ["J1", "J2"]  # one row per decision
    got = {r["decision_no"]: r for r in out}
    assert (got["J2"]["division_code"], got["J2"]["case_status"]) == ("320302", "EXECUTING")
    assert got["J1"]["party_name_disclosed"] == "徐州甲运输有限公司"
    assert got["J1"]["party_credit_code"] == "91320300MA0000000X"
    assert (got["J1"]["division_code"], got["J1"]["case_status"]) == ("320321", "CLOSED")
    assert got["J2"]["party_kind"] == "person"
    assert got["J2"]["party_name_disclosed"] == "张**"
    assert got["J2"]["party_credit_code"] is None
    assert got["J2"]["decided_on"] == D1
    assert not {"party_id_no", "party_name", "plate_no", "biz_date"} & set(out[0])


def test_taxi_service_quality_places_tickets_by_day_received(spark, catalog):
    t_schema = "ticket_no string, category string, substantiated boolean, received_at timestamp"
    tickets = [
        ("Q1", "TAXI_REFUSAL", True, ts("2026-11-29 08:00:00")),
        ("Q2", "TAXI_DETOUR", False, ts("2026-11-29 09:00:00")),
        ("Q3", "RIDE_HAILING", True, ts("2026-11-29 10:00:00")),
        ("Q4", "BUS", True, ts("2026-11-29 10:00:00")),  # other industry: not counted
    ]
    # meter trips (CRUISE) are the taxis' trips, orders (ONLINE) the ride-hailing ones
    trips = (
        [(f"O{i}", "ONLINE", D1) for i in range(4)]
        + [(f"M{i}", "CRUISE", D1) for i in range(5)]
        + [("O9", "ONLINE", D2), ("M9", "CRUISE", D2)]
    )
    out = build(
        spark, catalog, "taxi_service_quality",
        complaint_tickets=(tickets, t_schema),
        passenger_trips=(trips, "trip_id string, service_kind string, biz_date date"),
    )  # fmt: skip
    got = {(r["biz_date"], r["industry"]): r for r in out}
    assert set(got) == {(D1, "taxi"), (D1, "ride_hailing"), (D2, "taxi"), (D2, "ride_hailing")}
    taxi, rh, rh2 = got[(D1, "taxi")], got[(D1, "ride_hailing")], got[(D2, "ride_hailing")]
    assert (taxi["complaints"], taxi["substantiated"], taxi["trips"]) == (2, 1, 5)
    assert taxi["complaints_per_10k_trips"] == 4000.0
    assert (rh["complaints"], rh["trips"], rh["complaints_per_10k_trips"]) == (1, 4, 2500.0)
    assert (rh2["complaints"], rh2["trips"], rh2["complaints_per_10k_trips"]) == (0, 1, 0.0)
    taxi2 = got[(D2, "taxi")]
    assert (taxi2["complaints"], taxi2["trips"], taxi2["complaints_per_10k_trips"]) == (0, 1, 0.0)


def test_ride_hailing_compliance(spark, catalog):
    o_schema = "trip_id string, service_kind string, operator_credit_code string, plate_no string, biz_date date"
    orders = [
        ("O1", "ONLINE", "P1", "苏C1", D1),
        ("O2", "ONLINE", "P1", "苏C1", D1),
        ("O3", "ONLINE", "P1", "苏C2", D1),  # permit expired the day before
        ("O4", "ONLINE", "P2", "苏C3", D1),  # no permit at all; platform P2 unlicensed
        ("M1", "CRUISE", "T1", "苏C4", D1),  # a taxi company's meter trip: not ride-hailing
        ("M2", "CRUISE", "P1", "苏C5", D1),
    ]
    p_schema = "permit_no string, permit_kind string, platform_credit_code string, plate_no string, valid_from date, valid_until date"
    permits = [
        ("V1", "VEHICLE", "P1", "苏C1", dt.date(2026, 1, 1), dt.date(2027, 1, 1)),
        ("V2", "VEHICLE", "P1", "苏C2", dt.date(2025, 1, 1), dt.date(2026, 11, 28)),
        ("PL1", "PLATFORM", "P1", None, dt.date(2020, 1, 1), None),
    ]
    out = build(
        spark, catalog, "ride_hailing_compliance",
        passenger_trips=(orders, o_schema), ride_hailing_permits=(permits, p_schema),
    )  # fmt: skip
    got = {r["platform_credit_code"]: r for r in out}
    assert set(got) == {"P1", "P2"}
    p1, p2 = got["P1"], got["P2"]
    assert (p1["orders"], p1["vehicles"], p1["orders_permitted_vehicle"]) == (3, 2, 2)
    assert (p1["orders_unpermitted_vehicle"], p1["vehicle_compliance_rate"]) == (1, 0.6667)
    assert p1["platform_licensed"] is True and p2["platform_licensed"] is False
    assert (p2["orders"], p2["vehicle_compliance_rate"]) == (1, 0.0)


def test_ship_pollutant_reception(spark, catalog):
    schema = "receipt_no string, ship_id string, port_code string, pollutant_type string, quantity double, expected_quantity double, handed_to_disposal boolean, biz_date date"
    rows = [
        ("R1", "CN1", "PT320301", "GARBAGE", 2.5, 2.0, True, D1),
        ("R2", "CN1", "PT320301", "GARBAGE", 1.5, 1.5, False, D1),
        ("R3", "CN2", "PT320301", "GARBAGE", 1.0, 1.0, True, D1),
        ("R4", "CN2", "PT320301", "SEWAGE", 4.0, 5.0, True, D1),
        # a zero declaration (零申报) that still hands over: no delivery ratio for the group
        ("R5", "CN3", "PT320302", "SEWAGE", 0.5, 0.0, True, D1),
    ]
    out = build(spark, catalog, "ship_pollutant_reception", pollutant_receipts=(rows, schema))
    got = {(r["port_code"], r["pollutant_type"]): r for r in out}
    g = got[("PT320301", "GARBAGE")]
    assert (g["ship_visits"], g["ships"], g["quantity"], g["disposed_quantity"]) == (3, 2, 5.0, 3.5)
    assert (g["disposal_ratio"], g["unit"]) == (0.7, "t")
    # received ÷ expected: ships handed over more garbage than they declared
    assert (g["expected_quantity"], g["delivery_ratio"]) == (4.5, round(5.0 / 4.5, 4))
    s = got[("PT320301", "SEWAGE")]
    assert (s["unit"], s["disposal_ratio"], s["expected_quantity"], s["delivery_ratio"]) == (
        "m3", 1.0, 5.0, 0.8,
    )  # fmt: skip
    zero = got[("PT320302", "SEWAGE")]
    assert (zero["expected_quantity"], zero["delivery_ratio"]) == (0.0, None)


def test_ship_pollutant_reception_gate_lets_a_delivery_ratio_exceed_one(spark, catalog):
    """送交比例 can exceed 1 (the report: garbage 107 %); the gate refuses only a negative one,
    and still holds the disposal ratio to at most 1."""
    dataset = catalog.datasets["ship_pollutant_reception"]
    prepare_session(spark, catalog, dataset)
    schema = "port_code string, pollutant_type string, unit string, ship_visits int, ships int, quantity double, expected_quantity double, disposed_quantity double, disposal_ratio double, delivery_ratio double, biz_date date"
    rows = [
        ("PT320301", "GARBAGE", "t", 3, 2, 1.07, 1.0, 1.07, 1.0, 1.07, D1),
        ("PT320301", "SEWAGE", "m3", 1, 1, 0.5, 0.0, 0.5, 1.0, None, D1),
        ("PT320302", "GARBAGE", "t", 1, 1, 1.0, 1.0, 1.0, 1.0, -0.5, D1),
        ("PT320302", "SEWAGE", "m3", 1, 1, 1.0, 1.0, 1.0, 1.2, 1.0, D1),
    ]
    gate = evaluate_gate(spark.createDataFrame(rows, schema), dataset)
    assert {k: v for k, v in gate.items() if v} == {"G_DELIVERY_RATIO": 1, "G_RATIO": 1}


def test_enforcement_activity(spark, catalog):
    t_schema = "task_id string, plan_id string, task_type string, org_code string, planned_date date, status string, joint_action boolean, officers int, biz_date date"
    tasks = [
        ("T1", "PL1", "OVERLOAD", "ORG1", D1, "DONE", True, 5, D2),  # updated a day later
        ("T2", "PL1", "ROUTINE", "ORG1", D1, "ASSIGNED", False, 2, D1),
        ("T3", "PL2", "ROUTINE", "ORG1", D1, "CANCELLED", True, 9, D1),  # not counted
    ]
    i_schema = "inspection_id string, officer_code string, plate_no string, subject_credit_code string, result string, biz_date date"
    inspections = [
        ("I1", "OF1", "苏C1", "91A", "PASS", D1),
        ("I2", "OF1", "苏C1", None, "CASE", D1),
        ("I3", "OF9", "苏C2", "91B", "PASS", D1),  # officer not in the register
    ]
    officers = [("OF1", "ORG1")]
    out = build(
        spark, catalog, "enforcement_activity",
        enforcement_tasks=(tasks, t_schema), inspection_records=(inspections, i_schema),
        officers_organisations=(officers, "officer_code string, org_code string"),
    )  # fmt: skip
    got = {(r["biz_date"], r["org_code"]): r for r in out}
    assert set(got) == {(D1, "ORG1"), (D1, "UNASSIGNED")}
    org = got[(D1, "ORG1")]
    assert {k: org[k] for k in org if k not in ("biz_date", "org_code")} == {
        "plans": 1, "tasks": 2, "special_tasks": 1, "tasks_done": 1, "joint_actions": 1,
        "officers_deployed": 7, "joint_officers_deployed": 5, "inspections": 2,
        "vehicles_checked": 1, "enterprises_checked": 1, "cases_opened": 1,
    }  # fmt: skip
    un = got[(D1, "UNASSIGNED")]
    assert (un["tasks"], un["inspections"], un["vehicles_checked"]) == (0, 1, 1)


def test_oversize_permit_violations(spark, catalog):
    wim = [
        # permit valid, within permitted weight and axles → exempt, not listed
        ("W1", "S1", "苏C1", "yellow", "Q11", 6, 60000, ts("2026-11-29 08:00:00"), D1),
        # same plate heavier than permitted
        ("W2", "S1", "苏C1", "yellow", "Q11", 6, 70000, ts("2026-11-29 09:00:00"), D1),
        # permit expired
        ("W3", "S1", "苏C2", "yellow", "Q11", 6, 60000, ts("2026-11-29 10:00:00"), D1),
        # no permit at all: a plain overload alert, not listed
        ("W4", "S1", "苏C3", "yellow", "Q11", 6, 60000, ts("2026-11-29 11:00:00"), D1),
    ]
    p_schema = "permit_no string, plate_no string, axle_count int, gross_weight_kg int, valid_from date, valid_until date"
    permits = [
        ("DJ1", "苏C1", 6, 65000, dt.date(2026, 11, 1), dt.date(2026, 12, 31)),
        ("DJ2", "苏C2", 6, 65000, dt.date(2026, 10, 1), dt.date(2026, 10, 31)),
    ]
    out = build(
        spark, catalog, "oversize_permit_violations",
        wim_weighings=(with_trailer(wim), WIM), oversize_permits=(permits, p_schema),
    )  # fmt: skip
    got = {r["record_id"]: (r["permit_no"], r["violation"], r["limit_kg"]) for r in out}
    assert got == {
        "W2": ("DJ1", "OVER_PERMITTED_WEIGHT", 49000),
        "W3": ("DJ2", "NO_VALID_PERMIT", 49000),
    }


EVENTS = "event_id string, channel_code string, event_type string, plate_no string, confidence double, lon double, lat double, snapshot_key string, event_time timestamp, biz_date date"


def test_video_event_datasets(spark, catalog):
    t = ts("2026-11-29 08:00:00")
    events = [
        # Feng County G237 WIM channel (丰县, borders 济宁 and 宿州)
        ("E1", "VC3203210001", "ROAD_DAMAGE", None, 0.9, 116.61, 34.61, "k1", t, D1),
        ("E2", "VC3203210001", "OVERLOAD_SUSPECT", "苏C1", 0.8, 116.61, 34.61, "k2", t, D1),
        ("E3", "VC3203210001", "COVERED_PLATE", None, 0.7, 116.61, 34.61, "k3", t, D1),
    ]
    frames = {"video_ai_events": (events, EVENTS)}
    incidents = build(spark, catalog, "road_asset_incidents", **frames)
    assert [(r["event_id"], r["road"], r["division_code"]) for r in incidents] == [
        ("E1", "G237", "320321")
    ]
    warnings = build(spark, catalog, "regional_emergency_warnings", **frames)
    assert sorted((r["warning_id"], r["notify_cities"]) for r in warnings) == [
        ("E1", "济宁,宿州"), ("E2", "济宁,宿州"),
    ]  # fmt: skip
    cat = {r["channel_code"]: r for r in build(spark, catalog, "video_channel_catalogue", **frames)}
    registered = load_code_table(catalog.root, "video_channels").codes
    assert len(cat) == len(registered) == 58  # every registered point and group, for the one day
    # a row per camera point or channel group, carrying its channels: 6,153 connected in all
    assert sum(r["channels"] for r in cat.values()) == 6_153
    east = cat["VC3203039002"]  # the shared CCTV of Xuzhou East station: one group of 800
    assert (east["channels"], east["provider"], east["events"]) == (800, "shared", 0)
    assert (cat["VC3203210001"]["events"], cat["VC3203210001"]["event_types_seen"]) == (3, 3)
    assert cat["VC3203220005"]["events"] == 0 and cat["VC3203220005"]["last_event_time"] is None


def test_regional_warnings_go_to_the_cities_each_division_borders(spark, catalog):
    t = ts("2026-11-29 08:00:00")
    channels = {
        "VC3203210001": "济宁,宿州",  # 丰县: 鱼台/金乡 (济宁), 砀山/萧县 (宿州)
        "VC3203220001": "济宁",  # 沛县: 微山湖/微山县 and 鱼台 (济宁); not 枣庄
        "VC3203120001": "济宁,枣庄,宿州",  # 铜山区: 微山县, 枣庄, 萧县/埇桥/灵璧
        "VC3203050001": "枣庄",  # 贾汪区
        "VC3203820001": "枣庄,宿迁",  # 邳州市: 台儿庄区, 宿豫区
        "VC3203810001": "宿迁",  # 新沂市: 沭阳县 (also 临沂, 连云港: not partners)
        "VC3203240001": "宿州,宿迁",  # 睢宁县: 泗县/灵璧 (宿州), 宿城/宿豫 (宿迁)
        "VC3203020001": None,  # 鼓楼区 borders no other city: no warning
    }
    events = [
        (f"E{i}", code, "ROAD_DAMAGE", None, 0.9, 117.2, 34.3, "k", t, D1)
        for i, code in enumerate(channels)
    ]
    warnings = build(
        spark, catalog, "regional_emergency_warnings", video_ai_events=(events, EVENTS)
    )
    got = {r["channel_code"]: r["notify_cities"] for r in warnings}
    assert got == {code: cities for code, cities in channels.items() if cities}


def test_scenic_passenger_vehicles(spark, catalog):
    a_schema = "pass_id string, checkpoint_code string, plate_no string, biz_date date"
    passes = [
        ("A1", "KK320322001", "苏CB0001", D1),  # bus, Pei County (沛县汉城景区)
        ("A2", "KK320322002", "苏CB0001", D1),
        ("A3", "KK320322001", "苏CK0001", D1),  # small car: not counted
        ("A4", "KK320321001", "苏CB0002", D1),  # bus, Feng County: no scenic spot there
    ]
    vehicles = [("苏CB0001", "K11"), ("苏CB0002", "K21"), ("苏CK0001", "K33")]
    out = build(
        spark, catalog, "scenic_passenger_vehicles",
        anpr_passes=(passes, a_schema),
        operating_vehicles=(vehicles, "plate_no string, vehicle_type_code string"),
    )  # fmt: skip
    got = {r["scenic_code"]: r for r in out}
    pei = got["VC3203220005"]
    assert (pei["division_code"], pei["checkpoints"], pei["passes"], pei["vehicles"]) == (
        "320322", 4, 2, 1,
    )  # fmt: skip
    assert all(r["passes"] == 0 for code, r in got.items() if r["division_code"] != "320322")
    # the high-altitude cameras of 欧乐堡海洋世界 and 宝莲寺 are scenic spots of their own
    assert {got[c]["scenic_name_zh"] for c in ("VC3203020005", "VC3203030005")} == {
        "欧乐堡海洋世界高空瞭望球机", "宝莲寺高空瞭望球机",
    }  # fmt: skip


def test_credit_list_leads_and_dangerous_goods(spark, catalog):
    c_schema = "entry_id string, list_type string, subject_credit_code string, subject_name string, plate_no string, valid_from date, valid_until date, listed_at timestamp, biz_date date"
    entries = [("L1", "BLACKLIST", "91A", "甲", None, D1, None, ts("2026-11-29 08:00:00"), D1)]
    out = build(spark, catalog, "credit_supervision_list", credit_lists=(entries, c_schema))
    assert (out[0]["list_name_zh"], out[0]["is_restrictive"]) == ("严重失信名单", True)

    l_schema = "lead_id string, lead_type string, plate_no string, score double, sightings int, division_code string, created_at timestamp, biz_date date"
    leads = [
        ("L1", "NO_PERMIT_RIDE", "苏C1", 80.0, 3, "320302", ts("2026-11-29 08:00:00"), D1),
        ("L2", "ANPR_PATTERN", "苏C2", 70.0, 9, "320302", ts("2026-11-29 08:00:00"), D1),
        ("L3", "ANPR_PATTERN", "苏C3", 70.0, 9, "320302", ts("2026-11-29 08:00:00"), D1),
    ]
    anpr = [(f"A{i}", "KK1", "苏C2", D1) for i in range(6)] + [
        (f"B{i}", "KK1", "苏C3", D1) for i in range(6)
    ]
    out = build(
        spark, catalog, "illegal_operation_leads",
        illegal_operation_leads=(leads, l_schema),
        anpr_passes=(anpr, "pass_id string, checkpoint_code string, plate_no string, biz_date date"),
        passenger_trips=(
            # 苏C3's meter trip is a licensed taxi's work, not a ride-hailing order
            [("O1", "ONLINE", "苏C1", D1), ("M1", "CRUISE", "苏C3", D1)],
            "trip_id string, service_kind string, plate_no string, biz_date date",
        ),
        ride_hailing_permits=([], "permit_kind string, plate_no string, valid_from date, valid_until date"),
        taxi_vehicles_drivers=([("苏C3", True)], "plate_no string, active boolean"),
    )  # fmt: skip
    got = {r["lead_id"]: (r["finding"], r["anpr_passes"], r["ride_hailing_orders"]) for r in out}
    assert got == {
        "L1": ("RIDE_HAILING_WITHOUT_PERMIT", 0, 1),
        "L2": ("FREQUENT_UNLICENSED", 6, 0),
        "L3": ("UNCONFIRMED", 6, 0),  # a licensed taxi
    }

    g_schema = "alarm_id string, plate_no string, use_nature string, alarm_type string, alarm_time timestamp, lon double, lat double, speed_kmh double, operator_credit_code string, biz_date date"
    alarms = [
        (
            "G1",
            "苏CW001",
            "R",
            "DANGEROUS_STOP",
            ts("2026-11-29 08:00:00"),
            117.2,
            34.2,
            0.0,
            "91OP",
            D1,
        ),
        (
            "G2",
            "苏CW002",
            "F",
            "OVERSPEED",
            ts("2026-11-29 08:00:00"),
            117.2,
            34.2,
            99.0,
            "91OP",
            D1,
        ),
    ]
    certs = [("C1", "苏CW001", dt.date(2026, 1, 1)), ("C0", "苏CW001", dt.date(2025, 1, 1))]
    out = build(
        spark, catalog, "dangerous_goods_alarms",
        gps_alarms=(alarms, g_schema),
        operating_vehicles=(certs, "certificate_no string, plate_no string, valid_until date"),
        road_transport_operators=(
            # one credit code registered twice: the entry updated last names the operator
            [("OP1", "91OP", "危运公司(旧)", ts("2026-01-01 08:00:00")), ("OP2", "91OP", "危运公司", ts("2026-06-01 08:00:00"))],
            "operator_id string, credit_code string, operator_name string, updated_at timestamp",
        ),
    )  # fmt: skip
    assert [(r["alarm_id"], r["alarm_name_zh"], r["certificate_no"], r["certificate_valid"], r["operator_name"]) for r in out] == [
        ("G1", "危货异常停车", "C1", False, "危运公司")
    ]  # fmt: skip


def test_kpi_monthly_on_a_hand_computed_month(spark, catalog):
    nov, dec = dt.date(2026, 11, 1), dt.date(2026, 12, 1)
    frames = {
        "enforcement_tasks": (
            [
                ("T1", "PL1", "OVERLOAD", D1, "DONE", True, 5, 2, 9, 1),
                ("T2", "PL1", "ROUTINE", D2, "PLANNED", False, 2, 1, 4, 1),
                ("T3", "PL2", "JOINT", D2, "DONE", True, 3, None, 6, 0),
                ("T4", "PL3", "ROUTINE", D2, "CANCELLED", True, 9, 3, 20, 5),
                ("T5", "PL4", "ROUTINE", dt.date(2026, 12, 1), "PLANNED", False, 1, 1, 1, 0),
            ],
            "task_id string, plan_id string, task_type string, planned_date date, status string, joint_action boolean, officers int, vehicles_deployed int, vehicles_checked int, offending_vehicles int",
        ),
        "inspection_records": (
            [("I1", "苏C1", "91A", D1), ("I2", "苏C1", None, D2), ("I3", "苏C2", "91A", D2)],
            "inspection_id string, plate_no string, subject_credit_code string, biz_date date",
        ),
        "violation_transfers": (
            [
                ("X1", "OUT", "340100", ts("2026-11-20 09:00:00"), ts("2026-11-29 09:00:00"), D1),
                ("X2", "OUT", "320500", ts("2026-11-18 09:00:00"), ts("2026-11-29 09:00:00"), D1),
                ("X3", "IN", "340100", None, ts("2026-11-29 09:00:00"), D1),
            ],
            "transfer_id string, direction string, to_area string, case_closed_at timestamp, transferred_at timestamp, biz_date date",
        ),
        "wim_weighings": (
            with_trailer(
                [
                    ("W1", "S1", "苏C1", "yellow", "Q11", 6, 101000, ts("2026-11-29 08:00:00"), D1),
                    ("W2", "S1", "苏C1", "yellow", "Q11", 6, 102000, ts("2026-11-30 08:00:00"), D2),
                    ("W3", "S1", "鲁Q1", "yellow", "H11", 2, 40000, ts("2026-11-30 09:00:00"), D2),
                ]
            ),
            WIM,
        ),
        "static_reweighs": (
            [("R1", "S1", "苏C9", 2, 40000, 18000, ts("2026-11-30 10:00:00"), D2)],
            STATIC,
        ),
        "enforcement_cases": (
            [
                ("C1", "YY01", None, ts("2026-11-29 08:00:00")),
                ("C2", "CX02", None, ts("2026-11-29 09:00:00")),
                # no weighing of 苏C1 the day before: not a 百吨王 case
                ("C3", "CX01", "苏C1", ts("2026-11-29 10:00:00")),
                # 苏C1 weighed 101 t the day before (W1): a Xuzhou 百吨王 prosecuted
                ("C4", "CX01", "苏C1", ts("2026-11-30 10:00:00")),
            ],
            "case_id string, violation_code string, plate_no string, filed_at timestamp",
        ),
        "passenger_trips": (
            [(f"O{i}", "ONLINE", D1) for i in range(8)]
            + [(f"M{i}", "CRUISE", D1) for i in range(5)]
            + [("M9", "CRUISE", D2)],
            "trip_id string, service_kind string, biz_date date",
        ),
        "complaint_tickets": (
            [
                ("Q1", "TAXI_REFUSAL", ts("2026-11-29 08:00:00")),
                ("Q2", "RIDE_HAILING", ts("2026-11-29 08:00:00")),
                ("Q3", "RIDE_HAILING", ts("2026-11-30 08:00:00")),
            ],
            "ticket_no string, category string, received_at timestamp",
        ),
        "pollutant_receipts": (
            [
                ("P1", "GARBAGE", 2.0, 2.0, True, ts("2026-11-29 08:00:00")),
                ("P2", "GARBAGE", 1.0, 0.5, False, ts("2026-11-29 09:00:00")),
                ("P3", "SEWAGE", 5.0, 5.0, True, ts("2026-11-29 10:00:00")),
                ("P4", "OILY_WATER", 2.0, 4.0, True, ts("2026-11-30 10:00:00")),
            ],
            KPI_INPUTS["pollutant_receipts"],
        ),
    }
    out = build(spark, catalog, "kpi_monthly", **frames)
    got = {(r["month"], r["kpi_id"]): r["value"] for r in out}
    assert {k: v for (m, k), v in got.items() if m == nov} == {
        "enforcement_plans": 2.0, "inspection_tasks": 3.0, "special_tasks": 1.0,
        "joint_actions": 2.0, "joint_officer_deployments": 8.0,
        "joint_vehicle_deployments": 2.0, "joint_vehicles_checked": 15.0,
        "joint_offending_vehicles": 1.0,
        "vehicles_inspected": 2.0, "enterprises_inspected": 1.0,
        "transfers_out": 2.0, "transfers_out_of_province": 1.0, "transfers_on_time_ratio": 1.0,
        "shuang_bai_vehicles": 3.0, "xuzhou_shuang_bai_vehicles": 2.0,
        "illegal_operation_cases": 1.0, "source_enterprise_cases": 1.0,
        "xuzhou_bai_dun_wang_cases": 1.0,
        "taxi_complaints": 1.0, "ride_hailing_complaints": 2.0, "ride_hailing_trips": 8.0,
        "ride_hailing_complaints_per_10k_trips": 2500.0,
        "taxi_trips": 6.0, "taxi_complaints_per_10k_trips": round(1 * 10_000 / 6, 4),
        "garbage_ship_visits": 2.0, "garbage_t": 3.0, "sewage_ship_visits": 1.0, "sewage_t": 5.0,
        "oily_water_ship_visits": 1.0, "oily_water_t": 2.0, "pollutant_disposal_ratio": 0.9,
        "garbage_delivery_ratio": 1.2, "sewage_delivery_ratio": 1.0, "oily_water_delivery_ratio": 0.5,
    }  # fmt: skip
    assert {k: v for (m, k), v in got.items() if m == dec} == {
        "enforcement_plans": 1.0, "inspection_tasks": 1.0, "special_tasks": 0.0,
        "joint_actions": 0.0, "joint_officer_deployments": 0.0,
        "joint_vehicle_deployments": 0.0, "joint_vehicles_checked": 0.0,
        "joint_offending_vehicles": 0.0,
    }  # fmt: skip
    names = {r["kpi_id"]: (r["kpi_name_zh"], r["unit"]) for r in out}
    assert names["shuang_bai_vehicles"] == ("双百车辆数", "vehicles")
    assert names["taxi_complaints_per_10k_trips"] == ("巡游出租车万运次投诉率", "per 10,000 trips")
    assert names["taxi_trips"] == ("巡游出租车运次", "trips")
    assert len(names) == 34  # every KPI of the report that these inputs feed
    assert {names[k][1] for k in ("garbage_t", "sewage_t", "oily_water_t")} == {"t"}


def test_kpi_monthly_reports_liquid_pollutants_in_tonnes_by_the_declared_factor(spark, tmp_path):
    """Sewage and oily water are received in m³; the KPIs named ``_t`` sum tonnes, each receipt
    converted by its pollutant type's ``t_per_unit`` (here set to 1.02 and 0.9 in a copy)."""
    import shutil

    from conftest import edit

    root = tmp_path / "data_standards"
    shutil.copytree(REPO_ROOT / "data_standards", root)
    table = root / "code_tables" / "pollutant_type.yaml"
    text = table.read_text(encoding="utf-8")
    for code, factor in (("SEWAGE", "1.02"), ("OILY_WATER", "0.9")):
        line = next(x for x in text.splitlines() if f'code: "{code}"' in x)
        edit(table, line, re.sub(r"t_per_unit: [0-9.]+", f"t_per_unit: {factor}", line))
        text = table.read_text(encoding="utf-8")
    catalog = load_catalog(root)
    receipts = [
        ("P1", "GARBAGE", 2.0, 2.0, True, ts("2026-11-29 08:00:00")),
        ("P2", "SEWAGE", 100.0, 100.0, True, ts("2026-11-29 10:00:00")),
        ("P3", "SEWAGE", 50.0, 50.0, False, ts("2026-11-29 11:00:00")),
        ("P4", "OILY_WATER", 10.0, 10.0, True, ts("2026-11-29 12:00:00")),
    ]
    schema = KPI_INPUTS["pollutant_receipts"]
    frames = empty_kpi_inputs("pollutant_receipts")
    out = build(spark, catalog, "kpi_monthly", pollutant_receipts=(receipts, schema), **frames)
    got = {r["kpi_id"]: (r["value"], r["unit"]) for r in out}
    assert got["garbage_t"] == (2.0, "t")
    assert got["sewage_t"] == (153.0, "t")  # 150 m³ × 1.02 t/m³
    assert got["oily_water_t"] == (9.0, "t")  # 10 m³ × 0.9 t/m³
    # disposed / received, both in tonnes: (2 + 102 + 9) / (2 + 153 + 9)
    assert got["pollutant_disposal_ratio"] == (round(113 / 164, 4), "ratio")


def test_kpi_monthly_delivery_ratios_may_exceed_one_and_pass_the_gate(spark, catalog):
    """送交比例 per month and type: received ÷ expected quantity, in the type's own unit. A month
    whose ships handed over more garbage than they declared has a ratio above 1, which the gate
    accepts for the KPIs the dataset declares uncapped (``uncapped_ratio_kpis``) and refuses for
    any other ratio."""
    receipts = [
        ("P1", "GARBAGE", 2.0, 1.5, True, ts("2026-11-29 08:00:00")),
        ("P2", "GARBAGE", 1.0, 1.0, True, ts("2026-11-29 09:00:00")),
        ("P3", "SEWAGE", 5.0, 4.0, True, ts("2026-11-29 10:00:00")),
        ("P4", "SEWAGE", 3.0, 6.0, False, ts("2026-11-30 10:00:00")),
        ("P5", "OILY_WATER", 2.0, 2.5, True, ts("2026-11-30 11:00:00")),
        ("P6", "GARBAGE", 1.07, 1.0, True, ts("2026-12-01 08:00:00")),
        # a zero declaration (零申报) handing over oily water: no ratio for December
        ("P7", "OILY_WATER", 1.0, 0.0, True, ts("2026-12-01 09:00:00")),
    ]
    frames = empty_kpi_inputs("pollutant_receipts")
    frames["pollutant_receipts"] = (receipts, KPI_INPUTS["pollutant_receipts"])
    dataset = catalog.datasets["kpi_monthly"]
    inputs = {sid: spark.createDataFrame(rows, schema) for sid, (rows, schema) in frames.items()}
    built = build_dataset(spark, catalog, dataset, inputs)
    got = {(r["month"].month, r["kpi_id"]): (r["value"], r["unit"]) for r in built.collect()}
    ratios = {k: v for k, v in got.items() if k[1].endswith("_delivery_ratio")}
    assert ratios == {
        (11, "garbage_delivery_ratio"): (1.2, "ratio"),  # 3.0 t ÷ 2.5 t
        (11, "sewage_delivery_ratio"): (0.8, "ratio"),  # 8 m³ ÷ 10 m³
        (11, "oily_water_delivery_ratio"): (0.8, "ratio"),  # 2 m³ ÷ 2.5 m³
        (12, "garbage_delivery_ratio"): (1.07, "ratio"),
    }
    assert got[(11, "pollutant_disposal_ratio")] == (round(10.0 / 13.0, 4), "ratio")
    assert {k: v for k, v in evaluate_gate(built, dataset).items() if v} == {}
    # the same value under a capped ratio KPI is refused
    capped = built.selectExpr(
        "CASE WHEN kpi_id = 'garbage_delivery_ratio' THEN 'pollutant_disposal_ratio' ELSE kpi_id END AS kpi_id",
        "kpi_name_zh", "unit", "value", "month",
    )  # fmt: skip
    assert evaluate_gate(capped, dataset)["G_RATIO"] == 2
