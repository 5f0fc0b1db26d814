"""Pure planning: segments, audio-policy gains, the ffmpeg commands, loudness parsing."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

from db.enums import AudioPolicy
from tasks.assemble.graph import (
    CardPlacement,
    Encoder,
    MusicPlan,
    concat_list,
    mix_command,
    samples,
    segment_bed_command,
    segment_video_command,
)
from tasks.assemble.layout import frame_layout
from tasks.assemble.loudness import parse_ebur128, parse_loudnorm
from tasks.assemble.mixing import CUT_RAMP_S, Gains, music_gain_expression, policy_gains
from tasks.assemble.render import plan_parallel_segments, render_options
from tasks.assemble.segments import plan_balanced, plan_segments
from tasks.domain.formats import resolve_format
from tasks.settings import Settings
from tests.assemble.media import shot, spec_of

CLIP = Path("clip.mp4")


def spans_of(kinds: str, seconds: float = 2.0, fade: float = 0.5):
    """A timeline whose junctions are `kinds`: c = cut, x = a fade, e.g. "cxxc"."""
    shots = [shot(0, CLIP, 0.0, seconds)]
    for i, kind in enumerate(kinds, start=1):
        shots.append(shot(i, CLIP, 0.0, seconds, "cut" if kind == "c" else "fade", 0.0 if kind == "c" else fade))
    return frame_layout(spec_of(shots))


def covers_every_frame_once(segments, spans) -> bool:
    frames = [f for seg in segments for p in seg.pieces for f in range(p.start, p.end)]
    shot_frames = sorted(f for s in spans for f in range(s.start, s.end))
    return sorted(frames) == shot_frames


@pytest.mark.parametrize("kinds", ["", "ccccccccc", "xxxxxxxxx", "cxxcxxxxxc", "xcxxxxxxxxxxxxxxxxc" * 3])
@pytest.mark.parametrize("max_shots", [2, 3, 8])
def test_segments_are_bounded_and_cover_every_frame_once(kinds, max_shots) -> None:
    spans = spans_of(kinds)
    segments = plan_segments(spans, max_shots)
    assert all(1 <= len(seg.pieces) <= max_shots for seg in segments)
    assert covers_every_frame_once(segments, spans)
    assert segments[0].start == 0 and segments[-1].end == spans[-1].end
    for before, after in itertools.pairwise(segments):
        assert before.end == after.start
        # A boundary never falls inside a transition: the first piece starts with no blend.
        assert after.pieces[0].fade_in == 0
        assert not any(s.start < after.start < s.start + s.fade_in for s in spans)


def test_segments_end_at_the_latest_cut_in_reach() -> None:
    spans = spans_of("xcxxxxx")  # a cut into shot 2 only
    segments = plan_segments(spans, 4)
    assert [p.span.index for p in segments[0].pieces] == [0, 1]
    assert segments[0].end == spans[2].start


def test_without_cuts_a_shot_is_split_after_its_transition_in() -> None:
    spans = spans_of("xxxx")
    first, second = plan_segments(spans, 3)[:2]
    head, tail = first.pieces[-1], second.pieces[0]
    assert head.span is tail.span is spans[2]
    assert head.end == tail.start == spans[2].start + spans[2].fade_in
    assert tail.source_start == spans[2].source_start + spans[2].fade_in
    assert (head.fade_in, head.fade_out, tail.fade_in, tail.fade_out) == (15, 0, 0, 15)


def test_policy_table() -> None:
    assert policy_gains(AudioPolicy.music_only, -12) == Gains(music=1.0, clip=0.0)
    assert policy_gains(AudioPolicy.duck_music, -12) == Gains(music=pytest.approx(0.2512, abs=1e-4), clip=1.0)
    assert policy_gains(AudioPolicy.clip_only, -12) == Gains(music=0.0, clip=1.0)
    assert policy_gains(AudioPolicy.mix, -12) == Gains(music=1.0, clip=1.0)


def evaluate(expression: str, t: float) -> float:
    """ffmpeg's expression, evaluated in Python (clip() is the only function it uses)."""
    python = expression.replace("clip(", "_clip(")
    return eval(python, {"_clip": lambda x, lo, hi: min(max(x, lo), hi), "t": t})


