"""The standards compiled into documents, GX suites and Delta constraints (``make standards``).

- the committed ``docs/standards/`` and ``expectations/`` are exactly a fresh build (drift test);
- the rendered Standard 2 lists, per source, exactly the checks ``compile_checks`` applies;
- GX accepts every committed suite as written, and a suite run on a hand-made silver DataFrame
  passes clean rows and counts exactly the planted bad ones;
- the Delta constraints accept a clean row and refuse a bad one, and applying them twice
  changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys

import pytest

from enforcement_brain.declarations import Catalog, Source, load_catalog
from enforcement_brain.settings import REPO_ROOT
from enforcement_brain.standards import build, checks, constraints, gx_suites, render
from enforcement_brain.standards.code_tables import list_code_tables, load_code_table
from enforcement_brain.standards.rule_kinds import compile_checks, kind_of
from enforcement_brain.standards.rule_kinds.sql import credit_code_valid_sql, id_number_valid_sql

ROOT = REPO_ROOT / "data_standards"
SQL_TYPES = {
    "string": "string",
    "int": "int",
    "bigint": "bigint",
    "double": "double",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(ROOT)


# -- the committed artefacts -----------------------------------------------------------------------


def test_committed_artefacts_equal_a_fresh_build():
    problems = build.check(ROOT, REPO_ROOT)
    assert problems == [], "\n".join([*problems, "run `make standards` and commit the result"])


def test_build_is_byte_identical_and_has_no_absolute_paths(tmp_path):
    first = build.build(ROOT, tmp_path / "a")
    second = build.build(ROOT, tmp_path / "b")
    rel = [p.relative_to(tmp_path / "a") for p in first]
    assert rel == [p.relative_to(tmp_path / "b") for p in second]
    assert len(rel) == 2 + len(load_catalog(ROOT).sources)
    for a, b in zip(first, second, strict=True):
        data = a.read_bytes()
        assert data == b.read_bytes(), a
        assert data.endswith(b"\n") and not data.endswith(b"\n\n"), a
        text = data.decode("utf-8")
        assert str(REPO_ROOT) not in text and str(tmp_path) not in text, a


def test_check_names_every_differing_missing_and_extra_file(tmp_path):
    build.build(ROOT, tmp_path)
    (tmp_path / "expectations" / "wim_weighings.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / render.ELEMENT_DOC).unlink()
    (tmp_path / "expectations" / "retired_source.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "expectations" / "README.md").write_text("not generated\n", encoding="utf-8")
    assert build.check(ROOT, tmp_path) == [
        "missing: docs/standards/data-element-standard.md",
        "extra: expectations/retired_source.json (no declaration produces it)",
        "differs: expectations/wim_weighings.json",
    ]
    build.build(ROOT, tmp_path)  # build repairs all three and keeps the README
    assert build.check(ROOT, tmp_path) == []
    assert (tmp_path / "expectations" / "README.md").read_text() == "not generated\n"


def test_cli_reports_a_bad_declaration_in_one_line(tmp_path):
    root = tmp_path / "data_standards"
    shutil.copytree(ROOT, root)
    path = root / "sources" / "wim_weighings.yaml"
    text = path.read_text(encoding="utf-8")
    assert "element: plate_no," in text
    path.write_text(text.replace("element: plate_no,", "element: plate_number,", 1), "utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "enforcement_brain.standards", "check", "--root", str(root)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "wim_weighings.yaml" in lines[0] and "plate_number" in lines[0]
    assert "Traceback" not in proc.stderr


# -- the rendered documents ------------------------------------------------------------------------


def _sections(doc: str, kind: str) -> dict[str, str]:
    """``{id: text}`` of the sections that start with ``<a id="<kind>-<id>">``."""
    parts = re.split(rf'<a id="{kind}-([^"]+)"></a>', doc)
    out = {}
    for ident, body in zip(parts[1::2], parts[2::2], strict=True):
        out[ident] = re.split(r'\n<a id="|\n## ', body)[0]
    return out


def test_quality_standard_lists_exactly_the_compiled_checks_per_source(catalog):
    doc = render.render_quality_standard(catalog)
    sections = _sections(doc, "src")
    assert sorted(sections) == sorted(catalog.sources)
    row = re.compile(r"^\| (\d+) \| `([^`]+)` \| (\w+) \| (?:`([^`]+)`|— \(row\)) \|", re.M)
    for sid, source in catalog.sources.items():
        documented = [
            (rule, column or None, severity)
            for _, rule, severity, column in row.findall(sections[sid])
        ]
        compiled = [(c.rule.id, c.column, c.rule.severity) for c in compile_checks(catalog, source)]
        assert documented == compiled, sid
    # every rule has its section, and nothing else is presented as a rule
    assert sorted(_sections(doc, "rule")) == sorted(catalog.rules)
    for ident, severity in re.findall(r"^\| \[`([^`]+)`\]\(#rule-[^)]+\) \| (\w+) \|", doc, re.M):
        assert catalog.rules[ident].severity == severity
    applied = {c.rule.id for s in catalog.sources.values() for c in compile_checks(catalog, s)}
    mentioned = {r for s in sections.values() for _, r, _, _ in row.findall(s)}
    assert mentioned == applied


def test_element_standard_has_every_element_and_every_code(catalog):
    doc = render.render_element_standard(catalog)
    elements = _sections(doc, "el")
    assert list(elements) == list(catalog.elements)  # declared order
    for eid, text in elements.items():
        assert f"| Chinese name | {catalog.elements[eid].name_zh} |" in text
        assert f"| Data type | {catalog.elements[eid].type} |" in text
    tables = _sections(doc, "ct")
    assert list(tables) == list_code_tables(ROOT)
    for tid, text in tables.items():
        codes = re.findall(r"^\| `([^`]+)` \|", text, re.M)
        assert codes == [c["code"] for c in load_code_table(ROOT, tid).codes], tid
    assert f"| Version | {catalog.element_version} |" in doc


# -- GX --------------------------------------------------------------------------------------------


def test_committed_suites_are_exactly_what_gx_writes(catalog):
    """GX loads every suite without dropping an expectation and serialises it back unchanged:
    the plain-dict compiler writes GX's own format."""
    import great_expectations as gx

    for source in catalog.sources.values():
        path = gx_suites.suite_path(REPO_ROOT, source.id)
        data = json.loads(path.read_text(encoding="utf-8"))
        suite = gx.ExpectationSuite(**json.loads(json.dumps(data)))
        assert len(suite.expectations) == len(data["expectations"]), source.id
        written = suite.to_json_dict()
        assert written.pop("id") is None and written.pop("notes") is None
        assert gx_suites.dumps(written) == path.read_text(encoding="utf-8"), source.id
        # every check the pipeline applies on silver is in the suite, the others in its meta
        in_suite = {
            (e["meta"].get("rule_id"), e["meta"].get("column")) for e in data["expectations"]
        }
        before = {(b["rule_id"], b["column"]) for b in data["meta"]["checked_before_silver"]}
        for check in compile_checks(catalog, source):
            assert (check.rule.id, check.column) in in_suite | before, (source.id, check.rule.id)


