"""create_video end to end on the sample listing: start/stop, resume, rerun one phase, failure.

Real phases, real PostgreSQL, the file artifact store, a temporary Prefect API. Small photos
and clips keep it quick; the phases are the production code paths with CPU backends.
"""

from __future__ import annotations

import json
import logging
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
from flows.dev.sample_listing import make_listing

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
        "--music", str(listing.music_path), "--template", template, "--target-length", str(target),
        "--listing-id", "mls-7", "--json",
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
    _what_prefect_shows(job_id)

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
    assemble_run = _runs(job_id, "assemble")[-1]
    assert assemble_run.state.is_failed() and f"clip {used.id}" in assemble_run.state.message
    assert _wait_for_log(assemble_run, lambda log: log.level == logging.ERROR and log.message.startswith("phase.failed"))

    # 6. a clip that could not be rendered fails the render phase, naming it, on the run and the job alike
    broken = next(cid for cid, (status, _) in clips_before.items() if status is ClipStatus.done)
    with session_scope() as s:
        s.get(Clip, broken).status, s.get(Clip, broken).error = ClipStatus.failed, "broken on purpose"
    with pytest.raises(Exception):
        run_create_video(str(job_id), start_phase=Phase.render, stop_after=Phase.render)
    job = _job(job_id)
    assert job.status is JobStatus.failed and job.current_phase is Phase.render
    assert f"clip {broken}: broken on purpose" in job.error and "ClipsFailed" in job.error
    render_run = _runs(job_id, "render")[-1]
    assert render_run.state.is_failed() and f"clip {broken}: broken on purpose" in render_run.state.message
    clips_table = _artifact(job_id, "clips")
    assert {"clip": broken, "status": "failed"}.items() <= next(r for r in clips_table if r["clip"] == broken).items()


def _runs(job_id: uuid.UUID, flow_name: str | None = None) -> list:
    """The job's flow runs as the UI's tag filter finds them, oldest first."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterTags
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"job:{job_id}"])),
            flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])) if flow_name else None,
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
        )


def _logs(run) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    logs: list = []
    with get_client(sync_client=True) as client:
        while page := client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])),
                                       limit=200, offset=len(logs)):
            logs += page
    return logs


def _wait_for_log(run, found) -> bool:
    """Prefect ships a run's logs in batches, a moment after the run ends."""
    import time

    deadline = time.monotonic() + 15
    while not any(found(log) for log in _logs(run)):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def _artifact(job_id: uuid.UUID, kind: str):
    """The newest version of one of the job's artifacts (a table's rows, else its data)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"job-{job_id}-{kind}"])),
                                      sort=ArtifactSort.CREATED_DESC, limit=1)
    assert found, f"no {kind} artifact"
    data = found[0].data
    return json.loads(data) if found[0].type == "table" else data


def _link(data: str) -> str:
    """A link artifact's data is the markdown `[text](url)`."""
    return data.rsplit("](", 1)[1].removesuffix(")")


def _stages(run) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])),
                                      sort=TaskRunSort.EXPECTED_START_TIME_ASC)
    return [t.name for t in tasks]


def _what_prefect_shows(job_id: uuid.UUID) -> None:
    """One job's runs by its tag, named for it, each phase's steps as tasks, and its artifacts."""
    from tasks.storage import get_store

    short = str(job_id)[:8]
    runs = _runs(job_id)
    assert all({f"job:{job_id}", "listing:mls-7"} <= set(r.tags) for r in runs)
    names = {r.name for r in runs}
    for flow_name in ("create-video", "analyze", "render", "timeline", "assemble"):
        assert f"{flow_name} · mls-7 · {short}" in names, names
    by_flow = {r.name.split(" · ")[0]: r for r in runs}  # the newest run of each (sorted oldest first)
    assert _stages(by_flow["analyze"]) == ["load photos", "quality", "embeddings", "duplicates", "rooms", "depth",
                                            "overlap", "plan", "save"]
    assert _stages(by_flow["timeline"]) == ["load inputs", "beats", "sequence", "cards and captions", "save"]
    assert _stages(by_flow["assemble"]) == ["fetch sources", "render", "upload", "loudness"]  # each cut uploaded as rendered
    render_stages = _stages(by_flow["render"])
    with session_scope() as s:
        planned = s.exec(select(Clip.id).where(Clip.job_id == job_id, Clip.attempt == 0)).all()
    assert render_stages[0] == "plan clips" and sorted(render_stages[1:]) == sorted(f"render clip {c}" for c in planned)
    assert all(r.state.is_completed() for r in by_flow.values())
    levels = {log.level for log in _logs(by_flow["analyze"]) if log.message.startswith("phase.")}
    assert levels == {logging.INFO}  # the project's own lines, with their levels

    photos = _artifact(job_id, "photos")
    assert len(photos) == 10 and {r["kept"] for r in photos} <= {"yes", "no"}
    assert all(r["why not"] != "-" for r in photos if r["kept"] == "no")
    assert {r["tier"] for r in photos if r["kept"] == "yes"} <= {"low", "medium", "high"}
    review = _link(_artifact(job_id, "review"))
    assert review.startswith("file://") and "<html" in Path(review.removeprefix("file://")).read_text()
    clips = _artifact(job_id, "clips")
    assert any(r["status"] == "done" for r in clips)
    assert all(r["validator"].startswith("passed") and r["gpu s"] >= 0 for r in clips if r["status"] == "done")
    assert "cuts on beats" in _artifact(job_id, "timeline")
    video = _link(_artifact(job_id, "video"))
    job = _job(job_id)
    assert video == get_store().share_url(job.final_video_uri)
    index = _artifact(job_id, "run")
    assert all(f"/v2/artifacts/key/job-{job_id}-{kind}" in index for kind in ("photos", "review", "clips", "timeline", "video"))


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
