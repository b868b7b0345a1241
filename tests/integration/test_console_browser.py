"""The operators' console as an operator sees it: served over HTTP by uvicorn and opened in a
real headless Chromium, on the small real lake of ``console_support``.

Each page's visible figures and names are checked against the ``ops`` tables (and the sharing
audit) as Spark reads them; links are followed by clicking them; no page may show a token or
its hash. A PNG of each page is saved under ``TEST_ARTIFACTS`` (default
``var/test-artifacts``), in ``console/``, for CI to keep.

The browser is Debian's ``chromium`` driven through its ``chromedriver``, both at fixed paths
(``CHROMIUM_PATH`` and ``CHROMEDRIVER_PATH`` override them): Selenium is never left to find (or
download) a driver. Without them the module skips with the
reason, except under ``CI=true``, where it fails: CI must not pass without having looked.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port
from console_support import PAGES, delta, shared_lake
from sharing_support import AppThread, audit_rows
from wim_support import DAY

from enforcement_brain.settings import REPO_ROOT

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_PATH", "/usr/bin/chromedriver")
#: Where the screenshots go (CI collects this folder); git ignores var/.
SCREENSHOTS = (
    Path(os.environ.get("TEST_ARTIFACTS", REPO_ROOT / "var" / "test-artifacts")) / "console"
)
#: The browser window: a common laptop screen (the screenshots take the whole page).
WINDOW = (1366, 900)


def _missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (uv sync --extra dev)"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (shutil.which(path) or Path(path).is_file()):
            return f"{path} not found: apt-get install chromium chromium-driver ({package})"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium at a fixed window size, driven through the system's chromedriver."""
    reason = _missing_browser()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the console's browser tests cannot run under CI: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def lake(request, spark, tmp_path_factory):
    """The console's lake, shared with ``test_console.py``."""
    return shared_lake(request, spark, tmp_path_factory)


@pytest.fixture(scope="module")
def console(browser, lake) -> Iterator[str]:
    """The console over the lake, served by uvicorn in a thread on a free port; its root URL."""
    from enforcement_brain.console.routes import create_app

    with AppThread(create_app(lake["settings"], lake["catalog"]), free_port()) as app:
        yield app.root


def open_page(driver, root: str, path: str) -> None:
    """Open ``path`` and check it is a console page, not an error page."""
    driver.get(root + path)
    shows_a_page(driver)


def shows_a_page(driver) -> None:
    """Check the browser shows one of the console's pages, not an error page."""
    heading = driver.find_element("tag name", "h1").text
    main = driver.find_element("tag name", "main").text
    assert heading not in ("400", "404", "500"), (driver.current_url, main)
    assert driver.title.endswith("· enforcement-brain console"), driver.current_url


