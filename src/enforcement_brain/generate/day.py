"""Generate one business day of all three sources, and the ground truth of what is wrong in it."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import fnmatch
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

from enforcement_brain.generate._common import TruthRow, write_atomic
from enforcement_brain.generate.anpr import generate_anpr
from enforcement_brain.generate.cases import generate_cases
from enforcement_brain.generate.context import ANPR, CASES, SOURCES, WIM, make_context
from enforcement_brain.generate.delivery import FileDelivery
from enforcement_brain.generate.generic import generate_source, write_db
from enforcement_brain.generate.pools import build_pools
from enforcement_brain.generate.wim import generate_wim
from enforcement_brain.lake.folders import Folder, lake_folder, objects_folder
from enforcement_brain.settings import Settings

GROUND_TRUTH_COLUMNS = ("source", "business_key", "file", "line", "defect", "rule")
#: The rule that flags each defect kind of the three hand-written generators.
LEGACY_DEFECT_RULES = {
    "bad_plate": "R_PLATE_FORMAT",
    "impossible_weight": "R_GROSS_WEIGHT_RANGE",
    "bad_axle_count": "R_AXLE_RANGE",
    "bad_time": "R_EVENT_TIME_PARSES",
    "broken_line": "R_RECORD_PARSES",
    "unknown_site": "R_SITE_KNOWN",
    "unknown_checkpoint": "R_CHECKPOINT_KNOWN",
    "bad_speed": "R_SPEED_RANGE",
    "bad_credit_code": "R_CREDIT_CODE_CHECK",
    "bad_division": "R_DIVISION_XUZHOU",
}


@dataclass(frozen=True)
class GenerationResult:
    """What :func:`generate_day` delivered.

    ``rows_by_source``: rows delivered, defective and duplicate ones included; for the case
    system, rows inserted or updated. ``defects_by_source``: defective rows by kind (the
    ground truth's rows without ``late``); ``late_by_source``: clean rows whose event time is the
    previous day, which must be loaded, not quarantined.
    """

    day: dt.date
    rows_by_source: dict[str, int]
    files: list[str]
    defects_by_source: dict[str, dict[str, int]]
    ground_truth_path: str
    seconds: float
    late_by_source: dict[str, int] = field(default_factory=dict)


def ground_truth_path(settings: Settings, day: dt.date) -> Path:
    """``<var>/ground_truth/<YYYY-MM-DD>/defects.csv``."""
    return settings.var_dir / "ground_truth" / day.isoformat() / "defects.csv"


def generate_day(
    settings: Settings,
    day: dt.date,
    *,
    scale: float | None = None,
    seed: int | None = None,
    defect_rate: float | None = None,
) -> GenerationResult:
    """Deliver ``day`` of WIM files, ANPR files and case-system rows, with its ground truth.

    Same arguments, same bytes: a rerun replaces the day's files (new files are renamed into
    place, then files of the day that this run did not write are removed) and upserts the same
    case rows. ``None`` arguments take ``settings.scale``, ``settings.seed`` and
    ``settings.defect_rate``.

    File drops go where landing keeps them, ``<lake>/landing/<source>/<day>/`` (a folder, or
    the lake's store for an ``s3a://`` lake); object deliveries go to their source's declared
    bucket and prefix (the store at ``EB_OBJECTS_URL``, else the local stand-in), where a
    source system would put them. ``files`` lists them as Spark and boto3 name them.
    """
    started = time.perf_counter()
    ctx = make_context(
        settings.standards_dir,
        day,
        settings.seed if seed is None else seed,
        settings.scale if scale is None else scale,
        settings.defect_rate if defect_rate is None else defect_rate,
    )
    wim, link = generate_wim(ctx)
    anpr = generate_anpr(ctx, link)
    files = [p for d in (wim, anpr) for p in _write(_delivery_folder(settings, d, "files"), d)]
    case_rows, case_truth = generate_cases(ctx, settings.source_db_url)
    truth = [*wim.truth, *anpr.truth, *case_truth]
    truth = [
        t if t.rule else dataclasses.replace(t, rule=LEGACY_DEFECT_RULES.get(t.defect, ""))
        for t in truth
    ]
    rows = {WIM: wim.rows, ANPR: anpr.rows, CASES: case_rows}
    defects = {
        WIM: dict(sorted(wim.defects.items())),
        ANPR: dict(sorted(anpr.defects.items())),
    }
    late = {WIM: wim.late, ANPR: anpr.late, CASES: 0}

    # Every other declared source, from its declaration.
    pools = build_pools(ctx.seed, ctx.standards_dir)
    for sid, source in sorted(ctx.catalog.sources.items()):
        if sid in SOURCES:
            continue
        out = generate_source(ctx, pools, source)
        if out.delivery is not None:
            folder = _delivery_folder(settings, out.delivery, source.delivery.kind)
            files += _write(folder, out.delivery)
        else:
            write_db(settings.source_db_url, source, day, out.db_rows or [])
        truth += out.truth
        rows[sid] = out.rows
        defects[sid] = dict(sorted(out.defects.items()))
        late[sid] = out.late
    gt_path = ground_truth_path(settings, day)
    write_atomic(gt_path, _truth_csv(truth))
    case_defects: dict[str, int] = {}
    for t in case_truth:
        case_defects[t.defect] = case_defects.get(t.defect, 0) + 1
    defects[CASES] = dict(sorted(case_defects.items()))
    return GenerationResult(
        day=day,
        rows_by_source=dict(sorted(rows.items())),
        files=files,
        defects_by_source=dict(sorted(defects.items())),
        ground_truth_path=str(gt_path),
        seconds=round(time.perf_counter() - started, 3),
        late_by_source=dict(sorted(late.items())),
    )


def _delivery_folder(settings: Settings, delivery: FileDelivery, kind: str) -> Folder:
    """Where ``delivery`` is put: its bucket prefix for an object source (``folder`` is
    ``<bucket>/<prefix>``), else its folder under the lake's ``landing/``."""
    if kind == "objects":
        bucket, _, prefix = delivery.folder.partition("/")
        return objects_folder(settings, bucket, prefix)
    return lake_folder(settings, f"{settings.landing_uri}/{delivery.folder}")


def _write(folder: Folder, delivery: FileDelivery) -> list[str]:
    """Put the delivery's files (each atomically), then drop files of the source's pattern
    this delivery does not hold, so the folder is never empty in between."""
    paths = []
    for name, text in delivery.texts.items():
        folder.write(name, text.encode(delivery.encoding))
        paths.append(folder.path(name))
    written = set(delivery.texts)
    for name in folder.files():
        stale = name not in written and not name.startswith((".", "_"))
        if stale and fnmatch.fnmatch(name, delivery.pattern):
            folder.delete(name)
    # A (re)delivery starts a new manifest: landing records the checksums of what is there now
    # instead of reporting a regenerated day (another SCALE) as files altered after landing.
    folder.delete("_manifest.json")
    return paths


def _truth_csv(rows: list[TruthRow]) -> str:
    """The ground truth as CSV, sorted by source, file and line so reruns are byte-identical."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(GROUND_TRUTH_COLUMNS)
    ordered = sorted(rows, key=lambda t: (t.source, t.file, t.line or 0, t.business_key, t.defect))
    for t in ordered:
        line = "" if t.line is None else t.line
        writer.writerow((t.source, t.business_key, t.file, line, t.defect, t.rule))
    return buf.getvalue()
