"""Great Expectations (GX Core 1.x) suites for the silver tables, compiled from the standards.

One suite per source, ``expectations/<source>.json``, holding the checks of
:func:`~enforcement_brain.standards.constraints.silver_checks` (that is, exactly the pipeline's
``compile_checks``) restated on the silver columns:

- business-key and required columns -> ``expect_column_values_to_not_be_null``; the business key
  -> ``expect_column_values_to_be_unique`` / ``expect_compound_columns_to_be_unique``;
- a native expectation where the rule's kind has one (``RuleKind.gx_expectation``: ``regex`` ->
  ``expect_column_values_to_match_regex``, ``in_code_table`` ->
  ``expect_column_values_to_be_in_set``, ``range`` -> ``expect_column_values_to_be_between``),
  each only when it provably says what the pipeline's SQL says (the regex, codes and bounds are
  found in that SQL text); otherwise, and for every check GX has no native expectation for
  (credit code, ID number, ship id, area, datum, expr...), ``unexpected_rows_expectation`` with
  the rule's own SQL;
- checks that only exist before silver (the record parses, no unexpected fields, the text
  converts) are listed in the suite's ``meta.checked_before_silver``.

Every expectation's ``meta`` names the rule, its severity in the standard and the standard
version; warn-level rules get GX's ``warning`` severity, the others ``critical``.

Why the suites are written as plain dicts rather than through GX's classes: importing
``great_expectations`` costs 10-16 s here (it also imports pyspark), which would make
``make standards`` and every DAG parse slow. The dicts are GX's own serialised form; the tests
load every suite with GX and check that it serialises back to the same dict, so GX accepts every
expectation and keyword. :func:`validate` imports GX only when it runs.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from enforcement_brain.declarations import Catalog, Rule, Source
from enforcement_brain.errors import EbError
from enforcement_brain.standards.constraints import SilverCheck, not_null_columns, silver_checks
from enforcement_brain.standards.rule_kinds import ColumnCheck, kind_of
from enforcement_brain.standards.rule_kinds.sql import ident

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

# GX logs its own bookkeeping at INFO (~200 lines per validation run: closures it does not
# register, datasources saved); in an Airflow task log that buries what the task did. Set here,
# in the module every GX use goes through, before GX is first imported; warnings still pass.
logging.getLogger("great_expectations").setLevel(logging.WARNING)

#: Where the suites live, relative to the repository.
EXPECTATIONS_DIR = "expectations"
GX_SEVERITY = {"warn": "warning", "quarantine": "critical", "fail": "critical"}
ACTION = {
    "warn": "row loads, flagged",
    "quarantine": "row goes to quarantine",
    "fail": "load stops",
}


class SuiteError(EbError):
    """A suite cannot be found, or GX does not accept it."""


@lru_cache(maxsize=1)
def gx_version() -> str:
    """The installed GX version (from the package metadata: no 16-second import)."""
    from importlib.metadata import version

    return version("great_expectations")


def suite_path(repo_dir: Path, source_id: str) -> Path:
    """Where the suite of ``silver.<source_id>`` is committed in a repository."""
    return Path(repo_dir) / EXPECTATIONS_DIR / f"{source_id}.json"


def _expectation(
    type_: str,
    kwargs: dict[str, Any],
    meta: dict[str, Any],
    severity: str,
    description: str,
) -> dict[str, Any]:
    return {
        "type": type_,
        "kwargs": kwargs,
        "meta": meta,
        "severity": GX_SEVERITY.get(severity, "critical"),
        "description": description,
    }


def _rule_meta(catalog: Catalog, rule: Rule, column: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "rule_id": rule.id,
        "severity": rule.severity,
        "action": ACTION.get(rule.severity, rule.severity),
        "standard_version": catalog.standard_version,
    }
    if column is not None:
        meta["column"] = column
    return meta


def _native(catalog: Catalog, source: Source, check: SilverCheck) -> tuple[str, dict] | None:
    """A native GX expectation saying exactly what ``check.silver_sql`` says, or None.

    "Exactly" is verified by the rule's kind against the SQL text it compiled: the regex, the
    code list or the bounds used must appear in it verbatim. If a kind changes how it is
    checked, the suite falls back to that SQL instead of silently drifting.
    """
    if check.column is None or check.silver_sql is None:
        return None
    column = source.column(check.column)
    ref = ident(column.name)  # on silver the text and the typed value are the same column
    on_silver = ColumnCheck(catalog, check.rule, column, catalog.elements[column.element], ref, ref)
    return kind_of(check.rule).gx_expectation(on_silver, check.silver_sql)


def unexpected_rows_query(silver_sql: str) -> str:
    """The GX query for a check: the rows that break it. GX formats the query with
    ``str.format`` (``{batch}``), so the SQL's own braces (regex quantifiers) are doubled."""
    body = silver_sql.replace("{", "{{").replace("}", "}}")
    return f"SELECT * FROM {{batch}} WHERE {body}"


