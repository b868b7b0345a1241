"""``eb doctor``: find what is damaged in the lake, say it with a stable code, say how to recover.

Why a separate check from maintenance: maintenance needs Spark and a healthy table (it OPTIMIZEs
and VACUUMs through Delta), while a damaged log is exactly what makes Delta refuse to open a
table. The doctor reads the files themselves (the commit JSON lines, the checkpoint Parquet, the
data folder) and the file system, so it runs in seconds, without a JVM, on a lake Spark cannot
open. Each problem is a :class:`Finding` with a code from :data:`CODES`; codes are stable, so
runbooks and alerts can match on them (``docs/maintenance.md``, "Recovering a damaged lake").

The recoveries the findings name are here too, as plain file operations (:func:`rollback`,
:func:`rewrite_checkpoint`): Delta's own ``RESTORE`` cannot repair a log it cannot read, so the
damaged versions are moved aside (never deleted) and the table reads as of its last good version.

The time-zone check (:func:`clock_findings`) takes the zones as arguments: the callers read the
Spark session's and the JVM's (``spark.session``, ``eb doctor``), so this module needs no Spark.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from enforcement_brain.errors import ClockError, DiskFullError, EbError
from enforcement_brain.settings import PLATFORM_TZ, Settings

#: Free space on the lake's disk under which the doctor reports ``EB-LAKE-006``: about what a
#: full-scale day writes across its tables, so the next day's load fits (``--min-free-mb``).
MIN_FREE_MB = 1024

#: Delta's default ``delta.deletedFileRetentionDuration`` (what VACUUM keeps when unset).
DEFAULT_FILE_RETENTION_HOURS = 7 * 24

ERROR, WARNING, INFO = "error", "warning", "info"


@dataclass(frozen=True)
class Code:
    """One kind of problem: its stable code, a short title, what it means for the user."""

    code: str
    title: str
    meaning: str


#: Every problem the doctor reports, by code. The recovery steps are in docs/maintenance.md.
CODES: dict[str, Code] = {
    c.code: c
    for c in (
        Code(
            "EB-LAKE-001",
            "commit missing",
            "a version's commit file is gone from _delta_log and no checkpoint covers it: "
            "Delta cannot replay the log past the gap",
        ),
        Code(
            "EB-LAKE-002",
            "commit truncated",
            "a commit file ends in a partial line (a write cut short by a crash or a full "
            "disk): Delta cannot parse that version",
        ),
        Code(
            "EB-LAKE-003",
            "_last_checkpoint damaged",
            "_delta_log/_last_checkpoint does not parse or names a checkpoint that does not "
            "exist: readers start from a wrong or missing checkpoint",
        ),
        Code(
            "EB-LAKE-004",
            "checkpoint damaged",
            "a checkpoint Parquet file cannot be read: readers that start from it fail",
        ),
        Code(
            "EB-LAKE-005",
            "orphaned data file",
            "a data file no kept commit or checkpoint names (a failed write's leftover); "
            "VACUUM removes it once it is older than the table's file retention",
        ),
        Code(
            "EB-LAKE-006",
            "disk space low",
            "the lake's file system has less free space than the doctor's floor "
            f"(--min-free-mb, default {MIN_FREE_MB}): "
            "the next load may fail with a full disk",
        ),
        Code(
            DiskFullError.CODE,
            "disk full",
            "a write failed because the lake's disk is full; Delta committed nothing",
        ),
        Code(
            "EB-LAKE-008",
            "table unreadable",
            "delta-rs cannot open the table's current version for a reason not listed above",
        ),
        Code(
            ClockError.SESSION,
            "Spark session time zone",
            f"spark.sql.session.timeZone is not {PLATFORM_TZ}: Spark would turn the sources' "
            "local times into wrong instants and wrong business dates",
        ),
        Code(
            ClockError.JVM,
            "JVM time zone",
            "the JVM's user.timezone differs from the Spark session's: date and timestamp "
            "conversions that use the JVM default disagree with Spark SQL",
        ),
        Code(
            ClockError.PYTHON,
            "Python time zone",
            "Python's local time zone is neither the session's nor UTC: PySpark converts naive "
            "datetimes with it, and the default DATE (yesterday) is another day",
        ),
    )
}


@dataclass(frozen=True)
class Finding:
    """One problem found: its code, the table (``layer.table``, or ``lake``/``clock``)."""

    code: str
    table: str
    level: str
    detail: str
    recovery: str

    @property
    def title(self) -> str:
        return CODES[self.code].title

    @property
    def meaning(self) -> str:
        return CODES[self.code].meaning


# -- reading the log ---------------------------------------------------------------------------


def _version(name: str) -> int | None:
    head = name.split(".", 1)[0]
    return int(head) if head.isdigit() and len(head) == 20 else None


def commit_versions(log: Path) -> list[int]:
    """Versions that have a commit file (``<20 digits>.json``) in ``_delta_log``."""
    return sorted(v for p in log.glob("*.json") if (v := _version(p.name)) is not None)


def checkpoint_files(log: Path) -> dict[int, list[Path]]:
    """Checkpoint Parquet files by version (a multi-part checkpoint has several)."""
    out: dict[int, list[Path]] = {}
    for p in sorted(log.glob("*.checkpoint*.parquet")):
        v = _version(p.name)
        if v is not None:
            out.setdefault(v, []).append(p)
    return out


def read_commit(path: Path) -> list[dict]:
    """The actions of one commit file; ``ValueError`` if a line does not parse."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _readable_parquet(paths: list[Path]) -> bool:
    import pyarrow.parquet as pq

    try:
        for p in paths:
            pq.read_table(p)
    except Exception:  # pyarrow raises several error types for a damaged file
        return False
    return True


