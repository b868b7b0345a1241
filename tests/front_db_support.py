"""Helpers for the front-database tests: the case system's ``enf_case`` table, row by row."""

from __future__ import annotations

import sqlalchemy as sa

from enforcement_brain.settings import Settings


def _table(columns: list[str]) -> sa.Table:
    return sa.Table("enf_case", sa.MetaData(), *[sa.Column(c, sa.Text) for c in columns])


def front_db(settings: Settings, columns: list[str], rows: list[dict]) -> None:
    """Create ``enf_case`` (text columns, like the generator's) in the front DB, with ``rows``."""
    path = settings.var_dir / "sources" / "case_system.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(f"sqlite:///{path}")
    table = _table(columns)
    with engine.begin() as conn:
        table.create(conn)
        if rows:
            conn.execute(table.insert(), rows)
    engine.dispose()


def commit(settings: Settings, columns: list[str], insert=(), update=None) -> None:
    """One transaction of the case system: rows inserted, and ``{case_id: {column: value}}``
    updated in place (an update moves a case to the window of its new ``updated_at``)."""
    engine = sa.create_engine(settings.source_db_url)
    table = _table(columns)
    with engine.begin() as conn:
        if insert:
            conn.execute(table.insert(), list(insert))
        for case_id, values in (update or {}).items():
            conn.execute(table.update().where(table.c.case_id == case_id).values(**values))
    engine.dispose()


def case_row(case_id: str, updated_at: str, status: str = "FILED", **extra: str) -> dict:
    """A case that passes every rule of ``enforcement_cases`` unless ``status`` breaks it."""
    return {
        "case_id": case_id, "case_no": f"徐交执罚〔2026〕{case_id}号", "plate_no": "苏C12345",
        "party_name": "张三", "party_credit_code": None, "violation_code": "V1",
        "division_code": "320300", "status": status, "fine_yuan": "500",
        "filed_at": "2026-11-27 08:00:00", "closed_at": None, "updated_at": updated_at, **extra,
    }  # fmt: skip
