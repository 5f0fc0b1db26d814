"""Beat detection quality and speed: F-measure (mir_eval, 70 ms window) and tempo choices.

    python -m bench.bench_beats          # prints, and appends to bench/results/beats.md

Inputs: synthetic click tracks of known tempo (beat one of each bar accented), tempi chosen to
tempt octave errors (60 tempts doubling into the editing band; 180 and 200 are halved by
design, so their F-measure is also given against every other click); ../shared/data/beats
(808 kick at exactly 120 BPM with its first kick at 0 s; sample.wav with its hand annotation);
../shared/data/music, as shipped and re-encoded at 16 kbit/s 8 kHz mono MP3 (the "65 BPM
trap"). Speed is wall-clock seconds of analysis per minute of audio, decoding included; the
machine is shared, so the load average is recorded beside it.
"""

from __future__ import annotations

import os
import platform
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from tasks.timeline.beats import (
    BeatParams,
    beat_f_measure,
    beat_grid_from_audio,
    beat_grid_from_file,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "beats.md"
WINDOW = 0.07
CLICK_TEMPI = (60, 72, 90, 120, 128, 150, 180, 200)


def machine() -> str:
    lines = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.processor())
    import librosa

    return f"{cpu}, {os.cpu_count()} cores, librosa {librosa.__version__}, load {os.getloadavg()[0]:.1f}"


def click_rows() -> list[str]:
    from tests.timeline.audio_fixtures import click_track

    rows = []
    for bpm in CLICK_TEMPI:
        y, clicks = click_track(bpm, seconds=30.0)
        grid = beat_grid_from_audio(y)
        f_all = beat_f_measure(clicks, grid.beats, WINDOW)
        f_down = beat_f_measure(clicks[::4], grid.downbeats, WINDOW)
        note = ""
        if grid.tempo < bpm * 0.75:  # halved on purpose: compare with the clicks it keeps
            note = f", F vs every other click {beat_f_measure(clicks[::2], grid.beats, WINDOW):.3f}"
        rows.append(f"click {bpm} BPM: tempo {grid.tempo:.2f}, beat F {f_all:.3f}{note}, downbeat F {f_down:.3f}")
    return rows


def shared_rows() -> list[str]:
    beats = SHARED / "beats"
    if not beats.is_dir():
        return ["../shared/data absent: shared-data rows skipped"]
    rows = []
    kick = beat_grid_from_file(beats / "808kick120bpm.mp3")
    rows.append(f"808kick120bpm.mp3: tempo {kick.tempo:.2f}, beat F {beat_f_measure(np.arange(0, 10, 0.5), kick.beats, WINDOW):.3f}")
    annotated = [ln.split() for ln in (beats / "sample.beats").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    reference = np.array([float(t) for t, _ in annotated])
    downbeat_ref = np.array([float(t) for t, n in annotated if n == "1"])
    sample = beat_grid_from_file(beats / "sample.wav")
    rows.append(
        f"sample.wav: tempo {sample.tempo:.2f} (annotation {60 / np.median(np.diff(reference)):.2f}), "
        f"beat F {beat_f_measure(reference, sample.beats, WINDOW):.3f}, "
        f"downbeat F {beat_f_measure(downbeat_ref, sample.downbeats, WINDOW):.3f} (one annotated bar)"
    )
    return rows


def music_rows() -> list[str]:
    import imageio_ffmpeg

    music = SHARED / "music"
    if not music.is_dir():
        return []
    rows, seconds, audio = [], 0.0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted(music.glob("*.ogg")):
            low = Path(tmp) / f"{path.stem}-16k.mp3"
            subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-ac", "1",
                            "-ar", "8000", "-b:a", "16k", str(low)], check=True)
            start = time.perf_counter()
            grid = beat_grid_from_file(path)
            seconds += time.perf_counter() - start
            audio += grid.music_duration
            degraded = beat_grid_from_file(low)
            alternatives = ", ".join(f"{a['relation']} {a['bpm']:g}" for a in grid.tempo_alternatives)
            rows.append(
                f"{path.name} ({grid.music_duration:.0f} s): tempo {grid.tempo:.2f} (alternatives {alternatives}); "
                f"16 kbit/s MP3: tempo {degraded.tempo:.2f}, beat F vs the original {beat_f_measure(grid.beats, degraded.beats, WINDOW):.3f}"
            )
    rows.append(f"speed: {60 * seconds / audio:.2f} s of analysis per minute of music (decode included)")
    return rows


def main() -> None:
    beat_grid_from_audio(np.random.default_rng(0).standard_normal(BeatParams().sr * 3).astype(np.float32))  # JIT warm-up
    rows = click_rows() + shared_rows() + music_rows()
    for row in rows:
        print(row)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    new = not RESULTS.exists()
    with RESULTS.open("a") as fh:
        if new:
            fh.write("# Beat detection: F-measure (mir_eval, 70 ms) and tempo choices\n\n`python -m bench.bench_beats`\n")
        fh.write(f"\n## {stamp} — {machine()}\n\n" + "".join(f"- {row}\n" for row in rows))
    print(f"appended to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