def test_music_gain_follows_the_shots_and_ramps_across_transitions() -> None:
    spans = spans_of("cx")  # cut at 2.0 s; 0.5 s fade from 3.5 s
    gains = [1.0, 0.0, 0.25]
    expression = music_gain_expression(spans, gains, 30)
    assert evaluate(expression, 1.0) == 1.0
    assert evaluate(expression, 2.0 - CUT_RAMP_S) == 1.0 and evaluate(expression, 2.0 + CUT_RAMP_S) == 0.0
    assert evaluate(expression, 2.0) == pytest.approx(0.5)
    assert evaluate(expression, 3.75) == pytest.approx(0.125)
    assert evaluate(expression, 5.0) == pytest.approx(0.25)
    assert music_gain_expression(spans, [1.0, 1.0, 1.0], 30) is None
    assert evaluate(music_gain_expression(spans, [0.5, 0.5, 0.5], 30), 4.0) == 0.5


def test_segment_commands_open_only_what_they_need(tmp_path) -> None:
    spec = spec_of([shot(i, tmp_path / f"c{i}.mp4", 0.0, 2.0, "fade" if i else "cut", 0.5 if i else 0.0) for i in range(20)])
    spans = frame_layout(spec)
    fmt = resolve_format("16x9", 1920, 1080, preview=False, preview_short_side=540)
    for segment in plan_segments(spans, 8):
        video = segment_video_command(segment, spec.shots, 30, fmt, "cover", Encoder("veryfast", 20),
                                      [(tmp_path / "v.mp4", ())])
        assert video.count("-i") == len(segment.pieces) <= 8
        graph = video[video.index("-filter_complex") + 1]
        assert graph.count("xfade=") == sum(1 for p in segment.pieces[1:] if p.fade_in)
        assert ":a:0]" not in graph

        # both cuts from one run: the clips opened and joined once, split for their cards, two files out
        card = CardPlacement(tmp_path / "card.png", 10, 10, segment.start, segment.end)
        both = segment_video_command(segment, spec.shots, 30, fmt, "cover", Encoder("veryfast", 20),
                                     [(tmp_path / "b.mp4", (card,)), (tmp_path / "u.mp4", ())])
        assert sum(a.endswith(".mp4") for a in both[:both.index("-filter_complex")]) == len(segment.pieces)
        assert both.count(str(tmp_path / "card.png")) == 1 and both[-1] == str(tmp_path / "u.mp4")
        graph = both[both.index("-filter_complex") + 1]
        assert graph.count("split=2[vseq0][vseq1]") == 1 and graph.count("overlay=") == 1
        assert both.count("[vout0]") == both.count("[vout1]") == 1 and both.count("libx264") == 2

        bed = segment_bed_command(segment, spec.shots, 30, {3: 1.0, 11: 0.5}, tmp_path / "b.wav")
        audible = [p for p in segment.pieces if p.span.index in (3, 11)]
        assert bed.count("-i") == len(audible) and bed.count("-vn") == len(audible)
        graph = bed[bed.index("-filter_complex") + 1]
        assert f"atrim=end_sample={samples(segment.end, 30) - samples(segment.start, 30)}" in graph
        assert graph.count(":a:0]") == len(audible)


def test_mix_command_trims_music_to_the_video(tmp_path) -> None:
    music = MusicPlan(tmp_path / "m.ogg", 0.5, 1.5, None)
    args = mix_command(tmp_path / "beds.txt", music, 90, 30, None, ["out.m4a"])
    graph = args[args.index("-filter_complex") + 1]
    assert "atrim=end_sample=144000" in graph and "afade=t=out:ss=108000:ns=36000" in graph
    assert args[args.index("-stream_loop") + 1] == "-1"  # loops a track shorter than the video
    assert "[1:a:0]" in graph and "loudnorm" not in graph
    silent = mix_command(None, music, 90, 30, "loudnorm=I=-14", ["out.m4a"])
    graph = silent[silent.index("-filter_complex") + 1]
    assert "anullsrc" in graph and "[0:a:0]" in graph and "loudnorm=I=-14" in graph


