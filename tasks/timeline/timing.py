"""When each shot starts and which part of its clip it plays (pure).

Everything is decided in whole output frames, then written as seconds, so the renderer's
frame grid and this plan agree exactly (see db.models.TimelineClip for what the numbers mean).

With beat sync on, every cut (a shot's start_time; for a transition, the moment it begins)
lands on one of the music's tracked beats, never on a time computed from the tempo. The
template picks which beats (tasks.domain.pacing.Pulse): every beat, every second one or every fourth (the
slowest of these at or under EDITING_BAND's top, so fast music is cut on every other beat,
never on a halved, resampled grid), or only bar starts (`cut_on="bars"`, the luxury style).
A dynamic programme over those cut points keeps each shot's length near an even share of the
total and inside the template's range, prefers downbeats, and never asks a clip for more
footage than was rendered. Without beat sync, without music, or when the music has no
reliable beat (BeatGrid.reliable), the shots share the length evenly instead. The total is the
target to within a frame, unless the footage or the music is shorter.

A shot may play slowed down (`speed` < 1, chosen by tasks.timeline.compose when the footage is
short): its clip then fills `cap / speed` output frames, so every length decided here is in
output frames and only the trim (source seconds) is scaled by the speed.

Edits reuse `lay_out`: shots keep their lengths, and with beat sync each cut is moved to the
nearest cut point its clips can reach.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from db.enums import AudioPolicy, TransitionType
from tasks.domain.beat_grid import BeatGrid
from tasks.domain.pacing import Pulse, Rhythm
from tasks.domain.templates import Template

# Costs of the beat DP. A shot length off its share by 100 % costs 1; outside the template's
# range it costs RANGE_WEIGHT more per (relative excess)^2, so the range wins unless the
# footage forbids it. Cutting on a beat that is not a downbeat costs OFF_DOWNBEAT; on a phrase
# start it gains PHRASE_BONUS. Each second the video falls short of its total costs SHORT_PER_S,
# so length is given up only where no cut plan reaches it.
RANGE_WEIGHT = 10.0
OFF_DOWNBEAT = 0.3
PHRASE_BONUS = 0.05
SHORT_PER_S = 100.0


def anchor(occurrence: int) -> float:
    """Where in its clip a shot sits (0 start, 1 end): the middle, where generated motion is
    steadiest; a repeat shows another part: the start, the end, then halfway between parts shown."""
    if occurrence < 3:
        return (0.5, 0.0, 1.0)[occurrence]
    n, denominator, value = occurrence - 1, 1.0, 0.0  # van der Corput: 1/4, 3/4, 1/8, 5/8, ...
    while n:
        denominator *= 2
        n, bit = divmod(n, 2)
        value += bit / denominator
    return value


class TimingError(ValueError):
    """No timing satisfies the clips' lengths; the message names the shot."""


@dataclass(frozen=True)
class ShotInput:
    clip_id: int
    duration: float  # seconds the clip has
    transition: TransitionType  # into this shot (the first is always a cut)
    occurrence: int = 0
    speed: float = 1.0  # playback speed: the clip fills duration / speed seconds


@dataclass(frozen=True)
class ShotTiming:
    """One timeline_clips row."""

    clip_id: int
    in_time: float
    out_time: float
    start_time: float
    transition: TransitionType
    transition_duration: float
    audio_policy: AudioPolicy
    speed: float = 1.0

    @property
    def length(self) -> float:
        """Seconds the shot lasts on the output: its trim played at its speed."""
        return (self.out_time - self.in_time) / self.speed


@dataclass
class Segment:
    """A shot while it is being laid out, in frames: its exclusive length runs from its start
    to the next shot's start; its clip also plays under the next shot's transition."""

    clip_id: int
    cap: int  # source frames its clip has
    length: int
    transition: TransitionType
    fade: int  # frames of the transition into it
    in_frame: int | None = None  # None: placed at the anchor
    anchor: float = 0.5
    audio: AudioPolicy = AudioPolicy.music_only
    speed: float = 1.0

    @property
    def reach(self) -> int:
        """Output frames its clip fills at its speed."""
        return math.floor(self.cap / self.speed + 1e-6)


def transition_for(template: Template, index: int, room_change: bool, closing: bool) -> TransitionType:
    """The template's rule for the transition into shot `index`."""
    if index == 0:
        return TransitionType.cut
    if closing:
        return template.closing_transition
    return template.room_change_transition if room_change else template.same_room_transition


def audio_policy_for(template: Template, has_music: bool) -> AudioPolicy:
    """With music the template's policy; without, clip audio stays muted too: a silent video,
    because generated clips carry no sound a listing video should play on its own."""
    return template.audio_policy if has_music else AudioPolicy.music_only


def frames(seconds: float, fps: int) -> int:
    """Nearest frame, halves up (the renderer rounds the same way)."""
    return math.floor(seconds * fps + 0.5)


