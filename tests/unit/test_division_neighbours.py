"""The code table of the prefecture-level cities each Xuzhou division borders, and the regional
warnings that read it instead of a mapping of their own."""

from __future__ import annotations

from collections import defaultdict

from enforcement_brain.declarations import load_catalog
from enforcement_brain.settings import REPO_ROOT
from enforcement_brain.standards.code_tables import load_code_table

STANDARDS = REPO_ROOT / "data_standards"


def _borders() -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for entry in load_code_table(STANDARDS, "division_neighbours").codes:
        out[entry["division_code"]].add(entry["city_zh"])
    return out


def test_each_entry_names_a_xuzhou_division_a_city_outside_and_its_source():
    divisions = load_code_table(STANDARDS, "divisions").code_set()
    for entry in load_code_table(STANDARDS, "division_neighbours").codes:
        assert entry["code"] == f"{entry['division_code']}-{entry['city_code']}"
        assert entry["division_code"] in divisions
        city = entry["city_code"]
        assert len(city) == 6 and city.endswith("00") and not city.startswith("3203")
        assert entry["basis"] in ("V", "I") and entry["source"], entry["code"]


def test_the_cities_each_division_borders():
    assert dict(_borders()) == {
        "320321": {"济宁", "菏泽", "宿州"},  # 丰县
        "320322": {"济宁"},  # 沛县: 微山湖 and 鱼台, not 枣庄
        "320312": {"济宁", "枣庄", "宿州", "淮北"},  # 铜山区
        "320305": {"枣庄"},  # 贾汪区
        "320382": {"枣庄", "临沂", "宿迁"},  # 邳州市
        "320381": {"临沂", "连云港", "宿迁"},  # 新沂市
        "320324": {"宿迁", "宿州"},  # 睢宁县
    }


def test_the_warnings_read_the_table_and_notify_the_partner_cities():
    dataset = load_catalog(STANDARDS).datasets["regional_emergency_warnings"]
    assert "neighbours" not in dataset.params
    assert dataset.params["partner_cities"] == ["济宁", "枣庄", "宿州", "宿迁"]
    assert "ref.division_neighbours" in dataset.sql
    bordering = set().union(*_borders().values())
    assert set(dataset.params["partner_cities"]) <= bordering
