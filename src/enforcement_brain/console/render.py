"""The console's HTML: one page per view, tables and inline SVG charts, from the dicts of
:mod:`enforcement_brain.console.queries`.

Plain string templates in this one module rather than a template engine: the pages are a few
tables and small charts, every value passes through :func:`esc`, and the console then works on
a machine without internet (no script, stylesheet or font is fetched; there is no JavaScript).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

#: The pages, in the order of the navigation bar: (path, title).
PAGES = (
    ("/today", "Today"),
    ("/quality", "Quality trends"),
    ("/quarantine", "Quarantine"),
    ("/publishing", "Publishing"),
    ("/interfaces", "Interfaces"),
    ("/lineage", "Lineage"),
)

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}
nav{background:#243447;padding:.5em 1em}nav a{color:#fff;margin-right:1.2em;text-decoration:none}
main{padding:1em}h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.5em}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:2px 6px;
text-align:left;vertical-align:top}td.num{text-align:right}th{background:#eef}
.muted{color:#777}.bad{color:#b00020;font-weight:600}.warn{color:#a36a00}.good{color:#1b7a1b}
svg rect.ok{fill:#6b8fb5}svg rect.bad{fill:#c0392b}svg line.threshold{stroke:#e67e22;
stroke-dasharray:3 2}svg text{font:10px sans-serif}svg .node rect{fill:#eef;stroke:#6b8fb5}
svg path{fill:none;stroke:#aab;stroke-width:1}.charts{display:flex;flex-wrap:wrap;gap:.8em}
.chart{border:1px solid #ddd;padding:.3em}code{background:#f4f4f4;padding:1px 3px}
"""

#: Status words of the Today page and the class that colours them.
STATUS_CLASS = {
    "failed": "bad",
    "missing": "bad",
    "late": "warn",
    "unreconciled": "bad",
    "waiting": "muted",
    "on time": "good",
}


def esc(value: Any) -> str:
    """Text for HTML: escaped, and ``None`` as an empty cell."""
    return "" if value is None else html.escape(str(value), quote=True)


_NO_TOKEN = "<span class=muted>no token</span>"


def _usage_row(label: str, consumer: str, use: dict[str, Any], tokens: str) -> list[str]:
    """One line of the interfaces table: a partner's (or the unattributed) requests, rows
    served, refusals and last access, then its tokens (already HTML)."""
    counts = [f"{use['requests']:,}", f"{use['rows_served']:,}", use["401"], use["403"], use["429"]]
    return [label, consumer, *[esc(c) for c in counts], esc(use["last_access"] or ""), tokens]


def page(title: str, body: str) -> str:
    """A whole page: navigation, heading and ``body`` (already HTML)."""
    nav = "".join(f'<a href="{path}">{esc(name)}</a>' for path, name in PAGES)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{esc(title)} · enforcement-brain console</title><style>{_STYLE}</style>"
        f'</head><body><nav><a href="/"><b>enforcement-brain</b></a>{nav}</nav>'
        f"<main><h1>{esc(title)}</h1>{body}</main></body></html>"
    )


def message(text: str) -> str:
    return f"<p class=muted>{esc(text)}</p>"


def cell(value: Any) -> str:
    """A table cell: numbers right-aligned (thousands separated), text escaped."""
    if isinstance(value, bool):
        return f"<td>{'yes' if value else 'no'}</td>"
    if isinstance(value, int | float):
        return f"<td class=num>{value:,}</td>"
    return f"<td>{esc(value)}</td>"


