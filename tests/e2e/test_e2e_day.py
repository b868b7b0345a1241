"""End to end: `eb run` for a small day of all 28 sources through real Airflow.

`eb run` starts a Spark Connect server and an Airflow deployment (API server, scheduler, DAG
processor, LocalExecutor), triggers the 28 ingest DAGs and lets Asset events run the publish and
share DAGs. Checks: the summary and the ledger agree with the generator's ground truth (every
injected defect quarantined or flagged as its rule's severity says, no clean row rejected);
every table opens with an independent Delta reader (delta-rs) and holds the counts the summary
printed; running the same day again leaves every state table with the same rows.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import free_port

from enforcement_brain.declarations import load_catalog
from enforcement_brain.lake.tables import RUN_HISTORY_TABLES, RUN_STAMP_COLUMNS
from enforcement_brain.orchestration.daily import dag_order
from enforcement_brain.settings import REPO_ROOT

pytestmark = pytest.mark.e2e
DAY = "2026-11-29"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    var = tmp_path_factory.mktemp("e2e-var")
    e = dict(os.environ)
    e.pop("EB_SPARK_REMOTE", None)
    e.update(
        {
            "EB_VAR_DIR": str(var),
            "EB_SPARK_CONNECT_PORT": str(free_port()),
            "EB_AIRFLOW_PORT": str(free_port()),
            "EB_SPARK_DRIVER_MEMORY": "3g",
            "EB_SCALE": "0.002",
        }
    )
    yield e
    subprocess.run(
        [sys.executable, "-m", "enforcement_brain.cli", "spark", "stop"], env=e, check=False
    )


def eb_run(env) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "enforcement_brain.cli", "run", "--date", DAY],
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
        cwd=REPO_ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Where to look next" in proc.stdout
    return json.loads((Path(env["EB_VAR_DIR"]) / "run" / f"summary-{DAY}.json").read_text())


def snapshot(lake: Path) -> dict[str, list[tuple]]:
    """Every table's rows (sorted, run stamps dropped), read with delta-rs, not Spark."""
    from deltalake import DeltaTable

    out = {}
    for log in sorted(lake.glob("*/*/_delta_log")):
        table = log.parent
        name = f"{table.parent.name}.{table.name}"
        data = DeltaTable(str(table)).to_pyarrow_table()
        keep = [c for c in data.column_names if c not in RUN_STAMP_COLUMNS]
        rows = data.select(keep).to_pylist()
        out[name] = sorted(tuple((k, repr(v)) for k, v in r.items()) for r in rows)
    return out


@pytest.fixture(scope="module")
def first_run(env):
    summary = eb_run(env)
    return summary, snapshot(Path(env["EB_VAR_DIR"]) / "lake")


def _truth(env) -> list[dict[str, str]]:
    path = Path(env["EB_VAR_DIR"]) / "ground_truth" / DAY / "defects.csv"
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_day_runs_through_airflow_and_reconciles(env, first_run):
    summary, _ = first_run
    catalog = load_catalog(REPO_ROOT / "data_standards")
    assert summary["ok"], [r for r in summary["dag_runs"] if not r["ok"]]
    assert {r["dag_id"] for r in summary["dag_runs"]} == set(dag_order(catalog))
    for r in summary["dag_runs"]:
        if r["dag_id"].startswith("ingest_"):
            assert r["result"]["rows_in"] > 0, r  # the task's return value came back
    batches = {b["source"]: b for b in summary["batches"]}
    assert set(batches) == set(catalog.sources)
    for source, b in batches.items():
        assert b["reconciles"], b
        assert b["rows_in"] == summary["generated"][source], b  # every delivered row counted


