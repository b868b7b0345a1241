# enforcement-brain — the two commands are `make run` and `make test`; both set up what is missing.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATE ?= $(shell date -d yesterday +%F)
SCALE ?= 0.05
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup run cluster-start cluster-stop cluster-status backfill bench test test-fast lint format standards sql sql-server sql-server-stop maintain doctor airflow stop clean help serve console

help:
	@echo "make setup                               the venv, the Delta jars and Airflow's DB (run and test do it first)"
	@echo "make run   [DATE=YYYY-MM-DD] [SCALE=0.05]  one day through the whole pipeline"
	@echo "make backfill FROM=YYYY-MM-DD TO=YYYY-MM-DD [SCALE=0.05]  many days in one process"
	@echo "make test                                the tests (what CI runs)"
	@echo "make test-fast                           tests/unit: no JVM, Airflow or Spark (about a minute)"
	@echo "make lint                                ruff check and format check"
	@echo "make format                              ruff format and fix"
	@echo "make standards                           regenerate docs/standards/ and expectations/"
	@echo "make sql                                 Spark SQL shell over every lake table"
	@echo "make sql-server                          JDBC/ODBC endpoint on EB_SQL_PORT (docs/sql-endpoint.md)"
	@echo "make sql-server-stop                     stop the JDBC/ODBC endpoint"
	@echo "make maintain                            OPTIMIZE/VACUUM/check every table (docs/maintenance.md)"
	@echo "make doctor                              find damaged tables, a full disk, clock mismatches"
	@echo "make airflow                             Airflow UI on http://localhost:8080"
	@echo "make stop                                stop the Spark Connect server"
	@echo "make cluster-start                       S3 store, Spark, PostgreSQL, Redis, Celery (infra/README.md)"
	@echo "make cluster-stop                        stop them"
	@echo "make cluster-status                      the cluster's components as a table"
	@echo "make run PROFILE=cluster                 the day on the cluster cluster-start started"
	@echo "make serve                               partner Delta Sharing service (docs/sharing.md)"
	@echo "make console                             operators' web console on EB_CONSOLE_PORT (docs/console.md)"
	@echo "make bench                               the benchmarks (docs/benchmarks.md; hours at full scale)"
	@echo "make clean                               remove var/ (the lake, logs and run summaries)"

# Installs exactly the versions in uv.lock (as CI does); --locked stops if pyproject.toml changed
# without `$(BIN)/uv lock`, --inexact keeps the venv's own pip and uv.
$(STAMP): pyproject.toml uv.lock
	@command -v java >/dev/null || { echo "error: Java 17 is not installed: apt-get install openjdk-17-jre-headless"; exit 2; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check "uv==0.13.8"
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync -q --locked --inexact --extra dev --python $(BIN)/python
	@touch $(STAMP)

setup: $(STAMP)
	@$(BIN)/eb setup

# PROFILE=cluster: the run takes the settings `eb cluster start` wrote (infra/README.md).
CLUSTER_ENV ?= var/cluster/env
ifeq ($(PROFILE),cluster)
RUN_ENV = test -f $(CLUSTER_ENV) || { echo "error: $(CLUSTER_ENV) is missing: make cluster-start first"; exit 2; }; set -a && . $(CLUSTER_ENV) && set +a &&
endif

run: setup
	@$(RUN_ENV) $(BIN)/eb run --date "$(DATE)" --scale "$(SCALE)"

cluster-start: setup
	@$(BIN)/eb cluster start

cluster-stop:
	@$(BIN)/eb cluster stop

cluster-status:
	@$(BIN)/eb cluster status

backfill: setup
	@$(BIN)/eb backfill --from "$(FROM)" --to "$(TO)" --scale "$(SCALE)"

# The benchmarks with their documented settings (docs/benchmarks.md): full scale, median of 3.
bench: setup
	$(BIN)/python benchmarks/bench_day.py --runs 3 --scale 1.0
	$(BIN)/python benchmarks/bench_day.py --runs 3 --scale 0.01
	$(BIN)/python benchmarks/bench_load.py --scale 0.002 --days 4
	$(BIN)/python benchmarks/bench_history.py --runs 3 --history 60 --scale 1.0
	$(BIN)/python benchmarks/bench_backfill.py --runs 3 --days 30 --scale 1.0
	$(BIN)/python benchmarks/bench_validation.py --runs 3 --scale 1.0
	$(BIN)/python benchmarks/bench_console.py --runs 3 --days 30 --scale 0.01
	$(BIN)/python benchmarks/bench_sharing.py --runs 3

test: setup
	$(BIN)/pytest -q

# The tests that start no JVM, Airflow or Spark Connect server (the only list of them).
test-fast: setup
	$(BIN)/pytest -q tests/unit

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

# The rendered standards and GX suites compiled from data_standards/ (commit the result).
standards: $(STAMP)
	$(BIN)/python -m enforcement_brain.standards build

sql: setup
	@$(BIN)/eb sql $(SQL_ARGS)

# The JDBC/ODBC SQL endpoint (Spark Thrift server) on EB_SQL_PORT (default 10000).
sql-server: setup
	@$(BIN)/eb sql-server start

sql-server-stop:
	@$(BIN)/eb sql-server stop

# One maintenance pass over every table, as the daily maintain_tables DAG does.
maintain: setup
	@$(BIN)/eb maintain

# Inspect every table, the disk and the clocks, without a JVM (docs/maintenance.md).
doctor: $(STAMP)
	@$(BIN)/eb doctor

airflow: setup
	@eval "$$($(BIN)/python -c 'from enforcement_brain.orchestration.airflow_cli import airflow_env; from enforcement_brain.settings import load_settings; import shlex; e=airflow_env(load_settings(), "sc://localhost:15002"); print(" ".join(f"export {k}={shlex.quote(v)};" for k,v in e.items() if k.startswith(("AIRFLOW","EB_","PATH"))))')" && $(BIN)/eb spark start && $(BIN)/airflow standalone

stop:
	@$(BIN)/eb spark stop

# The partner-facing Delta Sharing service on EB_SHARING_PORT (default 8090); see docs/sharing.md.
serve: $(STAMP)
	@$(BIN)/eb serve

# The operators' read-only web console on EB_CONSOLE_HOST:EB_CONSOLE_PORT; see docs/console.md.
console: $(STAMP)
	@$(BIN)/eb console

clean:
	rm -rf var/
