"""Slowed shots (speed < 1): exact frame counts, seamless segment splits, no stretched clip audio."""

from __future__ import annotations

from pathlib import Path

import pytest

from db.enums import AudioPolicy
from tasks.assemble.graph import retime
from tasks.assemble.layout import frame_layout
from tasks.assemble.mixing import policy_gains, shot_gains
from tasks.assemble.probe import probe_output
from tasks.assemble.segments import plan_segments
from tests.assemble.media import (
    CLIP_HZ,
    audio_samples,
    band_level,
    make_music,
    read_video,
    shot,
    spec_of,
)
from tests.assemble.test_render import render_split_and_whole

CLIP = Path("clip.mp4")


def slowed_timeline(cards: dict[str, Path] | None = None, music: Path | None = None):
    """Transitions only (so segments split inside shots); shot 1 and 2 at 0.8x:
    1.2 s | 1.6 s at 0.8x = 2.0 s | 1.2 s at 0.8x = 1.5 s | 1.0 s; 4.6 s with the overlaps."""
    path = (lambda name: cards[name]) if cards else (lambda name: CLIP)
    return spec_of([
        shot(2, path("c2a"), 0.0, 1.2, policy="clip_only"),
        shot(4, path("c4a"), 0.4, 2.0, "dissolve", 0.3, policy="clip_only", speed=0.8),
        shot(3, path("c3"), 0.2, 1.4, "fade", 0.5, speed=0.8),
        shot(6, path("c6a"), 0.0, 1.0, "slideleft", 0.3, policy="clip_only"),
    ], music=music)


def test_a_slowed_shot_lasts_its_trim_over_its_speed_and_reads_only_its_trim() -> None:
    spec = slowed_timeline()
    spans = frame_layout(spec)
    assert spec.total_duration == pytest.approx(4.6)
    assert [s.frames for s in spans] == [36, 60, 45, 30]
    assert spans[1].source_frames(spans[1].frames) == 48  # 1.6 s of source, not 2.0 s
    pieces = [p for seg in plan_segments(spans, 2) for p in seg.pieces if p.span is spans[1]]
    assert len(pieces) == 2  # split after its dissolve in
    head, tail = pieces
    assert head.source_start == tail.source_start == spans[1].source_start  # both read from the shot's start
    assert tail.source_end == spans[1].source_start + 48
    assert retime(tail, 30) == (
        f"setpts=(PTS-STARTPTS)/0.8,fps=30,tpad=stop_mode=clone:stop=2,"  # ceil(1 / 0.8)
        f"trim=start_frame={tail.offset}:end_frame={tail.offset + tail.frames},setpts=PTS-STARTPTS"
    )
    assert retime(pieces[0], 30) != "setpts=PTS-STARTPTS"


def test_a_slowed_shot_plays_music_only() -> None:
    spec = slowed_timeline()
    assert shot_gains(spec.shots[1], -12) == policy_gains(AudioPolicy.music_only, -12)
    assert shot_gains(spec.shots[0], -12) == policy_gains(AudioPolicy.clip_only, -12)


@pytest.mark.slow
def test_slowed_shots_render_frame_exact_and_split_seamlessly(env, cards, tmp_path, monkeypatch) -> None:
    spec = slowed_timeline(cards, make_music(tmp_path / "m.wav", 6.0))
    spans = frame_layout(spec)
    split, whole = render_split_and_whole(spec, tmp_path, monkeypatch)

    facts = probe_output(split.path)
    assert split.segments > 1 and whole.segments == 1
    assert split.frames == whole.frames == facts["frame_count"] == round(spec.total_duration * spec.fps) == 138
    assert abs(facts["duration"] - spec.total_duration) <= 1 / spec.fps / 2
    codes, _ = read_video(split.path)
    assert [(c.clip_no, c.frame_no) for c in codes if c.clean] == [
        (c.clip_no, c.frame_no) for c in read_video(whole.path)[0] if c.clean]

    for span in spans:  # each frame outside the transitions shows the source frame its speed puts there
        clip = spec.shots[span.index].clip_id
        for f in range(span.start + span.fade_in, span.end - span.fade_out):
            assert codes[f].clean and codes[f].clip_no == clip
            assert abs(codes[f].frame_no - (span.source_start + (f - span.start) * span.speed)) < 1, (span.index, f)
    slowed = [codes[f].frame_no for f in range(spans[1].start + spans[1].fade_in, spans[1].end - spans[1].fade_out)]
    assert len(set(slowed)) < len(slowed)  # frames repeat: it is slowed, not trimmed shorter

    audio = audio_samples(split.path)  # clip_only at full speed: its tone; slowed: no clip audio
    assert band_level(audio, CLIP_HZ, 1.5, 2.2) < 0.05 * band_level(audio, CLIP_HZ, 0.2, 0.8)
