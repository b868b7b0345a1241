"""What a rule kind is: one object holding every facet of a check, so a kind is written once.

A rule in ``quality/rules.yaml`` names its check's *kind* (``regex``, ``range``, ``in_area``...).
Five parts of the platform need to know what a kind means, and each used to switch on the kind
string: the pipeline's SQL, the rendered standard's description, the GX expectation, the Delta
constraint on silver and the defect the synthetic generator plants. A :class:`RuleKind` carries
all five, so adding a kind is one class here and the rest looks it up in the registry
(:func:`kind_of`).

Two shapes: a :class:`ColumnKind` judges one column's value at a time (one check per column of
the rule's elements); a :class:`RowKind` judges a whole row and reads several columns or the
delivered record (one check per rule).

Pure Python, no Spark, no numpy at import: the declarations load this module.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from enforcement_brain.errors import DeclarationError
from enforcement_brain.standards.rule_kinds.defects import bad_plate_value

if TYPE_CHECKING:
    import numpy as np

    from enforcement_brain.declarations import Catalog, Column, Element, Rule, Source

#: The element whose values are broken the way cameras and keying break plates, whatever the
#: rule kind that checks them.
PLATE_ELEMENT = "plate_no"
#: The generator's name for a plate broken that way.
PLATE_DEFECT = "bad_plate"

#: A check's parameters as declared (``check: {kind: ..., <params>}``).
Params = dict[str, Any]
#: Every kind, by name: the one registry the pipeline, the standards and the generator read.
REGISTRY: dict[str, RuleKind] = {}


def rule_kind(cls: type[RuleKind]) -> type[RuleKind]:
    """Class decorator: register a kind under its ``name`` (a name may be taken only once)."""
    if cls.name in REGISTRY:
        raise ValueError(f"rule kind '{cls.name}' is registered twice")
    REGISTRY[cls.name] = cls()
    return cls


def kind_named(name: str, where: str = "") -> RuleKind:
    """The registered kind ``name``; a :class:`DeclarationError` naming ``where`` otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        prefix = f"{where}: " if where else ""
        raise DeclarationError(
            f"{prefix}unknown check kind '{name}'; the kinds are {', '.join(sorted(REGISTRY))}"
        ) from None


def kind_of(rule: Rule) -> RuleKind:
    """The kind of ``rule``'s check."""
    return kind_named(rule.kind, f"rule {rule.id}")


def code_span(text: Any) -> str:
    """``text`` as a Markdown code span (a longer fence when it holds a backtick)."""
    text = str(text)
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


@dataclass(frozen=True)
class Delta:
    """How a kind's check stands on silver: as a Delta CHECK constraint (and in the GX suite).

    By default a check is restated on the silver columns and, when it blocks, becomes the
    constraint ``NOT (<its SQL>)``. The exceptions are what a kind declares here:

    - ``not_null``: the kind guarantees presence (``business_key`` or ``required`` columns); on
      silver its columns are NOT NULL, one constraint per rule, instead of a CHECK of its SQL.
    - ``before_silver``: why the check cannot be restated on silver at all ("" when it can).
    - ``clock_safe``: its only use of the clock is "not after today", which can only go from
      false to true as time passes, so a row accepted once is accepted on every rewrite.
    - ``rejects_unconverted``: it breaks when the text is present but the typed value is NULL
      (did not convert), so a blocking rule of this kind makes a NULL typed value impossible.
    """

    not_null: str | None = None
    before_silver: str = ""
    clock_safe: bool = False
    rejects_unconverted: bool = False


@dataclass(frozen=True)
class ColumnCheck:
    """A column rule applied to one column: what a column kind's SQL and GX facets read.

    ``raw`` and ``value`` are SQL for the column's delivered text and typed value (on the
    conformed row; on silver both are the typed column, as only it is kept there).
    """

    catalog: Catalog
    rule: Rule
    column: Column
    element: Element
    raw: str
    value: str


@dataclass(frozen=True)
class Planting:
    """A generated row and the defect to plant in it: the day's column texts, edited in place."""

    catalog: Catalog
    source: Source
    values: dict[str, Any]  # column name -> array of delivered texts, one per row
    row: int
    day: dt.date
    rule: Rule
    column: Column | None  # the column a column rule's defect breaks; None for a row rule
    defect: str
    rng: np.random.Generator

    def get(self, column: str) -> str:
        return str(self.values[column][self.row])

    def get_column(self) -> str:
        """The text of the column a column rule's defect breaks."""
        assert self.column is not None
        return self.get(self.column.name)

    def set(self, column: str, text: str) -> None:
        self.values[column][self.row] = text

    def column_of(self, element: str) -> str:
        """The source's column of ``element`` (a row rule's sources have exactly one)."""
        return next(c.name for c in self.source.columns if c.element == element)


def non_key_required(source: Source) -> list[Column]:
    """The required columns outside the business key (a missing key is another defect)."""
    return [c for c in source.columns if c.required and c.name not in source.business_key]


