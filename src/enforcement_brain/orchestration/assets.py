"""Airflow Assets for lake tables, named the way analysts query them (``silver.x``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.sdk import Asset


def table_asset(layer: str, table: str) -> Asset:
    """One Asset per Delta table. The URI is logical (not a path): it must not change between
    environments, or Airflow would see a new asset on every deployment."""
    from airflow.sdk import Asset

    return Asset(name=f"{layer}.{table}", uri=f"delta://enforcement-brain/{layer}/{table}")
