"""Load and validate everything declared in ``data_standards/``.

Sources, data elements, rules, shared datasets and interfaces are declarations (YAML), not code:
adding a source means writing its file, and the DAGs, checks and tables follow from it. Every
problem is reported as a :class:`DeclarationError` naming the file and the entry, so a bad
declaration fails the build instead of a load.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from enforcement_brain.errors import DeclarationError

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

SEVERITIES = ("warn", "quarantine", "fail")
TYPES = ("string", "int", "bigint", "double", "boolean", "date", "timestamp")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Element:
    id: str
    name_zh: str
    type: str
    code_table: str | None = None
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    format: str | None = None
    follows: str | None = None
    classification: str | None = None
    description: str = ""
    name_en: str | None = None
    check: str | None = None  # the check algorithm, in words (e.g. "GB 32100 check character")
    pattern: str | None = None  # the format, in words or as a regex


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: str
    kind: str
    params: dict[str, Any]
    elements: tuple[str, ...] = ()
    always: bool = False
    #: Elements a row rule reads together (coordinates, consistency); a source that lists the
    #: rule must have exactly one column of each.
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    element: str
    required: bool = False


@dataclass(frozen=True)
class Delivery:
    kind: str  # file | database | objects
    format: str | None = None  # csv | jsonl (files and objects)
    encoding: str = "utf-8"
    pattern: str = "*"
    bucket: str | None = None  # objects: the bucket the source system writes to
    prefix: str | None = None  # objects: key prefix, with {yyyy} {mm} {dd} for the day
    table: str | None = None  # database table
    watermark: str | None = None  # database incremental column
    cadence: str = "daily"


@dataclass(frozen=True)
class Source:
    id: str
    title: str
    title_zh: str
    system: str
    owner: str
    delivery: Delivery
    schedule: str
    grain: str
    business_key: tuple[str, ...]
    event_time: str
    expected_daily_rows: int
    columns: tuple[Column, ...]
    rule_ids: tuple[str, ...]
    path: Path
    quality: dict[str, Any] = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def datum_columns(self) -> tuple[str, list[tuple[str, str]]] | None:
        """The column flagging the datum of the positions (element ``coord_system``) and the
        (longitude, latitude) pairs it covers, k-th with k-th; None without a flag."""
        by_element: dict[str, list[str]] = {}
        for c in self.columns:
            by_element.setdefault(c.element, []).append(c.name)
        if "coord_system" not in by_element:
            return None
        lons, lats = by_element.get("longitude", []), by_element.get("latitude", [])
        return by_element["coord_system"][0], list(zip(lons, lats, strict=False))


@dataclass(frozen=True)
class GateCheck:
    id: str
    title: str
    expr: str


@dataclass(frozen=True)
class Dataset:
    id: str
    title: str
    title_zh: str
    grain: str
    owner: str
    classification: str
    sources: tuple[str, ...]
    partition_by: str
    business_key: tuple[str, ...]
    change_data_feed: bool
    gate: tuple[GateCheck, ...]
    path: Path
    refresh: str = ""
    quality: dict[str, Any] = field(default_factory=dict)
    #: Per source, the column whose local date places a row in the dataset's partitions (default
    #: ``biz_date``). Records updated in place (cases, tickets, tasks) keep a stable date here,
    #: so a late update rebuilds the partition the record belongs to and never leaves a stale copy.
    date_columns: dict[str, str] = field(default_factory=dict)
    #: Sources read whole at every publish (registers, lists, permits): they describe the state
    #: the events are judged against, so they neither drive nor restrict the affected partitions.
    reference: tuple[str, ...] = ()
    #: ``day``: one partition per date; ``month``: one per month (partition value = first day).
    period: str = "day"
    #: The builder's declared parameters (codes it selects, mappings): kept with the declaration.
    params: dict[str, Any] = field(default_factory=dict)
    #: The builder's output columns, in order: what an interface may share, checked at publish.
    columns: tuple[str, ...] = ()
    #: Data elements of columns not named after their element (``lon: longitude``); a column
    #: named like an element (``plate_no``) carries that element without being listed.
    elements: dict[str, str] = field(default_factory=dict)

    def element_of(self, column: str, known: dict[str, Element]) -> Element | None:
        """The data element a column carries (its classification decides its masking)."""
        eid = self.elements.get(column, column)
        return known.get(eid)

    @property
    def driving_sources(self) -> tuple[str, ...]:
        """Sources whose deliveries decide which partitions a publish rebuilds."""
        return tuple(s for s in self.sources if s not in self.reference)

    def date_column(self, source_id: str) -> str:
        return self.date_columns.get(source_id, "biz_date")

    @property
    def sql_path(self) -> Path:
        """The dataset's Spark SQL, beside its declaration: one SELECT over ``silver.*``."""
        return self.path.with_suffix(".sql")

    @property
    def sql(self) -> str:
        return self.sql_path.read_text(encoding="utf-8")


