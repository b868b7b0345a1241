"""The two written standards as Markdown a reviewer can sign off, rendered from the declarations.

Standard 1, the Data Element Standard (数据元标准), from ``elements.yaml`` and the code tables;
Standard 2, the Data Quality and Sharing Standard (数据质量与共享标准), from ``quality/rules.yaml``,
the sources, the shared datasets and the interfaces. The documents are *outputs*: they are
committed so a change to a declaration shows up in review as a change to the text a person signs,
and the build test fails when they drift.

The fixed prose (headings, contents, the sentences around each table) is in ``templates/``, one
Jinja2 template per document and a partial per section both share, so the text can be read and
edited as the document it becomes. This module builds the tables and the values the templates
fill in.

What each source section lists is computed by the same code the pipeline runs
(``compile_checks``), with what the silver table's Delta constraints and GX suite make of each
check, so the document cannot promise a check the platform does not run. Declarations gain
fields over time: optional ones are read with defaults, and fields this module does not know are
still rendered (as "other attributes"), so nothing declared is silently left out.

Deterministic output: declared order where the YAML has one, sorted otherwise; no timestamps and
no absolute paths. No Spark: the rule kinds build SQL text, and describe themselves.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from enforcement_brain.declarations import (
    Catalog,
    Column,
    Dataset,
    Element,
    Interface,
    PositionScope,
    Rule,
    Source,
)
from enforcement_brain.standards import checks, gx_suites
from enforcement_brain.standards import constraints as cons
from enforcement_brain.standards.code_tables import CodeTable, list_code_tables, load_code_table
from enforcement_brain.standards.rule_kinds import code_span as _code
from enforcement_brain.standards.rule_kinds import column_violation_sql, compile_checks, kind_of
from enforcement_brain.standards.rule_kinds.base import PLATE_ELEMENT
from enforcement_brain.standards.rule_kinds.sql import raw_ref, typed_ref

if TYPE_CHECKING:
    import jinja2

ELEMENT_DOC = "docs/standards/data-element-standard.md"
QUALITY_DOC = "docs/standards/data-quality-and-sharing-standard.md"
#: The Jinja2 templates of the documents: ``<document name>.md`` and the ``_*.md`` partials.
TEMPLATES = Path(__file__).with_name("templates")
_ACTIONS = {
    "warn": "the row loads, flagged (its rule ids in `_warnings`)",
    "quarantine": "the row goes to `quarantine.<source>` with the rule ids and standard version",
    "fail": "the load stops: nothing of the batch is written and the delivery stays in landing",
}
_HEADER_KEYS = {"standard", "title", "title_zh", "version", "changelog", "references"}


# -- templates -------------------------------------------------------------------------------------


@cache
def _environment() -> jinja2.Environment:
    """The templates' environment, built on first use (Jinja2 is not imported with the module).

    Block tags on their own line leave no blank line behind (``trim_blocks``, ``lstrip_blocks``),
    so a line of text that ends in a block tag ends it with ``+%}`` to keep its newline; an
    undefined name is an error rather than an empty string; no HTML escaping: this is Markdown.
    """
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.filters["code"] = _code
    return env


def _render(template: str, **context: Any) -> str:
    """A document from its template, ending in exactly one newline."""
    return _environment().get_template(template).render(**context).rstrip() + "\n"


# -- small Markdown helpers ------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    """A declared value as text: lists joined, mappings as ``k: v``, nothing as an em dash."""
    if value is None or value == "" or value == () or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    if isinstance(value, Path):
        return value.name
    return " ".join(str(value).split())


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _cell(text: str) -> str:
    """Table-cell safe: pipes escaped (GFM unescapes them inside code spans too), one line."""
    return " ".join(str(text).replace("|", "\\|").split()) or "—"


def _table(header: list[str], rows: list[list[str]]) -> str:
    """A GFM table, without the blank line that follows it (the templates place tables)."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def _attributes(rows: list[tuple[str, str]]) -> str:
    return _table(["attribute", "value"], [[k, v] for k, v in rows])


