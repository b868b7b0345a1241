"""The partner-facing sharing service: the Delta Sharing REST protocol over the share layer.

Why our own server and not the reference one: the reference server has one global token, no
per-recipient access, no audit and no quotas. Here every interface (partner) has its own hashed
bearer token, sees only its own share (``share/<interface>__<dataset>``, already projected and
masked when it was written), gets files through short-lived URLs this service signs itself, and
every request — served or refused — is one row of the audit table.

Nothing here is imported by DAG files; FastAPI, uvicorn and deltalake are imported lazily.
"""
