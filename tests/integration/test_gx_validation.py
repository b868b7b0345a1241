"""GX validates a day's silver increment: results in ``ops.gx_results`` and in Data Docs."""

from __future__ import annotations

import json

import pytest
from wim_support import DAY, load_day, rows, write_delivery
from wim_support import wim_site as _site

from enforcement_brain.declarations import load_catalog
from enforcement_brain.orchestration.runtime import JobContext
from enforcement_brain.pipeline import gx_validation
from enforcement_brain.settings import REPO_ROOT
from jobs import validate_silver

SUITE = json.loads((REPO_ROOT / "expectations" / "wim_weighings.json").read_text("utf-8"))


@pytest.fixture
def ctx(settings, spark):
    return JobContext(settings, load_catalog(settings.standards_dir))


def test_increment_is_validated_stored_and_documented(ctx, spark):
    settings = ctx.settings
    write_delivery(settings, rows(settings, _site(settings)))
    load_day(ctx)

    summary = gx_validation.validate_increments(
        spark, settings, ctx.catalog, DAY, "gx-run-1", ["wim_weighings"]
    )
    n = len(SUITE["expectations"])
    assert summary == [
        {
            "source": "wim_weighings",
            "rows": 5,  # W1, W2, W3, W8, W9: the quarantined rows never reach silver
            "expectations": n,
            "failed_expectations": 1,
            "success": False,  # GX counts a failed warning-level expectation as a failure
        }
    ]

    results = spark.read.format("delta").load(settings.table_uri("ops", "gx_results"))
    got = results.collect()
    assert len(got) == n
    assert {r["run_id"] for r in got} == {"gx-run-1"}
    assert {r["suite"] for r in got} == {"silver.wim_weighings"}
    assert {r["delivery_date"] for r in got} == {DAY}
    assert {r["standard_version"] for r in got} == {ctx.catalog.standard_version}
    by_key = {(r["expectation_type"], r["column_name"], r["rule_id"]): r for r in got}
    expected = {
        (e["type"], e["kwargs"].get("column", e["meta"].get("column")), e["meta"].get("rule_id"))
        for e in SUITE["expectations"]
    }
    assert set(by_key) == expected
    colour = ("expect_column_values_to_be_in_set", "plate_color_code", "R_PLATE_COLOR_CODE")
    assert by_key[colour]["unexpected_count"] == 1
    assert by_key[colour]["severity"] == "warning" and not by_key[colour]["success"]
    for key, row in by_key.items():
        assert row["error"] is None, key
        if key != colour:
            assert row["unexpected_count"] == 0 and row["success"], key

    index = gx_validation.data_docs_index(settings)
    assert index.is_file() and "silver.wim_weighings" in index.read_text("utf-8")
    # GX keeps the counts but no example values: no plate or code leaves the lake that way.
    stored = list((gx_validation.gx_root(settings) / "gx" / "uncommitted").rglob("*.json"))
    results_json = [json.loads(f.read_text("utf-8")) for f in stored if "validations" in f.parts]
    colour_results = [
        r["result"]
        for doc in results_json
        for r in doc["results"]
        if r["expectation_config"]["kwargs"].get("column") == "plate_color_code"
        and r["expectation_config"]["type"] == colour[0]
    ]
    assert [r["unexpected_count"] for r in colour_results] == [1]
    assert all(not r.get("partial_unexpected_list") for r in colour_results)

    # A rerun on the same GX project reuses it and appends a second set of rows (history).
    report = validate_silver.run(ctx, "wim_weighings", DAY, "gx-run-2")
    assert report == {
        "day": DAY.isoformat(),
        "sources": 1,
        "validated": ["wim_weighings"],
        "failed_expectations": 1,
        "data_docs": str(index),
    }
    results = spark.read.format("delta").load(settings.table_uri("ops", "gx_results"))
    assert results.count() == 2 * n
    runs = {r["run_id"]: r["count"] for r in results.groupBy("run_id").count().collect()}
    assert runs == {"gx-run-1": n, "gx-run-2": n}
