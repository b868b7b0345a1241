"""The shared datasets' SQL: its declaration checks, the shared functions against Standard 1's
reference in plain Python, the ``ref.*`` views against the code tables, and params as variables.
"""

from __future__ import annotations

import pytest
from conftest import edit

from enforcement_brain.declarations import load_catalog
from enforcement_brain.errors import DeclarationError
from enforcement_brain.gold.datasets import bind_inputs
from enforcement_brain.settings import REPO_ROOT
from enforcement_brain.standards import checks
from enforcement_brain.standards.code_tables import list_code_tables, load_code_table
from enforcement_brain.standards.sql_library import (
    FUNCTIONS,
    all_params,
    param_statements,
    session_statements,
    sql_literal,
    used_functions,
    used_ref_tables,
)


def test_a_dataset_without_its_sql_is_refused(standards):
    (standards / "datasets" / "overload_alerts.sql").unlink()
    with pytest.raises(DeclarationError, match=r"overload_alerts.*no SQL file overload_alerts.sql"):
        load_catalog(standards)


def test_sql_reading_an_undeclared_source_is_refused(standards):
    edit(
        standards / "datasets" / "overload_alerts.sql",
        "FROM weighed w",
        "FROM weighed w JOIN silver.anpr_passes a ON a.plate_no = w.plate_no",
    )
    with pytest.raises(DeclarationError, match=r"reads silver\.anpr_passes, not among its sources"):
        load_catalog(standards)


def test_a_declared_source_the_sql_never_reads_is_refused(standards):
    edit(
        standards / "datasets" / "overload_alerts.yaml",
        "sources: [wim_weighings]",
        "sources: [wim_weighings, anpr_passes]",
    )
    with pytest.raises(DeclarationError, match=r"anpr_passes are declared but .* never reads them"):
        load_catalog(standards)


def test_one_param_name_has_one_value_across_datasets(standards):
    edit(
        standards / "datasets" / "enforcement_activity.yaml",
        "special_task_types: [OVERLOAD, ILLEGAL_OP, DANGEROUS]",
        "special_task_types: [OVERLOAD]",
    )
    with pytest.raises(DeclarationError, match="param 'special_task_types' differs from dataset"):
        load_catalog(standards)


def test_bind_inputs_replaces_only_silver_tables():
    sql = "SELECT * FROM silver.wim_weighings w JOIN ref.wim_sites s ON s.code = w.site_code"
    assert bind_inputs(sql, {"wim_weighings": "_in_wim"}) == (
        "SELECT * FROM _in_wim w JOIN ref.wim_sites s ON s.code = w.site_code"
    )


def test_a_dataset_declares_only_what_its_sql_uses():
    catalog = load_catalog(REPO_ROOT / "data_standards")
    sql = catalog.datasets["overload_alerts"].sql
    assert [f.name for f in used_functions(sql)] == [
        "is_road_train", "legal_limit_kg", "fine_yuan", "is_bai_dun_wang", "is_shuang_bai",
        "valid_on",
    ]  # fmt: skip
    assert used_ref_tables(sql) == ["wim_sites", "wim_accuracy_class"]
    statements = session_statements(catalog.root, sql)
    assert len(statements) == 6 + 3  # functions, the schema, two views


def test_literals_and_params():
    assert sql_literal("Pan'an \\ x") == "'Pan\\'an \\\\ x'"
    assert sql_literal([1, "a"]) == "array(1, 'a')"
    assert sql_literal(True) == "TRUE"
    assert param_statements({"n": 6, "m": {"320321": ["济宁", "枣庄"]}}) == [
        "DECLARE OR REPLACE VARIABLE n DEFAULT 6",
        "DECLARE OR REPLACE VARIABLE m DEFAULT map('320321', '济宁,枣庄')",
    ]


