"""Sources (``data_standards/sources/<id>.yaml``): a feed, its delivery, columns and rules.

A source's file is all it takes to add a feed: its ingest DAG, checks and silver table follow
from what is declared and checked here, and so does its synthetic stand-in (the ``generator:``
block says what the columns cannot: whose vehicles and people, which hours, how files split).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from enforcement_brain.declarations.elements import TYPES, Element
from enforcement_brain.declarations.reading import ID, as_tuple, need, quality_block, read_yaml
from enforcement_brain.declarations.rules import Rule
from enforcement_brain.errors import DeclarationError


@dataclass(frozen=True)
class Column:
    """A source column and the data element it carries."""

    name: str
    type: str
    element: str
    required: bool = False


@dataclass(frozen=True)
class Delivery:
    """How and where the source system delivers: files, database rows or objects."""

    kind: str  # file | database | objects
    format: str | None = None  # csv | jsonl (files and objects)
    encoding: str = "utf-8"
    pattern: str = "*"
    bucket: str | None = None  # objects: the bucket the source system writes to
    prefix: str | None = None  # objects: key prefix, with {yyyy} {mm} {dd} for the day
    table: str | None = None  # database table
    watermark: str | None = None  # database incremental column
    cadence: str = "daily"


#: Traffic profiles of generated event times (the hours of the day rows fall in).
GENERATOR_HOURS = ("truck", "car", "office")
_GENERATOR_CHOICES = {
    "vehicles": ("truck", "car", "taxi"),
    "people": ("public", "officer"),
    "hours": GENERATOR_HOURS,
}
_KEY_PREFIX = re.compile(r"^[A-Z]{1,4}$")


@dataclass(frozen=True)
class GeneratorSettings:
    """How the synthetic generator draws the source where its columns cannot say (``generator:``).

    Declared with the source, so a new feed gets its stand-in without a table in code; every
    key is optional and the defaults fit a truck-event feed.
    """

    #: Whose vehicles the rows are about: ``truck`` (the goods fleet), ``car`` (any car: private,
    #: ride-hailing, taxi) or ``taxi`` (the city's cruising taxis, a fixed part of the cars).
    vehicles: str = "truck"
    #: Whose people the rows name: ``public``, or ``officer`` for the officers' own records.
    people: str = "public"
    #: Profile of event times (:data:`GENERATOR_HOURS`); none: ``office`` for a front database,
    #: ``truck`` otherwise.
    hours: str | None = None
    #: Prefix of generated ids; none: the initials of the source id.
    key_prefix: str | None = None
    #: A column whose values each get a file of their own (one file per toll station).
    split_by: str | None = None
    #: Share of rows positioned beyond Xuzhou (vehicles on their way to or from other cities);
    #: only for sources whose positions may lie anywhere (``positions.within: anywhere``).
    outside_share: float = 0.0
    #: Share of rows whose flag column is true, by column (a flag is otherwise true 60 % of the
    #: time): a joint action is a rare task, a receipt is nearly always handed to disposal.
    flag_shares: dict[str, float] = field(default_factory=dict)
    #: Inclusive range of a count column, by column (otherwise 1-40): officers sent on a task.
    count_ranges: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: References drawn from a month's few records, by column: ``{plan_id: 45}`` has the tasks
    #: of a month name one of its 45 monthly plans (``<initials><yyyymm><seq>``).
    monthly_refs: dict[str, int] = field(default_factory=dict)
    #: Share of clean rows in which an optional column is filled, by column (otherwise all):
    #: most inspections are of a vehicle and name no enterprise.
    filled_shares: dict[str, float] = field(default_factory=dict)


#: Where a source's positions may lie: ``xuzhou`` (an ``in_area`` rule quarantines the rest)
#: or ``anywhere``.
POSITION_BOUNDS = ("xuzhou", "anywhere")


@dataclass(frozen=True)
class PositionScope:
    """Where a source's positions may lie and why (``positions:``): declared by every source
    with coordinates, because a position outside the city is a defect for a fixed site or an
    officer on duty and data for a vehicle the provincial platform follows wherever it goes."""

    within: str
    why: str


@dataclass(frozen=True)
class Source:
    """One declared feed: its delivery, columns, key, event time and rules."""

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
    generator: GeneratorSettings = field(default_factory=GeneratorSettings)
    positions: PositionScope | None = None

    @property
    def column_names(self) -> list[str]:
        """The declared column names, in file order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        """The declared column called ``name``."""
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