PERIODS = ("day", "month")


@dataclass(frozen=True)
class InterfaceDataset:
    dataset: str
    columns: tuple[str, ...]
    masks: dict[str, str]
    row_filter: str | None
    #: Columns of an L2 element shared in clear, each with the purpose that needs it (Standard 2,
    #: L2: "masked unless the interface's purpose needs them in clear").
    clear: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Interface:
    id: str
    title: str
    title_zh: str
    consumer: str
    datasets: tuple[InterfaceDataset, ...]
    quota: dict[str, int]
    token_lifetime_days: int
    path: Path
    #: The highest classification level the consumer may receive (L1-L4).
    clearance: str = "L1"


@dataclass(frozen=True)
class Catalog:
    """Everything declared, cross-checked."""

    element_version: str
    quality_version: str
    elements: dict[str, Element]
    rules: dict[str, Rule]
    sources: dict[str, Source]
    datasets: dict[str, Dataset]
    interfaces: dict[str, Interface]
    root: Path
    element_standard: dict[str, Any] = field(default_factory=dict)
    quality_standard: dict[str, Any] = field(default_factory=dict)

    @property
    def standard_version(self) -> str:
        """One label for both standards, recorded with every ledger and quarantine row."""
        return f"DES-{self.element_version}/DQS-{self.quality_version}"

    def rules_for(self, source: Source) -> list[Rule]:
        """The rules that apply to a source: the always-on ones, then its own, in declared order."""
        always = [r for r in self.rules.values() if r.always]
        return always + [self.rules[r] for r in source.rule_ids if not self.rules[r].always]


def _read(path: Path) -> dict[str, Any]:
    try:
        # libyaml (C) when present: parsing every declaration is on the DAG-import path.
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise DeclarationError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise DeclarationError(f"{path}: expected a mapping at the top level")
    return data


def _need(data: dict[str, Any], key: str, where: str) -> Any:
    if key not in data or data[key] in (None, ""):
        raise DeclarationError(f"{where}: missing '{key}'")
    return data[key]


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (value,)


#: Top-level keys of a standard's file besides its entries: title, version, change log, references.
_HEADER_KEYS = ("standard", "title", "title_zh", "version", "changelog", "references")
#: Keys a source's ``quality`` block may set (Standard 2's per-source thresholds).
QUALITY_KEYS = {
    "completeness": float,
    "validity": float,
    "uniqueness": float,
    "freshness_hours": int,
    "retention_days": int,
    "classification": str,
}
CLASSIFICATION_LEVELS = ("L1", "L2", "L3", "L4")


def _header(data: dict[str, Any], path: Path) -> dict[str, Any]:
    header = {k: data[k] for k in _HEADER_KEYS if k in data}
    version = str(_need(data, "version", str(path)))
    log = data.get("changelog") or []
    if not log or str(log[0].get("version")) != version:
        raise DeclarationError(
            f"{path}: the change log must start with an entry for version {version}"
        )
    return header


