"""Great Expectations validates each day's silver increment; results are kept and published.

After a day's loads, every source's *increment* (the silver rows of that day's batch,
``_batch_id == batch_id(source, day)``) is validated with its committed suite
``expectations/<source>.json``. Unlike :func:`~enforcement_brain.standards.gx_suites.validate`,
which answers a question in memory, this is the record (so it sits in the pipeline, which
reads silver and writes ``ops``, and not in ``standards``, which only compiles declarations):

- GX runs in one **file** data context at ``<var>/gx``, so each validation result lands in
  GX's validation store and the Data Docs site (``<var>/gx/gx/uncommitted/data_docs/
  local_site/index.html``) shows every increment ever validated, with the suites beside them;
- one row per expectation per source is appended to ``ops.gx_results``, so the outcome can be
  queried next to ``ops.dq_ledger`` by anyone with SQL and no GX.

Why one checkpoint per source: a checkpoint passes the same batch parameters to all of its
validation definitions, and each source is its own DataFrame. The Data Docs are built once at
the end, incrementally (only the new results and their suites, then the index), because a
full rebuild re-renders every stored result and grows with the history.

Why a lock: the daily DAG may validate sources from several processes at once, and a file
context rewrites ``great_expectations.yml`` and its stores; one writer at a time keeps them
whole. Validation of an increment is quick next to the load that produced it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from enforcement_brain.declarations import Catalog
from enforcement_brain.errors import ConfigError
from enforcement_brain.lake import tables
from enforcement_brain.ops.schemas import GX_RESULTS_SCHEMA
from enforcement_brain.pipeline.delivery import batch_id
from enforcement_brain.settings import Settings
from enforcement_brain.standards.gx_suites import (
    EXPECTATIONS_DIR,
    SuiteResult,
    load_suite,
    resolve_suite,
    suite_outcomes,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: The one Spark datasource of the GX project; every silver increment is a DataFrame asset.
DATASOURCE = "enforcement_brain"
#: The batch definition of each asset: the whole DataFrame handed to the run.
BATCH_DEFINITION = "increment"
#: How much GX keeps per expectation: the counts, and no example values. Examples would cost
#: one more Spark query per expectation (~400 a day), and they would put plates and phone
#: numbers into the Data Docs, a plain-file site outside the lake's access rules; the failing
#: rows themselves are in the quarantine tables with their rule ids.
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}


@dataclass(frozen=True)
class IncrementResult:
    """What one source's increment got: its row count and the suite's outcome."""

    source: str
    delivery_date: dt.date
    batch_id: str
    rows: int
    result: SuiteResult

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows": self.rows,
            "expectations": len(self.result.outcomes),
            "failed_expectations": len(self.result.failed()),
            "success": self.result.success,
        }


def gx_root(settings: Settings) -> Path:
    """The GX project folder (``great_expectations.yml`` lives in its ``gx/`` child)."""
    return settings.var_dir / "gx"


def data_docs_index(settings: Settings) -> Path:
    """Where the local Data Docs site's front page is, once built."""
    return gx_root(settings) / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"


@contextlib.contextmanager
def _project_lock(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on the GX project for the duration (across processes)."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _file_context(root: Path) -> Any:
    """The GX file context at ``root``: created on first use, reused after."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=root)
    if context.variables.progress_bars != ProgressBarsConfig(globally=False):
        # Saved in great_expectations.yml, so the Data Docs build is quiet too.
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.variables.save()
    return context


def _datasource(context: Any, spark: SparkSession) -> Any:
    """The project's Spark datasource, added once and reused, bound to ``spark``.

    Not ``add_or_update_spark``: updating replaces the datasource *without* its assets, which
    would orphan the batch definitions the stored validation definitions point to.
    """
    if DATASOURCE in context.data_sources.all():
        datasource = context.data_sources.get(DATASOURCE)
    else:
        datasource = context.data_sources.add_spark(name=DATASOURCE)
    # The engine must run the SQL checks in the session that holds the DataFrame (as validate).
    datasource._spark = spark
    return datasource


def _batch_definition(datasource: Any, asset_name: str) -> Any:
    """The whole-DataFrame batch definition of one suite's asset, added once and reused."""
    if asset_name in datasource.get_asset_names():
        asset = datasource.get_asset(asset_name)
    else:
        asset = datasource.add_dataframe_asset(name=asset_name)
    names = {b.name for b in asset.batch_definitions}
    if BATCH_DEFINITION in names:
        return asset.get_batch_definition(BATCH_DEFINITION)
    return asset.add_batch_definition_whole_dataframe(name=BATCH_DEFINITION)


def _run_name(run_id: str) -> str:
    """The run id as GX's run name: it becomes a folder of the validation store."""
    return re.sub(r"[^A-Za-z0-9._+-]", "_", run_id) or "run"


def _validate_one(
    context: Any,
    datasource: Any,
    df: DataFrame,
    suite_file: Path,
    run: Any,
) -> tuple[SuiteResult, list[Any]]:
    """Run one suite on one DataFrame through a stored checkpoint; returns the outcome and the
    Data Docs resources (result and suite identifiers) to render."""
    import great_expectations as gx
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    data, gx_suite = load_suite(suite_file)
    name = data["name"]
    definition = gx.ValidationDefinition(
        name=f"validate {name}", data=_batch_definition(datasource, name), suite=gx_suite
    )
    # add_or_update stores the suite (keeping the ids of unchanged expectations), the
    # validation definition and the checkpoint, so a second day or a rerun finds them fresh.
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=f"increment {name}",
            validation_definitions=[definition],
            actions=[],
            result_format=RESULT_FORMAT,
        )
    )
    outcome = checkpoint.run(batch_parameters={"dataframe": df}, run_id=run)
    saved_suite = checkpoint.validation_definitions[0].suite
    (key, result), *_ = outcome.run_results.items()
    suite_result = SuiteResult(name, bool(result.success), suite_outcomes(saved_suite, result))
    return suite_result, [key, ExpectationSuiteIdentifier(name=name)]


