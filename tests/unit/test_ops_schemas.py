"""The ``ops`` tables' columns live in one module, ``ops/schemas.py``: every append to an ops
table passes a schema from there, so a reader of ``ops.*`` finds every table in one place."""

from __future__ import annotations

import ast

from enforcement_brain.ops import schemas
from enforcement_brain.settings import REPO_ROOT

PACKAGE = REPO_ROOT / "src" / "enforcement_brain"


def _ops_appends() -> list[tuple[str, str, ast.expr]]:
    """(file:line, table, schema argument) of every ``append_rows(spark, settings, "ops", ...)``."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "append_rows"):
                continue
            layer, table, *_ = [*node.args[2:], None, None]
            if isinstance(layer, ast.Constant) and layer.value == "ops":
                assert isinstance(table, ast.Constant), f"{path.name}:{node.lineno}"
                found.append((f"{path.name}:{node.lineno}", table.value, node.args[5]))
    return found


def test_every_ops_table_is_written_with_a_schema_from_ops_schemas():
    appends = _ops_appends()
    tables = {table for _, table, _ in appends}
    assert {"dq_ledger", "batch_log", "run_log", "landing_log", "db_pulls"} <= tables
    assert {"gx_results", "maintenance_log", "publish_log"} <= tables
    for where, table, schema in appends:
        assert isinstance(schema, ast.Name), where
        assert hasattr(schemas, schema.id), (where, table)


def test_no_other_module_declares_an_ops_schema():
    own = PACKAGE / "ops" / "schemas.py"
    stray = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == own:
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)):
                continue
            name = node.targets[0].id
            ddl = isinstance(node.value, ast.Constant) and " string" in str(node.value.value)
            if ddl and name.endswith("_SCHEMA"):
                stray.append(f"{path.name}: {name}")
    assert not stray, stray


def test_column_names_follow_the_schema_order():
    assert schemas.column_names("a string, b_c bigint, d date") == ["a", "b_c", "d"]
    assert schemas.column_names(schemas.RUN_LOG_SCHEMA)[:2] == ["run_id", "dag_id"]
