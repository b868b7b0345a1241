"""API fuzz of the sharing service, the long run: ``--requests`` generated requests (10,000 by
default) against one service in this process, on a small lake with a share table for every
declared interface (``tests/sharing_lake.py``), with every credential kind.

Prints the requests sent, their statuses by class, the requests per operation and every
failure (a 5xx, or a 4xx that is not the protocol's JSON error body); exits 1 on any failure.
The same check runs on a few hundred requests in the default test run
(``tests/integration/test_sharing_fuzz.py``); the figures are in docs/reliability.md.

    .venv/bin/python benchmarks/fuzz_sharing.py --requests 10000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import logging

    from conftest import free_port
    from sharing_fuzz import fuzz
    from sharing_lake import issue_tokens, standards_without_quotas, write_share_tables
    from sharing_support import ServiceThread, audit_rows, settings_for

    from enforcement_brain.declarations import load_catalog
    from enforcement_brain.settings import REPO_ROOT
    from enforcement_brain.sharing.db import connect

    logging.getLogger("enforcement_brain.sharing").setLevel(logging.CRITICAL)
    interfaces = sorted(load_catalog(REPO_ROOT / "data_standards").interfaces)
    with tempfile.TemporaryDirectory(prefix="fuzz-sharing-") as tmp_name:
        tmp = Path(tmp_name)
        standards_without_quotas(tmp)
        settings = settings_for(tmp, free_port())
        catalog = load_catalog(settings.standards_dir)
        write_share_tables(settings, catalog, interfaces)
        engine = connect(settings.governance_db_url, create=True)
        tokens = {
            i: issue_tokens(engine, i, catalog.interfaces[i].token_lifetime_days)
            for i in interfaces
        }
        targets = {i: catalog.interfaces[i].datasets[0].dataset for i in interfaces}
        started = time.monotonic()
        with ServiceThread(settings) as service:
            origin = service.base.removesuffix("/delta-sharing")
            report = fuzz(origin, tokens, targets, args.requests, seed=args.seed)
        seconds = time.monotonic() - started
        rows = audit_rows(settings)
        engine.dispose()
    print(report.summary())
    print(f"seconds: {seconds:.0f}; audit rows: {len(rows)}; audited 5xx: "
          f"{sum(r['status'] >= 500 for r in rows)}")  # fmt: skip
    for operation, n in sorted(report.by_operation.items()):
        print(f"  {n:6d}  {operation}")
    for failure in report.failures:
        print("FAILURE", failure)
    sys.exit(1 if report.failures or report.requests < args.requests else 0)


if __name__ == "__main__":
    main()
