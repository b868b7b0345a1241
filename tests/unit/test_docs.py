"""The user documentation (README.md and docs/*.md) stays true and short.

- every repository path it names exists (backticked, in a shell block, or linked), and so do the
  modules, test functions, make targets and ``eb`` commands; a path with a placeholder
  (``data_standards/datasets/<id>.sql``) needs the folder before the placeholder;
- every setting it names is read by the code, and every setting ``settings.py`` reads is in the
  README's configuration table;
- the README stays under 12 KB;
- no working notes: no numbered work sessions or issues, no commit hashes (those belong to the
  measurement tables of docs/benchmarks.md and docs/reliability.md only).

Pure text: no Spark, no imports of the platform. ``docs/standards/`` is generated from the
declarations and checked by ``tests/integration/test_standards_build.py``, so it is not read here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

#: The repository root (wherever under ``tests/`` this file lives).
ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
PKG = ROOT / "src" / "enforcement_brain"
README = ROOT / "README.md"
BENCHMARKS = ROOT / "docs" / "benchmarks.md"
#: The docs whose measurement tables name the commit measured.
MEASUREMENTS = (BENCHMARKS, ROOT / "docs" / "reliability.md")
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_BYTES = 12_000

#: Folders the platform creates at run time, named by the docs but never in the repository.
RUNTIME = {"var", ".venv", ".cache", "metastore_db", "spark-warehouse", "~", "$EB_VAR_DIR"}
#: Extensions of the files a doc may name without a folder (``settings.py``).
SOURCE_SUFFIXES = (".py", ".md", ".yaml", ".sql", ".toml")
#: A segment that stands for something: ``<id>``, ``{yyyy}``, ``*.yaml``, ``…``.
PLACEHOLDER = re.compile(r"[<>{}*…]|^\.\.\.$|^[A-Z]+$")
#: Fenced blocks whose words are commands (other languages hold SQL, Python, JSON, diagrams).
SHELL_LANGS = {"", "bash", "sh", "shell", "console", "text"}


def top_level() -> set[str]:
    return {
        p.name
        for p in ROOT.iterdir()
        if not p.name.startswith(".") and p.name not in RUNTIME and not p.name.endswith(".egg-info")
    }


def subpackages() -> set[str]:
    return {p.name for p in PKG.iterdir() if (p / "__init__.py").exists()}


# -- reading markdown -------------------------------------------------------------------------


def code_phrases(text: str) -> list[str]:
    """Inline code spans, and the lines of shell blocks, in order."""
    phrases: list[str] = []
    prose: list[str] = []
    for part in re.split(r"^(```[^\n]*\n.*?^```)\s*$", text, flags=re.M | re.S):
        fence = re.match(r"```([^\n]*)\n(.*)```", part, flags=re.S)
        if fence:
            if fence.group(1).strip() in SHELL_LANGS:
                phrases += fence.group(2).splitlines()
        else:
            prose.append(part)
    spans = re.findall(r"(?<!`)`([^`]+)`(?!`)", "\n".join(prose))
    return phrases + [" ".join(span.split()) for span in spans if "\n\n" not in span]


def links(text: str) -> list[str]:
    """Targets of markdown links and images, outside code."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return re.findall(r"\]\(([^)\s]+)\)", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.M | re.S)
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}


# -- what a word names ------------------------------------------------------------------------


def _clean(word: str) -> str:
    word = word.strip("\"'()[]<>,;")
    word = word.rstrip(".:,;")
    return word.removeprefix("./")


