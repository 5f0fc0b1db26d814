"""create_video end to end on the sample listing: start/stop, resume, rerun one phase, failure.

Real phases, real PostgreSQL, the file artifact store, a temporary Prefect API. Small photos
and clips keep it quick; the phases are the production code paths with CPU backends.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from sqlmodel import func, select
from typer.testing import CliRunner

from db.enums import ClipStatus, JobStatus, Phase
from db.models import AnalysisResult, Clip, Job, Photo, RoomCluster, Timeline, TimelineClip
from db.session import session_scope
from flows.cli import app
from flows.create_video import run_create_video
from tasks.sample_listing import make_listing

pytestmark = pytest.mark.slow


@pytest.fixture
def small_render(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tasks.settings import get_settings

    monkeypatch.setenv("PICAIVID_CLIP_WIDTH", "320")
    monkeypatch.setenv("PICAIVID_CLIP_HEIGHT", "180")
    for limit in ("PICAIVID_UPSCALE_SOFT_LIMIT", "PICAIVID_UPSCALE_HARD_LIMIT"):  # 320 px photos: not judged small
        monkeypatch.setenv(limit, '{"16x9": 10, "9x16": 10, "1x1": 10}')
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def listing(tmp_path_factory: pytest.TempPathFactory):
    return make_listing(tmp_path_factory.mktemp("listing"), seed=1, size=(320, 214), music_seconds=30)


def _create(listing, target: float = 8.0, template: str = "square") -> uuid.UUID:
    res = CliRunner().invoke(app, [
        "job", "create", "--photos", str(listing.root / "photos"), "--metadata", str(listing.overrides_path),
        "--music", str(listing.music_path), "--template", template, "--target-length", str(target), "--json",
    ])
    assert res.exit_code == 0, res.output
    return uuid.UUID(json.loads(res.stdout)["job_id"])


def _count(model, job_id: uuid.UUID) -> int:
    with session_scope() as s:
        return s.exec(select(func.count()).select_from(model).where(model.job_id == job_id)).one()


def _job(job_id: uuid.UUID) -> Job:
    with session_scope() as s:
        return s.get(Job, job_id)


def test_stop_resume_rerun_and_fail(db: str, small_render: None, prefect_api: None, listing) -> None:
    from tasks.storage import get_store

    job_id = _create(listing)

    # 1. stop after analysis: plan rows exist, nothing rendered
    result = run_create_video(str(job_id), stop_after=Phase.analyze)
    assert result["phases"] == ["analyze"]
    job = _job(job_id)
    assert (job.status, job.current_phase, job.stop_after) == (JobStatus.stopped, Phase.analyze, Phase.analyze)
    assert _count(RoomCluster, job_id) == 5 and _count(AnalysisResult, job_id) == 5 and _count(Clip, job_id) == 0

    # 2. resume: from the job's state, the stored stop_after already passed
    result = run_create_video(str(job_id))
    assert result["phases"] == ["render", "timeline", "assemble"]
    job = _job(job_id)
    assert job.status is JobStatus.completed and job.final_video_uri
    store = get_store()
    first_video = store.get_bytes(job.final_video_uri)
    assert abs(job.final_video_facts["duration"] - 8.0) <= 1 / 30 + 1e-6
    with session_scope() as s:
        clips_before = {c.id: (c.status, c.s3_uri) for c in s.exec(select(Clip).where(Clip.job_id == job_id))}
    assert any(status is ClipStatus.done for status, _ in clips_before.values())

    # 3. a duplicate request for a completed job does nothing
    assert run_create_video(str(job_id))["phases"] == []

    # 4. rerun one phase: a new timeline version, every other row untouched
    result = run_create_video(str(job_id), start_phase=Phase.timeline, stop_after=Phase.timeline)
    assert result["phases"] == ["timeline"]
    with session_scope() as s:
        versions = s.exec(select(Timeline.version).where(Timeline.job_id == job_id).order_by(Timeline.version)).all()
        clips_after = {c.id: (c.status, c.s3_uri) for c in s.exec(select(Clip).where(Clip.job_id == job_id))}
    assert versions == [1, 2] and clips_after == clips_before
    assert _job(job_id).status is JobStatus.stopped
    assert _job(job_id).stop_after is Phase.timeline

    # 5. a failing phase: a clip file vanished from the store before assembly
    with session_scope() as s:
        used = s.exec(
            select(Clip).join(TimelineClip, TimelineClip.clip_id == Clip.id).join(Timeline, Timeline.id == TimelineClip.timeline_id)
            .where(Timeline.job_id == job_id, Timeline.version == 2)
        ).first()
    store.delete(used.s3_uri)
    with pytest.raises(Exception):
        run_create_video(str(job_id), start_phase=Phase.assemble)
    job = _job(job_id)
    assert job.status is JobStatus.failed and job.current_phase is Phase.assemble
    assert f"clip {used.id}" in job.error
    assert store.get_bytes(job.final_video_uri) == first_video  # the previous final stays
    assert _count(Photo, job_id) == 10 and _count(AnalysisResult, job_id) == 5  # earlier phases intact

    shown = CliRunner().invoke(app, ["show", str(job_id), "--json"])
    assert json.loads(shown.stdout)["job"]["status"] == "failed"


def test_a_no_repeat_template_fills_its_target_from_clips_sized_for_it(db: str, small_render: None, prefect_api: None,
                                                                      listing) -> None:
    """The standard template shows each clip once; at Phase 1's durations the clips fall short of
    28 s, so Phase 2 renders them longer and Phase 3 fills the length with every cut on a beat."""
    job_id = _create(listing, target=28.0, template="standard")
    run_create_video(str(job_id), stop_after=Phase.timeline)
    with session_scope() as s:
        done = s.exec(select(Clip).where(Clip.job_id == job_id, Clip.status == ClipStatus.done)).all()
        timeline = s.exec(select(Timeline).where(Timeline.job_id == job_id)).one()
        rows = s.exec(select(TimelineClip).where(TimelineClip.timeline_id == timeline.id)).all()
    natural = sum(c.render_params["natural_duration"] for c in done) - 0.5 * (len(done) - 1)  # 120 BPM: 1 beat fades
    assert natural < 28.0 < sum(c.duration for c in done)  # Phase 1's lengths would not fill it
    assert abs(timeline.total_duration - 28.0) <= 1 / 30
    assert timeline.beat_grid["fill"]["method"] == "footage" and len({r.clip_id for r in rows}) == len(rows)
    beats = timeline.beat_grid["beats"]
    assert all(min(abs(b - r.start_time) for b in beats) <= 1 / 30 for r in rows if r.order_index > 0)
