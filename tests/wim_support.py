"""A small hand-written WIM delivery and its load, for the tests of the pipeline on it."""

from __future__ import annotations

import datetime as dt

from enforcement_brain.orchestration.runtime import JobContext
from jobs import bronze_to_silver, land_to_bronze

DAY = dt.date(2026, 11, 29)
HEADER = (
    "record_id,site_code,plate_no,plate_color_code,vehicle_type_code,axle_count,"
    "gross_weight_kg,speed_kmh,lane_no,weigh_time,trailer_plate_no"
)

#: silver.wim_weighings and silver.static_reweighs as the datasets read them (the columns used).
SILVER_WIM = (
    "record_id string, site_code string, plate_no string, plate_color string, "
    "vehicle_type_code string, axle_count int, gross_weight_kg int, weigh_time timestamp, "
    "biz_date date, trailer_plate_no string"
)
SILVER_STATIC = (
    "reweigh_id string, site_code string, plate_no string, axle_count int, "
    "gross_weight_kg int, limit_kg int, weigh_time timestamp, biz_date date"
)

#: The silver columns ``kpi_monthly`` reads, by source (a KPI test gives rows for some sources and
#: empty inputs for the rest with :func:`empty_kpi_inputs`).
KPI_INPUTS = {
    "enforcement_tasks": "task_id string, plan_id string, task_type string, planned_date date, status string, joint_action boolean, officers int, vehicles_deployed int, vehicles_checked int, offending_vehicles int",  # noqa: E501
    "inspection_records": "inspection_id string, plate_no string, subject_credit_code string, biz_date date",  # noqa: E501
    "violation_transfers": "transfer_id string, direction string, to_area string, case_closed_at timestamp, transferred_at timestamp, biz_date date",  # noqa: E501
    "wim_weighings": SILVER_WIM,
    "static_reweighs": SILVER_STATIC,
    "enforcement_cases": "case_id string, violation_code string, plate_no string, filed_at timestamp",  # noqa: E501
    "passenger_trips": "trip_id string, service_kind string, biz_date date",
    "complaint_tickets": "ticket_no string, category string, received_at timestamp",
    "pollutant_receipts": "receipt_no string, pollutant_type string, quantity double, expected_quantity double, handed_to_disposal boolean, received_at timestamp",  # noqa: E501
}  # fmt: skip


def empty_kpi_inputs(*given: str) -> dict[str, tuple[list, str]]:
    """No rows for every ``kpi_monthly`` input except the ``given`` sources."""
    return {sid: ([], schema) for sid, schema in KPI_INPUTS.items() if sid not in given}


def wim_site(settings) -> str:
    """The first declared WIM site's code."""
    from enforcement_brain.standards.code_tables import load_code_table

    return load_code_table(settings.standards_dir, "wim_sites").codes[0]["code"]


def write_delivery(settings, lines: list[str], name: str = "wim_A_20261129.csv") -> None:
    folder = settings.local_lake / "landing" / "wim_weighings" / DAY.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    # A re-delivery starts a new manifest, as the generator's does; otherwise landing would
    # report the new bytes as a landed file altered after landing ([EB-LANDING-CHECKSUM]).
    (folder / "_manifest.json").unlink(missing_ok=True)


def rows(settings, site: str) -> list[str]:
    return [
        # clean, under the limit (6 axles, tractor: 49 t)
        f"W1,{site},苏C12345,2,Q11,6,40000,62.5,1,2026-11-29 08:00:00,",
        # clean, over the limit: 3 axles rigid (25 t) at 31,000 kg → 6,000 kg over, fine 3,000
        f"W2,{site},苏CD12345,2,H11,3,31000,55,2,2026-11-29 09:30:00,",
        # 百吨王 on 6 axles: 101,000 kg
        f"W3,{site},鲁Q8888挂,2,Q11,6,101000,40,1,2026-11-29 10:00:00,",
        # bad plate (letter O) → quarantine R_PLATE_FORMAT
        f"W4,{site},苏CO1234,2,H11,2,15000,50,1,2026-11-29 11:00:00,",
        # impossible weight → quarantine R_GROSS_WEIGHT_RANGE
        f"W5,{site},苏C54321,2,H11,2,250000,50,1,2026-11-29 11:05:00,",
        # unknown site → quarantine R_SITE_KNOWN
        "W6,WIM999999999,苏C54322,2,H11,2,15000,50,1,2026-11-29 11:06:00,",
        # broken line (missing fields) → quarantine R_RECORD_PARSES
        f"W7,{site},苏C54323",
        # exact duplicate of W2 → dropped as duplicate
        f"W2,{site},苏CD12345,2,H11,3,31000,55,2,2026-11-29 09:30:00,",
        # unrecognised plate '-' is legitimate; unknown colour code 7 only warns
        f"W8,{site},-,7,H11,2,12000,50,1,2026-11-29 12:00:00,",
        # late record from the previous day, delivered today: loaded into its own biz_date
        f"W9,{site},苏C77777,2,H11,2,19500,50,1,2026-11-28 23:59:00,",
    ]


def load_day(ctx: JobContext) -> dict:
    """Land and load ``DAY``'s WIM delivery; the load's report."""
    land_to_bronze.run(ctx, "wim_weighings", DAY, "test-run")
    return bronze_to_silver.run(ctx, "wim_weighings", DAY, "test-run")
