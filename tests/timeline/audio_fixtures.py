"""Synthetic music of known tempo: click tracks with an accented first beat of each bar."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SR = 22050


def _tone(freq: float, seconds: float, sr: int) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return np.sin(2 * np.pi * freq * t) * np.exp(-t * 40)


def click_track(
    bpm: float, seconds: float = 16.0, *, start: float = 0.2, beats_per_bar: int = 4, sr: int = SR
) -> tuple[np.ndarray, np.ndarray]:
    """(samples, click times). Beat one of each bar is a louder, lower click."""
    times = np.arange(start, seconds - 0.1, 60.0 / bpm)
    y = np.zeros(int(seconds * sr), dtype=np.float32)
    accent, plain = 0.9 * _tone(700, 0.08, sr), 0.45 * _tone(1500, 0.05, sr)
    for i, t in enumerate(times):
        click = accent if i % beats_per_bar == 0 else plain
        at = round(t * sr)
        n = min(len(click), len(y) - at)
        y[at : at + n] += click[:n]
    return y, times


def write_click_track(path: Path, bpm: float, seconds: float = 16.0, **kwargs) -> np.ndarray:
    y, times = click_track(bpm, seconds, **kwargs)
    sf.write(path, y, SR)
    return times
