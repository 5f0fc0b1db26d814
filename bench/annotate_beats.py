"""How bench/annotations were made: the two aids, to redo or extend them (see its README).

    python -m bench.annotate_beats grid PATH BPM          # a fixed-tempo track: fitted grid + residuals
    python -m bench.annotate_beats walk PATH START PERIOD END   # a drifting one: beat by beat

Both work on onset peaks (librosa onset strength at 5.8 ms frames, peak-picked), never on a beat
tracker's output. `grid` fits period and phase by least squares to the peaks within 40 ms of a
grid and prints the mean residual per 10 s (a flat residual means the track was sequenced at a
fixed tempo, and the grid is its beat). `walk` steps from a beat the annotator picked: each
next beat is the strongest peak within 15 % of a period of the prediction (the median of the
last four intervals), or the prediction where no peak is strong enough; every beat it prints
was then checked by eye against a spectrogram.
"""

from __future__ import annotations

import sys
from pathlib import Path

import librosa
import numpy as np

from tasks.timeline.audio import load_mono

SR, HOP = 22050, 128


def onset_peaks(path: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """(peak times, peak strengths, duration)."""
    y = load_mono(path, SR)
    env = librosa.onset.onset_strength(y=y, sr=SR, hop_length=HOP, lag=2, max_size=3)
    peaks = librosa.util.peak_pick(env, pre_max=8, post_max=8, pre_avg=40, post_avg=40,
                                   delta=float(np.percentile(env, 75)) * 0.3, wait=8)
    return librosa.frames_to_time(peaks, sr=SR, hop_length=HOP), env[peaks], len(y) / SR


def fit_grid(times: np.ndarray, strength: np.ndarray, bpm: float) -> tuple[float, float]:
    """(period, phase) of the fixed grid near `bpm` the stronger peaks agree with best."""
    strong = strength >= np.percentile(strength, 40)
    t, w = times[strong], strength[strong]
    periods = 60.0 / np.arange(bpm - 1.5, bpm + 1.5, 0.001)
    z = (w[None, :] * np.exp(2j * np.pi * t[None, :] / periods[:, None])).sum(axis=1)
    best = int(np.argmax(np.abs(z)))
    period, phase = periods[best], (np.angle(z[best]) / (2 * np.pi) * periods[best]) % periods[best]
    for _ in range(5):  # least squares on the peaks within 40 ms of the grid
        k = np.round((t - phase) / period)
        near = np.abs(t - (phase + k * period)) < 0.04
        (period, phase), *_ = np.linalg.lstsq(np.vstack([k[near], np.ones(near.sum())]).T, t[near], rcond=None)
    return float(period), float(phase)


def walk(times: np.ndarray, strength: np.ndarray, start: float, period: float, end: float) -> np.ndarray:
    """Beats from `start` to `end`, each on the strongest nearby peak of its prediction."""
    floor = 0.25 * np.median(strength)
    beats, intervals = [start], [period]
    while (predicted := beats[-1] + float(np.median(intervals[-4:]))) <= end:
        local = float(np.median(intervals[-4:]))
        near = np.abs(times - predicted) <= 0.15 * local
        beat = predicted
        if near.any():
            score = strength[near] * np.exp(-0.5 * ((times[near] - predicted) / (0.07 * local)) ** 2)
            j = int(np.argmax(score))
            beat = float(times[near][j]) if strength[near][j] >= floor else predicted
        intervals.append(beat - beats[-1])
        beats.append(beat)
    return np.array(beats)


def main() -> None:
    mode, path = sys.argv[1], Path(sys.argv[2])
    times, strength, duration = onset_peaks(path)
    if mode == "grid":
        period, phase = fit_grid(times, strength, float(sys.argv[3]))
        k = np.round((times - phase) / period)
        residual = times - (phase + k * period)
        print(f"# {60 / period:.4f} BPM from {phase:.4f} s")
        for start in np.arange(0, duration, 10.0):
            near = (np.abs(residual) < 0.04) & (times >= start) & (times < start + 10)
            if near.any():
                print(f"# {start:4.0f} s: {near.sum()} peaks, mean residual {1000 * residual[near].mean():+.1f} ms")
        beats = phase + np.arange(int((duration - phase) / period) + 1) * period
    else:
        beats = walk(times, strength, float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
    print("\n".join(f"{b:.4f}" for b in beats))


if __name__ == "__main__":
    main()