def test_shared_functions_agree_with_the_standards_reference(spark):
    """Every function on a grid of inputs, against checks.py (the standard's plain reference)."""
    for f in FUNCTIONS:
        spark.sql(f.statement())
    limits = spark.sql(
        "SELECT a, c, legal_limit_kg(a, c) AS v FROM VALUES (2), (3), (4), (5), (6), (7), (9) "
        "AS x(a) CROSS JOIN VALUES (true), (false) AS y(c)"
    ).collect()
    assert {(r.a, r.c): r.v for r in limits} == {
        (a, c): checks.gross_limit_kg(a, c) for a in (2, 3, 4, 5, 6, 7, 9) for c in (True, False)
    }
    # Every kilogram around the warning band and each tonne boundary, then a sweep to the cap.
    excesses = list(range(-2, 3_100)) + list(range(3_100, 62_000, 7)) + [59_999, 60_000, 120_000]
    fines = spark.sql(
        "SELECT e, fine_yuan(e) AS v FROM VALUES "
        + ", ".join(f"({e})" for e in excesses)
        + " AS t(e)"
    ).collect()
    assert {r.e: r.v for r in fines} == {e: checks.fine_yuan(e) for e in excesses}
    assert {r.e: r.v for r in fines if r.e in (1_001, 1_999, 2_000, 59_999, 60_000)} == {
        1_001: 500, 1_999: 500, 2_000: 1_000, 59_999: 29_500, 60_000: 30_000
    }  # fmt: skip
    records = [
        (t, p, r)
        for t in ("Q11", "Q21", "B11", "G11", "H11", "H17", "K33", None)
        for p in ("苏C12345", "鲁Q8888挂", "-", None)
        for r in ("苏C1234挂", "苏C12345", "-", "", None)
    ]
    trains = spark.createDataFrame(records, "t string, p string, r string")
    trains = trains.selectExpr("t", "p", "r", "is_road_train(t, p, r) AS v").collect()
    assert len(trains) == len(records)
    assert all(row.v is checks.is_road_train(row.t, row.p, row.r) for row in trains)
    pairs = [(99999, 49000), (100000, 49000), (98000, 49000), (97999, 49000), (36000, 18000)]
    flags = spark.sql(
        "SELECT g, l, is_shuang_bai(g, l) AS sb, is_bai_dun_wang(g) AS bdw FROM VALUES "
        + ", ".join(f"({g}, {lim})" for g, lim in pairs)
        + " AS t(g, l)"
    ).collect()
    assert {(r.g, r.l): (r.sb, r.bdw) for r in flags} == {
        (g, lim): (checks.is_shuang_bai(g, lim), checks.is_bai_dun_wang(g)) for g, lim in pairs
    }
    row = spark.sql(
        "SELECT is_xuzhou_plate('苏C12345') a, is_xuzhou_plate('苏A12345') b, "
        "plate_region('苏C12345') c, is_recognised_plate(' - ') d, is_recognised_plate(NULL) e, "
        "is_recognised_plate('鲁Q8888挂') f, is_out_of_province('340100') g, "
        "is_out_of_province('320300') h, safe_ratio(1, 3) i, safe_ratio(1, 0) j, "
        "valid_on(DATE'2026-11-29', NULL, DATE'2026-11-29') k, "
        "valid_on(DATE'2026-11-29', DATE'2026-11-30', NULL) l, "
        "is_road_train('Q11', NULL, NULL) m, is_road_train(NULL, NULL, NULL) n"
    ).first()
    assert tuple(row) == (
        True, False, "苏C", False, False, True, True, False, 0.3333, None, True, False, True, False,
    )  # fmt: skip


def test_ref_views_hold_every_code_table_entry(spark):
    root = REPO_ROOT / "data_standards"
    spark.sql("CREATE SCHEMA IF NOT EXISTS ref")
    for table in list_code_tables(root):
        spark.sql(session_statements(root, f"SELECT * FROM ref.{table}")[-1])
        codes = [e["code"] for e in load_code_table(root, table).codes]
        got = [r.code for r in spark.sql(f"SELECT code FROM ref.{table}").collect()]
        assert got == codes, table
    channel = spark.sql(
        "SELECT lon, ai_events, site_code, channels FROM ref.video_channels "
        "WHERE code = 'VC3203210003'"
    ).first()
    assert (channel.lon, channel.ai_events, channel.site_code, channel.channels) == (
        116.605, "", None, 6,
    )  # fmt: skip
    kinds = dict(spark.table("ref.list_type").dtypes)
    assert kinds["is_restrictive"] == "boolean"


def test_params_of_every_dataset_are_session_variables(spark):
    catalog = load_catalog(REPO_ROOT / "data_standards")
    for statement in param_statements(all_params(catalog.datasets.values())):
        spark.sql(statement)
    row = spark.sql(
        "SELECT min_anpr_passes, array_join(partner_cities, ',') AS n, "
        "array_contains(event_types, 'CROWD') e"
    ).first()
    assert tuple(row) == (6, "济宁,枣庄,宿州,宿迁", True)


def test_a_build_binds_its_inputs_without_leaving_views_and_keeps_braces(spark):
    """A publish builds many datasets in one long session (a backfill, the shared server): the
    inputs are bound to the query, not left behind as temporary views; and the SQL's own braces
    (a regex quantifier) are text, not argument references."""
    import dataclasses

    from enforcement_brain.gold.datasets import build

    catalog = load_catalog(REPO_ROOT / "data_standards")
    dataset = dataclasses.replace(
        catalog.datasets["ship_pollutant_reception"],
        sql="SELECT count(1) AS n, count_if(receipt_no rlike '^PR[0-9]{3}$') AS short_ids "
        "FROM silver.pollutant_receipts",
    )
    receipts = spark.createDataFrame([("PR001",), ("PR0002",)], "receipt_no string")
    before = {t.name for t in spark.catalog.listTables() if t.isTemporary}
    row = build(spark, catalog, dataset, {"pollutant_receipts": receipts}).first()
    assert (row["n"], row["short_ids"]) == (2, 1)
    assert {t.name for t in spark.catalog.listTables() if t.isTemporary} == before
