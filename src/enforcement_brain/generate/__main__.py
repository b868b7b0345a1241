"""``python -m enforcement_brain.generate --date 2026-11-29 [--scale 0.01] [--seed N]
[--defect-rate R]``: generate one day with the resolved settings and print a summary."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from enforcement_brain.errors import EbError
from enforcement_brain.generate import generate_day
from enforcement_brain.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m enforcement_brain.generate", description=__doc__
    )
    parser.add_argument("--date", required=True, type=dt.date.fromisoformat, help="YYYY-MM-DD")
    parser.add_argument("--scale", type=float, help="default: EB_SCALE")
    parser.add_argument("--seed", type=int, help="default: EB_SEED")
    parser.add_argument("--defect-rate", type=float, help="default: EB_DEFECT_RATE")
    args = parser.parse_args(argv)
    try:
        result = generate_day(
            load_settings(),
            args.date,
            scale=args.scale,
            seed=args.seed,
            defect_rate=args.defect_rate,
        )
    except EbError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"generated {result.day} in {result.seconds:.1f} s")
    for source, rows in result.rows_by_source.items():
        defects = sum(result.defects_by_source[source].values())
        late = result.late_by_source.get(source, 0)
        print(f"  {source:<18} {rows:>9,} rows  {defects:>6,} defective  {late:>5,} late")
    print(f"  files: {len(result.files)}  ground truth: {result.ground_truth_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