def _checkpoint_paths(paths: list[Path]) -> set[str]:
    """Data files a checkpoint names (its ``add`` files and ``remove`` tombstones)."""
    import pyarrow.parquet as pq

    out: set[str] = set()
    for p in paths:
        names = pq.read_schema(p).names
        table = pq.read_table(p, columns=[c for c in ("add", "remove") if c in names])
        for column in table.column_names:
            for entry in table.column(column).to_pylist():
                if entry and entry.get("path"):
                    out.add(unquote(entry["path"]))
    return out


def data_files(table_dir: Path) -> dict[str, int]:
    """Every data file on disk (relative path → bytes), referenced or not.

    Hidden files (``.crc`` checksums of the local file system) and ``_delta_log`` are not data.
    """
    out: dict[str, int] = {}
    for path in table_dir.rglob("*"):
        rel = path.relative_to(table_dir)
        if rel.parts[0] == "_delta_log" or any(p.startswith(".") for p in rel.parts):
            continue
        if path.is_file():
            out[str(rel)] = path.stat().st_size
    return out


def _retention_hours(configuration: dict[str, str | None]) -> float:
    """The table's ``delta.deletedFileRetentionDuration`` in hours (what VACUUM keeps)."""
    text = (configuration.get("delta.deletedFileRetentionDuration") or "").strip().lower()
    found = re.fullmatch(r"interval\s+(\d+)\s+(day|days|hour|hours)", text)
    if not found:
        return DEFAULT_FILE_RETENTION_HOURS
    n = int(found.group(1))
    return n * 24 if found.group(2).startswith("day") else n


# -- one table ---------------------------------------------------------------------------------


