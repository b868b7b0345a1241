"""What every job needs, resolved once per process: settings, the catalog, a Spark session."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from enforcement_brain.declarations import Catalog, load_catalog
from enforcement_brain.errors import ConfigError, EbError
from enforcement_brain.settings import Settings, load_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class JobContext:
    settings: Settings
    catalog: Catalog

    @property
    def spark(self) -> SparkSession:
        from enforcement_brain.spark.session import get_spark

        return get_spark(self.settings)


def job_context(settings: Settings | None = None) -> JobContext:
    settings = settings or load_settings()
    return JobContext(settings, load_catalog(settings.standards_dir))


def parse_date(text: str) -> dt.date:
    """``YYYY-MM-DD`` or a one-line error saying what is expected."""
    try:
        return dt.date.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise ConfigError(f"DATE={text!r} is not a date: use YYYY-MM-DD, e.g. 2026-11-29") from None


def job_main(
    description: str, subject: str, run: Callable[[JobContext, str, dt.date, str], Any]
) -> None:
    """Shared ``main()`` of the jobs: parse arguments, run, print JSON, one-line errors."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(f"--{subject}", required=True)
    parser.add_argument("--date", required=True, help="business date, YYYY-MM-DD")
    parser.add_argument("--run-id", default="manual")
    args = parser.parse_args()
    try:
        result = run(job_context(), getattr(args, subject), parse_date(args.date), args.run_id)
    except EbError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    print(json.dumps(result, default=str, ensure_ascii=False, indent=2))
