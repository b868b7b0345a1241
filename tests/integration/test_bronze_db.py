"""The front-database reader: a day window on the watermark, new columns kept, drift refused."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from conftest import make_settings
from front_db_support import case_row, front_db

from enforcement_brain.declarations import load_catalog
from enforcement_brain.errors import SchemaDriftError
from enforcement_brain.pipeline.bronze import read_delivery

DAY = dt.date(2026, 11, 29)


def test_new_columns_are_rescued_and_the_day_window_holds(spark, tmp_path):
    settings = make_settings(tmp_path / "var")
    source = load_catalog(settings.standards_dir).sources["enforcement_cases"]
    columns = [*source.column_names, "officer_badge"]  # the case system added a column
    front_db(
        settings,
        columns,
        [
            case_row("C1", "2026-11-29 09:00:00", officer_badge="J0042"),
            case_row("C2", "2026-11-29 23:59:59", officer_badge=None),
            case_row("C3", "2026-11-30 00:00:00", officer_badge="J0007"),  # the next day
        ],
    )
    rows = {r["case_id"]: r for r in read_delivery(spark, settings, source, DAY)[0].collect()}
    assert sorted(rows) == ["C1", "C2"]
    assert json.loads(rows["C1"]["_rescued_data"]) == {"officer_badge": "J0042"}
    assert rows["C2"]["_rescued_data"] is None
    assert rows["C1"]["_source_file"] == "db:enf_case"


def test_a_dropped_column_is_coded_drift(spark, tmp_path):
    settings = make_settings(tmp_path / "var")
    source = load_catalog(settings.standards_dir).sources["enforcement_cases"]
    columns = [c for c in source.column_names if c != "fine_yuan"]
    row = {k: v for k, v in case_row("C1", "2026-11-29 09:00:00").items() if k != "fine_yuan"}
    front_db(settings, columns, [row])
    with pytest.raises(SchemaDriftError, match=r"^\[EB-DRIFT-MISSING\] .*fine_yuan.*enf_case"):
        read_delivery(spark, settings, source, DAY)
