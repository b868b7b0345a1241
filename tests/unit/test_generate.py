"""The synthetic sources: determinism, idempotence, volumes, coherence and an honest ground truth.

Every check reads what was delivered (files, the case table) the way the platform will, and
judges it with the standard's checks, not with the generator's own bookkeeping.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from enforcement_brain.generate import GenerationResult, generate_day
from enforcement_brain.settings import Settings, load_settings
from enforcement_brain.standards.checks import (
    fine_yuan,
    gross_limit_kg,
    is_bai_dun_wang,
    is_road_train,
    is_valid_credit_code,
    is_valid_plate,
)
from enforcement_brain.standards.code_tables import load_code_table

REPO = Path(__file__).resolve().parents[2]
STANDARDS = REPO / "data_standards"
DAY = dt.date(2026, 11, 29)
SEED = 20250106  # the settings default; its test days hold overload cases
SCALE = 0.01
RATE = 0.05
WIM_COLUMNS = [
    "record_id", "site_code", "plate_no", "plate_color_code", "vehicle_type_code",
    "trailer_plate_no", "axle_count", "gross_weight_kg", "speed_kmh", "lane_no", "weigh_time",
]  # fmt: skip
ANPR_COLUMNS = [
    "pass_id", "checkpoint_code", "plate_no", "plate_color_code", "plate_type_code", "speed_kmh",
    "lane_no", "direction", "pass_time",
]  # fmt: skip


def _codes(table_id: str) -> frozenset[str]:
    return load_code_table(STANDARDS, table_id).code_set()


def _settings(var: Path, **env: str) -> Settings:
    return load_settings({"EB_HOME": str(REPO), "EB_VAR_DIR": str(var), **env})


def _generate(s: Settings, day: dt.date = DAY, **kw: Any) -> GenerationResult:
    args = {"scale": SCALE, "seed": SEED, "defect_rate": RATE, **kw}
    return generate_day(s, day, **args)


def _landing(s: Settings) -> Path:
    return Path(s.landing_uri)


def _snapshot(s: Settings, day: dt.date = DAY) -> dict[str, bytes]:
    """Every delivered file of ``day`` and its ground truth, by path relative to the var dir."""
    files = [
        *(_landing(s) / "wim_weighings" / day.isoformat()).iterdir(),
        *(_landing(s) / "anpr_passes" / day.isoformat()).iterdir(),
        s.var_dir / "ground_truth" / day.isoformat() / "defects.csv",
    ]
    return {str(p.relative_to(s.var_dir)): p.read_bytes() for p in sorted(files)}


def _db(s: Settings) -> list[dict[str, Any]]:
    path = s.source_db_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("select * from enf_case order by case_id")]


def _lines(s: Settings, rel: str) -> list[str]:
    return (_landing(s) / rel).read_text(encoding="utf-8").split("\n")[:-1]


#: This module tests the three hand-written generators; test_standards_truth.py covers the rest.
LEGACY = ("wim_weighings", "anpr_passes", "enforcement_cases")


def _truth(result: GenerationResult) -> list[dict[str, str]]:
    with open(result.ground_truth_path, encoding="utf-8", newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["source"] in LEGACY]


def _delivered(s: Settings, day: dt.date = DAY) -> dict[str, list[str]]:
    """Relative file path -> physical lines (header included for CSV)."""
    out = {}
    for source in ("wim_weighings", "anpr_passes"):
        for path in sorted((_landing(s) / source / day.isoformat()).iterdir()):
            out[f"{source}/{day.isoformat()}/{path.name}"] = _lines(
                s, f"{source}/{day.isoformat()}/{path.name}"
            )
    return out


def _parse(rel: str, line: str) -> dict[str, Any] | None:
    """A delivered line as a dict, or None when it is not a whole record."""
    if rel.endswith(".csv"):
        fields = line.split(",")
        return (
            dict(zip(WIM_COLUMNS, fields, strict=True)) if len(fields) == len(WIM_COLUMNS) else None
        )
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None


def _time(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None


def _shows(kind: str, rec: dict[str, Any], known_sites: frozenset[str]) -> bool:
    """Whether a parsed file record visibly carries ``kind`` (judged with the standard's checks)."""
    when = _time(rec.get("weigh_time") or rec.get("pass_time") or "")
    if kind == "bad_plate":
        return not is_valid_plate(rec["plate_no"])
    if kind == "impossible_weight":
        return not 0 < int(rec["gross_weight_kg"]) <= 200_000
    if kind == "bad_axle_count":
        return rec["axle_count"] in ("0", "12")
    if kind == "bad_time":
        return when is None
    if kind in ("unknown_site", "unknown_checkpoint"):
        return (rec.get("site_code") or rec["checkpoint_code"]) not in known_sites
    if kind == "bad_speed":
        return not 0 <= rec["speed_kmh"] <= 300
    if kind == "late":
        return when is not None and when.date() == DAY - dt.timedelta(days=1)
    return kind == "duplicate"  # shown by the identical earlier line, checked by the caller


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, GenerationResult]:
    """Three consecutive days in one lake and case system; the last is the day under test."""
    s = _settings(tmp_path_factory.mktemp("lake"))
    _generate(s, DAY - dt.timedelta(days=2))
    _generate(s, DAY - dt.timedelta(days=1))
    return s, _generate(s)


