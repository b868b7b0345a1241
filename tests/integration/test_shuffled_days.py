"""Days loaded in any order give the same silver and quarantine tables.

Real sources deliver late and out of order, and engineers backfill ranges in whatever order they
run. The same three generated days are loaded into two lakes, in order and shuffled; every
business column of every row must agree (run stamps aside). The sources cover each delivery kind
and the cases that make order matter: late rows (WIM), rows updated over days (cases in the front
database, officers drawn from a standing pool).
"""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from conftest import make_settings

from enforcement_brain.declarations import load_catalog
from enforcement_brain.generate.day import generate_day
from enforcement_brain.lake.tables import RUN_STAMP_COLUMNS
from enforcement_brain.orchestration.runtime import JobContext
from jobs import bronze_to_silver, land_to_bronze

DAYS = [dt.date(2026, 11, 26), dt.date(2026, 11, 27), dt.date(2026, 11, 28)]
SHUFFLED = [DAYS[2], DAYS[0], DAYS[1]]
SOURCES = ["wim_weighings", "enforcement_cases", "officers_organisations"]


def _rows(spark, settings, layer: str, table: str) -> list[tuple]:
    """Rows without run stamps; the delivered file's path relative to the lake's var dir."""
    df = spark.read.format("delta").load(settings.table_uri(layer, table))
    keep = sorted(c for c in df.columns if c not in RUN_STAMP_COLUMNS and c != "_batch_id")
    prefix = str(settings.var_dir)
    return sorted(
        tuple(str(v).replace(prefix, "<var>") for v in r) for r in df.select(*keep).collect()
    )


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("shuffled")
    in_order = make_settings(root / "a")
    for day in DAYS:
        generate_day(in_order, day, scale=0.005, defect_rate=0.05)
    shutil.copytree(root / "a", root / "b")  # the same deliveries, before any load
    return in_order, make_settings(root / "b")


def test_shuffled_days_give_the_same_tables(spark, lakes) -> None:
    in_order, shuffled = lakes
    catalog = load_catalog(in_order.standards_dir)
    for settings, days in ((in_order, DAYS), (shuffled, SHUFFLED)):
        ctx = JobContext(settings, catalog)
        for day in days:
            for source in SOURCES:
                land_to_bronze.run(ctx, source, day, f"run-{day}")
                report = bronze_to_silver.run(ctx, source, day, f"run-{day}")
                assert report["rows_in"] > 0, (source, day)
    for source in SOURCES:
        for layer in ("silver", "quarantine"):
            a = _rows(spark, in_order, layer, source)
            b = _rows(spark, shuffled, layer, source)
            assert a == b, (layer, source, len(a), len(b))
        assert _rows(spark, in_order, "silver", source), source
