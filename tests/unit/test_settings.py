from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_settings

from enforcement_brain.errors import ConfigError
from enforcement_brain.orchestration.runtime import parse_date
from enforcement_brain.settings import load_settings


def test_defaults_are_embedded_and_derived_from_var_dir(tmp_path):
    s = load_settings({"EB_VAR_DIR": str(tmp_path)})
    assert s.lake_root == str(tmp_path / "lake")
    assert s.spark_master == "local[*]"
    assert s.spark_remote == ""
    assert s.airflow_home == tmp_path / "airflow"
    assert s.source_db_url == f"sqlite:///{tmp_path / 'sources' / 'case_system.db'}"
    assert s.table_uri("silver", "wim_weighings") == f"{tmp_path}/lake/silver/wim_weighings"
    assert s.lake_is_local


def test_cluster_settings_are_accepted():
    s = load_settings({"EB_LAKE_ROOT": "s3a://lake/eb", "EB_SPARK_MASTER": "spark://m:7077"})
    assert s.table_uri("gold", "overload_alerts") == "s3a://lake/eb/gold/overload_alerts"
    assert not s.lake_is_local
    assert s.spark_master == "spark://m:7077"
    assert (s.s3_endpoint, s.s3_region) == ("", None)  # Amazon S3, each client's own region


def test_the_lake_store_is_resolved_once_for_every_reader():
    """EB_S3_ENDPOINT and the region reach delta-rs and boto3 alike (boto3 alone would not
    read AWS_REGION); credentials never become settings."""
    from enforcement_brain.lake.s3 import LakeStore

    env = {
        "EB_LAKE_ROOT": "s3a://lake/eb",
        "EB_S3_ENDPOINT": "http://minio:9000/",
        "AWS_REGION": "cn-north-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_SECRET_ACCESS_KEY": "never-a-setting",
    }
    s = load_settings(env)
    assert (s.s3_endpoint, s.s3_region) == ("http://minio:9000", "cn-north-1")
    assert "never-a-setting" not in str(s.as_public_dict())
    store = LakeStore.from_settings(s)
    assert store.storage_options == {
        "AWS_ENDPOINT_URL": "http://minio:9000",
        "AWS_ALLOW_HTTP": "true",
        "AWS_REGION": "cn-north-1",
        "conditional_put": "etag",
        "max_retries": "3",
        "retry_timeout": "30s",
    }
    assert store.client.meta.endpoint_url == "http://minio:9000"
    assert store.client.meta.region_name == "cn-north-1"
    assert load_settings({"AWS_DEFAULT_REGION": "us-west-2"}).s3_region == "us-west-2"


def _s3a_jar_cache(folder: Path) -> Path:
    """A stand-in S3A jar cache: the names :func:`cached_s3a_jars` looks for."""
    from enforcement_brain.spark.jars import AWS_SDK_VERSION, hadoop_version

    folder.mkdir(parents=True)
    (folder / f"org.apache.hadoop_hadoop-aws-{hadoop_version()}.jar").touch()
    (folder / f"software.amazon.awssdk_s3-{AWS_SDK_VERSION}.jar").touch()
    return folder


def test_spark_reaches_the_same_lake_store(tmp_path):
    """Spark's S3A gets EB_S3_ENDPOINT from the settings too, per bucket of the lake, and the
    S3A jars on the driver's and executors' class path; credentials stay in the environment."""
    from enforcement_brain.spark.session import spark_conf

    jars = _s3a_jar_cache(tmp_path / "home" / ".cache" / "s3a-jars")
    s = make_settings(
        tmp_path,
        EB_HOME=str(tmp_path / "home"),
        EB_LAKE_ROOT="s3a://lake/eb",
        EB_S3_ENDPOINT="https://s3.agency",
        AWS_SECRET_ACCESS_KEY="never-in-the-conf",
    )
    conf = spark_conf(s)
    bucket = "spark.hadoop.fs.s3a.bucket.lake."
    assert conf[bucket + "endpoint"] == "https://s3.agency"
    assert conf[bucket + "connection.ssl.enabled"] == "true"
    assert conf[bucket + "path.style.access"] == "true"
    assert conf[bucket + "endpoint.region"] == "us-east-1"
    classpath = ":".join(str(j) for j in sorted(jars.glob("*.jar")))
    assert conf["spark.driver.extraClassPath"] == classpath
    assert conf["spark.executor.extraClassPath"] == classpath
    assert "-Duser.timezone=Asia/Shanghai" in conf["spark.executor.extraJavaOptions"]
    assert not any("never-in-the-conf" in v for v in conf.values())
    assert not any("access.key" in k or "secret" in k for k in conf)
    local = spark_conf(make_settings(tmp_path, EB_HOME=str(tmp_path / "home")))
    assert not any("s3a" in k for k in local) and "spark.driver.extraClassPath" not in local


