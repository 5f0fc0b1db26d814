"""The music's beat grid: its own beats, bars, phrases and tempo curve, and how sure we are.

The grid is the music's, never bent to suit editing: which beats a template cuts on (every
beat, every second one, bar starts) is chosen later, as a subset (tasks.domain.pacing.Pulse).

Tracker (the default, shippable: librosa, ISC licence). bench/bench_beats.py compares it with
librosa's default and the other candidates on annotated recordings; the README says why it runs.
1. Onset strength from one log-mel STFT at librosa's default 23 ms hop (an 11.6 ms hop made the
   tracker slip onto the swung off-beats of a jazz track).
2. Tempo: an autocorrelation tempogram scores a tempo's slower multiples as high as the tempo
   itself, a Fourier tempogram its faster multiples; their product peaks where both agree
   (Peeters, 2005). The metrical level is the product's peak under librosa's own tempo prior (log-
   normal around 120 BPM, one octave wide), so the level a listener taps, not one editing prefers.
3. Beats: librosa's dynamic-programming tracker at that tempo; beats at either end that no onset
   supports (a fade-out, a silent lead-in) are dropped.
4. Bars: of the `beats_per_bar` phases, the one whose beats carry the most accent (onset
   strength, low-frequency onset strength, harmonic change); phrases: of the bar phases modulo
   `bars_per_phrase`, the one where the harmony changes most. Meters other than 4/4 are not
   detected; `beats_per_bar` is a parameter, recorded with the grid.
5. Confidence: how much more onset energy sits on the beats than halfway between them, scaled to
   0..1. Below `min_confidence` (speech, ambient pads, noise) the grid is marked unreliable and
   the timeline cuts evenly instead, saying so.

`tracker="madmom"` (settings.beat_tracker) runs madmom's RNN + DBN beat tracker instead, where
madmom is installed: its bundled models are CC BY-NC-SA, so it may not run in a commercial
deployment and is never the default.

`jobs.bpm` replaces detection with a regular grid at that tempo; `jobs.beat_offset` says where
beat one (a downbeat) is, moving the grid there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import librosa
import numpy as np

from tasks.domain.beat_grid import BEATS_PER_BAR, BeatGrid
from tasks.timeline.audio import load_mono

Tracker = Literal["librosa", "madmom"]


class BeatDetectionError(ValueError):
    """No beat can be found (silence, or far too short), or an override is impossible."""


@dataclass(frozen=True)
class BeatParams:
    """Every analysis parameter; stored with the grid so a result can be reproduced."""

    sr: int = 22050
    hop_length: int = 512  # 23 ms frames: finer than the 70 ms a beat may be off by
    n_fft: int = 2048
    tracker: Tracker = "librosa"
    tempo_min: float = 40.0
    tempo_max: float = 320.0
    tempo_bins: int = 600  # log-spaced: about 0.35 % apart, 0.4 BPM at 120
    tempogram_window_s: float = 12.0
    prior_bpm: float = 120.0  # librosa's tempo prior: log-normal around this...
    prior_octaves: float = 1.0  # ...with this standard deviation, in octaves
    tightness: float = 100.0  # librosa's beat tracker: how strictly beats keep the tempo
    beats_per_bar: int = BEATS_PER_BAR
    bars_per_phrase: int = 4
    low_band_hz: float = 200.0  # kick and bass: the accent that marks most downbeats
    accent_window_frames: int = 1  # an onset this close to a beat counts for it
    weak_beat_ratio: float = 0.25  # end beats weaker than this x the median beat are dropped
    min_confidence: float = 0.3  # below: no reliable beat, the timeline cuts evenly
    tempo_curve_beats: int = 4  # the local tempo at a beat: the mean of this many intervals

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Features:
    """Frame-rate views of the music that every later step reads."""

    onset: np.ndarray  # onset strength, all bands
    low_onset: np.ndarray  # onset strength below low_band_hz
    chroma: np.ndarray  # 12 x frames
    duration: float


def analyse(y: np.ndarray, params: BeatParams) -> Features:
    """One STFT, from which the onset envelopes and the chroma are all taken."""
    if len(y) < params.n_fft:
        raise BeatDetectionError(f"the music lasts {len(y) / params.sr:.2f} s: too short to find a beat")
    power = np.abs(librosa.stft(y, n_fft=params.n_fft, hop_length=params.hop_length)) ** 2
    mel = librosa.feature.melspectrogram(S=power, sr=params.sr)
    log_mel = librosa.power_to_db(mel)
    low = librosa.mel_frequencies(n_mels=mel.shape[0] + 2, fmax=params.sr / 2)[1:-1] < params.low_band_hz
    onset = librosa.onset.onset_strength(S=log_mel, sr=params.sr, hop_length=params.hop_length)
    if not np.any(onset > 0):
        raise BeatDetectionError("the music has no onsets (silence?): no beat to cut to")
    return Features(
        onset=onset,
        low_onset=librosa.onset.onset_strength(S=log_mel[low], sr=params.sr, hop_length=params.hop_length),
        chroma=librosa.feature.chroma_stft(S=power, sr=params.sr, tuning=0.0),  # change, not pitch, matters
        duration=len(y) / params.sr,
    )


def tempo_salience(onset: np.ndarray, params: BeatParams) -> tuple[np.ndarray, np.ndarray]:
    """(BPM grid, salience in 0..1): mean autocorrelation tempogram x mean Fourier tempogram."""
    sr, hop = params.sr, params.hop_length
    win = int(min(len(onset), round(params.tempogram_window_s * sr / hop)))
    bpms = np.geomspace(params.tempo_min, params.tempo_max, params.tempo_bins)
    acf = librosa.feature.tempogram(onset_envelope=onset, sr=sr, hop_length=hop, win_length=win).mean(axis=1)
    acf_bpm = librosa.tempo_frequencies(len(acf), sr=sr, hop_length=hop)
    fourier = np.abs(
        librosa.feature.fourier_tempogram(onset_envelope=onset, sr=sr, hop_length=hop, win_length=win)
    ).mean(axis=1)
    fourier_bpm = librosa.fourier_tempo_frequencies(sr=sr, hop_length=hop, win_length=win)
    # lag 0 / frequency 0 is an infinite / zero tempo; both axes are interpolated in increasing BPM
    a = np.clip(np.interp(bpms, acf_bpm[1:][::-1], acf[1:][::-1]), 0.0, None)
    f = np.interp(bpms, fourier_bpm[1:], fourier[1:])
    product = (a / max(a.max(), 1e-12)) * (f / max(f.max(), 1e-12))
    return bpms, product / max(product.max(), 1e-12)


def choose_tempo(
    bpms: np.ndarray, salience: np.ndarray, params: BeatParams
) -> tuple[float, list[dict[str, Any]]]:
    """The music's tempo: the salience peak under the tempo prior. Returns it and its octave
    neighbours, each with its salience and why it was not chosen."""
    prior = np.exp(-0.5 * (np.log2(bpms / params.prior_bpm) / params.prior_octaves) ** 2)
    weighted = salience * prior
    tempo = float(bpms[int(np.argmax(weighted))])

    def at(values: np.ndarray, bpm: float) -> float:
        return float(np.interp(np.log(bpm), np.log(bpms), values))

    alternatives = []
    for relation, bpm in (("half", tempo / 2), ("double", tempo * 2)):
        if params.tempo_min <= bpm <= params.tempo_max:
            alternatives.append({
                "bpm": round(bpm, 2), "relation": relation, "salience": round(at(salience, bpm), 4),
                "why_not": f"weaker under the {params.prior_bpm:g} BPM tempo prior "
                           f"({at(weighted, bpm):.3f} against {at(weighted, tempo):.3f})",
            })
    return tempo, alternatives


def _at_frames(envelope: np.ndarray, frames: np.ndarray, window: int) -> np.ndarray:
    """The envelope's maximum within `window` frames of each frame."""
    offsets = np.arange(-window, window + 1)
    idx = np.clip(frames[:, None] + offsets[None, :], 0, len(envelope) - 1)
    return envelope[idx].max(axis=1)


