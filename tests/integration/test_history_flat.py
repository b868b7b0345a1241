"""A day's silver write stays inside its own dates however long the history: read from Delta's
commit metrics (files rewritten, rows copied), not from wall time."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from enforcement_brain.declarations import load_catalog
from enforcement_brain.orchestration.runtime import JobContext
from enforcement_brain.pipeline.silver import date_bound
from enforcement_brain.settings import REPO_ROOT
from jobs import bronze_to_silver, land_to_bronze

HEADER = (
    "record_id,site_code,plate_no,plate_color_code,vehicle_type_code,trailer_plate_no,"
    "axle_count,gross_weight_kg,speed_kmh,lane_no,weigh_time"
)
FIRST = dt.date(2026, 11, 20)


@pytest.fixture
def ctx(settings, spark):
    return JobContext(settings, load_catalog(settings.standards_dir))


def deliver(settings, day: dt.date, lines: list[str]) -> None:
    from enforcement_brain.standards.code_tables import load_code_table

    site = load_code_table(settings.standards_dir, "wim_sites").codes[0]["code"]
    folder = settings.local_lake / "landing" / "wim_weighings" / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    body = [line.format(site=site) for line in lines]
    (folder / f"wim_A_{day:%Y%m%d}.csv").write_text("\n".join([HEADER, *body]) + "\n")


def commits(settings) -> list[tuple[str, str, dict[str, int]]]:
    """(operation, MERGE condition, operationMetrics) of every data commit to
    silver.wim_weighings, oldest first."""
    log = settings.local_lake / "silver" / "wim_weighings" / "_delta_log"
    out = []
    for path in sorted(log.glob("*.json")):
        for line in path.read_text().splitlines():
            info = json.loads(line).get("commitInfo")
            if info and info.get("operation") in ("WRITE", "MERGE"):
                metrics = {k: int(v) for k, v in info["operationMetrics"].items()}
                predicate = info["operationParameters"].get("predicate", "")
                out.append((info["operation"], predicate, metrics))
    return out


def test_a_day_appends_and_merges_only_the_files_of_its_own_dates(ctx):
    """New rows are appended (no file of the table is read or rewritten); a changed row is
    MERGEd with the target bounded to the batch's dates, so Delta rewrites the one file that
    holds it, while the table grows by a file a day; a rerun commits nothing."""
    settings = ctx.settings
    days = [FIRST + dt.timedelta(days=i) for i in range(4)]

    def load(day):
        land_to_bronze.run(ctx, "wim_weighings", day, "test-run")
        return bronze_to_silver.run(ctx, "wim_weighings", day, "test-run")

    for i, day in enumerate(days):
        lines = [
            f"{day:%m%d}{n},{{site}},苏C1{i}{n:03d},2,H11,,2,15000,50,1,{day} 0{n}:00:00"
            for n in range(1, 4)
        ]
        if i == len(days) - 1:  # the last day also brings a corrected record of day 2
            fix = f"{days[1]:%m%d}1,{{site}},苏C11001,2,H11,,2,16000,50,1,{days[1]} 01:00:00"
            lines.append(fix)
        deliver(settings, day, lines)
        load(day)

    made = commits(settings)
    assert [op for op, _, _ in made] == ["WRITE"] * 4 + ["MERGE"]
    appends = [m for op, _, m in made if op == "WRITE"]
    assert [m["numOutputRows"] for m in appends] == [3, 3, 3, 3]
    assert all(m.get("numRemovedFiles", 0) == 0 for m in appends)
    _, predicate, merge = made[-1]
    assert sorted(set(re.findall(r"\d{4}-\d{2}-\d{2}", predicate))) == [
        days[1].isoformat(),
        days[-1].isoformat(),
    ]
    assert "biz_date" in predicate
    assert merge["numSourceRows"] == 1  # the changed row alone, not the day's batch
    assert (merge["numTargetRowsInserted"], merge["numTargetRowsUpdated"]) == (0, 1)
    assert merge["numTargetFilesRemoved"] == 1  # day 2's file, nothing of other days
    assert merge["numTargetRowsCopied"] == 2  # day 2's other rows

    again = load(days[-1])
    assert commits(settings) == made  # a rerun finds every row the same: no commit
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 4)


def test_records_kept_in_their_latest_state_merge_unbounded():
    catalog = load_catalog(REPO_ROOT / "data_standards")
    wim, cases = catalog.sources["wim_weighings"], catalog.sources["enforcement_cases"]
    days = [dt.date(2026, 11, 28), dt.date(2026, 11, 29)]
    assert date_bound(wim, days, False) == " AND (t.biz_date IN ('2026-11-28', '2026-11-29'))"
    assert date_bound(wim, days[:1], True) == (
        " AND (t.biz_date IN ('2026-11-28') OR t.biz_date IS NULL)"
    )
    assert date_bound(wim, [], False) == " AND (false)"
    assert date_bound(cases, days, False) == ""


def quarantine_versions(settings) -> int:
    log = settings.local_lake / "quarantine" / "wim_weighings" / "_delta_log"
    return len(list(log.glob("*.json")))


def test_a_clean_day_replaces_quarantine_only_when_it_holds_rows_of_that_day(ctx):
    """The first load creates the quarantine table; a clean rerun writes nothing to it; a
    redelivery with a bad row quarantines it, and a clean one after that empties the day."""
    from deltalake import DeltaTable

    settings = ctx.settings
    day = FIRST
    clean = [
        f"{day:%m%d}{n},{{site}},苏C1{n:04d},2,H11,,2,15000,50,1,{day} 0{n}:00:00" for n in (1, 2)
    ]
    bad = f"{day:%m%d}9,{{site}},NOTAPLATE,2,H11,,2,15000,50,1,{day} 09:00:00"

    def load(lines):
        folder = settings.local_lake / "landing" / "wim_weighings" / day.isoformat()
        (folder / "_manifest.json").unlink(missing_ok=True)  # a re-delivery of the day
        deliver(settings, day, lines)
        land_to_bronze.run(ctx, "wim_weighings", day, "test-run")
        return bronze_to_silver.run(ctx, "wim_weighings", day, "test-run")

    def quarantined():
        table = DeltaTable(str(settings.local_lake / "quarantine" / "wim_weighings"))
        return table.to_pyarrow_table().num_rows

    assert load(clean)["quarantined"] == 0
    assert quarantine_versions(settings) == 1 and quarantined() == 0
    load(clean)
    assert quarantine_versions(settings) == 1  # nothing of the day to replace: no commit
    assert load([*clean, bad])["quarantined"] == 1
    assert quarantine_versions(settings) == 2 and quarantined() == 1
    assert load(clean)["quarantined"] == 0
    assert quarantine_versions(settings) == 3 and quarantined() == 0  # the day's row replaced
