"""The package's layers import one way: down.

The layers are written down once, in docs/design.md ("One-way layers"), as a text block read
here: one line per layer, the highest first; on a line, ``|`` separates independent units and
``+`` joins the modules of one unit. A module of ``enforcement_brain`` may import its own unit
and the units of lower lines, nothing else. Every ``import`` counts, wherever it is: at the top,
inside a function (a lazy import is still a dependency), under ``if TYPE_CHECKING:`` (a type
from a higher layer ties the lower one to it all the same). A module in no layer fails too, so
a new package has to be placed before it can be imported.

Pure Python: an AST walk over the source files, nothing imported.
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

#: The repository root (wherever under ``tests/`` this file lives).
ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
PKG = ROOT / "src" / "enforcement_brain"
DESIGN = ROOT / "docs" / "design.md"
HEADING = "## One-way layers"

#: A unit: the dotted names (relative to the package) of the modules and packages it holds.
Unit = tuple[str, ...]


def parse_layers(block: str) -> list[list[Unit]]:
    """The layers of a text block, lowest first: ``a + b | c`` is two units, {a, b} and {c}."""
    lines = [line.strip() for line in block.splitlines() if line.strip()]
    return [
        [tuple(name.strip() for name in unit.split("+")) for unit in line.split("|")]
        for line in reversed(lines)
    ]


def documented_layers(design: Path = DESIGN) -> list[list[Unit]]:
    """The layers as docs/design.md draws them: the first text block under the heading."""
    text = design.read_text(encoding="utf-8")
    section = text.partition(f"\n{HEADING}\n")[2]
    found = re.search(r"^```text\n(.*?)^```", section, flags=re.M | re.S)
    assert section and found, f"{design.name}: no text block under '{HEADING}'"
    return parse_layers(found.group(1))


def _locator(package: str, layers: list[list[Unit]]) -> dict[tuple[str, ...], tuple[int, Unit]]:
    return {
        (package, *name.split(".")): (level, unit)
        for level, units in enumerate(layers)
        for unit in units
        for name in unit
    }


def _locate(
    module: str, places: dict[tuple[str, ...], tuple[int, Unit]]
) -> tuple[int, Unit] | None:
    """The layer and unit of a dotted name: the longest listed prefix of its segments."""
    parts = tuple(module.split("."))
    for end in range(len(parts), 1, -1):
        if parts[:end] in places:
            return places[parts[:end]]
    return None


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """The dotted names an import statement reaches (``from a import b`` reaches ``a.b``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:  # relative: from the importing module's package, up level - 1
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, *([node.module] if node.module else [])])
    return [base if alias.name == "*" else f"{base}.{alias.name}" for alias in node.names]


def back_imports(package_dir: Path, layers: list[list[Unit]]) -> list[str]:
    """Every import in ``package_dir`` that runs up the layers or sideways to a sibling unit,
    and every module that is in no layer, as ``file:line: what``."""
    package = package_dir.name
    places = _locator(package, layers)
    show = " + ".join
    problems: list[str] = []
    for path in sorted(package_dir.rglob("*.py")):
        rel = path.relative_to(package_dir)
        is_package = path.name == "__init__.py"
        parts = rel.parent.parts if is_package else (*rel.parent.parts, path.stem)
        if not parts:
            continue  # the package's own __init__: it is no layer
        module = ".".join((package, *parts))
        here = _locate(module, places)
        if here is None:
            problems.append(f"{rel}: in no layer of {DESIGN.name}")
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        imports = (n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom))
        for node in sorted(imports, key=lambda n: n.lineno):
            for target in _imported(node, module, is_package):
                if not target.startswith(f"{package}."):
                    continue
                there = _locate(target, places)
                where = f"{rel}:{node.lineno}: {show(here[1])} imports {target}"
                if there is None:
                    problems.append(f"{where}, which is in no layer")
                elif there[1] == here[1] or there[0] < here[0]:
                    continue
                elif there[0] == here[0]:
                    problems.append(f"{where}: {show(there[1])} is an independent sibling")
                else:
                    problems.append(f"{where}: {show(there[1])} is a higher layer")
    return problems


# -- the real tree -----------------------------------------------------------------------------


def test_every_unit_of_the_layers_exists():
    """A misspelt unit would match nothing and let its modules fall into a broader one."""
    missing = [
        name
        for units in documented_layers()
        for unit in units
        for name in unit
        if not PKG.joinpath(*name.split(".")).with_suffix(".py").is_file()
        and not PKG.joinpath(*name.split("."), "__init__.py").is_file()
    ]
    assert missing == []


def test_no_import_runs_back_up_the_layers():
    assert back_imports(PKG, documented_layers()) == []


# -- the checker catches what it should --------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_a_planted_back_import_is_reported(tmp_path):
    """Every way an import can hide: top level, in a function, relative, for type checking."""
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/low/__init__.py": "",
            "pkg/low/base.py": (
                "from typing import TYPE_CHECKING\n"
                "import pkg.mid\n"  # 2: up two layers
                "if TYPE_CHECKING:\n"
                "    from pkg.high.top import Thing\n"  # 4: up, for a type only
                "def later():\n"
                "    from ..high import top\n"  # 6: up, relative, inside a function
                "    from . import util\n"  # 7: its own unit
                "    return top\n"
            ),
            "pkg/low/util.py": "",
            "pkg/mid.py": "from pkg.side import tool\nfrom pkg.low.base import later\n",
            "pkg/side.py": "import pkg.low.util\n",
            "pkg/high/__init__.py": "",
            "pkg/high/top.py": "from .. import mid, side\nfrom ..low import *\n",
            "pkg/stray.py": "import pkg.low\n",
        },
    )
    layers = parse_layers("high\nmid | side\nlow\n")
    assert back_imports(tmp_path / "pkg", layers) == [
        "low/base.py:2: low imports pkg.mid: mid is a higher layer",
        "low/base.py:4: low imports pkg.high.top.Thing: high is a higher layer",
        "low/base.py:6: low imports pkg.high.top: high is a higher layer",
        "mid.py:1: mid imports pkg.side.tool: side is an independent sibling",
        f"stray.py: in no layer of {DESIGN.name}",
    ]


def test_a_back_import_planted_in_the_real_tree_is_reported(tmp_path):
    """The ledger reaching up into silver, as it once did, fails against the documented layers."""
    tree = tmp_path / "enforcement_brain"
    shutil.copytree(PKG, tree, ignore=shutil.ignore_patterns("__pycache__"))
    before = back_imports(tree, documented_layers())
    ledger = tree / "ops" / "ledger.py"
    planted = "\n\ndef _report():\n    from enforcement_brain.pipeline.silver import load_batch\n"
    ledger.write_text(ledger.read_text(encoding="utf-8") + planted, encoding="utf-8")
    line = ledger.read_text(encoding="utf-8").count("\n")
    after = back_imports(tree, documented_layers())
    assert [p for p in after if p not in before] == [
        f"ops/ledger.py:{line}: ops imports enforcement_brain.pipeline.silver.load_batch: "
        "pipeline is a higher layer"
    ]
