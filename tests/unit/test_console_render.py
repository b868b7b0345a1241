"""The console's pieces that need no lake: its settings, its HTML and SVG helpers, the lineage
graph drawn from the declarations, and where the operator learns of it (``make help``, the run
summary)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from conftest import make_settings

from enforcement_brain.declarations import load_catalog
from enforcement_brain.errors import ConfigError
from enforcement_brain.settings import REPO_ROOT, load_settings


def test_console_settings_default_to_loopback(tmp_path):
    s = load_settings({"EB_VAR_DIR": str(tmp_path)})
    assert (s.console_host, s.console_port) == ("127.0.0.1", 8091)
    assert s.console_url == "http://127.0.0.1:8091/"
    moved = load_settings({"EB_CONSOLE_HOST": "0.0.0.0", "EB_CONSOLE_PORT": "9000"})
    assert moved.console_url == "http://0.0.0.0:9000/"
    with pytest.raises(ConfigError, match="EB_CONSOLE_PORT=70000 is not a TCP port"):
        load_settings({"EB_CONSOLE_PORT": "70000"})


def test_text_is_escaped_in_tables():
    from enforcement_brain.console.render import table

    html = table(["plate", "n"], [["<b>苏C1</b>", 3]])
    assert "&lt;b&gt;苏C1&lt;/b&gt;" in html and "<b>" not in html
    assert html.count("<tr>") == 2 and "<td class=num>3</td>" in html


def test_an_empty_table_says_so():
    from enforcement_brain.console.render import table

    assert "nothing to show" in table(["a"], [], empty="nothing to show")


def test_daily_chart_draws_a_bar_per_day_and_the_threshold():
    from enforcement_brain.console.render import daily_chart

    svg = daily_chart(
        [("2026-11-28", 0.0), ("2026-11-29", 2.0), ("2026-11-30", 4.0)], threshold=3.0, label="x"
    )
    assert svg.count("<svg") == 1 and svg.endswith("</svg></div>")
    bars = re.findall(r"<rect class=(\w+) x=\S+ y=\S+ width=\S+ height=([\d.]+)>", svg)
    # the tallest bar fills the plot (40 px), the others in proportion; over the line is bad
    assert bars == [("ok", "0.0"), ("ok", "20.0"), ("bad", "40.0")]
    assert "<title>2026-11-29: 2</title>" in svg
    assert svg.count("<line class=threshold") == 1


def test_daily_chart_with_a_floor_marks_the_days_below_it():
    from enforcement_brain.console.render import daily_chart

    svg = daily_chart([("d1", 0.99), ("d2", 0.5)], threshold=0.98, label="v", floor=True)
    assert re.findall(r"<rect class=(\w+) ", svg) == ["ok", "bad"]


def test_daily_chart_without_data_says_so():
    from enforcement_brain.console.render import daily_chart

    assert "no data" in daily_chart([], threshold=None, label="x")


def test_lineage_is_laid_out_in_columns_from_the_declarations():
    from enforcement_brain.console.queries import lineage
    from enforcement_brain.console.render import lineage_svg

    catalog = load_catalog(REPO_ROOT / "data_standards")
    graph = lineage(catalog)
    kinds = [c["kind"] for c in graph["columns"]]
    assert kinds == ["source", "bronze", "silver", "gold", "share", "interface"]
    sizes = {c["kind"]: len(c["nodes"]) for c in graph["columns"]}
    # one share table per interface file and dataset: the recipients of a file share theirs
    shares = sum(len(m[0].datasets) for m in catalog.interface_families().values())
    served = sum(len(i.datasets) for i in catalog.interfaces.values())
    assert sizes == {
        "source": len(catalog.sources),
        "bronze": len(catalog.sources),
        "silver": len(catalog.sources),
        "gold": len(catalog.datasets),
        "share": shares,
        "interface": len(catalog.interfaces),
    }
    uses = sum(len(d.sources) for d in catalog.datasets.values())
    assert len(graph["edges"]) == 2 * len(catalog.sources) + uses + shares + served
    assert sizes["share"] < served  # 24 recipients' interfaces, 2 tables
    assert [
        "share:transfer_recipients__shuang_bai_vehicles",
        "interface:transfer_recipients_linyi",
    ] in graph["edges"]
    assert ["silver:wim_weighings", "gold:overload_alerts"] in graph["edges"]
    svg = lineage_svg(graph)
    assert svg.count("<a href=") == sum(sizes.values())
    assert svg.count("<path ") == len(graph["edges"])
    assert 'href="/quality?source=wim_weighings"' in svg
    assert 'href="/publishing#overload_alerts"' in svg


def test_make_help_lists_every_target():
    text = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][\w-]*):(?!=)", text, flags=re.M))
    phony = set(re.search(r"^\.PHONY:(.*)$", text, flags=re.M).group(1).split())
    helped = set(re.findall(r'^\t@echo "make ([\w-]+)', text, flags=re.M))
    assert helped == targets - {"help"}
    assert phony == targets


def test_the_run_summary_ends_with_the_console():
    from rich.console import Console

    from enforcement_brain.cli import print_summary

    settings = make_settings(REPO_ROOT / "var-unused", EB_CONSOLE_PORT="9123")
    run = SimpleNamespace(
        generated=None, summary={}, stages=[], phases={}, dag_runs=[], cpu=None, day="2026-11-29"
    )
    console = Console(record=True, width=120)
    print_summary(console, settings, run)
    lines = console.export_text().strip().splitlines()
    assert lines[-1].split() == ["Console:", "make", "console", "(http://127.0.0.1:9123/)"]
