"""The artifact store on both backends: deterministic keys, atomic writes, clear not-found."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import boto3
import pytest

from tasks.storage import ArtifactNotFound, FileStore, S3Store, keys, safe_name, sha256_bytes, store_from_url


@pytest.fixture(params=["file", "s3"])
def any_store(request, tmp_path: Path):
    if request.param == "file":
        return FileStore(tmp_path / "store")
    bucket = request.getfixturevalue("s3_bucket")
    return store_from_url(f"s3://{bucket}/pfx")


def test_roundtrip_and_overwrite(any_store, tmp_path: Path) -> None:
    src = tmp_path / "a.bin"
    src.write_bytes(b"first")
    uri = any_store.put_file(keys.clip("job1", 7), src)
    assert uri == any_store.uri_for("clips/job1/7.mp4")
    assert any_store.get_bytes(uri) == b"first"
    # a retry writes the same key: overwritten, not duplicated
    assert any_store.put_bytes(keys.clip("job1", 7), b"second") == uri
    assert any_store.get_bytes(uri) == b"second"
    out = any_store.get_file(uri, tmp_path / "dl" / "x.mp4")
    assert out.read_bytes() == b"second"
    assert any_store.exists(uri)
    any_store.delete(uri)
    assert not any_store.exists(uri)
    with pytest.raises(ArtifactNotFound):
        any_store.get_bytes(uri)
    with pytest.raises(ArtifactNotFound):
        any_store.get_file(uri, tmp_path / "nope")


class ExplodingReader(io.RawIOBase):
    """A source that fails after delivering part of its bytes, like a dying disk or socket."""

    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self.left <= 0:
            raise OSError("source died mid-upload")
        n = min(len(buf), self.left)
        buf[:n] = b"x" * n
        self.left -= n
        return n


def test_file_store_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FileStore(tmp_path / "store")
    uri = store.put_bytes("jobs/j/clips/1.mp4", b"old complete clip")
    src = tmp_path / "big.bin"
    src.write_bytes(b"y" * 10)
    import tasks.storage as storage

    def dying_copy(fsrc, fdst, length=0):
        fdst.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(storage.shutil, "copyfileobj", dying_copy)
    with pytest.raises(OSError, match="disk full"):
        store.put_file("jobs/j/clips/1.mp4", src)
    assert store.get_bytes(uri) == b"old complete clip"
    assert [p.name for p in (tmp_path / "store/jobs/j/clips").iterdir()] == ["1.mp4"]  # no temp left


def test_s3_interrupted_multipart_upload_leaves_no_object(s3_bucket: str) -> None:
    """boto3's transfer manager aborts a failed multipart upload: nothing under the key."""
    from boto3.s3.transfer import TransferConfig

    client = boto3.client("s3")
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    with pytest.raises(Exception, match="mid-upload"):
        client.upload_fileobj(io.BufferedReader(ExplodingReader(6 * 1024 * 1024)), s3_bucket, "k/partial.mp4", Config=config)
    store = S3Store(bucket=s3_bucket)
    assert not store.exists(f"s3://{s3_bucket}/k/partial.mp4")
    assert client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


def test_s3_reader_never_sees_a_partial_object(s3_bucket: str, tmp_path: Path) -> None:
    """While a large object is being replaced, readers see the old or the new, whole."""
    store = S3Store(bucket=s3_bucket)
    old, new = b"a" * (6 << 20), b"b" * (7 << 20)
    uri = store.put_bytes("jobs/j/final/v1-16x9.mp4", old)
    src = tmp_path / "new.bin"
    src.write_bytes(new)
    seen: set[int] = set()
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            seen.add(len(store.get_bytes(uri)))

    t = threading.Thread(target=reader)
    t.start()
    store.put_file("jobs/j/final/v1-16x9.mp4", src)
    done.set()
    t.join()
    assert seen <= {len(old), len(new)}
    assert store.get_bytes(uri) == new


def test_store_from_url_rejects_unknown_schemes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="s3://bucket/prefix or file:///path"):
        store_from_url("ftp://example/x")
    with pytest.raises(ValueError, match="needs a bucket"):
        store_from_url("s3:///nobucket")
    assert isinstance(store_from_url(tmp_path.as_uri()), FileStore)


def test_file_store_refuses_uris_outside_its_root(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")
    (tmp_path / "secret").write_text("x")
    with pytest.raises(ValueError, match="outside the allowed folders"):
        store.get_bytes((tmp_path / "secret").as_uri())


def test_keys_are_deterministic_and_safe() -> None:
    digest = "ab" * 32
    assert keys.photo("J", digest, "../../etc/My Photo (1).JPG") == f"jobs/J/photos/{digest}/My_Photo__1_.JPG"
    assert keys.final("J", 3, "9x16") == "jobs/J/final/v3-9x16.mp4"
    assert keys.clip("J", 5, partial=True) == "clips/J/5.partial.mp4"
    assert safe_name("...") != ""


def test_photo_keys_are_unique_to_the_bytes() -> None:
    """Names that reduce to one safe name get different keys; a key needs a real digest."""
    a, b = sha256_bytes(b"first kitchen"), sha256_bytes(b"second kitchen")
    assert safe_name("kitchen 1.jpg") == safe_name("kitchen_1.jpg")
    assert keys.photo("J", a, "kitchen 1.jpg") != keys.photo("J", b, "kitchen_1.jpg")
    with pytest.raises(ValueError, match="SHA-256"):
        keys.photo("J", "kitchen", "kitchen.jpg")


def test_a_shared_link_opens_the_object(any_store) -> None:
    """What an engineer clicks in a Prefect artifact: a presigned URL on S3, a file URI locally."""
    import urllib.request

    uri = any_store.put_bytes(keys.review("job-1"), b"<html>review</html>", "text/html")
    link = any_store.share_url(uri, expires_s=600)
    assert link.startswith("http" if uri.startswith("s3://") else "file://")
    with urllib.request.urlopen(link, timeout=10) as resp:
        assert resp.read() == b"<html>review</html>"
