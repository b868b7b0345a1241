"""A year of generated data is in the order of magnitude of the source report's figures.

The report the platform is modelled on (China Report, 2025-01-06, on the Xuzhou detachment) gives
the detachment's yearly figures. The generator's declared volumes and rates must put a year of data
within a factor of :data:`TOLERANCE` of each figure the lake can hold, so the KPIs an analyst
computes look like the business they model. Volumes, shares, rates and quantities are taken from
the declarations the generator reads (exact expectations, no sampling noise); the transfers, which
follow from the cases' lives, are counted from the generator's own cases over a sample of days,
scaled to a year.

A factor of 3 says nothing about a ratio near 1: the delivery ratios (送交比例) are held to
:data:`RATIO_TOLERANCE` of the report's, from the declarations and from generated receipts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from enforcement_brain.declarations.catalog import load_catalog
from enforcement_brain.generate.cases import (
    ROWS_PER_CASE,
    VIOLATION_MIX,
    transfers_on,
)
from enforcement_brain.generate.context import DayContext, make_context
from enforcement_brain.generate.generic import generate_source
from enforcement_brain.generate.pools import build_pools
from enforcement_brain.generate.specs import DECLARATION_SPREAD, row_count
from enforcement_brain.generate.wim import (
    BAI_DUN_WANG_SHARE,
    BAI_DUN_WANG_TOP_KG,
    OverloadEvents,
    overload_events,
)
from enforcement_brain.standards.checks import (
    BAI_DUN_WANG_KG,
    FINE_FREE_EXCESS_KG,
    XUZHOU_PLATE_PREFIX,
)
from enforcement_brain.standards.code_tables import load_code_table

STANDARDS = Path(__file__).resolve().parents[2] / "data_standards"
#: A generated year is within this factor of the report's figure (order of magnitude).
TOLERANCE = 3.0
#: Days sampled (at full scale) for the figures that follow from the cases: every 20th day.
SAMPLE_DAYS = [dt.date(2026, 1, 5) + dt.timedelta(days=20 * k) for k in range(18)]
#: A generated delivery ratio (送交比例) is within this distance of the report's (±5 points).
RATIO_TOLERANCE = 0.05
#: The report's delivery ratios: 船舶生活垃圾、生活污水送交比例已分别达107%、95% (delivered ÷
#: what the ships should have delivered), by pollutant type.
REPORT_DELIVERY_RATIOS = {"GARBAGE": 1.07, "SEWAGE": 0.95}
#: The report's daily increment: over 1 million rows a day (每日数据增量保持在100万余条).
REPORT_ROWS_PER_DAY = 1_000_000


def _ctx(day: dt.date = SAMPLE_DAYS[0]):
    return make_context(STANDARDS, day, 42, 1.0, 0.0)


def _weights(table: str) -> dict[str, float]:
    codes = load_code_table(STANDARDS, table).codes
    total = sum(float(c.get("weight", 1.0)) for c in codes)
    return {c["code"]: float(c.get("weight", 1.0)) / total for c in codes}


def _rows_a_year(source: str) -> float:
    ctx = _ctx()
    return row_count(ctx, ctx.catalog.sources[source]) * 365.0


def _declared_figures() -> dict[str, float]:
    """Yearly figures expected from the declarations the generator reads."""
    catalog = load_catalog(STANDARDS)
    kpi = catalog.datasets["kpi_monthly"].params
    tasks_src = catalog.sources["enforcement_tasks"].generator
    status = _weights("task_status")
    task_type = _weights("task_type")
    tasks = _rows_a_year("enforcement_tasks") * (1 - status["CANCELLED"])
    joint = tasks * tasks_src.flag_shares["joint_action"]

    def per_joint(column: str) -> float:
        low, high = tasks_src.count_ranges[column]
        return joint * (low + high) / 2

    inspections = _rows_a_year("inspection_records")
    enterprise_share = catalog.sources["inspection_records"].generator.filled_shares[
        "subject_credit_code"
    ]
    pollutants = {c["code"]: c for c in load_code_table(STANDARDS, "pollutant_type").codes}
    kinds = _weights("pollutant_type")
    receipts = _rows_a_year("pollutant_receipts")

    def visits(code: str) -> float:
        return receipts * kinds[code]

    def tonnes(code: str) -> float:
        low, high = pollutants[code]["quantity_per_visit"]
        return visits(code) * (low + high) / 2 * float(pollutants[code]["t_per_unit"])

    ctx = _ctx()
    cases = ctx.catalog.sources["enforcement_cases"].expected_daily_rows / ROWS_PER_CASE * 365
    trips = _rows_a_year("passenger_trips") * _weights("passenger_service_kind")["CRUISE"]
    categories = load_code_table(STANDARDS, "complaint_category").codes
    complaint_share = _weights("complaint_category")
    taxi_complaints = _rows_a_year("complaint_tickets") * sum(
        complaint_share[c["code"]] for c in categories if c["industry"] == "taxi"
    )
    mix = sum(VIOLATION_MIX.values())
    return {
        "enforcement_plans": 12 * tasks_src.monthly_refs["plan_id"],
        "inspection_tasks": tasks,
        "special_tasks": tasks * sum(task_type[t] for t in kpi["special_task_types"]),
        "joint_actions": joint,
        "joint_officer_deployments": per_joint("officers"),
        "joint_vehicle_deployments": per_joint("vehicles_deployed"),
        "joint_vehicles_checked": per_joint("vehicles_checked"),
        "joint_offending_vehicles": per_joint("offending_vehicles"),
        "vehicles_inspected": inspections,
        "enterprises_inspected": inspections * enterprise_share,
        "garbage_ship_visits": visits("GARBAGE"),
        "garbage_t": tonnes("GARBAGE"),
        "sewage_ship_visits": visits("SEWAGE"),
        "sewage_t": tonnes("SEWAGE"),
        "oily_water_ship_visits": visits("OILY_WATER"),
        "oily_water_t": tonnes("OILY_WATER"),
        "illegal_operation_cases": cases
        * sum(VIOLATION_MIX[c] for c in kpi["illegal_operation_codes"])
        / mix,
        "source_enterprise_cases": cases
        * sum(VIOLATION_MIX[c] for c in kpi["source_enterprise_codes"])
        / mix,
        "taxi_complaints_per_10k_trips": taxi_complaints * 10_000 / trips,
    }


def _selection_weights(limit_kg: np.ndarray, gross_kg: np.ndarray) -> np.ndarray:
    """How strongly a non-site overload case picks a weighing (generate/cases.py): in proportion
    to excess ÷ limit, among the weighings whose excess earns a fine."""
    excess = gross_kg - limit_kg
    return np.where(excess > FINE_FREE_EXCESS_KG, excess / limit_kg, 0.0)


def _year_of_overloads() -> list[OverloadEvents]:
    """A year of the generator's over-limit weighings (cheap: about 2,500 a day)."""
    base = _ctx()
    return [
        overload_events(dataclasses.replace(base, day=dt.date(2026, 1, 1) + dt.timedelta(days=k)))
        for k in range(365)
    ]