def _credit_code(serial: str) -> str:
    first17 = "91320300" + serial
    return first17 + checks.credit_code_check_char(first17)


def _id_number(birth: str, seq: str = "123") -> str:
    first17 = "320311" + birth + seq
    return first17 + checks.id_check_char(first17)


def _frame(spark, source: Source, rows: list[dict]):
    schema = ", ".join(f"`{c.name}` {SQL_TYPES[c.type]}" for c in source.columns)
    return spark.createDataFrame(
        [tuple(r.get(c.name) for c in source.columns) for r in rows], schema
    )


def _vehicle(catalog: Catalog, n: int, **change) -> dict:
    def first_code(element: str) -> str:
        return load_code_table(ROOT, catalog.elements[element].code_table).codes[0]["code"]

    row = {
        "certificate_no": f"3203000000{n:02d}",
        "plate_no": f"苏C1234{n % 10}",
        "plate_color_code": first_code("plate_color_transport"),
        "vehicle_type_code": first_code("vehicle_type"),
        "use_nature": first_code("use_nature"),
        "owner_credit_code": _credit_code(f"MA1234{n:03d}"),
        "axle_count": 5,
        "approved_gross_kg": 43000,
        "valid_from": dt.date(2026, 1, 1),
        "valid_until": dt.date(2030, 12, 31),
        "updated_at": dt.datetime(2026, 11, 29, 8, 0, n),
    }
    return {**row, **change}