def table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], empty: str = "none", raw: int = -1
) -> str:
    """An HTML table; ``empty`` when there are no rows. Column ``raw`` holds HTML already."""
    if not rows:
        return message(empty)
    head = "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in headers) + "</tr>"
    body = "".join(
        "<tr>"
        + "".join(f"<td>{v}</td>" if i == raw else cell(v) for i, v in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table>{head}{body}</table>"


def link(href: str, text: Any) -> str:
    return f'<a href="{esc(href)}">{esc(text)}</a>'


# -- charts ------------------------------------------------------------------------------------

#: Size of a daily chart's plot area (px) and of one day's slot.
CHART_HEIGHT, SLOT = 40, 6


def daily_chart(
    points: Sequence[tuple[str, float | None]],
    threshold: float | None,
    label: str,
    floor: bool = False,
) -> str:
    """A small bar chart, one bar per day, with the threshold as a dashed line.

    A bar is ``bad`` past the threshold: above it (a ceiling, e.g. failures, hours late) or,
    with ``floor``, below it (a share such as validity). The bars are scaled to the highest of
    the values and the threshold; a day without a value (no load) is an empty slot.
    """
    values = [v for _, v in points if v is not None]
    if not values:
        return f"<div class=chart>{esc(label)}<br><span class=muted>no data</span></div>"
    top = max([*values, threshold or 0.0]) or 1.0
    width = SLOT * len(points)
    parts = []
    for n, (day, value) in enumerate(points):
        if value is None:
            continue
        height = round(CHART_HEIGHT * value / top, 1)
        bad = threshold is not None and (value < threshold if floor else value > threshold)
        shown = f"{value:g}" if isinstance(value, float) else f"{value}"
        y = round(CHART_HEIGHT - height, 1)
        parts.append(
            f"<rect class={'bad' if bad else 'ok'} x={n * SLOT} y={y} "
            f"width={SLOT - 1} height={height}><title>{esc(day)}: {esc(shown)}</title></rect>"
        )
    if threshold is not None:
        y = round(CHART_HEIGHT - CHART_HEIGHT * threshold / top, 1) + 0.0  # never -0.0
        parts.append(f"<line class=threshold x1=0 x2={width} y1={y} y2={y}></line>")
    svg = (
        f"<svg width={width} height={CHART_HEIGHT} viewBox='0 0 {width} {CHART_HEIGHT}' "
        f"role=img aria-label='{esc(label)}'>{''.join(parts)}</svg>"
    )
    limit = "" if threshold is None else f" (threshold {threshold:g})"
    return f"<div class=chart>{esc(label)}{esc(limit)}<br>{svg}</div>"


#: Geometry of the lineage drawing: column width, node box, row height.
COLUMN_WIDTH, NODE_WIDTH, NODE_HEIGHT, ROW = 250, 220, 16, 20


def lineage_svg(graph: dict[str, Any]) -> str:
    """The lineage as columns of linked boxes, left to right, with a curve per edge."""
    where: dict[str, tuple[int, int]] = {}
    boxes = []
    for c, column in enumerate(graph["columns"]):
        x = c * COLUMN_WIDTH
        boxes.append(f"<text x={x} y=12 font-weight=bold>{esc(column['title'])}</text>")
        for r, node in enumerate(column["nodes"]):
            y = 24 + r * ROW
            where[node["id"]] = (x, y)
            boxes.append(
                f'<a href="{esc(node["href"])}"><g class=node><rect x={x} y={y} '
                f"width={NODE_WIDTH} height={NODE_HEIGHT} rx=3></rect>"
                f"<text x={x + 4} y={y + 12}>{esc(node['label'])}</text></g></a>"
            )
    lines = []
    for a, b in graph["edges"]:
        (x1, y1), (x2, y2) = where[a], where[b]
        x1, y1, x2, y2 = x1 + NODE_WIDTH, y1 + NODE_HEIGHT // 2, x2, y2 + NODE_HEIGHT // 2
        mid = (x1 + x2) // 2
        lines.append(f'<path d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"></path>')
    rows = max((len(c["nodes"]) for c in graph["columns"]), default=0)
    width, height = COLUMN_WIDTH * len(graph["columns"]), 30 + rows * ROW
    return (
        f"<svg width={width} height={height} viewBox='0 0 {width} {height}' role=img "
        f"aria-label=lineage>{''.join(lines)}{''.join(boxes)}</svg>"
    )


# -- pages -------------------------------------------------------------------------------------


def index_page(today: dict[str, Any]) -> str:
    items = "".join(f"<li>{link(path, name)}</li>" for path, name in PAGES)
    if today.get("day"):
        counts = ", ".join(f"{n} {status}" for status, n in today["statuses"].items())
        state = f"<p>Latest delivery day {esc(today['day'])}: {esc(counts)}.</p>"
    else:
        state = message(today.get("message", ""))
    return page("Operators' console", f"{state}<ul>{items}</ul>")


def today_page(data: dict[str, Any]) -> str:
    if not data["day"]:
        return page("Today", message(data["message"]))
    days = " ".join(
        f"<b>{esc(d)}</b>" if d == data["day"] else link(f"/today?day={d}", d)
        for d in data["days"][-14:]
    )
    rows = []
    for r in data["sources"]:
        status = f"<span class={STATUS_CLASS[r['status']]}>{esc(r['status'])}</span>"
        if r.get("error"):
            status += f"<br><small>{esc(r['error'])}</small>"
        source = f'<a id="{esc(r["source"])}"></a>' + link(
            f"/quality?source={r['source']}", r["source"]
        )
        quarantined = r.get("quarantined")
        if quarantined:
            query = urlencode({"source": r["source"], "day": data["day"]})
            quarantined = link(f"/quarantine?{query}", f"{quarantined:,}")
        rows.append(
            [
                status,
                source,
                esc(_num(r.get("rows_in"))),
                esc(_num(r.get("loaded"))),
                esc(_num(r.get("duplicates"))),
                quarantined if isinstance(quarantined, str) else esc(_num(quarantined)),
                esc(_num(r.get("warned"))),
                esc(_yes(r.get("reconciles"))),
                esc(r.get("first_loaded_at") or ""),
                esc(_hours(r.get("hours_after_day_end"), r.get("freshness_hours"))),
            ]
        )
    headers = [
        "status",
        "source",
        "rows in",
        "loaded",
        "duplicates",
        "quarantined",
        "warned",
        "in = loaded + duplicates + quarantined",
        "first loaded (UTC)",
        "hours after day end / SLA",
    ]
    body = f"<p>Delivery days: {days}</p>" + _html_table(headers, rows)
    return page(f"Today: {data['day']}", body)


def _num(value: Any) -> str:
    return "" if value is None else f"{value:,}"


def _yes(value: Any) -> str:
    return "" if value is None else ("yes" if value else "NO")


def _hours(hours: float | None, sla: int | None) -> str:
    return f"{'' if hours is None else hours} / {'' if sla is None else sla}"


def _html_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table whose cells are HTML already (each escaped where it was built)."""
    head = "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in headers) + "</tr>"
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


#: The quality dimensions a chart is drawn for, and whether the threshold is a floor.
DIMENSIONS = (
    ("completeness", True),
    ("validity", True),
    ("uniqueness", True),
    ("freshness_hours", False),
)


def quality_page(data: dict[str, Any]) -> str:
    if not data["sources"]:
        return page("Quality trends", message(data.get("message", "no ledger rows in the window")))
    parts = [f"<p>{esc(data['start'])} to {esc(data['end'])}, one bar per day.</p>"]
    for s in data["sources"]:
        parts.append(f'<h2 id="{esc(s["source"])}">{esc(s["source"])}: {esc(s["title"])}</h2>')
        charts = [
            daily_chart(
                [(d, v) for d, v in s["dimensions"][name]], s["thresholds"].get(name), name, floor
            )
            for name, floor in DIMENSIONS
        ]
        parts.append(f"<div class=charts>{''.join(charts)}</div>")
        rule_charts = [
            daily_chart(
                [(d, r["failed"].get(d)) for d in data["days"]],
                0 if r["severity"] != "warn" else None,
                f"{r['rule']} ({r['severity']}): {r['title']}",
            )
            for r in s["rules"]
        ]
        parts.append(f"<div class=charts>{''.join(rule_charts)}</div>")
    return page("Quality trends", "".join(parts))


def quarantine_summary_page(data: dict[str, Any]) -> str:
    if not data["rows"]:
        return page("Quarantine", message(data.get("message", "no row quarantined")))
    rows = [
        [
            link(r["link"], r["day"]),
            esc(r["source"]),
            esc(r["rule"]),
            esc(r["title"]),
            esc(r["failed"]),
        ]
        for r in data["rows"]
    ]
    body = f"<p>{esc(data['start'])} to {esc(data['end'])}, by the latest load of each day.</p>"
    body += _html_table(["day", "source", "rule", "title", "rows"], rows)
    return page("Quarantine", body)


def quarantine_page(data: dict[str, Any]) -> str:
    title = f"Quarantine: {data['source']} {data['day']}"
    if data["rule"]:
        title += f" ({data['rule']})"
    body = (
        f"<p>{data['total']:,} row(s). After fixing the rows (or the standards), re-check them: "
        f"<code>{esc(data['replay'])}</code></p>"
    )
    rows = []
    for r in data["rows"]:
        text = r["corrupt_record"] or " · ".join(f"{k}={v}" for k, v in r["delivered"].items())
        reasons = "<br>".join(f"{esc(x['rule'])}: {esc(x['title'])}" for x in r["reasons"])
        rows.append(
            [esc(r["file"]), esc(r["line"]), esc(text), reasons, esc(", ".join(r["warnings"]))]
        )
    if rows:
        body += _html_table(["file", "line", "delivered", "reason", "warnings"], rows)
    else:
        body += message("no row quarantined")
    body += _pager(data)
    return page(title, body)


def _pager(data: dict[str, Any]) -> str:
    if data["pages"] <= 1:
        return ""
    base = {"source": data["source"], "day": data["day"], "per_page": data["per_page"]}
    if data["rule"]:
        base["rule"] = data["rule"]
    links = []
    for n, word in ((data["page"] - 1, "previous"), (data["page"] + 1, "next")):
        if 1 <= n <= data["pages"]:
            links.append(link("/quarantine?" + urlencode({**base, "page": n}), word))
    return f"<p>page {data['page']} of {data['pages']} {' '.join(links)}</p>"


def publishing_page(data: dict[str, Any]) -> str:
    parts = [message(data["message"])] if data.get("message") else []
    rows = []
    for d in data["datasets"]:
        good = d["last_good"]
        refused = "<br>".join(
            f"{esc(r['day'])}: " + esc(", ".join(f"{k} ({v} rows)" for k, v in r["failed"].items()))
            for r in d["refused"]
        )
        gate = ", ".join(f"{k}={v}" for k, v in d["latest_gate"].items())
        rows.append(
            [
                f'<a id="{esc(d["dataset"])}"></a>{esc(d["dataset"])}',
                esc("" if good is None else good["version"]),
                esc("" if good is None else good["day"]),
                esc("" if good is None else f"{good['rows']:,}"),
                esc(gate),
                f"<span class=bad>{refused}</span>" if refused else "",
            ]
        )
    headers = ["dataset", "last good version", "published for", "rows", "latest gate", "refused"]
    parts.append(_html_table(headers, rows))
    return page("Publishing", "".join(parts))


def interfaces_page(data: dict[str, Any]) -> str:
    parts = [message(data["message"])] if data.get("message") else []
    rows = []
    for i in data["interfaces"]:
        tokens = "<br>".join(
            f"{esc(t['token_id'])}: {esc(t['status'])}, expires {esc(t['expires_at'][:10])}"
            for t in i["tokens"]
        )
        label = f'<a id="{esc(i["interface"])}"></a>{esc(i["interface"])}'
        rows.append(_usage_row(label, esc(i["consumer"]), i, tokens or _NO_TOKEN))
    rows.append(_usage_row("<i>no valid token</i>", "", data["unattributed"], ""))
    headers = ["interface", "consumer", "requests", "rows served", "401", "403", "429"]
    parts.append(_html_table([*headers, "last access (UTC)", "tokens"], rows))
    return page("Interfaces", "".join(parts))


def lineage_page(graph: dict[str, Any]) -> str:
    body = "<p>From the declarations under data_standards/; each box links to its page.</p>"
    return page("Lineage", body + lineage_svg(graph))


def error_page(status: int, text: str) -> str:
    return page(
        f"{status}", f"<p class=bad>{esc(text)}</p><p>{link('/', 'back to the console')}</p>"
    )