def _load_elements(path: Path) -> tuple[dict[str, Any], dict[str, Element]]:
    data = _read(path)
    out: dict[str, Element] = {}
    for i, raw in enumerate(_need(data, "elements", str(path))):
        where = f"{path}: elements[{i}]"
        eid = _need(raw, "id", where)
        if eid in out:
            raise DeclarationError(f"{path}: element '{eid}' is declared twice")
        if raw.get("type") not in TYPES:
            raise DeclarationError(f"{where} ({eid}): type must be one of {', '.join(TYPES)}")
        level = raw.get("classification")
        if level is not None and level not in CLASSIFICATION_LEVELS:
            raise DeclarationError(
                f"{where} ({eid}): classification must be one of {', '.join(CLASSIFICATION_LEVELS)}"
            )
        known = set(Element.__dataclass_fields__)
        unknown = set(raw) - known
        if unknown:
            raise DeclarationError(f"{where} ({eid}): unknown keys {sorted(unknown)}")
        out[eid] = Element(**raw)
    header = _header(data, path)
    terms = data.get("definitions") or []
    seen: set[str] = set()
    for i, term in enumerate(terms):
        tid = term.get("id")
        if not tid or not term.get("definition"):
            raise DeclarationError(f"{path}: definitions[{i}] needs an 'id' and a 'definition'")
        if tid in seen:
            raise DeclarationError(f"{path}: definition '{tid}' is declared twice")
        seen.add(tid)
    header["definitions"] = terms
    return header, out