def load_source(path: Path, elements: dict[str, Element], rules: dict[str, Rule]) -> Source:
    """One source declaration, checked against the elements and rules it names.

    Key, event time and watermark must be declared columns, and every rule must find the
    elements it checks: otherwise the ingest DAG would fail on the first delivery.
    """
    data = read_yaml(path)
    sid = need(data, "id", str(path))
    where = f"{path} (source {sid})"
    if not ID.match(sid) or sid != path.stem:
        raise DeclarationError(f"{where}: id must be snake_case and equal the file name")
    columns = []
    for raw in need(data, "columns", where):
        cwhere = f"{where}: column {raw.get('name')}"
        if raw.get("element") not in elements:
            raise DeclarationError(f"{cwhere}: unknown element '{raw.get('element')}'")
        if raw.get("type") not in TYPES:
            raise DeclarationError(f"{cwhere}: type must be one of {', '.join(TYPES)}")
        columns.append(Column(raw["name"], raw["type"], raw["element"], bool(raw.get("required"))))
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise DeclarationError(f"{where}: a column is declared twice")
    key = as_tuple(need(data, "business_key", where))
    for k in (*key, need(data, "event_time", where)):
        if k not in names:
            raise DeclarationError(f"{where}: '{k}' is not a declared column")
    rule_ids = as_tuple(data.get("rules"))
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
    delivery = dict(need(data, "delivery", where))
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
    quality = quality_block(data, where)
    if delivery["kind"] == "database" and not (delivery.get("table") and delivery.get("watermark")):
        raise DeclarationError(f"{where}: a database delivery needs 'table' and 'watermark'")
    if delivery["kind"] == "database" and delivery["watermark"] not in names:
        # The late-row sweep tells row versions apart by (business key, watermark) in bronze.
        raise DeclarationError(
            f"{where}: watermark '{delivery['watermark']}' is not a declared column"
        )
    positions = position_scope(data, where, columns, [rules[r] for r in rule_ids])
    generator = generator_settings(data, where, names)
    if generator.outside_share and (positions is None or positions.within != "anywhere"):
        raise DeclarationError(f"{where}: generator.outside_share needs positions.within: anywhere")
    return Source(
        id=sid,
        title=need(data, "title", where),
        title_zh=data.get("title_zh", ""),
        system=need(data, "system", where),
        owner=data.get("owner", ""),
        delivery=Delivery(**delivery),
        schedule=data.get("schedule", "@daily"),
        grain=need(data, "grain", where),
        business_key=key,
        event_time=data["event_time"],
        expected_daily_rows=int(data.get("expected_daily_rows", 0)),
        columns=tuple(columns),
        rule_ids=rule_ids,
        path=path,
        quality=quality,
        generator=generator,
        positions=positions,
    )


def position_scope(
    data: dict[str, Any], where: str, columns: list[Column], rules: list[Rule]
) -> PositionScope | None:
    """A source's ``positions:`` block, checked against its columns and rules.

    A source with coordinates must say where they may lie, and an ``in_area`` rule must apply
    exactly when it says ``xuzhou``: the rule list and the stated reason cannot drift apart.
    """
    raw = data.get("positions")
    has_coordinates = any(c.element in ("longitude", "latitude") for c in columns)
    if raw is None:
        if has_coordinates:
            raise DeclarationError(
                f"{where}: longitude/latitude columns need a positions block "
                f"(within: {' | '.join(POSITION_BOUNDS)}, why: ...)"
            )
        return None
    if not has_coordinates:
        raise DeclarationError(f"{where}: positions declared without longitude/latitude columns")
    if not isinstance(raw, dict) or set(raw) != {"within", "why"}:
        raise DeclarationError(f"{where}: positions needs exactly 'within' and 'why'")
    if raw["within"] not in POSITION_BOUNDS:
        raise DeclarationError(
            f"{where}: positions.within must be one of {', '.join(POSITION_BOUNDS)}"
        )
    if not str(raw["why"] or "").strip():
        raise DeclarationError(f"{where}: positions.why must say why")
    from enforcement_brain.standards.rule_kinds import kind_of

    area_rules = [r.id for r in rules if kind_of(r).binds_positions]
    if raw["within"] == "xuzhou" and not area_rules:
        raise DeclarationError(
            f"{where}: positions.within is 'xuzhou' but no in_area rule checks it"
        )
    if raw["within"] == "anywhere" and area_rules:
        raise DeclarationError(
            f"{where}: positions.within is 'anywhere' but rule {area_rules[0]} checks that they "
            "lie in Xuzhou"
        )
    return PositionScope(within=raw["within"], why=str(raw["why"]).strip())


def generator_settings(data: dict[str, Any], where: str, names: list[str]) -> GeneratorSettings:
    """A source's ``generator:`` block, checked: a typo would otherwise silently generate the
    source with the defaults (trucks, the public, one file)."""
    raw = data.get("generator") or {}
    if not isinstance(raw, dict):
        raise DeclarationError(f"{where}: generator must be a mapping")
    unknown = set(raw) - set(GeneratorSettings.__dataclass_fields__)
    if unknown:
        raise DeclarationError(f"{where}: unknown generator keys {sorted(unknown)}")
    for key, choices in _GENERATOR_CHOICES.items():
        if key in raw and raw[key] not in choices:
            raise DeclarationError(f"{where}: generator.{key} must be one of {', '.join(choices)}")
    share = raw.get("outside_share", 0.0)
    if not isinstance(share, (int, float)) or isinstance(share, bool) or not 0 <= share < 1:
        raise DeclarationError(f"{where}: generator.outside_share must be a number in [0, 1)")
    prefix = raw.get("key_prefix")
    if prefix is not None and not _KEY_PREFIX.match(str(prefix)):
        raise DeclarationError(f"{where}: generator.key_prefix must be 1-4 capital letters")
    split = raw.get("split_by")
    if split is not None and split not in names:
        raise DeclarationError(f"{where}: generator.split_by '{split}' is not a declared column")
    for key in ("flag_shares", "count_ranges", "monthly_refs", "filled_shares"):
        block = raw.get(key) or {}
        if not isinstance(block, dict) or set(block) - set(names):
            raise DeclarationError(f"{where}: generator.{key} must map declared columns")
    for key in ("flag_shares", "filled_shares"):
        for col, value in (raw.get(key) or {}).items():
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number or not 0 <= value <= 1:
                raise DeclarationError(f"{where}: generator.{key}.{col} must be a share in [0, 1]")
    ranges = {}
    for col, value in (raw.get("count_ranges") or {}).items():
        if not (isinstance(value, list) and len(value) == 2 and 0 <= value[0] <= value[1]):
            raise DeclarationError(f"{where}: generator.count_ranges.{col} must be [low, high]")
        ranges[col] = (int(value[0]), int(value[1]))
    if ranges:
        raw = {**raw, "count_ranges": ranges}
    for col, value in (raw.get("monthly_refs") or {}).items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise DeclarationError(f"{where}: generator.monthly_refs.{col} must be a positive int")
    return GeneratorSettings(**raw)