def test_gx_suite_passes_clean_rows_and_counts_planted_ones(spark, catalog):
    source = catalog.sources["operating_vehicles"]
    clean = [_vehicle(catalog, n) for n in range(1, 4)]
    wrong_check = _credit_code("MA1234020")[:-1]
    wrong_check += "0" if _credit_code("MA1234020")[-1] != "0" else "1"
    planted = {
        # (expectation type, column, rule id): the rows planted to break it
        ("expect_column_values_to_match_regex", "certificate_no", "R_IDENTIFIER_FORMAT"): [
            _vehicle(catalog, 11, certificate_no="32030000001X")
        ],
        ("expect_column_values_to_match_regex", "plate_no", "R_PLATE_FORMAT"): [
            _vehicle(catalog, 12, plate_no="苏CO1234"),
            _vehicle(catalog, 13, plate_no="ABC"),
        ],
        ("expect_column_values_to_be_in_set", "plate_color_code", "R_PLATE_COLOR_CODE"): [
            _vehicle(catalog, 14, plate_color_code="77")
        ],
        ("expect_column_values_to_be_in_set", "vehicle_type_code", "R_CODE_IN_TABLE"): [
            _vehicle(catalog, 15, vehicle_type_code="ZZZ")
        ],
        ("expect_column_values_to_not_be_null", "use_nature", "R_REQUIRED_PRESENT"): [
            _vehicle(catalog, 16, use_nature=None)
        ],
        ("unexpected_rows_expectation", "owner_credit_code", "R_CREDIT_CODE_CHECK"): [
            _vehicle(catalog, 17, owner_credit_code=wrong_check)
        ],
        ("expect_column_values_to_be_between", "axle_count", "R_AXLE_RANGE"): [
            _vehicle(catalog, 18, axle_count=9)
        ],
        ("unexpected_rows_expectation", None, "R_VALIDITY_PERIOD"): [
            _vehicle(catalog, 19, valid_until=dt.date(2025, 12, 31))
        ],
        # a second row with the first clean row's key: both rows are unexpected
        ("expect_column_values_to_be_unique", "certificate_no", None): [
            _vehicle(catalog, 20, certificate_no=clean[0]["certificate_no"])
        ],
    }
    expected = {key: len(rows) for key, rows in planted.items()}
    expected[("expect_column_values_to_be_unique", "certificate_no", None)] = 2
    bad = [row for rows in planted.values() for row in rows]

    passed = gx_suites.validate(_frame(spark, source, clean), "operating_vehicles")
    assert passed.success, passed.failed()
    assert [o.unexpected_count for o in passed.outcomes] == [0] * len(passed.outcomes)
    assert all(o.error is None for o in passed.outcomes)

    result = gx_suites.validate(_frame(spark, source, clean + bad), "operating_vehicles")
    assert not result.success
    counts = {(o.type, o.column, o.rule_id): o.unexpected_count for o in result.outcomes}
    assert set(expected) <= set(counts)
    assert {k: v for k, v in counts.items() if v} == expected
    for outcome in result.outcomes:
        assert outcome.error is None, outcome
        assert outcome.success == (outcome.unexpected_count == 0), outcome
        severity = catalog.rules[outcome.rule_id].severity if outcome.rule_id else "fail"
        assert outcome.severity == ("warning" if severity == "warn" else "critical"), outcome


# -- Delta constraints -----------------------------------------------------------------------------


def test_constraints_follow_the_severities(catalog):
    for source in catalog.sources.values():
        plan = constraints.plan_constraints(catalog, source)
        names = [c.name for c in plan.constraints]
        assert len(names) == len(set(names)), source.id
        for c in plan.constraints:
            assert catalog.rules[c.rule_id].severity != "warn", c
            assert c.name.startswith(constraints.PREFIX)
            assert "->" not in c.expr, c  # Delta cannot store a lambda
        statements = constraints.constraint_statements(catalog, source, "silver.x")
        assert statements == [
            f"ALTER TABLE silver.x ADD CONSTRAINT {c.name} CHECK ({c.expr})"
            for c in plan.constraints
        ]
        blocking = {
            (c.rule.id, c.column)
            for c in constraints.silver_checks(catalog, source)
            if c.rule.severity != "warn" and not kind_of(c.rule).delta.not_null
        }
        accounted = {(c.rule_id, c.column) for c in plan.constraints} | {
            (s.rule_id, s.column) for s in plan.skipped
        }
        assert blocking <= accounted, source.id


