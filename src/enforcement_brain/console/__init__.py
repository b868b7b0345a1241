"""The operators' console: a read-only web page over the lake's own history (docs/console.md).

Data engineers and data stewards see a day's loads, the quality trends, the quarantine, the
publishes, the partners' use and the lineage without a terminal or a Spark session: the pages
read the ``ops`` Delta tables with delta-rs (no JVM), the sharing service's audit database and
the declarations, keep no copy of their own and write nothing. Three modules: ``queries`` reads
(plain dicts, also served as JSON under ``/api/``), ``render`` draws HTML and inline SVG, and
``routes`` is the FastAPI app and the process that serves it (``eb console``).
"""
