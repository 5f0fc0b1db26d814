"""Rendering a timeline to an mp4: check the inputs, render segments, mix audio, join.

Files only, no database and no store: `phase.py` fetches the inputs and keeps the result.
Every intermediate lives in `workdir`, so a failure leaves nothing anywhere else.
"""

from __future__ import annotations

import contextvars
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from tasks.assemble.errors import AssembleError
from tasks.assemble.graph import (
    CardPlacement,
    Encoder,
    MusicPlan,
    concat_list,
    join_command,
    mix_command,
    segment_bed_command,
    segment_video_command,
)
from tasks.assemble.layout import Span, TimelineSpec, frame_layout
from tasks.assemble.loudness import (
    LoudnessTarget,
    Measurement,
    measure_filter,
    normalize_filter,
    parse_loudnorm,
)
from tasks.assemble.mixing import music_gain_expression, shot_gains
from tasks.assemble.segments import Segment, plan_balanced, plan_segments
from tasks.assemble.sources import ClipSource, inspect_sources
from tasks.domain.formats import OutputFormat, source_pixels_per_output_pixel
from tasks.media.ffmpeg import FFmpegError, run_ffmpeg
from tasks.settings import Settings
from tasks.usage import cores

log = structlog.get_logger(__name__)

# Segments rendered side by side must each be long enough to pay for a second ffmpeg
# (start-up, a keyframe, x264's lookahead filling): below this a timeline stays in one piece.
MIN_PARALLEL_SEGMENT_S = 8.0
# Cores one segment's ffmpeg keeps busy by itself: it decodes, filters and encodes on threads
# of their own, and x264 encodes several frames at once. On 2 cores one segment used 1.8 of
# them, and two side by side were no faster but held 350 MB more (bench/results/pipeline.md),
# so segments run in parallel only where there are cores beyond what one keeps busy.
CORES_PER_SEGMENT = 4


@dataclass(frozen=True)
class RenderOptions:
    fmt: OutputFormat
    encoder: Encoder
    fit: str
    max_shots: int
    workers: int  # segments rendered at once
    loudness: LoudnessTarget
    audio_bitrate: str
    music_fade_in_s: float
    music_fade_out_s: float
    duck_db: float