def test_spark_java_options_follow_the_platforms_own(tmp_path):
    """EB_SPARK_JAVA_OPTIONS reaches the driver and the executors after the collector and the
    zone, so a later -XX flag of the operator's wins; unset, nothing is added."""
    from enforcement_brain.spark.session import spark_conf

    plain = spark_conf(make_settings(tmp_path))
    conf = spark_conf(make_settings(tmp_path, EB_SPARK_JAVA_OPTIONS=" -XX:+UseSerialGC "))
    for side in ("driver", "executor"):
        key = f"spark.{side}.extraJavaOptions"
        assert conf[key] == plain[key] + " -XX:+UseSerialGC"
        assert conf[key].split().index("-XX:+UseParallelGC") == 0
    assert (
        plain["spark.executor.extraJavaOptions"]
        == "-XX:+UseParallelGC -Duser.timezone=Asia/Shanghai"
    )


def test_an_s3a_lake_without_the_s3a_jars_names_the_fix(tmp_path):
    from enforcement_brain.errors import SetupError
    from enforcement_brain.spark.session import spark_conf

    s = make_settings(tmp_path, EB_LAKE_ROOT="s3a://lake/eb", EB_HOME=str(tmp_path / "none"))
    with pytest.raises(SetupError, match=r"not in .*/none/.cache/s3a-jars: run `eb cluster start`"):
        spark_conf(s)


def test_the_s3a_jars_are_hadoop_aws_and_sdk_modules_not_the_bundle():
    from enforcement_brain.spark.jars import hadoop_version, s3a_ivy_module

    module = s3a_ivy_module()
    assert f'name="hadoop-aws" rev="{hadoop_version()}"' in module
    assert '<exclude org="software.amazon.awssdk" module="bundle"/>' in module
    for sdk in ("s3", "s3-transfer-manager", "sts"):
        assert f'name="{sdk}" rev="2.35.4"' in module


