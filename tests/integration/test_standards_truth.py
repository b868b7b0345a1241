"""The compiled rules against the generator's ground truth, for all 28 declared sources.

Three generated days at scale 0.01 go through landing and the real bronze readers (CSV in UTF-8
and GBK, JSON lines dropped in landing or fetched there from a bucket prefix, the front database
through SQLAlchemy) and the one-pass rule evaluation of silver. Every injected defect must be
flagged by the rule the ground truth names, and no clean row by any rule.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter

import pytest
from conftest import make_settings

from enforcement_brain.declarations import Source, load_catalog
from enforcement_brain.generate.day import generate_day
from enforcement_brain.pipeline import landing
from enforcement_brain.pipeline.bronze import read_delivery, whole_files, with_batch
from enforcement_brain.pipeline.silver import conform
from enforcement_brain.settings import Settings

DAYS = [dt.date(2026, 11, 26), dt.date(2026, 11, 27), dt.date(2026, 11, 28)]
#: Labels of rows whose content is clean: loaded, never flagged by a rule.
CLEAN_LABELS = {"late", "duplicate", "out_of_order"}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = make_settings(tmp_path_factory.mktemp("truth") / "var")
    for day in DAYS:
        generate_day(settings, day, scale=0.01)
    return settings


def _truth(settings: Settings, day: dt.date) -> list[dict[str, str]]:
    path = settings.var_dir / "ground_truth" / day.isoformat() / "defects.csv"
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _relative(settings: Settings, path: str) -> str:
    for root in (settings.landing_uri.removeprefix("file://"), str(settings.objects_root)):
        if path.startswith(root + "/"):
            return path[len(root) + 1 :]
    return path


def _landed(source: Source, day: dt.date, t: dict[str, str]) -> dict[str, str]:
    """The ground truth names an object by bucket and key; bronze names its landed copy."""
    if source.delivery.kind != "objects":
        return t
    return {**t, "file": f"{source.id}/{day.isoformat()}/{t['file'].rsplit('/', 1)[-1]}"}


def test_every_source_is_generated(generated: Settings) -> None:
    catalog = load_catalog(generated.standards_dir)
    assert len(catalog.sources) == 28
    kinds = Counter(s.delivery.kind for s in catalog.sources.values())
    encodings = {s.delivery.encoding for s in catalog.sources.values()}
    assert set(kinds) == {"file", "database", "objects"} and "gbk" in encodings


def test_rules_flag_every_defect_and_no_clean_row(spark, generated: Settings) -> None:
    from pyspark.sql import functions as F

    catalog = load_catalog(generated.standards_dir)
    problems: list[str] = []
    flagged_kinds: Counter[str] = Counter()
    for source in catalog.sources.values():
        frames = []
        for day in DAYS:
            landing.land(generated, source, day, "test")  # objects: fetched into landing
            raw, _, _ = read_delivery(spark, generated, source, day)
            frames.append(conform(with_batch(raw, source, day, "test"), catalog, source))
        rows = frames[0]
        for f in frames[1:]:
            rows = rows.unionByName(f)
        key = source.business_key[0]
        with whole_files(spark):
            got = rows.select(
                "_source_file", "_source_line", F.col(f"_raw.`{key}`").alias("key"), "_all_broken"
            ).collect()
        truth = [
            _landed(source, day, t)
            for day in DAYS
            for t in _truth(generated, day)
            if t["source"] == source.id
        ]
        by_place = {}
        for t in truth:
            place = (t["file"], int(t["line"])) if t["line"] else (t["file"], t["business_key"])
            by_place.setdefault(place, []).append(t)
        seen_places = set()
        for r in got:
            if r["_source_line"] is not None:
                place = (_relative(generated, r["_source_file"]), r["_source_line"])
            else:
                place = (r["_source_file"], r["key"])
            labels = by_place.get(place, [])
            seen_places.add(place)
            broken = set(r["_all_broken"])
            defects = [t for t in labels if t["defect"] not in CLEAN_LABELS]
            if not defects:
                if broken:
                    problems.append(f"{source.id} {place}: clean row flagged {sorted(broken)}")
                continue
            for t in defects:
                if t["rule"] not in broken:
                    problems.append(
                        f"{source.id} {place}: {t['defect']} should be flagged by {t['rule']}, "
                        f"got {sorted(broken)}"
                    )
                else:
                    flagged_kinds[t["defect"]] += 1
        missing = [p for p, ts in by_place.items() if p not in seen_places]
        problems += [f"{source.id} {p}: ground-truth row not delivered" for p in missing]
    assert not problems, "\n".join(problems[:30])
    # Every kind of defect the generators inject was met at least once over the three days.
    assert {"bad_plate", "bad_credit_code", "bad_time", "broken_line", "unknown_code"} <= set(
        flagged_kinds
    ), flagged_kinds
