"""The 13 governed interfaces: declared over existing datasets and columns, checked against
Standard 2 when they load, and every bad declaration refused with its file and field named.

Pure Python (no Spark): the projections themselves are in ``test_interfaces_projection.py``.
"""

from __future__ import annotations

import pytest
from conftest import edit

from enforcement_brain.declarations import (
    CLEAR_ALLOWED_LEVELS,
    filter_columns,
    level_masks,
    load_catalog,
)
from enforcement_brain.errors import ConfigError, DeclarationError
from enforcement_brain.settings import REPO_ROOT

#: interface -> the datasets it must share (one interface = one consumer).
EXPECTED = {
    "city_overload_platform": [
        "overload_alerts", "shuang_bai_vehicles", "source_enterprise_overloads",
        "oversize_permit_violations",
    ],
    "credit_platform": ["case_disclosures", "credit_supervision_list"],
    "culture_tourism": ["scenic_passenger_vehicles"],
    "emergency_management": ["dangerous_goods_alarms", "regional_emergency_warnings"],
    "highway_centre": ["road_asset_incidents", "video_channel_catalogue"],
    "market_regulation": ["source_enterprise_overloads", "case_disclosures"],
    "neighbour_cities": ["regional_emergency_warnings", "violation_transfers_by_destination"],
    "passenger_transport_regulator": [
        "taxi_service_quality", "ride_hailing_compliance", "illegal_operation_leads",
    ],
    "provincial_supervision": ["overload_alerts", "kpi_monthly", "enforcement_activity"],
    "ship_pollutant_supervision": ["ship_pollutant_reception"],
    "traffic_police": ["shuang_bai_vehicles", "overload_alerts", "dangerous_goods_alarms"],
    "transfer_recipients": ["violation_transfers_by_destination", "shuang_bai_vehicles"],
    "transport_holding_group": ["video_channel_catalogue", "regional_emergency_warnings"],
}  # fmt: skip


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(REPO_ROOT / "data_standards")


def test_thirteen_interfaces_each_over_declared_datasets_and_columns(catalog):
    assert len(catalog.interfaces) == 13
    got = {i.id: [d.dataset for d in i.datasets] for i in catalog.interfaces.values()}
    assert got == EXPECTED
    for interface in catalog.interfaces.values():
        assert interface.consumer and interface.title_zh, interface.id
        assert set(interface.quota) == {"requests_per_minute", "rows_per_day"}, interface.id
        for entry in interface.datasets:
            dataset = catalog.datasets[entry.dataset]
            assert dataset.columns, dataset.id
            assert set(entry.columns) <= set(dataset.columns), (interface.id, dataset.id)
            assert dataset.partition_by in entry.columns, (interface.id, dataset.id)
            if entry.row_filter:
                assert filter_columns(entry.row_filter) <= set(dataset.columns)


def test_every_shared_dataset_reaches_a_consumer_and_kpis_only_the_supervisor(catalog):
    shared = {d.dataset for i in catalog.interfaces.values() for d in i.datasets}
    assert shared == set(catalog.datasets)  # the 17 shared datasets and kpi_monthly
    with_kpis = [i.id for i in catalog.interfaces.values() if "kpi_monthly" in {
        d.dataset for d in i.datasets
    }]  # fmt: skip
    assert with_kpis == ["provincial_supervision"]


def test_personal_columns_are_masked_by_standard_2_or_clear_for_a_stated_purpose(catalog):
    masks = level_masks(catalog.quality_standard["classification_levels"])
    clear_plates = set()
    for interface in catalog.interfaces.values():
        for entry in interface.datasets:
            dataset = catalog.datasets[entry.dataset]
            assert dataset.classification <= interface.clearance, (interface.id, dataset.id)
            for column in entry.columns:
                element = dataset.element_of(column, catalog.elements)
                level = element.classification if element else None
                if level in (None, "L1"):
                    assert column not in entry.clear
                    continue
                if column in entry.clear:
                    assert level in CLEAR_ALLOWED_LEVELS and entry.clear[column]
                    if element.id == "plate_no":
                        clear_plates.add(interface.id)
                else:
                    assert entry.masks[column] in (masks[element.id], "redact")
    # plates in clear only where the consumer acts against the vehicle itself
    assert clear_plates == {
        "city_overload_platform", "traffic_police", "transfer_recipients", "emergency_management",
    }  # fmt: skip


def test_row_filters_as_declared(catalog):
    filters = {
        (i.id, d.dataset): d.row_filter
        for i in catalog.interfaces.values()
        for d in i.datasets
        if d.row_filter
    }
    assert filters[("neighbour_cities", "violation_transfers_by_destination")] == (
        "direction = 'OUT' and substr(to_area, 1, 4) in ('3708', '3704', '3413', '3213')"
    )
    assert filters[("transfer_recipients", "shuang_bai_vehicles")] == "not is_xuzhou_plate"
    assert filters[("market_regulation", "case_disclosures")] == "party_kind = 'enterprise'"
    assert filters[("highway_centre", "road_asset_incidents")] == "road rlike '^[GS][0-9]{3}$'"
    assert len(filters) == 14