def suite_dict(catalog: Catalog, source: Source) -> dict[str, Any]:
    """The GX suite for ``silver.<source>`` in GX's serialised form, without generated ids."""
    version = catalog.standard_version
    expectations: list[dict[str, Any]] = []
    for column, rule, basis in not_null_columns(catalog, source):
        what = "business-key" if basis == "business_key" else "required"
        meta: dict[str, Any] = {"basis": basis, "column": column.name}
        if rule is not None:
            meta = {**_rule_meta(catalog, rule, column.name), "basis": basis}
        else:
            meta["standard_version"] = version
        expectations.append(
            _expectation(
                "expect_column_values_to_not_be_null",
                {"column": column.name},
                meta,
                rule.severity if rule else "quarantine",
                f"{rule.id + ': ' if rule else ''}{what} column {column.name} is present",
            )
        )
    key = list(source.business_key)
    key_meta = {"basis": "business_key", "standard_version": version}
    if len(key) == 1:
        expectations.append(
            _expectation(
                "expect_column_values_to_be_unique",
                {"column": key[0]},
                {**key_meta, "column": key[0]},
                "fail",
                f"business key {key[0]} is unique (silver MERGEs on it)",
            )
        )
    elif key:
        expectations.append(
            _expectation(
                "expect_compound_columns_to_be_unique",
                {"column_list": key},
                key_meta,
                "fail",
                f"business key ({', '.join(key)}) is unique (silver MERGEs on it)",
            )
        )
    before_silver: list[dict[str, Any]] = []
    for check in silver_checks(catalog, source):
        rule = check.rule
        if check.silver_sql is None:
            before_silver.append(
                {
                    "rule_id": rule.id,
                    "column": check.column,
                    "severity": rule.severity,
                    "reason": check.note,
                }
            )
            continue
        meta = _rule_meta(catalog, rule, check.column)
        description = f"{rule.id}: {rule.title}"
        native = _native(catalog, source, check)
        if native is not None:
            expectations.append(_expectation(*native, meta, rule.severity, description))
        else:
            expectations.append(
                _expectation(
                    "unexpected_rows_expectation",
                    {"unexpected_rows_query": unexpected_rows_query(check.silver_sql)},
                    meta,
                    rule.severity,
                    description,
                )
            )
    rel = f"{catalog.root.name}/{source.path.relative_to(catalog.root).as_posix()}"
    return {
        "name": f"silver.{source.id}",
        "expectations": expectations,
        "meta": {
            "source": source.id,
            "table": f"silver.{source.id}",
            "standard_version": version,
            "declared_in": rel,
            "generated_by": "make standards (enforcement_brain.standards.build); do not edit",
            "checked_before_silver": before_silver,
            "quality": dict(getattr(source, "quality", None) or {}),
            "great_expectations_version": gx_version(),
        },
    }


def dumps(data: dict[str, Any]) -> str:
    """Canonical JSON: sorted keys, 2-space indent, UTF-8 text, trailing newline."""
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def suite_json(catalog: Catalog, source: Source) -> str:
    """The suite file's exact text (what ``make standards`` writes and the drift test compares)."""
    return dumps(suite_dict(catalog, source))


# -- running a suite -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpectationOutcome:
    type: str
    column: str | None
    rule_id: str | None
    severity: str
    success: bool
    unexpected_count: int | None
    element_count: int | None
    error: str | None = None


