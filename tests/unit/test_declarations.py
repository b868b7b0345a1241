"""Declarations: loaded, cross-checked, and bad ones refused with file and entry named."""

from __future__ import annotations

import pytest
from conftest import edit

from enforcement_brain.declarations import load_catalog
from enforcement_brain.errors import DeclarationError
from enforcement_brain.settings import REPO_ROOT


def test_repository_declarations_load():
    catalog = load_catalog(REPO_ROOT / "data_standards")
    assert set(catalog.sources) >= {"wim_weighings", "anpr_passes", "enforcement_cases"}
    assert "overload_alerts" in catalog.datasets
    assert catalog.standard_version.startswith("DES-")


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "sources/wim_weighings.yaml",
            "element: plate_no,",
            "element: plate_number,",
            r"wim_weighings.yaml \(source wim_weighings\): column plate_no: "
            r"unknown element 'plate_number'",
        ),
        (
            "quality/rules.yaml",
            "id: R_AXLE_RANGE",
            "id: R_PLATE_FORMAT",
            r"rules.yaml: duplicate rule id 'R_PLATE_FORMAT'",
        ),
        (
            "quality/rules.yaml",
            "pattern: PLATE_ANY_RE",
            "pattern: '[unclosed'",
            r"rule R_PLATE_FORMAT: regex does not compile",
        ),
        (
            "sources/anpr_passes.yaml",
            "rules: [R_PLATE_FORMAT",
            "rules: [R_NO_SUCH_RULE, R_PLATE_FORMAT",
            r"anpr_passes.yaml \(source anpr_passes\): unknown rule 'R_NO_SUCH_RULE'",
        ),
        (
            "elements.yaml",
            "version: 0.3.0\nchangelog:",
            "version: 0.4.0\nchangelog:",
            r"elements.yaml: the change log must start with an entry for version 0.4.0",
        ),
        (
            "sources/gps_alarms.yaml",
            "quality: {completeness: 0.98,",
            "quality: {completness: 0.98,",
            r"gps_alarms.yaml \(source gps_alarms\): unknown quality key 'completness'",
        ),
        (
            "sources/officer_tracks.yaml",
            "  - {name: lat,               type: double,    element: latitude, "
            "          required: true}\n",
            "",
            r"officer_tracks.yaml \(source officer_tracks\): rule R_IN_XUZHOU needs exactly one "
            r"column "
            r"of element 'latitude'",
        ),
        (
            "quality/rules.yaml",
            "derived: excess_kg,",
            "derived: tare_weight_kg,",
            r"rule R_EXCESS_CONSISTENT: derived 'tare_weight_kg' is not in its sql",
        ),
        (
            "sources/taxi_vehicles_drivers.yaml",
            "encoding: gbk",
            "encoding: gbk2",
            r"taxi_vehicles_drivers.yaml \(source taxi_vehicles_drivers\): unknown encoding",
        ),
        (
            "elements.yaml",
            "name_zh: 姓名,           type: string,    classification: L3",
            "name_zh: 姓名,           type: string,    classification: L9",
            r"elements\[\d+\] \(person_name\): classification must be one of L1, L2, L3, L4",
        ),
        (
            "code_tables/ports.yaml",
            "codes:\n",
            'codes:\n  - {code: "PT320382", name: x, name_zh: x}\n'
            '  - {code: "PT320382", name: y, name_zh: y}\n',
            r"element port_code: .*ports.yaml: duplicate code 'PT320382' \(entry 2\)",
        ),
        (
            "quality/rules.yaml",
            "masks: {person_name: person_name, party_name: person_name, phone_no: phone}",
            "masks: {person_name: person_name, party_name: person_name}",
            r"element 'phone_no' is L3 but classification level L3 declares no mask for it",
        ),
        (
            "quality/rules.yaml",
            "masks: {id_number: id_number,",
            "masks: {id_number: blur,",
            r"classification_levels\[3\]: unknown mask 'blur' for id_number",
        ),
        (
            "interfaces/provincial_supervision.yaml",
            "plate_no: plate",
            "plate_no: scramble",
            r"unknown mask 'scramble' for column plate_no",
        ),
        (
            "sources/enforcement_cases.yaml",
            "watermark: updated_at",
            "watermark: modified_at",
            r"enforcement_cases.yaml \(source enforcement_cases\): watermark 'modified_at' is "
            "not a declared column",
        ),
        (
            "sources/toll_transactions.yaml",
            "split_by: station_code",
            "split_by: station",
            r"toll_transactions.yaml \(source toll_transactions\): generator.split_by 'station' "
            "is not a declared column",
        ),
        (
            "sources/bodycam_media.yaml",
            "generator: {people: officer,",
            "generator: {people: officers,",
            r"bodycam_media.yaml \(source bodycam_media\): generator.people must be one of "
            "public, officer",
        ),
        (
            "sources/gps_alarms.yaml",
            "generator: {key_prefix: AL,",
            "generator: {key_prefix: AL, vehicle: car,",
            r"gps_alarms.yaml \(source gps_alarms\): unknown generator keys \['vehicle'\]",
        ),
    ],
)
def test_bad_declarations_name_file_and_entry(standards, file, old, new, message):
    edit(standards / file, old, new)
    load_catalog.cache_clear()
    with pytest.raises(DeclarationError, match=message):
        load_catalog(standards)


