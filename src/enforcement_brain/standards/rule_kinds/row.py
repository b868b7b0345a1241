"""The row rule kinds: each judges a whole row, reading several columns or the delivered record.

One check per rule. Those that read the delivered record (``_raw``, ``_corrupt_record``,
``_rescued_data``) can only be checked before silver; the others are restated on silver as they
are.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any, ClassVar

from enforcement_brain.errors import DeclarationError
from enforcement_brain.standards import checks as std_checks
from enforcement_brain.standards.code_tables import load_code_table
from enforcement_brain.standards.rule_kinds.base import (
    Delta,
    Planting,
    RowKind,
    code_span,
    non_key_required,
    rule_kind,
)
from enforcement_brain.standards.rule_kinds.sql import (
    ident,
    raw_ref,
    sql_string,
    station_limit_explained_sql,
)

if TYPE_CHECKING:
    from enforcement_brain.declarations import Catalog, Column, Rule, Source


def _pair(source: Source, rule: Rule, key: str) -> Column:
    """The one column of ``source`` holding the element that parameter ``key`` names."""
    element = rule.params[key]
    found = [c for c in source.columns if c.element == element]
    if len(found) != 1:
        raise DeclarationError(
            f"rule {rule.id}: source {source.id} needs exactly one column of element {element}"
        )
    return found[0]


class _DeliveredRecord(RowKind):
    """A check of the delivered record as a whole, which the reader flags in a column of its
    own. Its defect is written by the delivery (a broken line, an extra field), not by editing
    the row's values: ``generate/delivery.py`` damages the rows labelled with it."""

    #: The reader's column that holds what did not fit the declaration.
    record_column: ClassVar[str]

    def violation_sql(self, catalog: Catalog, source: Source, rule: Rule) -> str:
        return f"{self.record_column} IS NOT NULL"

    def plant(self, at: Planting) -> None:
        return None


@rule_kind
class KeyPresent(RowKind):
    """Every business-key column is present."""

    name = "key_present"
    delta = Delta(not_null="business_key")
    measures_completeness = True
    # No defect: a row without its key cannot be told apart from another in the ground truth.

    words = "Every business-key column of the source is present: not missing, not blank."

    def violation_sql(self, catalog: Catalog, source: Source, rule: Rule) -> str:
        return " OR ".join(f"{raw_ref(k)} IS NULL" for k in source.business_key)


@rule_kind
class RequiredPresent(RowKind):
    """Every column the source declares ``required`` is present."""

    name = "required_present"
    delta = Delta(not_null="required")
    measures_completeness = True
    defect = "missing_required"

    words = "Every column the source declares `required` is present: not missing, not blank."

    def violation_sql(self, catalog: Catalog, source: Source, rule: Rule) -> str:
        req = [f"{raw_ref(c.name)} IS NULL" for c in source.columns if c.required]
        return " OR ".join(req) if req else "false"

    def plantable(self, source: Source) -> bool:
        return bool(non_key_required(source))

    def plant(self, at: Planting) -> None:
        required = non_key_required(at.source)
        at.set(required[int(at.rng.integers(0, len(required)))].name, "")


@rule_kind
class RecordParses(_DeliveredRecord):
    """The delivered line or record parses in the declared format."""

    name = "record_parses"
    defect = "broken_line"
    record_column = "_corrupt_record"
    words = (
        "The delivered line or record parses in the source's declared format; a broken line "
        "is kept whole (`_corrupt_record`) with its file and line number."
    )

    def plantable(self, source: Source) -> bool:
        return source.delivery.kind != "database"  # rows in a database have no lines to break


@rule_kind
class NoUnexpectedFields(_DeliveredRecord):
    """The record carries no field the declaration does not list."""

    name = "no_unexpected_fields"
    defect = "unexpected_column"
    record_column = "_rescued_data"
    words = (
        "The record carries no field the source's declaration does not list; unknown fields "
        "are kept in `_rescued_data`."
    )

    def plantable(self, source: Source) -> bool:
        return source.delivery.format == "jsonl"  # a CSV line has no field names to add


