"""The Delta jars: resolved once from Maven Central into a cache the project controls.

Why not ``configure_spark_with_delta_pip``: it makes every session ask Ivy (and so the network)
at start-up. We resolve once during set-up with the Ivy jar that ships inside pyspark, keep only
the jars Spark does not already provide, and runs use ``spark.jars`` with that list: no network,
no Ivy, and a one-line error when the cache is missing.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from enforcement_brain.errors import SetupError

SCALA_BINARY = "2.13"
_VERSION_SUFFIX = re.compile(r"-\d[\w.]*(-\d+)?$")


def delta_version() -> str:
    """The delta-spark pip version; the jar must match it exactly."""
    return importlib.metadata.version("delta-spark")


def spark_minor() -> str:
    import pyspark

    major, minor, *_ = pyspark.__version__.split(".")
    return f"{major}.{minor}"


def delta_coordinate() -> tuple[str, str, str]:
    """Maven coordinate of the Delta jar for the installed pyspark and delta-spark."""
    return ("io.delta", f"delta-spark_{spark_minor()}_{SCALA_BINARY}", delta_version())


def pyspark_jars_dir() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


def _artifact(jar_name: str) -> str:
    """``org.foo_bar-baz-1.2.3.jar`` → ``bar-baz``: the artifact name without group or version."""
    stem = jar_name.removesuffix(".jar").split("_", 1)[-1]
    return _VERSION_SUFFIX.sub("", stem)


def cached_jars(jar_dir: Path) -> list[Path]:
    """The jars of the cache, or :class:`SetupError` naming the command that fetches them."""
    _, artifact, version = delta_coordinate()
    return _cached(
        jar_dir,
        f"io.delta_{artifact}-{version}.jar",
        f"Delta jar {artifact}-{version} is not in the jar cache {jar_dir}: "
        "run `make setup` (it fetches the jars from Maven Central once)",
    )


def _cached(jar_dir: Path, marker: str, missing: str) -> list[Path]:
    """The jars of a cache folder once ``marker`` (its main jar) is there; else ``missing``."""
    jars = sorted(jar_dir.glob("*.jar")) if jar_dir.is_dir() else []
    if not any(j.name == marker for j in jars):
        raise SetupError(missing)
    return jars


def resolve_jars(jar_dir: Path) -> list[Path]:
    """Fetch the Delta jar and its dependencies from Maven Central into ``jar_dir``.

    Jars whose artifact pyspark already ships are dropped: Spark's own classes load first
    anyway, so they would only be dead weight that can mislead someone reading the classpath.
    """
    group, artifact, version = delta_coordinate()
    _ivy_retrieve(
        ["-dependency", group, artifact, version, "-confs", "default"],
        jar_dir,
        f"{group}:{artifact}:{version}",
        keep=lambda name: name.startswith("io.delta_"),
    )
    return cached_jars(jar_dir)


def _ivy_retrieve(
    request: list[str], jar_dir: Path, what: str, *, keep: Callable[[str], bool]
) -> None:
    """Resolve ``request`` (Ivy's command-line arguments) from Maven Central and replace the
    jars of ``jar_dir`` with the result, less the artifacts pyspark already ships (unless
    ``keep`` says otherwise). Ivy's cache is ``<jar_dir>/../ivy``, shared by every jar cache."""
    ivy_jars = sorted(pyspark_jars_dir().glob("ivy-*.jar"))
    if not ivy_jars:
        raise SetupError("the Ivy jar is missing from pyspark: reinstall with `make setup`")
    java = shutil.which("java")
    if java is None:
        raise SetupError("java is not on PATH: install OpenJDK 17 (apt-get install openjdk-17-jre)")
    provided = {_artifact(p.name) for p in pyspark_jars_dir().glob("*.jar")}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "jars"
        cmd = [
            java,
            "-jar",
            str(ivy_jars[0]),
            *request,
            "-cache",
            str(jar_dir.parent / "ivy"),
            "-retrieve",
            f"{out}/[organisation]_[artifact]-[revision](-[classifier]).[ext]",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=tmp)
        if proc.returncode != 0 or not out.is_dir():
            tail = " | ".join(proc.stdout.strip().splitlines()[-3:])
            raise SetupError(f"could not fetch {what} from Maven Central ({tail})")
        jar_dir.mkdir(parents=True, exist_ok=True)
        for old in jar_dir.glob("*.jar"):
            old.unlink()
        for jar in sorted(out.glob("*.jar")):
            if _artifact(jar.name) not in provided or keep(jar.name):
                shutil.copy2(jar, jar_dir / jar.name)


# -- S3A: the lake on object storage -----------------------------------------------------------

#: The AWS SDK v2 release hadoop-aws 3.5.0 is built against (its pom's ``aws-java-sdk-v2``).
AWS_SDK_VERSION = "2.35.4"

#: The SDK modules S3A loads, instead of the SDK's 686 MB ``bundle`` that hadoop-aws declares:
#: the S3 client, the transfer manager it uploads and copies with, and STS for assumed roles.
#: Their own dependencies (core, auth, the Apache and Netty HTTP clients...) come transitively.
AWS_SDK_MODULES = ("s3", "s3-transfer-manager", "sts")


def hadoop_version() -> str:
    """The Hadoop client version pyspark ships (``hadoop-client-api-<v>.jar``); hadoop-aws
    must match it exactly."""
    jars = sorted(pyspark_jars_dir().glob("hadoop-client-api-*.jar"))
    if not jars:
        raise SetupError("pyspark ships no hadoop-client-api jar: reinstall with `make setup`")
    return jars[0].name.removeprefix("hadoop-client-api-").removesuffix(".jar")


def s3a_ivy_module() -> str:
    """The Ivy module S3A's jars are resolved from: hadoop-aws (with its own
    ``analyticsaccelerator-s3`` and ``wildfly-openssl``) less the SDK bundle, plus
    :data:`AWS_SDK_MODULES`."""
    sdk = "\n".join(
        f'    <dependency org="software.amazon.awssdk" name="{module}" '
        f'rev="{AWS_SDK_VERSION}" conf="default->default"/>'
        for module in AWS_SDK_MODULES
    )
    return f"""<ivy-module version="2.0">
  <info organisation="enforcement-brain" module="s3a"/>
  <dependencies>
    <dependency org="org.apache.hadoop" name="hadoop-aws" rev="{hadoop_version()}"
                conf="default->default">
      <exclude org="software.amazon.awssdk" module="bundle"/>
    </dependency>
{sdk}
  </dependencies>
</ivy-module>
"""


def cached_s3a_jars(jar_dir: Path) -> list[Path]:
    """The S3A jars of their cache, or :class:`SetupError` naming what fetches them."""
    return _cached(
        jar_dir,
        f"org.apache.hadoop_hadoop-aws-{hadoop_version()}.jar",
        f"the S3A jars (hadoop-aws {hadoop_version()}) are not in {jar_dir}: run "
        "`eb cluster start`, which fetches them there once",
    )


def resolve_s3a_jars(jar_dir: Path) -> list[Path]:
    """Fetch hadoop-aws and the AWS SDK modules into ``jar_dir`` (once: a cache hit returns
    at once). Kept apart from the Delta jars: only a lake on object storage needs them."""
    try:
        return cached_s3a_jars(jar_dir)
    except SetupError:
        pass
    with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as module:
        module.write(s3a_ivy_module())
    try:
        _ivy_retrieve(
            ["-ivy", module.name, "-confs", "default"],
            jar_dir,
            f"org.apache.hadoop:hadoop-aws:{hadoop_version()}",
            keep=lambda name: False,
        )
    finally:
        Path(module.name).unlink(missing_ok=True)
    return cached_s3a_jars(jar_dir)
