"""Landing: objects fetched as received (S3 through boto3, or the local stand-in), checksummed.

An S3-compatible server (moto) runs inside the test process on a free port; the objects are put
with boto3 exactly as a source system would, then landed and loaded into bronze.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import urllib.request
from pathlib import Path

import pytest
from conftest import free_port, make_settings, s3_credentials, s3_server

from enforcement_brain.declarations import load_catalog
from enforcement_brain.errors import ConfigError, DeliveryError, LandingChecksumError
from enforcement_brain.orchestration.runtime import JobContext
from enforcement_brain.pipeline import landing
from jobs import land_to_bronze

DAY = dt.date(2026, 11, 29)
SOURCE = "gps_alarms"
BUCKET = "jt809-exchange"
PREFIX = "alarms/2026/11/29/"


def alarm(i: int, plate: str = "苏C12345") -> str:
    row = {
        "alarm_id": f"A{i:04d}",
        "plate_no": plate,
        "alarm_type": "01",
        "alarm_time": f"2026-11-29 0{i % 10}:00:00",
        "lon": "117.18",
        "lat": "34.26",
    }
    return json.dumps(row, ensure_ascii=False)


def body(first: int, n: int) -> bytes:
    return "".join(alarm(i) + "\n" for i in range(first, first + n)).encode("utf-8")


@pytest.fixture(scope="module")
def s3_url():
    with s3_server() as url:
        yield url


@pytest.fixture
def s3(s3_url, monkeypatch):
    """A boto3 client on an empty store; credentials only in the standard AWS variables."""
    import boto3

    s3_credentials(monkeypatch)
    reset = urllib.request.Request(f"{s3_url}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset).close()
    return boto3.client("s3", endpoint_url=s3_url)


@pytest.fixture
def s3_settings(tmp_path, s3_url):
    return make_settings(tmp_path / "var", EB_OBJECTS_URL=s3_url)


@pytest.fixture(scope="module")
def source():
    return load_catalog(make_settings(Path("/nonexistent")).standards_dir).sources[SOURCE]


def manifest(settings) -> dict:
    path = settings.local_lake / "landing" / SOURCE / DAY.isoformat() / landing.MANIFEST
    return json.loads(path.read_text(encoding="utf-8"))


def test_objects_land_from_s3_byte_for_byte_once_and_again_when_changed(s3, s3_settings, source):
    s3.create_bucket(Bucket=BUCKET)
    uploaded = {"alarms-2026112900.jsonl": body(0, 3), "alarms-2026112901.jsonl": body(3, 2)}
    for name, data in uploaded.items():
        s3.put_object(Bucket=BUCKET, Key=PREFIX + name, Body=data)
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "readme.txt", Body=b"not a delivery")
    s3.put_object(Bucket=BUCKET, Key="alarms/2026/11/30/alarms-2026113000.jsonl", Body=body(9, 1))

    first = landing.land(s3_settings, source, DAY, "run-1")
    folder = s3_settings.local_lake / "landing" / SOURCE / DAY.isoformat()
    assert first is not None and first.folder == str(folder)
    assert first.changed == ("alarms-2026112900.jsonl", "alarms-2026112901.jsonl")
    assert sorted(p.name for p in folder.iterdir()) == [landing.MANIFEST, *sorted(uploaded)]
    for name, data in uploaded.items():
        assert (folder / name).read_bytes() == data
    m = manifest(s3_settings)
    assert (m["source"], m["delivery_date"], m["kind"]) == (SOURCE, "2026-11-29", "objects")
    assert m["location"] == f"s3://{BUCKET}/{PREFIX}"
    for entry in m["files"]:
        data = uploaded[entry["file"]]
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)
        assert entry["origin"] == f"s3://{BUCKET}/{PREFIX}{entry['file']}"
        head = s3.head_object(Bucket=BUCKET, Key=PREFIX + entry["file"])
        assert entry["etag"] == head["ETag"] and entry["run_id"] == "run-1"

    # Unchanged objects: nothing fetched, manifest byte-identical.
    text = (folder / landing.MANIFEST).read_bytes()
    again = landing.land(s3_settings, source, DAY, "run-2")
    assert again is not None and again.changed == ()
    assert (folder / landing.MANIFEST).read_bytes() == text

    # Same key, new bytes: re-landed, the manifest shows the new checksum.
    changed = body(3, 2).replace(b"\xe8\x8b\x8fC12345", b"\xe8\x8b\x8fC54321")  # 苏C → new plate
    assert changed != uploaded["alarms-2026112901.jsonl"]
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "alarms-2026112901.jsonl", Body=changed)
    third = landing.land(s3_settings, source, DAY, "run-3")
    assert third is not None and third.changed == ("alarms-2026112901.jsonl",)
    assert (folder / "alarms-2026112901.jsonl").read_bytes() == changed
    entries = {e["file"]: e for e in manifest(s3_settings)["files"]}
    assert entries["alarms-2026112901.jsonl"]["sha256"] == hashlib.sha256(changed).hexdigest()
    assert entries["alarms-2026112901.jsonl"]["run_id"] == "run-3"
    assert entries["alarms-2026112900.jsonl"]["run_id"] == "run-1"


def test_bronze_reads_landed_objects_and_landing_log_is_idempotent(spark, s3, s3_settings):
    s3.create_bucket(Bucket=BUCKET)
    uploaded = {"alarms-2026112900.jsonl": body(0, 3), "alarms-2026112901.jsonl": body(3, 2)}
    for name, data in uploaded.items():
        s3.put_object(Bucket=BUCKET, Key=PREFIX + name, Body=data)
    ctx = JobContext(s3_settings, load_catalog(s3_settings.standards_dir))

    result = land_to_bronze.run(ctx, SOURCE, DAY, "run-1")
    assert (result["files"], result["files_landed"], result["rows"]) == (2, 2, 5)
    folder = s3_settings.local_lake / "landing" / SOURCE / DAY.isoformat()
    got = spark.read.format("delta").load(s3_settings.table_uri("bronze", SOURCE))
    places = {(r["_source_file"], r["_source_line"], r["alarm_id"]) for r in got.collect()}
    assert places == {
        (str(folder / "alarms-2026112900.jsonl"), 1, "A0000"),
        (str(folder / "alarms-2026112900.jsonl"), 2, "A0001"),
        (str(folder / "alarms-2026112900.jsonl"), 3, "A0002"),
        (str(folder / "alarms-2026112901.jsonl"), 1, "A0003"),
        (str(folder / "alarms-2026112901.jsonl"), 2, "A0004"),
    }

    log_sql = "SELECT file, bytes, sha256, origin FROM ops.landing_log ORDER BY file, landed_at"
    want = [
        (str(folder / n), len(d), hashlib.sha256(d).hexdigest(), f"s3://{BUCKET}/{PREFIX}{n}")
        for n, d in sorted(uploaded.items())
    ]
    assert [tuple(r) for r in spark.sql(log_sql).collect()] == want

    rerun = land_to_bronze.run(ctx, SOURCE, DAY, "run-2")
    assert (rerun["files_landed"], rerun["rows"]) == (0, 5)
    assert [tuple(r) for r in spark.sql(log_sql).collect()] == want  # nothing duplicated

    changed = body(3, 3)
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "alarms-2026112901.jsonl", Body=changed)
    third = land_to_bronze.run(ctx, SOURCE, DAY, "run-3")
    assert (third["files_landed"], third["rows"]) == (1, 6)
    name = str(folder / "alarms-2026112901.jsonl")
    shas = [r["sha256"] for r in spark.sql(log_sql).collect() if r["file"] == name]
    assert shas == [want[1][2], hashlib.sha256(changed).hexdigest()]  # both versions logged


def test_a_landed_file_altered_after_landing_fails_with_both_checksums(s3, s3_settings, source):
    s3.create_bucket(Bucket=BUCKET)
    data = body(0, 2)
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "alarms-2026112900.jsonl", Body=data)
    landing.land(s3_settings, source, DAY, "run-1")
    landed = (
        s3_settings.local_lake / "landing" / SOURCE / DAY.isoformat() / "alarms-2026112900.jsonl"
    )
    landed.write_bytes(data + b'{"alarm_id": "FORGED"}\n')
    with pytest.raises(LandingChecksumError) as err:
        landing.land(s3_settings, source, DAY, "run-2")
    message = str(err.value)
    assert message.startswith("[EB-LANDING-CHECKSUM] gps_alarms: delivery 2026-11-29: ")
    assert f"landed file {landed} does not match its manifest" in message
    expected = hashlib.sha256(data).hexdigest()
    actual = hashlib.sha256(landed.read_bytes()).hexdigest()
    assert f"(expected sha256 {expected}, actual {actual})" in message
    assert "\n" not in message
    landed.unlink()  # the remedy the message names: the object is fetched again
    assert landing.land(s3_settings, source, DAY, "run-3").changed == ()
    assert landed.read_bytes() == data


def test_an_altered_file_drop_fails_too(settings):
    catalog = load_catalog(settings.standards_dir)
    wim = catalog.sources["wim_weighings"]
    folder = settings.local_lake / "landing" / "wim_weighings" / DAY.isoformat()
    folder.mkdir(parents=True)
    drop = folder / "wim_A_20261129.csv"
    drop.write_bytes(b"record_id\nW1\n")
    first = landing.land(settings, wim, DAY, "run-1")
    assert first is not None and first.changed == ("wim_A_20261129.csv",)
    entry = landing.read_manifest(folder)[0]
    assert (entry.origin, entry.etag, entry.bytes) == (str(drop), None, 13)
    assert entry.sha256 == hashlib.sha256(b"record_id\nW1\n").hexdigest()
    assert landing.land(settings, wim, DAY, "run-2").changed == ()
    drop.write_bytes(b"record_id\nW2\n")
    with pytest.raises(LandingChecksumError, match=r"wim_weighings: delivery 2026-11-29: landed"):
        landing.land(settings, wim, DAY, "run-3")


def test_unreachable_store_fails_in_one_line_and_writes_nothing(s3, tmp_path, source):
    url = f"http://127.0.0.1:{free_port()}"
    settings = make_settings(tmp_path / "var", EB_OBJECTS_URL=url)
    ctx = JobContext(settings, load_catalog(settings.standards_dir))
    with pytest.raises(DeliveryError) as err:
        land_to_bronze.run(ctx, SOURCE, DAY, "run-1")  # fails before any Spark work
    assert str(err.value) == (
        f"gps_alarms: delivery 2026-11-29 at s3://{BUCKET}/{PREFIX}: object store unreachable "
        f"({url}); nothing landed or loaded"
    )
    assert not (settings.local_lake / "bronze").exists()
    assert not (settings.local_lake / "landing" / SOURCE).exists()


def test_missing_bucket_and_empty_prefix_name_the_delivery(s3, s3_settings, source):
    with pytest.raises(DeliveryError) as err:
        landing.land(s3_settings, source, DAY, "run-1")
    assert str(err.value) == (
        f"gps_alarms: delivery 2026-11-29 at s3://{BUCKET}/{PREFIX}: bucket {BUCKET} does not "
        "exist; nothing landed or loaded"
    )
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="alarms/2026/11/28/alarms-2026112800.jsonl", Body=body(0, 1))
    with pytest.raises(DeliveryError) as err:
        landing.land(s3_settings, source, DAY, "run-1")
    assert str(err.value) == (
        f"gps_alarms: delivery 2026-11-29: no object matching alarms-*.jsonl under "
        f"s3://{BUCKET}/{PREFIX}; nothing landed or loaded"
    )
    assert not (s3_settings.local_lake / "landing" / SOURCE).exists()


def test_empty_object_is_landed_then_refused_like_an_empty_file(s3, s3_settings, source):
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "alarms-2026112900.jsonl", Body=b"")
    with pytest.raises(DeliveryError, match=r"^gps_alarms: empty delivery file\(s\) .*alarms-"):
        landing.land(s3_settings, source, DAY, "run-1")
    folder = s3_settings.local_lake / "landing" / SOURCE / DAY.isoformat()
    assert (folder / "alarms-2026112900.jsonl").read_bytes() == b""  # stays in landing


def test_access_denied_and_missing_credentials_are_one_line(source):
    from botocore.exceptions import ClientError, NoCredentialsError

    denied = ClientError(
        {
            "Error": {"Code": "AccessDenied", "Message": "Access Denied"},
            "ResponseMetadata": {"HTTPStatusCode": 403},
        },
        "ListObjectsV2",
    )
    where = f"s3://{BUCKET}/{PREFIX}"
    assert str(landing.s3_error(denied, source, DAY, where, "")) == (
        f"gps_alarms: delivery 2026-11-29 at {where}: access denied (AccessDenied); check the "
        "AWS_* credentials; nothing landed or loaded"
    )
    assert str(landing.s3_error(NoCredentialsError(), source, DAY, where, "")) == (
        f"gps_alarms: delivery 2026-11-29 at {where}: no AWS credentials; set "
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; nothing landed or loaded"
    )
    bug = KeyError("x")
    assert landing.s3_error(bug, source, DAY, where, "") is bug  # not bad input: not wrapped


def test_local_stand_in_is_the_default(settings, source):
    assert settings.objects_url == ""
    stand_in = settings.objects_root / BUCKET / PREFIX
    stand_in.mkdir(parents=True)
    (stand_in / "alarms-2026112900.jsonl").write_bytes(body(0, 2))
    (stand_in / "alarms-2026112901.jsonl").write_bytes(body(2, 1))
    first = landing.land(settings, source, DAY, "run-1")
    folder = settings.local_lake / "landing" / SOURCE / DAY.isoformat()
    assert first is not None and len(first.changed) == 2
    assert (folder / "alarms-2026112900.jsonl").read_bytes() == body(0, 2)
    entries = {e.file: e for e in landing.read_manifest(folder)}
    assert entries["alarms-2026112901.jsonl"].origin == str(stand_in / "alarms-2026112901.jsonl")
    assert entries["alarms-2026112901.jsonl"].etag is None
    assert entries["alarms-2026112901.jsonl"].sha256 == hashlib.sha256(body(2, 1)).hexdigest()
    assert landing.land(settings, source, DAY, "run-2").changed == ()
    # A changed object is re-landed; a withdrawn one leaves landing.
    (stand_in / "alarms-2026112900.jsonl").write_bytes(body(0, 4))
    (stand_in / "alarms-2026112901.jsonl").unlink()
    third = landing.land(settings, source, DAY, "run-3")
    assert third is not None and third.changed == ("alarms-2026112900.jsonl",)
    assert sorted(p.name for p in folder.iterdir()) == [landing.MANIFEST, "alarms-2026112900.jsonl"]
    assert [e.file for e in landing.read_manifest(folder)] == ["alarms-2026112900.jsonl"]
    (stand_in / "alarms-2026112900.jsonl").unlink()
    with pytest.raises(
        DeliveryError,
        match=r"^gps_alarms: delivery 2026-11-29: no object matching alarms-\*\.jsonl",
    ):
        landing.land(settings, source, DAY, "run-4")


def test_objects_url_is_checked_when_settings_load(tmp_path):
    with pytest.raises(ConfigError, match=r"EB_OBJECTS_URL='ftp://x': use s3://"):
        make_settings(tmp_path, EB_OBJECTS_URL="ftp://x")
    assert make_settings(tmp_path, EB_OBJECTS_URL="s3://").objects_url == "s3://"
