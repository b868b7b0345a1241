"""The single-pass rule check and the GX suite count the same failures on the same batch.

The comparison is the benchmark's own (``benchmarks/bench_validation.py``), run once on the
hand-written WIM delivery, whose broken rows are known.
"""

from __future__ import annotations

import importlib.util
import sys

from wim_support import DAY, rows, wim_site, write_delivery

from enforcement_brain.declarations import load_catalog
from enforcement_brain.pipeline import bronze
from enforcement_brain.settings import REPO_ROOT


def _benchmark():
    spec = importlib.util.spec_from_file_location(
        "bench_validation", REPO_ROOT / "benchmarks" / "bench_validation.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module


bench = _benchmark()


def test_single_pass_and_gx_count_the_same_failures(settings, spark):
    catalog = load_catalog(settings.standards_dir)
    source = catalog.sources["wim_weighings"]
    site = wim_site(settings)
    axles = f"W10,{site},苏C10101,2,H11,12,15000,50,1,2026-11-29 13:00:00,"  # 12 axles: over 8
    write_delivery(settings, [*rows(settings, site), axles])
    delivered, _, _ = bronze.read_delivery(spark, settings, source, DAY)

    n, times, compared = bench.measure(
        catalog, source, bronze.with_batch(delivered, source, DAY, "t"), runs=1
    )

    assert n == 11
    assert [len(t) for t in times.values()] == [1, 1]
    assert compared.counts == {
        "R_PLATE_FORMAT": (1, 1),  # W4
        "R_PLATE_COLOR_CODE": (1, 1),  # W8 (warn: the row loads, flagged)
        "R_AXLE_RANGE": (1, 1),  # W10
        "R_GROSS_WEIGHT_RANGE": (1, 1),  # W5
        "R_SITE_KNOWN": (1, 1),  # W6
    }
    assert compared.disagreements() == {}
    # Only in the single pass: the rules checked before silver (W7 is cut short). Only in GX:
    # the business key's uniqueness (W2 delivered twice), and not-null on the 3 columns W7 lacks.
    assert compared.single_only == {
        "R_KEY_PRESENT": 0,
        "R_REQUIRED_PRESENT": 1,
        "R_RECORD_PARSES": 1,
        "R_NO_UNEXPECTED_FIELDS": 0,
        "R_EVENT_TIME_PARSES": 0,
    }
    assert compared.gx_only == {
        "R_KEY_PRESENT as not_be_null": 0,
        "R_REQUIRED_PRESENT as not_be_null": 3,
        "be_unique(record_id)": 2,
    }