def _xuzhou_kings(day_ctx: DayContext) -> np.ndarray:
    """Trucks of the fleet that can be a Xuzhou 百吨王: Xuzhou plates, 5+ axle combinations."""
    f = day_ctx.fleet
    return (
        (f.truck_axles >= 5)
        & f.truck_combination
        & np.char.startswith(f.truck_plate.astype(str), XUZHOU_PLATE_PREFIX)
    )


def _xuzhou_king_weight(day_ctx: DayContext) -> float:
    """Expected selection weight a Xuzhou 百吨王 contributes per over-limit weighing, from the
    declared rates: a weighing's truck is drawn by the fleet's overload habit, a 5+ axle
    combination is a 百吨王 with BAI_DUN_WANG_SHARE, at a gross uniform between BAI_DUN_WANG_KG
    and BAI_DUN_WANG_TOP_KG (generate/wim.py)."""
    f = day_ctx.fleet
    kings = _xuzhou_kings(day_ctx)
    habit = f.truck_overload_weight[kings] / f.truck_overload_weight.sum()
    limit = f.truck_limit_kg[kings].astype(float)
    mean_gross = (BAI_DUN_WANG_KG + BAI_DUN_WANG_TOP_KG) / 2
    return BAI_DUN_WANG_SHARE * float(np.sum(habit * (mean_gross - limit) / limit))


