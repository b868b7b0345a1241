"""Interfaces (``data_standards/interfaces/<id>.yaml``): what a consumer may receive.

An interface lists datasets, the columns shared, their masks and row filters, checked against the
datasets and Standard 2 here, so a leak is a declaration error and not a shared file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from enforcement_brain.declarations.datasets import Dataset
from enforcement_brain.declarations.elements import Element
from enforcement_brain.declarations.reading import (
    CLASSIFICATION_LEVELS,
    ID,
    as_tuple,
    level_rank,
    need,
    read_yaml,
)
from enforcement_brain.declarations.rules import PersonalTracks
from enforcement_brain.errors import DeclarationError


@dataclass(frozen=True)
class InterfaceDataset:
    """One dataset as an interface shares it: columns, masks, clear columns and row filter."""

    dataset: str
    columns: tuple[str, ...]
    masks: dict[str, str]
    row_filter: str | None
    #: Columns of an L2 element shared in clear, each with the purpose that needs it (Standard 2,
    #: L2: "masked unless the interface's purpose needs them in clear").
    clear: dict[str, str] = field(default_factory=dict)
    #: 共享属性 (《政务信息资源共享管理暂行办法》 国发〔2016〕51号 第九条): 无条件共享 or
    #: 有条件共享 (不予共享 data is in no interface).
    share_type: str = ""
    #: What the consumer must keep to for 有条件共享 (the use it is shared for); else "".
    share_condition: str = ""


@dataclass(frozen=True)
class Recipient:
    """One receiving agency of an interface declared with ``recipients:``: the area it acts
    for, and the values its row filters read through ``{placeholders}``."""

    id: str
    consumer: str
    #: GB/T 2260 code of the agency's area.
    area: str
    #: GA 36 issuing regions (province character + office letter, as ``plate_region()``
    #: returns them) of the plates registered in that area.
    plate_regions: tuple[str, ...]

    def placeholders(self) -> dict[str, str]:
        """``{name}`` of a row filter → the recipient's value as a Spark SQL literal."""
        from enforcement_brain.standards.sql_library import sql_literal

        return {"area": sql_literal(self.area), "plate_regions": sql_literal(self.plate_regions)}


@dataclass(frozen=True)
class Interface:
    """One consumer's interface: its datasets, quota, token lifetime and clearance.

    An interface file with ``recipients:`` declares one interface per recipient
    (``<file id>_<recipient id>``): each has its own tokens, quota and partition of the share
    tables, and its row filters read that recipient's area, so no recipient can be served
    another's rows.
    """

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
    #: The receiving agency, for an interface declared per recipient; else None.
    recipient: Recipient | None = None
    #: The declaration file's id: the interface itself, or the one its recipients share (one
    #: share DAG projects them all).
    family: str = ""


#: Levels whose elements an interface may receive in clear when its purpose needs them. Standard
#: 2, L2: "plates and precise positions are masked unless the interface's purpose needs them in
#: clear"; L3 (names, phones) has no such exception, L4 is "never shared in clear".
CLEAR_ALLOWED_LEVELS = ("L2",)
_INTERFACE_KEYS = {
    "id", "title", "title_zh", "consumer", "clearance", "datasets", "quota", "token_lifetime_days",
    "recipients",
}  # fmt: skip
_RECIPIENT_KEYS = {"id", "consumer", "area", "plate_regions"}
#: ``{name}`` in a row filter: a value of the recipient the interface is declared for.
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_AREA = re.compile(r"^[1-8][0-9]{5}$")
_ENTRY_KEYS = {
    "dataset", "columns", "masks", "clear", "row_filter", "share_type", "share_condition",
}  # fmt: skip
#: 共享属性 of 国发〔2016〕51号 第九条: shared with every department / with some, on a condition /
#: not shared.
SHARE_TYPES = ("无条件共享", "有条件共享", "不予共享")
UNCONDITIONAL, CONDITIONAL, NOT_SHARED = SHARE_TYPES
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


def load_interface(
    path: Path,
    datasets: dict[str, Dataset],
    elements: dict[str, Element] | None = None,
    masks_by_element: dict[str, str] | None = None,
    tracks: PersonalTracks | None = None,
) -> Interface:
    """The one interface of a declaration without ``recipients:`` (see :func:`load_interfaces`)."""
    found = load_interfaces(path, datasets, elements, masks_by_element, tracks)
    if len(found) != 1:
        raise DeclarationError(f"{path}: declares {len(found)} interfaces (one per recipient)")
    return found[0]


