"""Load and validate everything declared in ``data_standards/``.

Sources, data elements, rules, shared datasets and interfaces are declarations (YAML), not code:
adding a source means writing its file, and the DAGs, checks and tables follow from it. Every
problem is reported as a :class:`DeclarationError` naming the file and the entry, so a bad
declaration fails the build instead of a load.

One module per kind of declaration (``elements``, ``rules``, ``sources``, ``datasets``,
``interfaces``), ``reading`` for what they share and ``catalog`` for loading them together. The
names below are the package's API: import them from ``enforcement_brain.declarations``.
"""

from enforcement_brain.declarations.catalog import Catalog, load_catalog
from enforcement_brain.declarations.datasets import PERIODS, SILVER_REF, Dataset, GateCheck
from enforcement_brain.declarations.elements import TYPES, Element
from enforcement_brain.declarations.interfaces import (
    CLEAR_ALLOWED_LEVELS,
    Interface,
    InterfaceDataset,
    filter_columns,
)
from enforcement_brain.declarations.reading import CLASSIFICATION_LEVELS, QUALITY_KEYS
from enforcement_brain.declarations.rules import SEVERITIES, Rule, level_masks
from enforcement_brain.declarations.sources import (
    GENERATOR_HOURS,
    POSITION_BOUNDS,
    Column,
    Delivery,
    GeneratorSettings,
    PositionScope,
    Source,
)

__all__ = [
    "CLASSIFICATION_LEVELS",
    "CLEAR_ALLOWED_LEVELS",
    "GENERATOR_HOURS",
    "PERIODS",
    "POSITION_BOUNDS",
    "QUALITY_KEYS",
    "SEVERITIES",
    "SILVER_REF",
    "TYPES",
    "Catalog",
    "Column",
    "Dataset",
    "Delivery",
    "Element",
    "GateCheck",
    "GeneratorSettings",
    "Interface",
    "InterfaceDataset",
    "PositionScope",
    "Rule",
    "Source",
    "filter_columns",
    "level_masks",
    "load_catalog",
]