def _link(kind: str, ident: str, text: str | None = None) -> str:
    return f"[{text or _code(ident)}](#{kind}-{ident})"


def _title(title: str, title_zh: str) -> str:
    """A declaration's heading title: the Chinese title with the English one, when it has one."""
    return f"{title_zh} ({title})" if title_zh else title


def _rel(catalog: Catalog, path: Path | None) -> str:
    """A declaration's path relative to the repository (never absolute)."""
    if path is None:
        return "—"
    try:
        return f"{catalog.root.name}/{Path(path).relative_to(catalog.root).as_posix()}"
    except ValueError:
        return Path(path).name


def _extra(obj: Any, known: set[str]) -> list[tuple[str, str]]:
    """Dataclass fields not rendered explicitly, when set: new declaration fields still show."""
    out = []
    for f in dataclasses.fields(obj):
        if f.name in known or f.name == "path":
            continue
        value = getattr(obj, f.name)
        if value in (None, "", (), [], {}) or value == f.default:
            continue
        out.append((f.name, _fmt(value)))
    return out


def _header(catalog: Catalog, which: str) -> dict[str, Any]:
    """Top-level keys of ``elements.yaml`` / ``quality/rules.yaml`` (title, version, change log,
    references, definitions, classification levels...). Taken from the catalog when it carries
    them, else read from the file."""
    attr = {"elements": "element_standard", "quality": "quality_standard"}[which]
    header = getattr(catalog, attr, None)
    path = catalog.root / ("elements.yaml" if which == "elements" else "quality/rules.yaml")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    merged = {k: v for k, v in raw.items() if k not in ("elements", "rules")}
    if isinstance(header, dict):
        merged.update(header)
    return merged


def _common(
    header: dict[str, Any],
    default_zh: str,
    default_en: str,
    version: str,
    cited: dict[str, list[str]],
    known: set[str],
) -> dict[str, Any]:
    """What the shared partials fill in: the front matter, change log, references and the
    top-level keys nobody taught this module about (rendered rather than dropped)."""
    title_zh = header.get("title_zh") or default_zh
    title = header.get("title") or default_en
    changelog = []
    for entry in header.get("changelog") or []:
        changes = entry.get("changes") or []
        notes = [_fmt(c) for c in (changes if isinstance(changes, list) else [changes])]
        extra = {k: v for k, v in entry.items() if k not in ("version", "date", "changes")}
        notes += [f"{k}: {_fmt(v)}" for k, v in extra.items()]
        changelog.append(
            {"version": entry.get("version", "?"), "date": entry.get("date"), "notes": notes}
        )
    cited_table = ""
    if cited:
        cited_table = _table(
            ["cited standard", "cited by"],
            [[text, ", ".join(users)] for text, users in sorted(cited.items())],
        )
    rest = {k: v for k, v in header.items() if k not in known}
    other = [
        (
            key,
            "\n".join(yaml.safe_dump(rest[key], allow_unicode=True, sort_keys=False).splitlines()),
        )
        for key in sorted(rest)
    ]
    return {
        "title_zh": title_zh,
        "title": title,
        "attributes": _attributes(
            [
                ("Standard", _code(header.get("standard", "—"))),
                ("Title", f"{title_zh} ({title})"),
                ("Version", version),
            ]
        ),
        "changelog": changelog,
        "references": [_fmt(r) for r in header.get("references") or []],
        "cited_table": cited_table,
        "other": other,
    }


# -- Standard 1 ------------------------------------------------------------------------------------


def _range(element: Element) -> str:
    lo, hi = element.min, element.max
    unit = f" {element.unit}" if element.unit and element.unit != "1" else ""
    if lo is not None and hi is not None:
        return f"{lo} – {hi}{unit} (inclusive)"
    if lo is not None:
        return f"≥ {lo}{unit}"
    if hi is not None:
        return f"≤ {hi}{unit}"
    return "—"