def load_recipients(raw: Any, where: str) -> list[Recipient]:
    """The ``recipients:`` of an interface file: ids, consumers and areas, each checked."""
    if not isinstance(raw, list) or not raw:
        raise DeclarationError(f"{where}: recipients must be a non-empty list")
    out: list[Recipient] = []
    for i, entry in enumerate(raw):
        rwhere = f"{where}: recipients[{i}]"
        if not isinstance(entry, dict):
            raise DeclarationError(f"{rwhere}: must be a mapping")
        unknown = set(entry) - _RECIPIENT_KEYS
        if unknown:
            raise DeclarationError(f"{rwhere}: unknown keys {sorted(unknown)}")
        rid = str(need(entry, "id", rwhere))
        if not ID.match(rid) or rid in {r.id for r in out}:
            raise DeclarationError(f"{rwhere}: id {rid!r} must be snake_case and unique")
        area = str(need(entry, "area", rwhere))
        if not _AREA.match(area):
            raise DeclarationError(f"{rwhere} ({rid}): area must be a GB/T 2260 code")
        regions = as_tuple(need(entry, "plate_regions", rwhere))
        if not regions or any(not isinstance(r, str) or len(r) != 2 for r in regions):
            raise DeclarationError(
                f"{rwhere} ({rid}): plate_regions must list GA 36 regions such as 鲁Q"
            )
        taken = {x for r in out for x in r.plate_regions} & set(regions)
        if taken:
            raise DeclarationError(
                f"{rwhere} ({rid}): plate regions {sorted(taken)} belong to another recipient"
            )
        out.append(Recipient(rid, str(need(entry, "consumer", rwhere)), area, regions))
    return out


def with_recipient(row_filter: str, recipient: Recipient | None, where: str) -> str:
    """``row_filter`` with its ``{placeholders}`` replaced by ``recipient``'s values."""
    names = set(_PLACEHOLDER.findall(row_filter))
    if names and recipient is None:
        raise DeclarationError(
            f"{where}: row_filter reads {{...}} but the interface has no recipients"
        )
    if recipient is None:
        return row_filter
    values = recipient.placeholders()
    unknown = sorted(names - set(values))
    if unknown:
        raise DeclarationError(
            f"{where}: row_filter reads unknown placeholders {unknown}; a recipient gives "
            f"{sorted(values)}"
        )
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], row_filter)


def load_interfaces(
    path: Path,
    datasets: dict[str, Dataset],
    elements: dict[str, Element] | None = None,
    masks_by_element: dict[str, str] | None = None,
    tracks: PersonalTracks | None = None,
) -> list[Interface]:
    """The interfaces one declaration file gives (one per recipient, or the one), checked
    against the datasets and Standard 2.

    Every check here is one that would otherwise surface as a leak or a failed share task: a
    column the dataset does not have, a mask nobody implements, a dataset above the
    consumer's clearance, personal data left in clear, a projection that cannot be replaced
    by partition.
    """
    from enforcement_brain.standards.masking import MASKS

    elements = elements or {}
    masks_by_element = masks_by_element or {}
    data = read_yaml(path)
    iid = need(data, "id", str(path))
    where = f"{path} (interface {iid})"
    if not ID.match(str(iid)) or iid != path.stem:
        raise DeclarationError(f"{where}: id must be snake_case and equal the file name")
    unknown = set(data) - _INTERFACE_KEYS
    if unknown:
        raise DeclarationError(f"{where}: unknown keys {sorted(unknown)}")
    clearance = need(data, "clearance", where)
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
    recipients: list[Recipient | None] = (
        list(load_recipients(data["recipients"], where)) if "recipients" in data else [None]
    )
    out = []
    for recipient in recipients:
        entries = []
        seen: set[str] = set()
        for raw in need(data, "datasets", where):
            entries.append(
                _interface_entry(
                    raw,
                    where,
                    clearance,
                    datasets,
                    elements,
                    masks_by_element,
                    MASKS,
                    recipient,
                    tracks,
                )
            )
            if entries[-1].dataset in seen:
                raise DeclarationError(f"{where}: dataset '{entries[-1].dataset}' is listed twice")
            seen.add(entries[-1].dataset)
        consumer = need(data, "consumer", where)
        out.append(
            Interface(
                id=f"{iid}_{recipient.id}" if recipient else iid,
                title=need(data, "title", where) + (f": {recipient.id}" if recipient else ""),
                title_zh=data.get("title_zh", ""),
                consumer=recipient.consumer if recipient else consumer,
                datasets=tuple(entries),
                quota=quota,
                token_lifetime_days=lifetime,
                path=path,
                clearance=clearance,
                recipient=recipient,
                family=iid,
            )
        )
    return out