def test_cluster_settings_resolve_ports_and_folders(tmp_path):
    s = load_settings({"EB_VAR_DIR": str(tmp_path), "EB_HOME": str(tmp_path / "home")})
    assert s.cluster_dir == tmp_path / "cluster"
    assert (s.cluster_s3_port, s.cluster_master_port) == (7070, 7077)
    assert s.versitygw_binary == tmp_path / "home" / ".cache" / "bin" / "versitygw"
    assert s.s3a_jar_dir == tmp_path / "home" / ".cache" / "s3a-jars"
    with pytest.raises(ConfigError, match="EB_CLUSTER_S3_PORT=70000 is not a TCP port"):
        load_settings({"EB_CLUSTER_S3_PORT": "70000"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EB_LAKE_ROOT": "hdfs://x/y"}, "use a local folder or an s3a:// URI"),
        ({"EB_S3_ENDPOINT": "minio:9000"}, "EB_S3_ENDPOINT='minio:9000': use http"),
        ({"EB_SCALE": "lots"}, "EB_SCALE='lots' is not a number"),
        ({"EB_SCALE": "99"}, "out of range"),
        ({"EB_SPARK_CONNECT_PORT": "x"}, "is not an integer"),
        ({"EB_AIRFLOW_PORT": "eighty"}, "EB_AIRFLOW_PORT='eighty' is not an integer"),
        ({"EB_AIRFLOW_PARALLELISM": "0"}, "must be between 1 and 32"),
        ({"EB_CRON": "sometimes"}, "EB_CRON='sometimes' must be on or off"),
    ],
)
def test_bad_settings_give_one_line_errors(env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_credentials_are_masked_in_public_view():
    s = load_settings({"EB_GOVERNANCE_DB_URL": "postgresql://eb:secret@db/gov"})
    assert s.as_public_dict()["governance_db_url"] == "postgresql://***@db/gov"


@pytest.mark.parametrize("text", ["2026-13-01", "yesterday", "", "2026/11/29"])
def test_malformed_date_is_a_config_error(text):
    with pytest.raises(ConfigError, match="use YYYY-MM-DD"):
        parse_date(text)


def test_eb_sources_limits_the_main_job(tmp_path) -> None:
    """EB_SOURCES picks sources; datasets and interfaces follow; an unknown id is refused."""
    import pytest

    from enforcement_brain.declarations import load_catalog
    from enforcement_brain.errors import EbError
    from enforcement_brain.orchestration.daily import dag_order

    s = load_settings({"EB_VAR_DIR": str(tmp_path), "EB_SOURCES": "wim_weighings, gps_alarms"})
    assert s.run_sources == ("wim_weighings", "gps_alarms")
    catalog = load_catalog(s.standards_dir)
    order = dag_order(catalog, s.run_sources)
    assert [d for d in order if d.startswith("ingest_")] == [
        f"ingest_{x}" for x in catalog.sources if x in ("wim_weighings", "gps_alarms")
    ]
    assert "validate_silver" in order  # it runs on any source's load
    full = dag_order(catalog)
    assert "validate_silver" in full
    assert len(full) == 1 + len(catalog.sources) + len(catalog.datasets) + len(
        catalog.interface_families()
    )
    with pytest.raises(EbError, match="unknown source"):
        dag_order(catalog, ("no_such_source",))


def test_sql_endpoint_and_maintenance_knobs(tmp_path) -> None:
    s = load_settings({"EB_VAR_DIR": str(tmp_path)})
    assert (s.sql_port, s.sql_host, s.sql_refresh_seconds) == (10000, "127.0.0.1", 10.0)
    assert s.sql_driver_memory == "2g"
    assert (s.maintenance_min_files, s.maintenance_small_file_mb) == (16, 32.0)
    assert s.maintenance_default_retention_days == 30
    assert s.db_lookback_days == 7
    s = load_settings({"EB_SQL_PORT": "10001", "EB_MAINTENANCE_DEFAULT_RETENTION_DAYS": "90"})
    assert (s.sql_port, s.maintenance_default_retention_days) == (10001, 90)


def test_batch_commands_run_at_the_batch_niceness(tmp_path) -> None:
    command = ["java", "-version"]
    niced = load_settings({"EB_VAR_DIR": str(tmp_path)}).batch_command(command)
    assert niced == ["nice", "-n", "10", "java", "-version"]
    assert load_settings({"EB_BATCH_NICE": "0"}).batch_command(command) == command


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EB_SQL_PORT": "thrift"}, "EB_SQL_PORT='thrift' is not an integer"),
        ({"EB_SQL_PORT": "70000"}, "is not a TCP port"),
        ({"EB_SQL_REFRESH_SECONDS": "0"}, "out of range"),
        ({"EB_MAINTENANCE_MIN_FILES": "1"}, "must be at least 2"),
        ({"EB_MAINTENANCE_DEFAULT_RETENTION_DAYS": "3"}, "below Delta's 7-day safety default"),
        ({"EB_DB_LOOKBACK_DAYS": "91"}, "EB_DB_LOOKBACK_DAYS=91 must be between 0 and 90"),
        ({"EB_DB_LOOKBACK_DAYS": "a week"}, "EB_DB_LOOKBACK_DAYS='a week' is not an integer"),
        ({"EB_BATCH_NICE": "20"}, "EB_BATCH_NICE=20 must be between 0 and 19"),
    ],
)
def test_bad_sql_and_maintenance_knobs(env, message) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env)