def _load_rules(path: Path, elements: dict[str, Element]) -> tuple[dict[str, Any], dict[str, Rule]]:
    # Each check kind reads and validates its own parameters (standards/rule_kinds).
    from enforcement_brain.standards.rule_kinds import kind_named

    data = _read(path)
    out: dict[str, Rule] = {}
    for i, raw in enumerate(_need(data, "rules", str(path))):
        where = f"{path}: rules[{i}]"
        rid = _need(raw, "id", where)
        where = f"{path}: rule {rid}"
        if rid in out:
            raise DeclarationError(f"{path}: duplicate rule id '{rid}'")
        severity = _need(raw, "severity", where)
        if severity not in SEVERITIES:
            raise DeclarationError(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
        check = dict(_need(raw, "check", where))
        kind = check.pop("kind", None)
        if not kind:
            raise DeclarationError(f"{where}: check needs a 'kind'")
        rule_kind = kind_named(kind, where)
        named = rule_kind.named_elements(check, where)
        for element in (*_as_tuple(raw.get("element")), *named):
            if element not in elements:
                raise DeclarationError(f"{where}: unknown element '{element}'")
        declared = [elements[e] for e in _as_tuple(raw.get("element"))]
        check = rule_kind.resolve_params(check, declared, where)
        out[rid] = Rule(
            id=rid,
            title=_need(raw, "title", where),
            severity=severity,
            kind=kind,
            params=check,
            elements=_as_tuple(raw.get("element")) or tuple(named),
            always=bool(raw.get("always", False)),
            requires=tuple(named),
        )
    header = _header(data, path)
    levels = data.get("classification_levels") or []
    from enforcement_brain.share.masking import MASKS

    for i, level in enumerate(levels):
        lwhere = f"{path}: classification_levels[{i}]"
        if level.get("level") not in CLASSIFICATION_LEVELS:
            raise DeclarationError(
                f"{lwhere}: level must be one of {', '.join(CLASSIFICATION_LEVELS)}"
            )
        for element, mask in (level.get("masks") or {}).items():
            if element not in elements:
                raise DeclarationError(f"{lwhere}: unknown element '{element}'")
            if mask not in MASKS:
                raise DeclarationError(
                    f"{lwhere}: unknown mask '{mask}' for {element}; masks are {sorted(MASKS)}"
                )
    masked = {level["level"]: set(level.get("masks") or {}) for level in levels}
    for element in elements.values():
        level = element.classification
        if levels and level and level != "L1" and element.id not in masked.get(level, set()):
            raise DeclarationError(
                f"{path}: element '{element.id}' is {level} but classification level {level} "
                "declares no mask for it"
            )
    header["classification_levels"] = levels
    dims = {d.get("id") for d in data.get("quality_dimensions") or []}
    if dims and dims != set(QUALITY_KEYS):
        raise DeclarationError(
            f"{path}: quality_dimensions must define exactly {sorted(QUALITY_KEYS)}"
        )
    header["quality_dimensions"] = data.get("quality_dimensions") or []
    return header, out


def _quality(data: dict[str, Any], where: str) -> dict[str, Any]:
    """A declaration's ``quality:`` block (Standard 2 thresholds), keys and types checked."""
    quality = dict(data.get("quality") or {})
    for name, value in quality.items():
        if name not in QUALITY_KEYS:
            raise DeclarationError(f"{where}: unknown quality key '{name}'")
        want = QUALITY_KEYS[name]
        if not isinstance(value, want) and not (want is float and isinstance(value, int)):
            raise DeclarationError(f"{where}: quality.{name} must be a {want.__name__}")
    return quality


def _load_source(path: Path, elements: dict[str, Element], rules: dict[str, Rule]) -> Source:
    data = _read(path)
    sid = _need(data, "id", str(path))
    where = f"{path} (source {sid})"
    if not _ID.match(sid) or sid != path.stem:
        raise DeclarationError(f"{where}: id must be snake_case and equal the file name")
    columns = []
    for raw in _need(data, "columns", where):
        cwhere = f"{where}: column {raw.get('name')}"
        if raw.get("element") not in elements:
            raise DeclarationError(f"{cwhere}: unknown element '{raw.get('element')}'")
        if raw.get("type") not in TYPES:
            raise DeclarationError(f"{cwhere}: type must be one of {', '.join(TYPES)}")
        columns.append(Column(raw["name"], raw["type"], raw["element"], bool(raw.get("required"))))
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise DeclarationError(f"{where}: a column is declared twice")
    key = _as_tuple(_need(data, "business_key", where))
    for k in (*key, _need(data, "event_time", where)):
        if k not in names:
            raise DeclarationError(f"{where}: '{k}' is not a declared column")
    rule_ids = _as_tuple(data.get("rules"))
    for rid in rule_ids:
        if rid not in rules:
            raise DeclarationError(f"{where}: unknown rule '{rid}'")
        rule = rules[rid]
        used = {c.element for c in columns}
        if rule.elements and not used.intersection(rule.elements):
            raise DeclarationError(
                f"{where}: rule {rid} checks {rule.elements}, not in this source"
            )
        for element in rule.requires:
            if sum(c.element == element for c in columns) != 1:
                raise DeclarationError(
                    f"{where}: rule {rid} needs exactly one column of element '{element}'"
                )
    delivery = dict(_need(data, "delivery", where))
    if delivery.get("kind") not in ("file", "database", "objects"):
        raise DeclarationError(f"{where}: delivery.kind must be file, database or objects")
    if delivery["kind"] != "database" and delivery.get("format") not in ("csv", "jsonl"):
        raise DeclarationError(f"{where}: delivery.format must be csv or jsonl")
    if delivery["kind"] == "objects" and not (delivery.get("bucket") and delivery.get("prefix")):
        raise DeclarationError(f"{where}: an objects delivery needs 'bucket' and 'prefix'")
    unknown = set(delivery) - set(Delivery.__dataclass_fields__)
    if unknown:
        raise DeclarationError(f"{where}: unknown delivery keys {sorted(unknown)}")
    try:
        "".encode(delivery.get("encoding", "utf-8"))
    except LookupError:
        raise DeclarationError(f"{where}: unknown encoding '{delivery['encoding']}'") from None
    quality = _quality(data, where)
    if delivery["kind"] == "database" and not (delivery.get("table") and delivery.get("watermark")):
        raise DeclarationError(f"{where}: a database delivery needs 'table' and 'watermark'")
    if delivery["kind"] == "database" and delivery["watermark"] not in names:
        # The late-row sweep tells row versions apart by (business key, watermark) in bronze.
        raise DeclarationError(
            f"{where}: watermark '{delivery['watermark']}' is not a declared column"
        )
    return Source(
        id=sid,
        title=_need(data, "title", where),
        title_zh=data.get("title_zh", ""),
        system=_need(data, "system", where),
        owner=data.get("owner", ""),
        delivery=Delivery(**delivery),
        schedule=data.get("schedule", "@daily"),
        grain=_need(data, "grain", where),
        business_key=key,
        event_time=data["event_time"],
        expected_daily_rows=int(data.get("expected_daily_rows", 0)),
        columns=tuple(columns),
        rule_ids=rule_ids,
        path=path,
        quality=quality,
    )


_DATASET_KEYS = {
    "id", "title", "title_zh", "grain", "owner", "classification", "sources",
    "refresh", "partition_by", "business_key", "change_data_feed", "quality", "gate",
    "date_columns", "reference", "period", "params", "columns", "elements",
}  # fmt: skip


def _level(level: str | None) -> int:
    """Order of a classification level (L1 = 1 ... L4 = 4; none = 0)."""
    return CLASSIFICATION_LEVELS.index(level) + 1 if level in CLASSIFICATION_LEVELS else 0


def _load_dataset(
    path: Path, sources: dict[str, Source], elements: dict[str, Element] | None = None
) -> Dataset:
    data = _read(path)
    did = _need(data, "id", str(path))
    where = f"{path} (dataset {did})"
    for sid in _as_tuple(_need(data, "sources", where)):
        if sid not in sources:
            raise DeclarationError(f"{where}: unknown source '{sid}'")
    unknown = set(data) - _DATASET_KEYS
    if unknown:
        raise DeclarationError(f"{where}: unknown keys {sorted(unknown)}")
    if not _ID.match(did) or did != path.stem:
        raise DeclarationError(f"{where}: id must be snake_case and equal the file name")
    declared = _as_tuple(data["sources"])
    gate = tuple(GateCheck(g["id"], g["title"], g["expr"]) for g in data.get("gate", []))
    if len({g.id for g in gate}) != len(gate):
        raise DeclarationError(f"{where}: duplicate gate id")
    level = data.get("classification", "L1")
    if level not in CLASSIFICATION_LEVELS:
        raise DeclarationError(
            f"{where}: classification must be one of {', '.join(CLASSIFICATION_LEVELS)}"
        )
    reference = _as_tuple(data.get("reference"))
    for sid in reference:
        if sid not in declared:
            raise DeclarationError(f"{where}: reference source '{sid}' is not in its sources")
    if not [s for s in declared if s not in reference]:
        raise DeclarationError(f"{where}: at least one source must not be a reference source")
    date_columns = dict(data.get("date_columns") or {})
    for sid, column in date_columns.items():
        if sid not in declared or sid in reference:
            raise DeclarationError(
                f"{where}: date_columns names '{sid}', not one of its non-reference sources"
            )
        if column == "biz_date":
            continue
        if column not in sources[sid].column_names:
            raise DeclarationError(f"{where}: '{column}' is not a column of source '{sid}'")
        if sources[sid].column(column).type not in ("date", "timestamp"):
            raise DeclarationError(f"{where}: date column '{sid}.{column}' is not a date or time")
    period = str(data.get("period", "day"))
    if period not in PERIODS:
        raise DeclarationError(f"{where}: period must be one of {', '.join(PERIODS)}")
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise DeclarationError(f"{where}: params must be a mapping")
    columns, column_elements = _dataset_columns(data, where, level, elements or {})
    _check_dataset_sql(path.with_suffix(".sql"), declared, where)
    return Dataset(
        id=did,
        title=_need(data, "title", where),
        title_zh=data.get("title_zh", ""),
        grain=_need(data, "grain", where),
        owner=data.get("owner", ""),
        classification=level,
        sources=declared,
        partition_by=_need(data, "partition_by", where),
        business_key=_as_tuple(_need(data, "business_key", where)),
        change_data_feed=bool(data.get("change_data_feed", True)),
        gate=gate,
        path=path,
        refresh=str(data.get("refresh", "")),
        quality=_quality(data, where),
        date_columns=date_columns,
        reference=reference,
        period=period,
        params=params,
        columns=columns,
        elements=column_elements,
    )


#: A silver table named in a dataset's SQL (``silver.<source>``).
SILVER_REF = re.compile(r"\bsilver\.(\w+)")


def _check_dataset_sql(sql_path: Path, declared: tuple[str, ...], where: str) -> None:
    """The SQL file exists and reads exactly the declared sources.

    The declaration's ``sources`` decide what a publish reads and which loads trigger it: a SQL
    that reads an undeclared table would run on a whole table nobody restricted, and a declared
    source it never reads would trigger publishes for nothing.
    """
    if not sql_path.is_file():
        raise DeclarationError(f"{where}: no SQL file {sql_path.name} beside the declaration")
    read = set(SILVER_REF.findall(sql_path.read_text(encoding="utf-8")))
    undeclared = sorted(read - set(declared))
    if undeclared:
        names = ", ".join(f"silver.{s}" for s in undeclared)
        raise DeclarationError(f"{where}: {sql_path.name} reads {names}, not among its sources")
    if set(declared) - read:
        raise DeclarationError(
            f"{where}: source(s) {', '.join(sorted(set(declared) - read))} are declared but "
            f"{sql_path.name} never reads them"
        )


def _check_params(datasets: dict[str, Dataset]) -> None:
    """A param is a SQL session variable: one name has one value across all datasets."""
    seen: dict[str, tuple[str, Any]] = {}
    for d in datasets.values():
        for name, value in d.params.items():
            if not _ID.match(name):
                raise DeclarationError(
                    f"{d.path} (dataset {d.id}): param '{name}' is not snake_case"
                )
            if name in seen and seen[name][1] != value:
                raise DeclarationError(
                    f"{d.path} (dataset {d.id}): param '{name}' differs from dataset "
                    f"{seen[name][0]}'s; a param name has one value (it is one SQL variable)"
                )
            seen.setdefault(name, (d.id, value))


def _dataset_columns(
    data: dict[str, Any], where: str, level: str, elements: dict[str, Element]
) -> tuple[tuple[str, ...], dict[str, str]]:
    """A dataset's declared output columns and their elements, cross-checked.

    The partition column and business key must be among them, and no column may carry an
    element classified above the dataset: the dataset's level is what interfaces are cleared
    against, so it must not understate what the table holds.
    """
    raw = data.get("columns")
    if raw is None:
        if data.get("elements"):
            raise DeclarationError(f"{where}: 'elements' needs a 'columns' list")
        return (), {}
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw) or not raw:
        raise DeclarationError(f"{where}: columns must be a list of column names")
    columns = tuple(raw)
    if len(set(columns)) != len(columns):
        dup = next(c for c in columns if columns.count(c) > 1)
        raise DeclarationError(f"{where}: column '{dup}' is declared twice")
    for key in (data.get("partition_by"), *_as_tuple(data.get("business_key"))):
        if key not in columns:
            raise DeclarationError(f"{where}: '{key}' (partition or key) is not in its columns")
    mapping = dict(data.get("elements") or {})
    for column, eid in mapping.items():
        if column not in columns:
            raise DeclarationError(f"{where}: elements names '{column}', not one of its columns")
        if eid not in elements:
            raise DeclarationError(f"{where}: column {column}: unknown element '{eid}'")
    if elements:
        for column in columns:
            element = elements.get(mapping.get(column, column))
            if element and _level(element.classification) > _level(level):
                raise DeclarationError(
                    f"{where}: column {column} carries element '{element.id}' "
                    f"({element.classification}), above the dataset's classification {level}"
                )
    return columns, mapping