def _element_users(catalog: Catalog) -> dict[str, list[str]]:
    users: dict[str, list[str]] = {}
    for source in catalog.sources.values():
        for column in source.columns:
            users.setdefault(column.element, []).append(f"{source.id}.{column.name}")
    return users


def _element_rules(catalog: Catalog) -> dict[str, list[Rule]]:
    out: dict[str, list[Rule]] = {}
    for rule in catalog.rules.values():
        for element in dict.fromkeys((*rule.elements, *getattr(rule, "requires", ()))):
            out.setdefault(element, []).append(rule)
    return out


_ELEMENT_KNOWN = {
    "id",
    "name_zh",
    "name_en",
    "type",
    "unit",
    "unit_from",
    "format",
    "pattern",
    "check",
    "code_table",
    "min",
    "max",
    "classification",
    "follows",
    "description",
}


def _element_attributes(
    element: Element, rules: list[Rule], users: list[str], tables: dict[str, CodeTable]
) -> str:
    name_en = getattr(element, "name_en", None)
    code_table = (
        _link("ct", element.code_table, _code(element.code_table))
        if element.code_table and element.code_table in tables
        else _fmt(element.code_table)
    )
    rows = [
        ("Identifier", _code(element.id)),
        ("Chinese name", element.name_zh),
        ("English name", _fmt(name_en)),
        ("Data type", element.type),
        ("Unit", _fmt(element.unit_label)),
        ("Format", _fmt(element.format)),
        ("Pattern", _code(element.pattern) if getattr(element, "pattern", None) else "—"),
        ("Check algorithm", _fmt(getattr(element, "check", None))),
        ("Code table", code_table),
        ("Valid range", _range(element)),
        ("Classification", _fmt(element.classification)),
        ("Follows", _fmt(element.follows)),
        ("Description", _fmt(element.description)),
        (
            "Checked by",
            ", ".join(f"{_link('rule', r.id, _code(r.id))} ({r.severity})" for r in rules) or "—",
        ),
        ("Used by", ", ".join(_code(u) for u in users) or "—"),
    ]
    return _attributes(rows + _extra(element, _ELEMENT_KNOWN))


def _plate_forms() -> str:
    """The declared plate forms (``checks.PLATE_FORMS``): what a plate may look like, and why."""
    return _table(
        ["form", "中文名称", "pattern", "source", "examples", "not plates"],
        [
            [
                _code(f.name),
                f.name_zh,
                _code(f.pattern),
                f.source,
                ", ".join(_code(v) for v in f.valid),
                ", ".join(_code(v) for v in f.invalid),
            ]
            for f in checks.PLATE_FORMS
        ],
    )


def _code_table_codes(table: CodeTable) -> str:
    """A code table's codes, with every key any of its entries declares."""
    keys = ["code", "name_zh", "name"]
    for entry in table.codes:
        keys += [k for k in entry if k not in keys]
    present = [k for k in keys if any(k in e for e in table.codes)]
    return _table(
        present,
        [[_fmt(e.get(k)) if k != "code" else _code(e[k]) for k in present] for e in table.codes],
    )