def render_options(fmt: OutputFormat, settings: Settings) -> RenderOptions:
    """Everything a render needs from the settings; a preview swaps in the fast encoder."""
    encoder = (
        Encoder(settings.preview_x264_preset, settings.preview_crf)
        if fmt.preview
        else Encoder(settings.assemble_x264_preset, settings.assemble_crf)
    )
    return RenderOptions(
        fmt=fmt,
        encoder=encoder,
        fit=settings.assemble_fit,
        max_shots=settings.assemble_segment_shots,
        workers=settings.assemble_segment_workers or max(1, cores() // CORES_PER_SEGMENT),
        loudness=LoudnessTarget(
            integrated=settings.loudness_lufs,
            true_peak=settings.true_peak_dbtp - settings.true_peak_margin_db,
            loudness_range=settings.loudness_range_lu,
        ),
        audio_bitrate=settings.audio_bitrate,
        music_fade_in_s=settings.music_fade_in_s,
        music_fade_out_s=settings.music_fade_out_s,
        duck_db=settings.duck_music_db,
    )


@dataclass(frozen=True)
class Cut:
    """One version of the pictures from the same timeline: its name and the cards drawn over it
    (the branded cut and the MLS-unbranded one differ only in these)."""

    name: str = "final"
    cards: tuple[CardPlacement, ...] = ()


@dataclass(frozen=True)
class RenderResult:
    path: Path  # the first cut's
    frames: int
    segments: int
    loudness_in: Measurement | None  # the mix before normalisation; None when it is silent
    cuts: dict[str, Path] = field(default_factory=dict)  # every cut's file by name
    # the fewest source pixels behind an output pixel over all shots (linear): below 1 some
    # shot was upscaled to fill the format
    source_scale: float = 1.0


@dataclass(frozen=True)
class MixedAudio:
    path: Path  # AAC, exactly the timeline's length
    loudness_in: Measurement | None  # the mix before normalisation; None when it is silent


def render_timeline(
    spec: TimelineSpec, options: RenderOptions, workdir: Path, cuts: Sequence[Cut] = (Cut(),),
    audio: Future[MixedAudio] | None = None,
) -> RenderResult:
    """Render `spec` once per cut to `workdir`/<cut name>.mp4 (H.264 yuv420p + AAC, +faststart).

    `audio` is the timeline's sound when the caller mixes it once for several formats (see
    mix_timeline); without it the sound is mixed here. Either way it is mostly single-threaded
    and independent of the pictures, so it runs beside the video segments and fills the cores
    x264 leaves idle; every cut shares it.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    spans = frame_layout(spec)
    sources = inspect_sources(spec, spans)
    segments = plan_parallel_segments(spans, spec.fps, options)
    bound = log.bind(shots=len(spans), segments=len(segments), format=options.fmt.name)
    bound.info("assemble.render.started", frames=spans[-1].end)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="assemble-audio") as pool:
        mixing = audio or pool.submit(contextvars.copy_context().run, mix_timeline, spec, options, workdir)
        videos: dict[str, list[Path]] = {
            cut.name: [workdir / f"{cut.name}-segment-{segment.index:03d}.mp4" for segment in segments] for cut in cuts
        }

        def render_segment(segment: Segment) -> None:
            if mixing.done():
                mixing.result()  # an audio failure stops the video work early
            outputs = [(videos[cut.name][segment.index], cut.cards) for cut in cuts]
            ffmpeg(
                segment_video_command(segment, spec.shots, spec.fps, options.fmt, options.fit, options.encoder,
                                      outputs),
                f"segment {segment.index + 1} of {len(segments)} ({', '.join(c.name for c in cuts)}), "
                f"{clips_of(spec, segment)}",
            )
            bound.info("assemble.segment.rendered", cuts=[c.name for c in cuts], segment=segment.index,
                       frames=segment.frames)

        with ThreadPoolExecutor(max_workers=min(options.workers, len(segments)),
                                thread_name_prefix="assemble-video") as video_pool:
            rendering = [video_pool.submit(contextvars.copy_context().run, render_segment, segment)
                         for segment in segments]
            try:
                for done in rendering:
                    done.result()
            except BaseException:
                video_pool.shutdown(cancel_futures=True)  # segments not started yet never start
                raise
        mixed = mixing.result()

    finals = {}
    for name, parts in videos.items():
        video_list = workdir / f"{name}-segments.txt"
        video_list.write_text(concat_list(parts))
        finals[name] = workdir / f"{name}.mp4"
        ffmpeg(join_command(video_list, mixed.path, finals[name]), f"joining the {name} cut's segments and audio")
        for video in parts:
            video.unlink()
    bound.info("assemble.render.finished", paths=[str(p) for p in finals.values()])
    first = finals[cuts[0].name]
    return RenderResult(first, spans[-1].end, len(segments), mixed.loudness_in, finals, source_scale(sources, options))


def source_scale(sources: dict[int, ClipSource], options: RenderOptions) -> float:
    """The fewest source pixels per output pixel over the clips, as the fit scales them."""
    fmt = options.fmt
    return round(min(source_pixels_per_output_pixel(s.width, s.height, fmt.width, fmt.height, options.fit)
                     for s in sources.values()), 4)


def plan_parallel_segments(spans: tuple[Span, ...], fps: int, options: RenderOptions) -> tuple[Segment, ...]:
    """One segment per worker, of about equal length, when the timeline is long enough to
    split (MIN_PARALLEL_SEGMENT_S each) and no segment then holds more than `max_shots`
    pieces (memory); otherwise segments of at most `max_shots` pieces, ended at cuts.

    Segments render side by side in their own ffmpeg, so one's decoding and filtering runs
    while another encodes, and x264's serial parts (lookahead, bitstream) overlap too.
    """
    parallel = max(1, min(options.workers, int(spans[-1].end / fps // MIN_PARALLEL_SEGMENT_S)))
    if parallel > 1:
        balanced = plan_balanced(spans, parallel)
        if all(len(segment.pieces) <= options.max_shots for segment in balanced):
            return balanced
    return plan_segments(spans, options.max_shots)


def mix_timeline(spec: TimelineSpec, options: RenderOptions, workdir: Path) -> MixedAudio:
    """The timeline's sound as `workdir`/audio.m4a: the shots' own audio where their policy lets
    it play, the music under it (ducked by the same policies), two-pass loudness, AAC.

    It depends on the timeline alone, not on the format: one mix serves every format and cut
    (mixed from the primary clips, the ones that carry any sound of their own)."""
    workdir.mkdir(parents=True, exist_ok=True)
    spans = frame_layout(spec)
    sources = inspect_sources(spec, spans)
    gains = [shot_gains(spec.shots[span.index], options.duck_db) for span in spans]
    clip_gains = {
        span.index: gain.clip
        for span, gain in zip(spans, gains)
        if gain.clip > 0 and sources[spec.shots[span.index].clip_id].has_audio
    }
    music = (
        MusicPlan(
            spec.music,
            options.music_fade_in_s,
            options.music_fade_out_s,
            music_gain_expression(spans, [g.music for g in gains], spec.fps),
        )
        if spec.music is not None
        else None
    )
    out = workdir / "audio.m4a"
    measured = render_audio(spec, plan_segments(spans, options.max_shots), clip_gains, music, spans[-1].end, options,
                            workdir, out)
    return MixedAudio(out, measured)


def render_audio(
    spec: TimelineSpec,
    segments: tuple[Segment, ...],
    clip_gains: dict[int, float],
    music: MusicPlan | None,
    frames: int,
    options: RenderOptions,
    workdir: Path,
    out: Path,
) -> Measurement | None:
    """Beds (where some shot's own audio plays), then the mix with two-pass loudness."""
    bed_list = None
    beds = []
    if clip_gains:
        for segment in segments:
            bed = workdir / f"bed-{segment.index:03d}.wav"
            ffmpeg(
                segment_bed_command(segment, spec.shots, spec.fps, clip_gains, bed),
                f"audio of segment {segment.index + 1} of {len(segments)}, {clips_of(spec, segment)}",
            )
            beds.append(bed)
        bed_list = workdir / "beds.txt"
        bed_list.write_text(concat_list(beds))
    measured = mix_audio(bed_list, music, frames, spec.fps, options, out)
    for bed in beds:
        bed.unlink()
    return measured


def clips_of(spec: TimelineSpec, segment: Segment) -> str:
    return "clips " + ", ".join(str(spec.shots[p.span.index].clip_id) for p in segment.pieces)


def mix_audio(
    bed_list: Path | None, music: MusicPlan | None, frames: int, fps: int, options: RenderOptions, out: Path
) -> Measurement | None:
    """Two-pass loudnorm: measure the mix, then normalise it while encoding AAC.

    A silent mix (no music, no audible clip audio) has no loudness to normalise: it is
    encoded as silence of the right length, which players still expect to find.
    """
    what = f"music {music.path.name}" if music else "without music"
    stderr = ffmpeg(
        mix_command(bed_list, music, frames, fps, measure_filter(options.loudness), ["-f", "null", "-"]),
        f"measuring loudness ({what})",
    )
    measured = parse_loudnorm(stderr)
    loudnorm = None if measured.silent else normalize_filter(options.loudness, measured)
    # The fast coder takes half the CPU of the default twoloop one, transparently at 256k.
    encode = ["-c:a", "aac", "-aac_coder", "fast", "-b:a", options.audio_bitrate, str(out)]
    ffmpeg(mix_command(bed_list, music, frames, fps, loudnorm, encode), f"mixing audio ({what})")
    return None if measured.silent else measured


def ffmpeg(args: list[str], what: str) -> str:
    try:
        return run_ffmpeg(args, what)
    except FFmpegError as err:
        raise AssembleError(str(err), err.lines) from err