def check_table(table_dir: Path, name: str, now: float | None = None) -> list[Finding]:
    """Every problem of one Delta table's log and data folder, found from the files alone."""
    now = time.time() if now is None else now
    log = table_dir / "_delta_log"
    findings: list[Finding] = []
    commits = commit_versions(log)
    checkpoints = checkpoint_files(log)
    latest = commits[-1] if commits else -1
    rollback_cmd = (
        "eb doctor --rollback {name} --to {v} --apply, then rerun the days the later versions "
        "loaded"
    )

    # A commit whose last line is partial.
    broken: set[int] = set()
    referenced: set[str] = set()
    for v in commits:
        try:
            actions = read_commit(log / f"{v:020d}.json")
        except ValueError:
            broken.add(v)
            findings.append(
                Finding(
                    "EB-LAKE-002",
                    name,
                    ERROR,
                    f"version {v}: {v:020d}.json does not parse (a partial line)",
                    rollback_cmd.format(name=name, v=v - 1),
                )
            )
            continue
        for action in actions:
            for kind in ("add", "remove", "cdc"):
                if kind in action and action[kind].get("path"):
                    referenced.add(unquote(action[kind]["path"]))

    # Checkpoints that do not read, and what the good ones name.
    good_checkpoints: list[int] = []
    for v, paths in sorted(checkpoints.items()):
        if _readable_parquet(paths):
            good_checkpoints.append(v)
            referenced |= _checkpoint_paths(paths)
        else:
            findings.append(
                Finding(
                    "EB-LAKE-004",
                    name,
                    ERROR,
                    f"checkpoint of version {v} ({paths[0].name}) is not readable Parquet",
                    f"eb doctor --checkpoint {name} --apply",
                )
            )

    # _last_checkpoint.
    last = log / "_last_checkpoint"
    if last.exists():
        try:
            named = int(json.loads(last.read_text(encoding="utf-8"))["version"])
        except (ValueError, KeyError, TypeError):
            findings.append(
                Finding(
                    "EB-LAKE-003",
                    name,
                    ERROR,
                    "_last_checkpoint does not parse",
                    f"eb doctor --checkpoint {name} --apply",
                )
            )
        else:
            if named not in checkpoints:
                findings.append(
                    Finding(
                        "EB-LAKE-003",
                        name,
                        ERROR,
                        f"_last_checkpoint names version {named}, which has no checkpoint file",
                        f"eb doctor --checkpoint {name} --apply",
                    )
                )

    # Gaps: versions missing between the first kept commit and the latest, or at the start of
    # the log with no checkpoint to start from (log clean-up removes only commits a checkpoint
    # covers, oldest first).
    present = set(commits)
    start = max((c for c in good_checkpoints if c <= latest), default=None)
    first = commits[0] if commits else 0
    missing = [v for v in range(first, latest) if v not in present]
    if first > 0 and (start is None or start < first - 1):
        missing = [*range(0 if start is None else start + 1, first), *missing]
    if missing:
        after_start = [v for v in missing if start is None or v > start]
        level = ERROR if after_start else WARNING
        span = _spans(missing)
        detail = f"version(s) {span} missing"
        if after_start:
            good = min(after_start) - 1
            recovery = rollback_cmd.format(name=name, v=good)
        else:
            detail += f"; the current version reads from the checkpoint of version {start}"
            recovery = "none for current reads; time travel to those versions is lost"
        findings.append(Finding("EB-LAKE-001", name, level, detail, recovery))

    # Orphaned data files.
    configuration = _configuration(table_dir)
    hours = _retention_hours(configuration)
    for rel, _size in sorted(data_files(table_dir).items()):
        if not rel.endswith(".parquet") or rel in referenced:
            continue
        age_hours = (now - (table_dir / rel).stat().st_mtime) / 3600
        if age_hours > hours:
            findings.append(
                Finding(
                    "EB-LAKE-005",
                    name,
                    WARNING,
                    f"{rel}: {age_hours / 24:.0f} days old, older than the file retention "
                    f"({hours / 24:g} days)",
                    f"eb maintain --tables {name}",
                )
            )
        else:
            findings.append(
                Finding(
                    "EB-LAKE-005",
                    name,
                    INFO,
                    f"{rel}: {age_hours:.1f} hours old, within the file retention "
                    f"({hours / 24:g} days): a write in flight or one that failed",
                    f"none: VACUUM removes it after {hours / 24:g} days",
                )
            )

    if not any(f.level == ERROR for f in findings):
        problem = _unreadable(table_dir)
        if problem:
            findings.append(
                Finding(
                    "EB-LAKE-008",
                    name,
                    ERROR,
                    problem,
                    rollback_cmd.format(name=name, v=max(latest - 1, 0)),
                )
            )
    return findings


def _spans(versions: list[int]) -> str:
    """``3, 5-7`` for [3, 5, 6, 7]."""
    parts: list[str] = []
    for v in versions:
        if parts and parts[-1][1] == v - 1:
            parts[-1] = (parts[-1][0], v)
        else:
            parts.append((v, v))
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in parts)


def _configuration(table_dir: Path) -> dict[str, str | None]:
    from deltalake import DeltaTable

    with contextlib.suppress(Exception):
        return dict(DeltaTable(str(table_dir)).metadata().configuration)
    return {}


def _unreadable(table_dir: Path) -> str:
    """delta-rs's one-line complaint when it cannot open the current version, else ''."""
    from deltalake import DeltaTable

    try:
        DeltaTable(str(table_dir)).file_uris()
    except Exception as exc:  # delta-rs raises several error types
        return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    return ""


# -- the lake and the machine ------------------------------------------------------------------