@dataclass(frozen=True)
class SuiteResult:
    """A compact GX result: overall success and, per expectation in suite order, the count of
    rows that broke it (``unexpected_count``; for SQL checks the rows the query returned)."""

    suite: str
    success: bool
    outcomes: list[ExpectationOutcome] = field(default_factory=list)

    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_suite(suite: str | Path, expectations_dir: Path | None = None) -> Path:
    """A suite file from a path or a source id (``expectations/<id>.json``)."""
    text = str(suite)
    if isinstance(suite, Path) or text.endswith(".json") or "/" in text:
        path = Path(suite)
    else:
        if expectations_dir is None:
            from enforcement_brain.settings import load_settings

            expectations_dir = load_settings().home / EXPECTATIONS_DIR
        path = Path(expectations_dir) / f"{text}.json"
    if not path.is_file():
        raise SuiteError(f"{path}: no such suite; run `make standards`")
    return path


def _error_message(info: Any) -> str | None:
    if not info:
        return None
    if isinstance(info, dict) and "exception_message" in info:
        return str(info["exception_message"]) if info.get("raised_exception") else None
    if isinstance(info, dict):
        for value in info.values():
            message = _error_message(value)
            if message:
                return message
    return None


def load_suite(path: Path) -> tuple[dict[str, Any], Any]:
    """A suite file as its dict and as GX's ``ExpectationSuite``.

    GX logs and drops an expectation it cannot build instead of failing; a suite validated
    without some of its checks would pass silently, so that raises :class:`SuiteError` here.
    """
    import great_expectations as gx

    data = json.loads(Path(path).read_text(encoding="utf-8"))
    gx_suite = gx.ExpectationSuite(**data)
    if len(gx_suite.expectations) != len(data.get("expectations", [])):
        raise SuiteError(f"{path}: GX refused some expectations; regenerate with `make standards`")
    return data, gx_suite


def suite_outcomes(gx_suite: Any, result: Any) -> list[ExpectationOutcome]:
    """One outcome per expectation of ``gx_suite`` (a suite saved in a context, so its
    expectations have ids), in suite order, from GX's ``ExpectationSuiteValidationResult``."""
    by_id = {r.expectation_config.id: r for r in result.results}
    outcomes = []
    for expectation in gx_suite.expectations:
        r = by_id[expectation.id]
        config = r.expectation_config
        details = r.result or {}
        count = details.get("unexpected_count", details.get("observed_value"))
        meta = config.meta or {}
        outcomes.append(
            ExpectationOutcome(
                type=config.type,
                column=config.kwargs.get("column", meta.get("column")),
                rule_id=meta.get("rule_id"),
                severity=str(getattr(config.severity, "value", config.severity)),
                success=bool(r.success),
                unexpected_count=None if count is None else int(count),
                element_count=details.get("element_count"),
                error=_error_message(r.exception_info),
            )
        )
    return outcomes


def validate(
    df: DataFrame,
    suite: str | Path,
    *,
    expectations_dir: Path | None = None,
    result_format: str = "BASIC",
) -> SuiteResult:
    """Run a suite from ``expectations/`` on a Spark DataFrame with an ephemeral GX context.

    ``suite`` is a source id or a suite file. GX runs on the DataFrame's own Spark session
    (classic or Connect). Raises :class:`SuiteError` if GX refuses an expectation, instead of
    GX's default of logging it and validating without it.
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    data, gx_suite = load_suite(resolve_suite(suite, expectations_dir))
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    datasource = context.data_sources.add_spark(name="enforcement_brain")
    # The engine must run the SQL checks in the session that holds the DataFrame's temp views.
    datasource._spark = df.sparkSession
    asset = datasource.add_dataframe_asset(name=data["name"])
    batch = asset.add_batch_definition_whole_dataframe(name="increment")
    gx_suite = context.suites.add(gx_suite)
    definition = gx.ValidationDefinition(
        name=f"validate {data['name']}", data=batch, suite=gx_suite
    )
    result = definition.run(batch_parameters={"dataframe": df}, result_format=result_format)
    return SuiteResult(data["name"], bool(result.success), suite_outcomes(gx_suite, result))
