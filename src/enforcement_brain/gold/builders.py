"""Transforms that build the shared datasets (gold) from silver.

Each builder is a pure function: silver DataFrames in (keyed by source id), one DataFrame out,
with its output schema stated by the final ``select``. A dataset declaration names its builder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from enforcement_brain.declarations import Catalog
from enforcement_brain.standards import checks
from enforcement_brain.standards.code_tables import load_code_table

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

Builder = Callable[[dict[str, "DataFrame"], Catalog], "DataFrame"]


def gross_limit_kg(axles: Column, is_combination: Column) -> Column:
    """Order 2016-62 Art. 3 limits as a Spark expression; mirrors ``checks.gross_limit_kg``."""
    from pyspark.sql import functions as F

    expr = None
    for n in range(2, 7):
        rigid = checks.gross_limit_kg(n, False)
        combo = checks.gross_limit_kg(n, True)
        value = F.when(is_combination, F.lit(combo)).otherwise(F.lit(rigid))
        cond = (axles >= 6) if n == 6 else (axles == n)
        expr = F.when(cond, value) if expr is None else expr.when(cond, value)
    return expr


def fine_yuan(excess: Column) -> Column:
    """Art. 43 fine as a Spark expression; mirrors ``checks.fine_yuan``."""
    from pyspark.sql import functions as F

    per_tonne = F.lit(checks.FINE_PER_STARTED_TONNE_YUAN) * F.ceil(excess / F.lit(1000))
    return (
        F.when(excess <= checks.FINE_FREE_EXCESS_KG, F.lit(0))
        .otherwise(F.least(per_tonne, F.lit(checks.FINE_CAP_YUAN)))
        .cast("int")
    )


def overload_alerts(inputs: dict[str, DataFrame], catalog: Catalog) -> DataFrame:
    """One row per WIM weighing over its legal limit (grain of ``gold.overload_alerts``)."""
    from pyspark.sql import functions as F

    wim = inputs["wim_weighings"]
    spark = wim.sparkSession
    sites = load_code_table(catalog.root, "wim_sites").codes
    site_df = spark.createDataFrame(
        [(s["code"], s.get("road"), str(s.get("division_code"))) for s in sites],
        "site_code string, road string, division_code string",
    )
    is_combination = F.coalesce(F.col("vehicle_type_code").startswith("Q"), F.lit(False))
    limit = gross_limit_kg(F.col("axle_count"), is_combination)
    weighed = wim.select(
        F.col("record_id").alias("alert_id"),
        "site_code",
        "plate_no",
        "plate_color",
        "vehicle_type_code",
        "axle_count",
        is_combination.alias("is_combination"),
        "gross_weight_kg",
        limit.alias("limit_kg"),
        "weigh_time",
        "biz_date",
    )
    excess = F.col("gross_weight_kg") - F.col("limit_kg")
    over = weighed.where(excess > 0)
    return over.join(F.broadcast(site_df), on="site_code", how="left").select(
        "alert_id",
        "site_code",
        "road",
        "division_code",
        "plate_no",
        "plate_color",
        "vehicle_type_code",
        "axle_count",
        "is_combination",
        "gross_weight_kg",
        "limit_kg",
        excess.cast("int").alias("excess_kg"),
        F.round(excess / F.col("limit_kg"), 4).alias("excess_rate"),
        fine_yuan(excess).alias("fine_yuan"),
        # JJG 907-2006: dynamic scales may err by 5 %; inside that band WIM is not evidence.
        (F.col("gross_weight_kg") * 0.95 <= F.col("limit_kg")).alias("needs_static_reweigh"),
        (F.col("gross_weight_kg") >= checks.BAI_DUN_WANG_KG).alias("is_bai_dun_wang"),
        (
            (F.col("gross_weight_kg") >= checks.BAI_DUN_WANG_KG) | (excess >= F.col("limit_kg"))
        ).alias("is_shuang_bai"),
        "weigh_time",
        "biz_date",
    )


BUILDERS: dict[str, Builder] = {"overload_alerts": overload_alerts}