def disk_findings(path: Path, min_free_mb: int) -> list[Finding]:
    """Free space on the lake's file system below the threshold."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free >= min_free_mb * 1024 * 1024:
        return []
    return [
        Finding(
            "EB-LAKE-006",
            "lake",
            ERROR,
            f"{free / 1024 / 1024:.1f} MB free at {probe} (floor {min_free_mb} MB)",
            "free space on that file system, then rerun the days whose loads failed",
        )
    ]


def _offsets(zone: dt.tzinfo | None, year: int) -> tuple[dt.timedelta | None, ...]:
    """The zone's UTC offsets in winter, summer and now: two names of one zone compare equal
    (``Asia/Shanghai`` and ``PRC``, ``UTC`` and ``Etc/UTC``), zones with other rules do not."""
    instants = [
        dt.datetime(year, 1, 15, 12, tzinfo=dt.UTC),
        dt.datetime(year, 7, 15, 12, tzinfo=dt.UTC),
        dt.datetime.now(dt.UTC),
    ]
    if zone is None:  # Python's local zone
        return tuple(i.astimezone().utcoffset() for i in instants)
    return tuple(i.astimezone(zone).utcoffset() for i in instants)


def _zone(name: str | None) -> dt.tzinfo | None:
    """A zone from an IANA name or a fixed offset such as ``GMT+08:00``; None if unknown."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not name:
        return None
    fixed = re.fullmatch(r"(?:GMT|UTC)([+-])(\d{1,2}):?(\d{2})?", name.strip())
    if fixed:
        sign = 1 if fixed.group(1) == "+" else -1
        delta = dt.timedelta(hours=int(fixed.group(2)), minutes=int(fixed.group(3) or 0))
        return dt.timezone(sign * delta)
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        return None


def python_zone_name() -> str:
    """A name for this process's local time zone: ``TZ``, else the system's, else its
    abbreviation."""
    if os.environ.get("TZ"):
        return os.environ["TZ"].lstrip(":")
    with contextlib.suppress(OSError):
        target = os.readlink("/etc/localtime")
        if "zoneinfo/" in target:
            return target.split("zoneinfo/", 1)[1]
    return time.tzname[0]


def same_zone(a: str, b: str) -> bool:
    """Whether two zone names keep the same clock (same offsets in winter, summer, now)."""
    year = dt.datetime.now(dt.UTC).year
    za, zb = _zone(a), _zone(b)
    if za is None or zb is None:
        return a.strip() == b.strip()
    return _offsets(za, year) == _offsets(zb, year)


def clock_findings(session_tz: str, jvm_tz: str | None, python_local: bool = True) -> list[Finding]:
    """Mismatches between the Spark session's, the JVM's and Python's time zones.

    - the session zone must be the platform's (:data:`PLATFORM_TZ`): every source writes
      local time without an offset, and ``to_date``/``current_date()`` use the session zone;
    - the JVM's ``user.timezone`` must be the session's: ``java.sql.Date``/``Timestamp``
      conversions (PySpark's date literals among them) use the JVM default. ``None``: unknown
      (the JVM is not running), not checked;
    - Python's local zone must be the session's or UTC: PySpark converts naive ``datetime``
      values with it, and a host in a third zone computes "yesterday" as another day.
      (``python_local=False`` skips it, for a check of another process's zones.)
    """
    restart = "eb spark stop && eb spark start (the platform pins both zones in spark_conf)"
    out: list[Finding] = []
    if not same_zone(session_tz, PLATFORM_TZ):
        out.append(
            Finding(
                ClockError.SESSION,
                "clock",
                ERROR,
                f"spark.sql.session.timeZone={session_tz}, expected {PLATFORM_TZ}",
                restart,
            )
        )
    if jvm_tz is not None and not same_zone(jvm_tz, session_tz):
        out.append(
            Finding(
                ClockError.JVM,
                "clock",
                ERROR,
                f"JVM user.timezone={jvm_tz}, Spark session {session_tz}",
                restart,
            )
        )
    if python_local:
        year = dt.datetime.now(dt.UTC).year
        local = _offsets(None, year)
        if local not in (_offsets(_zone(session_tz), year), _offsets(dt.UTC, year)):
            out.append(
                Finding(
                    ClockError.PYTHON,
                    "clock",
                    ERROR,
                    f"Python's local zone is {python_zone_name()}, Spark session {session_tz}",
                    f"run with TZ={PLATFORM_TZ} (or TZ=UTC)",
                )
            )
    return out


def require_clock(session_tz: str, jvm_tz: str | None) -> None:
    """Raise :class:`ClockError` on the first mismatch, before anything is written."""
    for f in clock_findings(session_tz, jvm_tz):
        raise ClockError(f.code, f"{f.title}: {f.detail}; {f.meaning}. Fix: {f.recovery}")