def render_element_standard(catalog: Catalog) -> str:
    """Standard 1 (数据元标准) as Markdown."""
    header = _header(catalog, "elements")
    users = _element_users(catalog)
    by_element = _element_rules(catalog)
    table_ids = list_code_tables(catalog.root)
    tables = {t: load_code_table(catalog.root, t) for t in table_ids}

    cited: dict[str, list[str]] = {}
    for element in catalog.elements.values():
        if element.follows:
            cited.setdefault(_fmt(element.follows), []).append(f"element {_code(element.id)}")
    for table in tables.values():
        cited.setdefault(_fmt(table.standard), []).append(f"code table {_code(table.id)}")
    for term in header.get("definitions") or []:
        if term.get("follows"):
            cited.setdefault(_fmt(term["follows"]), []).append(f"definition {_code(term['id'])}")

    definitions = []
    for term in header.get("definitions") or []:
        tid = term.get("id", "?")
        names = " / ".join(x for x in (term.get("term_zh"), term.get("term")) if x)
        extra = {
            k: v
            for k, v in term.items()
            if k not in ("id", "term", "term_zh", "definition", "follows")
        }
        definitions.append(
            {
                "id": tid,
                "names": names or tid,
                "definition": _fmt(term.get("definition")),
                "follows": _fmt(term["follows"]) if term.get("follows") else None,
                "notes": [f"{k}: {_fmt(v)}" for k, v in extra.items()],
            }
        )

    used_by: dict[str, list[str]] = {}
    for element in catalog.elements.values():
        if element.code_table:
            used_by.setdefault(element.code_table, []).append(element.id)

    return _render(
        "data-element-standard.md",
        **_common(
            header,
            "数据元标准",
            "Data Element Standard",
            catalog.element_version,
            cited,
            _HEADER_KEYS | {"definitions"},
        ),
        definitions=definitions,
        elements_table=_table(
            ["id", "中文名称", "type", "unit", "range", "code table", "level"],
            [
                [
                    _link("el", e.id),
                    e.name_zh,
                    e.type,
                    _fmt(e.unit_label),
                    _range(e),
                    _fmt(e.code_table),
                    _fmt(e.classification),
                ]
                for e in catalog.elements.values()
            ],
        ),
        elements=[
            {
                "id": e.id,
                "name_zh": e.name_zh,
                "name_en": getattr(e, "name_en", None),
                "attributes": _element_attributes(
                    e, by_element.get(e.id, []), users.get(e.id, []), tables
                ),
                "forms": _plate_forms() if e.id == PLATE_ELEMENT else None,
            }
            for e in catalog.elements.values()
        ],
        code_tables_table=_table(
            ["id", "中文名称", "title", "codes", "used by elements"],
            [
                [
                    _link("ct", t.id),
                    t.title_zh,
                    t.title,
                    str(len(t.codes)),
                    ", ".join(_code(e) for e in used_by.get(t.id, [])) or "—",
                ]
                for t in tables.values()
            ],
        ),
        code_tables=[
            {
                "id": t.id,
                "title_zh": t.title_zh,
                "title": t.title,
                "standard": _fmt(t.standard),
                "path": f"{catalog.root.name}/code_tables/{t.id}.yaml",
                "count": len(t.codes),
                "codes": _code_table_codes(t),
            }
            for t in tables.values()
        ],
    )


# -- Standard 2 ------------------------------------------------------------------------------------


def _rule_sources(catalog: Catalog, rule: Rule) -> list[str]:
    if rule.always:
        return ["every source (always on)"]
    return [s.id for s in catalog.sources.values() if rule.id in s.rule_ids]


def _placeholder_sql(catalog: Catalog, rule: Rule, element: Element) -> str:
    column = Column(name="<column>", type=element.type, element=element.id)
    sql = column_violation_sql(catalog, rule, column, raw_ref(column.name), typed_ref(column.name))
    return f"coalesce({sql}, true)"


def _rule_context(catalog: Catalog, rule: Rule) -> dict[str, Any]:
    """A rule's section: its attributes and, for a column rule, its SQL on each element."""
    elements = list(dict.fromkeys((*rule.elements, *getattr(rule, "requires", ()))))
    sources = _rule_sources(catalog, rule)
    rows = [
        ("Rule", _code(rule.id)),
        ("Severity", f"**{rule.severity}**: {_ACTIONS.get(rule.severity, rule.severity)}"),
        ("Check kind", _code(rule.kind)),
        (
            "Elements checked",
            ", ".join(f"{_code(e)} {catalog.elements[e].name_zh}" for e in elements)
            or "— (the whole record)",
        ),
        (
            "Parameters",
            "; ".join(f"{k}: {_fmt(v)}" for k, v in rule.params.items() if k != "regex") or "—",
        ),
        ("Applies to", ", ".join(_code(s) if " " not in s else s for s in sources) or "no source"),
        ("The check", kind_of(rule).describe(rule)),
    ]
    extra = _extra(rule, {"id", "title", "severity", "kind", "params", "elements", "always"})
    kind = kind_of(rule)
    element_sql = []
    if not kind.row:
        for eid in rule.elements:
            element = catalog.elements[eid]
            extra_words = getattr(element, "check", None)
            label = f"element `{eid}`" + kind.element_note(rule, element)
            if extra_words:
                label += f": {extra_words}"
            element_sql.append((label, _placeholder_sql(catalog, rule, element)))
    return {
        "id": rule.id,
        "title": rule.title,
        "attributes": _attributes(rows + [r for r in extra if r[0] != "requires"]),
        "row": kind.row,
        "element_sql": element_sql,
    }


