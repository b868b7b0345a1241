"""Two jobs that write the same day at once (two backfills, a backfill while ``eb run`` loads)
end in the state of one run: the second refuses at once with the lake lock's one-line message,
and the lake holds exactly what a single run leaves (docs/reliability.md, "Concurrent runs")."""

from __future__ import annotations

import datetime as dt
import threading

from conftest import make_settings

from enforcement_brain.declarations import load_catalog
from enforcement_brain.errors import RunLockedError
from enforcement_brain.generate.day import generate_day
from enforcement_brain.lake import tables
from enforcement_brain.orchestration.backfill import backfill
from enforcement_brain.orchestration.runtime import JobContext

SOURCES = ("wim_weighings",)
DAY = dt.date(2026, 11, 28)


def _lake(tmp_path, name: str) -> JobContext:
    settings = make_settings(tmp_path / name, EB_SCALE="0.001")
    generate_day(settings, DAY)
    return JobContext(settings, load_catalog(settings.standards_dir))


def _volatile(name: str) -> bool:
    """Columns that record when, by which run or how fast a job ran, not what it wrote."""
    return (
        name in {"_source_file", "batch_id", "error", "seconds", "recorded_at"}
        or "run_id" in name
        or name.endswith(("_at", "_seconds"))
    )


def _state(spark, ctx: JobContext) -> dict[str, list[tuple]]:
    """Every table of the lake as its sorted rows, without the volatile columns (paths are
    written relative to the lake's var folder, so two lakes compare)."""
    var = str(ctx.settings.var_dir)
    out: dict[str, list[tuple]] = {}
    for layer, table in tables.lake_tables(ctx.settings):
        df = spark.read.format("delta").load(ctx.settings.table_uri(layer, table))
        kept = sorted(c for c in df.columns if not _volatile(c))
        out[f"{layer}.{table}"] = sorted(
            (tuple(str(v).replace(var, "<var>") for v in r) for r in df.select(*kept).collect()),
            key=repr,
        )
    return out


def test_two_backfills_of_a_day_at_once_end_as_one_serial_backfill(spark, tmp_path) -> None:
    serial = _lake(tmp_path, "serial")
    alone = backfill(serial, [DAY], "serial", sources=SOURCES, validate=False, say=lambda _: 0)
    assert alone.ok, alone.errors

    ctx = _lake(tmp_path, "concurrent")
    start = threading.Barrier(2)
    reports: dict[int, object] = {}
    refusals: dict[int, str] = {}
    others: dict[int, str] = {}

    def job(k: int) -> None:
        start.wait()
        try:
            reports[k] = backfill(
                ctx, [DAY], f"run{k}", sources=SOURCES, validate=False, say=lambda _: 0
            )
        except RunLockedError as exc:
            refusals[k] = str(exc)
        except Exception as exc:  # asserted below: neither may fail otherwise
            others[k] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"

    threads = [threading.Thread(target=job, args=(k,)) for k in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert others == {}
    assert len(reports) == 1 and len(refusals) == 1, (reports, refusals)
    [report] = reports.values()
    assert report.ok, report.errors
    [message] = refusals.values()
    assert message.startswith("[EB-RUN-LOCKED] ")
    assert "\n" not in message
    lock = ctx.settings.var_dir / "lake.lock"
    assert (
        f"is in use by eb backfill --from {DAY} --to {DAY} (pid " in message
        and str(lock) in message
    )
    assert not lock.exists()  # released by the run that held it

    assert _state(spark, ctx) == _state(spark, serial)