def cap_frames(duration: float, fps: int) -> int:
    """Whole frames of a clip: never more than it has."""
    return math.floor(duration * fps + 1e-6)


def fade_frames(transition: TransitionType, seconds: float, fps: int) -> int:
    return 0 if transition is TransitionType.cut else frames(seconds, fps)


def _length_cost(length: np.ndarray | float, ideal: float, lo: float, hi: float) -> np.ndarray:
    length = np.asarray(length, dtype=float)
    under = np.maximum(lo - length, 0.0) / lo
    over = np.maximum(length - hi, 0.0) / hi
    return ((length - ideal) / ideal) ** 2 + RANGE_WEIGHT * (under**2 + over**2)


def _beat_cuts(grid: BeatGrid, pulse: Pulse, total: int, fps: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidate cut frames strictly inside the video, and the cost of cutting on each."""
    downbeats = {frames(t, fps) for t in grid.downbeats}
    phrases = {frames(t, fps) for t in grid.phrases}
    cuts = sorted({frames(t, fps) for t in pulse.cuts} - {0})
    cuts = [c for c in cuts if c < total]
    cost = [(0.0 if c in downbeats else OFF_DOWNBEAT) - (PHRASE_BONUS if c in phrases else 0.0) for c in cuts]
    return np.array(cuts, dtype=int), np.array(cost, dtype=float)


def _beat_lengths(segs: Sequence[Segment], rhythm: Rhythm, fps: int) -> list[int]:
    """Exclusive lengths whose cuts all fall on beats (dynamic programming over the beats)."""
    assert rhythm.grid is not None and rhythm.pulse is not None
    total = frames(rhythm.total, fps)
    n = len(segs)
    lo, hi = (r * fps for r in rhythm.shot_range)
    hold = rhythm.closing_hold * fps
    share = max((total - hold) / n, 1.0)
    if n == 1:
        return [min(total, segs[0].reach)]
    cuts, cut_cost = _beat_cuts(rhythm.grid, rhythm.pulse, total, fps)
    if len(cuts) < n - 1:
        raise TimingError(f"{n} shots need {n - 1} cuts but the music has {len(cuts)} cut points "
                          f"({rhythm.pulse.on}) in {rhythm.total:.2f} s")
    inf = math.inf
    # best[k][j]: cost of shots 0..k-1 with cut k on cuts[j]; prev[k][j] the cut before it
    best = np.full((n, len(cuts)), inf)
    prev = np.full((n, len(cuts)), -1, dtype=int)
    first = segs[0]
    demand = cuts + segs[1].fade
    ok = (demand <= first.reach) & (cuts >= max(first.fade, 1))
    best[1] = np.where(ok, _length_cost(cuts, share, lo, hi) + cut_cost, inf)
    for k in range(2, n):
        seg, fade_next = segs[k - 1], segs[k].fade
        length = cuts[None, :] - cuts[:, None]  # [previous cut, this cut]
        ok = (length >= max(seg.fade, 1)) & (length + fade_next <= seg.reach)
        total_cost = np.where(ok, best[k - 1][:, None] + _length_cost(length, share, lo, hi), inf)
        prev[k] = np.argmin(total_cost, axis=0)
        best[k] = total_cost[prev[k], np.arange(len(cuts))] + cut_cost
    last = segs[-1]
    end = np.minimum(total, cuts + last.reach)  # the last shot cannot outlast its clip
    last_len = end - cuts
    ok = last_len >= max(last.fade, 1)
    final = np.where(
        ok, best[n - 1] + _length_cost(last_len, share + hold, lo, hi + hold) + SHORT_PER_S * (total - end) / fps, inf
    )
    j = int(np.argmin(final))
    if not math.isfinite(final[j]):
        raise TimingError(
            f"no cut plan puts {n} shots on the beats: the clips are too short for the music's "
            f"{rhythm.grid.tempo:.1f} BPM and the transitions (shortest clip {min(s.reach for s in segs) / fps:.2f} s)"
        )
    positions = [int(cuts[j])]
    for k in range(n - 1, 1, -1):
        j = int(prev[k][j])
        positions.append(int(cuts[j]))
    positions = [0, *reversed(positions), int(end[np.argmin(final)])]
    return [b - a for a, b in pairwise(positions)]


def _even_lengths(segs: Sequence[Segment], total: int) -> list[int]:
    """Equal exclusive lengths, except where a clip is too short: the others make up for it."""
    caps = [s.reach - nxt.fade for s, nxt in pairwise(segs)] + [segs[-1].reach]
    if sum(caps) <= total:
        return caps
    lo, hi = 0, max(caps)  # the largest equal share x with sum(min(cap, x)) <= total
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if sum(min(c, mid) for c in caps) <= total else (lo, mid - 1)
    lengths = [min(c, lo) for c in caps]
    spare = total - sum(lengths)
    for i, c in enumerate(caps):  # the frames rounding left over, one each
        if spare and lengths[i] < c:
            lengths[i] += 1
            spare -= 1
    return lengths


def plan_timing(shots: Sequence[ShotInput], rhythm: Rhythm, fps: int, audio: AudioPolicy) -> list[ShotTiming]:
    """Lengths, trims and transitions of the given shots, in order."""
    if not shots:
        raise TimingError("no shots to time")
    segs = [
        Segment(
            clip_id=s.clip_id, cap=cap_frames(s.duration, fps), length=0,
            transition=TransitionType.cut if i == 0 else s.transition,
            fade=0 if i == 0 else fade_frames(s.transition, rhythm.transition, fps),
            anchor=anchor(s.occurrence), audio=audio, speed=s.speed,
        )
        for i, s in enumerate(shots)
    ]
    for s in segs:
        if s.reach < 1:
            raise TimingError(f"clip {s.clip_id} has no whole frame of footage")
    if rhythm.grid is not None:
        lengths = _beat_lengths(segs, rhythm, fps)
    else:
        lengths = _even_lengths(segs, frames(rhythm.total, fps))
    for seg, length in zip(segs, lengths):
        seg.length = length
    return lay_out(segs, fps)


def lay_out(
    segs: Sequence[Segment], fps: int, snap: Sequence[float] | None = None, limit: float | None = None
) -> list[ShotTiming]:
    """Rows from segments: starts from the lengths (each cut moved to the nearest reachable
    cut point when `snap` times are given), then each clip's trim, kept where asked and inside the clip.
    The video ends by `limit` seconds (the music's end) where given."""
    segs = list(segs)
    starts = [0]
    for k in range(1, len(segs)):
        prev, seg = segs[k - 1], segs[k]
        earliest = starts[-1] + max(prev.fade, 1)
        latest = starts[-1] + prev.reach - seg.fade  # the previous clip must cover the transition
        wanted = starts[-1] + min(prev.length, prev.reach - seg.fade)
        if latest < earliest:
            raise TimingError(
                f"shot {k - 1} (clip {prev.clip_id}) has {prev.reach / fps:.2f} s of footage, too little "
                f"for its transitions ({prev.fade / fps:.2f} s in, {seg.fade / fps:.2f} s out)"
            )
        if snap is not None:
            reachable = [f for f in (frames(b, fps) for b in snap) if earliest <= f <= latest]
            if not reachable:
                raise TimingError(f"no cut point lies where shot {k - 1} (clip {prev.clip_id}) can end")
            wanted = min(reachable, key=lambda f: (abs(f - wanted), f))
        starts.append(max(earliest, wanted))
    last = segs[-1]
    end = starts[-1] + min(last.length, last.reach)
    if limit is not None:
        end = min(end, frames(limit, fps))
    if end - starts[-1] < max(last.fade, 1):
        raise TimingError(f"the last shot (clip {last.clip_id}) is shorter than its transition")
    bounds = [*starts, end]
    rows = []
    for k, seg in enumerate(segs):
        fade_next = segs[k + 1].fade if k + 1 < len(segs) else 0
        source = (bounds[k + 1] - bounds[k] + fade_next) * seg.speed  # source frames it plays
        slack = math.floor(seg.cap - source + 1e-6)
        in_frame = min(round(seg.anchor * slack) if seg.in_frame is None else seg.in_frame, slack)
        rows.append(ShotTiming(
            clip_id=seg.clip_id,
            in_time=round(in_frame / fps, 6),
            out_time=round((in_frame + source) / fps, 6),
            start_time=round(bounds[k] / fps, 6),
            transition=seg.transition,
            transition_duration=round(seg.fade / fps, 6),
            audio_policy=seg.audio,
            speed=seg.speed,
        ))
    return rows


def total_duration(rows: Sequence[ShotTiming], fps: int) -> float:
    """Where the last shot ends, on the frame grid."""
    last = rows[-1]
    return round((frames(last.start_time, fps) + frames(last.length, fps)) / fps, 6)


def segments_of(rows: Sequence[ShotTiming], caps: Sequence[int], fps: int) -> list[Segment]:
    """Rows back into segments (lengths and trims in frames), for edits to rearrange."""
    bounds = [frames(r.start_time, fps) for r in rows]
    bounds.append(bounds[-1] + frames(rows[-1].length, fps))
    return [
        Segment(
            clip_id=r.clip_id, cap=cap, length=bounds[k + 1] - bounds[k], transition=r.transition,
            fade=frames(r.transition_duration, fps), in_frame=frames(r.in_time, fps), audio=r.audio_policy,
            speed=r.speed,
        )
        for k, (r, cap) in enumerate(zip(rows, caps))
    ]