@rule_kind
class InArea(RowKind):
    """The position (``lon``, ``lat`` elements) lies inside Xuzhou, widened by ``buffer_deg``."""

    name = "in_area"
    defect = "outside_area"
    element_params = ("lon", "lat")
    binds_positions = True

    def violation_sql(self, catalog: Catalog, source: Source, rule: Rule) -> str:
        lon = ident(_pair(source, rule, "lon").name)
        lat = ident(_pair(source, rule, "lat").name)
        (x0, x1), (y0, y1) = std_checks.XUZHOU_BBOX
        pad = float(rule.params.get("buffer_deg", 0.05))
        ok = (
            f"{lon} BETWEEN {x0 - pad:.3f} AND {x1 + pad:.3f} "
            f"AND {lat} BETWEEN {y0 - pad:.3f} AND {y1 + pad:.3f}"
        )
        return f"({lon} IS NOT NULL AND {lat} IS NOT NULL AND NOT coalesce({ok}, false))"

    def describe(self, rule: Rule) -> str:
        p = rule.params
        (x0, x1), (y0, y1) = std_checks.XUZHOU_BBOX
        pad = p.get("buffer_deg", 0.05)
        return (
            f"The position (element {code_span(p.get('lon'))}, element {code_span(p.get('lat'))})"
            f" lies inside Xuzhou, longitude {x0}–{x1} and latitude {y0}–{y1} (WGS-84), widened "
            f"by {pad}°. Rows with a missing coordinate are not judged. Only sources whose "
            "positions are bound to the city (`positions: within: xuzhou`: fixed sites, officers "
            "on duty) apply it; a moving vehicle's position outside Xuzhou is data."
        )

    def plant(self, at: Planting) -> None:
        lon, lat = at.column_of(at.rule.params["lon"]), at.column_of(at.rule.params["lat"])
        at.set(lon, f"{at.rng.uniform(119.5, 121.5):.6f}")  # the coast, far east of Xuzhou
        at.set(lat, f"{at.rng.uniform(31.0, 32.5):.6f}")


@rule_kind
class DatumOffset(RowKind):
    """A registered fixed site's position is not offset from the register as GCJ-02 is."""

    name = "datum_offset"
    defect = "wrong_datum"
    element_params = ("lon", "lat", "site")

    def violation_sql(self, catalog: Catalog, source: Source, rule: Rule) -> str:
        # A position reported for a registered fixed site that sits ~500 m east-south-east of
        # the register (WGS-84): the feed wrote GCJ-02. The band is Standard 1's.
        params = rule.params
        site_col = _pair(source, rule, "site")
        lon = ident(_pair(source, rule, "lon").name)
        lat = ident(_pair(source, rule, "lat").name)
        site_el = catalog.elements[site_col.element]
        table = load_code_table(catalog.root, site_el.code_table or "")
        pairs = [(c["code"], c["lon"], c["lat"]) for c in table.codes if "lon" in c]
        lon_map = "map(" + ", ".join(f"{sql_string(c)}, {x}D" for c, x, _ in pairs) + ")"
        lat_map = "map(" + ", ".join(f"{sql_string(c)}, {y}D" for c, _, y in pairs) + ")"
        site = ident(site_col.name)
        dlon = f"({lon} - element_at({lon_map}, {site}))"
        dlat = f"({lat} - element_at({lat_map}, {site}))"
        lo_x, hi_x = params.get("dlon", list(std_checks.GCJ_OFFSET_DLON))
        lo_y, hi_y = params.get("dlat", list(std_checks.GCJ_OFFSET_DLAT))
        return (
            f"coalesce({dlon} BETWEEN {lo_x} AND {hi_x} AND {dlat} BETWEEN {lo_y} AND {hi_y}, "
            "false)"
        )

    def describe(self, rule: Rule) -> str:
        p = rule.params
        dlon = p.get("dlon", list(std_checks.GCJ_OFFSET_DLON))
        dlat = p.get("dlat", list(std_checks.GCJ_OFFSET_DLAT))
        return (
            f"For a registered fixed site (element {code_span(p.get('site'))}, whose code table "
            f"holds its WGS-84 position), the reported position (elements "
            f"{code_span(p.get('lon'))}, {code_span(p.get('lat'))}) is not offset from the "
            f"register by {dlon[0]}–{dlon[1]}° in longitude and {dlat[0]}–{dlat[1]}° in "
            "latitude: that offset is a GCJ-02 position delivered as WGS-84."
        )

    def plant(self, at: Planting) -> None:
        site = at.column_of(at.rule.params["site"])
        lon, lat = at.column_of(at.rule.params["lon"]), at.column_of(at.rule.params["lat"])
        table = at.catalog.elements[at.rule.params["site"]].code_table or ""
        entry = load_code_table(at.catalog.root, table).get(at.get(site))
        gx, gy = std_checks.wgs84_to_gcj02(entry["lon"], entry["lat"])
        at.set(lon, f"{gx:.6f}")
        at.set(lat, f"{gy:.6f}")


