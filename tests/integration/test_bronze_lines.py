"""Line numbers in bronze are the lines of the delivered file, however Spark would split it."""

from __future__ import annotations

from enforcement_brain.pipeline.bronze import csv_headers, read_lines, whole_files


def test_line_numbers_are_exact_when_spark_would_split_and_pack_files(spark, tmp_path):
    big = tmp_path / "a.csv"
    big.write_text("".join(f"row-{i:05d},{'x' * 40}\n" for i in range(1, 3001)), encoding="gbk")
    small = tmp_path / "b.csv"
    small.write_text("first\nsecond\n", encoding="gbk")
    # Without whole_files these would cut a.csv into ~500 splits and pack b.csv with one of them.
    spark.conf.set("spark.sql.files.maxPartitionBytes", "256")
    spark.conf.set("spark.sql.files.openCostInBytes", "1")
    try:
        lines = read_lines(spark, [str(big), str(small)], "gbk")
        with whole_files(spark):
            rows = lines.collect()
            partitions = lines.rdd.getNumPartitions()
        assert spark.conf.get("spark.sql.files.maxPartitionBytes") == "256"  # restored
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
        spark.conf.unset("spark.sql.files.openCostInBytes")
    assert partitions == 2
    got = {(r["_source_file"].rsplit("/", 1)[-1], r["_source_line"]): r["value"] for r in rows}
    assert len(got) == 3002
    assert got[("a.csv", 1)].startswith("row-00001,")
    assert got[("a.csv", 2345)].startswith("row-02345,")
    assert got[("a.csv", 3000)].startswith("row-03000,")
    assert got[("b.csv", 1)] == "first" and got[("b.csv", 2)] == "second"


def test_headers_are_read_in_the_declared_encoding(tmp_path):
    utf8 = tmp_path / "u.csv"
    utf8.write_text("\ufeff车牌号,时间\r\n苏C1,1\n", encoding="utf-8")
    gbk = tmp_path / "g.csv"
    gbk.write_text("车牌号,时间\n苏C2,2\n", encoding="gbk")
    assert csv_headers([str(utf8)], "utf-8") == {"\ufeff车牌号,时间": [str(utf8)]}
    assert csv_headers([str(gbk)], "gbk") == {"车牌号,时间": [str(gbk)]}
