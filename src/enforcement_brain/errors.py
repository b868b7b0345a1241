"""Errors the platform raises on purpose.

Each carries a one-line message that says what is wrong and what to do; the CLI prints that line
and exits non-zero instead of a stack trace. Anything else escaping is a bug.
"""

from __future__ import annotations


class EbError(Exception):
    """Base class: an expected failure with a message meant for a person."""

    exit_code = 2


class CodedError(EbError):
    """An error with one stable code (``CODE``) that alerting and runbooks match on: the
    message starts with ``[CODE]`` and ``code`` holds it."""

    CODE = ""

    def __init__(self, message: str) -> None:
        super().__init__(f"[{self.CODE}] {message}")
        self.code = self.CODE


class ConfigError(EbError):
    """A setting is missing or malformed (bad ``DATE``, unwritable lake root, no Java...)."""


class SetupError(EbError):
    """Something set-up should have put in place is missing (jar cache, venv, Airflow DB)."""


class DeclarationError(ConfigError):
    """A declaration in ``data_standards/`` is invalid; the message names the file and entry.

    A declaration is configuration, so callers that handle a bad configuration handle it too.
    """


class DeliveryError(EbError):
    """A delivery in landing cannot be read; it stays in landing and the message names it."""


class LandingChecksumError(CodedError, DeliveryError):
    """A landed file no longer has the checksum its manifest recorded: it changed after landing.

    The message starts with ``[EB-LANDING-CHECKSUM]`` and names the source, the delivery, the file
    and both sha256 values. Nothing is loaded: bronze must never read bytes nobody delivered.
    """

    CODE = "EB-LANDING-CHECKSUM"


class SchemaDriftError(DeliveryError):
    """A delivery's shape no longer matches its declaration; nothing of it reaches silver.

    The message starts with a stable code that alerting and runbooks can match on:
    ``[EB-DRIFT-MISSING]`` a declared column is gone, ``[EB-DRIFT-RETYPED]`` a column's values
    no longer parse as its declared type at all (the system changed the column's type). A new,
    undeclared column is not an error: its values are kept in ``_rescued_data``.
    """

    MISSING = "EB-DRIFT-MISSING"
    RETYPED = "EB-DRIFT-RETYPED"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code


class DiskFullError(CodedError):
    """A write failed because the lake's file system is full (``ENOSPC``).

    The message starts with ``[EB-LAKE-007]`` and names the table and the free space left.
    Delta commits by writing the commit file last, so the table stays at its previous version;
    the files the failed write left are orphans VACUUM removes. Rerunning the day after freeing
    space is safe: reruns are idempotent.
    """

    CODE = "EB-LAKE-007"


def is_disk_full(exc: BaseException) -> bool:
    """Whether an exception, or one it was raised from, is a full disk (``ENOSPC``).

    Spark and delta-rs report it as text inside their own error types (a Java
    ``IOException`` through Py4J or Spark Connect, a Rust ``os error 28``), so the text is
    what can be matched.
    """
    import errno

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return True
        if "No space left on device" in str(seen) or "os error 28" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class ClockError(ConfigError):
    """The Spark session's, the JVM's and Python's time zones disagree.

    Raised before anything is written, with a stable code: ``[EB-CLOCK-001]`` the session zone
    is not the platform's, ``[EB-CLOCK-002]`` the JVM's differs from the session's,
    ``[EB-CLOCK-003]`` Python's local zone is neither the session's nor UTC.
    """

    SESSION = "EB-CLOCK-001"
    JVM = "EB-CLOCK-002"
    PYTHON = "EB-CLOCK-003"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code


class RunLockedError(CodedError):
    """Another job holds the lake lock: ``eb run``, ``eb backfill``, ``eb replay`` and the
    doctor's repairs write the same tables and landing days, so one runs at a time.

    The message starts with ``[EB-RUN-LOCKED]`` and names the holder (its command, pid, host and
    start time), the lock file, how to wait for it and how to break a stale lock.
    """

    CODE = "EB-RUN-LOCKED"


class StoreUnavailableError(CodedError):
    """An object store kept failing (500, 503, ``SlowDown``, reset connections, timeouts)
    past the client's bounded retries.

    The message starts with ``[EB-STORE-UNAVAILABLE]`` and names what was being done (a
    source's delivery, a table), the store's last answer and how many attempts were made.
    Nothing partial is left visible: a landing removes what it had copied, a Delta write that
    did not commit leaves the table at its previous version. Rerunning once the store answers
    again is safe: reruns are idempotent.
    """

    CODE = "EB-STORE-UNAVAILABLE"