class RuleKind:
    """One kind of check and its five facets; subclass :class:`ColumnKind` or :class:`RowKind`.

    Facets: the SQL (``valid_sql`` / ``violation_sql``), the words of the rendered standard
    (:meth:`describe`), the native GX expectation (:meth:`gx_expectation`), the Delta
    constraint (:attr:`delta`) and the generator's defect (:attr:`defect`, :meth:`defect_slots`,
    :meth:`plant`).
    """

    #: The name rules.yaml uses in ``check: {kind: ...}``.
    name: ClassVar[str]
    #: True for a row rule (one check per rule), False for a column rule (one per column).
    row: ClassVar[bool]
    #: Its Delta constraint on silver.
    delta: ClassVar[Delta] = Delta()
    #: The generator's name for a row broken so that exactly this kind of rule flags it; None
    #: when the generator never plants one.
    defect: ClassVar[str | None] = None
    #: Check parameters whose value is an element the rule reads (a row rule's columns).
    element_params: ClassVar[tuple[str, ...]] = ()
    #: What the check means, when the words do not depend on the rule's parameters.
    words: ClassVar[str] = ""
    #: True for a kind that binds a source's positions to the city: a source applies such a
    #: rule exactly when it declares ``positions: within: xuzhou``.
    binds_positions: ClassVar[bool] = False
    #: True for a kind whose failures make a row incomplete: Standard 2's completeness dimension
    #: counts the rows it flags (the operators' console charts it per day).
    measures_completeness: ClassVar[bool] = False

    # -- declaration ---------------------------------------------------------------------------

    def named_elements(self, params: Params, where: str) -> list[str]:
        """The elements the check's parameters name, in declared order."""
        return [params[k] for k in self.element_params if k in params]

    def resolve_params(self, params: Params, declared: list[Element], where: str) -> Params:
        """The check's parameters, validated and resolved (``declared``: the rule's elements)."""
        return params

    # -- rendered standard ---------------------------------------------------------------------

    def describe(self, rule: Rule) -> str:
        """What the check means, in words, for Standard 2 (§4)."""
        if not self.words:
            raise NotImplementedError(f"rule kind '{self.name}' has no description")
        return self.words

    def element_note(self, rule: Rule, element: Element) -> str:
        """Words added after an element's name above its SQL in the rendered standard."""
        return ""

    # -- GX ------------------------------------------------------------------------------------

    def gx_expectation(self, c: ColumnCheck, silver_sql: str) -> tuple[str, Params] | None:
        """A native GX expectation saying exactly what ``silver_sql`` says, or None.

        None makes the suite run the rule's own SQL (``unexpected_rows_expectation``), which
        is always right; a native expectation only reads better in GX's results.
        """
        return None

    # -- generator -----------------------------------------------------------------------------

    def defect_slots(self, source: Source, rule: Rule) -> list[tuple[str, Column | None]]:
        """(defect name, column or None) for every way the generator can break a row of
        ``source`` so that ``rule`` flags it."""
        raise NotImplementedError

    def plant(self, at: Planting) -> None:
        """Break the row ``at`` as its slot (``column``, ``defect``) says, in place."""
        raise NotImplementedError


class ColumnKind(RuleKind):
    """A check of one column's value: ``valid_sql`` is true when a present value is valid."""

    row = False

    def valid_sql(self, c: ColumnCheck) -> str:
        """SQL true when the column's (present) value is valid."""
        raise NotImplementedError

    def defect_label(self, column: Column) -> str:
        """The defect planted in ``column``: plates break like plates, others as the kind says."""
        return PLATE_DEFECT if column.element == PLATE_ELEMENT else str(self.defect)

    def defect_slots(self, source: Source, rule: Rule) -> list[tuple[str, Column | None]]:
        # Key columns are left alone: a broken key is R_KEY_PRESENT's defect, or a new row.
        return [
            (self.defect_label(c), c)
            for c in source.columns
            if c.element in rule.elements and c.name not in source.business_key
        ]

    def broken_value(self, at: Planting) -> str:
        """A text for ``at.column`` that this kind of rule rejects."""
        raise NotImplementedError

    def plant(self, at: Planting) -> None:
        assert at.column is not None
        if at.defect == PLATE_DEFECT:
            text = bad_plate_value(at.rng, at.get_column())
        else:
            text = self.broken_value(at)
        at.set(at.column.name, text)


class RowKind(RuleKind):
    """A check of a whole row: ``violation_sql`` is true when the row breaks the rule."""

    row = True

    def violation_sql(self, catalog: Catalog, source: Source, rule: Rule) -> str:
        """SQL on the conformed row of ``source``, true when the row breaks ``rule``."""
        raise NotImplementedError

    def plantable(self, source: Source) -> bool:
        """Whether a row of ``source`` can carry this kind's defect at all."""
        return True

    def defect_slots(self, source: Source, rule: Rule) -> list[tuple[str, Column | None]]:
        if self.defect is None or not self.plantable(source):
            return []
        return [(self.defect, None)]

    def plant(self, at: Planting) -> None:
        """Edit the row so that the rule breaks (some defects are written by the delivery)."""
        raise NotImplementedError