def _delivery(source: Source) -> str:
    d = source.delivery
    parts = [f"kind {d.kind}"]
    for name in ("format", "encoding", "pattern", "bucket", "prefix", "table", "watermark"):
        value = getattr(d, name, None)
        if value not in (None, ""):
            parts.append(f"{name} {_code(value)}")
    return ", ".join(parts)


_QUALITY_LABELS = {
    "completeness": "Completeness",
    "validity": "Validity",
    "uniqueness": "Uniqueness",
    "freshness_hours": "Freshness (hours)",
    "retention_days": "Retention (days)",
    "classification": "Classification",
}


def _quality_value(key: str, value: Any) -> str:
    if isinstance(value, float) and 0 <= value <= 1 and key not in ("freshness_hours",):
        return f"{value:g} ({value * 100:g} %)"
    return _fmt(value)


_SOURCE_KNOWN = {
    "id",
    "title",
    "title_zh",
    "system",
    "owner",
    "delivery",
    "schedule",
    "grain",
    "business_key",
    "event_time",
    "expected_daily_rows",
    "columns",
    "rule_ids",
    "quality",
    "generator",  # the synthetic generator's settings: not part of the standard
    "positions",
}


def _positions(scope: PositionScope) -> str:
    """Where a source's positions may lie, and why, in words."""
    where = {
        "xuzhou": "inside Xuzhou (checked by the source's `in_area` rule)",
        "anywhere": "anywhere (a position outside Xuzhou is data; no area check)",
    }[scope.within]
    return _fmt(f"{where}. {scope.why}")


