"""Phase 4 glue against real PostgreSQL and a real artifact store."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest
from sqlmodel import select

from db.enums import ClipStatus, ConfidenceTier, MotionType, TimelineStatus
from db.models import Clip, Job, RoomCluster, Timeline, TimelineClip
from db.session import session_scope
from tasks.assemble.errors import AssembleError, SourceError
from tasks.assemble.phase import run_assemble
from tasks.settings import get_settings
from tasks.storage import keys
from tests.assemble.media import make_music, shot, spec_of


def create_job(store, cards: dict[str, Path], names: list[str]) -> tuple[uuid.UUID, dict[str, int]]:
    """A job with one room and a done clip per card name, the files in the store."""
    job_id = uuid.uuid4()
    ids = {}
    with session_scope() as s:
        s.add(Job(id=job_id))
        s.flush()
        room = RoomCluster(job_id=job_id, room_type="kitchen", confidence_tier=ConfidenceTier.low, image_count=1)
        s.add(room)
        s.flush()
        for n, name in enumerate(names):
            clip = Clip(job_id=job_id, room_cluster_id=room.id, source_photo_ids=[n], motion_type=MotionType.micro_push_in,
                        confidence_tier=ConfidenceTier.low, duration=3.0, status=ClipStatus.done)
            s.add(clip)
            s.flush()
            clip.s3_uri = store.put_file(keys.clip(job_id, clip.id), cards[name])
            ids[name] = clip.id
    return job_id, ids


def add_timeline(job_id: uuid.UUID, version: int, shots: list[dict], music_uri: str | None = None,
                 size: tuple[int, int] = (1920, 1080)) -> float:
    """Timeline rows for `shots` (made with tests.assemble.media.shot; clip_no = clip id)."""
    spec = spec_of(shots)
    with session_scope() as s:
        timeline = Timeline(job_id=job_id, version=version, total_duration=spec.total_duration, template_type="standard",
                            music_uri=music_uri, width=size[0], height=size[1], status=TimelineStatus.ready)
        s.add(timeline)
        s.flush()
        for i, sh in enumerate(spec.shots):
            s.add(TimelineClip(timeline_id=timeline.id, clip_id=sh.clip_id, order_index=i, in_time=sh.in_time,
                               out_time=sh.out_time, start_time=sh.start_time, transition_type=sh.transition,
                               transition_duration=sh.transition_duration, audio_policy=sh.audio_policy))
    return spec.total_duration


def job_and_timelines(job_id: uuid.UUID) -> tuple[Job, dict[int, Timeline]]:
    with session_scope() as s:
        job = s.get(Job, job_id)
        timelines = {t.version: t for t in s.exec(select(Timeline).where(Timeline.job_id == job_id))}
    return job, timelines


@pytest.fixture
def job(db, fast, store, cards, tmp_path):
    """A job with four clips, music in the store, and timeline v1 (1:1 template, 2.5 s)."""
    job_id, ids = create_job(store, cards, ["c1", "c2a", "c3", "c4a"])
    music_uri = store.put_file(keys.music(job_id, "track.wav"), make_music(tmp_path / "track.wav", 6.0, [1.0]))
    v1 = [shot(ids["c1"], cards["c1"], 0.0, 1.0), shot(ids["c2a"], cards["c2a"], 0.5, 2.0, "fade", 0.3, "duck_music")]
    add_timeline(job_id, 1, v1, music_uri, size=(1080, 1080))
    return job_id, ids, music_uri


def test_renders_the_newest_version_and_records_it(job, store, cards) -> None:
    job_id, ids, music_uri = job
    v2 = [shot(ids["c3"], cards["c3"], 0.0, 1.2), shot(ids["c4a"], cards["c4a"], 0.0, 1.0, "wipeleft", 0.4),
          shot(ids["c1"], cards["c1"], 1.0, 2.0)]
    total = add_timeline(job_id, 2, v2, music_uri, size=(1080, 1080))

    result = run_assemble(job_id)

    uri = store.uri_for(keys.final(job_id, 2, "1x1"))
    assert result["uri"] == uri and store.exists(uri)
    facts = result["facts"]
    assert (facts["width"], facts["height"], facts["fps"]) == (1080, 1080, 30)
    assert abs(facts["duration"] - total) <= 1 / 30 and facts["frame_count"] == round(total * 30)
    assert abs(facts["loudness_lufs"] - get_settings().loudness_lufs) <= 1.0
    job_row, timelines = job_and_timelines(job_id)
    assert job_row.final_video_uri == uri
    assert job_row.final_video_facts["timeline_version"] == 2
    assert job_row.final_video_facts["frame_count"] == facts["frame_count"]
    assert timelines[2].status is TimelineStatus.rendered and timelines[2].rendered_uri == uri
    assert timelines[1].status is TimelineStatus.ready and timelines[1].rendered_uri is None


def test_given_version_format_and_preview(job, store) -> None:
    job_id, _, _ = job
    final = run_assemble(job_id, timeline_version=1, fmt="9x16")
    assert (final["facts"]["width"], final["facts"]["height"]) == (1080, 1920)
    preview = run_assemble(job_id, timeline_version=1, fmt="16x9", preview=True)
    assert preview["uri"] == store.uri_for(keys.final(job_id, 1, "16x9-preview"))
    assert (preview["facts"]["width"], preview["facts"]["height"]) == (960, 540)
    job_row, timelines = job_and_timelines(job_id)
    assert job_row.final_video_uri == final["uri"]  # a preview is not the final video
    assert timelines[1].rendered_uri == final["uri"]


def test_missing_version_is_refused(job) -> None:
    job_id, _, _ = job
    with pytest.raises(AssembleError, match="has no timeline \\(version 7\\)"):
        run_assemble(job_id, timeline_version=7)


def digest(store, uri: str) -> str:
    return hashlib.sha256(store.get_bytes(uri)).hexdigest()


def broken_rerun(job_id, ids, cards, store, break_how: str, monkeypatch):
    """Render v1 successfully, then a broken v2; return what v1 left behind."""
    good = run_assemble(job_id)
    before = digest(store, good["uri"])
    v2 = [shot(ids["c1"], cards["c1"], 0.0, 1.0), shot(ids["c3"], cards["c3"], 0.0, 1.0)]
    if break_how == "short clip":
        v2[1] = shot(ids["c3"], cards["c3"], 2.0, 3.6)
    add_timeline(job_id, 2, v2, None, size=(1080, 1080))
    if break_how == "missing clip":
        with session_scope() as s:
            store.delete(s.get(Clip, ids["c3"]).s3_uri)
    if break_how == "ffmpeg fails":
        monkeypatch.setenv("PICAIVID_ASSEMBLE_X264_PRESET", "no-such-preset")
        get_settings.cache_clear()
    return good, before


@pytest.mark.parametrize(
    "break_how, error, message",
    [
        ("missing clip", SourceError, r"clip {c3}: .* is missing from the artifact store"),
        ("short clip", SourceError, r"clip {c3} is 3\.000 s long, but shot 1 trims it to \[2\.000, 3\.600\)"),
        ("ffmpeg fails", AssembleError, r"clips {c1}, {c3}, exit \d+\):\n.*no-such-preset"),
    ],
)
def test_failures_name_the_clip_and_keep_the_previous_final(job, store, cards, monkeypatch, break_how, error, message) -> None:
    job_id, ids, _ = job
    good, before = broken_rerun(job_id, ids, cards, store, break_how, monkeypatch)

    with pytest.raises(error, match=message.format(c1=ids["c1"], c3=ids["c3"])):
        run_assemble(job_id)

    job_row, timelines = job_and_timelines(job_id)
    assert job_row.final_video_uri == good["uri"]
    assert job_row.final_video_facts == good["facts"]
    assert digest(store, good["uri"]) == before
    assert not store.exists(store.uri_for(keys.final(job_id, 2, "1x1")))
    assert timelines[2].status is TimelineStatus.ready and timelines[2].rendered_uri is None
    assert timelines[1].status is TimelineStatus.rendered
    assert not list(get_settings().data_dir.glob("assemble-*"))  # scratch space cleaned up


def test_clips_music_and_final_go_through_s3(db, fast, s3_bucket, monkeypatch, cards, tmp_path) -> None:
    from tasks.storage import get_store

    monkeypatch.setenv("PICAIVID_STORAGE_URL", f"s3://{s3_bucket}/picaivid")
    get_settings.cache_clear()
    store = get_store()
    job_id, ids = create_job(store, cards, ["c1", "c3"])
    music_uri = store.put_file(keys.music(job_id, "m.wav"), make_music(tmp_path / "m.wav", 3.0))
    add_timeline(job_id, 1, [shot(ids["c1"], cards["c1"], 0.0, 1.0), shot(ids["c3"], cards["c3"], 0.0, 1.0, "fade", 0.2)],
                 music_uri, size=(1080, 1080))

    result = run_assemble(job_id)

    assert result["uri"] == f"s3://{s3_bucket}/picaivid/jobs/{job_id}/final/v1-1x1.mp4"
    assert store.get_bytes(result["uri"])[4:8] == b"ftyp"
    job_row, _ = job_and_timelines(job_id)
    assert job_row.final_video_uri == result["uri"] and job_row.final_video_facts["frame_count"] == 54
