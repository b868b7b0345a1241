"""Transforms that build the shared datasets (gold) from silver.

Each builder is a pure function: silver DataFrames in (keyed by source id), one DataFrame out,
with its output schema stated by the final ``select``. A dataset declaration names its builder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from enforcement_brain.declarations import Catalog
from enforcement_brain.standards import checks
from enforcement_brain.standards.code_tables import load_code_table

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

#: Xuzhou's plate prefix (province 苏 + issuing office C).
XUZHOU_PLATE_PREFIX = "苏C"

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


def code_table_df(
    catalog: Catalog, spark: SparkSession, table: str, fields: dict[str, str]
) -> DataFrame:
    """A code table as a small DataFrame (``code`` plus the named attributes, typed).

    Builders join code tables instead of copying their values, so a code added to the
    declaration reaches every dataset. List attributes are joined with commas.
    """

    def value(raw: Any, kind: str) -> Any:
        if raw is None:
            return None
        if isinstance(raw, list):
            raw = ",".join(str(x) for x in raw)
        return {"double": float, "int": int, "boolean": bool}.get(kind, str)(raw)

    codes = load_code_table(catalog.root, table).codes
    rows = [tuple(value(c.get(f), k) for f, k in fields.items()) for c in codes]
    return spark.createDataFrame(rows, ", ".join(f"{f} {k}" for f, k in fields.items()))


def is_xuzhou_plate(plate: Column) -> Column:
    """苏C is Xuzhou's plate prefix (GA 36-2018 issuing office)."""
    return plate.startswith(XUZHOU_PLATE_PREFIX)


def is_recognised_plate(plate: Column) -> Column:
    """ANPR and WIM write ``-`` for an unread plate: a legitimate value, but names no vehicle."""
    from pyspark.sql import functions as F

    return plate.isNotNull() & (F.trim(plate) != F.lit("-"))


def is_shuang_bai(gross: Column, limit: Column) -> Column:
    """双百 as Standard 1 defines it: 百吨王 (gross ≥ 100 t) or excess rate ≥ 100 %."""
    return (gross >= checks.BAI_DUN_WANG_KG) | ((gross - limit) >= limit)


def valid_on(day: Column, valid_from: Column, valid_until: Column) -> Column:
    """A permit, certificate or list entry is in force on ``day`` (open ends allowed)."""
    return (valid_from.isNull() | (valid_from <= day)) & (
        valid_until.isNull() | (valid_until >= day)
    )


def ratio(numerator: Column, denominator: Column, digits: int = 4) -> Column:
    """A rounded ratio; null (not a division error, not 0) when the denominator is 0 or null."""
    from pyspark.sql import functions as F

    return F.when(denominator > 0, F.round(numerator / denominator, digits))


def wim_limits(wim: DataFrame) -> DataFrame:
    """WIM weighings with their legal limit (Order 2016-62 Art. 3) and combination flag."""
    from pyspark.sql import functions as F

    is_combination = F.coalesce(F.col("vehicle_type_code").startswith("Q"), F.lit(False))
    return wim.withColumn("is_combination", is_combination).withColumn(
        "limit_kg", gross_limit_kg(F.col("axle_count"), F.col("is_combination"))
    )


def overload_alerts(inputs: dict[str, DataFrame], catalog: Catalog) -> DataFrame:
    """One row per WIM weighing over its legal limit (grain of ``gold.overload_alerts``)."""
    from pyspark.sql import functions as F

    wim = inputs["wim_weighings"]
    site_df = code_table_df(
        catalog, wim.sparkSession, "wim_sites",
        {"code": "string", "road": "string", "division_code": "string"},
    ).withColumnRenamed("code", "site_code")  # fmt: skip
    weighed = wim_limits(wim).select(
        F.col("record_id").alias("alert_id"),
        "site_code",
        "plate_no",
        "plate_color",
        "vehicle_type_code",
        "axle_count",
        "is_combination",
        "gross_weight_kg",
        "limit_kg",
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
        is_shuang_bai(F.col("gross_weight_kg"), F.col("limit_kg")).alias("is_shuang_bai"),
        "weigh_time",
        "biz_date",
    )


def _params(catalog: Catalog, dataset_id: str) -> dict[str, Any]:
    dataset = catalog.datasets.get(dataset_id)
    return dict(dataset.params) if dataset else {}


def shuang_bai_weighings(wim: DataFrame, static: DataFrame) -> DataFrame:
    """WIM and static weighings that are 双百, one schema (shared with the monthly KPIs).

    WIM limits are computed from axles and vehicle type; a static station states the limit it
    applied (it sees the vehicle's configuration), so its ``limit_kg`` is taken as delivered.
    Unread plates are left out: the list names vehicles.
    """
    from pyspark.sql import functions as F

    def shape(df: DataFrame, kind: str, key: str) -> DataFrame:
        return df.select(
            F.concat(F.lit(f"{kind}:"), F.col(key)).alias("event_id"),
            F.lit(kind).alias("weigh_kind"),
            F.col(key).alias("record_id"),
            "site_code",
            "plate_no",
            "axle_count",
            "gross_weight_kg",
            F.col("limit_kg").cast("int").alias("limit_kg"),
            "weigh_time",
            "biz_date",
        )

    both = shape(wim_limits(wim), "WIM", "record_id").unionByName(
        shape(static, "STATIC", "reweigh_id")
    )
    gross, limit = F.col("gross_weight_kg"), F.col("limit_kg")
    return both.where(is_recognised_plate(F.col("plate_no")) & is_shuang_bai(gross, limit))