def path_problem(word: str, tops: set[str], packages: set[str]) -> str | None:
    """Why ``word``, if it is a path in the repository, does not exist (None: fine or no path)."""
    if word.startswith(("<", "`")) or "://" in word or "$" in word or "=" in word:
        return None
    word = _clean(word)
    if word.startswith(("/work/", "/home/", "/Users/", "../", "~/")):
        return f"{word}: a path outside the repository"
    if not word or word.startswith(("/", "-", "…")):
        return None
    name, _, test_name = word.partition("::")
    parts = name.split("/")
    if parts[0] in RUNTIME or not re.fullmatch(r"[\w.\-/<>{}*…]+", name):
        return None
    if parts[0] in tops:
        base = ROOT
    elif parts[0] in packages and len(parts) > 1:
        base = PKG
    elif len(parts) == 1 and name.endswith(SOURCE_SUFFIXES) and not PLACEHOLDER.search(name):
        folders = [ROOT / top for top in tops if (ROOT / top).is_dir()]
        found = (ROOT / name).exists() or any(next(f.rglob(name), None) for f in folders)
        return None if found else f"{word}: no file of that name in the repository"
    else:
        return None
    kept: list[str] = []
    for part in parts:
        if PLACEHOLDER.search(part):
            folder = base.joinpath(*kept)
            return None if folder.is_dir() else f"{word}: no folder {folder.relative_to(ROOT)}"
        kept.append(part)
    target = base.joinpath(*[p for p in kept if p])
    if not target.exists():
        return f"{word}: no such path ({target.relative_to(ROOT)})"
    if test_name and not re.search(
        rf"^\s*def {re.escape(test_name)}\(", target.read_text(encoding="utf-8"), re.M
    ):
        return f"{word}: no test {test_name} in {target.relative_to(ROOT)}"
    return None


def module_problem(dotted: str) -> str | None:
    """Why a dotted ``enforcement_brain.…`` or ``jobs.…`` name does not resolve."""
    dotted = dotted.replace(":", ".")
    parts = dotted.split(".")
    base = PKG.parent if parts[0] == "enforcement_brain" else ROOT
    for i in range(len(parts), 0, -1):
        if any(PLACEHOLDER.search(p) for p in parts[:i]):
            continue
        module = base.joinpath(*parts[:i])
        source = module.with_suffix(".py") if not module.is_dir() else module / "__init__.py"
        if source.exists():
            rest = parts[i:]
            if not rest or PLACEHOLDER.search(rest[0]):
                return None
            defined = rf"^(?:def |class |async def )?{re.escape(rest[0])}\b\s*[(:=]"
            if len(rest) == 1 and re.search(defined, source.read_text(encoding="utf-8"), re.M):
                return None
            return f"{dotted}: {'.'.join(rest)} is not defined in {source.relative_to(ROOT)}"
    if any(PLACEHOLDER.search(p) for p in parts[1:2]):
        return None if base.joinpath(parts[0]).is_dir() else f"{dotted}: no package"
    return f"{dotted}: no such module"


def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", text, flags=re.M))


def eb_commands() -> set[str]:
    names: set[str] = set()
    for source in PKG.rglob("*.py"):
        names |= set(re.findall(r"add_parser\(\s*\"([\w-]+)\"", source.read_text("utf-8")))
    return names


def settings_read() -> set[str]:
    """Environment variables the settings module reads (string literals naming them)."""
    text = (PKG / "settings.py").read_text(encoding="utf-8")
    return set(re.findall(r"[\"']((?:EB|AWS|AIRFLOW)_[A-Z0-9_]+)[\"']", text))


def code_text() -> str:
    folders = [PKG, ROOT / "dags", ROOT / "jobs", ROOT / "benchmarks"]
    texts = [p.read_text(encoding="utf-8") for f in folders for p in f.rglob("*.py")]
    return "\n".join([*texts, (ROOT / "Makefile").read_text(encoding="utf-8")])


