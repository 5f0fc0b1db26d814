"""S3 on a bad day: 503 SlowDown, reset connections and cut bodies from a proxy in front of moto.

The store's answers: every object written is whole or absent, every object read is checked
(length, recorded SHA-256), a job under 20 % faults completes, and a store that answers nothing
fails the job with one error naming the object, which a rerun finishes once the store is back.
"""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import pytest

from db.enums import JobStatus
from tasks.settings import get_settings
from tasks.storage import S3Store, StoreUnavailable, sha256_bytes
from tests.faults.jobs import create_job, job_row
from tests.faults.s3_proxy import FaultyS3Proxy


@pytest.fixture
def few_tries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two tries per request: a store that is down is found out in a second, not in fifteen."""
    monkeypatch.setenv("PICAIVID_S3_MAX_ATTEMPTS", "2")
    get_settings.cache_clear()


@pytest.mark.slow  # backoff of ~20 retried requests
def test_every_read_and_write_survives_a_fifth_of_requests_failing(faulty_bucket: str, s3_proxy: FaultyS3Proxy,
                                                                     tmp_path: Path) -> None:
    store = S3Store(faulty_bucket, "picaivid")
    s3_proxy.rate = 0.2
    for i in range(12):
        data = os.urandom(20_000 + i)
        source = tmp_path / f"in-{i}.bin"
        source.write_bytes(data)
        uri = store.put_file(f"objects/{i}.bin", source) if i % 2 else store.put_bytes(f"objects/{i}.bin", data)
        assert store.exists(uri)
        assert store.get_bytes(uri) == data
        assert store.get_file(uri, tmp_path / f"out-{i}.bin").read_bytes() == data
    assert min(s3_proxy.counts[f] for f in ("503", "reset", "truncate")) >= 2, s3_proxy.counts
    assert list(tmp_path.glob(".*.tmp")) == []  # no partial download left beside its target


def test_a_body_cut_short_every_time_fails_naming_the_object(faulty_bucket: str, s3_proxy: FaultyS3Proxy,
                                                              few_tries: None, tmp_path: Path) -> None:
    store = S3Store(faulty_bucket, "picaivid")
    uri = store.put_bytes("photos/kitchen.jpg", os.urandom(50_000))
    s3_proxy.rate, s3_proxy.faults, s3_proxy.match = 1.0, ("truncate",), lambda method, _: method == "GET"
    with pytest.raises(StoreUnavailable, match=f"GetObject {uri} arrived damaged 2 times"):
        store.get_file(uri, tmp_path / "kitchen.jpg")
    assert not (tmp_path / "kitchen.jpg").exists() and list(tmp_path.iterdir()) == []
    s3_proxy.heal()
    assert len(store.get_bytes(uri)) == 50_000


def test_a_download_whose_bytes_differ_from_the_recorded_sha256_is_refused(faulty_bucket: str, few_tries: None) -> None:
    """Same length, other bytes (a damaged copy): only the hash can tell, and it does."""
    store = S3Store(faulty_bucket, "picaivid")
    good, bad = b"a" * 4096, b"b" * 4096
    key = "picaivid/clips/1.mp4"
    boto3.client("s3").put_object(Bucket=faulty_bucket, Key=key, Body=bad, Metadata={"sha256": sha256_bytes(good)})
    with pytest.raises(StoreUnavailable, match="differs from the recorded"):
        store.get_bytes(f"s3://{faulty_bucket}/{key}")


@pytest.mark.slow  # backoff of the refused requests
def test_a_store_that_answers_nothing_fails_a_write_naming_it_and_leaves_no_object(
        faulty_bucket: str, s3_proxy: FaultyS3Proxy, few_tries: None, tmp_path: Path) -> None:
    """Refused requests write nothing; a write whose answer is lost (cut) has landed whole."""
    store = S3Store(faulty_bucket, "picaivid")
    s3_proxy.rate, s3_proxy.faults = 1.0, ("503", "reset")
    uri = store.uri_for("jobs/j/final/v1-16x9.mp4")
    with pytest.raises(StoreUnavailable, match=f"PutObject {uri} failed after 2 tries"):
        store.put_bytes("jobs/j/final/v1-16x9.mp4", b"video")
    source = tmp_path / "clip.mp4"
    source.write_bytes(os.urandom(1000))
    with pytest.raises(StoreUnavailable, match=f"upload of {store.uri_for('clips/j/1.mp4')} failed"):
        store.put_file("clips/j/1.mp4", source)
    s3_proxy.faults = ("truncate",)
    with pytest.raises(StoreUnavailable, match="failed after 2 tries"):
        store.put_bytes("jobs/j/final/v1-16x9.mp4", b"video")
    s3_proxy.heal()
    assert not store.exists(store.uri_for("clips/j/1.mp4"))
    assert store.get_bytes(uri) == b"video"


@pytest.mark.slow  # a 12 MiB multipart upload through the proxy
def test_a_multipart_upload_that_fails_is_aborted_and_leaves_no_object(
        faulty_bucket: str, s3_proxy: FaultyS3Proxy, few_tries: None, tmp_path: Path) -> None:
    """boto3's transfer manager aborts the upload when a part fails: no object, no parts kept."""
    store = S3Store(faulty_bucket, "picaivid")
    source = tmp_path / "final.mp4"
    source.write_bytes(os.urandom(12 * 1024 * 1024))  # over the 8 MiB multipart threshold: two parts
    s3_proxy.rate, s3_proxy.faults = 1.0, ("503",)
    s3_proxy.match = lambda method, path: method == "PUT" and "partNumber=2" in path
    with pytest.raises(StoreUnavailable, match="upload of .*final.mp4 failed"):
        store.put_file("jobs/j/final/final.mp4", source)
    s3_proxy.heal()
    assert not store.exists(store.uri_for("jobs/j/final/final.mp4"))
    assert boto3.client("s3").list_multipart_uploads(Bucket=faulty_bucket).get("Uploads", []) == []
    assert store.get_bytes(store.put_file("jobs/j/final/final.mp4", source)) == source.read_bytes()