# -- delivery shape ------------------------------------------------------------------------------
def test_files_follow_each_systems_delivery(run: tuple[Settings, GenerationResult]) -> None:
    s, result = run
    feeding = [
        x["code"] for x in load_code_table(STANDARDS, "wim_sites").codes if x["feeds_city_platform"]
    ]
    wim_dir = _landing(s) / "wim_weighings" / "2026-11-29"
    anpr_dir = _landing(s) / "anpr_passes" / "2026-11-29"
    assert sorted(p.name for p in wim_dir.iterdir()) == sorted(
        f"wim_{c}_20261129.csv" for c in feeding
    )
    assert sorted(p.name for p in anpr_dir.iterdir()) == [
        f"anpr_20261129_{h:02d}.jsonl" for h in range(24)
    ]
    legacy = [f for f in result.files if "/wim_weighings/" in f or "/anpr_passes/" in f]
    assert sorted(legacy) == sorted(str(p) for p in [*wim_dir.iterdir(), *anpr_dir.iterdir()])
    for path in wim_dir.iterdir():
        assert path.read_text(encoding="utf-8").split("\n")[0] == ",".join(WIM_COLUMNS)
    record = json.loads(_lines(s, "anpr_passes/2026-11-29/anpr_20261129_09.jsonl")[0])
    assert list(record) == ANPR_COLUMNS
    assert isinstance(record["speed_kmh"], float) and isinstance(record["lane_no"], int)
    assert isinstance(record["plate_color_code"], str)


def test_row_counts_scale_linearly(run: tuple[Settings, GenerationResult]) -> None:
    s, result = run
    files = _delivered(s)
    dups = Counter(t["source"] for t in _truth(result) if t["defect"] == "duplicate")
    wim = sum(len(lines) - 1 for rel, lines in files.items() if rel.endswith(".csv"))
    anpr = sum(len(lines) for rel, lines in files.items() if rel.endswith(".jsonl"))
    assert result.rows_by_source["wim_weighings"] == wim == 500 + dups["wim_weighings"]
    assert result.rows_by_source["anpr_passes"] == anpr == 6_000 + dups["anpr_passes"]
    today = [r for r in _db(s) if r["updated_at"].startswith("2026-11-29")]
    assert result.rows_by_source["enforcement_cases"] == len(today) >= 2


# -- ground truth --------------------------------------------------------------------------------
def test_every_ground_truth_row_shows_its_defect(run: tuple[Settings, GenerationResult]) -> None:
    s, result = run
    files = _delivered(s)
    cases = {r["case_id"]: r for r in _db(s)}
    sites, checkpoints = _codes("wim_sites"), _codes("checkpoints")
    divisions = _codes("divisions")
    truth = _truth(result)
    for t in truth:
        kind = t["defect"]
        if t["source"] == "enforcement_cases":
            row = cases[t["business_key"]]
            assert t["file"] == "enf_case" and t["line"] == ""
            assert row["updated_at"].startswith("2026-11-29")
            shown = {
                "bad_credit_code": lambda r: not is_valid_credit_code(r["party_credit_code"]),
                "bad_division": lambda r: r["division_code"] not in divisions,
                "bad_plate": lambda r: not is_valid_plate(r["plate_no"]),
            }[kind](row)
            assert shown, t
            continue
        lines = files[t["file"]]
        line = lines[int(t["line"]) - 1]
        rec = _parse(t["file"], line)
        if kind == "broken_line":
            assert rec is None, t
            assert t["business_key"] == ("" if t["file"].endswith(".jsonl") else line.split(",")[0])
            continue
        if kind == "duplicate":
            assert line in lines[: int(t["line"]) - 1], t
        assert rec is not None, t
        key = rec.get("record_id") or rec.get("pass_id")
        assert key == t["business_key"], t
        assert _shows(kind, rec, sites | checkpoints), t
    kinds = Counter((t["source"], t["defect"]) for t in truth)
    for kind in ("bad_plate", "impossible_weight", "bad_axle_count", "bad_time", "duplicate",
                 "broken_line", "unknown_site"):  # fmt: skip
        assert kinds["wim_weighings", kind] >= 1, kind
    for kind in ("bad_plate", "bad_time", "duplicate", "broken_line", "unknown_checkpoint",
                 "bad_speed", "late"):  # fmt: skip
        assert kinds["anpr_passes", kind] >= 1, kind
    assert sum(n for (src, k), n in kinds.items() if src == "wim_weighings" and k != "late") == 25
    assert sum(n for (src, k), n in kinds.items() if src == "anpr_passes" and k != "late") == 300
    assert result.defects_by_source["anpr_passes"]["bad_speed"] == kinds["anpr_passes", "bad_speed"]