def test_the_summary_says_where_each_tasks_time_went(first_run):
    """Every task recorded its phases; the Connect server's jobs and the tables' commits are
    attributed to it: the breakdown that tells fixed cost from data cost."""
    summary, _ = first_run
    breakdown = summary["breakdown"]
    assert set(breakdown) == {"ingest", "validate", "publish", "share"}
    ingest = breakdown["ingest"]
    assert ingest["tasks"] == 28
    for phase in ("wait_seconds", "startup_seconds", "attach_seconds", "run_seconds"):
        assert ingest[phase] >= 0, phase
    # a load commits bronze, quarantine, silver and its ledger rows, and runs Spark jobs
    assert ingest["delta_commits"] >= 4 and ingest["spark_jobs"] > 0, ingest
    cpu = summary["cpu"]  # how busy the cores were while the DAGs ran, and the JVM's share
    assert 0 < cpu["spark_server_cpu_seconds"] <= cpu["machine_cpu_seconds"] + 1, cpu
    assert cpu["machine_cpu_seconds"] <= cpu["wall_seconds"] * cpu["cores"] + 1, cpu
    assert breakdown["publish"]["delta_commits"] >= 2  # the gold replace and its log row


def test_every_load_left_its_openlineage_events(env, first_run):
    """The provider's COMPLETE of every ingest task, in the default file transport beside the
    lake, and the platform's writes under them; every event valid, their graph the declared."""
    from enforcement_brain.lineage import check, declared
    from enforcement_brain.settings import load_settings

    summary, _ = first_run
    events = check.read_events(Path(env["EB_VAR_DIR"]) / "lineage")
    found = [
        (e["job"]["name"], set(check.problems(e)) - check.PROVIDER_SCHEMA_DRIFT) for e in events
    ]
    assert [(job, errors) for job, errors in found if errors] == []
    done = {e["job"]["name"] for e in events if e["eventType"] == "COMPLETE"}
    ingest = [r["dag_id"] for r in summary["dag_runs"] if r["dag_id"].startswith("ingest_")]
    assert {f"{d}.load" for d in ingest} <= done
    catalog = load_catalog(REPO_ROOT / "data_standards")
    graph = check.events_graph(load_settings(env), events)
    assert graph and graph <= declared.declared_graph(catalog)


def test_batches_agree_with_the_ground_truth(env, first_run):
    """Each injected defect is quarantined (quarantine-level rule) or flagged (warn-level),
    each duplicate dropped, and no clean row touched (late and out-of-order rows are clean)."""
    summary, _ = first_run
    catalog = load_catalog(REPO_ROOT / "data_standards")
    severity = {rule.id: rule.severity for rule in catalog.rules.values()}
    expected: dict[str, Counter] = {s: Counter() for s in catalog.sources}
    rows: dict[tuple[str, str, str], set[str]] = {}
    for t in _truth(env):
        if t["defect"] == "duplicate":  # a second copy of a clean row
            expected[t["source"]]["duplicates_dropped"] += 1
        elif t["rule"]:
            place = (t["source"], t["file"], t["line"] or t["business_key"])
            rows.setdefault(place, set()).add(severity[t["rule"]])
    for (source, _, _), severities in rows.items():
        expected[source]["quarantined" if "quarantine" in severities else "warned"] += 1
    problems = []
    for b in summary["batches"]:
        got = {k: b[k] for k in ("quarantined", "warned", "duplicates_dropped")}
        want = {k: expected[b["source"]][k] for k in got}
        if got != want:
            problems.append(f"{b['source']}: got {got}, ground truth says {want}")
    assert problems == []


def test_ledger_counts_every_injected_defect(env, first_run):
    from deltalake import DeltaTable

    ledger = DeltaTable(str(Path(env["EB_VAR_DIR"]) / "lake" / "ops" / "dq_ledger"))
    failed = Counter()
    for r in ledger.to_pyarrow_table().to_pylist():
        failed[(r["source"], r["rule_id"])] += r["failed"]
    truth = Counter((t["source"], t["rule"]) for t in _truth(env) if t["rule"])
    short = {k: (failed[k], n) for k, n in truth.items() if failed[k] < n}
    assert short == {}, "ledger (failed, injected) per source and rule"


def test_independent_reader_sees_the_printed_counts(first_run):
    summary, tables = first_run
    assert set(tables) == set(summary["tables"])
    for name, rows in tables.items():
        assert len(rows) == summary["tables"][name], name
    assert summary["tables"]["gold.overload_alerts"] > 0
    assert {f"{layer}.{s}" for s in load_catalog(REPO_ROOT / "data_standards").sources
            for layer in ("bronze", "silver", "quarantine")} <= set(tables)  # fmt: skip
    assert summary["tables"]["share.provincial_supervision__overload_alerts"] > 0


