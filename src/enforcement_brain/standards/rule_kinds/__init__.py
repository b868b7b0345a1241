"""The rule kinds: each kind of data-quality check declared once, with all it means.

A rule in ``data_standards/quality/rules.yaml`` says ``check: {kind: <name>, ...}``. The kind,
a class in :mod:`.column` or :mod:`.row`, holds its five facets: the Spark SQL the pipeline
evaluates, the words of the rendered standard, the native GX expectation, the Delta constraint
on silver and the defect the synthetic generator plants. The pipeline, the standards compiler
and the generator look a kind up here (:func:`kind_of`) instead of switching on its name, so a
new kind is one class with ``@rule_kind``.

Layer: beside the declarations, below everything that compiles or runs them. Imports no Spark,
GX or numpy at import time.
"""

from __future__ import annotations

from enforcement_brain.standards.rule_kinds import column as _column
from enforcement_brain.standards.rule_kinds import row as _row
from enforcement_brain.standards.rule_kinds.base import (
    REGISTRY,
    ColumnCheck,
    ColumnKind,
    Delta,
    Planting,
    RowKind,
    RuleKind,
    code_span,
    kind_named,
    kind_of,
    rule_kind,
)
from enforcement_brain.standards.rule_kinds.compiled import (
    CompiledCheck,
    column_violation_sql,
    compile_checks,
    row_violation_sql,
)

#: The modules whose classes register themselves (imported for that).
KIND_MODULES = (_column, _row)

__all__ = [
    "KIND_MODULES",
    "REGISTRY",
    "ColumnCheck",
    "ColumnKind",
    "CompiledCheck",
    "Delta",
    "Planting",
    "RowKind",
    "RuleKind",
    "code_span",
    "column_violation_sql",
    "compile_checks",
    "kind_named",
    "kind_of",
    "row_violation_sql",
    "rule_kind",
]