#: Levels whose elements an interface may receive in clear when its purpose needs them. Standard
#: 2, L2: "plates and precise positions are masked unless the interface's purpose needs them in
#: clear"; L3 (names, phones) has no such exception, L4 is "never shared in clear".
CLEAR_ALLOWED_LEVELS = ("L2",)
_INTERFACE_KEYS = {
    "id", "title", "title_zh", "consumer", "clearance", "datasets", "quota", "token_lifetime_days",
}  # fmt: skip
_ENTRY_KEYS = {"dataset", "columns", "masks", "clear", "row_filter"}
_QUOTA_KEYS = ("requests_per_minute", "rows_per_day")
#: Words of Spark SQL a row filter may use besides column names (functions are followed by "(").
_SQL_WORDS = frozenset({
    "and", "or", "not", "in", "is", "null", "like", "rlike", "ilike", "regexp", "between", "true",
    "false", "case", "when", "then", "else", "end", "distinct", "date", "timestamp", "interval",
    "as", "cast", "string", "int", "bigint", "double", "boolean",
})  # fmt: skip
_SQL_STRING = re.compile(r"'(?:[^']|'')*'")
_SQL_NAME = re.compile(r"(?<![\w.])([A-Za-z_][A-Za-z0-9_]*)(\s*\()?")


