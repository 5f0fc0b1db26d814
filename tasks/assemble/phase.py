"""Phase 4 glue: timeline rows in, the videos an agent can post out, facts on the job.

Reads one timeline version (the newest unless told) with its shots, overlays and clips, fetches
the clip files, music, logo and headshot from the artifact store, and for every format the job
asks for (`jobs.formats`, else the template's) renders the branded cut and, when it shows
anything of the agent's, the MLS-unbranded cut from the same timeline; then a poster per cut
and format, and each cut's captions as SRT and WebVTT. Only when everything is uploaded is the
result recorded: `jobs.final_video_uri` (the first format's branded cut) and
`final_video_facts` (every file, the generated-motion disclosure, each overlay's contrast), and
the timeline marked rendered. The timeline shows `rendering` meanwhile; any failure gives it back its old status
and changes nothing else (the previous final video and its URI stay); the caller marks the
job failed.
"""

from __future__ import annotations

import contextvars
import io
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import structlog
from PIL import Image
from sqlmodel import select

from db.enums import OverlayKind, TimelineStatus
from db.listing import Listing, parse_listing
from db.models import Clip, Job, Timeline, TimelineClip
from db.session import retry_db, session_scope
from tasks.assemble.delivery import (
    BRANDED,
    UNBRANDED,
    DrawnCut,
    FrameSampler,
    caption_files,
    draw_cut,
    is_faststart,
    needs_unbranded,
    poster,
)
from tasks.assemble.errors import AssembleError, SourceError
from tasks.assemble.layout import Shot, TimelineSpec, frame_layout
from tasks.assemble.probe import probe_output
from tasks.assemble.render import Cut, MixedAudio, RenderResult, mix_timeline, render_options, render_timeline
from tasks.domain.disclosure import is_generated
from tasks.domain.formats import OutputFormat, format_for_size, resolve_format
from tasks.domain.overlays import Overlay, read_overlays
from tasks.settings import Settings, get_settings
from tasks.stages import stage
from tasks.storage import ArtifactNotFound, ArtifactStore, get_store, keys, safe_name
from tasks.uri_policy import RefusedInput
from tasks.usage import release_free_memory

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
    timeline, rows, overlays, job = load_timeline(job_id, timeline_version)
    listing = parse_listing(job.listing)
    names = [fmt] if fmt else (job.formats or [format_for_size(timeline.width, timeline.height)])
    outputs = [resolve_format(name, timeline.width, timeline.height, preview=preview,
                              preview_short_side=settings.preview_short_side) for name in names]
    cuts = [BRANDED] if preview or not needs_unbranded(overlays, listing) else [BRANDED, UNBRANDED]
    bound = log.bind(timeline_version=timeline.version, formats=[o.name for o in outputs], cuts=cuts)
    bound.info("assemble.started", shots=len(rows), overlays=len(overlays))
    if not preview:
        set_timeline_status(timeline.id, TimelineStatus.rendering)
    try:
        with workspace(settings) as work:
            spec = fetch_inputs(timeline, rows, store, work)
            images = fetch_images(overlays, store) if BRANDED in cuts else {}
            files = Files(job_id, timeline.version, store)
            # one mix for every format, from the primary clips, beside the first format's pictures
            # (waited for on the way out, so a failure never leaves it writing into the workspace)
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="assemble-audio") as audio_pool:
                audio = audio_pool.submit(contextvars.copy_context().run, mix_timeline, spec,
                                          render_options(outputs[0], settings), work / "audio")
                render = FormatRender(spec, rows, overlays, listing, images, cuts, files, store, work, settings,
                                      preview, audio)
                rendered = {output.name: render(output) for output in outputs}
            contrast: dict[int, dict[str, float]] = {}
            for r in rendered.values():
                for index, ratios in r.contrast.items():
                    contrast.setdefault(index, {}).update(ratios)
            first, deliveries = rendered[outputs[0].name].result, rendered[outputs[0].name].deliveries
            facts = stage("loudness")(probe_output)(first.path) | {
                "format": outputs[0].name,
                "timeline_version": timeline.version,
                "segments": first.segments,
                "mix_loudness_lufs": first.loudness_in.integrated if first.loudness_in else None,
                "faststart": is_faststart(first.path),
                "source_scale": {name: r.result.source_scale for name, r in rendered.items()},
            }
            if not preview:
                facts |= delivery_facts({name: r.deliveries for name, r in rendered.items()}, cuts, overlays, contrast,
                                        files.captions(overlays, cuts, work / "captions"),
                                        generated_clips(rows), listing)
            uri = deliveries[BRANDED]["video"]
    except BaseException as err:
        if not preview:
            set_timeline_status(timeline.id, timeline.status)
        bound.error("assemble.failed", error=f"{type(err).__name__}: {err}")
        raise
    if not preview:
        record_final(job_id, timeline.id, uri, facts)
    bound.info("assemble.finished", uri=uri, duration=facts["duration"], frames=facts["frame_count"])
    return {"timeline_version": timeline.version, "format": outputs[0].name, "preview": preview, "uri": uri,
            "facts": facts}


