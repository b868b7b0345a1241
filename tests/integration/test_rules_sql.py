"""The rules' Spark SQL agrees with the plain-Python checks (and so with python-stdnum) on many
random valid and corrupted values: the pipeline, GX and Delta all evaluate this SQL."""

from __future__ import annotations

import random

from enforcement_brain.generate.fleet import make_credit_code, make_id_number
from enforcement_brain.standards import checks
from enforcement_brain.standards.rule_kinds.sql import (
    credit_code_valid_sql,
    id_number_valid_sql,
    ship_id_valid_sql,
    station_limit_explained_sql,
)


def _corrupt(rng: random.Random, value: str, alphabet: str) -> str:
    pos = rng.randrange(len(value))
    return value[:pos] + rng.choice(alphabet) + value[pos + 1 :]


def _agree(spark, values: list[str], sql_of, python_check) -> None:
    df = spark.createDataFrame([(v,) for v in values], "v string")
    got = {
        r["v"]: r["ok"]
        for r in df.selectExpr("v", f"coalesce({sql_of('v')}, false) AS ok").collect()
    }
    wrong = [v for v in values if got[v] != python_check(v)]
    assert not wrong, wrong[:10]


def test_credit_code_sql_agrees(spark) -> None:
    import numpy as np

    nrng, rng = np.random.default_rng(1), random.Random(1)
    valid = [make_credit_code(nrng, "320300") for _ in range(400)]
    bad = [_corrupt(rng, v, checks.CREDIT_CODE_ALPHABET + "IOSVZ") for v in valid]
    _agree(
        spark, valid + bad + ["", "91320300"], credit_code_valid_sql, checks.is_valid_credit_code
    )


def test_id_number_sql_agrees(spark) -> None:
    import numpy as np

    nrng, rng = np.random.default_rng(2), random.Random(2)
    valid = [
        make_id_number(
            nrng,
            "320303",
            f"{rng.randint(1930, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}",
        )
        for _ in range(400)
    ]
    bad = [_corrupt(rng, v, "0123456789X") for v in valid]
    feb30 = [v[:10] + "0230" + v[14:] for v in valid[:20]]
    values = (
        valid + bad + feb30 + ["", "32030319900101123", "32030X199001011234", "ABCDEFGHIJKLMNOPQR"]
    )
    _agree(spark, values, id_number_valid_sql, checks.is_valid_id_number)


def test_ship_id_sql_agrees(spark) -> None:
    import datetime as dt

    rng = random.Random(3)
    year = dt.date.today().year
    values = [f"CN{rng.randint(1880, year + 5)}{rng.randrange(10**7):07d}" for _ in range(300)]
    values += ["CN2012123456", "CN201212345678", "cn20121234567", ""]
    _agree(spark, values, ship_id_valid_sql, checks.is_valid_ship_id)


def test_plate_forms_rlike_agrees(spark) -> None:
    """Each declared plate form, and their union, match the same strings in Spark as in Python."""
    import re

    values = sorted({v for f in checks.PLATE_FORMS for v in (*f.valid, *f.invalid)})
    values += ["苏C12345\n", "", "使A12345", "WJ苏12345 "]
    df = spark.createDataFrame([(v,) for v in values], "v string")
    exprs = [f"v rlike '{f.pattern}' AS {f.name}" for f in checks.PLATE_FORMS]
    rows = df.selectExpr("v", f"v rlike '{checks.PLATE_ANY_RE}' AS any_form", *exprs).collect()
    for r in rows:
        for f in checks.PLATE_FORMS:
            expected = re.search(f.pattern, r["v"]) is not None
            assert r[f.name] == expected, (f.name, r["v"])
        assert r["any_form"] == (re.search(checks.PLATE_ANY_RE, r["v"]) is not None), r["v"]
        # Java's $ also matches before a final newline; only that differs from is_valid_plate.
        if not r["v"].endswith("\n"):
            assert r["any_form"] == checks.is_valid_plate(r["v"]), r["v"]


