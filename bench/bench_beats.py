"""Beat tracking on annotated recordings: our grid against librosa's default, side by side.

    python -m bench.bench_beats          # prints, and appends to bench/results/beats.md
    PYTHONPATH=/path/to/madmom python -m bench.bench_beats   # adds madmom's RNN + DBN where importable

Per track and on average: F-measure (70 ms), CMLt and AMLt (mir_eval, called directly: its
`evaluate` drops the first 5 s, which would leave little of the short clips). Trackers:
- ours: tasks.timeline.beats with its defaults (what the timeline stores);
- librosa default: `librosa.beat.beat_track(y=y, sr=22050)`, nothing else set;
- librosa PLP: the local maxima of `librosa.beat.plp`;
- madmom (optional, non-commercial models): RNNBeatProcessor + DBNBeatTrackingProcessor.

Recordings (audio in ../shared/data, never copied here; annotations in bench/annotations with
how each was made): vibe_ace, lets_go_fishin, sugar_plum_fairy (its first 44.5 s) from
../shared/data/music; sample.wav (madmom's test clip and hand annotation, CC BY-NC-SA) and
808kick120bpm.mp3 (a kick at exactly 120 BPM from 0 s) from ../shared/data/beats. Then synthetic
click tracks for the tempo range, and wall-clock speed (the machine is shared: load recorded).
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import librosa
import mir_eval
import numpy as np

from bench.machine import describe
from tasks.timeline.audio import load_mono
from tasks.timeline.beats import BeatParams, beat_f_measure, beat_grid_from_audio, madmom_beats

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
ANNOTATIONS = ROOT / "bench" / "annotations"
RESULTS = ROOT / "bench" / "results" / "beats.md"
SR = BeatParams().sr
CLICK_TEMPI = (60, 90, 120, 150, 180, 200)


@dataclass(frozen=True)
class Recording:
    name: str
    audio: Path
    reference: np.ndarray
    end: float | None = None  # seconds of audio used (an annotated excerpt)


def read_beats(path: Path) -> np.ndarray:
    lines = path.read_text().splitlines()
    return np.array([float(line.split()[0]) for line in lines if line.strip() and not line.startswith("#")])


def recordings() -> list[Recording]:
    music, beats = SHARED / "music", SHARED / "beats"
    found = [
        Recording("vibe_ace", music / "vibe_ace.ogg", read_beats(ANNOTATIONS / "vibe_ace.beats")),
        Recording("lets_go_fishin", music / "lets_go_fishin.ogg", read_beats(ANNOTATIONS / "lets_go_fishin.beats")),
        Recording("sugar_plum_fairy 0-44.5 s", music / "sugar_plum_fairy.ogg",
                  read_beats(ANNOTATIONS / "sugar_plum_fairy.beats"), end=44.5),
        Recording("sample.wav", beats / "sample.wav", read_beats(beats / "sample.beats")),
        Recording("808kick120bpm", beats / "808kick120bpm.mp3", np.arange(0.0, 10.0, 0.5)),
    ]
    return [r for r in found if r.audio.exists()]


def librosa_default(y: np.ndarray) -> np.ndarray:
    return librosa.beat.beat_track(y=y, sr=SR, units="time")[1]


def librosa_plp(y: np.ndarray) -> np.ndarray:
    pulse = librosa.beat.plp(y=y, sr=SR)
    return librosa.times_like(pulse, sr=SR)[librosa.util.localmax(pulse)]


def ours(y: np.ndarray) -> np.ndarray:
    return np.array(beat_grid_from_audio(y).beats)


def madmom(y: np.ndarray) -> np.ndarray:
    params = BeatParams()
    return librosa.frames_to_time(madmom_beats(y, params), sr=params.sr, hop_length=params.hop_length)


def trackers() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    found: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "ours": ours, "librosa default": librosa_default, "librosa PLP": librosa_plp,
    }
    if importlib.util.find_spec("madmom") is None:
        return found
    return {**found, "madmom RNN+DBN (CC BY-NC-SA models)": madmom}


def scores(reference: np.ndarray, estimated: np.ndarray) -> tuple[float, float, float]:
    """(F, CMLt, AMLt)."""
    estimated = np.asarray(estimated, float)
    f = beat_f_measure(reference, estimated)
    if len(estimated) < 2:
        return f, 0.0, 0.0
    _, cmlt, _, amlt = mir_eval.beat.continuity(reference, estimated)
    return f, float(cmlt), float(amlt)


def table() -> list[str]:
    runners = trackers()
    names = list(runners)
    rows = ["| recording | " + " | ".join(f"{n}: F / CMLt / AMLt" for n in names) + " |",
            "|---" * (len(names) + 1) + "|"]
    totals: dict[str, list[tuple[float, float, float]]] = {n: [] for n in names}
    for rec in recordings():
        y = load_mono(rec.audio, SR)
        if rec.end is not None:
            y = y[: int(rec.end * SR)]
        cells = []
        for name, run in runners.items():
            s = scores(rec.reference, run(y))
            totals[name].append(s)
            cells.append(" / ".join(f"{v:.3f}" for v in s))
        rows.append(f"| {rec.name} | " + " | ".join(cells) + " |")
    means = [" / ".join(f"{v:.3f}" for v in np.mean(totals[n], axis=0)) for n in names]
    rows.append("| **mean** | " + " | ".join(means) + " |")
    return rows


def click_rows() -> list[str]:
    from tests.timeline.audio_fixtures import click_track

    rows = []
    for bpm in CLICK_TEMPI:
        y, clicks = click_track(bpm, seconds=30.0)
        grid = beat_grid_from_audio(y)
        rows.append(f"click {bpm} BPM: tempo {grid.tempo:.2f}, beat F {beat_f_measure(clicks, grid.beats):.3f}, "
                    f"downbeat F {beat_f_measure(clicks[::4], grid.downbeats):.3f}, confidence {grid.confidence:.2f}")
    return rows


def speed_row() -> str:
    seconds = audio = 0.0
    for path in sorted((SHARED / "music").glob("*.ogg")):
        start = time.perf_counter()
        grid = beat_grid_from_audio(load_mono(path, SR))
        seconds += time.perf_counter() - start
        audio += grid.music_duration
    return f"speed: {60 * seconds / max(audio, 1e-9):.2f} s of analysis per minute of music (decode included)"


def machine() -> str:
    return describe(f"librosa {librosa.__version__}", f"load {os.getloadavg()[0]:.1f}")


def main() -> None:
    beat_grid_from_audio(np.random.default_rng(0).standard_normal(SR * 3).astype(np.float32))  # JIT warm-up
    rows = table()
    bullets = click_rows() + [speed_row()]
    text = "\n".join(rows) + "\n\n" + "".join(f"- {b}\n" for b in bullets)
    print(text)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    with RESULTS.open("a") as fh:
        fh.write(f"\n## {stamp} — {machine()}\n\n{text}")
    print(f"appended to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