def _sources(catalog: Catalog, settings: Settings, sources: list[str] | None) -> list[str]:
    """The sources to validate: the named ones, or every declared one that has silver."""
    if sources is None:
        return [s for s in catalog.sources if tables.is_delta_table(settings, "silver", s)]
    unknown = [s for s in sources if s not in catalog.sources]
    if unknown:
        raise ConfigError(f"unknown source(s) {', '.join(unknown)}: see data_standards/sources")
    return list(dict.fromkeys(sources))


def _increment(spark: SparkSession, settings: Settings, source_id: str, day: dt.date) -> DataFrame:
    """The silver rows of the day's batch of one source."""
    from pyspark.sql import functions as F

    silver = spark.read.format("delta").load(settings.table_uri("silver", source_id))
    return silver.where(F.col("_batch_id") == batch_id(source_id, day))


def results_rows(
    increment: IncrementResult, standard_version: str, run_id: str, validated_at: dt.datetime
) -> list[tuple[Any, ...]]:
    """The ``ops.gx_results`` rows of one source, in ``GX_RESULTS_SCHEMA`` order."""
    return [
        (
            increment.source,
            increment.delivery_date,
            increment.batch_id,
            increment.result.suite,
            o.type,
            o.column,
            o.rule_id,
            o.severity,
            o.success,
            o.unexpected_count,
            o.element_count,
            o.error,
            standard_version,
            run_id,
            validated_at,
        )
        for o in increment.result.outcomes
    ]


def validate_increments(
    spark: SparkSession,
    settings: Settings,
    catalog: Catalog,
    day: dt.date,
    run_id: str,
    sources: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Validate each source's silver increment of ``day`` with its suite, store the results in
    GX and in ``ops.gx_results``, and rebuild the Data Docs; returns a summary per source.

    ``sources`` defaults to every declared source whose silver table exists; a named source
    without a silver table raises :class:`ConfigError`. An empty increment is still validated,
    so every day has its record: on zero rows every expectation passes, and GX leaves the
    column checks' ``unexpected_count`` null (it counted nothing), which is stored as is.
    """
    from great_expectations.core.run_identifier import RunIdentifier

    names = _sources(catalog, settings, sources)
    missing = [s for s in names if not tables.is_delta_table(settings, "silver", s)]
    if missing:
        raise ConfigError(f"no silver table yet for {', '.join(missing)}: load the day first")
    validated_at = dt.datetime.now(dt.UTC)
    run = RunIdentifier(run_name=_run_name(run_id), run_time=validated_at)
    expectations_dir = settings.home / EXPECTATIONS_DIR
    done: list[IncrementResult] = []
    root = gx_root(settings)
    with _project_lock(root):
        context = _file_context(root)
        datasource = _datasource(context, spark)
        resources: list[Any] = []
        for source_id in names:
            suite_file = resolve_suite(source_id, expectations_dir)
            df = _increment(spark, settings, source_id, day)
            try:
                result, keys = _validate_one(context, datasource, df, suite_file, run)
                rows = df.count()  # from GX's cache of the increment
            finally:
                df.unpersist()  # GX persists the DataFrame and leaves it cached
            resources += keys
            done.append(IncrementResult(source_id, day, batch_id(source_id, day), rows, result))
        if resources:
            context.build_data_docs(resource_identifiers=resources)
    out = [
        row
        for increment in done
        for row in results_rows(increment, catalog.standard_version, run_id, validated_at)
    ]
    tables.append_rows(
        spark, settings, "ops", "gx_results", out, GX_RESULTS_SCHEMA, partition_by=["source"]
    )
    return [increment.summary() for increment in done]


def data_docs_path(settings: Settings) -> str | None:
    """The Data Docs front page as a local path, if it has been built."""
    index = data_docs_index(settings)
    return str(index) if index.is_file() else None