def filter_columns(expr: str) -> set[str]:
    """Column names a row filter reads: identifiers that are neither SQL words, functions nor
    inside string literals. Pure Python, so a typo fails the declaration, not a nightly task."""
    bare = _SQL_STRING.sub("''", expr)
    return {
        m.group(1)
        for m in _SQL_NAME.finditer(bare)
        if not m.group(2) and m.group(1).lower() not in _SQL_WORDS
    }


def level_masks(levels: list[dict[str, Any]]) -> dict[str, str]:
    """Standard 2's mask for each classified element, from its classification levels."""
    return {e: m for level in levels for e, m in (level.get("masks") or {}).items()}


def _load_interface(
    path: Path,
    datasets: dict[str, Dataset],
    elements: dict[str, Element] | None = None,
    masks_by_element: dict[str, str] | None = None,
) -> Interface:
    """One interface declaration, checked against the datasets and Standard 2.

    Every check here is one that would otherwise surface as a leak or a failed share task: a
    column the dataset does not have, a mask nobody implements, a dataset above the
    consumer's clearance, personal data left in clear, a projection that cannot be replaced
    by partition.
    """
    from enforcement_brain.share.masking import MASKS

    elements = elements or {}
    masks_by_element = masks_by_element or {}
    data = _read(path)
    iid = _need(data, "id", str(path))
    where = f"{path} (interface {iid})"
    if not _ID.match(str(iid)) or iid != path.stem:
        raise DeclarationError(f"{where}: id must be snake_case and equal the file name")
    unknown = set(data) - _INTERFACE_KEYS
    if unknown:
        raise DeclarationError(f"{where}: unknown keys {sorted(unknown)}")
    clearance = _need(data, "clearance", where)
    if clearance not in CLASSIFICATION_LEVELS:
        raise DeclarationError(
            f"{where}: clearance must be one of {', '.join(CLASSIFICATION_LEVELS)}"
        )
    quota = dict(data.get("quota") or {})
    for key in _QUOTA_KEYS:
        value = quota.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise DeclarationError(f"{where}: quota.{key} must be a positive integer")
    if set(quota) - set(_QUOTA_KEYS):
        raise DeclarationError(
            f"{where}: unknown quota keys {sorted(set(quota) - set(_QUOTA_KEYS))}"
        )
    lifetime = data.get("token_lifetime_days", 90)
    if not isinstance(lifetime, int) or isinstance(lifetime, bool) or not 0 < lifetime <= 366:
        raise DeclarationError(f"{where}: token_lifetime_days must be an integer from 1 to 366")
    entries = []
    seen: set[str] = set()
    for raw in _need(data, "datasets", where):
        entries.append(
            _interface_entry(raw, where, clearance, datasets, elements, masks_by_element, MASKS)
        )
        if entries[-1].dataset in seen:
            raise DeclarationError(f"{where}: dataset '{entries[-1].dataset}' is listed twice")
        seen.add(entries[-1].dataset)
    return Interface(
        id=iid,
        title=_need(data, "title", where),
        title_zh=data.get("title_zh", ""),
        consumer=_need(data, "consumer", where),
        datasets=tuple(entries),
        quota=quota,
        token_lifetime_days=lifetime,
        path=path,
        clearance=clearance,
    )


