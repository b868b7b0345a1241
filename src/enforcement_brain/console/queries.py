"""What the console's pages show, read from the lake's ``ops`` tables, the quarantine tables, the
sharing audit and the declarations: one function per page, each returning plain JSON-able dicts.

Why delta-rs and not Spark: a page must answer in well under a second, and a Spark session
costs seconds to start and a JVM to keep. The ``ops`` tables are small histories (a row per
load, rule or publish), read with a filter on the days shown; a quarantine table can be large,
so only one source's day is scanned, the few columns that order it first, and only the rows of
the page asked for are read whole.

Nothing here writes: the audit database is opened without creating it, and a lake or store that
does not exist yet is an empty page saying so.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from enforcement_brain.errors import EbError, SetupError
from enforcement_brain.lake import tables
from enforcement_brain.ops.schemas import PUBLISH_REFUSED
from enforcement_brain.settings import BUSINESS_TZ, Settings
from enforcement_brain.share.project import share_location
from enforcement_brain.standards.rule_kinds import kind_named

if TYPE_CHECKING:
    from enforcement_brain.declarations import Catalog, Source

#: Days the quality trends cover, the last one included.
TREND_DAYS = 30
#: Quarantined rows per page by default, and at most.
PAGE_ROWS, MAX_PAGE_ROWS = 50, 500
#: Order of a source's status on the Today page: what needs someone first.
STATUS_ORDER = ("failed", "missing", "late", "unreconciled", "waiting", "on time")
#: What a page says when the lake holds nothing yet.
EMPTY_LAKE = "nothing loaded yet: run a day (make run) and reload this page"


class NotFound(EbError):
    """A day, source or page the lake has nothing for (HTTP 404, the message says which)."""


class BadRequest(EbError):
    """A parameter that cannot be read (HTTP 400)."""


def warm() -> None:
    """Import what the pages read with (delta-rs, Arrow, SQLAlchemy) before the first request,
    which would otherwise wait seconds for the imports."""
    import deltalake  # noqa: F401
    import pyarrow.compute
    import pyarrow.dataset  # noqa: F401
    import sqlalchemy  # noqa: F401


def parse_day(text: str | None) -> dt.date | None:
    """``YYYY-MM-DD`` or None; :class:`BadRequest` naming the expected form otherwise."""
    if text is None or not text.strip():
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise BadRequest(f"day {text!r} is not a date: use YYYY-MM-DD, e.g. 2026-11-29") from None


def replay_command(source_id: str, day: dt.date) -> str:
    """The command that re-checks a source's quarantined rows of a day (``eb replay``)."""
    return f".venv/bin/eb replay --source {source_id} --date {day.isoformat()}"


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


#: The ``ops`` tables as last read, by location: (table id, version) and the rows.
_READ: dict[str, tuple[tuple[str, int], Any]] = {}


def _ops_table(settings: Settings, table: str) -> Any:
    """An ``ops`` table as an Arrow table (None when it does not exist yet), read with
    delta-rs at its latest version.

    Why kept between requests: the ``ops`` tables are histories that every load appends a
    small file to, so after a month a page would read a thousand files each time (seconds)
    for rows it read a moment ago. Each request opens the table's log (milliseconds) and reads
    the rows again only when its version moved, or when the table is another one at the same
    place (its id differs: rebuilt or restored); the lake stays the only copy trusted."""
    if not tables.is_delta_table(settings, "ops", table):
        return None
    uri = settings.table_uri("ops", table)
    delta = tables.open_delta(settings, "ops", table)
    stamp = (delta.metadata().id, delta.version())
    kept = _READ.get(uri)
    if kept is not None and kept[0] == stamp:
        return kept[1]
    _READ[uri] = (stamp, tables.read_all(delta))
    return _READ[uri][1]


def _last_day(settings: Settings, table: str) -> dt.date | None:
    """The latest ``delivery_date`` of an ``ops`` table; None when it has no rows."""
    import pyarrow.compute as pc

    data = _ops_table(settings, table)
    if data is None or data.num_rows == 0:
        return None
    return pc.max(data["delivery_date"]).as_py()


def _ops(settings: Settings, table: str, where: Any = None, columns: list[str] | None = None):
    """Rows of an ``ops`` table (none when it does not exist yet) as dicts, filtered by a
    ``pyarrow.compute`` expression and cut to ``columns``."""
    data = _ops_table(settings, table)
    if data is None:
        return []
    if where is not None:
        data = data.filter(where)
    if columns is not None:
        data = data.select(columns)
    return data.to_pylist()


