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
    families = catalog.interface_families()
    assert len(families) == 13
    got = {f: [d.dataset for d in members[0].datasets] for f, members in families.items()}
    assert got == EXPECTED
    assert all(len(m) == 1 for f, m in families.items() if f != "transfer_recipients")
    assert len(families["transfer_recipients"]) == 12  # one per receiving agency
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
            # above the clearance only a dataset classified L4 for its tracks, with the
            # positions masked or the plate masked or left out (Standard 2, personal_tracks)
            assert (
                dataset.classification <= interface.clearance
                or entry.masks.get("lon") == entry.masks.get("lat") == "coordinate_1km"
                or "plate_no" not in set(entry.columns) - set(entry.masks)
            ), (interface.id, dataset.id)
            for column in entry.columns:
                element = dataset.element_of(column, catalog.elements)
                level = element.classification if element else None
                if level in (None, "L1"):
                    assert column not in entry.clear
                    continue
                if column in entry.clear:
                    assert level in CLEAR_ALLOWED_LEVELS and entry.clear[column]
                    if element.id == "plate_no":
                        clear_plates.add(interface.family)
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
    assert filters[("transfer_recipients_linyi", "shuang_bai_vehicles")] == (
        "not is_xuzhou_plate and array_contains(array('鲁Q'), plate_region(plate_no))"
    )
    assert filters[("transfer_recipients_suzhou_anhui", "violation_transfers_by_destination")] == (
        "direction = 'OUT' and left(to_area, 4) = left('341300', 4)"
    )
    assert filters[("market_regulation", "case_disclosures")] == "party_kind = 'enterprise'"
    assert filters[("highway_centre", "road_asset_incidents")] == "road rlike '^[GS][0-9]{3}$'"
    assert len(filters) == 12 + 2 * 12  # each recipient of transfer_recipients has two


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
{share}{extra}quota: {{requests_per_minute: 5, rows_per_day: 100}}
token_lifetime_days: 7
"""


CONDITIONAL = "    share_type: 有条件共享\n    share_condition: for the probe's duty only\n"


def _probe(
    root,
    dataset="overload_alerts",
    columns="alert_id, biz_date",
    extra="",
    clearance="L2",
    share=CONDITIONAL,
):
    text = PROBE.format(
        dataset=dataset, columns=columns, extra=extra, clearance=clearance, share=share
    )
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

    from enforcement_brain.declarations.reading import read_yaml

    text = (REPO_ROOT / "docs" / "sharing.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z_]+)` \| ([^|]+) \| (L[1-4]) \|", text, re.M)
    assert {r[0]: (r[1].strip(), r[2]) for r in rows} == {
        family: (read_yaml(members[0].path)["consumer"], members[0].clearance)
        for family, members in catalog.interface_families().items()
    }


# --- 共享属性 (国发〔2016〕51号): every shared dataset states its sharing type ----------------


def test_every_shared_dataset_states_its_sharing_type_and_conditions(catalog):
    for interface in catalog.interfaces.values():
        for entry in interface.datasets:
            dataset = catalog.datasets[entry.dataset]
            assert entry.share_type in ("无条件共享", "有条件共享"), (interface.id, dataset.id)
            if entry.share_type == "有条件共享":
                assert entry.share_condition, (interface.id, dataset.id)
            else:  # unconditional: what any government department may receive
                assert dataset.classification == "L1", (interface.id, dataset.id)
    types = {
        (i.family, d.dataset): d.share_type for i in catalog.interfaces.values() for d in i.datasets
    }
    assert types[("ship_pollutant_supervision", "ship_pollutant_reception")] == "无条件共享"
    assert types[("traffic_police", "shuang_bai_vehicles")] == "有条件共享"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "    share_type: 不予共享\n",
            r"probe.yaml \(interface probe\): dataset overload_alerts: share_type 不予共享: a "
            r"dataset not to be shared cannot be in an interface",
        ),
        (
            "    share_type: 有条件共享\n",
            r"dataset overload_alerts: share_type 有条件共享 needs its share_condition",
        ),
        (
            "    share_type: 共享\n",
            r"dataset overload_alerts: share_type must be one of 无条件共享, 有条件共享, 不予共享",
        ),
        (
            "    share_type: 无条件共享\n",
            r"dataset overload_alerts: share_type 无条件共享 is for L1 datasets; "
            r"overload_alerts is L2",
        ),
        ("", r"dataset overload_alerts: share_type is required"),
    ],
)
def test_bad_sharing_types_are_refused(standards, extra, message):
    _probe(standards, share=extra)
    _refused(standards, message)


def test_the_rendered_standard_shows_each_shared_datasets_sharing_type():
    text = (REPO_ROOT / "docs" / "standards" / "data-quality-and-sharing-standard.md").read_text(
        encoding="utf-8"
    )
    assert "国发〔2016〕51号" in text
    assert text.count("有条件共享") >= 20 and "无条件共享" in text


# --- 行踪轨迹: sensitive personal information (PIPL Art. 28), never in clear below L4 ---------

TRACK_SOURCES = (
    "anpr_passes", "gps_alarms", "officer_tracks", "passenger_trips", "inspection_records",
    "video_ai_events",
)  # fmt: skip


def test_standard_2_grounds_its_levels_on_gbt_43697(catalog):
    header = catalog.quality_standard
    refs = " ".join(header["references"])
    assert "GB/T 43697-2024" in refs and "JR/T 0197" not in refs
    assert "个人信息保护法" in refs and "国发〔2016〕51号" in refs
    levels = {lv["level"]: lv for lv in header["classification_levels"]}
    assert {lv["grade"] for lv in levels.values()} <= {"一般数据", "重要数据", "核心数据"}
    assert levels["L3"]["category"] == "个人信息"
    assert levels["L4"]["category"] == "敏感个人信息"
    tracks = header["personal_tracks"]
    assert tracks["level"] == "L4" and "第二十八条" in tracks["follows"]


def test_sources_and_datasets_holding_tracks_are_sensitive_personal_information(catalog):
    for sid in TRACK_SOURCES:
        assert catalog.sources[sid].quality["classification"] == "L4", sid
    for did in ("dangerous_goods_alarms", "road_asset_incidents"):
        assert catalog.datasets[did].classification == "L4", did


def test_a_source_holding_tracks_below_l4_is_refused(standards):
    edit(standards / "sources" / "anpr_passes.yaml", "classification: L4", "classification: L2")
    _refused(
        standards,
        r"anpr_passes: holds 行踪轨迹 \(plate_no with checkpoint_code\): sensitive personal "
        r"information \(个人信息保护法 第二十八条\), classification L4",
    )


DG_COLS = "alarm_id, plate_no, lon, lat, alarm_time, biz_date"


@pytest.mark.parametrize(
    ("extra", "clearance", "message"),
    [
        (
            "    clear: {plate_no: stop it, lon: go there, lat: go there}\n",
            "L2",
            r"dataset dangerous_goods_alarms: shares 行踪轨迹 in clear \(plate_no with lon, lat\): "
            r"sensitive personal information \(个人信息保护法 第二十八条\) needs clearance L4; "
            r"or mask the positions \(coordinate_1km\) or the identifier",
        ),
        (
            "    clear: {plate_no: stop it}\n"
            "    masks: {lon: coordinate_1km, lat: coordinate_1km}\n",
            "L2",
            None,
        ),
        (
            "    masks: {plate_no: plate, lon: coordinate_1km, lat: coordinate_1km}\n",
            "L1",
            r"dataset dangerous_goods_alarms: classified L2, above the interface's clearance L1",
        ),
        ("    clear: {plate_no: stop it, lon: go there, lat: go there}\n", "L4", None),
    ],
)
def test_tracks_reach_an_interface_in_clear_only_at_l4(standards, extra, clearance, message):
    """A dangerous-goods alarm (plate, position, time) is a track: below L4 an interface gets
    it with the position at 1 km or the plate masked, and then at the level of what is left."""
    _probe(standards, "dangerous_goods_alarms", DG_COLS, extra, clearance)
    if message:
        _refused(standards, message)
    else:
        load_catalog.cache_clear()
        assert load_catalog(standards).interfaces["probe"].clearance == clearance


def test_emergency_management_is_cleared_for_the_tracks_it_receives(catalog):
    entry = next(
        d for d in catalog.interfaces["emergency_management"].datasets
        if d.dataset == "dangerous_goods_alarms"
    )  # fmt: skip
    assert {"plate_no", "lon", "lat"} <= set(entry.clear)
    assert catalog.interfaces["emergency_management"].clearance == "L4"
    police = next(
        d for d in catalog.interfaces["traffic_police"].datasets
        if d.dataset == "dangerous_goods_alarms"
    )  # fmt: skip
    assert police.masks == {"lon": "coordinate_1km", "lat": "coordinate_1km"}