def test_station_limit_sql_agrees(spark) -> None:
    """Every limit a station may state (Order 2016-62 Art. 3 and its notes), and its near misses."""
    limits = sorted(set(range(10_000, 52_001, 500)) | {43_997, 46_001, 48_999})
    registered = [None, 12_000, 40_000, 46_000, 47_500]
    rows = [(a, lim, r) for a in range(2, 10) for lim in limits for r in registered]
    df = spark.createDataFrame(rows, "a int, l int, r int")
    sql = station_limit_explained_sql("a", "l", "r")
    got = {(x.a, x.l, x.r): x.ok for x in df.selectExpr("a", "l", "r", f"{sql} AS ok").collect()}
    want = {(a, lim, r): checks.is_station_limit_explained(a, lim, r) for a, lim, r in rows}
    assert got == want
    assert sum(want.values()) > 100  # the grid holds many explained limits, not only misses


def test_static_reweighs_quarantine_only_unexplained_limits(spark) -> None:
    from enforcement_brain.declarations import load_catalog
    from enforcement_brain.settings import REPO_ROOT
    from enforcement_brain.standards.rule_kinds import kind_of

    catalog = load_catalog(REPO_ROOT / "data_standards")
    source = catalog.sources["static_reweighs"]
    rule = catalog.rules["R_LIMIT_MATCHES_AXLES"]
    violation = kind_of(rule).violation_sql(catalog, source, rule)
    rows = [
        ("A", 6, 46_000, None),  # six axles, tractor with a single drive axle
        ("B", 3, 22_000, None),  # single tyres: 25 t − 3 t
        ("C", 2, 12_000, 12_000),  # the 行驶证's maximum, lower than 18 t
        ("D", 6, 49_000, None),
        ("E", 6, 47_000, None),  # no rule gives 47 t
        ("F", 2, 12_000, None),  # 12 t with no 行驶证 value to explain it
        ("G", 2, 20_000, 20_000),  # a 行驶证 maximum above the table does not raise the limit
        ("H", 3, None, None),  # a missing limit is R_REQUIRED_PRESENT's, not judged here
    ]
    df = spark.createDataFrame(
        rows, "reweigh_id string, axle_count int, limit_kg int, registered_max_kg int"
    )
    flagged = {r.reweigh_id for r in df.where(violation).collect()}
    assert flagged == {"E", "F", "G"}


#: A row on which each expr rule's condition holds, by element: one missing operand at a time
#: must then do what the rendered standard says (test_rule_kinds checks the words).
EXPR_ROWS = {
    "R_NET_WEIGHT_CONSISTENT": {
        "net_weight_kg": "20000", "gross_weight_kg": "30000", "tare_weight_kg": "10000",
    },
    "R_EXCESS_CONSISTENT": {"excess_kg": "1000", "gross_weight_kg": "50000", "limit_kg": "49000"},
    "R_VALIDITY_PERIOD": {"valid_from": "2026-01-01", "valid_until": "2026-12-31"},
    "R_TRANSFER_CASE_CLOSED": {
        "transfer_direction": "OUT", "case_no": "c", "decision_no": "d",
        "closure_time": "2026-11-01 08:00:00", "local_time": "2026-11-02 08:00:00",
    },
}  # fmt: skip


def _flagged(spark, source, violation: str, values: dict[str, str], missing: str | None) -> bool:
    """Whether ``violation`` flags the one row of ``values`` (by element, typed as the source's
    columns), with the element ``missing`` NULL."""
    column = {c.element: c for c in source.columns}
    cells = [
        f"CAST({'NULL' if e == missing else repr(v)} AS {column[e].type}) AS `{column[e].name}`"
        for e, v in values.items()
    ]
    return spark.sql("SELECT " + ", ".join(cells)).where(violation).count() == 1


def test_expr_rules_judge_a_missing_operand_as_their_words_say(spark) -> None:
    from enforcement_brain.declarations import load_catalog
    from enforcement_brain.settings import REPO_ROOT
    from enforcement_brain.standards.rule_kinds import kind_of

    catalog = load_catalog(REPO_ROOT / "data_standards")
    rules = [r for r in catalog.rules.values() if r.kind == "expr"]
    assert {r.id for r in rules} == set(EXPR_ROWS)
    for rule in rules:
        kind, values = kind_of(rule), EXPR_ROWS[rule.id]
        failing = set(kind.fails_when_missing(rule))
        for source in (s for s in catalog.sources.values() if rule in catalog.rules_for(s)):
            violation = kind.violation_sql(catalog, source, rule)
            assert not _flagged(spark, source, violation, values, None), (rule.id, source.id)
            got = {e for e in rule.requires if _flagged(spark, source, violation, values, e)}
            assert got == failing, (rule.id, source.id, got)