def _zscore(values: np.ndarray) -> np.ndarray:
    std = values.std()
    return (values - values.mean()) / std if std > 1e-12 else np.zeros_like(values)


def _best_phase(values: np.ndarray, cycle: int) -> int:
    """The phase (0..cycle-1) whose members have the highest mean value."""
    means = [values[p::cycle].mean() if len(values[p::cycle]) else -np.inf for p in range(cycle)]
    return int(np.argmax(means))


def _harmonic_change(chroma: np.ndarray, bounds: np.ndarray, span: int, lead: int) -> np.ndarray:
    """At each bound: how different the chroma of the `span` segments after it is from before.

    Segments start `lead` frames early: a tracked beat sits on the onset's peak, a little after
    the note begins, and the note should fall in the segment it starts.
    """
    starts = np.clip(bounds - lead, 0, chroma.shape[1] - 1)
    segments = librosa.util.sync(chroma, list(starts), aggregate=np.mean)  # segment j ends at starts[j]
    segments = segments / np.maximum(np.linalg.norm(segments, axis=0, keepdims=True), 1e-12)
    change = np.zeros(len(bounds))
    for i in range(len(bounds)):
        before = segments[:, max(0, i + 1 - span) : i + 1].mean(axis=1)
        after = segments[:, i + 1 : i + 1 + span].mean(axis=1)
        if after.size and np.any(after) and np.any(before):
            change[i] = 1.0 - float(before @ after / max(np.linalg.norm(before) * np.linalg.norm(after), 1e-12))
    return change