def test_clean_rows_pass_the_checks(run: tuple[Settings, GenerationResult]) -> None:
    s, result = run
    flagged = {(t["file"], t["line"]) for t in _truth(result) if t["defect"] != "late"}
    transport, police = _codes("plate_color_transport"), _codes("plate_color_police")
    vtypes, ptypes, directions = (
        _codes("vehicle_type"),
        _codes("plate_type"),
        _codes("travel_direction"),
    )
    sites, checkpoints = _codes("wim_sites"), _codes("checkpoints")
    keys: Counter[str] = Counter()
    unrecognised = 0
    for rel, lines in _delivered(s).items():
        first = 2 if rel.endswith(".csv") else 1
        for n, line in enumerate(lines[first - 1 :], start=first):
            if (rel, str(n)) in flagged:
                continue
            rec = _parse(rel, line)
            assert rec is not None and is_valid_plate(rec["plate_no"]), (rel, n)
            unrecognised += rec["plate_no"] == "-"
            if rel.endswith(".csv"):
                keys[rec["record_id"]] += 1
                assert rec["site_code"] in sites and rec["site_code"] in rel
                assert rec["plate_color_code"] in transport and rec["vehicle_type_code"] in vtypes
                axles = int(rec["axle_count"])
                assert 2 <= axles <= 6 and 0 < int(rec["gross_weight_kg"]) <= 200_000
                assert (rec["vehicle_type_code"] == "Q11") >= (axles >= 5)  # 5+ axles: a tractor
                assert 0 <= float(rec["speed_kmh"]) <= 300 and int(rec["lane_no"]) >= 1
                when = _time(rec["weigh_time"])
            else:
                keys[rec["pass_id"]] += 1
                assert rec["checkpoint_code"] in checkpoints and rec["direction"] in directions
                assert rec["plate_color_code"] in police and rec["plate_type_code"] in ptypes
                assert (rec["plate_no"] == "-") == (rec["plate_type_code"] == "41")
                assert 0 <= rec["speed_kmh"] <= 300
                when = _time(rec["pass_time"])
            assert when is not None and when.date() in (DAY, DAY - dt.timedelta(days=1))
    assert max(keys.values()) == 1  # business keys are unique once duplicates are set aside
    assert 0.002 < unrecognised / sum(keys.values()) < 0.01  # "-" plates appear, as clean rows

    statuses, violations = _codes("case_status"), _codes("violation_codes")
    divisions = _codes("divisions")
    flagged_cases = {
        t["business_key"] for t in _truth(result) if t["source"] == "enforcement_cases"
    }
    today = [r for r in _db(s) if r["updated_at"].startswith(DAY.isoformat())]
    for row in today:
        if row["case_id"] in flagged_cases:
            continue
        assert row["status"] in statuses and row["violation_code"] in violations
        assert row["division_code"] in divisions
        assert row["plate_no"] is None or is_valid_plate(row["plate_no"])
        assert row["party_credit_code"] is None or is_valid_credit_code(row["party_credit_code"])
        assert _time(row["filed_at"]) <= _time(row["updated_at"])
        assert (row["closed_at"] is not None) == (row["status"] == "CLOSED")