def _xuzhou_bai_dun_wang_cases(overloads: list[OverloadEvents]) -> float:
    """查处徐州籍百吨王 a year: the non-site overload cases (CX01) a year, times the chance that the
    weighing a case follows is a Xuzhou truck's 百吨王 (its expected selection weight over the mean
    selection weight of an over-limit weighing, taken over a year of them: ~900,000)."""
    ctx = _ctx()
    cases = ctx.catalog.sources["enforcement_cases"].expected_daily_rows / ROWS_PER_CASE * 365
    overload_cases = cases * VIOLATION_MIX["CX01"] / sum(VIOLATION_MIX.values())
    limit = ctx.fleet.truck_limit_kg
    weights = np.concatenate([_selection_weights(limit[e.truck], e.gross_kg) for e in overloads])
    return overload_cases * _xuzhou_king_weight(ctx) / float(weights.mean())


def _video_channels() -> float:
    """Channels connected from the counties and districts and 交控集团: the channels the video
    register's points and groups of those providers declare."""
    codes = load_code_table(STANDARDS, "video_channels").codes
    return sum(c["channels"] for c in codes if c["provider"] in {"county", "holding_group"})


def _sampled_figures() -> dict[str, float]:
    """Transfers of the generator's own cases on the sample days, per year."""
    base = _ctx()
    sent = out_of_province = 0
    for day in SAMPLE_DAYS:
        ctx = dataclasses.replace(base, day=day)
        transfers = transfers_on(ctx)
        sent += len(transfers)
        out_of_province += sum(not t.to_area.startswith("32") for t in transfers)
    per_year = 365 / len(SAMPLE_DAYS)
    return {
        "transfers_out": sent * per_year,
        "transfers_out_of_province": out_of_province * per_year,
    }


#: The report's yearly figures (its figures table), by KPI id.
REPORT = {
    "enforcement_plans": 542,  # 累计下达月度执法计划542个
    "inspection_tasks": 8_488,  # 检查任务8488个
    "special_tasks": 49,  # 专项执法任务49个
    "vehicles_inspected": 10_773,  # 检查各类车辆10773辆
    "enterprises_inspected": 524,  # 企业524家
    "transfers_out": 4_979,  # 对外抄告违法违规结案信息4979件
    "transfers_out_of_province": 3_734,  # 抄告外省结案信息3734件
    "garbage_ship_visits": 35_029,  # 船舶生活垃圾35029艘次
    "garbage_t": 194,  # 194吨
    "sewage_ship_visits": 30_508,  # 生活污水30508艘次
    "sewage_t": 5_147,  # 5147吨
    "oily_water_ship_visits": 4_782,  # 含油污水4782艘次
    "oily_water_t": 43,  # 43吨
    "illegal_operation_cases": 318,  # 出租汽车行业违章案件318件
    "source_enterprise_cases": 11,  # 对相关源头立案处罚11起
    "xuzhou_bai_dun_wang_cases": 42,  # 查处徐州籍百吨王车辆42辆
    "joint_actions": 172,  # 开展区域执法协同行动172次
    "joint_officer_deployments": 705,  # 出动执法力量705人次
    "joint_vehicle_deployments": 270,  # 执法车辆270辆次
    "joint_vehicles_checked": 1_258,  # 现场检查各类车辆1258辆
    "joint_offending_vehicles": 85,  # 查处各类违法违规运营车辆85辆
    "taxi_complaints_per_10k_trips": 1.2,  # 巡游出租汽车每万运次投诉热线工单数1.2件
    "video_channels": 5_000,  # 接入县区和交控集团视频资源5000余路
}


@pytest.fixture(scope="module")
def overloads() -> list[OverloadEvents]:
    return _year_of_overloads()


@pytest.fixture(scope="module")
def generated_year(overloads: list[OverloadEvents]) -> dict[str, float]:
    return {
        **_declared_figures(),
        **_sampled_figures(),
        "xuzhou_bai_dun_wang_cases": _xuzhou_bai_dun_wang_cases(overloads),
        "video_channels": _video_channels(),
    }