def _interface_entry(
    raw: dict[str, Any],
    where: str,
    clearance: str,
    datasets: dict[str, Dataset],
    elements: dict[str, Element],
    masks_by_element: dict[str, str],
    known_masks: frozenset[str],
    recipient: Recipient | None = None,
    tracks: PersonalTracks | None = None,
) -> InterfaceDataset:
    """One ``datasets:`` entry of an interface, checked against its dataset and Standard 2."""
    if not isinstance(raw, dict) or raw.get("dataset") not in datasets:
        name = raw.get("dataset") if isinstance(raw, dict) else raw
        raise DeclarationError(f"{where}: unknown dataset '{name}'")
    dataset = datasets[raw["dataset"]]
    where = f"{where}: dataset {dataset.id}"
    unknown = set(raw) - _ENTRY_KEYS
    if unknown:
        raise DeclarationError(f"{where}: unknown keys {sorted(unknown)}")
    columns = as_tuple(need(raw, "columns", where))
    level = _shared_level(raw, columns, dataset, elements, tracks, clearance, where)
    if level_rank(level) > level_rank(clearance):
        raise DeclarationError(
            f"{where}: classified {level}, above the interface's clearance {clearance}"
        )
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
        if level_rank(level) < 2 or element is None:
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
        row_filter = with_recipient(row_filter, recipient, where)
        if dataset.columns:
            stray = sorted(filter_columns(row_filter) - set(dataset.columns))
            if stray:
                raise DeclarationError(
                    f"{where}: row_filter reads {', '.join(repr(c) for c in stray)}, not a "
                    f"column of dataset {dataset.id}"
                )
    share_type, condition = _share_type(raw, where, dataset)
    return InterfaceDataset(dataset.id, columns, masks, row_filter, clear, share_type, condition)


def _shared_level(
    raw: dict[str, Any],
    columns: tuple[str, ...],
    dataset: Dataset,
    elements: dict[str, Element],
    tracks: PersonalTracks | None,
    clearance: str,
    where: str,
) -> str:
    """The level of what an entry shares. A dataset is classified at the tracks' level (L4)
    because it holds 行踪轨迹; an entry that masks the positions or the identifier (or leaves
    them out) shares no track and is at the level of its elements and the dataset's other
    data. A track in clear needs the tracks' clearance."""
    if tracks is None:
        return dataset.classification
    masked = set((raw.get("masks") or {}).keys())
    of = {c: e.id for c in dataset.columns if (e := dataset.element_of(c, elements))}
    ids, pos = tracks.in_columns({c: e for c, e in of.items() if c in columns and c not in masked})
    if ids:
        if level_rank(clearance) < level_rank(tracks.level):
            law = tracks.follows.split(";")[0].strip()
            raise DeclarationError(
                f"{where}: shares 行踪轨迹 in clear ({tracks.describe(ids, pos)}): sensitive "
                f"personal information ({law}) needs clearance {tracks.level}; or mask the "
                "positions (coordinate_1km) or the identifier"
            )
        return dataset.classification
    if not tracks.in_columns(of)[0]:
        return dataset.classification  # the dataset holds no track: its own classification
    # without the track, the dataset is at the level of its elements (L2 at least: it names
    # vehicles or persons and places)
    levels = [elements[e].classification for e in of.values() if elements[e].classification]
    return max(["L2", *levels], key=level_rank)


def _share_type(raw: dict[str, Any], where: str, dataset: Dataset) -> tuple[str, str]:
    """An entry's 共享属性 and condition, checked: 不予共享 data is never in an interface, a
    conditional share states its condition, and [I] only public (L1) data is unconditional
    (personal or internal data goes to a department for its duty, not to every department)."""
    share_type = raw.get("share_type")
    if share_type is None:
        raise DeclarationError(f"{where}: share_type is required ({', '.join(SHARE_TYPES)})")
    if share_type not in SHARE_TYPES:
        raise DeclarationError(f"{where}: share_type must be one of {', '.join(SHARE_TYPES)}")
    condition = str(raw.get("share_condition") or "").strip()
    if share_type == NOT_SHARED:
        raise DeclarationError(
            f"{where}: share_type {NOT_SHARED}: a dataset not to be shared cannot be in an "
            "interface"
        )
    if share_type == CONDITIONAL and not condition:
        raise DeclarationError(f"{where}: share_type {CONDITIONAL} needs its share_condition")
    if share_type == UNCONDITIONAL and dataset.classification != "L1":
        raise DeclarationError(
            f"{where}: share_type {UNCONDITIONAL} is for L1 datasets; {dataset.id} is "
            f"{dataset.classification}"
        )
    if share_type == UNCONDITIONAL and condition:
        raise DeclarationError(f"{where}: share_type {UNCONDITIONAL} takes no share_condition")
    return share_type, condition