def test_case_defects_are_recorded(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    result = _generate(s, defect_rate=0.5)
    truth = [t for t in _truth(result) if t["source"] == "enforcement_cases"]
    assert truth and sum(result.defects_by_source["enforcement_cases"].values()) == len(truth)
    rows = {r["case_id"]: r for r in _db(s)}
    for t in truth:
        row = rows[t["business_key"]]
        assert {
            "bad_credit_code": not is_valid_credit_code(row["party_credit_code"]),
            "bad_division": row["division_code"] not in _codes("divisions"),
            "bad_plate": not is_valid_plate(row["plate_no"]),
        }[t["defect"]], t


# -- determinism and idempotence -----------------------------------------------------------------
def test_same_arguments_same_bytes(run: tuple[Settings, GenerationResult], tmp_path: Path) -> None:
    s, _ = run
    fresh = _settings(tmp_path)
    _generate(fresh)
    assert _snapshot(fresh) == {k: v for k, v in _snapshot(s).items()}
    assert _db(fresh) == [r for r in _db(s) if r["updated_at"].startswith("2026-11-29")]


def test_rerun_replaces_the_day(run: tuple[Settings, GenerationResult]) -> None:
    s, _ = run
    before, table = _snapshot(s), _db(s)
    folder = _landing(s) / "anpr_passes" / "2026-11-29"
    (folder / "anpr_20261129_99.jsonl").write_text("stale\n", encoding="utf-8")
    (folder / "_SUCCESS").write_text("", encoding="utf-8")
    _generate(s)
    assert not (folder / "anpr_20261129_99.jsonl").exists()  # a stale delivery file goes
    assert (folder / "_SUCCESS").exists()  # what is not a delivery file stays
    (folder / "_SUCCESS").unlink()
    assert _snapshot(s) == before and _db(s) == table
    # An earlier day regenerated after a later one does not move cases back in time.
    _generate(s, DAY - dt.timedelta(days=1))
    assert _db(s) == table


def test_defect_rate_changes_only_the_defective_rows(
    run: tuple[Settings, GenerationResult], tmp_path: Path
) -> None:
    s, result = run
    clean_run = _settings(tmp_path)
    clean_result = _generate(clean_run, defect_rate=0.0)
    assert {t["defect"] for t in _truth(clean_result)} == {"late"}
    flagged = {(t["file"], t["line"]) for t in _truth(result) if t["defect"] != "late"}
    clean_files = _delivered(clean_run)
    for rel, lines in _delivered(s).items():
        kept = {line for n, line in enumerate(lines, start=1) if (rel, str(n)) not in flagged}
        assert kept <= set(clean_files[rel]), rel


# -- coherence across sources --------------------------------------------------------------------
def _wim_records(s: Settings, day: dt.date) -> list[dict[str, Any]]:
    out = []
    for rel, lines in _delivered(s, day).items():
        if rel.endswith(".csv"):
            out += [r for r in (_parse(rel, line) for line in lines[1:]) if r is not None]
    return out


def test_weighed_trucks_pass_checkpoints(run: tuple[Settings, GenerationResult]) -> None:
    s, result = run
    flagged = {t["business_key"] for t in _truth(result) if t["defect"] != "late"}
    anpr_plates = {
        rec["plate_no"]
        for rel, lines in _delivered(s).items()
        if rel.endswith(".jsonl")
        for rec in (_parse(rel, line) for line in lines)
        if rec is not None
    }
    wim_plates = {
        r["plate_no"]
        for r in _wim_records(s, DAY)
        if r["record_id"] not in flagged and r["plate_no"] != "-"
    }
    assert len(wim_plates) > 300 and wim_plates <= anpr_plates


def _road_train(r: dict[str, Any]) -> bool:
    return is_road_train(r["vehicle_type_code"], r["plate_no"], r["trailer_plate_no"])


def test_overload_cases_name_trucks_that_overloaded(run: tuple[Settings, GenerationResult]) -> None:
    s, _ = run
    sites = {x["code"]: x["division_code"] for x in load_code_table(STANDARDS, "wim_sites").codes}
    checked = 0
    for back in range(2):  # cases filed on DAY-1 and DAY, from the weighings of the day before
        day = DAY - dt.timedelta(days=back)
        over: dict[str, list[dict[str, Any]]] = {}
        for r in _wim_records(s, day - dt.timedelta(days=1)):
            if r["axle_count"] in ("0", "12") or not r["gross_weight_kg"].isdigit():
                continue
            limit = gross_limit_kg(int(r["axle_count"]), _road_train(r))
            if int(r["gross_weight_kg"]) > limit:
                over.setdefault(r["plate_no"], []).append({**r, "limit": limit})
        for case in _db(s):
            if case["violation_code"] != "CX01" or not case["filed_at"].startswith(day.isoformat()):
                continue
            checked += 1
            weighings = over[case["plate_no"]]
            assert case["division_code"] in {sites[w["site_code"]] for w in weighings}
            if case["fine_yuan"] is not None:
                fines = {fine_yuan(int(w["gross_weight_kg"]) - w["limit"]) for w in weighings}
                assert case["fine_yuan"] in fines
    assert checked >= 1, "no overload case filed on the two days: pick another SEED"
    today = [c for c in _db(s) if c["updated_at"].startswith(DAY.isoformat())]
    assert any(c["filed_at"] < DAY.isoformat() for c in today)  # older cases move on today


def test_wim_is_realistic(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    _generate(s, scale=0.05, defect_rate=0.0)
    records = _wim_records(s, DAY)
    over = kings = 0
    hours: Counter[int] = Counter()
    for r in records:
        axles, gross = int(r["axle_count"]), int(r["gross_weight_kg"])
        over += gross > gross_limit_kg(axles, _road_train(r))
        kings += is_bai_dun_wang(gross)
        hours[int(r["weigh_time"][11:13])] += 1
    assert len(records) == 2_500
    assert 0.03 <= over / len(records) <= 0.08
    # Trucks drawing a full or centre-axle trailer: their own type, and the trailer's plate.
    drawbar = [r for r in records if r["vehicle_type_code"] == "H11" and _road_train(r)]
    assert drawbar and {r["axle_count"] for r in drawbar} <= {"3", "4"}
    assert all(r["trailer_plate_no"].endswith("挂") for r in drawbar)
    assert kings <= 3  # 百吨王 are rare (wim.BAI_DUN_WANG_SHARE); test_report_figures counts them
    assert max(hours.values()) > 1.5 * min(hours.values())  # traffic peaks by hour


# -- 抄告 ----------------------------------------------------------------------------------------
def test_outgoing_transfers_follow_closed_cases_of_vehicles_registered_elsewhere() -> None:
    import dataclasses
    import json as _json

    from enforcement_brain.generate.cases import TRANSFER_LATE_SHARE, transfers_on
    from enforcement_brain.generate.context import make_context
    from enforcement_brain.generate.generic import generate_source
    from enforcement_brain.generate.pools import build_pools
    from enforcement_brain.standards.checks import is_transfer_on_time, working_days_after

    base = make_context(STANDARDS, DAY, SEED, 1.0, 0.0)
    sent = []
    for k in range(14):
        ctx = dataclasses.replace(base, day=DAY + dt.timedelta(days=k))
        sent += [(ctx.day, t) for t in transfers_on(ctx)]
    assert 14 * 4 <= len(sent) <= 14 * 30  # ~10 a day at this case volume (4,979 a year)
    for day, t in sent:
        case = t.case
        assert t.sent_at.date() == day and t.closed_at == case.stage_time("CLOSED")
        assert case.row_on(t.closed_at.date())["status"] == "CLOSED"
        assert case.decision_no is not None and not case.plate_no.startswith("苏C")
        assert working_days_after(t.closed_at.date(), day) >= 1 and day.weekday() < 5
    late = sum(not is_transfer_on_time(t.closed_at, t.sent_at) for _, t in sent)
    assert 0 < late <= 3 * TRANSFER_LATE_SHARE * len(sent)
    out_of_province = sum(not t.to_area.startswith("32") for _, t in sent)
    assert 0.5 <= out_of_province / len(sent) <= 0.9  # the report: 3,734 of 4,979

    # The source's outgoing rows are exactly the day's transfers, with their case's numbers.
    ctx = dataclasses.replace(base, day=DAY + dt.timedelta(days=7))
    source = ctx.catalog.sources["violation_transfers"]
    out = generate_source(ctx, build_pools(SEED, STANDARDS), source)
    records = [
        _json.loads(line)
        for text in out.delivery.texts.values()
        for line in text.splitlines()
        if line.strip()
    ]
    outgoing = {r["case_no"]: r for r in records if r["direction"] == "OUT"}
    due = {t.case.case_no: t for t in transfers_on(ctx)}
    assert set(outgoing) == set(due)
    for case_no, r in outgoing.items():
        t = due[case_no]
        assert (r["plate_no"], r["decision_no"], r["to_area"]) == (
            t.case.plate_no, t.case.decision_no, t.to_area,
        )  # fmt: skip
        assert r["case_closed_at"] < r["transferred_at"]
    assert all(r["to_area"] == "320300" for r in records if r["direction"] == "IN")