@pytest.mark.parametrize("kpi", sorted(REPORT))
def test_a_generated_year_is_in_the_order_of_the_reports_figure(
    kpi: str, generated_year: dict[str, float]
) -> None:
    report, generated = REPORT[kpi], generated_year[kpi]
    assert report / TOLERANCE <= generated <= report * TOLERANCE, (kpi, report, round(generated))


def test_the_platform_takes_in_about_a_million_rows_a_day() -> None:
    """The volume is moved between sources to match the figures, not inflated."""
    ctx = _ctx()
    total = sum(row_count(ctx, s) for s in ctx.catalog.sources.values())
    assert REPORT_ROWS_PER_DAY * 0.9 <= total <= REPORT_ROWS_PER_DAY * 1.2


def _declared_delivery_ratio(code: str) -> float:
    """A year's received ÷ expected quantity of one pollutant type, from the declarations the
    generator reads: the mean quantity per visit over the mean expected quantity per visit
    (the quantity ÷ the type's ``delivery_ratio``, times the mean of the declaration spread)."""
    pollutant = next(
        c for c in load_code_table(STANDARDS, "pollutant_type").codes if c["code"] == code
    )
    received = sum(pollutant["quantity_per_visit"]) / 2
    expected = received / float(pollutant["delivery_ratio"]) * sum(DECLARATION_SPREAD) / 2
    return received / expected


@pytest.mark.parametrize("code", sorted(REPORT_DELIVERY_RATIOS))
def test_a_generated_year_has_the_reports_delivery_ratio(code: str) -> None:
    report = REPORT_DELIVERY_RATIOS[code]
    assert abs(_declared_delivery_ratio(code) - report) <= RATIO_TOLERANCE


def test_generated_receipts_give_the_declared_delivery_ratios() -> None:
    """A week of generated receipts: received ÷ expected per pollutant type is the declared
    ratio, within :data:`RATIO_TOLERANCE` (each receipt's expected quantity is noisy)."""
    base = _ctx()
    source = base.catalog.sources["pollutant_receipts"]
    pools = build_pools(base.seed, STANDARDS)
    received: dict[str, float] = {}
    expected: dict[str, float] = {}
    for k in range(7):
        ctx = dataclasses.replace(base, day=SAMPLE_DAYS[0] + dt.timedelta(days=k))
        for text in generate_source(ctx, pools, source).delivery.texts.values():
            for line in text.splitlines():
                row = json.loads(line)
                kind = row["pollutant_type"]
                received[kind] = received.get(kind, 0.0) + float(row["quantity"])
                expected[kind] = expected.get(kind, 0.0) + float(row["expected_quantity"])
    for code in ("GARBAGE", "SEWAGE", "OILY_WATER"):
        ratio = received[code] / expected[code]
        assert abs(ratio - _declared_delivery_ratio(code)) <= RATIO_TOLERANCE, (code, ratio)


def test_the_taxi_complaint_rate_is_the_reports(generated_year: dict[str, float]) -> None:
    """A rate, not a volume: the complaint categories' weights and the meter trips' share are
    declared so that it lands on the report's 1.2, not merely in its order of magnitude."""
    rate = generated_year["taxi_complaints_per_10k_trips"]
    assert rate == pytest.approx(REPORT["taxi_complaints_per_10k_trips"], rel=0.05)


def test_the_declared_bai_dun_wang_rate_is_what_the_weighings_carry(
    overloads: list[OverloadEvents],
) -> None:
    """Cross-check of the declared expectation: the selection weight of Xuzhou 百吨王 counted over
    a year of generated weighings (~700 of them) is the one the declared rates give."""
    ctx = _ctx()
    kings = _xuzhou_kings(ctx)
    limit = ctx.fleet.truck_limit_kg
    counted = np.concatenate(
        [
            _selection_weights(limit[e.truck], e.gross_kg)
            * ((e.gross_kg >= BAI_DUN_WANG_KG) & kings[e.truck])
            for e in overloads
        ]
    ).mean()
    assert counted == pytest.approx(_xuzhou_king_weight(ctx), rel=0.2)