def _interface_entry(
    raw: dict[str, Any],
    where: str,
    clearance: str,
    datasets: dict[str, Dataset],
    elements: dict[str, Element],
    masks_by_element: dict[str, str],
    known_masks: frozenset[str],
) -> InterfaceDataset:
    if not isinstance(raw, dict) or raw.get("dataset") not in datasets:
        name = raw.get("dataset") if isinstance(raw, dict) else raw
        raise DeclarationError(f"{where}: unknown dataset '{name}'")
    dataset = datasets[raw["dataset"]]
    where = f"{where}: dataset {dataset.id}"
    unknown = set(raw) - _ENTRY_KEYS
    if unknown:
        raise DeclarationError(f"{where}: unknown keys {sorted(unknown)}")
    if _level(dataset.classification) > _level(clearance):
        raise DeclarationError(
            f"{where}: classified {dataset.classification}, above the interface's clearance "
            f"{clearance}"
        )
    columns = _as_tuple(_need(raw, "columns", where))
    if len(set(columns)) != len(columns):
        raise DeclarationError(f"{where}: a column is listed twice")
    if dataset.columns:
        for column in columns:
            if column not in dataset.columns:
                raise DeclarationError(
                    f"{where}: column '{column}' is not a column of dataset {dataset.id}"
                )
    if dataset.partition_by not in columns:
        raise DeclarationError(
            f"{where}: columns must include the partition column '{dataset.partition_by}' "
            "(increments are replaced by partition)"
        )
    masks = dict(raw.get("masks") or {})
    for column, mask in masks.items():
        if mask not in known_masks:
            raise DeclarationError(
                f"{where}: unknown mask '{mask}' for column {column}; "
                f"masks are {sorted(known_masks)}"
            )
        if column not in columns:
            raise DeclarationError(f"{where}: masked column {column} is not in the allowlist")
    clear = {str(k): str(v or "").strip() for k, v in (raw.get("clear") or {}).items()}
    for column, purpose in clear.items():
        if column not in columns:
            raise DeclarationError(f"{where}: clear column {column} is not in the allowlist")
        if column in masks:
            raise DeclarationError(f"{where}: column {column} is both masked and clear")
        if not purpose:
            raise DeclarationError(
                f"{where}: clear column {column} needs the purpose that needs it"
            )
    for column in columns:
        element = dataset.element_of(column, elements)
        level = element.classification if element else None
        if _level(level) < 2 or element is None:
            if column in clear:
                raise DeclarationError(
                    f"{where}: column {column} is not personal data; 'clear' is for L2 columns"
                )
            continue
        if column in clear:
            if level not in CLEAR_ALLOWED_LEVELS:
                raise DeclarationError(
                    f"{where}: column {column} ({element.id}, {level}) may never be shared in "
                    f"clear (Standard 2: only {', '.join(CLEAR_ALLOWED_LEVELS)} for a purpose)"
                )
            continue
        want = masks_by_element.get(element.id)
        if column not in masks:
            raise DeclarationError(
                f"{where}: column {column} ({element.id}, {level}) must be masked with "
                f"'{want}' or left out"
                + (
                    " (or listed under clear: with its purpose)"
                    if level in CLEAR_ALLOWED_LEVELS
                    else ""
                )
            )
        if want and masks[column] not in (want, "redact"):
            raise DeclarationError(
                f"{where}: column {column} ({element.id}, {level}) needs mask '{want}' or "
                f"'redact', not '{masks[column]}'"
            )
    row_filter = raw.get("row_filter")
    if row_filter is not None:
        if not isinstance(row_filter, str) or not row_filter.strip():
            raise DeclarationError(f"{where}: row_filter must be a SQL condition")
        if dataset.columns:
            stray = sorted(filter_columns(row_filter) - set(dataset.columns))
            if stray:
                raise DeclarationError(
                    f"{where}: row_filter reads {', '.join(repr(c) for c in stray)}, not a "
                    f"column of dataset {dataset.id}"
                )
    return InterfaceDataset(dataset.id, columns, masks, row_filter, clear)