def test_filter_columns_reads_names_not_words_functions_or_literals():
    expr = "direction = 'OUT' and substr(to_area, 1, 4) in ('3708', 'it''s x') or not is_ok"
    assert filter_columns(expr) == {"direction", "to_area", "is_ok"}
    assert filter_columns("road rlike '^[GS][0-9]{3}$' and x IS NOT NULL") == {"road", "x"}
    assert filter_columns("a between 1 and 2 and b like 'c%' and d.e = 1") == {"a", "b", "d"}


# --- bad declarations, each refused with the file and field named ---------------------------


def _refused(root, message):
    load_catalog.cache_clear()
    with pytest.raises(DeclarationError, match=message) as info:
        load_catalog(root)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ConfigError)
    return str(info.value)


PROBE = """\
id: probe
title: Probe
consumer: test
clearance: {clearance}
datasets:
  - dataset: {dataset}
    columns: [{columns}]
{extra}quota: {{requests_per_minute: 5, rows_per_day: 100}}
token_lifetime_days: 7
"""


def _probe(root, dataset="overload_alerts", columns="alert_id, biz_date", extra="", clearance="L2"):
    text = PROBE.format(dataset=dataset, columns=columns, extra=extra, clearance=clearance)
    (root / "interfaces" / "probe.yaml").write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"columns": "alert_id, driver_phone, biz_date"},
            r"probe.yaml \(interface probe\): dataset overload_alerts: column 'driver_phone' is "
            r"not a column of dataset overload_alerts$",
        ),
        (
            {"columns": "alert_id, plate_no, biz_date", "extra": "    masks: {plate_no: blur}\n"},
            r"probe.yaml \(interface probe\): dataset overload_alerts: unknown mask 'blur' for "
            r"column plate_no; masks are \['coordinate_1km', 'id_number', 'person_name', "
            r"'phone', 'plate', 'redact'\]$",
        ),
        (
            {"columns": "alert_id, plate_no, biz_date"},
            r"probe.yaml \(interface probe\): dataset overload_alerts: column plate_no "
            r"\(plate_no, L2\) must be masked with 'plate' or left out \(or listed under clear: "
            r"with its purpose\)$",
        ),
        (
            {"columns": "alert_id, plate_no, biz_date", "extra": "    masks: {plate_no: phone}\n"},
            r"dataset overload_alerts: column plate_no \(plate_no, L2\) needs mask 'plate' or "
            r"'redact', not 'phone'$",
        ),
        (
            {"columns": "alert_id, plate_no, biz_date", "extra": "    clear: {plate_no: ''}\n"},
            r"dataset overload_alerts: clear column plate_no needs the purpose that needs it$",
        ),
        (
            {"columns": "alert_id, road, biz_date", "extra": "    clear: {road: why not}\n"},
            r"dataset overload_alerts: column road is not personal data; 'clear' is for L2 "
            r"columns$",
        ),
        (
            {"columns": "alert_id, biz_date", "clearance": "L1"},
            r"probe.yaml \(interface probe\): dataset overload_alerts: classified L2, above the "
            r"interface's clearance L1$",
        ),
        (
            {"columns": "alert_id, excess_kg"},
            r"probe.yaml \(interface probe\): dataset overload_alerts: columns must include the "
            r"partition column 'biz_date' \(increments are replaced by partition\)$",
        ),
        (
            {"dataset": "kpi_monthly", "columns": "kpi_id, value, biz_date"},
            r"dataset kpi_monthly: column 'biz_date' is not a column of dataset kpi_monthly$",
        ),
        (
            {"dataset": "kpi_monthly", "columns": "kpi_id, value"},
            r"dataset kpi_monthly: columns must include the partition column 'month'",
        ),
        (
            {"extra": "    row_filter: \"excess_rat >= 0.1 and road = 'G104'\"\n"},
            r"dataset overload_alerts: row_filter reads 'excess_rat', not a column of dataset "
            r"overload_alerts$",
        ),
        (
            {"dataset": "overload_alert"},
            r"probe.yaml \(interface probe\): unknown dataset 'overload_alert'$",
        ),
        (
            {"clearance": "L5"},
            r"probe.yaml \(interface probe\): clearance must be one of L1, L2, L3, L4$",
        ),
        (
            {"extra": "    masks: {plate_no: plate}\n"},
            r"dataset overload_alerts: masked column plate_no is not in the allowlist$",
        ),
    ],
    ids=[
        "unknown-column", "unknown-mask", "unmasked-plate", "wrong-mask", "clear-without-purpose",
        "clear-not-personal", "above-clearance", "no-partition-column", "monthly-unknown-column",
        "monthly-no-partition", "filter-unknown-column", "unknown-dataset", "bad-clearance",
        "mask-outside-allowlist",
    ],
)  # fmt: skip
def test_loader_refuses_bad_interface(standards, kwargs, message):
    _probe(standards, **kwargs)
    _refused(standards, message)