def downbeat_phase(features: Features, beat_frames: np.ndarray, params: BeatParams) -> int:
    """Which of every `beats_per_bar` beats starts a bar: the one with the most accent."""
    if len(beat_frames) < 2:
        return 0
    w = params.accent_window_frames
    accent = (
        _zscore(_at_frames(features.onset, beat_frames, w))
        + _zscore(_at_frames(features.low_onset, beat_frames, w))
        + _zscore(_harmonic_change(features.chroma, beat_frames, 1, w))
    )
    return _best_phase(accent, params.beats_per_bar)


def phrase_phase(features: Features, downbeat_frames: np.ndarray, params: BeatParams) -> int:
    """Which of every `bars_per_phrase` bars starts a phrase: where the harmony changes most."""
    if len(downbeat_frames) < 2 * params.bars_per_phrase:
        return 0
    change = _harmonic_change(features.chroma, downbeat_frames, 2, params.accent_window_frames)
    return _best_phase(change, params.bars_per_phrase)


def beat_confidence(onset: np.ndarray, beat_frames: np.ndarray, params: BeatParams) -> float:
    """0..1: onset strength on the beats against halfway between them, (on - off) / on.

    Music with a beat puts its attacks on the beats (or on them and between); speech, pads and
    noise put them anywhere, so any grid finds as much between its beats as on them.
    """
    if len(beat_frames) < 3:
        return 0.0
    w = params.accent_window_frames
    on = _at_frames(onset, beat_frames, w).mean()
    midpoints = np.rint((beat_frames[:-1] + beat_frames[1:]) / 2).astype(int)
    off = _at_frames(onset, midpoints, w).mean()
    return float(np.clip((on - off) / max(on, 1e-12), 0.0, 1.0))