def shuang_bai_vehicles(inputs: dict[str, DataFrame], catalog: Catalog) -> DataFrame:
    """双百 / 百吨王 weighings from WIM and static re-weighs: the list shared with the police."""
    from pyspark.sql import functions as F

    rows = shuang_bai_weighings(inputs["wim_weighings"], inputs["static_reweighs"])
    excess = F.col("gross_weight_kg") - F.col("limit_kg")
    return rows.select(
        "event_id",
        "weigh_kind",
        "record_id",
        "site_code",
        "plate_no",
        is_xuzhou_plate(F.col("plate_no")).alias("is_xuzhou_plate"),
        "axle_count",
        "gross_weight_kg",
        "limit_kg",
        excess.cast("int").alias("excess_kg"),
        ratio(excess, F.col("limit_kg")).alias("excess_rate"),
        (F.col("gross_weight_kg") >= checks.BAI_DUN_WANG_KG).alias("is_bai_dun_wang"),
        "weigh_time",
        "biz_date",
    )


def out_of_province(area: Column) -> Column:
    """GB/T 2260: an area code outside Jiangsu (32xxxx) is another province."""
    return ~area.startswith("32")


def violation_transfers_by_destination(inputs: dict[str, DataFrame], catalog: Catalog) -> DataFrame:
    """抄告 counted per day, direction, destination area and violation."""
    from pyspark.sql import functions as F

    t = inputs["violation_transfers"]
    names = code_table_df(
        catalog, t.sparkSession, "violation_codes", {"code": "string", "name_zh": "string"}
    ).withColumnRenamed("code", "violation_code")
    agg = t.groupBy("biz_date", "direction", "to_area", "violation_code").agg(
        F.count(F.lit(1)).alias("transfers"),
        F.countDistinct("plate_no").alias("vehicles"),
    )
    return agg.join(F.broadcast(names), "violation_code", "left").select(
        "direction",
        "to_area",
        out_of_province(F.col("to_area")).alias("is_out_of_province"),
        "violation_code",
        F.col("name_zh").alias("violation_name_zh"),
        F.col("transfers").cast("int").alias("transfers"),
        F.col("vehicles").cast("int").alias("vehicles"),
        "biz_date",
    )


