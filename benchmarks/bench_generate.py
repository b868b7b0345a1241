"""Benchmark: generate one full-scale day (scale 1.0, ~1 M rows, 28 sources).

Target: under 2 minutes on 2 cores. Reported as the median of ``--runs`` runs, with a
baseline measured in the same run so a noisy shared machine shows up in both: the baseline
writes the same number of bytes to the same disk (the floor any generator pays for I/O).

    .venv/bin/python benchmarks/bench_generate.py --runs 3 [--scale 1.0]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import time
from pathlib import Path

from enforcement_brain.generate import generate_day
from enforcement_brain.settings import load_settings


def _bytes_delivered(var: Path) -> int:
    return sum(p.stat().st_size for p in var.rglob("*") if p.is_file())


def _baseline(var: Path, size: int) -> float:
    """Seconds to write ``size`` bytes in 1 MiB chunks and fsync them."""
    chunk = b"x" * (1 << 20)
    started = time.perf_counter()
    with open(var / "baseline.bin", "wb") as fh:
        for _ in range(max(1, size >> 20)):
            fh.write(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    seconds = time.perf_counter() - started
    (var / "baseline.bin").unlink()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    day = dt.date(2026, 11, 28)
    gen, base, rows = [], [], 0
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="eb-bench-") as tmp:
            settings = load_settings({"EB_VAR_DIR": tmp})
            started = time.perf_counter()
            result = generate_day(settings, day, scale=args.scale)
            gen.append(time.perf_counter() - started)
            rows = sum(result.rows_by_source.values())
            base.append(_baseline(Path(tmp), _bytes_delivered(Path(tmp))))
            print(f"run {i + 1}: {gen[-1]:.1f} s for {rows:,} rows; baseline {base[-1]:.2f} s")
    g, b = statistics.median(gen), statistics.median(base)
    print(
        f"generate one day at scale {args.scale}: median {g:.1f} s over {args.runs} runs "
        f"({rows:,} rows, {len(result.rows_by_source)} sources); "
        f"baseline (same bytes written) {b:.2f} s; ratio {g / b:.1f}x; target < 120 s"
    )


if __name__ == "__main__":
    main()
