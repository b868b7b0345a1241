"""``airflow scheduler`` with the task libraries already imported.

On Linux, LocalExecutor workers are forked from the scheduler and every task process is forked
from a worker, without exec: whatever the scheduler has imported, each task starts with. A load
task otherwise spends ~3.5 s of CPU importing the Spark Connect client, pandas and pyarrow
before it does anything, 31 times a day, on the two cores the Spark server is using to load the
other sources. Importing them here once (like a pre-forking web server's preload) gives those
seconds back. Only modules are imported: no session, channel or thread is created before the
fork, so nothing fork-unsafe is inherited.

    python -m enforcement_brain.orchestration.scheduler [airflow scheduler options]
"""

from __future__ import annotations

import importlib
import sys

#: What every task imports first (see ``orchestration.tasks.run_job`` and ``jobs/``).
PRELOAD = (
    "pandas",
    "pyarrow",
    "pyspark.sql.connect.session",
    "pyspark.sql.functions",
    "enforcement_brain.orchestration.tasks",
    "enforcement_brain.pipeline.silver",
)


def main() -> int:
    for module in PRELOAD:
        importlib.import_module(module)
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", "scheduler", *sys.argv[1:]]
    return airflow_main() or 0


if __name__ == "__main__":
    sys.exit(main())
