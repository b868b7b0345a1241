"""The deployment files in ``infra/`` are checked by machine, without Docker, Kubernetes or AWS.

Why: a compose file, a Helm values file or an IAM policy that nobody runs drifts from the code
silently. Each file here is validated against the schema of the tool that reads it (the
compose spec, the Kubernetes API schemas, the IAM policy grammar), and every setting name it
sets is checked against the code that reads it (``settings.py`` for ``EB_*``, Airflow's and its
Celery and OpenLineage providers' option lists for ``AIRFLOW__*``).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import s3_credentials, s3_server

from enforcement_brain.declarations.catalog import load_catalog
from enforcement_brain.lake.s3 import LakeStore
from enforcement_brain.orchestration.airflow_cli import airflow_env
from enforcement_brain.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
COMPOSE = INFRA / "compose" / "compose.yaml"
HELM_VALUES = INFRA / "helm" / "airflow-values.yaml"
K8S_SPARK = INFRA / "k8s" / "spark"
AWS = INFRA / "aws"

#: The Kubernetes version the manifests are validated against (strict: no unknown fields).
K8S_VERSION = "1.33"

#: Environment the third-party images read, by image: theirs, not the platform's settings.
THIRD_PARTY_ENV = {
    "versity/versitygw": {
        "ROOT_ACCESS_KEY_ID",
        "ROOT_SECRET_ACCESS_KEY",
        "VGW_PORT",
        "VGW_REGION",
        "VGW_HEALTH",
    },
    "postgres": {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"},
    "redis": {"REDISCLI_AUTH"},
}
#: Spark's own environment (spark-env) and the pod IP it is given, in the Kubernetes manifests.
SPARK_ENV = {"SPARK_LOCAL_IP", "SPARK_CONF_DIR", "POD_IP"}

#: Names whose value is a credential: in a deployment file only as a reference, never a value.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|_KEY$|_KEY_ID$|AUTH|TOKEN")
#: A compose interpolation that stops compose when the variable is unset: ``${NAME:?message}``.
REQUIRED_VAR = re.compile(r"\$\{([A-Z_][A-Z0-9_]*):\?[^}]*\}")


# -- what the code reads -------------------------------------------------------------------------


def documented_settings() -> set[str]:
    """Every environment name ``settings.py`` reads or documents (``EB_*``, ``AWS_*``,
    ``AIRFLOW_HOME``): the one place the platform resolves its environment."""
    text = (REPO / "src" / "enforcement_brain" / "settings.py").read_text(encoding="utf-8")
    return set(re.findall(r"\b(EB_[A-Z0-9_]+|AWS_[A-Z0-9_]+|AIRFLOW_HOME)\b", text))


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)  # no import: Airflow's import has side effects
    assert spec is not None and spec.submodule_search_locations, f"{name} is not installed"
    return Path(next(iter(spec.submodule_search_locations)))


def airflow_options() -> set[str]:
    """``section.option`` of every option Airflow core and the providers it is run with (Celery,
    OpenLineage) declare."""
    airflow = _package_dir("airflow")
    core = yaml.safe_load((airflow / "config_templates" / "config.yml").read_text())
    options = {f"{s}.{o}" for s, body in core.items() for o in (body.get("options") or {})}
    for provider in ("celery", "openlineage"):
        info_file = airflow / "providers" / provider / "get_provider_info.py"
        spec = importlib.util.spec_from_file_location(f"_{provider}_provider_info", info_file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for section, body in module.get_provider_info()["config"].items():
            options |= {f"{section}.{o}" for o in body["options"]}
    return options


def airflow_option(env_name: str) -> str:
    """``AIRFLOW__CORE__DAGS_FOLDER`` → ``core.dags_folder``."""
    section, _, option = env_name.removeprefix("AIRFLOW__").partition("__")
    return f"{section.lower()}.{option.lower()}"


def is_airflow_option(env_name: str, options: set[str]) -> bool:
    """An Airflow option set by value, or through its ``_CMD``/``_SECRET`` variant."""
    if not env_name.startswith("AIRFLOW__"):
        return False
    base = re.sub(r"_(CMD|SECRET)$", "", env_name)
    return airflow_option(env_name) in options or airflow_option(base) in options


def unknown_env(names: set[str], options: set[str]) -> set[str]:
    """The names neither a platform setting nor an Airflow option."""
    settings = documented_settings()
    return {n for n in names if not (n in settings or is_airflow_option(n, options))}


# -- compose -------------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def interpolated(value: str, given: str = "set-by-env") -> str:
    """A compose value as compose would pass it: ``${X:-default}`` → default, a required
    ``${X:?…}`` → ``given`` (what the operator's environment would hold)."""
    value = re.sub(r"\$\{[A-Z_][A-Z0-9_]*:-([^}]*)\}", r"\1", value)
    return REQUIRED_VAR.sub(given, value)


def _venv_tool(name: str) -> str:
    """A command-line tool of the project's venv; a clear failure when it is missing."""
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed in the venv: run `make setup` (dev extra)")
    return found


def test_the_compose_file_is_valid_under_the_compose_spec():
    proc = subprocess.run(
        [_venv_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_compose_spec_check_catches_a_wrong_file(tmp_path):
    """The validator really reads the spec: a misspelt key fails it."""
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  s3:\n    image: x\n    healthcheck: {tset: [CMD, true]}\n")
    proc = subprocess.run(
        [_venv_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "tset" in proc.stdout + proc.stderr


def test_compose_runs_every_component_of_the_cluster_profile():
    services = compose()["services"]
    assert {
        "s3",
        "postgres",
        "redis",
        "spark-master",
        "spark-worker-1",
        "spark-worker-2",
        "spark-connect",
        "sql-endpoint",
        "sharing",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker-loads",
        "airflow-worker-publish",
    } <= set(services)
    workers = {
        name: svc["command"][svc["command"].index("--queues") + 1]
        for name, svc in services.items()
        if svc.get("command", [])[:3] == ["airflow", "celery", "worker"]
    }
    assert len(workers) >= 2 and len(set(workers.values())) == len(workers), workers
    masters = [
        svc["command"][2]
        for svc in services.values()
        if "org.apache.spark.deploy.worker.Worker" in svc.get("command", [])
    ]
    assert masters == ["spark://spark-master:7077"] * 2
    one_shot = {n for n, svc in services.items() if svc.get("restart") == "no"}
    assert one_shot == {"s3-buckets", "airflow-init"}
    unchecked = [n for n, svc in services.items() if n not in one_shot and "healthcheck" not in svc]
    assert unchecked == []


def test_compose_sets_only_names_the_code_reads():
    """Each EB_*/AWS_* name is a setting of settings.py and each AIRFLOW__* an Airflow option;
    a third-party image gets only the names it documents."""
    options = airflow_options()
    unknown = {}
    for name, svc in compose()["services"].items():
        env = set(svc.get("environment") or {})
        image = svc["image"].split(":")[0]
        if image in THIRD_PARTY_ENV:
            extra = env - THIRD_PARTY_ENV[image]
        else:
            assert image == "${EB_IMAGE", name  # the platform's own image (EB_IMAGE:-…)
            extra = unknown_env(env, options)
        if extra:
            unknown[name] = sorted(extra)
    assert unknown == {}


def test_the_drift_check_catches_an_unknown_name():
    options = airflow_options()
    assert unknown_env({"EB_LAKE_ROOT", "AIRFLOW__CORE__EXECUTOR"}, options) == set()
    assert unknown_env({"EB_LAKE_ROOOT", "AIRFLOW__CORE__EXECUTER"}, options) == {
        "EB_LAKE_ROOOT",
        "AIRFLOW__CORE__EXECUTER",
    }
    assert is_airflow_option("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD", options)
    assert is_airflow_option("AIRFLOW__API_AUTH__JWT_SECRET", options)  # the option itself


def test_compose_settings_resolve_and_airflow_gets_what_the_platform_gives_it():
    """The platform's settings accept the compose values, and the Airflow options the platform
    derives for its own Airflow (airflow_cli.airflow_env) have the same values in compose."""
    env = compose()["services"]["airflow-scheduler"]["environment"]
    settings = load_settings({k: interpolated(v) for k, v in env.items()})
    assert settings.lake_root.startswith("s3a://")
    assert settings.spark_master == "spark://spark-master:7077"
    assert settings.spark_remote == "sc://spark-connect:15002"
    derived = {
        k: v
        for k, v in airflow_env(settings).items()
        if k.startswith("AIRFLOW__") and k != "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
    }
    assert derived and {k: env.get(k) for k in derived} == derived
    assert env["AIRFLOW_HOME"] == str(settings.airflow_home)


def test_the_bucket_step_creates_the_lake_bucket_and_every_declared_source_bucket(monkeypatch):
    """The compose step's code, run as written against an S3 server (moto) with the compose
    settings: the lake's bucket and each objects source's declared bucket, and a second run
    creates nothing."""
    service = compose()["services"]["s3-buckets"]
    code = service["command"][2]
    s3_credentials(monkeypatch)
    with s3_server() as url:
        env = {k: interpolated(v) for k, v in service["environment"].items()}
        env.update({"EB_S3_ENDPOINT": url, "EB_HOME": str(REPO)})
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            env.pop(key)  # the test's own credentials (s3_credentials)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("EB_STANDARDS_DIR", raising=False)
        exec(compile(code, "s3-buckets", "exec"), {})
        settings = load_settings()
        declared = {
            s.delivery.bucket
            for s in load_catalog(settings.standards_dir).sources.values()
            if s.delivery.bucket
        }
        client = LakeStore.from_settings(settings).client
        buckets = {b["Name"] for b in client.list_buckets()["Buckets"]}
        assert len(declared) >= 4
        assert buckets == {"eb-lake"} | declared
        exec(compile(code, "s3-buckets", "exec"), {})  # idempotent
        assert {b["Name"] for b in client.list_buckets()["Buckets"]} == buckets


def _secret_leaks(env: dict[str, str]) -> list[str]:
    leaks = []
    for name, value in env.items():
        value = str(value)
        if SECRET_NAME.search(name) and not REQUIRED_VAR.fullmatch(value):
            leaks.append(name)
        for userinfo in re.findall(r"://([^/@\s]*)@", value):
            password = userinfo.partition(":")[2]
            if password and not REQUIRED_VAR.fullmatch(password):
                leaks.append(name)
    return leaks


def test_compose_holds_no_secret_and_the_example_env_names_each_one():
    services = compose()["services"]
    leaks = {n: _secret_leaks(svc.get("environment") or {}) for n, svc in services.items()}
    assert {n: v for n, v in leaks.items() if v} == {}
    required = set(REQUIRED_VAR.findall(COMPOSE.read_text(encoding="utf-8")))
    example = (INFRA / "compose" / ".env.example").read_text(encoding="utf-8")
    listed = dict(
        line.split("=", 1) for line in example.splitlines() if line and not line.startswith("#")
    )
    assert set(listed) == required
    assert all(v == "" for v in listed.values())  # names only, never a value
    assert _secret_leaks({"AIRFLOW__CELERY__BROKER_URL": "redis://:hunter2@redis:6379/0"})
    assert _secret_leaks({"POSTGRES_PASSWORD": "hunter2"})


# -- Kubernetes ----------------------------------------------------------------------------------


def k8s_documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S_SPARK.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                docs.append((path.name, doc))
    return docs


def _k8s_validator():
    try:
        from kubernetes_validate import utils
    except ImportError:
        pytest.fail("kubernetes-validate is not installed: run `make setup` (dev extra)")
    return utils


def test_spark_manifests_are_valid_kubernetes_objects():
    """Every object validates, strictly (no unknown field), against the API schemas of
    Kubernetes K8S_VERSION that kubernetes-validate bundles; an unknown kind is a failure."""
    utils = _k8s_validator()
    docs = k8s_documents()
    assert docs
    errors = []
    for name, doc in docs:
        try:
            utils.validate(doc, K8S_VERSION, strict=True)
        except (utils.ValidationError, utils.SchemaNotFoundError) as exc:
            errors.append(f"{name} {doc.get('kind')}/{doc['metadata'].get('name')}: {exc}")
    assert errors == []


def test_the_kubernetes_check_catches_a_wrong_object():
    utils = _k8s_validator()
    container = {"name": "worker", "image": "enforcement-brain:latest", "enviroment": []}
    bad = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "selector": {"matchLabels": {"app": "x"}},
            "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [container]}},
        },
    }
    with pytest.raises(utils.ValidationError, match="enviroment"):
        utils.validate(bad, K8S_VERSION, strict=True)
    del container["enviroment"]
    assert utils.validate(bad, K8S_VERSION, strict=True) == K8S_VERSION


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])


def test_spark_manifests_run_the_topology_with_the_code_s_settings():
    docs = [d for _, d in k8s_documents()]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    assert set(deployments) == {"spark-master", "spark-worker", "spark-connect", "sql-endpoint"}
    assert deployments["spark-worker"]["spec"]["replicas"] >= 2
    assert deployments["spark-master"]["spec"]["replicas"] == 1
    assert {"spark-master", "spark-connect", "sql-endpoint"} <= set(services)
    ports = {n: {p["name"]: p["port"] for p in s["spec"]["ports"]} for n, s in services.items()}
    assert ports["spark-master"]["spark"] == 7077
    assert ports["spark-connect"]["grpc"] == load_settings({}).spark_connect_port
    assert ports["sql-endpoint"]["thrift"] == load_settings({}).sql_port
    options = airflow_options()
    config_maps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    names: set[str] = set()
    for d in config_maps.values():
        names |= set(d.get("data", {}))
    for d in deployments.values():
        for c in _containers(d):
            for e in c.get("env", []):
                names.add(e["name"])
                if SECRET_NAME.search(e["name"]):
                    assert "value" not in e, f"{e['name']} is a literal: use a secretKeyRef"
                    assert "secretKeyRef" in e["valueFrom"], e["name"]
    assert unknown_env(names - SPARK_ENV, options) == set()
    # The settings accept the ConfigMap's values, as load_settings would read them in a pod.
    settings = load_settings(config_maps["eb-settings"]["data"])
    assert settings.spark_master == "spark://spark-master:7077"


# -- Helm (the official Apache Airflow chart) ----------------------------------------------------

#: Value keys of the official chart (``chart/values.schema.json`` of apache/airflow, chart 1.18
#: for Airflow 3), as far as this file uses them: a key outside this list is not the chart's.
CHART_KEYS = {
    "defaultAirflowRepository",
    "defaultAirflowTag",
    "airflowVersion",
    "executor",
    "images.airflow.repository",
    "images.airflow.tag",
    "images.airflow.pullPolicy",
    "env",
    "secret",
    "enableBuiltInSecretEnvVars.AIRFLOW__CORE__FERNET_KEY",
    "data.metadataSecretName",
    "data.resultBackendSecretName",
    "data.brokerUrlSecretName",
    "fernetKeySecretName",
    "apiSecretKeySecretName",
    "jwtSecretName",
    "postgresql.enabled",
    "redis.enabled",
    "pgbouncer.enabled",
    "workers.replicas",
    "workers.args",
    "workers.resources",
    "scheduler.replicas",
    "apiServer.replicas",
    "triggerer.enabled",
    "dagProcessor.enabled",
    "dags.persistence.enabled",
    "dags.gitSync.enabled",
    "config",
}


#: Chart keys whose value is a whole object of another schema (airflow.cfg sections, a
#: Kubernetes ResourceRequirements): checked as one key, their content elsewhere.
OPAQUE_CHART_KEYS = {"config", "workers.resources"}


def _leaf_keys(values: dict[str, Any], prefix: str = "") -> set[str]:
    keys = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and path not in OPAQUE_CHART_KEYS and value:
            keys |= _leaf_keys(value, f"{path}.")
        else:
            keys.add(path)
    return keys


def helm_values() -> dict[str, Any]:
    return yaml.safe_load(HELM_VALUES.read_text(encoding="utf-8"))


def test_helm_values_use_only_the_chart_s_keys():
    values = helm_values()
    assert _leaf_keys(values) - CHART_KEYS == set()
    assert _leaf_keys({"workers": {"replicas": 2}, "config": {"core": {}}}) == {
        "workers.replicas",
        "config",
    }


def test_helm_values_run_celery_on_external_services_with_referenced_secrets():
    values = helm_values()
    assert values["executor"] == "CeleryExecutor"
    assert values["postgresql"]["enabled"] is False and values["redis"]["enabled"] is False
    assert all(values["data"][k] for k in ("metadataSecretName", "brokerUrlSecretName"))
    assert values["jwtSecretName"] and values["fernetKeySecretName"]
    assert values["airflowVersion"] == importlib.metadata.version("apache-airflow")
    # Secrets are references (secretName/secretKey), never values in this file.
    assert not {"fernetKey", "jwtSecret", "apiSecretKey", "webserverSecretKey"} & set(values)
    assert not {"metadataConnection", "brokerUrl", "resultBackendConnection"} & set(values["data"])
    assert {s["envName"] for s in values["secret"]} >= {"AWS_SECRET_ACCESS_KEY", "EB_SOURCE_DB_URL"}
    env = {e["name"]: e["value"] for e in values["env"]}
    assert _secret_leaks(env) == []
    options = airflow_options()
    names = set(env) | {s["envName"] for s in values["secret"]}
    names |= {f"AIRFLOW__{s.upper()}__{o.upper()}" for s, b in values["config"].items() for o in b}
    assert unknown_env(names, options) == set()
    queues = " ".join(values["workers"]["args"])
    assert "loads" in queues and "publish" in queues
    settings = load_settings(env)
    assert settings.spark_remote.startswith("sc://")
    derived = {
        airflow_option(k): v
        for k, v in airflow_env(settings).items()
        if k.startswith("AIRFLOW__CORE__") and k != "AIRFLOW__CORE__DAGS_FOLDER"
    }
    config = {f"core.{k}": v for k, v in values["config"]["core"].items()}
    assert derived and {k: config.get(k) for k in derived} == derived
    assert config["core.dags_folder"] == str(settings.home / "dags")


# -- AWS -----------------------------------------------------------------------------------------


def spark_properties(path: Path) -> dict[str, str]:
    """A spark-defaults.conf file: ``key value`` per line, ``#`` comments."""
    props = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            assert key not in props, f"{path.name}: {key} twice"
            props[key] = value.strip()
    return props


def test_aws_s3_conf_uses_the_default_credential_chain_and_no_key():
    props = spark_properties(AWS / "spark-s3.conf")
    assert (
        props["spark.hadoop.fs.s3a.aws.credentials.provider"]
        == "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider"
    )
    assert props["spark.hadoop.fs.s3a.endpoint.region"]
    assert props["spark.hadoop.fs.s3a.path.style.access"] == "false"
    assert not [k for k in props if re.search(r"access\.key|secret\.key|session\.token", k)]


def test_the_multi_writer_log_store_is_delta_s_dynamodb_store_at_delta_s_version():
    s3 = spark_properties(AWS / "spark-s3.conf")
    props = spark_properties(AWS / "spark-s3-dynamodb-logstore.conf")
    prefix = "spark.io.delta.storage.S3DynamoDBLogStore."
    assert props["spark.delta.logStore.s3a.impl"] == "io.delta.storage.S3DynamoDBLogStore"
    assert props[prefix + "ddb.tableName"]
    assert props[prefix + "ddb.region"] == s3["spark.hadoop.fs.s3a.endpoint.region"]
    packages = dict(p.rsplit(":", 1) for p in props["spark.jars.packages"].split(","))
    assert packages["io.delta:delta-storage-s3-dynamodb"] == importlib.metadata.version(
        "delta-spark"
    )
    assert "com.amazonaws:aws-java-sdk-dynamodb" in packages  # the store uses the v1 SDK


IAM_STATEMENT_KEYS = {
    "Sid",
    "Effect",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
}
IAM_ACTION = re.compile(r"^(s3|dynamodb):[A-Z][A-Za-z]+$")
#: An ARN naming one bucket, table or key prefix: a wildcard only as a final ``/*`` under a prefix.
IAM_ARN = re.compile(
    r"^arn:aws(-cn|-us-gov)?:(s3|dynamodb):[a-z0-9-]*:(\d{12})?:[A-Za-z0-9._-][^*\s]*(/\*)?$"
)


def iam_errors(policy: Any) -> list[str]:
    """What breaks the IAM policy grammar (identity policy) or least privilege here."""
    if not isinstance(policy, dict) or policy.get("Version") != "2012-10-17":
        return ["Version must be 2012-10-17"]
    statements = policy.get("Statement")
    if not isinstance(statements, list) or not statements:
        return ["Statement must be a non-empty list"]
    errors = [f"unknown top-level key {k}" for k in set(policy) - {"Version", "Id", "Statement"}]
    sids = [s.get("Sid") for s in statements if isinstance(s, dict)]
    if len(set(sids)) != len(sids) or not all(re.fullmatch(r"[A-Za-z0-9]+", s or "") for s in sids):
        errors.append("each statement needs a unique alphanumeric Sid")
    for st in statements:
        sid = st.get("Sid")
        errors += [f"{sid}: unknown key {k}" for k in set(st) - IAM_STATEMENT_KEYS]
        if st.get("Effect") not in {"Allow", "Deny"}:
            errors.append(f"{sid}: Effect must be Allow or Deny")
        if "Action" not in st or "Resource" not in st:
            errors.append(f"{sid}: Action and Resource are required (no Not*: least privilege)")
            continue
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        errors += [f"{sid}: action {a}" for a in actions if not IAM_ACTION.match(a)]
        errors += [f"{sid}: resource {r}" for r in resources if not IAM_ARN.match(r)]
    return errors


def test_iam_policies_are_well_formed_and_least_privilege():
    spark = json.loads((AWS / "iam-spark-lake-policy.json").read_text(encoding="utf-8"))
    sharing = json.loads((AWS / "iam-sharing-policy.json").read_text(encoding="utf-8"))
    assert iam_errors(spark) == []
    assert iam_errors(sharing) == []
    table = spark_properties(AWS / "spark-s3-dynamodb-logstore.conf")[
        "spark.io.delta.storage.S3DynamoDBLogStore.ddb.tableName"
    ]
    by_service: dict[str, set[str]] = {}
    for st in spark["Statement"]:
        for action in st["Action"]:
            by_service.setdefault(action.split(":")[0], set()).add(action)
        if any(a.startswith("dynamodb:") for a in st["Action"]):
            assert all(r.endswith(f":table/{table}") for r in st["Resource"])
    # What S3DynamoDBLogStore calls on a table that exists: no CreateTable, no Scan, no Delete.
    assert by_service["dynamodb"] == {
        "dynamodb:DescribeTable",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
    }
    # The sharing service reads and presigns; it never writes the lake.
    sharing_actions = {a for st in sharing["Statement"] for a in st["Action"]}
    assert sharing_actions == {"s3:GetObject", "s3:ListBucket"}


def test_the_iam_check_catches_a_broad_or_malformed_policy():
    assert iam_errors({"Version": "2008-10-17", "Statement": []})
    wildcard = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "All", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    assert iam_errors(wildcard) == ["All: action s3:*", "All: resource *"]
    every_bucket = {**wildcard["Statement"][0], "Action": "s3:GetObject"}
    every_bucket["Resource"] = "arn:aws:s3:::*"
    assert iam_errors({**wildcard, "Statement": [every_bucket]}) == ["All: resource arn:aws:s3:::*"]
    no_sid = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "NotAction": "s3:GetObject", "Resource": "arn:aws:s3:::b"}
        ],
    }
    assert len(iam_errors(no_sid)) == 2