def _source_context(catalog: Catalog, source: Source) -> dict[str, Any]:
    """A source's section: attributes, quality settings, columns, checks and row-check SQL."""
    suite = gx_suites.suite_dict(catalog, source)
    plan = cons.plan_constraints(catalog, source)
    rows = [
        ("Source", _code(source.id)),
        ("System", _fmt(source.system)),
        ("Owner", _fmt(source.owner)),
        ("Delivery", _delivery(source)),
        ("Cadence", _fmt(source.delivery.cadence)),
        ("Schedule", _code(source.schedule)),
        ("Grain", _fmt(source.grain)),
        ("Business key", ", ".join(_code(k) for k in source.business_key)),
        ("Event time", _code(source.event_time)),
        ("Expected rows per day", f"{source.expected_daily_rows:,}"),
        *([("Positions", _positions(source.positions))] if source.positions else []),
        ("Declared in", _code(_rel(catalog, source.path))),
        ("Tables", f"`silver.{source.id}`, `quarantine.{source.id}`"),
        ("GX suite", _code(f"{gx_suites.EXPECTATIONS_DIR}/{source.id}.json")),
    ]
    quality = dict(getattr(source, "quality", None) or {})
    quality_table = ""
    if quality:
        quality_table = _table(
            ["setting", "value"],
            [[_QUALITY_LABELS.get(k, k), _quality_value(k, v)] for k, v in quality.items()],
        )
    checks = cons.silver_checks(catalog, source)
    per_column: dict[str, list[str]] = {}
    for check in checks:
        if check.column:
            targets = [(check.column, f"{_code(check.rule.id)} ({check.rule.severity})")]
        else:  # a row rule that reads named elements (area, datum, consistency)
            label = f"{_code(check.rule.id)} ({check.rule.severity}, row rule)"
            needs = set(getattr(check.rule, "requires", ()) or ())
            targets = [(c.name, label) for c in source.columns if c.element in needs]
        for column, label in targets:
            per_column.setdefault(column, [])
            if label not in per_column[column]:
                per_column[column].append(label)
    columns_table = _table(
        ["column", "type", "element", "中文名称", "required", "level", "rules"],
        [
            [
                _code(c.name) + (" (key)" if c.name in source.business_key else ""),
                c.type,
                f"[{_code(c.element)}]({Path(ELEMENT_DOC).name}#el-{c.element})",
                catalog.elements[c.element].name_zh,
                "yes" if c.required or c.name in source.business_key else "no",
                _fmt(catalog.elements[c.element].classification),
                ", ".join(per_column.get(c.name, [])) or "—",
            ]
            for c in source.columns
        ],
    )
    checks_table = _table(
        ["#", "rule", "severity", "column", "Delta constraint on silver", "GX expectation"],
        [
            [
                str(i),
                _code(check.rule.id),
                check.rule.severity,
                _code(check.column) if check.column else "— (row)",
                _delta_cell(check, plan),
                _gx_cell(check, suite["expectations"]),
            ]
            for i, check in enumerate(checks, start=1)
        ],
    )
    return {
        "id": source.id,
        "title": _title(source.title, source.title_zh),
        "attributes": _attributes(rows + _extra(source, _SOURCE_KNOWN)),
        "quality_table": quality_table,
        "columns_table": columns_table,
        "checks_table": checks_table,
        "not_null_notes": [
            (s.column, s.reason.removeprefix("NOT NULL: "))
            for s in plan.skipped
            if s.reason.startswith("NOT NULL")
        ],
        "row_checks": [(c.rule.id, c.pipeline_sql) for c in checks if c.column is None],
    }


def _gx_cell(check: cons.SilverCheck, exps: list[dict[str, Any]]) -> str:
    """The GX expectation(s) a check becomes in the source's suite."""
    if check.silver_sql is None:
        if kind_of(check.rule).delta.not_null:
            cols = [
                e["kwargs"]["column"]
                for e in exps
                if e["type"] == "expect_column_values_to_not_be_null"
                and e["meta"].get("rule_id") == check.rule.id
            ]
            return f"not null: {', '.join(_code(c) for c in cols)}" if cols else "—"
        return "— (checked before silver)"
    found = [
        e["type"]
        for e in exps
        if e["meta"].get("rule_id") == check.rule.id and e["meta"].get("column") == check.column
    ]
    return ", ".join(_code(t) for t in dict.fromkeys(found)) or "—"


def _delta_cell(check: cons.SilverCheck, plan: cons.ConstraintPlan) -> str:
    """The Delta constraint a check becomes on silver, or why it has none."""
    if kind_of(check.rule).delta.not_null:
        cols = [n for c in plan.constraints if c.rule_id == check.rule.id for n in c.not_null]
        left = [
            s.column for s in plan.skipped if s.rule_id == check.rule.id and s.column is not None
        ]
        name = cons.constraint_name(check.rule.id, None)
        text = f"CHECK {_code(name)}: {', '.join(_code(c) for c in cols)} NOT NULL" if cols else "—"
        if left:
            text += f"; not on {', '.join(_code(c) for c in left)} (see below)"
        return text
    name = cons.constraint_name(check.rule.id, check.column)
    if name in {c.name for c in plan.constraints}:
        return f"CHECK {_code(name)}"
    if check.rule.severity == "warn":
        return "— (warn: rows load)"
    why = next(
        (s.reason for s in plan.skipped if (s.rule_id, s.column) == (check.rule.id, check.column)),
        check.note,
    )
    return f"— ({why})"