def _latest(rows: Iterable[dict[str, Any]], *key: str) -> dict[tuple, list[dict[str, Any]]]:
    """The rows of each ``key`` group's latest ``recorded_at`` (the latest load of a source and
    day is its current truth: a rerun appends its own rows)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in key), []).append(row)
    out = {}
    for k, group in groups.items():
        last = max(r["recorded_at"] for r in group)
        out[k] = [r for r in group if r["recorded_at"] == last]
    return out


def _source(catalog: Catalog, source_id: str | None) -> Source | None:
    if source_id is None or not source_id.strip():
        return None
    if source_id not in catalog.sources:
        raise NotFound(f"unknown source {source_id!r}: see /lineage for the declared sources")
    return catalog.sources[source_id]


def day_end(day: dt.date) -> dt.datetime:
    """The end of a business day: midnight after it, in the agency's time zone."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), ZoneInfo(BUSINESS_TZ))


def hours_after_day_end(day: dt.date, at: dt.datetime) -> float:
    """Hours between the end of ``day`` and ``at`` (negative when earlier)."""
    return round((at - day_end(day)).total_seconds() / 3600, 1)


# -- Today -------------------------------------------------------------------------------------


def today(
    settings: Settings, catalog: Catalog, day: dt.date | None = None, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Each declared source's status for a delivery day (default: the latest with a load).

    A source's figures are its latest load of the day (``ops.batch_log``); its freshness is
    when the day first reached silver against the hours Standard 2 allows after the end of the
    day (``quality.freshness_hours``). ``failed``: a task of the source's day failed after its
    last load (``ops.run_log``); ``missing``: no load and the deadline has passed.
    """
    now = now or dt.datetime.now(dt.UTC)
    batches = _ops(settings, "batch_log")
    days = sorted({r["delivery_date"] for r in batches})
    if not days:
        return {"day": None, "days": [], "sources": [], "message": EMPTY_LAKE}
    if day is None:
        day = days[-1]
    elif day not in days:
        raise NotFound(f"no load recorded for {day}: loads exist from {days[0]} to {days[-1]}")
    of_day = [r for r in batches if r["delivery_date"] == day]
    latest = _latest(of_day, "source")
    runs = _ops(settings, "run_log", _day_filter(day))
    failures: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        if run["status"] == "failed":
            failures.setdefault(run["subject"], []).append(run)
    out = []
    for sid, source in catalog.sources.items():
        sla = source.quality.get("freshness_hours")
        deadline = day_end(day) + dt.timedelta(hours=sla) if sla is not None else None
        row: dict[str, Any] = {
            "source": sid,
            "title": source.title,
            "freshness_hours": sla,
            "deadline": _iso(deadline),
        }
        loads = [r for r in of_day if r["source"] == sid]
        last = latest.get((sid,), [None])[0]
        failed = [
            f
            for f in failures.get(sid, [])
            if last is None or f["finished_at"] > last["recorded_at"]
        ]
        first = min((r["recorded_at"] for r in loads), default=None)
        if last is not None and first is not None:
            loaded = last["inserted"] + last["updated"] + last["unchanged"]
            row |= {
                "batch_id": last["batch_id"],
                "loads": len(loads),
                "rows_in": last["rows_in"],
                "loaded": loaded,
                "duplicates": last["duplicates_dropped"],
                "quarantined": last["quarantined"],
                "warned": last["warned"],
                "reconciles": bool(last["reconciles"]),
                "first_loaded_at": _iso(first),
                "hours_after_day_end": hours_after_day_end(day, first),
            }
        if failed:
            status = "failed"
            row["error"] = max(failed, key=lambda f: f["finished_at"])["detail"][:500]
        elif last is None:
            status = "missing" if deadline is not None and now > deadline else "waiting"
        elif deadline is not None and first is not None and first > deadline:
            status = "late"
        elif not row["reconciles"]:
            status = "unreconciled"
        else:
            status = "on time"
        row["status"] = status
        out.append(row)
    out.sort(key=lambda r: (STATUS_ORDER.index(r["status"]), r["source"]))
    counts = {s: sum(r["status"] == s for r in out) for s in STATUS_ORDER}
    return {
        "day": day.isoformat(),
        "days": [d.isoformat() for d in days],
        "statuses": {k: v for k, v in counts.items() if v},
        "sources": out,
    }


def _day_filter(day: dt.date) -> Any:
    import pyarrow.compute as pc

    return pc.field("delivery_date") == day


# -- Quality trends ----------------------------------------------------------------------------


def quality(
    settings: Settings, catalog: Catalog, source_id: str | None = None, end: dt.date | None = None
) -> dict[str, Any]:
    """Per source and rule, failures per day over :data:`TREND_DAYS` days ending on ``end``
    (default: the latest day in the ledger), with Standard 2's thresholds per dimension.

    Rule failures are the ledger's (each day's latest load). The dimensions per day:
    completeness = 1 - failures of the key and required-value rules / rows checked (a row
    missing both counts twice, so the figure is a floor); validity = rows that reached
    silver / rows in; uniqueness = distinct keys / rows that passed the rules (both from
    ``ops.batch_log``); freshness = hours after the end of the day the day first loaded.
    """
    import pyarrow.compute as pc

    wanted = _source(catalog, source_id)
    last_day = _last_day(settings, "dq_ledger")
    if last_day is None:
        return {"start": None, "end": None, "days": [], "sources": [], "message": EMPTY_LAKE}
    end = end or last_day
    start = end - dt.timedelta(days=TREND_DAYS - 1)
    window = (pc.field("delivery_date") >= start) & (pc.field("delivery_date") <= end)
    if wanted is not None:
        window = window & (pc.field("source") == wanted.id)
    ledger = _latest(_ops(settings, "dq_ledger", window), "source", "delivery_date")
    batch_rows = _ops(settings, "batch_log", window)
    batches = _latest(batch_rows, "source", "delivery_date")
    firsts: dict[tuple, dt.datetime] = {}
    for r in batch_rows:
        key = (r["source"], r["delivery_date"])
        firsts[key] = min(firsts.get(key, r["recorded_at"]), r["recorded_at"])
    days = [start + dt.timedelta(days=n) for n in range(TREND_DAYS)]
    ids = [wanted.id] if wanted else sorted({s for s, _ in ledger} | {s for s, _ in batches})
    sources = []
    for sid in ids:
        source = catalog.sources.get(sid)
        if source is None:
            continue  # a source no longer declared keeps its history, not its page
        incomplete = {
            r.id for r in catalog.rules_for(source) if kind_named(r.kind).measures_completeness
        }
        rules: dict[str, dict[str, Any]] = {}
        dims: dict[str, list[list[Any]]] = {
            k: [] for k in ("completeness", "validity", "uniqueness", "freshness_hours")
        }
        for day in days:
            rows = ledger.get((sid, day), [])
            for r in rows:
                entry = rules.setdefault(
                    r["rule_id"],
                    {
                        "rule": r["rule_id"],
                        "title": r["rule_title"],
                        "severity": r["severity"],
                        "failed": {},
                    },
                )
                entry["failed"][day.isoformat()] = r["failed"]
            batch = (batches.get((sid, day)) or [None])[0]
            completeness = validity = uniqueness = freshness = None
            if rows and rows[0]["checked"]:
                missing = sum(r["failed"] for r in rows if r["rule_id"] in incomplete)
                completeness = round(1 - missing / rows[0]["checked"], 4)
            if batch is not None and batch["rows_in"]:
                passed = batch["rows_in"] - batch["quarantined"]
                validity = round(passed / batch["rows_in"], 4)
                if passed:
                    uniqueness = round((passed - batch["duplicates_dropped"]) / passed, 4)
            if (sid, day) in firsts:
                freshness = hours_after_day_end(day, firsts[(sid, day)])
            for name, value in (
                ("completeness", completeness),
                ("validity", validity),
                ("uniqueness", uniqueness),
                ("freshness_hours", freshness),
            ):
                dims[name].append([day.isoformat(), value])
        thresholds = {k: source.quality.get(k) for k in dims}
        sources.append(
            {
                "source": sid,
                "title": source.title,
                "thresholds": thresholds,
                "dimensions": dims,
                "rules": sorted(rules.values(), key=lambda e: e["rule"]),
            }
        )
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "days": [d.isoformat() for d in days],
        "sources": sources,
    }


# -- Quarantine --------------------------------------------------------------------------------


def quarantine_summary(settings: Settings, catalog: Catalog) -> dict[str, Any]:
    """Quarantined rows by source, day and rule over the last :data:`TREND_DAYS` days, from the
    ledger's latest load of each day (the quarantine tables are not scanned for it)."""
    import pyarrow.compute as pc

    end = _last_day(settings, "dq_ledger")
    if end is None:
        return {"rows": [], "message": EMPTY_LAKE}
    start = end - dt.timedelta(days=TREND_DAYS - 1)
    window = (pc.field("delivery_date") >= start) & (pc.field("severity") == "quarantine")
    latest = _latest(_ops(settings, "dq_ledger", window), "source", "delivery_date")
    rows = [
        {
            "source": sid,
            "day": day.isoformat(),
            "rule": r["rule_id"],
            "title": r["rule_title"],
            "failed": r["failed"],
            "link": f"/quarantine?source={sid}&day={day.isoformat()}&rule={r['rule_id']}",
        }
        for (sid, day), group in latest.items()
        for r in group
        if r["failed"]
    ]
    rows.sort(key=lambda r: (r["day"], r["source"], r["rule"]), reverse=True)
    return {"start": start.isoformat(), "end": end.isoformat(), "rows": rows}


