"""OpenLineage for the platform.

The Airflow OpenLineage provider emits every task's START, COMPLETE and FAIL events; a task adds
the lake tables it read and wrote to them through Airflow's hook lineage collector. The platform
emits the events of its own writes (MERGE, replaceWhere, append: where Spark's own integration
does not name the Delta table) with the openlineage-python client, each a child run of the
Airflow task. What a job reads and writes comes from the declarations (:mod:`.declared`), never
from a second list. See docs/lineage.md.
"""
