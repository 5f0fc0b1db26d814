"""Cutting a long timeline into segments that ffmpeg renders one at a time.

One filter graph for 60 shots opens 60 decoders at once; a segment holds at most
`max_shots` pieces, so memory is bounded by the segment, not the timeline. Segments are
joined without re-encoding, so a boundary must fall where nothing is being blended:
- at a cut (the latest one the window allows), else
- inside a shot, just after its incoming transition has finished: both halves show the same
  source frames they would have shown unsplit, so the join is invisible and the frame (and
  audio sample) count is unchanged. A slowed shot's pieces all read its clip from the shot's
  first source frame and skip the frames before the piece after slowing, so each shows what
  the unsplit shot would.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from tasks.assemble.layout import Span


@dataclass(frozen=True)
class Piece:
    """Frames [start, end) of `span` (the whole shot, or the part of it in one segment)."""

    span: Span
    start: int
    end: int

    @property
    def frames(self) -> int:
        return self.end - self.start

    @property
    def offset(self) -> int:
        """Frames of its shot before it."""
        return self.start - self.span.start

    @property
    def source_start(self) -> int:
        """The first source frame it reads: its own, or a slowed shot's first (see above)."""
        return self.span.source_start + (self.offset if self.span.speed == 1 else 0)

    @property
    def source_end(self) -> int:
        """The source frame after the last it shows."""
        return self.span.source_start + self.span.source_frames(self.end - self.span.start)

    @property
    def fade_in(self) -> int:
        return self.span.fade_in if self.start == self.span.start else 0

    @property
    def fade_out(self) -> int:
        return self.span.fade_out if self.end == self.span.end else 0


@dataclass(frozen=True)
class Segment:
    index: int
    pieces: tuple[Piece, ...]

    @property
    def start(self) -> int:
        return self.pieces[0].start

    @property
    def end(self) -> int:
        return self.pieces[-1].end

    @property
    def frames(self) -> int:
        return self.end - self.start


def plan_segments(spans: tuple[Span, ...], max_shots: int) -> tuple[Segment, ...]:
    """Consecutive segments of at most `max_shots` pieces covering every frame once."""
    if max_shots < 2:
        raise ValueError("a segment needs room for at least two shots")
    segments: list[Segment] = []
    i, head_start = 0, spans[0].start  # next span, and where its unrendered part starts

    def add(pieces: list[Piece]) -> None:
        segments.append(Segment(len(segments), tuple(pieces)))

    while True:
        first = Piece(spans[i], head_start, spans[i].end)
        limit = i + max_shots
        if limit >= len(spans):
            add([first, *whole(spans[i + 1 :])])
            return tuple(segments)
        cut = next((m for m in range(limit, i, -1) if spans[m].fade_in == 0), None)
        if cut is not None:
            add([first, *whole(spans[i + 1 : cut])])
            i, head_start = cut, spans[cut].start
        else:
            # Split the window's last shot once its transition in is done. Having no cut on
            # either side, it has a transition in and one out, so both halves are non-empty.
            last = spans[limit - 1]
            split = last.start + last.fade_in
            add([first, *whole(spans[i + 1 : limit - 1]), Piece(last, last.start, split)])
            i, head_start = limit - 1, split


def plan_balanced(spans: tuple[Span, ...], parts: int) -> tuple[Segment, ...]:
    """About `parts` segments of equal length, for rendering side by side.

    Each boundary is the seamless point nearest its share of the frames: any frame of a
    shot's body (after its transition in, up to the start of its transition out), so both
    sides of every transition stay in one segment. Shot counts are not bounded here; the
    caller checks them against its memory limit.
    """
    total = spans[-1].end
    bodies = [(s.start + s.fade_in, s.end - s.fade_out) for s in spans if s.start + s.fade_in <= s.end - s.fade_out]
    cuts = []
    for k in range(1, parts):
        target = round(k * total / parts)
        nearest = min((min(max(target, lo), hi) for lo, hi in bodies), key=lambda f: abs(f - target))
        if 0 < nearest < total and (not cuts or nearest > cuts[-1]):
            cuts.append(nearest)
    bounds = [0, *cuts, total]
    return tuple(
        Segment(i, tuple(Piece(s, max(a, s.start), min(b, s.end)) for s in spans if s.start < b and s.end > a))
        for i, (a, b) in enumerate(pairwise(bounds))
    )


def whole(spans: tuple[Span, ...]) -> list[Piece]:
    return [Piece(span, span.start, span.end) for span in spans]
