"""Each rule kind is declared once, in ``standards/rule_kinds``, with its five facets: the SQL,
the words of the rendered standard, the GX expectation, the Delta constraint and the generator's
defect. The pipeline, the standards compiler and the generator look kinds up there; nothing
else switches on a kind's name, so a new kind is one class."""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from enforcement_brain.declarations import Rule, load_catalog
from enforcement_brain.errors import DeclarationError
from enforcement_brain.generate.generic import defect_slots
from enforcement_brain.settings import REPO_ROOT
from enforcement_brain.standards import constraints, gx_suites, render
from enforcement_brain.standards.rule_kinds import (
    REGISTRY,
    ColumnCheck,
    ColumnKind,
    Delta,
    Planting,
    RowKind,
    RuleKind,
    compile_checks,
    kind_of,
    rule_kind,
)

ROOT = REPO_ROOT / "data_standards"
RULES = "quality/rules.yaml"
PACKAGE = REPO_ROOT / "src" / "enforcement_brain"


def _standards(tmp_path: Path, *edits: tuple[str, str, str]) -> Path:
    """A copy of data_standards with each (file, old, new) replacement made once."""
    root = tmp_path / "data_standards"
    shutil.copytree(ROOT, root)
    for rel, old, new in edits:
        path = root / rel
        text = path.read_text(encoding="utf-8")
        assert old in text, (rel, old)
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    load_catalog.cache_clear()
    return root


def _implements(kind: RuleKind, method: str, base: type) -> bool:
    return getattr(type(kind), method) is not getattr(base, method)


def test_every_kind_has_all_five_facets():
    catalog = load_catalog(ROOT)
    assert {r.kind for r in catalog.rules.values()} <= set(REGISTRY)
    for name, kind in REGISTRY.items():
        assert kind.name == name
        shape = RowKind if kind.row else ColumnKind
        assert isinstance(kind, shape), name
        sql = "violation_sql" if kind.row else "valid_sql"
        assert _implements(kind, sql, shape), f"{name}: no SQL"
        words = kind.words or _implements(kind, "describe", RuleKind)
        assert words, f"{name}: no description"
        assert callable(kind.gx_expectation), f"{name}: no GX facet"  # None: the rule's own SQL
        assert isinstance(kind.delta, Delta), f"{name}: no Delta facet"
        if kind.defect is not None:
            planted = "plant" if kind.row else "broken_value"
            assert _implements(kind, planted, shape), f"{name}: a defect it cannot plant"


def test_every_declared_rule_compiles_describes_and_plants_through_its_kind():
    catalog = load_catalog(ROOT)
    ctx = SimpleNamespace(catalog=catalog)
    for source in catalog.sources.values():
        checks = compile_checks(catalog, source)
        slots = defect_slots(ctx, source)  # type: ignore[arg-type]
        for rule in catalog.rules_for(source):
            kind = kind_of(rule)
            mine = [c for c in checks if c.rule is rule]
            assert mine and all(c.sql for c in mine), (source.id, rule.id)
            assert all((c.column is None) == kind.row for c in mine), (source.id, rule.id)
            assert kind.describe(rule).endswith("."), rule.id
            labels = {s.kind for s in slots if s.rule is rule}
            assert labels <= {kind.defect, "bad_plate", "bad_time"}, (source.id, rule.id)


def test_an_unknown_kind_is_refused_with_the_rule_named(tmp_path):
    root = _standards(tmp_path, (RULES, "check: {kind: ship_id}", "check: {kind: ship_no}"))
    with pytest.raises(DeclarationError) as caught:
        load_catalog(root)
    message = str(caught.value)
    assert "rules.yaml: rule R_SHIP_ID_CHECK: unknown check kind 'ship_no'" in message
    assert f"the kinds are {', '.join(sorted(REGISTRY))}" in message
    with pytest.raises(DeclarationError, match="rule R_X: unknown check kind 'ship_no'"):
        kind_of(Rule("R_X", "x", "warn", "ship_no", {}))