def screenshot(driver, name: str) -> Path:
    """Save the whole page, beyond the window, as ``<name>.png`` (Chromium's DevTools capture:
    a window cannot grow past the headless screen, the lineage is taller and wider)."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path


def row_cells(driver, anchor: str) -> list[str]:
    """The visible text of each cell of the table row holding ``<a id=anchor>``."""
    row = driver.find_element("xpath", f"//tr[td/a[@id='{anchor}']]")
    return [td.text for td in row.find_elements("tag name", "td")]


def test_the_index_names_the_latest_day_and_every_page(browser, console, lake):
    open_page(browser, console, "/")
    assert browser.find_element("tag name", "h1").text == "Operators' console"
    main = browser.find_element("tag name", "main").text
    sources = len(lake["catalog"].sources)
    assert f"Latest delivery day {DAY}: 1 failed, {sources - 2} missing, 1 late." in main
    links = [a.text for a in browser.find_elements("css selector", "main li a")]
    assert links == ["Today", "Quality trends", "Quarantine", "Publishing", "Interfaces", "Lineage"]
    screenshot(browser, "index")


def test_today_shows_the_batch_log_and_links_to_the_quarantined_rows(browser, console, lake, spark):
    settings, catalog = lake["settings"], lake["catalog"]
    (b,) = delta(spark, settings, "ops", "batch_log").collect()
    open_page(browser, console, "/today")
    assert browser.find_element("tag name", "h1").text == f"Today: {DAY}"
    rows = browser.find_elements("css selector", "main table tr")
    assert len(rows) == 1 + len(catalog.sources)  # the header, then a row per declared source
    cells = row_cells(browser, "wim_weighings")
    loaded = b["inserted"] + b["updated"] + b["unchanged"]
    shown = [b["rows_in"], loaded, b["duplicates_dropped"], b["quarantined"], b["warned"]]
    assert cells[:8] == ["late", "wim_weighings", *map(str, shown), "yes"]
    assert cells[2:7] == ["10", "5", "1", "4", "1"]
    assert cells[9].endswith(" / 30")
    failed = row_cells(browser, "anpr_passes")
    assert failed[0] == "failed\nanpr_passes 2026-11-29: no delivery in landing"
    screenshot(browser, "today")
    row = browser.find_element("xpath", "//tr[td/a[@id='wim_weighings']]")
    row.find_element("link text", "4").click()
    assert browser.current_url == f"{console}/quarantine?source=wim_weighings&day={DAY}"
    assert browser.find_element("tag name", "h1").text == f"Quarantine: wim_weighings {DAY}"


def test_quarantined_rows_are_the_quarantine_table_in_file_order(browser, console, lake, spark):
    settings, catalog = lake["settings"], lake["catalog"]
    q = delta(spark, settings, "quarantine", "wim_weighings").orderBy("_source_line").collect()
    open_page(browser, console, f"/quarantine?source=wim_weighings&day={DAY}")
    main = browser.find_element("tag name", "main")
    assert main.find_element("tag name", "code").text == (
        ".venv/bin/eb replay --source wim_weighings --date 2026-11-29"
    )
    assert main.find_element("tag name", "p").text.startswith(f"{len(q)} row(s).")
    shown = [
        [td.text for td in tr.find_elements("tag name", "td")]
        for tr in main.find_elements("css selector", "table tr")[1:]
    ]
    assert [(int(r[1]), r[3]) for r in shown] == [
        (r["_source_line"], "\n".join(f"{v}: {catalog.rules[v].title}" for v in r["_violations"]))
        for r in q
    ]
    assert [r[1] for r in shown] == ["5", "6", "7", "8"]
    assert "plate_no=苏CO1234" in shown[0][2]
    screenshot(browser, "quarantine-rows")


def test_the_quarantine_summary_is_the_ledger_and_links_to_a_rules_rows(
    browser, console, lake, spark
):
    ledger = delta(spark, lake["settings"], "ops", "dq_ledger").where("severity = 'quarantine'")
    failing = {(r["rule_id"], r["failed"]) for r in ledger.collect() if r["failed"]}
    open_page(browser, console, "/quarantine")
    rows = [
        [td.text for td in tr.find_elements("tag name", "td")]
        for tr in browser.find_elements("css selector", "main table tr")[1:]
    ]
    assert {(r[2], int(r[4])) for r in rows} == failing
    assert {(r[0], r[1]) for r in rows} == {(DAY.isoformat(), "wim_weighings")}
    screenshot(browser, "quarantine")
    site = browser.find_element("xpath", "//tr[td[3]='R_SITE_KNOWN']")
    site.find_element("link text", DAY.isoformat()).click()
    assert browser.find_element("tag name", "h1").text == (
        f"Quarantine: wim_weighings {DAY} (R_SITE_KNOWN)"
    )
    lines = browser.find_elements("css selector", "main table tr td:nth-child(2)")
    assert [td.text for td in lines] == ["7"]


def test_quality_draws_each_rules_failures_from_the_ledger(browser, console, lake, spark):
    ledger = {
        r["rule_id"]: r["failed"]
        for r in delta(spark, lake["settings"], "ops", "dq_ledger").collect()
    }
    open_page(browser, console, "/quality?source=wim_weighings")
    heading = browser.find_element("css selector", "h2#wim_weighings").text
    assert heading == f"wim_weighings: {lake['catalog'].sources['wim_weighings'].title}"
    charts = browser.find_elements("css selector", "div.chart")
    assert len(browser.find_elements("css selector", "div.chart svg")) == 4 + len(ledger)
    drawn = {}
    for chart in charts[4:]:
        rule = chart.text.split(" ", 1)[0]
        (bar,) = chart.find_elements("css selector", "rect title")
        drawn[rule] = bar.get_attribute("textContent")
    assert drawn == {rule: f"{DAY}: {n}" for rule, n in ledger.items()}
    assert drawn["R_PLATE_FORMAT"] == f"{DAY}: 1"
    screenshot(browser, "quality")


def test_publishing_shows_the_last_good_versions_and_the_refusal(browser, console, lake, spark):
    log = delta(spark, lake["settings"], "ops", "publish_log").collect()
    published = {r["dataset"]: r for r in log if r["status"] == "published"}
    open_page(browser, console, "/publishing")
    for did in ("overload_alerts", "violation_transfers_by_destination"):
        good = published[did]
        assert row_cells(browser, did)[:4] == [
            did,
            str(good["gold_version"]),
            DAY.isoformat(),
            f"{good['rows']:,}",
        ]
    refused = row_cells(browser, "violation_transfers_by_destination")
    assert refused[5] == f"{DAY}: G_DIRECTION (1 rows)"
    assert row_cells(browser, "kpi_monthly")[1:4] == ["", "", ""]
    screenshot(browser, "publishing")


def test_interfaces_count_the_audit(browser, console, lake):
    audit = audit_rows(lake["settings"])
    audit = [r for r in audit if r["interface_id"] == "provincial_supervision"]
    served = sum(r["rows_served"] for r in audit if r["status"] < 400)
    open_page(browser, console, "/interfaces")
    cells = row_cells(browser, "provincial_supervision")
    forbidden = sum(r["status"] == 403 for r in audit)
    assert cells[2:7] == [str(len(audit)), f"{served:,}", "0", str(forbidden), "0"]
    assert (cells[2], cells[5]) == ("3", "1")
    token = lake["token"].info
    assert cells[8] == f"{token.token_id}: active, expires {token.expires_at.date()}"
    assert row_cells(browser, "traffic_police")[8] == "no token"
    screenshot(browser, "interfaces")


#: A box of each lineage column, and the page (its heading) clicking it opens.
LINEAGE_CLICKS = (
    ("wim_weighings", "/quality?source=wim_weighings", "Quality trends"),
    ("bronze.wim_weighings", "/today#wim_weighings", f"Today: {DAY}"),
    (
        "silver.wim_weighings",
        "/quarantine?source=wim_weighings",
        f"Quarantine: wim_weighings {DAY}",
    ),
    ("gold.overload_alerts", "/publishing#overload_alerts", "Publishing"),
    (
        "share.provincial_supervision__overload_alerts",
        "/interfaces#provincial_supervision",
        "Interfaces",
    ),
    ("provincial_supervision", "/interfaces#provincial_supervision", "Interfaces"),
)


def test_lineage_draws_a_box_per_source_and_each_column_links_to_a_page(browser, console, lake):
    catalog = lake["catalog"]
    open_page(browser, console, "/lineage")
    (svg,) = browser.find_elements("css selector", "main svg")
    labels = [t.get_attribute("textContent") for t in svg.find_elements("css selector", "g text")]
    assert set(catalog.sources) <= set(labels)
    assert len(svg.find_elements("css selector", "a g.node")) == len(labels)
    screenshot(browser, "lineage")
    for label, href, heading in LINEAGE_CLICKS:
        open_page(browser, console, "/lineage")
        box = browser.find_element("xpath", f"//*[local-name()='text' and text()='{label}']")
        box.click()
        assert browser.current_url == console + href
        shows_a_page(browser)
        assert browser.find_element("tag name", "h1").text == heading, label
    assert browser.find_element("css selector", "tr a#provincial_supervision")


def test_no_page_shows_a_token_or_its_hash(browser, console, lake):
    secret = lake["token"].token
    digest = hashlib.sha256(secret.encode()).hexdigest()
    for path in [*PAGES, f"/quarantine?source=wim_weighings&day={DAY}"]:
        open_page(browser, console, path)
        html = browser.page_source
        assert secret not in html and digest not in html, path