@lru_cache(maxsize=8)
def load_catalog(root: Path) -> Catalog:
    """Load every declaration under ``root`` (``data_standards/``); cached per folder."""
    root = Path(root)
    if not root.is_dir():
        raise DeclarationError(f"{root}: the data_standards folder does not exist")
    element_standard, elements = _load_elements(root / "elements.yaml")
    quality_standard, rules = _load_rules(root / "quality" / "rules.yaml", elements)
    from enforcement_brain.standards.code_tables import load_code_table

    for element in elements.values():
        if element.code_table:
            try:
                load_code_table(root, element.code_table)
            except DeclarationError as exc:
                raise DeclarationError(f"element {element.id}: {exc}") from None
    sources = {
        s.id: s
        for s in (_load_source(p, elements, rules) for p in sorted(root.glob("sources/*.yaml")))
    }
    datasets = {
        d.id: d
        for d in (_load_dataset(p, sources, elements) for p in sorted(root.glob("datasets/*.yaml")))
    }
    _check_params(datasets)
    masks = level_masks(quality_standard.get("classification_levels") or [])
    interfaces = {
        i.id: i
        for i in (
            _load_interface(p, datasets, elements, masks)
            for p in sorted(root.glob("interfaces/*.yaml"))
        )
    }
    return Catalog(
        str(element_standard["version"]),
        str(quality_standard["version"]),
        elements,
        rules,
        sources,
        datasets,
        interfaces,
        root,
        element_standard,
        quality_standard,
    )