def _kind_names_in(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and node.value in REGISTRY:
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [n for e in node.elts for n in _kind_names_in(e)]
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("frozenset", "set"):
        return [n for a in node.args for n in _kind_names_in(a)]
    return []


def _is_kind(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "kind") or (
        isinstance(node, ast.Name) and node.id == "kind"
    )


def _kind_switches(path: Path) -> Iterator[str]:
    """Comparisons of a ``kind`` with rule-kind names, and tables of two or more of them.

    A table counts when kind names are most of its keys: a few kinds are named after the element
    they check (``credit_code``), so a table keyed by element ids holds some kind names too.
    """
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(map(_is_kind, operands)) and any(_kind_names_in(o) for o in operands):
                yield f"{path.name}:{node.lineno}: compares a kind with a kind's name"
        elif isinstance(node, ast.Dict):
            keys = [k for k in node.keys if k is not None]
            named = [n for k in keys for n in _kind_names_in(k)]
            if len(named) > 1 and 2 * len(named) > len(keys):
                yield f"{path.name}:{node.lineno}: a table keyed by kind names"
        elif len(_kind_names_in(node)) > 1:
            yield f"{path.name}:{node.lineno}: a collection of kind names"


def test_no_module_switches_on_a_kind_name():
    own = PACKAGE / "standards" / "rule_kinds"
    found = [
        hit
        for path in sorted(PACKAGE.rglob("*.py"))
        if own not in path.parents
        for hit in _kind_switches(path)
    ]
    assert not found, found


def test_the_switch_finder_finds_a_planted_switch(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text(
        'def f(rule):\n    if rule.kind == "regex":\n        return 1\nROWS = ("expr", "in_area")\n'
    )
    assert len(list(_kind_switches(planted))) == 2


# -- a new kind is one class -----------------------------------------------------------------


class _UpperCase(ColumnKind):
    name = "upper_case_test"
    defect = "lower_case"

    def valid_sql(self, c: ColumnCheck) -> str:
        return f"{c.raw} = upper({c.raw})"

    def describe(self, rule: Rule) -> str:
        return "The delivered text is in upper case."

    def broken_value(self, at: Planting) -> str:
        return at.get_column().lower()


@pytest.fixture
def upper_case_kind() -> Iterator[RuleKind]:
    rule_kind(_UpperCase)
    try:
        yield REGISTRY[_UpperCase.name]
    finally:
        del REGISTRY[_UpperCase.name]
        load_catalog.cache_clear()


def test_a_new_kind_is_one_class(tmp_path, upper_case_kind):
    new_rule = (
        "rules:\n  - id: R_UPPER_TEST\n    title: upper case\n    severity: quarantine\n"
        "    element: checkpoint_code\n    check: {kind: upper_case_test}\n"
    )
    root = _standards(
        tmp_path,
        (RULES, "rules:\n", new_rule),
        ("sources/anpr_passes.yaml", "rules: [", "rules: [R_UPPER_TEST, "),
    )
    catalog = load_catalog(root)
    source = catalog.sources["anpr_passes"]
    rule = catalog.rules["R_UPPER_TEST"]
    assert kind_of(rule) is upper_case_kind

    [check] = [c for c in compile_checks(catalog, source) if c.rule is rule]
    raw = "nullif(trim(_raw.`checkpoint_code`), '')"
    valid = f"{raw} = upper({raw})"
    assert check.sql == f"coalesce(({raw} IS NOT NULL AND NOT coalesce({valid}, false)), true)"
    doc = render.render_quality_standard(catalog)
    assert "The delivered text is in upper case." in doc
    suite = gx_suites.suite_dict(catalog, source)
    [exp] = [e for e in suite["expectations"] if e["meta"].get("rule_id") == rule.id]
    assert exp["type"] == "unexpected_rows_expectation"
    assert "`checkpoint_code` = upper(`checkpoint_code`)" in exp["kwargs"]["unexpected_rows_query"]
    plan = constraints.plan_constraints(catalog, source)
    assert "dqs_r_upper_test__checkpoint_code" in {c.name for c in plan.constraints}
    slots = defect_slots(SimpleNamespace(catalog=catalog), source)  # type: ignore[arg-type]
    assert [(s.kind, s.column.name) for s in slots if s.rule is rule] == [
        ("lower_case", "checkpoint_code")
    ]


def _expr_rules() -> list[Rule]:
    return [r for r in load_catalog(ROOT).rules.values() if r.kind == "expr"]


def test_every_expr_rule_says_what_a_missing_operand_does():
    """The rendered words about missing operands come from the rule: the operands it declares in
    ``fails_when_missing`` fail the check, a missing other operand leaves the row unjudged
    (test_rules_sql runs each rule's SQL on such rows)."""
    rules = {r.id: r for r in _expr_rules()}
    words = {i: kind_of(r).describe(r) for i, r in rules.items()}
    assert words["R_TRANSFER_CASE_CLOSED"].endswith(
        "On a row with `transfer_direction` `OUT`, a missing `case_no`, `decision_no`, "
        "`closure_time` or `local_time` fails the check; a row where `transfer_direction` is "
        "missing is not judged."
    )
    for i in ("R_NET_WEIGHT_CONSISTENT", "R_EXCESS_CONSISTENT", "R_VALIDITY_PERIOD"):
        assert words[i].endswith("A row where an operand is missing is not judged."), i
    for i, rule in rules.items():
        failing = kind_of(rule).fails_when_missing(rule)
        assert set(failing) <= set(rule.requires), i
        assert ("fails the check" in words[i]) == bool(failing), i


def test_an_expr_rule_cannot_fail_a_missing_element_it_does_not_read(tmp_path):
    root = _standards(
        tmp_path,
        (RULES, "fails_when_missing: [case_no,", "fails_when_missing: [plate_no, case_no,"),
    )
    with pytest.raises(
        DeclarationError, match=r"R_TRANSFER_CASE_CLOSED.*'plate_no'.*not in its sql"
    ):
        load_catalog(root)