def quarantine(
    settings: Settings,
    catalog: Catalog,
    source_id: str | None,
    day: dt.date | None,
    rule: str | None = None,
    page: int = 1,
    per_page: int = PAGE_ROWS,
) -> dict[str, Any]:
    """One page of a source's quarantined rows of a day, in file and line order, each with
    the delivered text, the rules it broke and where it was delivered; ``rule`` keeps the rows
    that broke that rule. Reads the day's partition only, the rows of the page whole.

    Without a day, the source's latest day with a load: a link that names only the source
    (the lineage's silver boxes) opens on what was last checked."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from deltalake import DeltaTable

    source = _source(catalog, source_id)
    if source is None:
        raise BadRequest("give a source, e.g. ?source=wim_weighings&day=2026-11-29")
    if day is None:
        days = _ops(settings, "batch_log", pc.field("source") == source.id, ["delivery_date"])
        if not days:
            raise NotFound(f"no load of {source.id} recorded yet")
        day = max(r["delivery_date"] for r in days)
    if rule is not None and rule not in catalog.rules:
        raise NotFound(f"unknown rule {rule!r}")
    if not 1 <= per_page <= MAX_PAGE_ROWS:
        raise BadRequest(f"per_page must be between 1 and {MAX_PAGE_ROWS}")
    if page < 1:
        raise BadRequest("page must be 1 or more")
    loaded = _ops(
        settings, "batch_log", (pc.field("source") == source.id) & _day_filter(day), ["source"]
    )
    base = {
        "source": source.id,
        "day": day.isoformat(),
        "rule": rule,
        "replay": replay_command(source.id, day),
        "page": page,
        "per_page": per_page,
    }
    exists = tables.is_delta_table(settings, "quarantine", source.id)
    if not loaded and not exists:
        raise NotFound(f"no load of {source.id} recorded for {day}")
    if not exists:
        return base | {"total": 0, "pages": 0, "rows": []}
    dataset = DeltaTable(settings.table_uri("quarantine", source.id)).to_pyarrow_dataset()
    where = pc.field("_delivery_date") == day
    order = dataset.to_table(columns=["_source_file", "_source_line", "_violations"], filter=where)
    if not loaded and order.num_rows == 0:
        raise NotFound(f"no load of {source.id} recorded for {day}")
    index = pa.array(range(order.num_rows), pa.int64())
    if rule is not None:
        flat = pc.list_flatten(order["_violations"])
        parents = pc.list_parent_indices(order["_violations"])
        index = pc.unique(pc.filter(parents, pc.equal(flat, rule))).cast(pa.int64())
    keyed = pa.table(
        {
            "i": index,
            "f": pc.take(order["_source_file"], index),
            "l": pc.take(order["_source_line"], index),
        }
    )
    ordered = keyed.sort_by([("f", "ascending"), ("l", "ascending"), ("i", "ascending")])["i"]
    total = len(ordered)
    pages = math.ceil(total / per_page)
    if total and page > pages:
        raise NotFound(f"page {page} of {source.id} {day}: there are {pages} page(s)")
    chosen = ordered.slice((page - 1) * per_page, per_page)
    columns = [*source.column_names, "_corrupt_record", "_violations", "_warnings"]
    columns += ["_source_file", "_source_line", "_standard_version", "_batch_id"]
    present = [c for c in columns if c in dataset.schema.names]
    taken = dataset.take(chosen, columns=present, filter=where).to_pylist() if total else []
    rows = []
    for r in taken:
        rows.append(
            {
                "file": r["_source_file"],
                "line": r["_source_line"],
                "delivered": {c: r[c] for c in source.column_names if r.get(c) is not None},
                "corrupt_record": r.get("_corrupt_record"),
                "reasons": [
                    {"rule": v, "title": _rule_title(catalog, v)} for v in r["_violations"] or []
                ],
                "warnings": list(r.get("_warnings") or []),
                "standard_version": r.get("_standard_version"),
                "batch_id": r.get("_batch_id"),
            }
        )
    return base | {"total": total, "pages": pages, "rows": rows}


def _rule_title(catalog: Catalog, rule_id: str) -> str:
    rule = catalog.rules.get(rule_id)
    return rule.title if rule else ""


# -- Publishing --------------------------------------------------------------------------------


def publishing(settings: Settings, catalog: Catalog) -> dict[str, Any]:
    """Each shared dataset's last good version, its latest gate results and the days its gate
    refused, from ``ops.publish_log``."""
    log = _ops(settings, "publish_log")
    out = []
    for did, dataset in catalog.datasets.items():
        rows = sorted((r for r in log if r["dataset"] == did), key=lambda r: r["recorded_at"])
        good = [r for r in rows if r.get("status") != PUBLISH_REFUSED]
        refused = [r for r in rows if r.get("status") == PUBLISH_REFUSED]
        last_good = max(good, key=lambda r: (r["gold_version"], r["recorded_at"]), default=None)
        entry: dict[str, Any] = {
            "dataset": did,
            "title": dataset.title,
            "gate_checks": [{"id": g.id, "title": g.title} for g in dataset.gate],
            "publishes": len(good),
            "last_good": None,
            "latest_gate": json.loads(rows[-1]["gate"]) if rows and rows[-1].get("gate") else {},
            "refused": [
                {
                    "day": r["delivery_date"].isoformat(),
                    "at": _iso(r["recorded_at"]),
                    "failed": {k: v for k, v in json.loads(r["gate"] or "{}").items() if v},
                    "kept_version": r["gold_version"],
                    "run_id": r["run_id"],
                }
                for r in refused
            ],
        }
        if last_good is not None:
            entry["last_good"] = {
                "version": last_good["gold_version"],
                "day": last_good["delivery_date"].isoformat(),
                "at": _iso(last_good["recorded_at"]),
                "rows": last_good["rows"],
                "partitions": [p for p in last_good["partitions"].split(",") if p],
                "run_id": last_good["run_id"],
            }
        out.append(entry)
    out.sort(key=lambda e: (not e["refused"], e["last_good"] is None, e["dataset"]))
    result: dict[str, Any] = {"datasets": out}
    if not log:
        result["message"] = "nothing published yet: datasets publish once their sources load"
    return result


# -- Interfaces --------------------------------------------------------------------------------


def interfaces(settings: Settings, catalog: Catalog) -> dict[str, Any]:
    """Per interface: requests, rows served, refusals (401/403/429) and last access from the
    sharing audit, and its tokens' lifetimes. Tokens and their hashes are never read."""
    from sqlalchemy import case, func, select

    from enforcement_brain.sharing.db import connect
    from enforcement_brain.sharing.db import tables as governance

    try:
        engine = connect(settings.governance_db_url, create=False)
    except SetupError:
        engine = None
    usage: dict[str | None, dict[str, Any]] = {}
    tokens: dict[str, list[dict[str, Any]]] = {}
    if engine is not None:
        try:
            a = governance()["audit"]
            counted = [func.sum(case((a.c.status == s, 1), else_=0)) for s in (401, 403, 429)]
            stmt = select(
                a.c.interface_id,
                func.count(),
                func.coalesce(func.sum(case((a.c.status < 400, a.c.rows_served), else_=0)), 0),
                *counted,
                func.max(a.c.at),
            ).group_by(a.c.interface_id)
            t = governance()["tokens"]
            # Only these columns: the token's hash is never selected, let alone shown.
            listed = select(
                t.c.token_id, t.c.interface_id, t.c.issued_at, t.c.expires_at, t.c.revoked_at
            ).order_by(t.c.interface_id, t.c.issued_at)
            with engine.connect() as conn:
                for iid, n, served, r401, r403, r429, last in conn.execute(stmt):
                    usage[iid] = {
                        "requests": n,
                        "rows_served": int(served),
                        "401": int(r401),
                        "403": int(r403),
                        "429": int(r429),
                        "last_access": _iso(_utc(last)),
                    }
                now = dt.datetime.now(dt.UTC)
                for tid, iid, issued, expires, revoked in conn.execute(listed):
                    expires = _utc(expires)
                    status = "revoked" if revoked else "expired" if expires <= now else "active"
                    tokens.setdefault(iid, []).append(
                        {
                            "token_id": tid,
                            "issued_at": _iso(_utc(issued)),
                            "expires_at": _iso(expires),
                            "status": status,
                        }
                    )
        finally:
            engine.dispose()
    zero = {"requests": 0, "rows_served": 0, "401": 0, "403": 0, "429": 0, "last_access": None}
    out = [
        {
            "interface": iid,
            "title": interface.title,
            "consumer": interface.consumer,
            "datasets": [d.dataset for d in interface.datasets],
            "quota": dict(interface.quota),
            **usage.get(iid, zero),
            "tokens": tokens.get(iid, []),
        }
        for iid, interface in catalog.interfaces.items()
    ]
    result: dict[str, Any] = {
        "interfaces": out,
        # Requests no interface could be named for: no token, or an unknown one (401).
        "unattributed": usage.get(None, zero),
    }
    if engine is None:
        result["message"] = (
            "no sharing audit yet: it starts with the first token (eb sharing issue) or request"
        )
    return result


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands datetimes back naive; every stored time is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# -- Lineage -----------------------------------------------------------------------------------