@rule_kind
class StationLimit(RowKind):
    """The limit a static station applied is one Order 2016-62 Art. 3 allows for the axle
    count (``axles``, ``limit`` elements), or the 行驶证 maximum (``registered``) when lower."""

    name = "station_limit"
    defect = "unexplained_limit"
    element_params = ("axles", "limit", "registered")

    def violation_sql(self, catalog: Catalog, source: Source, rule: Rule) -> str:
        axles = ident(_pair(source, rule, "axles").name)
        limit = ident(_pair(source, rule, "limit").name)
        registered = (
            ident(_pair(source, rule, "registered").name) if "registered" in rule.params else None
        )
        return f"NOT coalesce({station_limit_explained_sql(axles, limit, registered)}, true)"

    def describe(self, rule: Rule) -> str:
        p = rule.params
        low, top = min(std_checks.GROSS_LIMITS_KG), max(std_checks.GROSS_LIMITS_KG)
        rows = "; ".join(
            f"{a}{' or more' if a == top else ''} axles: "
            + ", ".join(f"{v:,}" for v in std_checks.station_limits_kg(a))
            for a in range(low, top + 1)
        )
        licence = (
            f", or the 行驶证 maximum (element {code_span(p.get('registered'))}) when it is "
            "lower than the highest of them"
            if p.get("registered")
            else ""
        )
        return (
            f"The limit (element {code_span(p.get('limit'))}) is one 交通运输部令2016年第62号 "
            f"第三条 allows for the axle count (element {code_span(p.get('axles'))}): the rigid "
            "truck or road-train limit, "
            f"{std_checks.SINGLE_DRIVE_AXLE_LIMIT_KG:,} kg for a road train of "
            f"{std_checks.SINGLE_DRIVE_AXLE_MIN_AXLES} or more axles whose tractor has a single "
            f"drive axle (第一款第（八）项), or one of these less "
            f"{std_checks.SINGLE_TYRE_REDUCTION_KG:,} kg for single tyres (第二款第（二）项)"
            f"{licence} (第二款第（三）、（四）项). In kg by axle count: {rows}. Rows with a "
            "missing axle count or limit are not judged."
        )

    def plant(self, at: Planting) -> None:
        # Off by a multiple of 997 kg: never a multiple of 500, as every allowed limit is.
        target = at.column_of(at.rule.params["limit"])
        at.set(target, str(int(at.get(target)) + int(at.rng.integers(1, 9)) * 997))


def _either(spans: list[str], word: str) -> str:
    """``a``, ``a or b``, ``a, b or c`` (``word``: or / and)."""
    return spans[0] if len(spans) == 1 else f"{', '.join(spans[:-1])} {word} {spans[-1]}"


