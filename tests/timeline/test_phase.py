"""Phase 3 against real PostgreSQL and the file artifact store: rows in, a new version out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlmodel import select

from db.enums import AudioPolicy, ClipStatus
from db.models import Job, Timeline, TimelineClip
from db.session import session_scope
from tasks.storage import ArtifactNotFound
from tasks.timeline.phase import run_timeline
from tasks.timeline.versions import read_version
from tests.timeline.rows import P, Room, music_file, seed


def house() -> list[Room]:
    return [
        Room("bedroom", [P("bed1", 0.6), P("bed2", 0.7, clip=ClipStatus.failed), P("bed3", 0.3)]),
        Room("kitchen", [P("kit1", 0.9), P("kit2", 0.4, {"hero_room": True}), P("kit3", 0.8, {"exclude": True})]),
        Room("front_exterior", [P("front", 0.8)]),
        Room("bathroom", [P("bath", 0.5, exclude=True), P("bath2", 0.45)]),
        Room("living_room", [P("living", 0.5, {"preferred_opening": True})]),
        Room("backyard", [P("yard", 0.55)]),
        Room("dining_room", [P("dine", 0.5)]),
    ]


def shots(job_id, version=None):
    with session_scope() as s:
        return read_version(s, job_id, version)


@pytest.fixture
def clicks(tmp_path: Path) -> Path:
    return music_file(tmp_path, 120.0, 40.0)


def test_builds_a_beat_synced_walk_through(db: str, store, clicks: Path) -> None:
    job = seed(store, house(), music=clicks, target_length=24.0)
    summary = run_timeline(job.job_id)
    timeline, rows = shots(job.job_id)
    assert timeline.version == summary["version"] == 1
    names = {v: k for k, v in job.clip_ids.items()}
    order = [names[r.clip_id] for r in rows]
    # preferred_opening opens; walk-through order; each room's start by the Room Start Priority;
    # the closing by the Closing Selection Priority (the front exterior: no preferred_closing, no hero_global)
    assert order == ["living", "kit2", "kit1", "dine", "bed1", "bed3", "bath2", "yard", "front"]
    assert "bed2" not in order and "kit3" not in order and "bath" not in order  # failed / excluded
    assert summary["left_out"] == {str(job.clip_ids["kit3"]): f"shows excluded, unusable or duplicate photos [{job.photo_ids['kit3']}]",
                                   str(job.clip_ids["bath"]): f"shows excluded, unusable or duplicate photos [{job.photo_ids['bath']}]"}
    assert abs(timeline.total_duration - 24.0) <= 1 / 30
    beats = np.array(timeline.beat_grid["beats"])
    assert timeline.beat_grid["tempo"] == pytest.approx(120, rel=0.02)
    assert timeline.beat_grid["params"]["hop_length"] == 512
    assert timeline.beat_grid["reliable"] and timeline.beat_grid["confidence"] > 0.9
    assert len(timeline.beat_grid["tempo_curve"]) == len(beats) == len(timeline.beat_grid["positions"])
    assert timeline.beat_grid["pulse"]["on"] == "every beat" and summary["cut_on"] == "every beat"
    assert set(timeline.beat_grid["pulse"]["cuts"]) <= set(timeline.beat_grid["beats"])
    assert timeline.beat_grid["pacing"] == {"beat_sync": True, "shot_beats": [4, 8], "shot_seconds": [3.0, 5.0],
                                            "target_length": 24.0}
    for r in rows[1:]:
        assert min(abs(beats - r.start_time)) <= 1 / 30
    assert (timeline.template_type, timeline.width, timeline.height, timeline.fps) == ("standard", 1920, 1080, 30)
    assert timeline.music_uri is not None and {r.audio_policy for r in rows} == {AudioPolicy.music_only}


def test_rebuilding_adds_a_version_and_keeps_the_old_one(db: str, store, clicks: Path) -> None:
    job = seed(store, house(), music=clicks, target_length=24.0)
    run_timeline(job.job_id)
    _, first = shots(job.job_id, 1)
    assert run_timeline(job.job_id)["version"] == 2
    _, again = shots(job.job_id, 1)
    assert again == first
    with session_scope() as s:
        versions = s.exec(select(Timeline.version).where(Timeline.job_id == job.job_id).order_by(Timeline.version)).all()
        counts = [len(s.exec(select(TimelineClip).join(Timeline).where(Timeline.version == v, Timeline.job_id == job.job_id)).all()) for v in versions]
    assert versions == [1, 2] and counts == [len(first)] * 2


def test_no_music_is_a_silent_timeline_at_template_pacing(db: str, store) -> None:
    job = seed(store, house(), target_length=24.0)
    summary = run_timeline(job.job_id)
    timeline, rows = shots(job.job_id)
    assert set(timeline.beat_grid) == {"pulse", "pacing", "fill", "notes"} and timeline.beat_grid["pulse"] is None
    assert summary["tempo"] is None and not summary["beat_sync"]
    assert timeline.beat_grid["fill"] == summary["fill"] and summary["fill"]["method"] == "footage"
    assert timeline.music_uri is None
    assert {r.audio_policy for r in rows} == {AudioPolicy.music_only}
    lengths = np.diff([r.start_time for r in rows] + [timeline.total_duration])
    assert lengths.max() - lengths.min() <= 1 / 30 + 1e-5  # even, within the template's 3-5 s
    assert 3.0 - 1 / 30 <= lengths.min() and lengths.max() <= 5.0 + 1 / 30
    assert abs(timeline.total_duration - 24.0) <= 1 / 30


def test_beat_sync_off_keeps_the_grid_but_paces_evenly(db: str, store, clicks: Path) -> None:
    job = seed(store, house(), music=clicks, target_length=24.0, enable_beat_sync=False)
    run_timeline(job.job_id)
    timeline, rows = shots(job.job_id)
    assert timeline.beat_grid["tempo"] == pytest.approx(120, rel=0.02)
    assert timeline.beat_grid["pacing"]["beat_sync"] is False
    lengths = np.diff([r.start_time for r in rows] + [timeline.total_duration])
    assert lengths.max() - lengths.min() <= 1 / 30 + 1e-5


def test_bpm_and_beat_offset_overrides_drive_the_cuts(db: str, store, clicks: Path) -> None:
    job = seed(store, house(), music=clicks, target_length=24.0, bpm=100.0, beat_offset=0.3)
    run_timeline(job.job_id)
    timeline, rows = shots(job.job_id)
    assert timeline.beat_grid["source"] == "jobs.bpm+jobs.beat_offset" and timeline.beat_grid["tempo"] == 100.0
    assert timeline.beat_grid["reliable"]  # the job's tempo is trusted though the clicks are at 120
    for r in rows[1:]:
        k = (r.start_time - 0.3) / 0.6
        assert abs(k - round(k)) * 0.6 <= 1 / 30 + 0.012  # on the 100 BPM grid through 0.3 s


def test_a_template_preferring_a_drone_opens_on_it(db: str, store) -> None:
    rooms = [Room("front_exterior", [P("front", 0.9)]), Room("aerial", [P("drone", 0.2)]), Room("kitchen", [P("kit", 0.5)])]
    job = seed(store, rooms, template_type="luxury", target_length=15.0)
    run_timeline(job.job_id)
    _, rows = shots(job.job_id)
    assert rows[0].clip_id == job.clip_ids["drone"]


def test_missing_music_fails_and_writes_nothing(db: str, store, clicks: Path) -> None:
    job = seed(store, house(), music=clicks)
    with session_scope() as s:
        s.get(Job, job.job_id).music_uri = store.uri_for("jobs/nowhere/music/gone.wav")  # type: ignore[union-attr]
    with pytest.raises(ArtifactNotFound):
        run_timeline(job.job_id)
    with session_scope() as s:
        assert s.exec(select(Timeline).where(Timeline.job_id == job.job_id)).all() == []


def test_no_rendered_clip_is_a_clear_error(db: str, store) -> None:
    job = seed(store, [Room("kitchen", [P("kit", clip=ClipStatus.failed)])])
    with pytest.raises(ValueError, match="no rendered clip can be shown"):
        run_timeline(job.job_id)