def source_enterprise_overloads(inputs: dict[str, DataFrame], catalog: Catalog) -> DataFrame:
    """Outbound weighings of source enterprises over the legal limit, traced to the road.

    An enterprise ticket does not say whether the vehicle is a combination, so the higher
    (combination) limit is applied from 3 axles up: the enterprise gets the benefit of the
    doubt. Each overloaded ticket is linked to the first WIM weighing of the same plate later
    the same day, the evidence that the load reached the road.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    tickets = inputs["source_enterprise_weighings"]
    limit = gross_limit_kg(F.col("axle_count"), F.col("axle_count") >= 3)
    over = tickets.withColumn("limit_kg", limit).where(
        is_recognised_plate(F.col("plate_no")) & (F.col("gross_weight_kg") > F.col("limit_kg"))
    )
    wim = inputs["wim_weighings"].select(
        F.col("plate_no").alias("w_plate"),
        F.col("biz_date").alias("w_date"),
        F.col("record_id").alias("wim_record_id"),
        F.col("site_code").alias("wim_site_code"),
        F.col("gross_weight_kg").alias("wim_gross_weight_kg"),
        F.col("weigh_time").alias("wim_weigh_time"),
    )
    on = (
        (F.col("plate_no") == F.col("w_plate"))
        & (F.col("biz_date") == F.col("w_date"))
        & (F.col("wim_weigh_time") >= F.col("weigh_time"))
    )
    first = Window.partitionBy("ticket_no").orderBy(
        F.col("wim_weigh_time").asc_nulls_last(), F.col("wim_record_id")
    )
    traced = over.join(wim, on, "left").withColumn("_n", F.row_number().over(first)).where("_n = 1")
    excess = F.col("gross_weight_kg") - F.col("limit_kg")
    return traced.select(
        "ticket_no",
        "enterprise_credit_code",
        "enterprise_name",
        "plate_no",
        "axle_count",
        "gross_weight_kg",
        "tare_kg",
        "net_kg",
        F.col("limit_kg").cast("int").alias("limit_kg"),
        excess.cast("int").alias("excess_kg"),
        ratio(excess, F.col("limit_kg")).alias("excess_rate"),
        is_shuang_bai(F.col("gross_weight_kg"), F.col("limit_kg")).alias("is_shuang_bai"),
        "wim_record_id",
        "wim_site_code",
        "wim_gross_weight_kg",
        "wim_weigh_time",
        "weigh_time",
        "biz_date",
    )


def case_disclosures(inputs: dict[str, DataFrame], catalog: Catalog) -> DataFrame:
    """Penalty decisions as they may be disclosed to the public (行政处罚信息公示).

    Enterprises are named with their credit code; a natural person is shown by surname only
    and no ID number, phone or plate leaves this dataset (Standard 2: L3/L4 never public).
    Partitioned by the decision date, which a later update of the record does not move.
    """
    from pyspark.sql import functions as F

    decisions = inputs["penalty_decisions"].where(F.col("decided_on").isNotNull())
    cases = inputs["enforcement_cases"].select(
        F.col("case_no").alias("c_case_no"), "division_code", F.col("status").alias("case_status")
    )
    names = code_table_df(
        catalog, decisions.sparkSession, "violation_codes", {"code": "string", "name_zh": "string"}
    ).withColumnRenamed("code", "violation_code")
    is_enterprise = F.col("party_credit_code").isNotNull()
    joined = (
        decisions.join(cases, decisions["case_no"] == cases["c_case_no"], "left")
        .join(F.broadcast(names), "violation_code", "left")
        # one case number may be delivered twice by the case system: one row per decision
        .dropDuplicates(["decision_no"])
    )
    return joined.select(
        "decision_no",
        "case_no",
        F.when(is_enterprise, "enterprise").otherwise("person").alias("party_kind"),
        F.when(is_enterprise, F.col("party_name"))
        .otherwise(F.concat(F.substring("party_name", 1, 1), F.lit("**")))
        .alias("party_name_disclosed"),
        F.when(is_enterprise, F.col("party_credit_code")).alias("party_credit_code"),
        "violation_code",
        F.col("name_zh").alias("violation_name_zh"),
        "fine_yuan",
        "division_code",
        "case_status",
        "decided_on",
    )


def credit_supervision_list(inputs: dict[str, DataFrame], catalog: Catalog) -> DataFrame:
    """Credit, blacklist and key-supervision entries with what each list means."""
    from pyspark.sql import functions as F

    lists = inputs["credit_lists"]
    kinds = code_table_df(
        catalog, lists.sparkSession, "list_type",
        {"code": "string", "name_zh": "string", "is_restrictive": "boolean"},
    ).withColumnRenamed("code", "list_type")  # fmt: skip
    return lists.join(F.broadcast(kinds), "list_type", "left").select(
        "entry_id",
        "list_type",
        F.col("name_zh").alias("list_name_zh"),
        "is_restrictive",
        "subject_credit_code",
        "subject_name",
        "plate_no",
        "valid_from",
        "valid_until",
        "listed_at",
        "biz_date",
    )


def illegal_operation_leads(inputs: dict[str, DataFrame], catalog: Catalog) -> DataFrame:
    """Each lead checked against the day's ANPR passes and ride-hailing orders and the permits.

    A plate with ride-hailing orders but no valid vehicle permit is the strongest lead; a
    plate seen often at checkpoints that is neither a licensed taxi nor a permitted
    ride-hailing vehicle comes next (threshold in the declaration's params).
    """
    from pyspark.sql import functions as F

    min_passes = int(_params(catalog, "illegal_operation_leads").get("min_anpr_passes", 6))
    leads = inputs["illegal_operation_leads"]
    plates = leads.select("plate_no", "biz_date").distinct()
    anpr = (
        inputs["anpr_passes"]
        .join(F.broadcast(plates), ["plate_no", "biz_date"], "left_semi")
        .groupBy("plate_no", "biz_date")
        .agg(
            F.count(F.lit(1)).alias("anpr_passes"),
            F.countDistinct("checkpoint_code").alias("checkpoints_seen"),
        )
    )
    orders = (
        inputs["ride_hailing_orders"]
        .join(F.broadcast(plates), ["plate_no", "biz_date"], "left_semi")
        .groupBy("plate_no", "biz_date")
        .agg(F.count(F.lit(1)).alias("ride_hailing_orders"))
    )
    permits = inputs["ride_hailing_permits"].where(F.col("permit_kind") == "VEHICLE")
    permitted = (
        plates.join(permits.select("plate_no", "valid_from", "valid_until"), "plate_no")
        .where(valid_on(F.col("biz_date"), F.col("valid_from"), F.col("valid_until")))
        .select("plate_no", "biz_date")
        .distinct()
        .withColumn("has_vehicle_permit", F.lit(True))
    )
    taxis = (
        inputs["taxi_vehicles_drivers"]
        .where(F.coalesce(F.col("active"), F.lit(True)))
        .select("plate_no")
        .distinct()
        .withColumn("is_licensed_taxi", F.lit(True))
    )
    out = (
        leads.join(anpr, ["plate_no", "biz_date"], "left")
        .join(orders, ["plate_no", "biz_date"], "left")
        .join(permitted, ["plate_no", "biz_date"], "left")
        .join(taxis, "plate_no", "left")
    )
    passes = F.coalesce(F.col("anpr_passes"), F.lit(0)).cast("int")
    n_orders = F.coalesce(F.col("ride_hailing_orders"), F.lit(0)).cast("int")
    has_permit = F.coalesce(F.col("has_vehicle_permit"), F.lit(False))
    is_taxi = F.coalesce(F.col("is_licensed_taxi"), F.lit(False))
    finding = (
        F.when((n_orders > 0) & ~has_permit, "RIDE_HAILING_WITHOUT_PERMIT")
        .when((passes >= min_passes) & ~has_permit & ~is_taxi, "FREQUENT_UNLICENSED")
        .otherwise("UNCONFIRMED")
    )
    return out.select(
        "lead_id",
        "lead_type",
        "plate_no",
        "score",
        "sightings",
        "division_code",
        passes.alias("anpr_passes"),
        F.coalesce(F.col("checkpoints_seen"), F.lit(0)).cast("int").alias("checkpoints_seen"),
        n_orders.alias("ride_hailing_orders"),
        has_permit.alias("has_vehicle_permit"),
        is_taxi.alias("is_licensed_taxi"),
        finding.alias("finding"),
        "created_at",
        "biz_date",
    )


def taxi_service_quality(inputs: dict[str, DataFrame], catalog: Catalog) -> DataFrame:
    """12328 complaints per industry and day, per 10,000 trips where the trips are known.

    Tickets are placed by the day they were received (``received_at``), not by their last
    update. Trips: the lake holds ride-hailing orders but no cruising-taxi trip records
    (none of the 28 sources), so taxi rows carry complaints and a null rate.
    """
    from pyspark.sql import functions as F

    tickets = inputs["complaint_tickets"]
    industry = code_table_df(
        catalog,
        tickets.sparkSession,
        "complaint_category",
        {"code": "string", "industry": "string"},
    ).withColumnRenamed("code", "category")
    complaints = (
        tickets.withColumn("biz_date", F.to_date("received_at"))
        .join(F.broadcast(industry), "category")
        .where(F.col("industry").isin("taxi", "ride_hailing"))
        .groupBy("biz_date", "industry")
        .agg(
            F.count(F.lit(1)).alias("complaints"),
            F.sum(F.coalesce(F.col("substantiated"), F.lit(False)).cast("int")).alias(
                "substantiated"
            ),
        )
    )
    trips = (
        inputs["ride_hailing_orders"]
        .groupBy("biz_date")
        .agg(F.count(F.lit(1)).alias("trips"))
        .withColumn("industry", F.lit("ride_hailing"))
    )
    both = complaints.join(trips, ["biz_date", "industry"], "full")
    n = F.coalesce(F.col("complaints"), F.lit(0))
    return both.select(
        "industry",
        n.cast("int").alias("complaints"),
        F.coalesce(F.col("substantiated"), F.lit(0)).cast("int").alias("substantiated"),
        F.col("trips").cast("bigint").alias("trips"),
        ratio(n * F.lit(10000.0), F.col("trips")).alias("complaints_per_10k_trips"),
        "biz_date",
    )


def ride_hailing_compliance(inputs: dict[str, DataFrame], catalog: Catalog) -> DataFrame:
    """Per platform and day: orders served by vehicles with a valid ride-hailing permit."""
    from pyspark.sql import functions as F

    orders = inputs["ride_hailing_orders"]
    permits = inputs["ride_hailing_permits"]
    vehicle = permits.where(F.col("permit_kind") == "VEHICLE").select(
        F.col("plate_no").alias("p_plate"), "valid_from", "valid_until"
    )
    keys = orders.select("plate_no", "biz_date").distinct()
    permitted = (
        keys.join(vehicle, keys["plate_no"] == vehicle["p_plate"])
        .where(valid_on(F.col("biz_date"), F.col("valid_from"), F.col("valid_until")))
        .select("plate_no", "biz_date")
        .distinct()
        .withColumn("_permitted", F.lit(1))
    )
    platform = (
        permits.where(F.col("permit_kind") == "PLATFORM")
        .select("platform_credit_code", "valid_from", "valid_until")
        .alias("pp")
    )
    per = (
        orders.join(permitted, ["plate_no", "biz_date"], "left")
        .groupBy("biz_date", "platform_credit_code")
        .agg(
            F.count(F.lit(1)).alias("orders"),
            F.countDistinct("plate_no").alias("vehicles"),
            F.sum(F.coalesce(F.col("_permitted"), F.lit(0))).alias("permitted"),
        )
    )
    licensed = (
        per.select("platform_credit_code", "biz_date")
        .join(platform, "platform_credit_code")
        .where(valid_on(F.col("biz_date"), F.col("valid_from"), F.col("valid_until")))
        .select("platform_credit_code", "biz_date")
        .distinct()
        .withColumn("platform_licensed", F.lit(True))
    )
    out = per.join(licensed, ["platform_credit_code", "biz_date"], "left")
    return out.select(
        "platform_credit_code",
        F.coalesce(F.col("platform_licensed"), F.lit(False)).alias("platform_licensed"),
        F.col("orders").cast("int").alias("orders"),
        F.col("vehicles").cast("int").alias("vehicles"),
        F.col("permitted").cast("int").alias("orders_permitted_vehicle"),
        (F.col("orders") - F.col("permitted")).cast("int").alias("orders_unpermitted_vehicle"),
        ratio(F.col("permitted"), F.col("orders")).alias("vehicle_compliance_rate"),
        "biz_date",
    )


def ship_pollutant_reception(inputs: dict[str, DataFrame], catalog: Catalog) -> DataFrame:
    """Ship pollutant receipts per port, pollutant and day: ship-visits, quantity, disposal.

    A receipt is one ship-visit handing over one pollutant. The report's delivery ratio
    (received / generated) needs the ships' declared quantities, which no source carries.
    """
    from pyspark.sql import functions as F

    r = inputs["pollutant_receipts"]
    units = code_table_df(
        catalog, r.sparkSession, "pollutant_type", {"code": "string", "unit": "string"}
    ).withColumnRenamed("code", "pollutant_type")
    disposed = F.when(F.col("handed_to_disposal"), F.col("quantity_t")).otherwise(F.lit(0.0))
    agg = r.groupBy("biz_date", "port_code", "pollutant_type").agg(
        F.count(F.lit(1)).alias("ship_visits"),
        F.countDistinct("ship_id").alias("ships"),
        F.sum("quantity_t").alias("quantity"),
        F.sum(disposed).alias("disposed"),
    )
    return agg.join(F.broadcast(units), "pollutant_type", "left").select(
        "port_code",
        "pollutant_type",
        "unit",
        F.col("ship_visits").cast("int").alias("ship_visits"),
        F.col("ships").cast("int").alias("ships"),
        F.round("quantity", 3).alias("quantity"),
        F.round("disposed", 3).alias("disposed_quantity"),
        ratio(F.col("disposed"), F.col("quantity")).alias("disposal_ratio"),
        "biz_date",
    )


def scenic_passenger_vehicles(inputs: dict[str, DataFrame], catalog: Catalog) -> DataFrame:
    """Medium and large passenger vehicles approaching each scenic spot, per day.

    The scenic spots' high-altitude counting cameras are not one of the 28 sources, so the
    count is made from ANPR: passes at the checkpoints of the spot's division by plates the
    operating-vehicle register lists as medium or large buses (vehicle type K1x/K2x). Every
    scenic spot gets a row for every day in the input, zero when none passed.
    """
    from pyspark.sql import functions as F

    anpr = inputs["anpr_passes"]
    spark = anpr.sparkSession
    channels = code_table_df(
        catalog, spark, "video_channels",
        {"code": "string", "name_zh": "string", "location_kind": "string",
         "division_code": "string"},
    )  # fmt: skip
    spots = channels.where(F.col("location_kind") == "scenic_spot").select(
        F.col("code").alias("scenic_code"), F.col("name_zh").alias("scenic_name_zh"),
        "division_code",
    )  # fmt: skip
    checkpoints = code_table_df(
        catalog, spark, "checkpoints", {"code": "string", "division_code": "string"}
    ).withColumnRenamed("code", "checkpoint_code")
    buses = (
        inputs["operating_vehicles"]
        .where(F.substring("vehicle_type_code", 1, 2).isin("K1", "K2"))
        .select("plate_no")
        .distinct()
    )
    passes = (
        anpr.join(F.broadcast(buses), "plate_no", "left_semi")
        .join(F.broadcast(checkpoints), "checkpoint_code")
        .groupBy("biz_date", "division_code")
        .agg(
            F.count(F.lit(1)).alias("passes"),
            F.countDistinct("plate_no").alias("vehicles"),
        )
    )
    n_checkpoints = checkpoints.groupBy("division_code").agg(F.count(F.lit(1)).alias("checkpoints"))
    days = anpr.select("biz_date").distinct()
    grid = days.crossJoin(F.broadcast(spots))
    out = grid.join(passes, ["biz_date", "division_code"], "left").join(
        F.broadcast(n_checkpoints), "division_code", "left"
    )
    return out.select(
        "scenic_code",
        "scenic_name_zh",
        "division_code",
        F.coalesce(F.col("checkpoints"), F.lit(0)).cast("int").alias("checkpoints"),
        F.coalesce(F.col("passes"), F.lit(0)).cast("int").alias("passes"),
        F.coalesce(F.col("vehicles"), F.lit(0)).cast("int").alias("vehicles"),
        "biz_date",
    )


#: Task types that are campaigns (专项任务) rather than routine or support work.
SPECIAL_TASK_TYPES = ("OVERLOAD", "ILLEGAL_OP", "DANGEROUS")


def enforcement_activity(inputs: dict[str, DataFrame], catalog: Catalog) -> DataFrame:
    """Per organisation and day: plans, tasks, joint actions and the inspections made.

    Tasks are placed by their planned date (stable while the task's status changes);
    inspections by the day they were made and attributed to the inspecting officer's
    organisation (``UNASSIGNED`` when the officer is not in the register). Cancelled tasks
    are not counted as tasks.
    """
    from pyspark.sql import functions as F

    tasks = inputs["enforcement_tasks"].where(F.col("status") != "CANCELLED")
    joint = F.coalesce(F.col("joint_action"), F.lit(False))
    t = (
        tasks.withColumn("biz_date", F.col("planned_date"))
        .groupBy("biz_date", "org_code")
        .agg(
            F.countDistinct("plan_id").alias("plans"),
            F.count(F.lit(1)).alias("tasks"),
            F.sum(F.col("task_type").isin(*SPECIAL_TASK_TYPES).cast("int")).alias("special_tasks"),
            F.sum((F.col("status") == "DONE").cast("int")).alias("tasks_done"),
            F.sum(joint.cast("int")).alias("joint_actions"),
            F.sum(F.coalesce("officers", F.lit(0))).alias("officers_deployed"),
            F.sum(F.when(joint, F.coalesce("officers", F.lit(0))).otherwise(0)).alias(
                "joint_officers_deployed"
            ),
        )
    )
    officers = inputs["officers_organisations"].select(
        "officer_code", F.col("org_code").alias("officer_org")
    )
    i = (
        inputs["inspection_records"]
        .join(F.broadcast(officers), "officer_code", "left")
        .withColumn("org_code", F.coalesce("officer_org", F.lit("UNASSIGNED")))
        .groupBy("biz_date", "org_code")
        .agg(
            F.count(F.lit(1)).alias("inspections"),
            F.countDistinct("plate_no").alias("vehicles_checked"),
            F.countDistinct("subject_credit_code").alias("enterprises_checked"),
            F.sum((F.col("result") == "CASE").cast("int")).alias("cases_opened"),
        )
    )
    both = t.join(i, ["biz_date", "org_code"], "full")
    zero = F.lit(0)
    counts = [
        "plans", "tasks", "special_tasks", "tasks_done", "joint_actions", "officers_deployed",
        "joint_officers_deployed", "inspections", "vehicles_checked", "enterprises_checked",
        "cases_opened",
    ]  # fmt: skip
    return both.select(
        "org_code", *[F.coalesce(F.col(c), zero).cast("int").alias(c) for c in counts], "biz_date"
    )


def _ai_events(catalog: Catalog, events: DataFrame) -> DataFrame:
    """Video AI events with their type's business line and their channel's place."""
    from pyspark.sql import functions as F

    spark = events.sparkSession
    types = code_table_df(
        catalog, spark, "ai_event_type",
        {"code": "string", "name_zh": "string", "business": "string"},
    ).select(
        F.col("code").alias("event_type"), F.col("name_zh").alias("event_name_zh"), "business"
    )  # fmt: skip
    channels = code_table_df(
        catalog, spark, "video_channels",
        {"code": "string", "location_kind": "string", "road": "string",
         "division_code": "string"},
    ).withColumnRenamed("code", "channel_code")  # fmt: skip
    return events.join(F.broadcast(types), "event_type", "left").join(
        F.broadcast(channels), "channel_code", "left"
    )


def road_asset_incidents(inputs: dict[str, DataFrame], catalog: Catalog) -> DataFrame:
    """Video AI events of the highway business line (road damage, uncovered dump trucks)."""
    from pyspark.sql import functions as F

    events = _ai_events(catalog, inputs["video_ai_events"]).where(F.col("business") == "highway")
    return events.select(
        "event_id",
        "event_type",
        "event_name_zh",
        "channel_code",
        "location_kind",
        "road",
        "division_code",
        "plate_no",
        "confidence",
        "lon",
        "lat",
        "snapshot_key",
        "event_time",
        "biz_date",
    )


def oversize_permit_violations(inputs: dict[str, DataFrame], catalog: Catalog) -> DataFrame:
    """Over-limit WIM weighings of vehicles that hold an oversize permit, judged against it.

    A vehicle with a permit is exempt only inside it: a weighing is a violation when no permit
    of the plate is valid that day, or the valid one allows less weight or other axles.
    Weighings of vehicles without any permit are plain overload alerts, not listed here.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    wim = wim_limits(inputs["wim_weighings"]).where(
        is_recognised_plate(F.col("plate_no")) & (F.col("gross_weight_kg") > F.col("limit_kg"))
    )
    permits = inputs["oversize_permits"].select(
        F.col("plate_no").alias("p_plate"),
        "permit_no",
        F.col("axle_count").alias("permitted_axles"),
        F.col("gross_weight_kg").alias("permitted_gross_kg"),
        "valid_from",
        "valid_until",
    )
    joined = wim.join(F.broadcast(permits), wim["plate_no"] == permits["p_plate"])
    valid = valid_on(F.col("biz_date"), F.col("valid_from"), F.col("valid_until"))
    best = Window.partitionBy("record_id").orderBy(
        valid.desc(), F.col("valid_until").desc_nulls_first(), "permit_no"
    )
    chosen = (
        joined.withColumn("permit_valid", valid)
        .withColumn("_n", F.row_number().over(best))
        .where("_n = 1")
    )
    violation = (
        F.when(~F.col("permit_valid"), "NO_VALID_PERMIT")
        .when(F.col("gross_weight_kg") > F.col("permitted_gross_kg"), "OVER_PERMITTED_WEIGHT")
        .when(F.col("axle_count") != F.col("permitted_axles"), "AXLES_NOT_AS_PERMITTED")
    )
    return (
        chosen.withColumn("violation", violation)
        .where(F.col("violation").isNotNull())
        .select(
            "record_id",
            "site_code",
            "plate_no",
            "axle_count",
            "gross_weight_kg",
            F.col("limit_kg").cast("int").alias("limit_kg"),
            "permit_no",
            "permit_valid",
            "permitted_axles",
            "permitted_gross_kg",
            "violation",
            "weigh_time",
            "biz_date",
        )
    )


def regional_emergency_warnings(inputs: dict[str, DataFrame], catalog: Catalog) -> DataFrame:
    """Video AI events that call for a joint warning with a neighbouring city.

    The event types and, per border division, the neighbouring cities to notify are the
    declaration's params (济宁, 枣庄, 宿州, 宿迁 in the 2024 cooperation agreement).
    """
    from pyspark.sql import functions as F

    params = _params(catalog, "regional_emergency_warnings")
    types = list(params.get("event_types", []))
    neighbours = {str(k): ",".join(v) for k, v in (params.get("neighbours") or {}).items()}
    events = _ai_events(catalog, inputs["video_ai_events"])
    spark = events.sparkSession
    cities = spark.createDataFrame(
        sorted(neighbours.items()), "division_code string, notify_cities string"
    )
    return (
        events.where(F.col("event_type").isin(*types))
        .join(F.broadcast(cities), "division_code")
        .select(
            F.col("event_id").alias("warning_id"),
            "event_type",
            "event_name_zh",
            "channel_code",
            "road",
            "division_code",
            "notify_cities",
            "confidence",
            "lon",
            "lat",
            "event_time",
            "biz_date",
        )
    )


def video_channel_catalogue(inputs: dict[str, DataFrame], catalog: Catalog) -> DataFrame:
    """The video channel register with each channel's AI activity, one row per channel and day.

    A catalogue is not an event stream: the partition is the day the activity figures refer
    to, and every registered channel appears on every day present in the input.
    """
    from pyspark.sql import functions as F

    events = inputs["video_ai_events"]
    channels = code_table_df(
        catalog, events.sparkSession, "video_channels",
        {"code": "string", "name_zh": "string", "location_kind": "string",
         "channel_kind": "string", "site_code": "string", "road": "string",
         "division_code": "string", "lon": "double", "lat": "double", "ai_events": "string"},
    ).withColumnRenamed("code", "channel_code")  # fmt: skip
    activity = events.groupBy("biz_date", "channel_code").agg(
        F.count(F.lit(1)).alias("events"),
        F.countDistinct("event_type").alias("event_types"),
        F.max("event_time").alias("last_event_time"),
    )
    grid = events.select("biz_date").distinct().crossJoin(F.broadcast(channels))
    out = grid.join(activity, ["biz_date", "channel_code"], "left")
    return out.select(
        "channel_code",
        F.col("name_zh").alias("channel_name_zh"),
        "location_kind",
        "channel_kind",
        "site_code",
        "road",
        "division_code",
        "lon",
        "lat",
        F.col("ai_events").alias("ai_event_types_configured"),
        F.coalesce(F.col("events"), F.lit(0)).cast("int").alias("events"),
        F.coalesce(F.col("event_types"), F.lit(0)).cast("int").alias("event_types_seen"),
        "last_event_time",
        "biz_date",
    )


def dangerous_goods_alarms(inputs: dict[str, DataFrame], catalog: Catalog) -> DataFrame:
    """Positioning alarms of dangerous-goods vehicles (use nature R) with their papers."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    alarms = inputs["gps_alarms"].where(F.col("use_nature") == "R")
    names = code_table_df(
        catalog, alarms.sparkSession, "gps_alarm_type", {"code": "string", "name_zh": "string"}
    ).select(F.col("code").alias("alarm_type"), F.col("name_zh").alias("alarm_name_zh"))
    latest = Window.partitionBy("plate_no").orderBy(
        F.col("valid_until").desc_nulls_last(), "certificate_no"
    )
    certs = (
        inputs["operating_vehicles"]
        .withColumn("_n", F.row_number().over(latest))
        .where("_n = 1")
        .select("plate_no", "certificate_no", F.col("valid_until").alias("certificate_until"))
    )
    operators = (
        inputs["road_transport_operators"]
        .select(F.col("credit_code").alias("operator_credit_code"), "operator_name")
        .dropDuplicates(["operator_credit_code"])
    )
    out = (
        alarms.join(F.broadcast(names), "alarm_type", "left")
        .join(certs, "plate_no", "left")
        .join(operators, "operator_credit_code", "left")
    )
    return out.select(
        "alarm_id",
        "plate_no",
        "alarm_type",
        "alarm_name_zh",
        "speed_kmh",
        "lon",
        "lat",
        "operator_credit_code",
        "operator_name",
        "certificate_no",
        (F.col("certificate_until") >= F.col("biz_date")).alias("certificate_valid"),
        "alarm_time",
        "biz_date",
    )


#: The monthly KPIs: id, 中文名称, unit. The report's yearly figures are sums of the additive
#: ones over a year's months (docs/analyst-queries.md); distinct-vehicle counts are per month.
KPI_DEFINITIONS: tuple[tuple[str, str, str], ...] = (
    ("enforcement_plans", "执法计划数", "plans"),
    ("inspection_tasks", "检查任务数", "tasks"),
    ("special_tasks", "专项任务数", "tasks"),
    ("joint_actions", "联合执法行动数", "actions"),
    ("joint_officer_deployments", "联合执法出动人次", "officer-deployments"),
    ("vehicles_inspected", "检查车辆数", "vehicles"),
    ("enterprises_inspected", "检查企业数", "enterprises"),
    ("transfers_out", "抄告案件数", "transfers"),
    ("transfers_out_of_province", "抄告外省案件数", "transfers"),
    ("shuang_bai_vehicles", "双百车辆数", "vehicles"),
    ("xuzhou_shuang_bai_vehicles", "徐州籍双百车辆数", "vehicles"),
    ("illegal_operation_cases", "非法营运案件数", "cases"),
    ("source_enterprise_cases", "源头企业案件数", "cases"),
    ("taxi_complaints", "巡游出租车投诉数", "tickets"),
    ("ride_hailing_complaints", "网约车投诉数", "tickets"),
    ("ride_hailing_trips", "网约车订单数", "trips"),
    ("ride_hailing_complaints_per_10k_trips", "网约车万单投诉率", "per 10,000 trips"),
    ("garbage_ship_visits", "船舶垃圾接收艘次", "ship-visits"),
    ("garbage_t", "船舶垃圾接收量", "t"),
    ("sewage_ship_visits", "生活污水接收艘次", "ship-visits"),
    ("sewage_t", "生活污水接收量", "m3"),
    ("oily_water_ship_visits", "含油污水接收艘次", "ship-visits"),
    ("oily_water_t", "含油污水接收量", "m3"),
    ("pollutant_disposal_ratio", "污染物转运处置率", "ratio"),
)

#: Violation codes of illegal operation (非法营运) and of source-enterprise overloading.
ILLEGAL_OPERATION_CODES = ("YY01", "YY02", "YY03")
SOURCE_ENTERPRISE_CODES = ("CX02",)


def kpi_monthly(inputs: dict[str, DataFrame], catalog: Catalog) -> DataFrame:
    """The report's figures per month, one row per (month, KPI): long, so a KPI is added here
    and not as a column. A KPI is present for a month when its source has rows in it."""
    from functools import reduce

    from pyspark.sql import functions as F

    def month(column: str) -> Column:
        return F.trunc(F.to_date(F.col(column)), "month").alias("month")

    def count_if(cond: Column) -> Column:
        return F.sum(F.when(cond, 1).otherwise(0))

    def sum_if(cond: Column, value: str) -> Column:
        return F.sum(F.when(cond, F.col(value)).otherwise(F.lit(0.0)))

    tasks = inputs["enforcement_tasks"].where(F.col("status") != "CANCELLED")
    joint = F.coalesce(F.col("joint_action"), F.lit(False))
    parts = [
        tasks.groupBy(month("planned_date")).agg(
            F.countDistinct("plan_id").alias("enforcement_plans"),
            F.count(F.lit(1)).alias("inspection_tasks"),
            count_if(F.col("task_type").isin(*SPECIAL_TASK_TYPES)).alias("special_tasks"),
            count_if(joint).alias("joint_actions"),
            F.sum(F.when(joint, F.coalesce("officers", F.lit(0))).otherwise(0)).alias(
                "joint_officer_deployments"
            ),
        ),
        inputs["inspection_records"]
        .groupBy(month("biz_date"))
        .agg(
            F.countDistinct("plate_no").alias("vehicles_inspected"),
            F.countDistinct("subject_credit_code").alias("enterprises_inspected"),
        ),
        inputs["violation_transfers"]
        .where(F.col("direction") == "OUT")
        .groupBy(month("biz_date"))
        .agg(
            F.count(F.lit(1)).alias("transfers_out"),
            count_if(out_of_province(F.col("to_area"))).alias("transfers_out_of_province"),
        ),
        shuang_bai_weighings(inputs["wim_weighings"], inputs["static_reweighs"])
        .groupBy(month("biz_date"))
        .agg(
            F.countDistinct("plate_no").alias("shuang_bai_vehicles"),
            F.countDistinct(F.when(is_xuzhou_plate(F.col("plate_no")), F.col("plate_no"))).alias(
                "xuzhou_shuang_bai_vehicles"
            ),
        ),
        inputs["enforcement_cases"]
        .groupBy(month("filed_at"))
        .agg(
            count_if(F.col("violation_code").isin(*ILLEGAL_OPERATION_CODES)).alias(
                "illegal_operation_cases"
            ),
            count_if(F.col("violation_code").isin(*SOURCE_ENTERPRISE_CODES)).alias(
                "source_enterprise_cases"
            ),
        ),
        inputs["ride_hailing_orders"]
        .groupBy(month("biz_date"))
        .agg(F.count(F.lit(1)).alias("ride_hailing_trips")),
    ]
    tickets = inputs["complaint_tickets"]
    industry = code_table_df(
        catalog,
        tickets.sparkSession,
        "complaint_category",
        {"code": "string", "industry": "string"},
    ).withColumnRenamed("code", "category")
    parts.append(
        tickets.join(F.broadcast(industry), "category", "left")
        .groupBy(month("received_at"))
        .agg(
            count_if(F.col("industry") == "taxi").alias("taxi_complaints"),
            count_if(F.col("industry") == "ride_hailing").alias("ride_hailing_complaints"),
        )
    )
    kind = F.col("pollutant_type")
    disposed = F.col("handed_to_disposal") == F.lit(True)
    parts.append(
        inputs["pollutant_receipts"]
        .groupBy(month("received_at"))
        .agg(
            count_if(kind == "GARBAGE").alias("garbage_ship_visits"),
            sum_if(kind == "GARBAGE", "quantity_t").alias("garbage_t"),
            count_if(kind == "SEWAGE").alias("sewage_ship_visits"),
            sum_if(kind == "SEWAGE", "quantity_t").alias("sewage_t"),
            count_if(kind == "OILY_WATER").alias("oily_water_ship_visits"),
            sum_if(kind == "OILY_WATER", "quantity_t").alias("oily_water_t"),
            sum_if(disposed, "quantity_t").alias("_disposed"),
            F.sum("quantity_t").alias("_received"),
        )
        .withColumn("pollutant_disposal_ratio", ratio(F.col("_disposed"), F.col("_received")))
        .drop("_disposed", "_received")
    )
    wide = reduce(lambda a, b: a.join(b, "month", "full"), parts)
    wide = wide.withColumn(
        "ride_hailing_complaints_per_10k_trips",
        ratio(F.col("ride_hailing_complaints") * F.lit(10000.0), F.col("ride_hailing_trips")),
    )
    ids = [k for k, _, _ in KPI_DEFINITIONS]
    long = wide.select(
        "month", *[F.round(F.col(k).cast("double"), 4).alias(k) for k in ids]
    ).unpivot(["month"], ids, "kpi_id", "value")
    names = wide.sparkSession.createDataFrame(
        list(KPI_DEFINITIONS), "kpi_id string, kpi_name_zh string, unit string"
    )
    return (
        long.where(F.col("value").isNotNull() & F.col("month").isNotNull())
        .join(F.broadcast(names), "kpi_id")
        .select("kpi_id", "kpi_name_zh", "unit", "value", "month")
    )


BUILDERS: dict[str, Builder] = {
    b.__name__: b
    for b in (
        overload_alerts,
        shuang_bai_vehicles,
        violation_transfers_by_destination,
        source_enterprise_overloads,
        case_disclosures,
        credit_supervision_list,
        illegal_operation_leads,
        taxi_service_quality,
        ride_hailing_compliance,
        ship_pollutant_reception,
        scenic_passenger_vehicles,
        enforcement_activity,
        road_asset_incidents,
        oversize_permit_violations,
        regional_emergency_warnings,
        video_channel_catalogue,
        dangerous_goods_alarms,
        kpi_monthly,
    )
}
