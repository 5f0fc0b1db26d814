"""Real renders through ffmpeg, checked frame by frame and sample by sample against the timeline."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tasks.assemble.errors import AssembleError, SourceError
from tasks.assemble.layout import frame_layout
from tasks.assemble.probe import probe_output
from tasks.assemble.render import RenderResult, render_options, render_timeline
from tasks.domain.formats import resolve_format
from tasks.settings import get_settings
from tests.assemble.media import (
    CLIP_HZ,
    MUSIC_HZ,
    audio_samples,
    band_level,
    click_times,
    cut_frames,
    expected_codes,
    make_music,
    read_video,
    shot,
    spec_of,
)

TARGET_LUFS = -14.0


def render(spec, tmp_path: Path, fmt: str = "16x9", preview: bool = True) -> RenderResult:
    settings = get_settings()
    output = resolve_format(fmt, 1920, 1080, preview=preview, preview_short_side=settings.preview_short_side)
    return render_timeline(spec, render_options(output, settings), tmp_path / "work")


def render_split_and_whole(spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[RenderResult, RenderResult]:
    """The timeline rendered in segments of two shots, and in one piece."""
    results = []
    for shots, name in ((2, "split"), (8, "whole")):
        monkeypatch.setenv("PICAIVID_ASSEMBLE_SEGMENT_SHOTS", str(shots))
        get_settings.cache_clear()
        results.append(render(spec, tmp_path / name))
    return results[0], results[1]


def check_frames(path: Path, spec, fit: str = "cover") -> list:
    """Every frame outside a transition shows exactly the source frame the timeline says."""
    codes, thumbs = read_video(path, fit)
    expected = expected_codes(spec)
    shown = {f: (codes[f].clip_no, codes[f].frame_no) for f in expected if codes[f].clean}
    assert shown == expected
    return thumbs


def four_shots(cards: dict[str, Path], transition: str = "fade") -> list[dict]:
    """Cut at 1.5 s, a 0.5 s transition at 2.5 s, a cut at 4.0 s; 5 s in all."""
    return [
        shot(1, cards["c1"], 0.5, 2.0),
        shot(2, cards["c2a"], 0.0, 1.5),
        shot(3, cards["c3"], 0.2, 1.7, transition, 0.5),
        shot(4, cards["c4a"], 1.0, 2.0),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("fmt, size", [("16x9", (1920, 1080)), ("9x16", (1080, 1920)), ("1x1", (1080, 1080))])
def test_full_size_formats_keep_every_frame_sync_and_loudness(fast, cards, tmp_path, fmt, size) -> None:
    cuts_s = [1.5, 4.0]
    music = make_music(tmp_path / "music.wav", 8.0, clicks=cuts_s)
    spec = spec_of(four_shots(cards), music=music)
    result = render(spec, tmp_path, fmt, preview=False)
    facts = probe_output(result.path)

    fps = spec.fps
    assert (facts["width"], facts["height"]) == size
    assert facts["fps"] == fps
    assert abs(facts["duration"] - spec.total_duration) <= 1 / fps
    assert facts["frame_count"] == round(facts["duration"] * fps)
    assert facts["video_codec"] == "h264" and facts["pix_fmt"] == "yuv420p"
    assert facts["audio"]["codec"] == "aac"
    assert abs(facts["audio"]["duration"] - facts["duration"]) <= 1 / fps
    assert abs(facts["loudness_lufs"] - TARGET_LUFS) <= 1.0

    thumbs = check_frames(result.path, spec)
    cut_times = [f / fps for f in cut_frames(thumbs)]
    assert cut_times == pytest.approx(cuts_s, abs=0.5 / fps)  # the fade is not mistaken for a cut
    clicks = click_times(audio_samples(result.path))
    assert len(clicks) == len(cuts_s)
    for click, cut in zip(clicks, cut_times):
        assert abs(click - cut) <= 1 / fps


def test_preview_is_540p_and_exact(env, cards, tmp_path) -> None:
    spec = spec_of(four_shots(cards, "wipeleft"), music=make_music(tmp_path / "m.wav", 8.0, [1.5]))
    result = render(spec, tmp_path, "9x16", preview=True)
    facts = probe_output(result.path)
    assert (facts["width"], facts["height"]) == (540, 960)
    assert facts["frame_count"] == round(spec.total_duration * spec.fps) == result.frames
    check_frames(result.path, spec)


@pytest.mark.slow
def test_segments_split_inside_shots_and_join_seamlessly(env, cards, tmp_path, monkeypatch) -> None:
    """All-transition timeline in segments of two: frames and clip audio match the unsplit render."""
    shots = [
        shot(2, cards["c2a"], 0.0, 1.4, policy="clip_only"),
        shot(4, cards["c4a"], 0.3, 1.7, "dissolve", 0.4, policy="clip_only"),
        shot(6, cards["c6a"], 0.0, 1.2, "slideleft", 0.3, policy="clip_only"),
        shot(2, cards["c2a"], 1.0, 2.5, "fadeblack", 0.5, policy="clip_only"),
    ]
    spec = spec_of(shots)
    split, whole = render_split_and_whole(spec, tmp_path, monkeypatch)

    assert (split.segments, whole.segments) == (3, 1)
    assert split.frames == whole.frames == round(spec.total_duration * spec.fps)
    split_codes, _ = read_video(split.path)
    whole_codes, _ = read_video(whole.path)
    assert [(c.clip_no, c.frame_no) for c in split_codes if c.clean] == [
        (c.clip_no, c.frame_no) for c in whole_codes if c.clean
    ]
    check_frames(split.path, spec)
    # The clip tone runs on through the split points (mid-shot, outside any transition).
    audio = audio_samples(split.path)
    levels = [band_level(audio, CLIP_HZ, t, t + 0.1) for t in (1.05, 1.15, 1.25, 2.2, 2.3)]
    assert min(levels) > 0.8 * max(levels)


@pytest.mark.slow
def test_segments_rendered_side_by_side_match_the_unsplit_render(env, cards, tmp_path, monkeypatch) -> None:
    """Split evenly for three workers (inside shot bodies), rendered at once: same frames and audio."""
    from tasks.assemble import render as assemble_render

    shots = [
        shot(2, cards["c2a"], 0.0, 1.4, policy="clip_only"),
        shot(4, cards["c4a"], 0.3, 1.7, "dissolve", 0.4, policy="clip_only"),
        shot(6, cards["c6a"], 0.0, 1.2, "slideleft", 0.3, policy="clip_only"),
        shot(2, cards["c2a"], 1.0, 2.5, "fadeblack", 0.5, policy="clip_only"),
    ]
    spec = spec_of(shots)
    monkeypatch.setenv("PICAIVID_ASSEMBLE_SEGMENT_WORKERS", "1")
    get_settings.cache_clear()
    whole = render(spec, tmp_path / "whole")
    monkeypatch.setenv("PICAIVID_ASSEMBLE_SEGMENT_WORKERS", "3")
    monkeypatch.setattr(assemble_render, "MIN_PARALLEL_SEGMENT_S", 1.0)
    get_settings.cache_clear()
    split = render(spec, tmp_path / "split")

    assert (split.segments, whole.segments) == (3, 1)
    assert split.frames == whole.frames == probe_output(split.path)["frame_count"]
    split_codes, _ = read_video(split.path)
    whole_codes, _ = read_video(whole.path)
    assert [(c.clip_no, c.frame_no) for c in split_codes if c.clean] == [
        (c.clip_no, c.frame_no) for c in whole_codes if c.clean
    ]
    check_frames(split.path, spec)
    audio = audio_samples(split.path)  # the clip tone runs on through the split points
    levels = [band_level(audio, CLIP_HZ, t, t + 0.1) for t in (0.3, 1.15, 1.25, 2.2, 2.3, 3.5)]
    assert min(levels) > 0.8 * max(levels)


def test_audio_policies_set_music_and_clip_levels(env, cards, tmp_path) -> None:
    shots = [
        shot(2, cards["c2a"], 0.0, 1.5, policy="music_only"),
        shot(4, cards["c4a"], 0.0, 1.5, policy="clip_only"),
        shot(6, cards["c6a"], 0.0, 1.5, policy="duck_music"),
        shot(2, cards["c2a"], 1.0, 2.5, policy="mix"),
        shot(4, cards["c4a"], 1.0, 2.5, policy="music_only"),
    ]
    spec = spec_of(shots, music=make_music(tmp_path / "m.wav", 10.0))
    result = render(spec, tmp_path)
    audio = audio_samples(result.path)
    mid = [(1.5 * i + 0.3, 1.5 * i + 1.2) for i in range(5)]
    music = [band_level(audio, MUSIC_HZ, a, b) for a, b in mid]
    clip = [band_level(audio, CLIP_HZ, a, b) for a, b in mid]

    loud = music[0]
    assert clip[0] < 0.01 * loud  # music_only mutes the clip
    assert music[1] < 0.01 * loud and clip[1] > 0.5 * loud  # clip_only mutes the music
    assert music[2] / loud == pytest.approx(10 ** (-12 / 20), rel=0.15)  # ducked by 12 dB
    assert clip[2] == pytest.approx(clip[1], rel=0.1)
    assert music[3] == pytest.approx(loud, rel=0.1) and clip[3] == pytest.approx(clip[1], rel=0.1)  # mix
    assert clip[4] < 0.01 * loud


def test_no_music_gives_a_silent_track_of_the_right_length(env, cards, tmp_path) -> None:
    spec = spec_of([shot(1, cards["c1"], 0.0, 1.0), shot(3, cards["c3"], 0.5, 1.5, "fade", 0.3)])
    result = render(spec, tmp_path)
    facts = probe_output(result.path)
    assert result.loudness_in is None
    assert facts["audio"]["codec"] == "aac"
    assert abs(facts["audio"]["duration"] - spec.total_duration) <= 1 / spec.fps
    assert facts["loudness_lufs"] is None
    assert abs(audio_samples(result.path)).max() < 1e-4


def test_clip_audio_alone_is_normalised(env, cards, tmp_path) -> None:
    spec = spec_of([shot(2, cards["c2a"], 0.0, 2.0, policy="clip_only"), shot(1, cards["c1"], 0.0, 1.0)])
    facts = probe_output(render(spec, tmp_path).path)
    assert abs(facts["loudness_lufs"] - TARGET_LUFS) <= 1.0


def test_short_music_loops_to_the_end(env, cards, tmp_path) -> None:
    music = make_music(tmp_path / "m.wav", 1.2)
    result = render(spec_of([shot(1, cards["c1"], 0.0, 2.5), shot(3, cards["c3"], 0.0, 2.0)], music=music), tmp_path)
    audio = audio_samples(result.path)
    assert band_level(audio, MUSIC_HZ, 3.0, 3.6) > 0.5 * band_level(audio, MUSIC_HZ, 0.6, 1.1)


def test_other_frame_rates_are_normalised(env, cards, tmp_path) -> None:
    spec = spec_of([shot(7, cards["c7_24fps"], 0.0, 2.0), shot(1, cards["c1"], 0.0, 1.0)])
    result = render(spec, tmp_path)
    facts = probe_output(result.path)
    assert facts["fps"] == 30 and facts["frame_count"] == 90
    codes, _ = read_video(result.path)
    shown = [c.frame_no for c in codes[:60] if c.clean]
    assert shown[0] == 0 and shown[-1] == 47  # all 48 source frames span the 60 output frames
    assert all(b - a in (0, 1) for a, b in itertools.pairwise(shown))


def test_contain_letterboxes_instead_of_cropping(env, cards, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PICAIVID_ASSEMBLE_FIT", "contain")
    get_settings.cache_clear()
    spec = spec_of([shot(1, cards["c1"], 0.0, 1.0), shot(3, cards["c3"], 0.0, 1.0)])
    result = render(spec, tmp_path, "9x16")
    check_frames(result.path, spec, fit="contain")
    _, thumbs = read_video(result.path, "contain")
    assert thumbs[0][:8].max() < 30 and thumbs[0][-8:].max() < 30  # black bars top and bottom


def test_clip_shorter_than_its_trim_is_refused_before_rendering(env, cards, tmp_path) -> None:
    spec = spec_of([shot(1, cards["c1"], 0.0, 1.0), shot(3, cards["c3"], 2.0, 3.5)])
    with pytest.raises(SourceError, match=r"clip 3 is 3\.000 s long, but shot 1 trims it to \[2\.000, 3\.500\)"):
        render(spec, tmp_path)
    assert not (tmp_path / "work" / "segment-000.mp4").exists()


def test_unreadable_clip_is_named(env, cards, tmp_path) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00not a video" * 1000)
    spec = spec_of([shot(1, cards["c1"], 0.0, 1.0), shot(9, garbage, 0.0, 1.0)])
    with pytest.raises(SourceError, match="clip 9"):
        render(spec, tmp_path)


def test_ffmpeg_failure_names_the_clips_and_carries_ffmpegs_lines(env, cards, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PICAIVID_PREVIEW_X264_PRESET", "no-such-preset")
    get_settings.cache_clear()
    spec = spec_of([shot(1, cards["c1"], 0.0, 1.0), shot(3, cards["c3"], 0.0, 1.0)])
    with pytest.raises(AssembleError, match="clips 1, 3") as caught:
        render(spec, tmp_path)
    assert any("no-such-preset" in line for line in caught.value.ffmpeg_lines)
    assert "no-such-preset" in str(caught.value)


def test_same_timeline_same_frames(env, cards, tmp_path) -> None:
    spec = spec_of(four_shots(cards))
    first = render(spec, tmp_path / "a").path.read_bytes()
    second = render(spec, tmp_path / "b").path.read_bytes()
    assert first == second
    assert frame_layout(spec)[-1].end == 150


def test_a_single_shot_timeline(env, cards, tmp_path) -> None:
    spec = spec_of([shot(5, cards["c5"], 0.7, 2.2)])
    result = render(spec, tmp_path)
    assert (result.segments, result.frames) == (1, 45)
    check_frames(result.path, spec)


def test_an_audio_failure_beside_the_video_is_raised(env, cards, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PICAIVID_AUDIO_BITRATE", "loud")
    get_settings.cache_clear()
    spec = spec_of([shot(1, cards["c1"], 0.0, 1.0), shot(3, cards["c3"], 0.0, 1.0)], music=make_music(tmp_path / "m.wav", 3))
    with pytest.raises(AssembleError, match=r"mixing audio \(music m\.wav.*\n.*loud"):
        render(spec, tmp_path)
    assert not (tmp_path / "work" / "final.mp4").exists()
