"""The timeline as the renderer sees it: shots on the output's frame grid.

`db.models.TimelineClip` gives seconds: shot i plays source [in, out) at `speed` from
`start_time` (lasting (out-in)/speed), and a transition into it overlaps the previous shot's
tail by `transition_duration`. Here every
position becomes a frame index at the timeline's fps, rounded once from an absolute time (never
accumulated), so a 60-shot timeline ends on the frame its total_duration names instead of
drifting by a rounding error per shot. Rows that contradict each other by more than a frame are
refused rather than guessed at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from db.enums import AudioPolicy, TransitionType
from tasks.assemble.errors import TimelineError


@dataclass(frozen=True)
class Shot:
    """One timeline_clips row, with its clip's file fetched to a local path."""

    clip_id: int
    path: Path
    in_time: float
    out_time: float
    start_time: float
    transition: TransitionType = TransitionType.cut
    transition_duration: float = 0.0
    audio_policy: AudioPolicy = AudioPolicy.music_only
    speed: float = 1.0

    @property
    def length(self) -> float:
        """Seconds it lasts on the output."""
        return (self.out_time - self.in_time) / self.speed


@dataclass(frozen=True)
class TimelineSpec:
    shots: tuple[Shot, ...]
    fps: int
    total_duration: float
    music: Path | None = None


@dataclass(frozen=True)
class Span:
    """Shot `index` on the output grid: frames [start, end), source frames from source_start.

    fade_in is the length in frames of the transition into it (0: a cut); fade_out is the
    next shot's fade_in. Transitions overlap, so span i's last fade_out frames are span i+1's
    first fade_in frames. At `speed` below 1 its frames show source frames more slowly than
    one per frame: its first n frames need source_frames(n) source frames.
    """

    index: int
    start: int
    end: int
    source_start: int
    fade_in: int
    fade_out: int
    speed: float = 1.0

    @property
    def frames(self) -> int:
        return self.end - self.start

    def source_frames(self, frames: int) -> int:
        """Source frames its first `frames` output frames show (the last one partly, slowed)."""
        return math.ceil(frames * self.speed - 1e-6)


def to_frames(seconds: float, fps: int) -> int:
    """Nearest frame, halves rounded up (Python's round() would round half to even)."""
    return math.floor(seconds * fps + 0.5)


def transition_frames(shot: Shot, fps: int) -> int:
    """Frames of the transition into `shot`; a cut, or an xfade too short for one frame, is 0."""
    if shot.transition is TransitionType.cut:
        return 0
    return to_frames(shot.transition_duration, fps)


def frame_layout(spec: TimelineSpec) -> tuple[Span, ...]:
    """Every shot's frame range, checked against its trim, its neighbours and the total."""
    shots, fps = spec.shots, spec.fps
    if not shots:
        raise TimelineError("the timeline has no shots")
    if fps <= 0:
        raise TimelineError(f"the timeline's fps must be positive, got {fps}")
    first = shots[0]
    if first.transition is not TransitionType.cut:
        raise TimelineError(f"shot 0 (clip {first.clip_id}) has a {first.transition.value} transition; the first shot must start with a cut")
    if to_frames(first.start_time, fps) != 0:
        raise TimelineError(f"shot 0 (clip {first.clip_id}) starts at {first.start_time:.3f} s; the timeline must start at 0")

    starts = [to_frames(shot.start_time, fps) for shot in shots]
    fades = [0] + [transition_frames(shot, fps) for shot in shots[1:]]
    last = shots[-1]
    ends = [starts[i + 1] + fades[i + 1] for i in range(len(shots) - 1)]
    ends.append(to_frames(last.start_time + last.length, fps))

    spans = []
    for i, shot in enumerate(shots):
        name = f"shot {i} (clip {shot.clip_id})"
        if shot.out_time <= shot.in_time or shot.in_time < 0:
            raise TimelineError(f"{name} has an empty trim [{shot.in_time:.3f}, {shot.out_time:.3f})")
        if shot.speed <= 0:
            raise TimelineError(f"{name} has speed {shot.speed:g}; it must be positive")
        frames = ends[i] - starts[i]
        trimmed = shot.length * fps
        if frames < 1 or abs(frames - trimmed) > 1:
            raise TimelineError(
                f"{name}: its start time and the next shot's place it over {frames / fps:.3f} s, "
                f"but its trim is {trimmed / fps:.3f} s on screen"
            )
        fade_out = fades[i + 1] if i + 1 < len(shots) else 0
        if fades[i] + fade_out > frames:
            raise TimelineError(
                f"{name} lasts {frames / fps:.3f} s, shorter than its transitions in and out "
                f"({fades[i] / fps:.3f} s + {fade_out / fps:.3f} s)"
            )
        spans.append(Span(i, starts[i], ends[i], to_frames(shot.in_time, fps), fades[i], fade_out, shot.speed))

    if abs(ends[-1] - spec.total_duration * fps) > 1:
        raise TimelineError(
            f"the shots end at {ends[-1] / fps:.3f} s but the timeline's total_duration is {spec.total_duration:.3f} s"
        )
    return tuple(spans)