def doc_problems(doc: Path, text: str) -> list[str]:
    """Everything ``text`` (the contents of ``doc``) names that the repository does not have."""
    tops, packages = top_level(), subpackages()
    targets, commands = make_targets(), eb_commands()
    problems: list[str] = []
    phrases = code_phrases(text)
    for word in (w for phrase in phrases for w in phrase.split()):
        for piece in re.split(r"[=,]", word):
            problem = path_problem(piece, tops, packages)
            if problem:
                problems.append(problem)
    joined = "\n".join(phrases)
    for dotted in set(re.findall(r"\b(?:enforcement_brain|jobs)(?:[.:][\w<>]+)+", joined)):
        problem = module_problem(dotted)
        if problem:
            problems.append(problem)
    for target in re.findall(r"(?<![\w/.-])make ([a-z][\w-]*)", joined):
        if target not in targets:
            problems.append(f"make {target}: no such target in the Makefile")
    for command in re.findall(r"(?:^|[\s/])eb ([a-z][\w-]*)", joined, re.M):
        if command not in commands:
            problems.append(f"eb {command}: no such command")
    for target in links(text):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        where, _, anchor = target.partition("#")
        linked = (doc.parent / where).resolve() if where else doc
        if not linked.is_relative_to(ROOT):
            problems.append(f"link {target}: outside the repository")
        elif not linked.exists():
            problems.append(f"link {target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            problems.append(f"link {target}: no heading #{anchor} in {linked.name}")
    return problems


#: Working notes: who did what when, and the history of a figure, belong to git.
NOTES = [
    (re.compile(r"\bsessions? ?#?\d+", re.I), "a work session"),
    (re.compile(r"\bissues? ?#?\d+", re.I), "an issue number"),
    (
        re.compile(
            r"\b(this|next|previous|earlier|later|another|scale-out) (session|issue)\b",
            re.I,
        ),
        "a work session or issue",
    ),
    (re.compile(r"\bReview( \([\w ]+\))?:"), "a review note"),
    (re.compile(r"\((?:was|were) [^)]*\)"), "a figure's history"),
    (re.compile(r"\bcommits? [0-9a-f]{7,40}\b"), "a commit"),
    (re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)([0-9a-f]{7,12}|[0-9a-f]{40})\b"), "a commit"),
]


def note_problems(doc: Path, text: str) -> list[str]:
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        for pattern, what in NOTES:
            if what == "a commit" and doc in MEASUREMENTS and line.startswith("|"):
                continue  # the measurement tables name the commit measured
            for match in pattern.finditer(line):
                problems.append(f"{doc.name}:{number}: {what}: {match.group(0)!r}")
    return problems


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_everything_a_doc_names_exists(doc):
    assert doc_problems(doc, doc.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_no_working_notes_in_the_docs(doc):
    assert note_problems(doc, doc.read_text(encoding="utf-8")) == []


def test_the_readme_is_short():
    size = len(README.read_bytes())
    assert size < README_MAX_BYTES, f"README.md is {size:,} bytes; keep it under 12 KB"


def test_the_readme_lists_every_setting():
    named = set(re.findall(r"\b((?:EB|AWS|AIRFLOW)_[A-Z0-9_]+)\b", README.read_text("utf-8")))
    assert settings_read() - named == set()


def test_every_setting_the_docs_name_is_read_by_the_code():
    code = code_text()
    for doc in DOCS:
        named = set(re.findall(r"\b(EB_[A-Z0-9_]+)\b", doc.read_text(encoding="utf-8")))
        assert {n for n in named if n not in code} == set(), doc.name


def test_the_checks_find_what_they_look_for():
    """The checks above fail on the mistakes they exist for (a check that finds nothing
    because it reads nothing would pass as well)."""
    doc = ROOT / "docs" / "example.md"
    this_test = f"{Path(__file__).relative_to(ROOT)}::test_the_readme_is_short"
    text = (
        "See `tests/test_nothing_here.py`, `src/enforcement_brain/gold/nowhere.py` and\n"
        "`data_standards/nowhere/<id>.sql`; the notes are in `/home/me/notes.md`;\n"
        "`enforcement_brain.settings.NO_SUCH_NAME`, `make no-such-target`, `eb no-such`,\n"
        "[a link](missing.md), [an anchor](../README.md#no-such-heading).\n"
        "```bash\n.venv/bin/python benchmarks/bench_nothing.py --runs 3\n```\n"
        "But `data_standards/datasets/<id>.sql`, `pipeline/`, `var/lake/<layer>`,\n"
        f"`{this_test}` and `enforcement_brain.settings` exist.\n"
    )
    found = doc_problems(doc, text)
    assert len(found) == 10, found
    working_notes = " ".join(
        ["Measured in", "session", "9 at 6f154a4 (was three);", "issue", "17."]
    )
    notes = note_problems(doc, working_notes + "\n")
    assert len(notes) == 4, notes