# ----------------------------------------------------------------------------- whole jobs


@pytest.mark.slow  # a job failing on a dead store (with the stage's backoff), then finished under 20 % faults
def test_a_dead_store_fails_the_job_naming_the_object_and_a_rerun_under_faults_finishes_it(
        db: str, prefect_api: None, faulty_bucket: str, s3_proxy: FaultyS3Proxy, small_render: None, listing,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.create_video import run_create_video

    job_id = create_job(listing.root / "few", listing.music_path)
    monkeypatch.setenv("PICAIVID_S3_MAX_ATTEMPTS", "2")  # a dead store found out in a second, not in fifteen
    get_settings.cache_clear()
    s3_proxy.rate = 1.0
    # the proxy resets some requests before they reach moto and cuts others' bodies: either way
    # the budget of 2 tries is spent and the one line says which
    with pytest.raises(Exception, match="failed after 2 tries|arrived damaged 2 times"):
        run_create_video(str(job_id))
    job = job_row(job_id)
    assert job.status is JobStatus.failed
    assert len(job.error.splitlines()) == 1, job.error
    assert job.error.startswith("analyze failed: StoreUnavailable: GetObject s3://"), job.error
    assert f"s3://{faulty_bucket}/picaivid/jobs/{job_id}/photos/" in job.error

    monkeypatch.delenv("PICAIVID_S3_MAX_ATTEMPTS")  # the default budget
    get_settings.cache_clear()
    s3_proxy.counts.clear()
    s3_proxy.rate = 0.2  # back, on a bad day
    result = run_create_video(str(job_id))
    job = job_row(job_id)
    assert result["status"] == "completed" and job.status is JobStatus.completed and job.error is None
    assert sum(s3_proxy.counts[f] for f in ("503", "reset", "truncate")) >= 3, s3_proxy.counts  # met, and survived
    s3_proxy.heal()
    final = S3Store(faulty_bucket, "picaivid").get_bytes(job.final_video_uri)  # whole: checked against its SHA-256
    assert final[4:8] == b"ftyp"
