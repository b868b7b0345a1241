"""Reading one share table's Delta log: its versions, commits, snapshots and change files.

Why read the log and not the data: the Delta Sharing protocol hands out files, not rows, so a
query is a walk over the log (the current snapshot through ``deltalake``, which understands
checkpoints; individual commits, for the change feed and for time travel, straight from
``_delta_log/<version>.json``). Each file comes with what pruning needs (partition values and
min/max statistics, ``sharing/pruning.py``); the row and column security already happened
physically when the share table was written. A version of a Delta table never changes, so
snapshots and path sets are cached per version.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar
from urllib.parse import unquote

from enforcement_brain.sharing.errors import ProtocolError, bad_request, not_found

if TYPE_CHECKING:
    from deltalake import DeltaTable

    from enforcement_brain.lake.s3 import LakeStore


@dataclass(frozen=True)
class FileEntry:
    """One data file of a share table, as the log names it."""

    rel_path: str  # decoded, relative to the table's directory
    partition_values: dict[str, str | None]
    size: int
    num_records: int | None
    kind: str = "add"  # add | cdf | remove
    version: int | None = None
    timestamp: int | None = None
    #: ``(min, max)`` as text of the date and integer columns the file's statistics cover:
    #: what prunes files of a table that is not partitioned (share tables are not).
    ranges: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def file_id(self) -> str:
        """Stable per file (the protocol lets clients cache by it)."""
        import hashlib

        return hashlib.md5(self.rel_path.encode("utf-8"), usedforsecurity=False).hexdigest()


@dataclass
class Commit:
    version: int
    timestamp: int  # ms since epoch
    actions: list[dict[str, Any]] = field(default_factory=list)


def _partition_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


#: The file name of a JSON commit in ``_delta_log/``.
COMMIT_NAME = re.compile(r"\d{20}\.json")
CACHE_SIZE = 512  # snapshots and path sets kept (29 share tables × a few versions × 2)
_CACHE: OrderedDict[tuple[str, str, int, int], Any] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def plain_data_path(rel_path: str) -> bool:
    """Whether ``rel_path`` can only name a file inside its table's folder or prefix.

    A non-empty relative path with no ``.``, ``..`` or empty segment, no URI scheme (Delta
    allows absolute paths, e.g. a shallow clone's: another table's files), not under
    ``_delta_log/`` and no NUL. Both the local file endpoint and the S3 presigned URLs refuse
    anything else before they look further.
    """
    parts = rel_path.split("/")
    return not (
        not rel_path
        or "://" in rel_path
        or rel_path.startswith("/")
        or any(p in {"", ".", ".."} for p in parts)
        or "_delta_log" in parts
        or "\x00" in rel_path
    )


class ShareTable:
    """One physical share table (``<lake>/share/<interface>__<dataset>``) on a local disk.

    Everything it reads goes through :attr:`uri` and :attr:`storage_options` (delta-rs) and the
    few methods under "storage" below; :class:`~enforcement_brain.sharing.s3.S3ShareTable`
    overrides exactly those for a lake on object storage, so the protocol logic is written once.
    """

    #: delta-rs storage options; none for a local folder.
    storage_options: dict[str, str] | None = None
    #: Whether this service serves the table's data files (signed URLs to its file endpoint,
    #: checked against :meth:`listed_paths`); a store that serves them itself says False.
    files_served_here: ClassVar[bool] = True
    #: Whether a look at the log may block (a request to a store): never on the event loop then.
    log_reads_block: ClassVar[bool] = False

    # A listing of the log is reused while the folder's mtime is unchanged, but only if it was
    # taken this long after that mtime: file times come from a coarse clock, so a commit in
    # the same tick as the change before it could leave the mtime as it was ("racy git").
    RACY_NS = 100_000_000

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.log_dir = self.root / "_delta_log"
        self._listing: tuple[int, int, list[int]] | None = None  # (mtime, listed at, versions)
        self._start(str(self.root))

    @classmethod
    def at(cls, uri: str, store: LakeStore | None) -> ShareTable:
        """The share table at ``uri`` (the lake's URI of it), however this class stores it."""
        return cls(Path(uri.removeprefix("file://")))

    def _start(self, uri: str) -> None:
        """The state every share table keeps, wherever it is stored (subclasses call this)."""
        self.uri = uri  # where delta-rs opens it; tells tables apart in the cache
        self._paths: set[str] = set()  # the last path set read (see :meth:`names_file`)
        #: The one partition served, ``(column, value)``, or None for the whole table.
        self.part: tuple[str, str] | None = None

    def sliced(self, column: str, value: str) -> ShareTable:
        """Serve only the partition ``column = value``, as if it were the whole table.

        A recipient's share of a recipients' table (``share/project.py``): its snapshots,
        change files and servable paths hold that partition's files alone, and the partition
        column is gone from the schema and the partition values the protocol answers with, so
        the partner sees the table it would have of its own. Returns the table itself.
        """
        self.part = (column, value)
        return self

    def _admits(self, partition_values: dict[str, Any] | None) -> bool:
        """Whether a file of these partition values belongs to what this table serves."""
        if self.part is None:
            return True
        column, value = self.part
        return (partition_values or {}).get(column) == value

    def _outside(self, partition_values: dict[str, Any]) -> dict[str, Any]:
        """The partition values a partner sees: without the served partition's column."""
        if self.part is None:
            return partition_values
        return {k: v for k, v in partition_values.items() if k != self.part[0]}

    def row_filter(self) -> Any:
        """A pyarrow expression selecting the served partition's rows (None: every row), for
        readers that scan the table (the extract API) rather than hand out its files."""
        if self.part is None:
            return None
        import pyarrow.compute as pc

        return pc.field(self.part[0]) == self.part[1]

    def exists(self) -> bool:
        return bool(self.commit_versions())

    # -- the log ---------------------------------------------------------------------------
    def commit_versions(self) -> list[int]:
        """Versions whose JSON commit is still in the log (old ones go after log cleanup).

        One ``stat`` of the log folder per call; it is listed again only when it changed.
        Listing it on every request was a seventh of a worker's time under load (py-spy).
        """
        try:
            stamp = os.stat(self.log_dir).st_mtime_ns
        except OSError:
            return []
        listing = self._listing
        if listing is not None and listing[0] == stamp and listing[1] - stamp > self.RACY_NS:
            return listing[2]
        now = time.time_ns()
        try:
            names = os.listdir(self.log_dir)
        except OSError:
            return []
        versions = sorted(int(n[:20]) for n in names if COMMIT_NAME.fullmatch(n))
        self._listing = (stamp, now, versions)
        return versions

    def latest_version(self) -> int:
        versions = self.commit_versions()
        if not versions:
            raise not_found("the share table has no commits yet")
        return versions[-1]

    def commit(self, version: int) -> Commit:
        found = self._read_commit(version)
        if found is None:
            raise not_found(f"version {version} is not in the table's log")
        text, modified_ms = found
        actions = [json.loads(line) for line in text.splitlines() if line.strip()]
        ts = next(
            (a["commitInfo"].get("timestamp") for a in actions if "commitInfo" in a),
            None,
        )
        return Commit(version, int(modified_ms if ts is None else ts), actions)

    def version_at(self, timestamp: str, *, earliest_after: bool) -> int:
        """Resolve a protocol timestamp to a version.

        ``earliest_after``: the first version committed at or after it (starting points);
        otherwise the last version committed at or before it (ending points, snapshots).
        """
        ms = parse_timestamp(timestamp)
        commits = [self.commit(v) for v in self.commit_versions()]
        if earliest_after:
            for c in commits:
                if c.timestamp >= ms:
                    return c.version
            raise bad_request(f"no version of the table was committed at or after {timestamp}")
        before = [c.version for c in commits if c.timestamp <= ms]
        if not before:
            raise bad_request(f"no version of the table was committed at or before {timestamp}")
        return before[-1]

    # -- the snapshot ----------------------------------------------------------------------
    def _cached(
        self, kind: str, version: int, compute: Callable[[], Any], *, whole: bool = False
    ) -> Any:
        """``compute()`` for this table at ``version``, kept in memory per (table, version,
        commit file): a version of a Delta table never changes, so requests after the first
        skip reading the log. The commit file's modification time is part of the key so a
        table dropped and re-created under the same name (its versions start again from 0) is
        never answered from the old cache. ``whole``: the value is the whole table's, shared
        by every partition served of it."""
        key = self._key(kind, version, whole=whole)
        with _CACHE_LOCK:
            if key in _CACHE:
                _CACHE.move_to_end(key)
                return _CACHE[key]
        value = compute()
        with _CACHE_LOCK:
            _CACHE[key] = value
            while len(_CACHE) > CACHE_SIZE:
                _CACHE.popitem(last=False)
        return value

    def _key(self, kind: str, version: int, *, whole: bool = False) -> tuple[str, str, int, int]:
        if self.part is not None and not whole:  # one partition's answers are not another's
            kind = f"{kind}:{self.part[0]}={self.part[1]}"
        return (kind, self.uri, version, self._commit_stamp(version))

    def cached_snapshot(self) -> Snapshot | None:
        """The latest version's snapshot if it is in memory, else None (nothing is read)."""
        key = self._key("snapshot", self.latest_version())
        with _CACHE_LOCK:
            return _CACHE.get(key)

    def snapshot(self, version: int | None = None) -> Snapshot:
        """The table's files and metadata at ``version`` (default: the latest), cached."""
        latest = self.latest_version()
        if version is not None and not 0 <= version <= latest:
            raise not_found(f"version {version} does not exist (the latest is {latest})")
        wanted = latest if version is None else version
        return self._cached("snapshot", wanted, lambda: self._read_snapshot(wanted))

    def _read_snapshot(self, version: int) -> Snapshot:
        """The snapshot served: the table's, or its served partition's, cut from the table's
        snapshot (read from the log once per version for all the partitions served)."""
        if self.part is None:
            return self._read_table_snapshot(version)
        table = self._cached(
            "snapshot", version, lambda: self._read_table_snapshot(version), whole=True
        )
        column = self.part[0]
        schema = json.loads(table.schema_string)
        schema["fields"] = [f for f in schema["fields"] if f["name"] != column]
        return dataclasses.replace(
            table,
            schema_string=json.dumps(schema, separators=(",", ":")),
            partition_columns=[c for c in table.partition_columns if c != column],
            files=[
                dataclasses.replace(f, partition_values=self._outside(f.partition_values))
                for f in table.files
                if self._admits(f.partition_values)
            ],
        )

    def _read_table_snapshot(self, version: int) -> Snapshot:
        """The whole table's files and metadata at ``version``, from its log."""
        try:
            table = self.delta_table(version)
        except ProtocolError:  # the store did not answer: a 503 the partner retries
            raise
        except Exception as exc:  # a version cleaned from the log, a corrupt log
            raise not_found(f"version {version} cannot be read: {str(exc)[:200]}") from None
        meta = table.metadata()
        import pyarrow as pa

        adds = pa.table(table.get_add_actions(flatten=True)).to_pylist()
        files = [
            FileEntry(
                rel_path=unquote(a["path"]),
                partition_values={
                    c: _partition_text(a.get(f"partition.{c}")) for c in meta.partition_columns
                },
                size=int(a["size_bytes"]),
                num_records=a.get("num_records"),
                ranges=_stat_ranges(a),
            )
            for a in adds
        ]
        return Snapshot(
            version=table.version(),
            table_id=meta.id,
            schema_string=table.schema().to_json(),
            partition_columns=list(meta.partition_columns),
            configuration=dict(meta.configuration or {}),
            files=sorted(files, key=lambda f: f.rel_path),
        )

    def listed_paths(self) -> set[str]:
        """Every file path the log names (current snapshot and every kept commit), cached per
        latest version like the snapshot (a client fetches a file in ranges, many at once).

        The file endpoint serves a path only if it is in this set, so a file merely lying in
        the table's folder (a failed write's leftovers, something copied there) is never served.
        """
        latest = self.latest_version()
        self._paths = paths = self._cached("paths", latest, self._read_listed_paths)
        return paths

    def names_file(self, rel_path: str) -> bool:
        """Whether the log names ``rel_path``: first in the last path set read (every file the
        kept commits named then, so every file of the versions queried until then), which
        needs no look at the log; in the current set only when that misses."""
        return rel_path in self._paths or rel_path in self.listed_paths()

    def _read_listed_paths(self) -> set[str]:
        paths = {f.rel_path for f in self.snapshot().files}
        for v in self.commit_versions():
            for action in self.commit(v).actions:
                for kind in ("add", "remove", "cdc"):
                    found = action.get(kind)
                    if found and found.get("path") and self._admits(found.get("partitionValues")):
                        paths.add(unquote(found["path"]))
        return paths

    # -- the change feed -------------------------------------------------------------------
    def changes(self, start: int, end: int) -> list[FileEntry]:
        """Change files of versions ``start..end`` (inclusive), in the protocol's terms.

        A commit with ``cdc`` files (Delta wrote them for updates and deletes) is described by
        those only; otherwise its data-changing adds are inserts and removes are deletes.
        """
        out: list[FileEntry] = []
        for v in range(start, end + 1):
            commit = self.commit(v)
            cdcs = [a["cdc"] for a in commit.actions if "cdc" in a]
            if cdcs:
                picked = [("cdf", a) for a in cdcs]
            else:
                picked = [
                    (kind, a[key])
                    for a in commit.actions
                    for key, kind in (("add", "add"), ("remove", "remove"))
                    if key in a and a[key].get("dataChange", True)
                ]
            for kind, action in picked:
                if not self._admits(action.get("partitionValues")):
                    continue
                rel = unquote(action["path"])
                size = action.get("size")
                if size is None:
                    size = self._file_size(rel)
                records, ranges = _log_stats(action)
                out.append(
                    FileEntry(
                        rel_path=rel,
                        partition_values=self._outside(dict(action.get("partitionValues") or {})),
                        size=int(size),
                        num_records=records,
                        ranges=ranges,
                        kind=kind,
                        version=v,
                        timestamp=commit.timestamp,
                    )
                )
        return out

    def count_rows(self, entry: FileEntry) -> int:
        """Rows in a file: from its stats, else from the Parquet footer (cdc files have none)."""
        if entry.num_records is not None:
            return entry.num_records
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(self.data_file(entry.rel_path)).metadata.num_rows
        except (OSError, ValueError):
            return 0

    # -- storage: what a table on another store overrides ----------------------------------
    def delta_table(self, version: int) -> DeltaTable:
        """The table at ``version`` through delta-rs (which understands checkpoints)."""
        from deltalake import DeltaTable

        return DeltaTable(self.uri, version=version, storage_options=self.storage_options)

    def _read_commit(self, version: int) -> tuple[str, int] | None:
        """The JSON commit of ``version`` and its modification time (epoch ms), or None when
        the log no longer has it."""
        path = self.log_dir / f"{version:020d}.json"
        try:
            info = path.stat()
        except OSError:
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        return path.read_text(), int(info.st_mtime * 1000)

    def _commit_stamp(self, version: int) -> int:
        """What changes when ``version`` is written again (a dropped and re-created table)."""
        try:
            return (self.log_dir / f"{version:020d}.json").stat().st_mtime_ns
        except OSError:  # the JSON commit was cleaned up: a checkpoint still describes it
            return 0

    def _file_size(self, rel_path: str) -> int:
        return (self.root / rel_path).stat().st_size

    def presigned_url(self, rel_path: str, ttl_seconds: int) -> str:
        """A URL the store serves the file at, for a table whose store serves its files."""
        raise NotImplementedError("this service serves the files of a local share table")

    def data_file(self, rel_path: str) -> Path | BinaryIO:
        """One data file, as Parquet readers open it."""
        return self.root / rel_path


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _bound_text(value: Any) -> str | None:
    """A min/max statistic as a range bound's text, or None when it cannot be one.

    Days and integers only: Spark truncates string statistics, and timestamps to the
    millisecond, so a range of those could prune a file that holds a match. A snapshot's
    statistics come as Python values (delta-rs: ``date``, ``int``), a log action's as JSON (a
    day as its ISO text); both arrive here. An ISO day held in a string column is a sound bound
    too: ten characters are never truncated, and their order is the days' order.
    """
    if isinstance(value, (bool, dt.datetime)):
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and _ISO_DAY.fullmatch(value):
        return value
    return None


def _ranges(lows: dict[str, Any], highs: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """``{column: (min, max)}`` of the columns whose both statistics can bound a range."""
    out = {}
    for column, low in lows.items():
        lo, hi = _bound_text(low), _bound_text(highs.get(column))
        if lo is not None and hi is not None:
            out[column] = (lo, hi)
    return out


def _stat_ranges(add: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The ranges of a flattened add action (delta-rs: ``min.<col>`` / ``max.<col>``)."""
    lows = {k[4:]: v for k, v in add.items() if k.startswith("min.")}
    highs = {k[4:]: v for k, v in add.items() if k.startswith("max.")}
    return _ranges(lows, highs)


def _log_stats(action: dict[str, Any]) -> tuple[int | None, dict[str, tuple[str, str]]]:
    """``(numRecords, ranges)`` of a log action, its JSON ``stats`` parsed once."""
    try:
        stats = json.loads(action.get("stats") or "{}")
        n = stats.get("numRecords")
        records = int(n) if n is not None else None
        lows, highs = stats.get("minValues") or {}, stats.get("maxValues") or {}
        return records, _ranges(lows, highs)
    except (ValueError, TypeError, AttributeError):  # stats a writer got wrong: none used
        return None, {}


@dataclass(frozen=True)
class Snapshot:
    """A version of a share table: its files and the metadata the protocol's answers carry."""

    version: int
    table_id: str
    schema_string: str
    partition_columns: list[str]
    configuration: dict[str, str]
    files: list[FileEntry]

    @property
    def cdf_enabled(self) -> bool:
        return self.configuration.get("delta.enableChangeDataFeed", "false").lower() == "true"


def parse_timestamp(text: str) -> int:
    """Protocol timestamps are ISO 8601 in UTC (``2022-01-01T00:00:00Z``); returns epoch ms."""
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise bad_request(
            f"timestamp {text!r} is not ISO 8601 in UTC (e.g. 2022-01-01T00:00:00Z)"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp() * 1000)
