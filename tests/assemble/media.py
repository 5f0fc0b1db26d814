"""Inputs made on purpose for the assembly tests, and readers that check the output against them.

Each clip frame is a card: a colour of its own, and two rows of black/white blocks near the
centre spelling the clip number and the frame's index in the clip. The blocks sit where every
output format keeps them (a 9:16 crop keeps the middle 32 % of a 16:9 frame), so every output
frame says exactly which source frame it shows: dropped, doubled or mistrimmed frames cannot
hide. Music is a quiet tone with short noise clicks at chosen times; clip audio is a tone at
another pitch, so band energies tell music from clip audio.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile as sf

SRC_W, SRC_H = 640, 360
BITS = 10
BLOCK = 16  # px of the source frame per bit
ROW_FRAME_Y, ROW_CLIP_Y, ROW_H = 140, 196, 28
X0 = SRC_W // 2 - BITS * BLOCK // 2
SR = 48_000
MUSIC_HZ, CLIP_HZ = 220.0, 1760.0


def card(clip_no: int, frame_no: int) -> np.ndarray:
    hue = (clip_no * 67) % 360
    rgb = np.array(_hsv_to_rgb(hue), dtype=np.uint8)
    frame = np.empty((SRC_H, SRC_W, 3), np.uint8)
    frame[:] = rgb
    frame[ROW_FRAME_Y - 8 : ROW_CLIP_Y + ROW_H + 8, X0 - 8 : X0 + BITS * BLOCK + 8] = 128
    for row_y, value in ((ROW_FRAME_Y, frame_no), (ROW_CLIP_Y, clip_no)):
        for bit in range(BITS):
            level = 255 if (value >> bit) & 1 else 0
            frame[row_y : row_y + ROW_H, X0 + bit * BLOCK : X0 + (bit + 1) * BLOCK] = level
    return frame


def _hsv_to_rgb(hue: float) -> tuple[int, int, int]:
    import colorsys

    r, g, b = colorsys.hsv_to_rgb(hue / 360, 0.8, 0.85)
    return round(r * 255), round(g * 255), round(b * 255)


def make_clip(
    path: Path, clip_no: int, seconds: float, fps: int = 30, tone_hz: float | None = None, amplitude: float = 0.3
) -> Path:
    """A card clip of round(seconds*fps) frames, with a tone track when tone_hz is given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = round(seconds * fps)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = SRC_W, SRC_H, "yuv420p"
        video.time_base = Fraction(1, fps)
        video.options = {"preset": "ultrafast", "crf": "12"}
        audio = None
        if tone_hz is not None:
            audio = out.add_stream("aac", rate=SR, layout="stereo")
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(card(clip_no, i), format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if audio is not None:
            n = frames * SR // fps
            tone = (amplitude * np.sin(2 * np.pi * tone_hz * np.arange(n) / SR)).astype(np.float32)
            for start in range(0, n, 1024):
                chunk = tone[start : start + 1024]
                aframe = av.AudioFrame.from_ndarray(np.stack([chunk, chunk]), format="fltp", layout="stereo")
                aframe.sample_rate, aframe.pts = SR, start
                out.mux(audio.encode(aframe))
            out.mux(audio.encode(None))
    return path


def make_music(path: Path, seconds: float, clicks: list[float] = (), sr: int = 44_100) -> Path:
    """A 220 Hz tone (about -17 LUFS) with 5 ms noise clicks at `clicks` seconds."""
    t = np.arange(round(seconds * sr)) / sr
    x = 0.2 * np.sin(2 * np.pi * MUSIC_HZ * t)
    burst = np.random.default_rng(0).uniform(-0.25, 0.25, round(0.005 * sr))
    for c in clicks:
        i = round(c * sr)
        x[i : i + burst.size] += burst[: x.size - i]
    sf.write(str(path), np.stack([x, x], axis=1).astype(np.float32), sr)
    return path


# ----------------------------------------------------------------------------- reading back


@dataclass(frozen=True)
class Code:
    clip_no: int
    frame_no: int
    clean: bool  # every block read clearly black or white (not a blend)


def read_code(luma: np.ndarray, fit: str = "cover") -> Code:
    """The clip and frame numbers a card shows, read from an output frame's luma plane."""
    h, w = luma.shape
    scale = max(w / SRC_W, h / SRC_H) if fit == "cover" else min(w / SRC_W, h / SRC_H)

    def at(x: float, y: float) -> float:
        ox, oy = (x - SRC_W / 2) * scale + w / 2, (y - SRC_H / 2) * scale + h / 2
        r = max(1, int(scale * 3))
        return float(luma[int(oy) - r : int(oy) + r, int(ox) - r : int(ox) + r].mean())

    values, clean = [], True
    for row_y in (ROW_FRAME_Y, ROW_CLIP_Y):
        value = 0
        for bit in range(BITS):
            level = at(X0 + (bit + 0.5) * BLOCK, row_y + ROW_H / 2)
            clean &= level < 50 or level > 200
            value |= (level > 128) << bit
        values.append(value)
    return Code(clip_no=values[1], frame_no=values[0], clean=clean)


def read_video(path: Path, fit: str = "cover") -> tuple[list[Code], list[np.ndarray]]:
    """Every decoded frame's card code, and a small RGB thumbnail of it for cut detection."""
    codes, thumbs = [], []
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            codes.append(read_code(frame.to_ndarray(format="gray"), fit))
            thumbs.append(frame.reformat(width=64, height=64, format="rgb24").to_ndarray())
    return codes, thumbs


def audio_samples(path: Path) -> np.ndarray:
    """The first audio stream, mono float at 48 kHz, priming removed by the decoder."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SR)
        chunks = [
            out.to_ndarray().reshape(-1)
            for frame in container.decode(stream)
            for out in resampler.resample(frame)
        ]
        chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(chunks)


def click_times(audio: np.ndarray, min_gap: float = 0.2) -> list[float]:
    """Onsets of broadband clicks: where high-passed energy first jumps above a threshold."""
    from scipy.signal import butter, sosfilt

    high = np.abs(sosfilt(butter(4, 4000, "hp", fs=SR, output="sos"), audio))
    above = np.flatnonzero(high > 0.25 * high.max())
    onsets: list[float] = []
    for i in above:
        if not onsets or i / SR - onsets[-1] > min_gap:
            onsets.append(i / SR)
    return onsets


def band_level(audio: np.ndarray, hz: float, start: float, end: float) -> float:
    """RMS amplitude of the `hz` component over [start, end) seconds."""
    seg = audio[round(start * SR) : round(end * SR)]
    t = np.arange(seg.size) / SR
    return float(np.abs(2 * np.mean(seg * np.exp(-2j * np.pi * hz * t))))


# ----------------------------------------------------------------------------- timelines


def shot(clip_no: int, path: Path, in_time: float, out_time: float, transition: str = "cut",
         transition_duration: float = 0.0, policy: str = "music_only", speed: float = 1.0) -> dict:
    return {"clip_no": clip_no, "path": path, "in_time": in_time, "out_time": out_time, "transition": transition,
            "transition_duration": transition_duration, "policy": policy, "speed": speed}


def spec_of(shots: list[dict], fps: int = 30, music: Path | None = None):
    """A TimelineSpec placed the way db.models.TimelineClip defines start_time; card numbers
    double as clip ids."""
    from db.enums import AudioPolicy, TransitionType
    from tasks.assemble.layout import Shot, TimelineSpec

    placed, start = [], 0.0
    for i, s in enumerate(shots):
        if i:
            prev = shots[i - 1]
            start += (prev["out_time"] - prev["in_time"]) / prev["speed"] - s["transition_duration"]
        placed.append(Shot(s["clip_no"], s["path"], s["in_time"], s["out_time"], start,
                           TransitionType(s["transition"]), s["transition_duration"], AudioPolicy(s["policy"]),
                           s["speed"]))
    return TimelineSpec(tuple(placed), fps, start + placed[-1].length, music)


def expected_codes(spec) -> dict[int, tuple[int, int]]:
    """Output frame -> (clip number, source frame) for every frame outside a transition."""
    from tasks.assemble.layout import frame_layout

    expected = {}
    for span in frame_layout(spec):
        for f in range(span.start + span.fade_in, span.end - span.fade_out):
            expected[f] = (spec.shots[span.index].clip_id, span.source_start + f - span.start)
    return expected


def cut_frames(thumbs: list[np.ndarray], threshold: float = 20.0) -> list[int]:
    """Frames whose colours differ sharply from the frame before: the first frame after a cut."""
    diffs = [np.abs(b.astype(np.int16) - a).mean() for a, b in itertools.pairwise(thumbs)]
    return [i + 1 for i, d in enumerate(diffs) if d > threshold]
