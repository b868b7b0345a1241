"""The platform's Spark jobs.

Each module is one job with ``run(...)`` (what an Airflow task calls) and ``main()`` (what
``spark-submit jobs/<name>.py`` or ``python -m jobs.<name>`` calls on a cluster). Jobs compose
library functions from ``enforcement_brain``; they hold no transform logic of their own.
"""
