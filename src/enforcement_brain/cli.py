"""``eb``: the platform's command line (what the Makefile calls).

Every expected failure prints one line saying what to do and exits 2; no stack traces.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from enforcement_brain.errors import EbError
from enforcement_brain.settings import Settings, load_settings


def _console():
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:  # piped to a log: do not squeeze the tables into 80 columns
        console = Console(highlight=False, width=120)
    return console


def cmd_settings(args: argparse.Namespace) -> int:
    for key, value in load_settings().as_public_dict().items():
        print(f"{key:<26} {value}")
    return 0


def cmd_setup(args: argparse.Namespace) -> int:
    """Fetch what a run needs once (the Delta jars) and create Airflow's DB."""
    from enforcement_brain.orchestration import airflow_cli
    from enforcement_brain.spark import jars

    settings = load_settings()
    try:
        found = jars.cached_jars(settings.jar_dir)
        print(f"jar cache ok: {len(found)} jars in {settings.jar_dir}")
    except EbError:
        print(f"fetching the Delta jars from Maven Central into {settings.jar_dir} …", flush=True)
        found = jars.resolve_jars(settings.jar_dir)
        print(f"jar cache ok: {len(found)} jars")
    airflow_cli.ensure_db(settings)
    print(f"airflow metadata DB ok: {settings.airflow_home}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from enforcement_brain.generate import generate_day
    from enforcement_brain.orchestration.runtime import parse_date

    settings = load_settings()
    result = generate_day(settings, parse_date(args.date), scale=args.scale)
    for sid, n in sorted(result.rows_by_source.items()):
        print(f"{sid:<28} {n:>9,} rows")
    print(f"ground truth: {result.ground_truth_path} ({result.seconds:.1f} s)")
    return 0


def cmd_spark(args: argparse.Namespace) -> int:
    from enforcement_brain.spark import server

    settings = load_settings()
    if args.action == "start":
        status = server.start(settings)
        print(f"Spark Connect server running at {status.url} (pid {status.pid}, log {status.log})")
    elif args.action == "stop":
        print("stopped" if server.stop(settings) else "not running")
    else:
        status = server.status(settings)
        print(f"running at {status.url} (pid {status.pid})" if status.running else "not running")
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    """The cluster profile's storage and Spark on loopback (docs/design.md, infra/README.md)."""
    from enforcement_brain.cluster import profile

    settings = load_settings()
    if args.action == "start":
        rows = profile.start(settings)
        print(profile.status_table(rows))
        print(f"\nsettings of a run on this cluster, in {profile.env_file(settings)}:")
        for key, value in profile.run_environment(settings).items():
            print(f"  {key}={value}")
        if profile.env_keys_unset(None):
            print(f"  (AWS keys drawn for the local store: {settings.cluster_dir / 'credentials'})")
        print("run the day on it with: make run PROFILE=cluster")
    elif args.action == "stop":
        for name, was_running in profile.stop(settings):
            print(f"{name}: {'stopped' if was_running else 'not running'}")
    else:
        print(profile.status_table(profile.status(settings)))
    return 0


def cmd_sql_server(args: argparse.Namespace) -> int:
    """The JDBC/ODBC SQL endpoint (Spark Thrift server) over every table (docs/sql-endpoint.md)."""
    from enforcement_brain.spark import sql_server

    settings = load_settings()
    if args.action == "start":
        status = sql_server.start(settings)
        print(
            f"SQL endpoint running at {status.url} (pid {status.pid}, log {status.log}); "
            f"try: beeline -u {status.url} -e 'show tables in gold'"
        )
    elif args.action == "stop":
        print("stopped" if sql_server.stop(settings) else "not running")
    else:
        status = sql_server.status(settings)
        print(f"running at {status.url} (pid {status.pid})" if status.running else "not running")
    return 0


def cmd_maintain(args: argparse.Namespace) -> int:
    """Compact, vacuum and check every lake table once, as the daily DAG does."""
    import datetime as dt

    from enforcement_brain.lake import maintenance
    from enforcement_brain.orchestration.runtime import job_context

    ctx = job_context()
    run_id = f"manual__maintain__{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
    only = [t.strip() for t in args.tables.split(",") if t.strip() and t.strip() != "all"]
    reports = maintenance.maintain_lake(ctx.spark, ctx.settings, ctx.catalog, run_id, only or None)
    maintenance.record(ctx.spark, ctx.settings, reports)
    print(maintenance.summary(reports))
    print(f"run {run_id}: one row per table in ops.maintenance_log")
    return 1 if any(r.error for r in reports) else 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Inspect every lake table's files, the disk and the clocks; or carry out a recovery
    (a dry run unless ``--apply``; applied under the lake lock, so never under a running load).

    Without a JVM (delta-rs and plain file reads), so it runs in seconds on a lake Spark
    cannot open. Exit status 1 when an error or a warning is found (docs/maintenance.md,
    "Recovering a damaged lake").
    """
    from enforcement_brain.errors import ClockError, ConfigError
    from enforcement_brain.lake import doctor, tables
    from enforcement_brain.orchestration.lock import lake_lock
    from enforcement_brain.settings import PLATFORM_TZ

    settings = load_settings()
    aside = settings.var_dir / "doctor"

    def table_dir(name: str) -> Path:
        layer, _, table = name.partition(".")
        if not table or (layer, table) not in tables.lake_tables(settings):
            raise ConfigError(f"{name!r} is not a table of the lake: give it as layer.table")
        return Path(settings.table_uri(layer, table).removeprefix("file://"))

    if args.rollback:
        if args.to is None:
            raise ConfigError("--rollback needs --to VERSION (the last good version)")
        where = table_dir(args.rollback)
        if not args.apply:
            moved = doctor.rollback(where, args.to, aside, dry_run=True)
            print(
                f"dry run: {args.rollback} would be at version {args.to}; {len(moved)} file(s) "
                f"would move to {aside}: {', '.join(moved)}. Nothing was changed: add --apply "
                "to do it"
            )
            return 0
        with lake_lock(settings, f"eb doctor --rollback {args.rollback} --to {args.to} --apply"):
            moved = doctor.rollback(where, args.to, aside)
        print(f"{args.rollback}: now at version {args.to}; {len(moved)} file(s) moved to {aside}")
        return 0
    if args.checkpoint:
        where = table_dir(args.checkpoint)
        if not args.apply:
            moved = doctor.rewrite_checkpoint(where, aside, dry_run=True)
            print(
                f"dry run: {args.checkpoint} would get a new checkpoint of its latest version; "
                f"{len(moved)} file(s) would move to {aside}: {', '.join(moved) or 'none'}. "
                "Nothing was changed: add --apply to do it"
            )
            return 0
        with lake_lock(settings, f"eb doctor --checkpoint {args.checkpoint} --apply"):
            moved = doctor.rewrite_checkpoint(where, aside)
        print(f"{args.checkpoint}: new checkpoint written; {len(moved)} file(s) moved to {aside}")
        return 0
    targets = tables.lake_tables(settings)
    only = {t.strip() for t in args.tables.split(",") if t.strip() and t.strip() != "all"}
    if only:
        targets = [(ly, t) for ly, t in targets if f"{ly}.{t}" in only]
    findings = doctor.examine(settings, targets, args.min_free_mb)
    findings += doctor.clock_findings(PLATFORM_TZ, None)
    if settings.spark_remote and not any(f.table == "clock" for f in findings):
        from enforcement_brain.spark.session import get_spark

        try:  # the running server's session and JVM zones
            get_spark(settings)
        except ClockError as exc:
            findings.append(
                doctor.Finding(exc.code, "clock", doctor.ERROR, str(exc), "see the message")
            )
    print(doctor.summary(findings, len(targets)))
    return doctor.exit_status(findings)


def analyst_sql(settings: Settings) -> str:
    """The init script of an analyst's SQL session: every lake table by name, the shared
    functions, the ``ref.*`` code tables and the datasets' params, so a dataset's SQL file runs
    as it is (``eb sql -f data_standards/datasets/overload_alerts.sql``)."""
    from enforcement_brain.lake.tables import registration_sql
    from enforcement_brain.spark.sql_server import analyst_statements

    library = analyst_statements(settings)
    return registration_sql(settings) + "".join(f"{s};\n" for s in library)


def cmd_sql_init(args: argparse.Namespace) -> int:
    """Write the SQL that registers every lake table (for ``spark-sql -i``)."""
    settings = load_settings()
    out = Path(args.output) if args.output else settings.run_dir / "register_tables.sql"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(analyst_sql(settings))
    print(out)
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    """Open the ``spark-sql`` shell (from the pyspark wheel) with every lake table registered.

    The shell gets the platform's own Spark configuration; its Hive metastore is an in-memory
    Derby database, so it never locks a file another JVM holds.
    """
    import os

    from enforcement_brain.spark.jars import pyspark_jars_dir
    from enforcement_brain.spark.session import require_java, spark_conf

    settings = load_settings()
    require_java()
    init = settings.run_dir / "register_tables.sql"
    init.parent.mkdir(parents=True, exist_ok=True)
    init.write_text(analyst_sql(settings))
    conf = spark_conf(settings)
    conf.pop("spark.sql.catalogImplementation")  # the shell needs its (in-memory) Hive catalog
    conf["spark.hadoop.javax.jdo.option.ConnectionURL"] = "jdbc:derby:memory:metastore;create=true"
    spark_home = pyspark_jars_dir().parent
    cmd = [str(spark_home / "bin" / "spark-sql"), "--master", settings.spark_master]
    cmd += ["--driver-memory", conf.pop("spark.driver.memory")]
    for key, value in conf.items():
        cmd += ["--conf", f"{key}={value}"]
    cmd += ["-i", str(init), *args.args]
    os.environ["SPARK_HOME"] = str(spark_home)
    os.execv(cmd[0], cmd)
    return 0  # not reached


def _exit_on_sigterm() -> None:
    """Make SIGTERM unwind like Ctrl-C, so the main job's ``finally`` stops the Airflow
    components it started (they run in their own session and would outlive a plain kill)."""
    import signal

    def handler(signum: int, _frame: object) -> None:
        # Once is enough: a second SIGTERM must not cut the clean-up short on its way to
        # AirflowStack.stop (which itself holds SIGINT and SIGTERM while it runs).
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def cmd_run(args: argparse.Namespace) -> int:
    from enforcement_brain.orchestration.daily import run_day
    from enforcement_brain.orchestration.runtime import parse_date

    _exit_on_sigterm()
    settings = load_settings()
    console = _console()
    day = parse_date(args.date)
    console.print(f"[bold]enforcement-brain[/bold] — running {day} through the whole pipeline")
    from rich.markup import escape

    run = run_day(settings, day, scale=args.scale, say=lambda line: console.print(escape(line)))
    print_summary(console, settings, run)
    return 0 if run.ok else 1


def cmd_backfill(args: argparse.Namespace) -> int:
    """Many days in one process: generate (unless told not to), load, validate, publish, share."""
    import dataclasses
    import datetime as dt
    import json

    from enforcement_brain.orchestration.backfill import backfill, days_between
    from enforcement_brain.orchestration.runtime import job_context, parse_date

    _exit_on_sigterm()
    ctx = job_context()
    days = days_between(parse_date(args.date_from), parse_date(args.date_to))
    sources = tuple(s for s in (args.sources or "").split(",") if s)
    run_id = f"backfill__{days[0]}__{days[-1]}__{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
    print(f"backfill {days[0]} … {days[-1]} ({len(days)} day(s)), run {run_id}", flush=True)
    report = backfill(
        ctx,
        days,
        run_id,
        sources=sources,
        validate=not args.skip_validation,
        workers=args.workers,
        generate=not args.no_generate,
        scale=args.scale,
        say=lambda line: print(line, flush=True),
    )
    rows = sum(int(r.get("rows_in", 0)) for r in report.loads)
    seconds = report.seconds["total"]
    print(
        f"backfill done: {rows:,} rows in {seconds:.0f} s "
        f"({', '.join(f'{k} {v:.0f} s' for k, v in report.seconds.items() if k != 'total')})"
    )
    out = ctx.settings.run_dir / f"backfill-{days[0]}-{days[-1]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    body = dataclasses.asdict(report)
    out.write_text(json.dumps(body, default=str, indent=2, ensure_ascii=False))
    print(f"report: {out}")
    for line in report.errors:
        print(f"error: {line}", file=sys.stderr)
    return 0 if report.ok else 1


def cmd_replay(args: argparse.Namespace) -> int:
    """Re-check a day's quarantine of one source (after fixing the standards or the rows)."""
    import datetime as dt

    from enforcement_brain.orchestration.lock import lake_lock
    from enforcement_brain.orchestration.runtime import job_context, parse_date
    from enforcement_brain.pipeline.replay import replay

    ctx = job_context()
    if args.source not in ctx.catalog.sources:
        raise EbError(f"unknown source {args.source!r}; declared: {', '.join(ctx.catalog.sources)}")
    day = parse_date(args.date)
    run_id = f"replay__{day}__{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
    command = f"eb replay --source {args.source} --date {day}"
    with lake_lock(ctx.settings, command, print):
        source = ctx.catalog.sources[args.source]
        report = replay(ctx.spark, ctx.settings, ctx.catalog, source, day, run_id)
    moved = report.inserted + report.updated + report.unchanged
    print(
        f"{args.source} {day}: {report.rows_in} quarantined row(s) replayed: {moved} now in "
        f"silver ({report.inserted} new, {report.updated} updated), "
        f"{report.duplicates_dropped} duplicate(s) dropped, {report.quarantined} still "
        f"quarantined (see quarantine.{args.source}); run {run_id}"
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the partner-facing Delta Sharing service (docs/sharing.md)."""
    from enforcement_brain.sharing.service import serve

    serve(load_settings())
    return 0


def cmd_console(args: argparse.Namespace) -> int:
    """Run the operators' read-only web console (docs/console.md)."""
    from enforcement_brain.console.routes import serve

    serve(load_settings())
    return 0


def cmd_sharing(args: argparse.Namespace) -> int:
    """Issue, rotate, revoke and list the partners' bearer tokens (docs/sharing.md)."""
    from enforcement_brain.sharing import admin

    return admin.run(load_settings(), args)


def print_summary(console, settings, run) -> None:
    from rich.table import Table

    generated = run.generated.rows_by_source if run.generated else {}
    t = Table(title=f"Day {run.day} — rows per source", title_justify="left")
    for col in (
        "source",
        "landed",
        "bronze",
        "new",
        "updated",
        "unchanged",
        "duplicates",
        "quarantined",
        "warned",
        "reconciles",
    ):
        t.add_column(col, justify="left" if col == "source" else "right")
    for b in run.summary.get("batches", []):
        t.add_row(
            b["source"],
            f"{generated.get(b['source'], 0):,}",
            f"{b['rows_in']:,}",
            f"{b['inserted']:,}",
            f"{b['updated']:,}",
            f"{b['unchanged']:,}",
            f"{b['duplicates_dropped']:,}",
            f"{b['quarantined']:,}",
            f"{b['warned']:,}",
            "yes" if b["reconciles"] else "[red]NO[/red]",
        )
    console.print(t)
    tt = Table(title="Tables written (rows, all days)", title_justify="left")
    tt.add_column("table")
    tt.add_column("rows", justify="right")
    for name, n in run.summary.get("tables", {}).items():
        tt.add_row(name, f"{n:,}")
    console.print(tt)
    st = Table(title="Time per stage", title_justify="left")
    st.add_column("stage")
    st.add_column("seconds", justify="right")
    for name, seconds in run.stages:
        st.add_row(name, f"{seconds:.1f}")
    for phase, seconds in run.phases.items():
        st.add_row(f"  {phase} DAGs (first start → last end)", f"{seconds:.1f}")
    console.print(st)
    dt_ = Table(title="DAG runs", title_justify="left")
    for col in ("DAG", "state", "seconds", "bronze s", "silver s"):
        dt_.add_column(col, justify="left" if col in {"DAG", "state"} else "right")
    for r in run.dag_runs:
        state = r.state if r.ok else f"[red]{r.state}[/red]"
        seconds = "" if r.seconds is None else f"{r.seconds:.1f}"
        bronze, silver = r.result.get("bronze_seconds"), r.result.get("silver_seconds")
        dt_.add_row(r.dag_id, state, seconds, f"{bronze or ''}", f"{silver or ''}")
    console.print(dt_)
    breakdown = run.summary.get("breakdown") or {}
    if breakdown:
        bt = Table(title="Where a task's time goes (median per task, s)", title_justify="left")
        cols = ("tasks", "wait_seconds", "startup_seconds", "attach_seconds", "run_seconds")
        cols += ("spark_jobs", "spark_job_seconds", "delta_commits")
        bt.add_column("DAGs")
        for col in cols:
            bt.add_column(col.removesuffix("_seconds").replace("_", " "), justify="right")
        for kind, row in breakdown.items():
            bt.add_row(kind, *[f"{row[c]:g}" if c in row else "—" for c in cols])
        console.print(bt)
    if run.cpu:
        from enforcement_brain.orchestration.breakdown import describe_cpu

        console.print(describe_cpu(run.cpu))
    from rich.markup import escape

    for r in run.dag_runs:
        if not r.ok:
            console.print(f"[red]✗ {r.dag_id}: {escape(r.error)}[/red]")
    console.print(
        "\n[bold]Where to look next[/bold]\n"
        "  Spark SQL shell:    make sql   (e.g. select * from gold.overload_alerts limit 10;)\n"
        "  Airflow UI:         make airflow    (http://localhost:8080, the run's history kept)\n"
        f"  Spark UI:           http://localhost:4040 (while the Connect server runs)\n"
        f"  Summary JSON:       {settings.run_dir / f'summary-{run.day}.json'}\n"
        "  Stop Spark:         make stop\n"
        f"  Console:            make console ({settings.console_url})"
    )


def main(argv: list[str] | None = None) -> int:
    from enforcement_brain.lake.doctor import MIN_FREE_MB

    parser = argparse.ArgumentParser(prog="eb", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("settings", help="print the resolved settings").set_defaults(fn=cmd_settings)
    sub.add_parser("setup", help="fetch the Delta jars once; create Airflow's DB").set_defaults(
        fn=cmd_setup
    )
    g = sub.add_parser("generate", help="generate one day of source deliveries into landing")
    g.add_argument("--date", required=True)
    g.add_argument("--scale", type=float, default=None)
    g.set_defaults(fn=cmd_generate)
    s = sub.add_parser("spark", help="the platform's Spark Connect server")
    s.add_argument("action", choices=["start", "stop", "status"])
    s.set_defaults(fn=cmd_spark)
    cl = sub.add_parser("cluster", help="the cluster profile: S3, Spark, PostgreSQL, Redis, Celery")
    cl.add_argument("action", choices=["start", "stop", "status"])
    cl.set_defaults(fn=cmd_cluster)
    ss = sub.add_parser("sql-server", help="the JDBC/ODBC SQL endpoint (Spark Thrift server)")
    ss.add_argument("action", choices=["start", "stop", "status"])
    ss.set_defaults(fn=cmd_sql_server)
    mt = sub.add_parser("maintain", help="OPTIMIZE, VACUUM and check every lake table once")
    mt.add_argument("--tables", default="all", help="layer.table,... (default: all)")
    mt.set_defaults(fn=cmd_maintain)
    dr = sub.add_parser("doctor", help="find damaged tables, a full disk, clock mismatches")
    dr.add_argument("--tables", default="all", help="layer.table,... (default: all)")
    dr.add_argument("--rollback", metavar="LAYER.TABLE", help="move versions after --to aside")
    dr.add_argument("--to", type=int, default=None, help="the last good version to keep")
    dr.add_argument("--checkpoint", metavar="LAYER.TABLE", help="write a fresh checkpoint")
    dr.add_argument(
        "--apply",
        action="store_true",
        help="carry out --rollback or --checkpoint (without it: a dry run that changes nothing)",
    )
    dr.add_argument(
        "--min-free-mb", type=int, default=MIN_FREE_MB, help=f"free-space floor ({MIN_FREE_MB})"
    )
    dr.set_defaults(fn=cmd_doctor)
    q = sub.add_parser("sql-init", help="write the SQL that registers every lake table")
    q.add_argument("--output", default=None, help="default: var/run/register_tables.sql")
    q.set_defaults(fn=cmd_sql_init)
    sq = sub.add_parser("sql", help="spark-sql shell with every lake table registered")
    sq.epilog = "other arguments go to spark-sql, e.g. eb sql -S -e 'select 1'"
    sq.set_defaults(fn=cmd_sql)
    r = sub.add_parser("run", help="the main job: one day through the whole pipeline")
    r.add_argument("--date", required=True)
    r.add_argument("--scale", type=float, default=None)
    r.set_defaults(fn=cmd_run)
    b = sub.add_parser("backfill", help="many days in one process: load, publish, share once")
    b.add_argument("--from", dest="date_from", required=True, help="first day, YYYY-MM-DD")
    b.add_argument("--to", dest="date_to", required=True, help="last day, YYYY-MM-DD")
    b.add_argument("--scale", type=float, default=None, help="generator scale (default EB_SCALE)")
    b.add_argument("--no-generate", action="store_true", help="load what landing already holds")
    b.add_argument("--sources", default="", help="only these sources (comma-separated)")
    b.add_argument("--skip-validation", action="store_true", help="no GX run (rules still apply)")
    b.add_argument("--workers", type=int, default=2, help="sources loading at once (default 2)")
    b.set_defaults(fn=cmd_backfill)
    rp = sub.add_parser("replay", help="re-check a day's quarantine of a source once fixed")
    rp.add_argument("--source", required=True)
    rp.add_argument("--date", required=True)
    rp.set_defaults(fn=cmd_replay)
    sub.add_parser("serve", help="the partner-facing Delta Sharing service").set_defaults(
        fn=cmd_serve
    )
    sub.add_parser("console", help="the operators' read-only web console").set_defaults(
        fn=cmd_console
    )
    from enforcement_brain.sharing.admin import add_parser as add_sharing_parser

    add_sharing_parser(sub).set_defaults(fn=cmd_sharing)
    args, extra = parser.parse_known_args(argv)
    if args.command == "sql":
        args.args = extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.fn(args))
    except EbError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: keep the trace in a file, answer in one line
        import traceback

        from enforcement_brain.errors import DiskFullError, is_disk_full

        if is_disk_full(exc):  # a writer that does not say so itself: same coded line
            print(
                f"error: [{DiskFullError.CODE}] the lake's disk is full: free space, then "
                "rerun the day (reruns are idempotent); eb doctor shows the free space",
                file=sys.stderr,
            )
            return DiskFullError.exit_code

        settings = load_settings()
        settings.run_dir.mkdir(parents=True, exist_ok=True)
        trace = settings.run_dir / "eb-error.log"
        trace.write_text(traceback.format_exc())
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        print(f"internal error: {type(exc).__name__}: {first} (trace in {trace})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