@rule_kind
class Expr(RowKind):
    """A consistency condition in SQL over ``{element}`` placeholders; ``derived`` names the
    element computed from the others (the one a planted defect changes); ``defect_sets``
    (element -> text) is what a planted row also gets so the condition judges it at all.

    A row on which the condition is unknown (SQL NULL: an operand it compares is missing) is not
    judged. ``fails_when_missing`` lists the operands the condition itself tests for presence
    (``IS NOT NULL``, ``coalesce(..., false)``): a row missing one of them fails, on the rows
    ``defect_sets`` describes. The rendered words say which, so they are true of the SQL."""

    name = "expr"
    defect = "inconsistent"

    def named_elements(self, params: dict[str, Any], where: str) -> list[str]:
        named = list(dict.fromkeys(re.findall(r"\{([a-z_0-9]+)\}", params.get("sql", ""))))
        if not named:
            raise DeclarationError(f"{where}: an expr check needs 'sql' naming {{elements}}")
        if params.get("derived") and params["derived"] not in named:
            raise DeclarationError(f"{where}: derived '{params['derived']}' is not in its sql")
        for element in params.get("fails_when_missing") or []:
            if element not in named:
                raise DeclarationError(f"{where}: fails_when_missing '{element}' is not in its sql")
        return named

    def fails_when_missing(self, rule: Rule) -> tuple[str, ...]:
        """The operands whose missing value fails the check; any other leaves it unjudged."""
        return tuple(rule.params.get("fails_when_missing") or ())

    def violation_sql(self, catalog: Catalog, source: Source, rule: Rule) -> str:
        # Each {element} becomes the source's typed column of that element. A row on which the
        # condition is unknown is not judged.
        sql = rule.params["sql"]
        for element in rule.requires:
            column = next(c for c in source.columns if c.element == element)
            sql = sql.replace("{" + element + "}", ident(column.name))
        return f"NOT coalesce({sql}, true)"

    def describe(self, rule: Rule) -> str:
        condition = (
            f"The condition {code_span(rule.params.get('sql'))} holds, each `{{element}}` read "
            "as the source's typed column of that element."
        )
        failing = self.fails_when_missing(rule)
        if not failing:
            return f"{condition} A row where an operand is missing is not judged."
        others = [e for e in rule.requires if e not in failing]
        sets = rule.params.get("defect_sets") or {}
        where = (
            "On a row with "
            + _either([f"{code_span(e)} {code_span(v)}" for e, v in sets.items()], "and")
            + ", a"
            if sets
            else "A"
        )
        text = (
            f"{condition} {where} missing {_either([code_span(e) for e in failing], 'or')} "
            "fails the check"
        )
        if others:
            text += (
                f"; a row where {_either([code_span(e) for e in others], 'or')} is missing is "
                "not judged"
            )
        return text + "."

    def plant(self, at: Planting) -> None:
        import numpy as np

        req = at.rule.requires
        for element, text in (at.rule.params.get("defect_sets") or {}).items():
            at.set(at.column_of(element), str(text))
        target = at.column_of(at.rule.params.get("derived", req[0]))
        if "valid_from" in req and "valid_until" in req:  # a validity period that ends first
            a, b = at.column_of("valid_from"), at.column_of("valid_until")
            start = np.datetime64(at.get(a))
            at.set(b, str(start - np.timedelta64(int(at.rng.integers(1, 400)), "D")))
        elif at.source.column(target).type == "timestamp":  # a time that should precede the event
            event = dt.datetime.fromisoformat(at.get(str(at.source.event_time)))
            after = event + dt.timedelta(minutes=int(at.rng.integers(10, 72 * 60)))
            at.set(target, after.strftime("%Y-%m-%d %H:%M:%S"))
        else:  # a derived quantity off by a multiple of 997 kg
            at.set(target, str(int(at.get(target)) + int(at.rng.integers(1, 9)) * 997))
