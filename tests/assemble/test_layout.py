"""The frame grid: TimelineClip's seconds become frames exactly as its docstring defines them."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import pytest

from db.enums import TransitionType
from tasks.assemble.errors import TimelineError
from tasks.assemble.layout import Span, frame_layout, to_frames
from tasks.domain.formats import FORMATS, format_for_size, resolve_format
from tests.assemble.media import shot, spec_of

CLIP = Path("clip.mp4")


def test_cuts_and_transitions_land_on_frames() -> None:
    spec = spec_of([
        shot(1, CLIP, 0.5, 2.0),
        shot(2, CLIP, 0.0, 1.5),
        shot(3, CLIP, 0.2, 1.7, "fade", 0.5),
        shot(4, CLIP, 1.0, 2.0),
    ])
    assert [s.start_time for s in spec.shots] == [0.0, 1.5, 2.5, 4.0]
    assert frame_layout(spec) == (
        Span(0, 0, 45, 15, 0, 0),
        Span(1, 45, 90, 0, 0, 15),
        Span(2, 75, 120, 6, 15, 0),
        Span(3, 120, 150, 30, 0, 0),
    )


def test_sixty_shots_of_odd_lengths_do_not_drift() -> None:
    """Positions are rounded from absolute times, so 60 shots of 1.01 s end where total_duration says."""
    shots = [shot(i, CLIP, 0.0, 1.01, "cut" if i % 2 else "fade", 0.0 if i % 2 else 0.27) for i in range(60)]
    shots[0] = shot(0, CLIP, 0.0, 1.01)
    spec = spec_of(shots)
    spans = frame_layout(spec)
    assert spans[-1].end == to_frames(spec.total_duration, 30)
    assert all(abs(s.frames - 30.3) <= 1 for s in spans)
    for before, after in itertools.pairwise(spans):
        assert before.end - after.start == after.fade_in == before.fade_out


def test_halves_round_up() -> None:
    assert (to_frames(0.05, 30), to_frames(1 / 60, 30), to_frames(2.5 / 30, 30)) == (2, 1, 3)


def test_a_transition_too_short_for_a_frame_is_a_cut() -> None:
    spec = spec_of([shot(1, CLIP, 0.0, 1.0), shot(2, CLIP, 0.0, 1.0, "fade", 0.01)])
    assert frame_layout(spec)[1].fade_in == 0


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.__class__(s.shots, s.fps, s.total_duration + 0.5, None), "total_duration"),
        (lambda s: s.__class__((s.shots[0], dataclasses.replace(s.shots[1], start_time=1.3)), s.fps, s.total_duration, None),
         r"shot 0 \(clip 1\).*over 1\.300 s, but its trim is 1\.000 s"),
        (lambda s: s.__class__((dataclasses.replace(s.shots[0], transition=TransitionType.fade, transition_duration=0.2), s.shots[1]),
                               s.fps, s.total_duration, None), "first shot must start with a cut"),
        (lambda s: s.__class__((), s.fps, 0.0, None), "no shots"),
        (lambda s: s.__class__(s.shots, 0, s.total_duration, None), "fps must be positive"),
    ],
)
def test_contradictory_rows_are_refused(change, message) -> None:
    spec = spec_of([shot(1, CLIP, 0.0, 1.0), shot(2, CLIP, 0.0, 1.0)])
    with pytest.raises(TimelineError, match=message):
        frame_layout(change(spec))


def test_transitions_may_not_overlap_each_other() -> None:
    spec = spec_of([
        shot(1, CLIP, 0.0, 1.0),
        shot(2, CLIP, 0.0, 0.6, "fade", 0.4),
        shot(3, CLIP, 0.0, 1.0, "fade", 0.4),
    ])
    with pytest.raises(TimelineError, match=r"shot 1 \(clip 2\) lasts 0\.600 s, shorter than its transitions"):
        frame_layout(spec)


def test_formats_follow_the_template_or_the_flag() -> None:
    assert format_for_size(1920, 1080) == "16x9"
    assert format_for_size(720, 1280) == "9x16"
    assert format_for_size(1000, 1000) == "1x1"
    assert resolve_format(None, 1080, 1920, preview=False, preview_short_side=540).width == 1080
    flagged = resolve_format("1x1", 1920, 1080, preview=False, preview_short_side=540)
    assert (flagged.name, flagged.width, flagged.height) == ("1x1", *FORMATS["1x1"].size)
    preview = resolve_format("16x9", 1080, 1920, preview=True, preview_short_side=540)
    assert (preview.name, preview.width, preview.height, preview.preview) == ("16x9-preview", 960, 540, True)
    with pytest.raises(ValueError, match="unknown output format '4x3'"):
        resolve_format("4x3", 1920, 1080, preview=False, preview_short_side=540)