@dataclass(frozen=True)
class Rendered:
    """One format's render: its files, what the facts list for each cut, each card's contrast."""

    result: RenderResult
    deliveries: dict[str, dict]  # cut -> video (and poster) URIs, size, faststart
    contrast: dict[int, dict[str, float]]  # overlay index -> {"<format>/<cut>": ratio}


@dataclass(frozen=True)
class FormatRender:
    """What every format of one assembly shares: the timeline's inputs, its cuts, one sound mix.
    Called with a format, it draws that format's cards, renders its cuts and uploads them."""

    spec: TimelineSpec
    rows: list[tuple[TimelineClip, Clip]]
    overlays: list[Overlay]
    listing: Listing
    images: dict[str, Image.Image]
    cuts: list[str]
    files: Files
    store: ArtifactStore
    work: Path
    settings: Settings
    preview: bool
    audio: Future[MixedAudio]

    def __call__(self, output: OutputFormat) -> Rendered:
        framed = format_inputs(self.spec, self.rows, output.aspect, self.store, self.work)
        spans = frame_layout(framed)
        drawn = draw_cuts(self.cuts, self.overlays, self.listing, output,
                          FrameSampler(framed, spans, self.settings.assemble_fit), self.images,
                          self.work / "cards" / output.name)
        result = stage("render")(render_timeline)(framed, render_options(output, self.settings),
                                                  self.work / output.name,
                                                  [Cut(cut, drawn[cut].cards) for cut in self.cuts], self.audio)
        if result.source_scale < 1:
            log.warning("assemble.upscaled", format=output.name, source_scale=result.source_scale)
        deliveries = {
            cut: self.files.video(output.name, cut, path) | ({} if self.preview else self.files.poster(
                output.name, cut, poster(path, spans[0], self.work / f"{output.name}-{cut}.jpg")))
            for cut, path in result.cuts.items()
        }
        contrast: dict[int, dict[str, float]] = {}
        for cut, d in drawn.items():
            for index, ratio in d.contrast.items():
                contrast.setdefault(index, {})[f"{output.name}/{cut}"] = ratio
        return Rendered(result, deliveries, contrast)


def draw_cuts(cuts: list[str], overlays: list[Overlay], listing: Listing, output: OutputFormat,
              sampler: FrameSampler, images: dict[str, Image.Image], folder: Path) -> dict[str, DrawnCut]:
    """Every cut's cards for one format. The frames decoded to judge their contrast are
    hundreds of MB at 1080p: they go, and the heap is trimmed, before ffmpeg starts."""
    drawn = {cut: draw_cut(cut, overlays, listing, output, sampler, images, sampler.spans[-1].end, folder)
             for cut in cuts}
    del sampler
    release_free_memory()
    return drawn


class Files:
    """Uploads under the job's final/ prefix, each returning what the facts list for it."""

    def __init__(self, job_id: uuid.UUID, version: int, store: ArtifactStore) -> None:
        self.job_id, self.version, self.store = job_id, version, store

    def video(self, fmt: str, cut: str, path: Path) -> dict:
        name = fmt if cut == BRANDED else f"{fmt}-{cut}"
        uri = upload(self.store, keys.final(self.job_id, self.version, name), path)
        return {"video": uri, "size_bytes": path.stat().st_size, "faststart": is_faststart(path)}

    def poster(self, fmt: str, cut: str, path: Path) -> dict:
        name = f"{fmt}.jpg" if cut == BRANDED else f"{fmt}-{cut}.jpg"
        return {"poster": self.store.put_file(keys.delivery(self.job_id, self.version, name), path, "image/jpeg")}

    def captions(self, overlays: list[Overlay], cuts: list[str], folder: Path) -> dict[str, dict[str, str]]:
        uploaded = {}
        for cut in cuts:
            prefix = "captions" if cut == BRANDED else f"{cut}-captions"
            uploaded[cut] = {
                ext: self.store.put_file(keys.delivery(self.job_id, self.version, f"{prefix}.{ext}"), path,
                                         "text/vtt" if ext == "vtt" else "application/x-subrip")
                for ext, path in caption_files(overlays, cut, folder / cut).items()
            }
        return uploaded