#: The lineage's columns, left to right, with their headings.
LINEAGE_COLUMNS = (
    ("source", "source systems"),
    ("bronze", "bronze"),
    ("silver", "silver + quarantine"),
    ("gold", "gold datasets"),
    ("share", "share tables"),
    ("interface", "interfaces"),
)


def lineage(catalog: Catalog) -> dict[str, Any]:
    """Source → bronze → silver → gold dataset → share table → interface, from the declarations
    alone; each node links to the page that shows it."""
    nodes: dict[str, list[dict[str, str]]] = {kind: [] for kind, _ in LINEAGE_COLUMNS}
    edges: list[list[str]] = []
    for sid in sorted(catalog.sources):
        nodes["source"].append(_node("source", sid, sid, f"/quality?source={sid}"))
        nodes["bronze"].append(_node("bronze", sid, f"bronze.{sid}", f"/today#{sid}"))
        nodes["silver"].append(_node("silver", sid, f"silver.{sid}", f"/quarantine?source={sid}"))
        edges += [[f"source:{sid}", f"bronze:{sid}"], [f"bronze:{sid}", f"silver:{sid}"]]
    for did in sorted(catalog.datasets):
        nodes["gold"].append(_node("gold", did, f"gold.{did}", f"/publishing#{did}"))
        edges += [[f"silver:{sid}", f"gold:{did}"] for sid in catalog.datasets[did].sources]
    for iid in sorted(catalog.interfaces):
        interface = catalog.interfaces[iid]
        for entry in interface.datasets:
            # the recipients of one interface file share a table (a partition each)
            name, _ = share_location(interface, entry.dataset)
            if not any(n["id"] == f"share:{name}" for n in nodes["share"]):
                nodes["share"].append(_node("share", name, f"share.{name}", f"/interfaces#{iid}"))
                edges += [[f"gold:{entry.dataset}", f"share:{name}"]]
            edges += [[f"share:{name}", f"interface:{iid}"]]
        nodes["interface"].append(_node("interface", iid, iid, f"/interfaces#{iid}"))
    return {
        "columns": [
            {"kind": kind, "title": title, "nodes": nodes[kind]} for kind, title in LINEAGE_COLUMNS
        ],
        "edges": edges,
    }


def _node(kind: str, key: str, label: str, href: str) -> dict[str, str]:
    return {"id": f"{kind}:{key}", "label": label, "href": href}
