"""Masking functions named by Standard 2's classification levels.

Masks are Spark built-in expressions (no Python UDFs), applied when the share layer is written,
so a partner never receives a file that holds the clear value. They live with the standards, not
with the share layer that applies them, because the declarations name them and are checked
against :data:`MASKS` when they load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column

#: Mask names a declaration may use. Kept as plain names so loading declarations (at DAG parse
#: time) does not import pyspark.
MASKS = frozenset({"plate", "id_number", "phone", "person_name", "coordinate_1km", "redact"})


def mask_column(mask: str, col: Column) -> Column:
    """Apply the named mask to ``col``; nulls stay null and ``-`` (no plate read) stays ``-``."""
    from pyspark.sql import functions as F

    if mask == "plate":
        # 苏C12345 -> 苏C****5: region stays useful for routing, the vehicle is not identifiable.
        n = F.length(col)
        masked = F.concat(F.substring(col, 1, 2), F.expr("repeat('*', 4)"), F.substring(col, -1, 1))
        return F.when(col.isNull() | (n < 4), col).otherwise(masked)
    if mask == "id_number":
        # GB 11643: keep the issuing area (6) and the check character, hide birth date and serial.
        return F.when(col.isNull(), col).otherwise(
            F.concat(F.substring(col, 1, 6), F.lit("*" * 11), F.substring(col, -1, 1))
        )
    if mask == "phone":
        return F.when(col.isNull(), col).otherwise(
            F.concat(F.substring(col, 1, 3), F.lit("****"), F.substring(col, -4, 4))
        )
    if mask == "person_name":
        return F.when(col.isNull(), col).otherwise(F.concat(F.substring(col, 1, 1), F.lit("**")))
    if mask == "coordinate_1km":
        return F.round(col, 2)  # 0.01° ≈ 1 km in Xuzhou
    if mask == "redact":
        return F.lit(None).cast("string")
    raise ValueError(f"unknown mask {mask!r}; masks are {sorted(MASKS)}")