def tempo_curve(times: np.ndarray, span: int) -> list[tuple[float, float]]:
    """(beat time, BPM) at each beat: over the `span` intervals around it (a mean, so that beats
    quantised to frames do not flicker between two tempi)."""
    if len(times) < 2:
        return []
    span = min(span, len(times) - 1)
    curve = []
    for i, t in enumerate(times):
        lo = min(max(0, i - span // 2), len(times) - 1 - span)
        curve.append((round(float(t), 4), round(60.0 * span / float(times[lo + span] - times[lo]), 2)))
    return curve


def _grid(
    features: Features, beat_frames: np.ndarray, params: BeatParams, *, source: str,
    alternatives: Sequence[dict[str, Any]], downbeat_index: int | None = None, shift: float = 0.0,
    tempo: float | None = None, exact: np.ndarray | None = None,
) -> BeatGrid:
    """Assemble the grid; `downbeat_index` (a beat known to start a bar) fixes the bar phase;
    `tempo` (the jobs.bpm override, trusted whatever the confidence) replaces the beats' mean tempo; `exact` times (an override's regular
    grid) replace the frames' times."""
    bpb = params.beats_per_bar
    phase = downbeat_index % bpb if downbeat_index is not None else downbeat_phase(features, beat_frames, params)
    if exact is None:
        exact = librosa.frames_to_time(beat_frames, sr=params.sr, hop_length=params.hop_length)
    times = exact + shift
    positions = (np.arange(len(times)) - phase) % bpb + 1
    keep = (times >= 0) & (times < features.duration)
    times, positions = times[keep], positions[keep]
    downbeats = times[positions == 1]
    phrase = phrase_phase(features, beat_frames[keep][positions == 1], params)
    confidence = beat_confidence(features.onset, beat_frames[keep], params)
    rounded = tuple(round(float(t), 4) for t in times)
    reliable = tempo is not None or confidence >= params.min_confidence  # jobs.bpm: the job says so
    if tempo is None:  # the slope of beat time over beat number, not quantised to frames
        tempo = 60.0 / float(np.polyfit(np.arange(len(times)), times, 1)[0]) if len(times) > 1 else 0.0
    return BeatGrid(
        tempo=round(tempo, 3),
        beats=rounded,
        downbeats=tuple(round(float(t), 4) for t in downbeats),
        phrases=tuple(round(float(t), 4) for t in downbeats[phrase :: params.bars_per_phrase]),
        music_duration=round(features.duration, 4),
        source=source,
        beats_per_bar=bpb,
        tempo_alternatives=tuple(alternatives),
        params=params.to_json(),
        positions=tuple(int(p) for p in positions),
        confidence=round(confidence, 4),
        reliable=reliable,
        tempo_curve=tuple(tempo_curve(np.array(rounded), params.tempo_curve_beats)),
    )


def _trim_weak_ends(frames: np.ndarray, onset: np.ndarray, params: BeatParams) -> np.ndarray:
    """Drop beats at either end that no onset supports: the tracker extrapolates the tempo into
    a fade-out or a lead-in, and a cut there would land on nothing."""
    if len(frames) < 3:
        return frames
    strength = _at_frames(onset, frames, params.accent_window_frames)
    supported = np.flatnonzero(strength >= params.weak_beat_ratio * np.median(strength))
    if len(supported) == 0:
        return frames[:0]
    return frames[supported[0] : supported[-1] + 1]


def _regular_frames(features: Features, tempo: float, params: BeatParams, anchor: float | None) -> np.ndarray:
    """A fixed-tempo grid through `anchor` seconds, or at the phase the onsets agree with most,
    in fractional frames (the grid itself is not rounded to frames)."""
    period = 60.0 / tempo * params.sr / params.hop_length  # in frames, not rounded
    n = len(features.onset)
    if anchor is not None:
        start = (anchor * params.sr / params.hop_length) % period
    else:
        phases = np.arange(0.0, period, 1.0)
        counts = np.arange(int(n / period) + 1)
        idx = np.clip(np.rint(phases[:, None] + counts[None, :] * period).astype(int), 0, n - 1)
        start = float(phases[int(np.argmax(features.onset[idx].mean(axis=1)))])
    return np.arange(start, n, period)


def librosa_beats(features: Features, params: BeatParams) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Beat frames from the tempogram product and librosa's DP tracker, and the tempo's octave
    alternatives."""
    bpms, salience = tempo_salience(features.onset, params)
    tempo, alternatives = choose_tempo(bpms, salience, params)
    _, frames = librosa.beat.beat_track(
        onset_envelope=features.onset, sr=params.sr, hop_length=params.hop_length,
        bpm=tempo, tightness=params.tightness, units="frames", trim=False,
    )
    return _trim_weak_ends(frames, features.onset, params), alternatives


def madmom_beats(y: np.ndarray, params: BeatParams) -> np.ndarray:
    """Beat frames from madmom's RNN beat activation and its DBN tracker (non-commercial models)."""
    try:
        from madmom.audio.signal import Signal
        from madmom.features.beats import DBNBeatTrackingProcessor, RNNBeatProcessor
    except ImportError:
        raise BeatDetectionError(
            "beat_tracker=madmom but madmom is not installed (pip install 'picaivid[madmom]'; "
            "its models are CC BY-NC-SA: non-commercial use only)"
        ) from None
    rate = 44100  # the networks' rate; madmom would resample by calling an ffmpeg binary
    signal = Signal(librosa.resample(y, orig_sr=params.sr, target_sr=rate).astype(np.float32), sample_rate=rate)
    activation = RNNBeatProcessor()(signal)
    times = DBNBeatTrackingProcessor(fps=100)(activation)
    return librosa.time_to_frames(times, sr=params.sr, hop_length=params.hop_length)


def beat_grid_from_audio(
    y: np.ndarray, params: BeatParams | None = None, *, bpm: float | None = None, beat_offset: float | None = None
) -> BeatGrid:
    """The grid of mono samples at params.sr; `bpm`/`beat_offset` are the job's overrides."""
    params = params or BeatParams()
    duration = len(y) / params.sr
    if bpm is not None and not 20.0 <= bpm <= 400.0:
        raise BeatDetectionError(f"bpm override {bpm:g} is not a musical tempo (20-400 BPM)")
    if beat_offset is not None and not 0.0 <= beat_offset < duration:
        raise BeatDetectionError(f"beat_offset {beat_offset:g} s is outside the music (0-{duration:.2f} s)")
    features = analyse(y, params)
    if bpm is not None:
        regular = _regular_frames(features, bpm, params, beat_offset)
        exact = regular * params.hop_length / params.sr
        anchor, shift = None, 0.0
        if beat_offset is not None:  # exact, not rounded to a frame
            anchor = int(np.argmin(np.abs(exact - beat_offset)))
            shift = beat_offset - float(exact[anchor])
        source = "jobs.bpm" + ("+jobs.beat_offset" if beat_offset is not None else "")
        return _grid(features, np.rint(regular).astype(int), params, source=source, alternatives=(),
                     downbeat_index=anchor, shift=shift, tempo=bpm, exact=exact)

    if params.tracker == "madmom":
        frames, alternatives = madmom_beats(y, params), []
    else:
        frames, alternatives = librosa_beats(features, params)
    if len(frames) < 2:
        raise BeatDetectionError("no steady beat found in the music")
    if beat_offset is None:
        return _grid(features, frames, params, source=params.tracker, alternatives=alternatives)
    times = librosa.frames_to_time(frames, sr=params.sr, hop_length=params.hop_length)
    anchor = int(np.argmin(np.abs(times - beat_offset)))
    return _grid(features, frames, params, source=f"{params.tracker}+jobs.beat_offset",
                 alternatives=alternatives, downbeat_index=anchor, shift=beat_offset - float(times[anchor]))


def beat_grid_from_file(
    path: Path, params: BeatParams | None = None, *, bpm: float | None = None, beat_offset: float | None = None
) -> BeatGrid:
    params = params or BeatParams()
    return beat_grid_from_audio(load_mono(path, params.sr), params, bpm=bpm, beat_offset=beat_offset)


def beat_f_measure(reference: Sequence[float], estimated: Sequence[float], window: float = 0.07) -> float:
    """mir_eval's beat F-measure (a beat within `window` seconds of an annotation is a hit).

    Called directly, not through mir_eval.beat.evaluate, which first drops every beat before
    5 s and would leave nothing of a short excerpt.
    """
    import mir_eval

    return float(mir_eval.beat.f_measure(np.asarray(reference, float), np.asarray(estimated, float), window))
