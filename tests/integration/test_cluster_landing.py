"""A day's deliveries on the cluster profile's store: the generator puts object deliveries in
their declared buckets and file drops under the lake's ``landing/`` prefix, landing fetches the
objects from the source bucket with boto3 into that prefix, and bronze's file listing names
them as ``s3a://`` URIs. Nothing of it touches the local disk. No Spark.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from cluster_store import s3_lake
from conftest import make_settings

from enforcement_brain.cluster.profile import source_buckets
from enforcement_brain.declarations import load_catalog
from enforcement_brain.generate.day import generate_day
from enforcement_brain.lake.folders import lake_folder
from enforcement_brain.lake.s3 import LakeStore, S3Location
from enforcement_brain.pipeline import landing
from enforcement_brain.pipeline.bronze import csv_headers
from enforcement_brain.pipeline.delivery import landing_files

pytestmark = pytest.mark.cluster

DAY = dt.date(2026, 11, 28)


def _bytes(client, uri: str) -> bytes:
    location = S3Location.parse(uri)
    return client.get_object(Bucket=location.bucket, Key=location.prefix)["Body"].read()


def _sha(client, uri: str) -> str:
    return hashlib.sha256(_bytes(client, uri)).hexdigest()


def test_a_day_is_delivered_and_landed_in_the_store(tmp_path: Path) -> None:
    buckets = tuple(source_buckets(make_settings(tmp_path / "probe")))
    var = tmp_path / "var"
    with s3_lake(var, buckets) as settings:
        catalog = load_catalog(settings.standards_dir)
        generated = generate_day(settings, DAY, scale=0.002)
        drops = [f for f in generated.files if f.startswith("s3a://eb-lake/lake/landing/")]
        objects = [f for f in generated.files if f.startswith("s3://")]
        assert len(drops) + len(objects) == len(generated.files)
        assert {S3Location.parse(f).bucket for f in objects} == set(buckets)

        client = LakeStore.from_settings(settings).client
        file_sources = [s for s in catalog.sources.values() if s.delivery.kind != "database"]
        for source in sorted(file_sources, key=lambda s: s.id):
            landed = landing.land(settings, source, DAY, "run-1")
            assert landed is not None
            folder = f"s3a://eb-lake/lake/landing/{source.id}/{DAY.isoformat()}"
            assert landed.folder == folder
            files = landing_files(settings, source, DAY)
            assert files == sorted(landed.path(e) for e in landed.files)
            assert landed.changed == tuple(sorted(e.file for e in landed.files))
            for entry in landed.files:
                assert _sha(client, landed.path(entry)) == entry.sha256
                if source.delivery.kind == "objects":
                    assert entry.origin.startswith(f"s3://{source.delivery.bucket}/")
                    assert _sha(client, entry.origin) == entry.sha256
                else:
                    assert entry.origin == landed.path(entry)
            assert [e.file for e in landing.read_manifest(lake_folder(settings, folder))] == [
                e.file for e in sorted(landed.files, key=lambda e: e.file)
            ]
            if source.delivery.format == "csv":  # bronze groups files by their header line
                headers = csv_headers(files, source.delivery.encoding, settings)
                assert sorted(f for group in headers.values() for f in group) == files
                for header, group in headers.items():
                    for uri in group:
                        first = _bytes(client, uri).split(b"\n", 1)[0].rstrip(b"\r")
                        assert first.decode(source.delivery.encoding) == header
            again = landing.land(settings, source, DAY, "run-2")
            assert again is not None and again.changed == () and again.files == landed.files

        # The source systems' database and the generator's answer key are local; no delivery.
        assert sorted(p.name for p in var.iterdir()) == ["cluster", "ground_truth", "sources"]