def test_unrolled_checksums_agree_with_the_pipeline_sql(spark):
    """Delta cannot hold the lambda in the checksum SQL; the unrolled sum must decide the same."""
    from pyspark.sql import functions as F

    credit = [_credit_code(f"MA{n:07d}") for n in range(40)]
    credit += [c[:-1] + ("0" if c[-1] != "0" else "1") for c in credit[:20]]
    credit += ["91320300MA1234567", "913203O0MA12345678", None]
    ids = [_id_number(f"19{70 + n % 30:02d}0{1 + n % 9}1{n % 9}", f"{n:03d}") for n in range(40)]
    ids += [i[:-1] + ("0" if i[-1] != "0" else "1") for i in ids[:20]]
    ids += [_id_number("20991231"), _id_number("19000101"), "32031119990231123X", None]
    df = spark.createDataFrame(
        [(c, None) for c in credit] + [(None, i) for i in ids], "c string, idn string"
    )
    cols = []
    for name, sql in (("c", credit_code_valid_sql("c")), ("i", id_number_valid_sql("idn"))):
        unrolled = constraints.unroll_aggregates(sql)
        assert unrolled is not None and "->" not in unrolled and "->" in sql
        # as the rules use them: a check that cannot be evaluated (NULL) counts as failed
        cols += [
            F.expr(f"coalesce({sql}, false)").alias(f"{name}_lambda"),
            F.expr(f"coalesce({unrolled}, false)").alias(f"{name}_unrolled"),
        ]
    rows = df.select("c", "idn", *cols).collect()
    for r in rows:
        if r["c"] is not None:
            assert r["c_lambda"] == r["c_unrolled"] == checks.is_valid_credit_code(r["c"]), r
        if r["idn"] is not None:
            # the SQL also refuses a birth date after today (the Python check reads no clock)
            today = dt.date.today().strftime("%Y%m%d")
            expected = checks.is_valid_id_number(r["idn"]) and r["idn"][6:14] <= today
            assert r["i_lambda"] == r["i_unrolled"] == expected, r


def test_every_constraint_survives_deltas_parser_and_resolves(spark, catalog):
    """All sources, without a commit per constraint (~1 s each): Delta stores the text its own
    parser keeps of ``ADD CONSTRAINT ... CHECK (...)`` (tokens joined by spaces; that is how a
    lambda's ``->`` broke). Each stored text must parse back, resolve on the silver schema as a
    boolean, and compare equal to ours the way ``apply_constraints`` compares them."""
    from pyspark.sql.types import BooleanType

    parser = spark._jsparkSession.sessionState().sqlParser()
    for source in catalog.sources.values():
        row = ", ".join(f"CAST(NULL AS {SQL_TYPES[c.type]}) AS `{c.name}`" for c in source.columns)
        plan = constraints.plan_constraints(catalog, source)
        statements = constraints.constraint_statements(catalog, source, "silver.t")
        stored = [parser.parsePlan(statement).expr() for statement in statements]
        for c, text in zip(plan.constraints, stored, strict=True):
            assert constraints._normalise(text) == constraints._normalise(c.expr), c.name
        pairs = zip(plan.constraints, stored, strict=True)
        selected = ", ".join(f"({text}) AS `{c.name}`" for c, text in pairs)
        fields = spark.sql(f"SELECT {selected} FROM (SELECT {row}) AS silver").schema.fields
        assert [f.name for f in fields] == [c.name for c in plan.constraints]
        assert all(isinstance(f.dataType, BooleanType) for f in fields), source.id


def _history(spark, ref: str) -> int:
    return spark.sql(f"DESCRIBE HISTORY {ref}").count()


