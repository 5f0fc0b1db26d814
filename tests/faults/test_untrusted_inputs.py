"""Photo and music URIs, metadata, edits and texts are data another system wrote: the workers
read only what the settings allow, at most the download limit, and no text reaches a shell or
an ffmpeg filter string (hostile names and texts go through a real render)."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import uuid
from pathlib import Path

import av
import pytest
from sqlmodel import func, select

from db.enums import JobStatus
from db.models import Clip, Job, Photo, Timeline, TimelineOverlay
from db.session import session_scope
from tasks.intake import IntakeError, load_overrides
from tasks.settings import get_settings
from tasks.storage import (
    FileStore,
    S3Store,
    TooLarge,
    copy_capped,
    get_store,
    keys,
    sha256_bytes,
)
from tasks.timeline.edits import EditRefused, parse_edit
from tasks.uri_policy import RefusedInput
from tests.faults.jobs import create_job, job_row

REPO = Path(__file__).resolve().parents[2]


def allow(monkeypatch: pytest.MonkeyPatch, *prefixes: str) -> None:
    monkeypatch.setenv("PICAIVID_ALLOWED_INPUT_PREFIXES", json.dumps(list(prefixes)))
    get_settings.cache_clear()


@pytest.mark.parametrize("uri", [
    "file:///etc/passwd",
    "file:///proc/self/environ",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "s3://picaivid-test-bucket/uploads/kitchen.jpg",
    "file://evil.example/etc/passwd",
])
def test_a_local_worker_reads_only_its_store(env: Path, uri: str) -> None:
    with pytest.raises(RefusedInput):
        get_store().get_bytes(uri)


def test_a_local_worker_follows_no_symlink_or_dot_dot_out_of_its_store(env: Path, monkeypatch, tmp_path: Path) -> None:
    store = get_store()
    assert isinstance(store, FileStore)
    link = store.root / "jobs" / "j" / "photos" / "kitchen.jpg"
    link.parent.mkdir(parents=True)
    link.symlink_to("/etc/passwd")
    for uri in (link.as_uri(), store.uri_for("jobs/../../../../etc/passwd")):
        with pytest.raises(RefusedInput, match="outside the allowed folders"):
            store.get_bytes(uri)
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / "a.jpg").write_bytes(b"photo")
    with pytest.raises(RefusedInput):
        store.get_bytes((uploads / "a.jpg").as_uri())
    allow(monkeypatch, uploads.as_uri())  # a folder the settings allow is read
    assert store.get_bytes((uploads / "a.jpg").as_uri()) == b"photo"


def test_an_s3_worker_reads_only_the_allowed_buckets_and_prefixes(s3_bucket: str, env: Path, monkeypatch) -> None:
    import boto3

    client = boto3.client("s3")
    other = f"picaivid-other-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=other)
    for bucket, key in ((s3_bucket, "uploads/a.jpg"), (s3_bucket, "private/a.jpg"), (other, "uploads/a.jpg")):
        client.put_object(Bucket=bucket, Key=key, Body=b"photo")
    store = S3Store(s3_bucket, "picaivid")
    assert store.get_bytes(f"s3://{s3_bucket}/private/a.jpg") == b"photo"  # default: the store's own bucket
    with pytest.raises(RefusedInput, match=f"outside the allowed inputs \\(s3://{s3_bucket}/"):
        store.get_bytes(f"s3://{other}/uploads/a.jpg")

    allow(monkeypatch, f"s3://{s3_bucket}/uploads/")
    assert store.get_bytes(f"s3://{s3_bucket}/uploads/a.jpg") == b"photo"
    refused = {
        f"s3://{s3_bucket}/private/a.jpg": "outside the allowed inputs",
        f"s3://{s3_bucket}/uploads/../private/a.jpg": "'..' path segments",
        f"s3://{s3_bucket}/uploads/a.jpg?versionId=1": "not an s3://bucket/key URI",
        f"s3://{s3_bucket}/uploads/a\n.jpg": "control characters",
        "file:///etc/passwd": "read only in local mode",
        "https://169.254.169.254/latest/meta-data/": "only s3:// URIs are read",
    }
    for uri, reason in refused.items():
        with pytest.raises(RefusedInput, match=reason):
            store.get_bytes(uri)
        with pytest.raises(RefusedInput):
            store.exists(uri)
    store.put_bytes("jobs/j/clip.mp4", b"ours")  # the store's own prefix stays readable
    assert store.get_bytes(store.uri_for("jobs/j/clip.mp4")) == b"ours"


def test_downloads_over_the_limit_are_refused_before_their_bytes_are_read(s3_bucket: str, env: Path,
                                                                           monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PICAIVID_MAX_DOWNLOAD_BYTES", "1000")
    get_settings.cache_clear()
    s3 = S3Store(s3_bucket, "picaivid")
    local = get_store()
    for store in (s3, local):
        uri = store.put_bytes("big.jpg", os.urandom(5000))
        with pytest.raises(TooLarge, match="5,000 bytes, over the 1,000-byte download limit"):
            store.get_file(uri, tmp_path / "big.jpg")
        assert not (tmp_path / "big.jpg").exists()
        assert store.get_bytes(store.put_bytes("small.jpg", b"x" * 1000)) == b"x" * 1000

    class Endless(io.RawIOBase):
        """A body longer than its Content-Length said: counted as it streams."""
        served = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            Endless.served += len(buffer)
            buffer[:] = b"\0" * len(buffer)
            return len(buffer)

    monkeypatch.setenv("PICAIVID_MAX_DOWNLOAD_BYTES", str(3 << 20))
    get_settings.cache_clear()
    with pytest.raises(TooLarge):
        copy_capped("s3://b/lying.jpg", io.BufferedReader(Endless()), io.BytesIO())
    assert Endless.served <= (3 << 20) + (2 << 20)  # stopped within a chunk of the limit


def test_manual_metadata_overrides_files_and_edit_payloads_are_bounded(tmp_path: Path) -> None:
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({"kitchen.jpg": {"notes": "n" * 2001}}))
    with pytest.raises(IntakeError, match="notes: String should have at most 2000 characters"):
        load_overrides(overrides, ["kitchen.jpg"])
    overrides.write_text(json.dumps({"kitchen.jpg": {"detail_hint": "h" * 201}}))
    with pytest.raises(IntakeError, match="detail_hint"):
        load_overrides(overrides, ["kitchen.jpg"])
    overrides.write_text(" " * (1024 * 1024 + 1))
    with pytest.raises(IntakeError, match="overrides are at most 1,048,576"):
        load_overrides(overrides, ["kitchen.jpg"])
    with pytest.raises(EditRefused, match="edit payload is .* bytes; the limit is 16,384"):
        parse_edit("change_overlay", {"index": 0, "content": {"price": "$" * 20_000}})
    assert parse_edit("change_overlay", {"index": 0, "content": {"price": "$825,000"}})[1].content == {"price": "$825,000"}


def test_no_code_hands_a_command_line_to_a_shell() -> None:
    """Every subprocess gets an argument list: no row or message text is ever parsed by a shell."""
    shells = ("shell=True", "os.system(", "os.popen(", "create_subprocess_shell", "commands.getoutput")
    found = [f"{path.relative_to(REPO)}: {needle}" for top in ("tasks", "flows", "db")
             for path in (REPO / top).rglob("*.py") for needle in shells if needle in path.read_text()]
    assert found == []


# ----------------------------------------------------------------------------- through the phases


@pytest.mark.slow  # analyses a small job
def test_rows_naming_files_outside_the_store_make_those_photos_unusable_not_the_job(
        db: str, small_render: None, listing, monkeypatch) -> None:
    from tasks.analyze.phase import run_analyze

    store = get_store()
    photos = sorted((listing.root / "few").iterdir())
    largest = max(p.stat().st_size for p in photos)
    monkeypatch.setenv("PICAIVID_MAX_DOWNLOAD_BYTES", str(largest))
    get_settings.cache_clear()
    link = store.root / "uploads" / "link.jpg"
    link.parent.mkdir(parents=True)
    link.symlink_to(photos[0])  # a symlink, even to a photo, is followed and judged where it lands
    big = photos[1].read_bytes() + b"\0" * largest  # a JPEG with padding: over the limit
    hostile = {
        "passwd.jpg": "file:///etc/passwd",
        "environ.jpg": "file:///proc/self/environ",
        "traversal.jpg": store.uri_for("jobs/../../../../../etc/hostname"),
        "link.jpg": link.as_uri(),
        "big.jpg": store.put_bytes("uploads/big.jpg", big),
    }
    job_id = uuid.uuid4()
    with session_scope() as s:
        s.add(Job(id=job_id, template_type="square"))
        s.flush()
        for path in photos:
            data = path.read_bytes()
            s.add(Photo(job_id=job_id, original_filename=path.name, content_sha256=sha256_bytes(data),
                        s3_uri=store.put_bytes(keys.photo(job_id, sha256_bytes(data), path.name), data)))
        for name, uri in hostile.items():
            s.add(Photo(job_id=job_id, original_filename=name, s3_uri=uri))
    run_analyze(job_id)

    with session_scope() as s:
        rows = {p.original_filename: p for p in s.exec(select(Photo).where(Photo.job_id == job_id))}
    for name in hostile:
        reason = rows[name].unusable_reason
        assert reason and reason.startswith("not read: ") and "\n" not in reason, (name, reason)
    assert "outside the allowed folders" in rows["passwd.jpg"].unusable_reason
    assert "over the" in rows["big.jpg"].unusable_reason and "download limit" in rows["big.jpg"].unusable_reason
    assert all(rows[p.name].unusable_reason is None for p in photos)
    assert any(rows[p.name].room_cluster_id is not None for p in photos)


@pytest.mark.slow  # a flow run that stops at analyze
def test_a_music_uri_outside_the_allowed_inputs_fails_the_job_before_any_render(
        db: str, prefect_api: None, small_render: None, listing) -> None:
    from flows.create_video import run_create_video

    job_id = create_job(listing.root / "few", listing.music_path)
    with session_scope() as s:  # as another system might write it
        job = s.get(Job, job_id)
        job.music_uri = "file:///etc/passwd"
        s.add(job)
    with pytest.raises(RefusedInput):
        run_create_video(str(job_id))
    job = job_row(job_id)
    assert job.status is JobStatus.failed
    assert job.error.startswith("analyze failed: RefusedInput: music file:///etc/passwd: outside the allowed folders")
    with session_scope() as s:
        assert s.exec(select(func.count()).select_from(Clip).where(Clip.job_id == job_id)).one() == 0


HOSTILE_PHOTOS = (
    "it's \"the\" kitchen; rm -rf ~.jpg",
    "new\nline [0:v] overlay=1.jpg",
    "colon: 50% off \\ back,slash=1.jpg",
    "ünïcødé 家 🏠.jpg",
    "$(touch pwned) `touch pwned`.jpg",
)
HOSTILE_TEXTS = {
    "caption": "50% \"off\"; it's: a\\b,[x]=y",
    "address": "1 O'Brien St; $(touch pwned) %{pts}",
    "address2": "Apt 5: \"100%\" \\ [0:v] drawtext=",
    "agent": "Zoë \"Z\" O'Neil; 家 🏠",
    "brokerage": "%{localtime} \\' : , [out]",
}


@pytest.mark.slow  # a whole small job through a real ffmpeg render
def test_hostile_file_names_and_texts_render_and_never_reach_a_command_line(
        db: str, prefect_api: None, small_render: None, listing, tmp_path: Path, monkeypatch) -> None:
    from flows.create_video import run_create_video
    from tasks.media.ffmpeg import ffmpeg_exe

    real, log = ffmpeg_exe(), tmp_path / "ffmpeg-args"
    wrapper = tmp_path / "ffmpeg-logged"  # records every argument each ffmpeg run was given
    wrapper.write_text(f"#!/bin/sh\nfor a in \"$@\"; do printf '%s\\0' \"$a\" >> '{log}'; done\nexec '{real}' \"$@\"\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PICAIVID_FFMPEG", str(wrapper))
    get_settings.cache_clear()

    photos = tmp_path / "photos"
    photos.mkdir()
    for source, name in zip(sorted((listing.root / "few").iterdir()), HOSTILE_PHOTOS, strict=True):
        shutil.copy(source, photos / name)
    music = tmp_path / f"m'u;s\"ic: 100% \\ [a]{listing.music_path.suffix}"
    shutil.copy(listing.music_path, music)
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({name: {"caption": HOSTILE_TEXTS["caption"], "notes": name} for name in HOSTILE_PHOTOS}))
    listing_json = tmp_path / "listing.json"
    listing_json.write_text(json.dumps({
        "address_lines": [HOSTILE_TEXTS["address"], HOSTILE_TEXTS["address2"]], "status": "Sold; 100% \"done\"",
        "agent": {"name": HOSTILE_TEXTS["agent"], "brokerage": HOSTILE_TEXTS["brokerage"]},
    }))
    job_id = create_job(photos, music, "--metadata", str(overrides), "--listing", str(listing_json))
    assert run_create_video(str(job_id))["status"] == "completed"

    job = job_row(job_id)
    with session_scope() as s:
        names = {p.original_filename for p in s.exec(select(Photo).where(Photo.job_id == job_id))}
        drawn = json.dumps([o.content for o in s.exec(
            select(TimelineOverlay).join(Timeline, Timeline.id == TimelineOverlay.timeline_id)
            .where(Timeline.job_id == job_id, TimelineOverlay.visible))], ensure_ascii=False)
    assert names == set(HOSTILE_PHOTOS)  # kept exactly, newline and all
    for text in (HOSTILE_TEXTS["address"], HOSTILE_TEXTS["address2"], HOSTILE_TEXTS["agent"]):
        assert json.dumps(text, ensure_ascii=False)[1:-1] in drawn, drawn  # set on the title and agent cards
    final = tmp_path / "final.mp4"
    get_store().get_file(job.final_video_uri, final)
    with av.open(str(final)) as container:
        kinds = {s.type for s in container.streams}
        duration = container.duration / 1e6
    assert kinds == {"video", "audio"} and duration == pytest.approx(6.0, abs=1.0)

    args = [a for a in log.read_bytes().decode("utf-8", "replace").split("\0") if a]
    assert args, "ffmpeg ran"
    fragments = ["rm -rf", "touch pwned", "O'Brien", "drawtext", "%{pts}", "%{localtime}", "O'Neil", "家",
                 "m'u;s", "[0:v] overlay", "it's", "Sold;"]
    assert [(f, a) for a in args for f in fragments if f in a] == []
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
