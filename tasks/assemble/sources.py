"""Checking the fetched clip files and music before any rendering starts.

Rendering is the expensive part, so everything that can be known about the inputs is checked
first: the file is there and decodes, and it is long enough for the frames its shot takes.
Each failure names the clip (or the music) so the timeline row to fix is obvious.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import av

from tasks.assemble.errors import SourceError
from tasks.assemble.layout import Span, TimelineSpec
from tasks.media.video import VideoError, probe

SOURCE_SLACK_FRAMES = 1
"""A clip may end this many output frames before its trim's end; the renderer holds its last
frame. It absorbs rounding between a clip's own frame grid and the timeline's, nothing more."""


@dataclass(frozen=True)
class ClipSource:
    frames: int  # frames it holds at the timeline's fps
    has_audio: bool
    width: int = 0
    height: int = 0


def inspect_clip(clip_id: int, path: Path, fps: int) -> ClipSource:
    if not path.is_file():
        raise SourceError(f"clip {clip_id}: its file {path.name} is missing")
    try:
        info = probe(path)
        with av.open(str(path)) as container:
            has_audio = bool(container.streams.audio)
    except (VideoError, av.error.FFmpegError) as err:
        raise SourceError(f"clip {clip_id}: {err}") from err
    if not info.frame_count or not info.fps:
        raise SourceError(f"clip {clip_id}: {path.name} holds no video frames")
    return ClipSource(frames=math.floor(info.frame_count * fps / info.fps + 1e-6), has_audio=has_audio,
                      width=info.width, height=info.height)


def inspect_sources(spec: TimelineSpec, spans: tuple[Span, ...]) -> dict[int, ClipSource]:
    """Every clip's facts by clip id; refuses a clip shorter than a shot's trim of it."""
    sources: dict[int, ClipSource] = {}
    for span in spans:
        shot = spec.shots[span.index]
        if shot.clip_id not in sources:
            sources[shot.clip_id] = inspect_clip(shot.clip_id, shot.path, spec.fps)
        available = sources[shot.clip_id].frames
        if span.source_start + span.source_frames(span.frames) > available + SOURCE_SLACK_FRAMES:
            raise SourceError(
                f"clip {shot.clip_id} is {available / spec.fps:.3f} s long, but shot {span.index} "
                f"trims it to [{shot.in_time:.3f}, {shot.out_time:.3f}) s"
            )
    if spec.music is not None:
        inspect_music(spec.music)
    return sources


def inspect_music(path: Path) -> None:
    if not path.is_file():
        raise SourceError(f"music {path.name}: the file is missing")
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise SourceError(f"music {path.name}: the file has no audio stream")
    except av.error.FFmpegError as err:
        raise SourceError(f"music {path.name}: {err}") from err
