"""Table row counts read from the Delta log's statistics equal Spark's count."""

from __future__ import annotations

from enforcement_brain.lake import tables


def test_log_count_equals_spark_count_after_append_replace_and_merge(spark, settings):
    uri = settings.table_uri("ops", "counted")
    spark.range(0, 100).selectExpr("id", "id % 4 as part").write.format("delta").partitionBy(
        "part"
    ).save(uri)
    assert tables.row_count_from_log(settings, "ops", "counted") == 100
    spark.range(0, 10).selectExpr("id", "cast(0 as bigint) as part").write.format("delta").mode(
        "overwrite"
    ).option("replaceWhere", "part = 0").save(uri)
    spark.sql(
        f"MERGE INTO delta.`{uri}` t USING (SELECT id, id % 4 AS part FROM range(90, 130)) s "
        "ON t.id = s.id WHEN MATCHED AND s.id < 95 THEN DELETE "
        "WHEN NOT MATCHED THEN INSERT *"
    ).collect()
    expected = spark.read.format("delta").load(uri).count()
    # part 0 replaced by ids 0..9 (10) + parts 1..3 (75) = 85; the MERGE deletes the matched
    # 90, 91, 93, 94 and inserts the unmatched 92, 96 (their part 0 rows were replaced) and
    # 100..129: 85 - 4 + 32.
    assert expected == 113
    assert tables.row_count_from_log(settings, "ops", "counted") == expected


def test_deletion_vectors_fall_back_or_stay_exact(spark, settings):
    uri = settings.table_uri("ops", "with_dv")
    spark.sql(
        f"CREATE TABLE delta.`{uri}` (id BIGINT) USING delta "
        "TBLPROPERTIES (delta.enableDeletionVectors = true)"
    ).collect()
    spark.range(0, 50).write.format("delta").mode("append").save(uri)
    spark.sql(f"DELETE FROM delta.`{uri}` WHERE id < 7").collect()
    n = tables.row_count_from_log(settings, "ops", "with_dv")
    assert n is None or n == 43
