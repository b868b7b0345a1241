"""The test suite's own rules: tests live by speed (unit, integration, e2e), a unit test starts
no JVM, and no test imports another test file (shared helpers live in ``tests/*_support.py``)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
FOLDERS = ("unit", "integration", "e2e")
#: Fixtures that start Spark (or need a JVM) and so have no place in a unit test.
JVM_FIXTURES = {"spark", "ctx", "lakes"}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def test_every_test_file_sits_in_a_speed_folder():
    loose = sorted(p.name for p in TESTS.glob("test_*.py"))
    assert loose == []
    assert all(any((TESTS / f).glob("test_*.py")) for f in FOLDERS)


def imports_of_test_files(path: Path) -> list[str]:
    """Modules named ``test_*`` (or ``tests.``...) that a file imports."""
    found = []
    for node in ast.walk(_tree(path)):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found += [n for n in names if n.split(".")[-1].startswith("test_") or n.startswith("tests")]
    return found


def test_no_test_imports_another_test_file(tmp_path):
    offenders = {
        str(p.relative_to(TESTS)): imports_of_test_files(p)
        for p in TESTS.rglob("*.py")
        if imports_of_test_files(p)
    }
    assert offenders == {}
    planted = tmp_path / "test_planted.py"
    planted.write_text("from test_pipeline_wim import rows\n")
    assert imports_of_test_files(planted) == ["test_pipeline_wim"]


def test_unit_tests_start_no_jvm():
    """No unit test asks for a Spark fixture or imports pyspark."""
    offenders = []
    for path in sorted((TESTS / "unit").glob("test_*.py")):
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.FunctionDef):
                args = {a.arg for a in node.args.args}
                if args & JVM_FIXTURES:
                    offenders.append(f"{path.name}::{node.name}")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                names += [a.name for a in node.names]
                if any(n.split(".")[0] == "pyspark" for n in names):
                    offenders.append(f"{path.name}: imports pyspark")
    assert offenders == []
