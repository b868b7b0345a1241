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
    jars = sorted(jar_dir.glob("*.jar")) if jar_dir.is_dir() else []
    if not any(j.name == f"io.delta_{artifact}-{version}.jar" for j in jars):
        raise SetupError(
            f"Delta jar {artifact}-{version} is not in the jar cache {jar_dir}: "
            "run `make setup` (it fetches the jars from Maven Central once)"
        )
    return jars


def resolve_jars(jar_dir: Path) -> list[Path]:
    """Fetch the Delta jar and its dependencies from Maven Central into ``jar_dir``.

    Jars whose artifact pyspark already ships are dropped: Spark's own classes load first
    anyway, so they would only be dead weight that can mislead someone reading the classpath.
    """
    group, artifact, version = delta_coordinate()
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
            "-dependency",
            group,
            artifact,
            version,
            "-confs",
            "default",
            "-cache",
            str(jar_dir.parent / "ivy"),
            "-retrieve",
            f"{out}/[organisation]_[artifact]-[revision](-[classifier]).[ext]",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not out.is_dir():
            tail = " | ".join(proc.stdout.strip().splitlines()[-3:])
            raise SetupError(
                f"could not fetch {group}:{artifact}:{version} from Maven Central ({tail})"
            )
        jar_dir.mkdir(parents=True, exist_ok=True)
        for old in jar_dir.glob("*.jar"):
            old.unlink()
        for jar in sorted(out.glob("*.jar")):
            if _artifact(jar.name) not in provided or jar.name.startswith("io.delta_"):
                shutil.copy2(jar, jar_dir / jar.name)
    return cached_jars(jar_dir)