def test_every_quantity_element_declares_its_unit():
    """A number without its unit cannot be summed or compared across sources: every numeric
    element states a unit, or the code table whose ``unit`` gives it row by row."""
    from enforcement_brain.standards.code_tables import load_code_table

    catalog = load_catalog(REPO_ROOT / "data_standards")
    numeric = [e for e in catalog.elements.values() if e.type in ("int", "bigint", "double")]
    assert numeric
    missing = [e.id for e in numeric if not (e.unit or e.unit_from)]
    assert missing == []
    for element in numeric:
        if element.unit_from:
            table = load_code_table(REPO_ROOT / "data_standards", element.unit_from)
            assert all(entry.get("unit") for entry in table.codes), element.id


def test_a_numeric_element_without_a_unit_is_refused(standards):
    edit(
        standards / "elements.yaml",
        "type: int,       unit: kg, min: 1000, max: 200000",
        "type: int,       min: 1000, max: 200000",
    )
    with pytest.raises(DeclarationError, match=r"gross_weight_kg.*needs a unit"):
        load_catalog(standards)


def test_pollutant_quantities_in_another_unit_declare_their_tonnes_factor():
    """Receipts are written in the pollutant's own unit (m³ for liquids); a KPI in tonnes
    converts them with the code table's ``t_per_unit``."""
    from enforcement_brain.standards.code_tables import load_code_table

    table = load_code_table(REPO_ROOT / "data_standards", "pollutant_type")
    units = table.attribute("unit")
    factors = table.attribute("t_per_unit")
    assert units["SEWAGE"] == "m3" and units["OILY_WATER"] == "m3" and units["GARBAGE"] == "t"
    assert set(factors) == set(units)
    assert all(factors[c] == 1 for c, u in units.items() if u == "t")
    assert all(isinstance(f, (int, float)) and f > 0 for f in factors.values())


def test_kpi_monthlys_uncapped_ratios_are_ratio_kpis_of_its_sql():
    """G_RATIO lets the KPIs in ``uncapped_ratio_kpis`` exceed 1: each must be a KPI the SQL
    declares with unit ``ratio``, so a misspelt name cannot leave a delivery ratio capped."""
    import re

    dataset = load_catalog(REPO_ROOT / "data_standards").datasets["kpi_monthly"]
    units = dict(re.findall(r"\('(\w+)', '[^']*', '([^']*)'\)", dataset.sql))
    uncapped = dataset.params["uncapped_ratio_kpis"]
    assert set(uncapped) == {
        "garbage_delivery_ratio", "sewage_delivery_ratio", "oily_water_delivery_ratio",
    }  # fmt: skip
    assert {units.get(k) for k in uncapped} == {"ratio"}
    assert "uncapped_ratio_kpis" in next(g.expr for g in dataset.gate if g.id == "G_RATIO")


def test_the_video_register_declares_the_channels_of_each_point_or_group():
    """An entry of ``video_channels`` is a camera point or a channel group (点位 / 资源组): it
    declares how many channels it carries, so the register counts the connected channels without
    one entry per channel. The groups of the seed report are there with their counts."""
    from enforcement_brain.standards.code_tables import load_code_table

    codes = load_code_table(REPO_ROOT / "data_standards", "video_channels").codes
    channels = {c["code"]: c.get("channels") for c in codes}
    assert all(isinstance(n, int) and n >= 1 for n in channels.values()), channels
    providers = {c["provider"] for c in codes}
    assert providers == {"detachment", "county", "holding_group", "shared"}
    by_name = {c["name_zh"]: c for c in codes}
    assert by_name["徐州东站停车场及周边共享视频"]["channels"] == 800  # 800余路
    assert by_name["5G布控球"]["channels"] == 6  # 5G布控球6部
    assert by_name["车载电子抓拍设备"]["channels"] == 37  # 车载电子抓拍设备37台
    for spot in ("欧乐堡海洋世界高空瞭望球机", "宝莲寺高空瞭望球机"):
        assert by_name[spot]["location_kind"] == "scenic_spot" and by_name[spot]["channels"] == 1
    # AI events come from the detachment's camera points only: the groups are viewed, not analysed
    assert all(c["provider"] == "detachment" for c in codes if c["weight"] > 0)
    connected = sum(c["channels"] for c in codes if c["provider"] in {"county", "holding_group"})
    assert 5_000 <= connected < 6_000  # 接入县区和交控集团视频资源5000余路
    # every county and district has its group of feeds
    divisions = load_code_table(REPO_ROOT / "data_standards", "divisions").codes
    fed = {c["division_code"] for c in codes if c["provider"] == "county"}
    assert fed == {d["code"] for d in divisions if d["kind"] != "city"}