def test_every_shared_dataset_publishes_and_the_analyst_queries_run(env, first_run):
    """Every declared dataset passed its gate (its publish DAG succeeded, checked above), is a
    Delta table with the change data feed on, partitioned as declared, keyed as declared; and
    the documented analyst queries run by table name against this lake, through the Spark
    Connect server the run left up, from this separate process."""
    from analyst_queries_support import analyst_queries
    from deltalake import DeltaTable

    summary, _ = first_run
    catalog = load_catalog(REPO_ROOT / "data_standards")
    assert len(catalog.datasets) == 18  # the 17 shared datasets and the monthly KPIs
    lake = Path(env["EB_VAR_DIR"]) / "lake"
    for did, dataset in catalog.datasets.items():
        table = DeltaTable(str(lake / "gold" / did))
        metadata = table.metadata()
        assert metadata.configuration.get("delta.enableChangeDataFeed") == "true", did
        assert metadata.partition_columns == [dataset.partition_by], did
        names = {f.name for f in table.schema().fields}
        assert set(dataset.business_key) <= names, did
    for did in ("overload_alerts", "violation_transfers_by_destination", "kpi_monthly"):
        assert summary["tables"][f"gold.{did}"] > 0, did

    # A separate client process, as an analyst's notebook would be.
    script = (
        "import json, sys\n"
        "from enforcement_brain.lake.tables import register_lake\n"
        "from enforcement_brain.settings import load_settings\n"
        "from enforcement_brain.spark.session import get_spark\n"
        "spark = get_spark(load_settings())\n"
        "register_lake(spark, load_settings())\n"
        "queries = json.loads(sys.stdin.read())\n"
        "print(json.dumps([len(spark.sql(q).collect()) for q in queries]))\n"
    )
    queries = analyst_queries()
    proc = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(queries),
        env={**env, "EB_SPARK_REMOTE": f"sc://localhost:{env['EB_SPARK_CONNECT_PORT']}"},
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO_ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(json.loads(proc.stdout.strip().splitlines()[-1])) == len(queries)


def test_every_shared_dataset_holds_one_row_per_business_key(env, first_run):
    """Each dataset's declared grain holds on the day: its business key is unique in gold.

    Read with delta-rs, not Spark, so the check does not share the code it checks."""
    from deltalake import DeltaTable

    catalog = load_catalog(REPO_ROOT / "data_standards")
    lake = Path(env["EB_VAR_DIR"]) / "lake"
    for did, dataset in catalog.datasets.items():
        keys = DeltaTable(str(lake / "gold" / did)).to_pyarrow_table(
            columns=list(dataset.business_key)
        )
        distinct = keys.group_by(list(dataset.business_key)).aggregate([]).num_rows
        assert (did, keys.num_rows) == (did, distinct)


#: The rerun covers one source of each delivery kind (CSV per site, JSON lines, GBK CSV, a
#: front database) and the dataset and interface built from WIM; rerunning all 28 would add
#: minutes and exercise the same code paths.
RERUN_SOURCES = ("wim_weighings", "anpr_passes", "taxi_vehicles_drivers", "enforcement_cases")


def test_same_day_twice_leaves_the_same_rows(env, first_run):
    _, before = first_run
    summary = eb_run({**env, "EB_SOURCES": ",".join(RERUN_SOURCES)})
    assert summary["ok"]
    ingested = {r["dag_id"] for r in summary["dag_runs"] if r["dag_id"].startswith("ingest_")}
    assert ingested == {f"ingest_{s}" for s in RERUN_SOURCES}
    after = snapshot(Path(env["EB_VAR_DIR"]) / "lake")
    assert sorted(after) == sorted(before)
    for name in before:
        if name in RUN_HISTORY_TABLES:  # history of runs: it grows by design
            if name in ("ops.run_log", "ops.batch_log", "ops.dq_ledger"):
                assert len(after[name]) > len(before[name]), name
            continue
        assert after[name] == before[name], name