def _levels_table(levels: list[dict[str, Any]], catalog: Catalog) -> str:
    keys = ["level", "name_zh", "name", "description", "share_mask"]
    for level in levels:
        keys += [k for k in level if k not in keys]
    present = [k for k in keys if any(k in lv for lv in levels)]
    by_level: dict[str, list[str]] = {}
    for element in catalog.elements.values():
        if element.classification:
            by_level.setdefault(element.classification, []).append(_code(element.id))
    header = [*present, "elements at this level"]
    rows = [
        [*[_fmt(lv.get(k)) for k in present], ", ".join(by_level.get(str(lv.get("level")), []))]
        for lv in levels
    ]
    return _table(header, rows)


_DATASET_KNOWN = {
    "id",
    "sql",
    "title",
    "title_zh",
    "grain",
    "owner",
    "classification",
    "sources",
    "partition_by",
    "business_key",
    "change_data_feed",
    "gate",
    "columns",
    "elements",
}


def _dataset_context(catalog: Catalog, dataset: Dataset) -> dict[str, Any]:
    """A shared dataset's section: its attributes and its quality gate."""
    rows = [
        ("Dataset", _code(dataset.id)),
        ("Grain", _fmt(dataset.grain)),
        ("Owner", _fmt(dataset.owner)),
        ("Classification", _fmt(dataset.classification)),
        ("Sources", ", ".join(_link("src", s, _code(s)) for s in dataset.sources)),
        ("SQL", _code(_rel(catalog, dataset.sql_path))),
        ("Partitioned by", _code(dataset.partition_by)),
        ("Business key", ", ".join(_code(k) for k in dataset.business_key)),
        (
            "Columns",
            ", ".join(
                _code(c) + (f" ({_code(dataset.elements[c])})" if c in dataset.elements else "")
                for c in dataset.columns
            )
            or "not declared",
        ),
        ("Change data feed", _fmt(dataset.change_data_feed)),
        ("Table", f"`gold.{dataset.id}`"),
        ("Declared in", _code(_rel(catalog, dataset.path))),
    ]
    gate_table = ""
    if dataset.gate:
        gate_table = _table(
            ["gate check", "title", "condition"],
            [[_code(g.id), g.title, _code(g.expr)] for g in dataset.gate],
        )
    return {
        "id": dataset.id,
        "title": _title(dataset.title, dataset.title_zh),
        "attributes": _attributes(rows + _extra(dataset, _DATASET_KNOWN)),
        "gate_table": gate_table,
    }


_INTERFACE_KNOWN = {
    "id", "title", "title_zh", "consumer", "clearance", "datasets", "quota", "token_lifetime_days",
    "recipient", "family",
}  # fmt: skip


def _interface_context(catalog: Catalog, iface: Interface) -> dict[str, Any]:
    """An interface's section: its attributes and what it shares of each dataset."""
    rows = [
        ("Interface", _code(iface.id)),
        ("Consumer", _fmt(iface.consumer)),
        ("Clearance", _fmt(iface.clearance)),
        ("Quota", _fmt(iface.quota)),
        ("Token lifetime (days)", _fmt(iface.token_lifetime_days)),
        ("Declared in", _code(_rel(catalog, iface.path))),
    ]
    if iface.recipient:
        rows.append(
            (
                "Recipient (its area)",
                f"{_code(iface.recipient.id)}: GB/T 2260 {_code(iface.recipient.area)}, plate "
                f"regions {', '.join(iface.recipient.plate_regions)}",
            )
        )
    entries = []
    for entry in iface.datasets:
        dataset = catalog.datasets.get(entry.dataset)
        attributes = [
            ("Columns shared", ", ".join(_code(c) for c in entry.columns)),
            (
                "Masks",
                ", ".join(f"{_code(c)} → {_code(m)}" for c, m in entry.masks.items()) or "none",
            ),
            (
                "In clear, for",
                "; ".join(f"{_code(c)}: {_fmt(p)}" for c, p in entry.clear.items()) or "none",
            ),
            ("Row filter", _code(entry.row_filter) if entry.row_filter else "none"),
            ("共享属性 (国发〔2016〕51号 第九条)", _fmt(entry.share_type)),
            ("Sharing condition", _fmt(entry.share_condition)),
            *_extra(
                entry,
                {
                    "dataset",
                    "columns",
                    "masks",
                    "row_filter",
                    "clear",
                    "share_type",
                    "share_condition",
                },
            ),
        ]
        entries.append(
            {
                "dataset": entry.dataset,
                "classification": dataset.classification if dataset else None,
                "attributes": _attributes(attributes),
            }
        )
    return {
        "id": iface.id,
        "title": _title(iface.title, iface.title_zh),
        "attributes": _attributes(rows + _extra(iface, _INTERFACE_KNOWN)),
        "entries": entries,
    }