def examine(
    settings: Settings,
    tables: Iterable[tuple[str, str]],
    min_free_mb: int = MIN_FREE_MB,
    now: float | None = None,
) -> list[Finding]:
    """Every finding for the given ``(layer, table)`` pairs and the lake's disk."""
    findings = disk_findings(settings.local_lake, min_free_mb)
    for layer, table in tables:
        table_dir = Path(settings.table_uri(layer, table).removeprefix("file://"))
        findings += check_table(table_dir, f"{layer}.{table}", now)
    return findings


def summary(findings: list[Finding], tables: int) -> str:
    """A readable report: one block per finding, then a count by level."""
    lines: list[str] = []
    for f in findings:
        lines.append(f"{f.level.upper():<8} {f.code} {f.title} — {f.table}")
        lines.append(f"         {f.detail}")
        lines.append(f"         means: {f.meaning}")
        lines.append(f"         recover: {f.recovery}")
    counts = {lv: sum(1 for f in findings if f.level == lv) for lv in (ERROR, WARNING, INFO)}
    lines.append(
        f"{tables} tables checked: {counts[ERROR]} error(s), {counts[WARNING]} warning(s), "
        f"{counts[INFO]} note(s)" + ("" if findings else "; the lake is healthy")
    )
    return "\n".join(lines)


def exit_status(findings: list[Finding]) -> int:
    """1 when something needs a person (an error or a warning), 0 otherwise."""
    return 1 if any(f.level in (ERROR, WARNING) for f in findings) else 0


# -- recoveries --------------------------------------------------------------------------------


def _aside(table_dir: Path, aside_root: Path) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    target = aside_root / stamp / table_dir.parent.name / table_dir.name
    target.mkdir(parents=True, exist_ok=True)
    return target


def rollback(
    table_dir: Path, to_version: int, aside_root: Path, *, dry_run: bool = False
) -> list[str]:
    """Make ``to_version`` the table's latest: move every later commit, checkpoint and
    checksum file (and a ``_last_checkpoint`` naming a later or no version) aside.

    The files go to ``aside_root/<time>/<layer>/<table>/``, not away: nothing is deleted. The
    data files of the moved versions become orphans, which VACUUM removes after the retention.
    The local file system's hidden checksums (``.<name>.crc``) of the moved versions go too,
    those of a missing commit among them: Hadoop checks the next commit of that version against
    a checksum left behind and refuses to read it.
    ``dry_run``: only the names of the files that would move (``eb doctor`` without ``--apply``).
    """
    log = table_dir / "_delta_log"
    if not (log / f"{to_version:020d}.json").exists() and to_version not in checkpoint_files(log):
        raise EbError(
            f"{table_dir}: version {to_version} has neither a commit nor a checkpoint to keep"
        )
    late = [
        p
        for p in sorted(log.iterdir())
        if ((v := _version(p.name.lstrip("."))) is not None and v > to_version)
        or (p.name == "_last_checkpoint" and _names_after(p, to_version))
    ]
    late += _checksums([p for p in late if not p.name.startswith(".")], late)
    if not dry_run:
        target = _aside(table_dir, aside_root)
        for p in late:
            shutil.move(str(p), target / p.name)
    return [p.name for p in late]


def _checksums(paths: list[Path], already: list[Path]) -> list[Path]:
    """The hidden checksum files (``.<name>.crc``) the local file system keeps beside
    ``paths``, except those already listed."""
    found = [p.parent / f".{p.name}.crc" for p in paths]
    return [c for c in found if c.exists() and c not in already]


def _names_after(last: Path, version: int) -> bool:
    try:
        return int(json.loads(last.read_text(encoding="utf-8"))["version"]) > version
    except (ValueError, KeyError, TypeError):
        return True


def rewrite_checkpoint(table_dir: Path, aside_root: Path, *, dry_run: bool = False) -> list[str]:
    """Move a damaged ``_last_checkpoint`` and unreadable checkpoint files aside, then write a
    fresh checkpoint of the latest version from the commits (delta-rs).

    ``dry_run``: only the names of the files that would move, nothing written.
    """
    from deltalake import DeltaTable

    log = table_dir / "_delta_log"
    damaged = [
        p
        for _v, paths in sorted(checkpoint_files(log).items())
        if not _readable_parquet(paths)
        for p in paths
    ]
    if (log / "_last_checkpoint").exists():
        damaged.append(log / "_last_checkpoint")
    damaged += _checksums(damaged, damaged)
    if not dry_run:
        target = _aside(table_dir, aside_root)
        for p in damaged:
            shutil.move(str(p), target / p.name)
        DeltaTable(str(table_dir)).create_checkpoint()
    return [p.name for p in damaged]