def delivery_facts(
    deliveries: dict[str, dict[str, dict]], cuts: list[str], overlays: list[Overlay],
    contrast: dict[int, dict[str, float]], captions: dict[str, dict[str, str]], generated: list[int],
    listing: Listing,
) -> dict:
    """What final_video_facts lists beyond the first video's probe. With one cut (nothing of
    the agent's to leave out) the unbranded entries name the same files."""
    def of(cut: str) -> str:
        return cut if cut in cuts else BRANDED

    first = next(iter(deliveries.values()))
    disclosed = any(o.kind is OverlayKind.disclosure and o.visible for o in overlays)
    return {
        "deliveries": {fmt: {cut: d[of(cut)] for cut in (BRANDED, UNBRANDED)} for fmt, d in deliveries.items()},
        "unbranded_video_uri": first[of(UNBRANDED)]["video"],
        "poster_uri": first[BRANDED]["poster"],
        "captions": {cut: captions[of(cut)] for cut in (BRANDED, UNBRANDED)},
        "caption_language": listing.caption_language,
        "generated_motion": {"any": bool(generated), "clip_ids": generated, "disclosed": disclosed},
        "overlays": [
            {"kind": o.kind.value, "start": o.start_time, "end": o.end_time, "visible": o.visible,
             "cuts": [c for c in (BRANDED, UNBRANDED) if o.visible and (c == BRANDED or not o.branded_only)],
             "contrast": contrast.get(i, {})}
            for i, o in enumerate(overlays)
        ],
    }


def generated_clips(rows: list[tuple[TimelineClip, Clip]]) -> list[int]:
    travel = get_settings().disclosure_parallax_travel
    return sorted({clip.id for _, clip in rows if is_generated(clip.model_used, clip.render_params, travel)})


def fetch_images(overlays: list[Overlay], store: ArtifactStore) -> dict[str, Image.Image]:
    """The agent card's logo and headshot, by URI, read through the store like every photo."""
    images = {}
    for overlay in overlays:
        if overlay.kind is not OverlayKind.agent_card or not overlay.visible:
            continue
        for key in ("logo_uri", "headshot_uri"):
            uri = overlay.content.get(key)
            if uri and uri not in images:
                try:
                    images[uri] = Image.open(io.BytesIO(store.get_bytes(uri))).convert("RGBA")
                except ArtifactNotFound as err:
                    raise SourceError(f"agent card {key.removesuffix('_uri')}: {uri} is missing from the artifact store") from err
                except RefusedInput as err:
                    raise SourceError(f"agent card {key.removesuffix('_uri')}: {err}") from err
                except (ValueError, OSError) as err:
                    raise SourceError(f"agent card {key.removesuffix('_uri')}: {uri} is not an image: {err}") from err
    return images


@retry_db
def load_timeline(
    job_id: uuid.UUID, version: int | None
) -> tuple[Timeline, list[tuple[TimelineClip, Clip]], list[Overlay], Job]:
    with session_scope() as s:
        job = s.get(Job, job_id)
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
        overlays = read_overlays(s, timeline.id)
    return timeline, [(tc, clip) for tc, clip in rows], overlays, job


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


def format_inputs(spec: TimelineSpec, rows: list[tuple[TimelineClip, Clip]], fmt: str, store: ArtifactStore,
                  work: Path) -> TimelineSpec:
    """The timeline with each shot's clip swapped for its render at `fmt` where Phase 2 made one
    (`clips.format_uris`): a 9:16 cut then shows portrait renders of the photos' crop windows
    rather than a cover crop of the 16:9 clip."""
    shots = []
    for shot, (_, clip) in zip(spec.shots, rows, strict=True):
        uri = (clip.format_uris or {}).get(fmt)
        if uri:
            path = work / "clips" / f"clip-{clip.id}-{fmt}.mp4"
            if not path.exists():
                try:
                    store.get_file(uri, path)
                except ArtifactNotFound as err:
                    raise SourceError(f"clip {clip.id}: its {fmt} render {uri} is missing from the artifact store") from err
            shot = replace(shot, path=path)
        shots.append(shot)
    return replace(spec, shots=tuple(shots))


@stage("upload", io=True)
def upload(store: ArtifactStore, key: str, path: Path) -> str:
    return store.put_file(key, path, "video/mp4")


@retry_db
def set_timeline_status(timeline_id: int, status: TimelineStatus) -> None:
    with session_scope() as s:
        timeline = s.get(Timeline, timeline_id)
        timeline.status = status
        s.add(timeline)


@retry_db
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
