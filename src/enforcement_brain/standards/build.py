"""Compile the standards into their committed artefacts, or check that they are up to date.

``build`` writes the two rendered standards (``docs/standards/*.md``) and one GX suite per source
(``expectations/<source>.json``) and removes generated files whose declaration is gone. ``check``
generates the same files into a temporary folder and lists every file that differs, is missing
or should not be there: CI runs it (through the tests) so a declaration and the documents,
suites and constraints compiled from it cannot drift apart. Delta constraints are not files:
they are compiled when a silver table is created (``constraints.apply_constraints``).

Command line: ``python -m enforcement_brain.standards build|check [--root DIR] [--out DIR]``.
Exit status 0 when done / up to date, 1 when ``check`` finds differences, 2 on a bad
declaration (one line naming the file and entry, no traceback).
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

from enforcement_brain.declarations import Catalog, load_catalog
from enforcement_brain.errors import EbError
from enforcement_brain.standards import gx_suites, render

#: The generated files: everything matching these globs is ours (README.md is not matched).
GENERATED_GLOBS = ("docs/standards/*.md", f"{gx_suites.EXPECTATIONS_DIR}/*.json")


def generate(catalog: Catalog) -> dict[str, str]:
    """``{repository-relative path: text}`` of every generated file, in path order."""
    files = dict(render.render_all(catalog))
    for source in catalog.sources.values():
        files[f"{gx_suites.EXPECTATIONS_DIR}/{source.id}.json"] = gx_suites.suite_json(
            catalog, source
        )
    return dict(sorted(files.items()))


def _existing(out_dir: Path) -> set[str]:
    return {p.relative_to(out_dir).as_posix() for g in GENERATED_GLOBS for p in out_dir.glob(g)}


def build(root: Path, out_dir_repo: Path) -> list[Path]:
    """Write every generated file under ``out_dir_repo``; returns the files written, sorted.

    Files are written byte for byte (UTF-8, ``\\n`` line ends) and only when their content
    changed; generated files that no longer correspond to a declaration are deleted.
    """
    out_dir = Path(out_dir_repo)
    files = generate(load_catalog(Path(root)))
    for stale in sorted(_existing(out_dir) - set(files)):
        (out_dir / stale).unlink()
    written = []
    for rel, text in files.items():
        path = out_dir / rel
        data = text.encode("utf-8")
        if not path.is_file() or path.read_bytes() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        written.append(path)
    return written


def check(root: Path, out_dir_repo: Path) -> list[str]:
    """Regenerate into a temporary folder; one line per file that differs, is missing or extra.

    An empty list means the committed artefacts are exactly what the declarations compile to.
    """
    out_dir = Path(out_dir_repo)
    problems = []
    with tempfile.TemporaryDirectory(prefix="eb-standards-") as tmp:
        fresh = Path(tmp)
        build(root, fresh)
        expected, actual = _existing(fresh), _existing(out_dir)
        for rel in sorted(expected | actual):
            if rel not in actual:
                problems.append(f"missing: {rel}")
            elif rel not in expected:
                problems.append(f"extra: {rel} (no declaration produces it)")
            elif not filecmp.cmp(fresh / rel, out_dir / rel, shallow=False):
                problems.append(f"differs: {rel}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """``build`` or ``check`` the standards' artefacts; see the module docstring."""
    from enforcement_brain.settings import load_settings

    parser = argparse.ArgumentParser(
        prog="python -m enforcement_brain.standards",
        description="Compile data_standards/ into docs/standards/ and expectations/.",
    )
    parser.add_argument("command", choices=("build", "check"))
    parser.add_argument("--root", type=Path, help="the data_standards folder")
    parser.add_argument("--out", type=Path, help="the repository to write into")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        root = args.root or settings.standards_dir
        out = args.out or settings.home
        if args.command == "build":
            written = build(root, out)
            print(f"standards: {len(written)} files up to date under {out}")
            return 0
        problems = check(root, out)
    except EbError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    for line in problems:
        print(line)
    if problems:
        print(f"{len(problems)} generated file(s) out of date: run `make standards` and commit")
        return 1
    print("standards: generated files are up to date")
    return 0
