"""Where a source's positions may lie: inside Xuzhou for fixed sites and officers on duty,
anywhere for the moving vehicles the provincial and ministry platforms follow beyond the city.

The declaration says it per source (``positions:``), the in-area rule applies exactly where it
says "xuzhou", and the generator keeps to it: no "outside Xuzhou" defect where outside is data,
and moving vehicles really are found outside.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest
from conftest import edit

from enforcement_brain.declarations import load_catalog
from enforcement_brain.errors import DeclarationError
from enforcement_brain.generate import generate_day
from enforcement_brain.settings import REPO_ROOT, load_settings
from enforcement_brain.standards.checks import in_xuzhou

DAY = dt.date(2026, 11, 29)
#: Sources with coordinates and where their positions must lie.
BOUND = {
    "gps_alarms": "anywhere",
    "passenger_trips": "anywhere",
    "officer_tracks": "xuzhou",
    "inspection_records": "xuzhou",
    "road_network": "xuzhou",
    "video_ai_events": "xuzhou",
}


def test_each_source_with_coordinates_says_where_they_lie_and_why():
    catalog = load_catalog(REPO_ROOT / "data_standards")
    with_coordinates = {
        s.id for s in catalog.sources.values() if any(c.element == "longitude" for c in s.columns)
    }
    assert with_coordinates == set(BOUND)
    for sid, within in BOUND.items():
        source = catalog.sources[sid]
        assert source.positions is not None and source.positions.within == within, sid
        assert len(source.positions.why) > 40, sid  # a reason, not a word
        assert ("R_IN_XUZHOU" in source.rule_ids) == (within == "xuzhou"), sid
    assert all(s.positions is None for s in catalog.sources.values() if s.id not in BOUND)


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (  # the area rule on a source whose positions may lie anywhere
            "sources/gps_alarms.yaml",
            "R_VALUE_PARSES, R_SPEED_RANGE",
            "R_VALUE_PARSES, R_IN_XUZHOU, R_SPEED_RANGE",
            r"gps_alarms.yaml \(source gps_alarms\): positions.within is 'anywhere' but rule "
            r"R_IN_XUZHOU checks that they lie in Xuzhou",
        ),
        (  # positions bound to the city without the rule that checks it
            "sources/officer_tracks.yaml",
            "R_VALUE_PARSES, R_IN_XUZHOU,",
            "R_VALUE_PARSES,",
            r"officer_tracks.yaml \(source officer_tracks\): positions.within is 'xuzhou' but "
            r"no in_area rule checks it",
        ),
        (
            "sources/officer_tracks.yaml",
            "  within: xuzhou",
            "  within: jiangsu",
            r"officer_tracks.yaml \(source officer_tracks\): positions.within must be one of "
            r"xuzhou, anywhere",
        ),
        (  # an outside share only where outside is data
            "sources/officer_tracks.yaml",
            "generator: {people: officer,",
            "generator: {outside_share: 0.1, people: officer,",
            r"officer_tracks.yaml \(source officer_tracks\): generator.outside_share needs "
            r"positions.within: anywhere",
        ),
    ],
)
def test_bad_position_declarations_are_refused(standards: Path, file, old, new, message):
    edit(standards / file, old, new)
    with pytest.raises(DeclarationError, match=message):
        load_catalog(standards)


def test_coordinates_without_a_position_declaration_are_refused(standards: Path):
    path = standards / "sources" / "road_network.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("positions:")
    end = text.index("\n", text.index("why:", start)) + 1
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    with pytest.raises(DeclarationError, match=r"road_network.yaml .*: longitude/latitude"):
        load_catalog(standards)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory):
    var = tmp_path_factory.mktemp("positions")
    settings = load_settings({"EB_HOME": str(REPO_ROOT), "EB_VAR_DIR": str(var)})
    return settings, generate_day(settings, DAY, scale=0.01, seed=20250106, defect_rate=0.05)


def _records(files: list[str], marker: str) -> list[dict]:
    out = []
    for path in files:
        if marker in path:
            for line in Path(path).read_text(encoding="utf-8").splitlines():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a broken line: a defect of its own
    return out


def test_generator_plants_outside_defects_only_where_the_city_binds(generated):
    _, result = generated
    with open(result.ground_truth_path, encoding="utf-8", newline="") as fh:
        outside = {r["source"] for r in csv.DictReader(fh) if r["defect"] == "outside_area"}
    assert outside <= {s for s, w in BOUND.items() if w == "xuzhou"}
    assert "officer_tracks" in outside  # the rule still has defects to catch


def _flagged(result, source: str) -> set[str]:
    with open(result.ground_truth_path, encoding="utf-8", newline="") as fh:
        return {r["business_key"] for r in csv.DictReader(fh) if r["source"] == source}


def _clean(records: list[dict], key: str, flagged: set[str]) -> list[dict]:
    return [r for r in records if r.get(key) and r[key] not in flagged]


def _inside(record: dict, lon: str, lat: str) -> bool:
    return in_xuzhou(float(record[lon]), float(record[lat]))


def test_moving_vehicles_are_found_outside_xuzhou_as_clean_rows(generated):
    _, result = generated
    alarms = _clean(_records(result.files, "/alarms/"), "alarm_id", _flagged(result, "gps_alarms"))
    assert len(alarms) > 300
    away = [a for a in alarms if not _inside(a, "lon", "lat")]
    assert 0.03 < len(away) / len(alarms) < 0.2  # trucks on their way beyond the city
    orders = _records(result.files, "trips_")
    orders = _clean(orders, "trip_id", _flagged(result, "passenger_trips"))
    assert any(not _inside(o, "depart_lon", "depart_lat") for o in orders)
    tracks = _records(result.files, "/tracks/")
    tracks = _clean(tracks, "point_id", _flagged(result, "officer_tracks"))
    assert tracks and all(_inside(t, "lon", "lat") for t in tracks)