def test_concat_list_quotes_paths(tmp_path) -> None:
    text = concat_list([tmp_path / "it's.mp4"])
    assert text.endswith("it'\\''s.mp4'\n") and text.startswith("file '/")


def test_loudness_parsers() -> None:
    log = """[Parsed_loudnorm_0 @ 0x1] {
\t"input_i" : "-17.51",\n\t"input_tp" : "-1.00",\n\t"input_lra" : "4.80",\n\t"input_thresh" : "-27.52",
\t"output_i" : "-13.25",\n\t"target_offset" : "-0.75"\n}"""
    m = parse_loudnorm(log)
    assert (m.integrated, m.true_peak, m.loudness_range, m.threshold, m.offset, m.silent) == (
        -17.51, -1.0, 4.8, -27.52, -0.75, False)
    silent = parse_loudnorm(log.replace('"-17.51"', '"-inf"'))
    assert silent.silent and math.isinf(silent.integrated)
    summary = "  Integrated loudness:\n    I:         -14.2 LUFS\n  True peak:\n    Peak:       -1.6 dBFS\n"
    assert parse_ebur128(summary) == (-14.2, -1.6)
    assert parse_ebur128(summary.replace("-14.2", "-70.0").replace("-1.6", "-inf")) == (None, None)
    with pytest.raises(ValueError):
        parse_ebur128("nothing")


def options_with(workers: int, max_shots: int = 8):
    fmt = resolve_format("16x9", 1920, 1080, preview=False, preview_short_side=540)
    return render_options(fmt, Settings(assemble_segment_workers=workers, assemble_segment_shots=max_shots))


def test_a_long_timeline_is_split_evenly_so_every_worker_gets_a_segment() -> None:
    spans = spans_of("cxcxcxc", seconds=3.75)  # eight shots, 30 s less the fades' overlap
    for workers in (2, 3):
        segments = plan_parallel_segments(spans, 30, options_with(workers))
        assert len(segments) == workers and covers_every_frame_once(segments, spans)
        assert max(s.frames for s in segments) - min(s.frames for s in segments) <= 2 * 15  # within the fades
        for before, after in itertools.pairwise(segments):  # boundaries never inside a transition
            assert before.pieces[-1].fade_out == 0 and after.pieces[0].fade_in == 0
    assert plan_parallel_segments(spans, 30, options_with(1)) == plan_segments(spans, 8)


@pytest.mark.parametrize("kinds", ["xxxxxxxxx", "cxxcxxxxxc", "ccccccccc"])
@pytest.mark.parametrize("parts", [2, 3, 4])
def test_balanced_segments_cover_every_frame_once_and_split_only_bodies(kinds, parts) -> None:
    spans = spans_of(kinds)
    segments = plan_balanced(spans, parts)
    assert covers_every_frame_once(segments, spans)
    assert segments[0].start == 0 and segments[-1].end == spans[-1].end
    for before, after in itertools.pairwise(segments):
        assert before.end == after.start
        assert before.pieces[-1].fade_out == 0 and after.pieces[0].fade_in == 0
    assert max(s.frames for s in segments) <= spans[-1].end / parts + 15  # off by at most a fade


def test_short_timelines_stay_whole_and_max_shots_still_bounds_memory() -> None:
    short = spans_of("cxc", seconds=1.5)  # 6 s: not worth a second ffmpeg
    assert len(plan_parallel_segments(short, 30, options_with(4))) == 1
    many = spans_of("c" * 59, seconds=2.0)  # 60 shots, 120 s, 2 workers: still at most 8 per segment
    assert plan_parallel_segments(many, 30, options_with(2)) == plan_segments(many, 8)
    assert len(plan_parallel_segments(many, 30, options_with(2, max_shots=40))) == 2
