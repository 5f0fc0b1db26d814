"""Phase 4 glue: timeline rows in, final mp4 out, facts on the job.

Reads one timeline version (the newest unless told) with its shots and clips, fetches the clip
files and music from the artifact store, renders, probes, uploads to `keys.final`, and only
then records the result: `jobs.final_video_uri` / `final_video_facts` and the timeline marked
rendered. The timeline shows `rendering` meanwhile; any failure gives it back its old status
and changes nothing else (the previous final video and its URI stay); the caller marks the
job failed.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog
from sqlmodel import select

from db.enums import TimelineStatus
from db.models import Clip, Job, Timeline, TimelineClip
from db.session import session_scope
from tasks.assemble.errors import AssembleError, SourceError
from tasks.assemble.formats import resolve_format
from tasks.assemble.layout import Shot, TimelineSpec
from tasks.assemble.probe import probe_output
from tasks.assemble.render import render_options, render_timeline
from tasks.settings import Settings, get_settings
from tasks.stages import stage
from tasks.storage import ArtifactNotFound, ArtifactStore, get_store, keys, safe_name

log = structlog.get_logger(__name__)


def run_assemble(
    job_id: uuid.UUID, timeline_version: int | None = None, fmt: str | None = None, preview: bool = False
) -> dict:
    """Render a timeline version of the job (default: the newest) and record the result.

    `fmt` is "16x9", "9x16" or "1x1" (default: the aspect the timeline's template chose).
    A preview (540p, fast preset) is uploaded beside the finals under `<fmt>-preview` and
    returned, but it neither replaces the job's final video nor marks the timeline rendered.
    """
    with structlog.contextvars.bound_contextvars(job_id=str(job_id)):
        return assemble(job_id, timeline_version, fmt, preview)


def assemble(job_id: uuid.UUID, timeline_version: int | None, fmt: str | None, preview: bool) -> dict:
    settings = get_settings()
    store = get_store()
    timeline, rows = load_timeline(job_id, timeline_version)
    output = resolve_format(
        fmt, timeline.width, timeline.height, preview=preview, preview_short_side=settings.preview_short_side
    )
    bound = log.bind(timeline_version=timeline.version, format=output.name)
    bound.info("assemble.started", shots=len(rows))
    if not preview:
        set_timeline_status(timeline.id, TimelineStatus.rendering)
    try:
        with workspace(settings) as work:
            spec = fetch_inputs(timeline, rows, store, work)
            result = stage("render")(render_timeline)(spec, render_options(output, settings), work / "render")
            facts = stage("loudness")(probe_output)(result.path) | {
                "format": output.name,
                "timeline_version": timeline.version,
                "segments": result.segments,
                "mix_loudness_lufs": result.loudness_in.integrated if result.loudness_in else None,
            }
            uri = upload(store, keys.final(job_id, timeline.version, output.name), result.path)
    except BaseException as err:
        if not preview:
            set_timeline_status(timeline.id, timeline.status)
        bound.error("assemble.failed", error=f"{type(err).__name__}: {err}")
        raise
    if not preview:
        record_final(job_id, timeline.id, uri, facts)
    bound.info("assemble.finished", uri=uri, duration=facts["duration"], frames=facts["frame_count"])
    return {"timeline_version": timeline.version, "format": output.name, "preview": preview, "uri": uri, "facts": facts}


def load_timeline(job_id: uuid.UUID, version: int | None) -> tuple[Timeline, list[tuple[TimelineClip, Clip]]]:
    with session_scope() as s:
        query = select(Timeline).where(Timeline.job_id == job_id)
        query = query.where(Timeline.version == version) if version is not None else query
        timeline = s.exec(query.order_by(Timeline.version.desc()).limit(1)).first()
        if timeline is None:
            which = f"version {version}" if version is not None else "any version"
            raise AssembleError(f"job {job_id} has no timeline ({which})")
        rows = s.exec(
            select(TimelineClip, Clip)
            .join(Clip, Clip.id == TimelineClip.clip_id)
            .where(TimelineClip.timeline_id == timeline.id)
            .order_by(TimelineClip.order_index)
        ).all()
    return timeline, [(tc, clip) for tc, clip in rows]


@contextmanager
def workspace(settings: Settings) -> Iterator[Path]:
    """A private scratch folder on the data disk (finals and segments are large), always removed."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="assemble-", dir=settings.data_dir) as tmp:
        yield Path(tmp)


@stage("fetch sources", io=True)
def fetch_inputs(
    timeline: Timeline, rows: list[tuple[TimelineClip, Clip]], store: ArtifactStore, work: Path
) -> TimelineSpec:
    """Clip files (each once, however often it is used) and music, as a TimelineSpec."""
    shots = []
    for tc, clip in rows:
        path = work / "clips" / f"clip-{clip.id}.mp4"
        if not path.exists():
            if not clip.s3_uri:
                raise SourceError(f"clip {clip.id} has no rendered file (status {clip.status.value})")
            try:
                store.get_file(clip.s3_uri, path)
            except ArtifactNotFound as err:
                raise SourceError(f"clip {clip.id}: {clip.s3_uri} is missing from the artifact store") from err
        shots.append(
            Shot(
                clip_id=clip.id,
                path=path,
                in_time=tc.in_time,
                out_time=tc.out_time,
                start_time=tc.start_time,
                transition=tc.transition_type,
                transition_duration=tc.transition_duration,
                audio_policy=tc.audio_policy,
                speed=tc.speed,
            )
        )
    music = None
    if timeline.music_uri:
        music = work / "music" / safe_name(timeline.music_uri)
        try:
            store.get_file(timeline.music_uri, music)
        except ArtifactNotFound as err:
            raise SourceError(f"music: {timeline.music_uri} is missing from the artifact store") from err
    return TimelineSpec(tuple(shots), timeline.fps, timeline.total_duration, music)


@stage("upload", io=True)
def upload(store: ArtifactStore, key: str, path: Path) -> str:
    return store.put_file(key, path, "video/mp4")


def set_timeline_status(timeline_id: int, status: TimelineStatus) -> None:
    with session_scope() as s:
        timeline = s.get(Timeline, timeline_id)
        timeline.status = status
        s.add(timeline)


def record_final(job_id: uuid.UUID, timeline_id: int, uri: str, facts: dict) -> None:
    """The job's final video and the timeline's rendered state, in one transaction."""
    with session_scope() as s:
        job = s.get(Job, job_id)
        job.final_video_uri = uri
        job.final_video_facts = facts
        timeline = s.get(Timeline, timeline_id)
        timeline.status = TimelineStatus.rendered
        timeline.rendered_uri = uri
        s.add(job)
        s.add(timeline)