def test_constraints_accept_clean_rows_refuse_bad_ones_and_apply_once(spark, catalog, tmp_path):
    source = catalog.sources["taxi_vehicles_drivers"]
    path = tmp_path / "silver" / source.id
    columns = ", ".join(f"`{c.name}` {SQL_TYPES[c.type]}" for c in source.columns)
    ref = f"delta.`{path}`"
    # with a constraint of ours the standards no longer declare, and one that is not ours
    # (set at creation: each ALTER ... ADD CONSTRAINT is a Delta commit of a second or more)
    spark.sql(
        f"CREATE TABLE {ref} ({columns}) USING delta TBLPROPERTIES ("
        "'delta.constraints.dqs_r_retired' = 'true', "
        "'delta.constraints.team_rule' = \"coalesce(record_id, '') <> 'x'\")"
    )

    plan = constraints.plan_constraints(catalog, source)
    report = constraints.apply_constraints(spark, ref, catalog, source)
    assert report.added == [c.name for c in plan.constraints]
    assert report.dropped == ["dqs_r_retired"] and report.replaced == [] == report.unchanged
    stored = constraints.existing_constraints(spark, ref)
    assert set(stored) == {*report.added, "team_rule"}
    assert {
        "dqs_r_credit_code_check__company_credit_code",
        "dqs_r_id_number_check__driver_id_no",
    } <= set(stored)

    def row(n: int, **change) -> dict:
        return {
            "record_id": f"T{n}",
            "plate_no": f"苏C{n:05d}",
            "company_credit_code": _credit_code(f"MA{n:07d}"),
            "company_name": "徐州出租汽车公司",
            "driver_name": "张三",
            "driver_id_no": _id_number("19800101", f"{n:03d}"),
            "driver_phone": "not a phone",  # R_PHONE_FORMAT is warn-level: the row loads
            "active": True,
            "updated_at": dt.datetime(2026, 11, 29, 8, 0),
            **change,
        }

    def append(rows: list[dict]) -> None:
        _frame(spark, source, rows).write.format("delta").mode("append").save(str(path))

    append([row(1), row(2)])
    assert spark.read.format("delta").load(str(path)).count() == 2
    bad_id = _id_number("19800101", "003")
    bad_id = bad_id[:-1] + ("0" if bad_id[-1] != "0" else "1")
    refused = {
        "dqs_r_credit_code_check__company_credit_code": row(
            3, company_credit_code="91320300MA0000000X"
        ),
        "dqs_r_id_number_check__driver_id_no": row(4, driver_id_no=bad_id),
        "dqs_r_plate_format__plate_no": row(5, plate_no="苏CO1234"),
        "dqs_r_required_present": row(6, driver_name=None),
        "dqs_r_key_present": row(7, record_id=None),
    }
    for name, bad in refused.items():
        assert name in stored
        with pytest.raises(Exception, match=f"CHECK constraint {name} "):
            append([bad])
    assert spark.read.format("delta").load(str(path)).count() == 2

    versions = _history(spark, ref)
    again = constraints.apply_constraints(spark, ref, catalog, source)
    assert not again.changed and again.unchanged == report.added
    assert _history(spark, ref) == versions
    assert constraints.existing_constraints(spark, ref) == stored


def test_tables_created_with_the_constraints_need_no_alter(spark, catalog, tmp_path):
    """Every source's silver table created in one commit carries exactly the planned
    constraints (quotes and backslashes of regexes survive the SQL literal): applying the
    standards afterwards changes nothing, and the table refuses a row the standards refuse."""
    for source in catalog.sources.values():
        ref = f"delta.`{tmp_path / source.id}`"
        columns = ", ".join(f"`{c.name}` {SQL_TYPES[c.type]}" for c in source.columns)
        partition = source.columns[0].name
        spark.sql(constraints.create_table_statement(catalog, source, ref, columns, partition))
        assert _history(spark, ref) == 1
        report = constraints.apply_constraints(spark, ref, catalog, source)
        planned = [c.name for c in constraints.plan_constraints(catalog, source).constraints]
        assert not report.changed, (source.id, report)
        assert sorted(report.unchanged) == sorted(planned), source.id

    source = catalog.sources["taxi_vehicles_drivers"]
    row = {c.name: None for c in source.columns}
    with pytest.raises(Exception, match="CHECK constraint dqs_r_key_present"):
        _frame(spark, source, [row]).write.format("delta").mode("append").save(
            str(tmp_path / source.id)
        )