def test_l3_and_l4_columns_can_never_be_clear_only_masked(standards):
    """A dataset holding a natural person's phone (L3) and ID number (L4): an interface cleared
    for L4 still gets them masked; 'clear' is refused for them (Standard 2: L2 only)."""
    ds = standards / "datasets" / "credit_supervision_list.yaml"
    edit(ds, "classification: L2", "classification: L4")
    edit(ds, "elements: {subject_name: enterprise_name}", "elements: {subject_name: id_number}")
    (standards / "interfaces" / "credit_platform.yaml").unlink()
    cols = "entry_id, subject_name, biz_date"
    _probe(standards, "credit_supervision_list", cols, "    clear: {subject_name: checks}\n", "L4")
    _refused(
        standards,
        r"dataset credit_supervision_list: column subject_name \(id_number, L4\) may never be "
        r"shared in clear \(Standard 2: only L2 for a purpose\)$",
    )
    _probe(standards, "credit_supervision_list", cols, "", "L4")
    _refused(
        standards,
        r"column subject_name \(id_number, L4\) must be masked with 'id_number' or left out$",
    )
    _probe(
        standards, "credit_supervision_list", cols, "    masks: {subject_name: id_number}\n", "L4"
    )
    load_catalog.cache_clear()
    entry = load_catalog(standards).interfaces["probe"].datasets[0]
    assert entry.masks == {"subject_name": "id_number"}


def test_a_dataset_above_an_existing_interfaces_clearance_is_refused(standards):
    edit(
        standards / "interfaces" / "culture_tourism.yaml",
        "datasets:\n",
        "datasets:\n  - dataset: overload_alerts\n    columns: [alert_id, biz_date]\n",
    )
    _refused(
        standards,
        r"culture_tourism.yaml \(interface culture_tourism\): dataset overload_alerts: "
        r"classified L2, above the interface's clearance L1$",
    )


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "interfaces/traffic_police.yaml",
            "clearance: L2\n",
            "",
            r"traffic_police.yaml \(interface traffic_police\): missing 'clearance'$",
        ),
        (
            "interfaces/traffic_police.yaml",
            "id: traffic_police",
            "id: police",
            r"\(interface police\): id must be snake_case and equal the file name$",
        ),
        (
            "interfaces/traffic_police.yaml",
            "quota: {requests_per_minute: 120,",
            "quota: {requests_per_minute: 0,",
            r"\(interface traffic_police\): quota.requests_per_minute must be a positive integer$",
        ),
        (
            "interfaces/traffic_police.yaml",
            "row_filter: \"is_enforceable\"",
            "row_filtre: \"is_enforceable\"",
            r"dataset overload_alerts: unknown keys \['row_filtre'\]$",
        ),
        (
            "datasets/video_channel_catalogue.yaml",
            "columns: [channel_code,",
            "elements: {lon: longitude}\ncolumns: [channel_code,",
            r"video_channel_catalogue.yaml \(dataset video_channel_catalogue\): column lon "
            r"carries element 'longitude' \(L2\), above the dataset's classification L1$",
        ),
        (
            "datasets/scenic_passenger_vehicles.yaml",
            "passes, vehicles, biz_date]",
            "passes, vehicles]",
            r"\(dataset scenic_passenger_vehicles\): 'biz_date' \(partition or key\) is not in "
            r"its columns$",
        ),
        (
            "datasets/road_asset_incidents.yaml",
            "elements: {lon: longitude,",
            "elements: {lon: longitud,",
            r"\(dataset road_asset_incidents\): column lon: unknown element 'longitud'$",
        ),
    ],
    ids=[
        "no-clearance", "id-not-file", "zero-quota", "unknown-entry-key", "dataset-understated",
        "dataset-no-partition", "dataset-unknown-element",
    ],
)  # fmt: skip
def test_loader_refuses_bad_shared_files(standards, file, old, new, message):
    edit(standards / file, old, new)
    _refused(standards, message)


def test_the_overview_in_docs_sharing_lists_the_declared_interfaces(catalog):
    """docs/sharing.md's table is a convenience copy: it must name exactly the declarations."""
    import re

    text = (REPO_ROOT / "docs" / "sharing.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z_]+)` \| ([^|]+) \| (L[1-4]) \|", text, re.M)
    assert {r[0]: (r[1].strip(), r[2]) for r in rows} == {
        i.id: (i.consumer, i.clearance) for i in catalog.interfaces.values()
    }