def _tracks(raw: dict[str, Any]) -> dict[str, str] | None:
    """Standard 2's 行踪轨迹 declaration, its element lists as code."""
    if not raw:
        return None
    return {
        "name_zh": str(raw.get("name_zh") or ""),
        "level": str(raw["level"]),
        "follows": _fmt(raw.get("follows")),
        "identifiers": ", ".join(_code(e) for e in raw["identifiers"]),
        "positions": ", ".join(_code(e) for e in raw["positions"]),
    }


def render_quality_standard(catalog: Catalog) -> str:
    """Standard 2 (数据质量与共享标准) as Markdown."""
    header = _header(catalog, "quality")
    levels = header.get("classification_levels") or []
    dims = header.get("quality_dimensions") or []
    return _render(
        "data-quality-and-sharing-standard.md",
        **_common(
            header,
            "数据质量与共享标准",
            "Data Quality and Sharing Standard",
            catalog.quality_version,
            {},
            _HEADER_KEYS | {"classification_levels", "quality_dimensions", "personal_tracks"},
        ),
        standard_version=catalog.standard_version,
        tracks=_tracks(header.get("personal_tracks") or {}),
        levels_table=_levels_table(levels, catalog) if levels else "",
        dimensions_table=_table(
            ["dimension", "名称", "definition"],
            [[_code(d["id"]), _fmt(d.get("name_zh")), _fmt(d.get("definition"))] for d in dims],
        )
        if dims
        else "",
        actions=list(_ACTIONS.items()),
        severities_table=_table(
            ["severity", "what a violation does"], [[k, v] for k, v in _ACTIONS.items()]
        ),
        rules_table=_table(
            ["rule", "severity", "kind", "title", "applies to"],
            [
                [
                    _link("rule", r.id),
                    r.severity,
                    _code(r.kind),
                    r.title,
                    "always" if r.always else _count(len(_rule_sources(catalog, r)), "source"),
                ]
                for r in catalog.rules.values()
            ],
        ),
        rules=[_rule_context(catalog, r) for r in catalog.rules.values()],
        sources_table=_table(
            ["source", "中文名称", "system", "delivery", "cadence", "checks"],
            [
                [
                    _link("src", s.id),
                    s.title_zh,
                    _fmt(s.system),
                    f"{s.delivery.kind} {_fmt(s.delivery.format) if s.delivery.format else ''}",
                    _fmt(s.delivery.cadence),
                    str(len(compile_checks(catalog, s))),
                ]
                for s in catalog.sources.values()
            ],
        ),
        sources=[_source_context(catalog, s) for s in catalog.sources.values()],
        datasets=[
            _dataset_context(catalog, d)
            for d in sorted(catalog.datasets.values(), key=lambda d: d.id)
        ],
        interfaces=[
            _interface_context(catalog, i)
            for i in sorted(catalog.interfaces.values(), key=lambda i: i.id)
        ],
    )


def render_all(catalog: Catalog) -> dict[str, str]:
    """``{repository-relative path: Markdown}`` for both standards."""
    return {
        ELEMENT_DOC: render_element_standard(catalog),
        QUALITY_DOC: render_quality_standard(catalog),
    }
