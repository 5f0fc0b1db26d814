"""Phase 4 assembly: speed against a bare encode, and memory on long timelines.

    python -m bench.bench_assemble                 # 15 clips -> 60 s 1080p30, plus a 60-shot timeline
    python -m bench.bench_assemble --skip-long --preset faster

Inputs: 15 clips of 5 s, 1080p30, made the way Phase 2's CPU backend makes them (a slow
push-in or pan over a listing photo, x264 superfast CRF 18 through tasks.media.video), from
../shared/data/listings/houses or, where that is absent, the procedural sample listing. They
are cached under <data_dir>/bench/assemble-clips. Music is ../shared/data/music/vibe_ace.ogg
(or a synthetic tone), so the audio path (mix, two-pass loudnorm, AAC) is timed too.

The 15-clip timeline is 60 s: 4.3 s shots, nine 0.5 s transitions (fade, dissolve, slides, wipes)
and five cuts. "Bare encode" is the cost of encoding those same 1800 output frames with the same
encoder settings (tasks.assemble.graph.Encoder), measured as: decode the assembled video and
re-encode it, minus decoding it alone. Each scenario runs in a fresh process so its peak memory
(the largest ffmpeg child's RSS plus the Python process's) is its own. The machine is shared, so
assembly and bare encode alternate `--repeat` times and the best of each is kept (the run least
disturbed by others); the load average and CPU seconds are recorded beside wall-clock times.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from bench.machine import describe

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "assemble.md"
FPS, WIDTH, HEIGHT = 30, 1920, 1080
CLIP_SECONDS, N_CLIPS = 5.0, 15
TRANSITIONS = ["fade", "cut", "dissolve", "slideleft", "cut", "wipeleft", "fadeblack", "cut", "smoothright",
               "cut", "circleopen", "fade", "cut", "zoomin"]  # into shots 1..14: nine transitions, five cuts
TARGET_RATIO, TARGET_PEAK_GB = 1.3, 1.5


def machine() -> str:
    from tasks.media.ffmpeg import ffmpeg_exe

    return describe(f"ffmpeg {Path(ffmpeg_exe()).name}", f"load {os.getloadavg()[0]:.1f}")


# ----------------------------------------------------------------------------- inputs


def photos() -> list[np.ndarray]:
    from PIL import Image

    houses = SHARED / "listings" / "houses"
    if houses.is_dir():
        paths = sorted(houses.glob("*/*.jpg"))[:N_CLIPS]
    else:
        from flows.dev.sample_listing import make_listing

        listing = make_listing(Path(tempfile.mkdtemp()), seed=0, music_seconds=1)
        paths = [p.path for p in listing.photos] * 2
    return [np.asarray(Image.open(p).convert("RGB")) for p in paths[:N_CLIPS]]


def ken_burns(image: np.ndarray, n: int, index: int):
    """A push-in (even clips) or a pan (odd), like the parallax backend's camera moves."""
    import cv2

    h, w = image.shape[:2]
    cover = max(WIDTH / w, HEIGHT / h)
    for i in range(n):
        t = i / (n - 1)
        zoom = 1.08 + (0.08 * t if index % 2 == 0 else 0.0)
        slide = 0.0 if index % 2 == 0 else (t - 0.5) * 0.06 * WIDTH
        s = cover * zoom
        affine = np.array([[s, 0, WIDTH / 2 - s * w / 2 - slide], [0, s, HEIGHT / 2 - s * h / 2]], np.float32)
        yield cv2.warpAffine(image, affine, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR)


def clips(cache: Path) -> list[Path]:
    from tasks.media.video import encode_frames

    cache.mkdir(parents=True, exist_ok=True)
    paths = [cache / f"clip-{i:02d}.mp4" for i in range(N_CLIPS)]
    if all(p.exists() for p in paths):
        return paths
    for i, image in enumerate(photos()):
        encode_frames(ken_burns(image, round(CLIP_SECONDS * FPS), i), paths[i], WIDTH, HEIGHT, FPS)
    return paths


def music(tmp: Path) -> Path:
    track = SHARED / "music" / "vibe_ace.ogg"
    if track.exists():
        return track
    import soundfile as sf

    t = np.arange(65 * 44100) / 44100
    x = 0.2 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 2 * t))
    sf.write(tmp / "tone.wav", np.stack([x, x], 1), 44100)
    return tmp / "tone.wav"


def timeline_15(paths: list[Path], track: Path):
    """15 shots of 4.3 s (in 0.4-4.7 s of each clip), 9 transitions of 0.5 s: 60.0 s."""
    from tests.assemble.media import shot, spec_of

    shots = [shot(i, p, 0.4, 4.7, "cut" if i == 0 else TRANSITIONS[i - 1],
                  0.0 if i == 0 or TRANSITIONS[i - 1] == "cut" else 0.5) for i, p in enumerate(paths)]
    return spec_of(shots, FPS, track)


def timeline_60(paths: list[Path], track: Path):
    """60 shots of 1.25 s, each clip used four times at different trims, all 0.25 s fades: 60.25 s."""
    from tests.assemble.media import shot, spec_of

    shots = []
    for i in range(60):
        start = 0.2 + (i // N_CLIPS) * 1.1
        shots.append(shot(i, paths[i % N_CLIPS], start, start + 1.25, "cut" if i == 0 else "dissolve",
                          0.0 if i == 0 else 0.25))
    return spec_of(shots, FPS, track)


# ----------------------------------------------------------------------------- measuring


@dataclass
class Run:
    wall_s: float
    cpu_s: float  # children's user + system seconds
    peak_gb: float  # largest child RSS + this process's RSS
    extra: dict


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _measure(fn, *args) -> Run:
    """Run fn in this (fresh) process; its ffmpeg children's CPU and peak RSS are all its own."""
    cpu0, t0 = _children_cpu(), time.perf_counter()
    extra = fn(*args)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return Run(wall, cpu, (child_kb + self_kb) / 1024**2, extra)


def in_fresh_process(fn, *args) -> Run:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_measure, fn, *args).result()


def assemble(spec, workdir: Path, max_shots: int) -> dict:
    os.environ["PICAIVID_ASSEMBLE_SEGMENT_SHOTS"] = str(max_shots)
    from tasks.assemble.probe import probe_output
    from tasks.assemble.render import render_options, render_timeline
    from tasks.domain.formats import resolve_format
    from tasks.logs import configure_logging
    from tasks.settings import get_settings

    configure_logging(level="WARNING")
    settings = get_settings()
    fmt = resolve_format("16x9", WIDTH, HEIGHT, preview=False, preview_short_side=settings.preview_short_side)
    result = render_timeline(spec, render_options(fmt, settings), workdir)
    facts = probe_output(result.path)
    return {"path": str(result.path), "segments": result.segments, "facts": facts,
            "preset": settings.assemble_x264_preset, "crf": settings.assemble_crf}


def bare_encode(video: Path, workdir: Path) -> dict:
    """Decode + encode the assembled frames with the same encoder, and decode alone."""
    from tasks.assemble.graph import Encoder
    from tasks.media.ffmpeg import run_ffmpeg
    from tasks.settings import get_settings

    settings = get_settings()
    encoder = Encoder(settings.assemble_x264_preset, settings.assemble_crf)
    t0, c0 = time.perf_counter(), _children_cpu()
    run_ffmpeg(["-i", str(video), "-map", "0:v:0", *encoder.args(FPS), str(workdir / "bare.mp4")], "bare encode")
    t1, c1 = time.perf_counter(), _children_cpu()
    run_ffmpeg(["-i", str(video), "-map", "0:v:0", "-f", "null", "-"], "decode only")
    t2, c2 = time.perf_counter(), _children_cpu()
    return {"encode_wall": (t1 - t0) - (t2 - t1), "encode_cpu": (c1 - c0) - (c2 - c1),
            "reencode_wall": t1 - t0, "decode_wall": t2 - t1}


def loudness(spec) -> dict:
    """A 540p preview of `spec`: its loudness and true peak after two-pass loudnorm and AAC."""
    from tasks.assemble.probe import probe_output
    from tasks.assemble.render import render_options, render_timeline
    from tasks.domain.formats import resolve_format
    from tasks.logs import configure_logging
    from tasks.settings import get_settings

    configure_logging(level="WARNING")
    settings = get_settings()
    fmt = resolve_format("16x9", WIDTH, HEIGHT, preview=True, preview_short_side=settings.preview_short_side)
    with tempfile.TemporaryDirectory(dir=settings.data_dir) as tmp:
        result = render_timeline(spec, render_options(fmt, settings), Path(tmp))
        facts = probe_output(result.path)
    return {"in": result.loudness_in.integrated if result.loudness_in else None,
            "lufs": facts["loudness_lufs"], "tp": facts["true_peak_dbtp"]}


# ----------------------------------------------------------------------------- main


def speed_lines(spec, tmp: Path, repeat: int, max_shots: int) -> list[str]:
    runs, bares = [], []
    for _ in range(repeat):
        runs.append(in_fresh_process(assemble, spec, tmp / "a15", max_shots))
        bares.append(in_fresh_process(bare_encode, Path(runs[-1].extra["path"]), tmp).extra)
    run = min(runs, key=lambda r: r.wall_s)
    cpu_s, peak_gb = min(r.cpu_s for r in runs), max(r.peak_gb for r in runs)
    bare = {key: min(b[key] for b in bares) for key in bares[0]}
    facts = run.extra["facts"]
    ratio, cpu_ratio = run.wall_s / bare["encode_wall"], cpu_s / bare["encode_cpu"]
    verdict = "meets" if ratio <= TARGET_RATIO and peak_gb < TARGET_PEAK_GB else "misses"
    line = (
        f"- 15 clips -> {facts['duration']:.2f} s {facts['width']}x{facts['height']}@{facts['fps']:g} "
        f"({facts['frame_count']} frames, {run.extra['segments']} segments, x264 {run.extra['preset']} "
        f"crf {run.extra['crf']}, {facts['loudness_lufs']} LUFS): assemble {run.wall_s:.1f} s wall / "
        f"{cpu_s:.1f} CPU s, peak {peak_gb:.2f} GB; bare encode of the same frames "
        f"{bare['encode_wall']:.1f} s wall / {bare['encode_cpu']:.1f} CPU s (re-encode "
        f"{bare['reencode_wall']:.1f} s - decode {bare['decode_wall']:.1f} s; best of {repeat}) -> "
        f"{ratio:.2f}x wall, {cpu_ratio:.2f}x CPU: {verdict} the target (<= {TARGET_RATIO}x, < {TARGET_PEAK_GB} GB)"
    )
    return [line]


def long_lines(spec, tmp: Path, shot_limits: list[int]) -> list[str]:
    lines = []
    for max_shots in shot_limits:
        r = in_fresh_process(assemble, spec, tmp / f"a60-{max_shots}", max_shots)
        f = r.extra["facts"]
        lines.append(
            f"- 60 shots (1.25 s, up to 3.5 s into their clips, 0.25 s dissolves) -> {f['duration']:.2f} s, "
            f"{f['frame_count']} frames, {r.extra['segments']} segment(s) of <= {max_shots} shots: "
            f"{r.wall_s:.1f} s wall, peak {r.peak_gb:.2f} GB"
        )
    return lines


def loudness_lines(paths: list[Path]) -> list[str]:
    """Each shared music track under four 5 s shots (20 s preview): loudness after the mix."""
    from tasks.settings import get_settings
    from tests.assemble.media import shot, spec_of

    settings = get_settings()
    target = f"{settings.loudness_lufs} LUFS, <= {settings.true_peak_dbtp} dBTP"
    readings = []
    for track in sorted((SHARED / "music").glob("*.ogg")):
        spec = spec_of([shot(i, paths[i], 0.0, 5.0) for i in range(4)], FPS, track)
        r = in_fresh_process(loudness, spec).extra
        readings.append(f"{track.stem} {r['in']} -> {r['lufs']} LUFS / {r['tp']} dBTP")
    return [f"- loudness (target {target}): " + "; ".join(readings)] if readings else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-speed", action="store_true", help="skip the 15-clip speed run")
    parser.add_argument("--skip-long", action="store_true", help="skip the 60-shot memory run")
    parser.add_argument("--unbounded", action="store_true",
                        help="also render the 60 shots as one segment, to show what segmenting saves")
    parser.add_argument("--preset", help="x264 preset for this run (default: the setting)")
    parser.add_argument("--repeat", type=int, default=2, help="alternating runs of each; the best counts")
    args = parser.parse_args()
    if args.preset:
        os.environ["PICAIVID_ASSEMBLE_X264_PRESET"] = args.preset
    from tasks.logs import configure_logging
    from tasks.settings import get_settings

    configure_logging(level="WARNING")
    settings = get_settings()
    paths = clips(settings.data_dir.resolve() / "bench" / "assemble-clips")
    out = [f"\n### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}\n"]
    with tempfile.TemporaryDirectory(prefix="bench-assemble-", dir=settings.data_dir) as tmp_name:
        tmp = Path(tmp_name)
        track = music(tmp)
        sections = []
        if not args.skip_speed:
            sections.append(lambda: speed_lines(timeline_15(paths, track), tmp, args.repeat, settings.assemble_segment_shots))
        if not args.skip_long:
            limits = [settings.assemble_segment_shots] + ([60] if args.unbounded else [])
            sections.append(lambda: long_lines(timeline_60(paths, track), tmp, limits))
        sections.append(lambda: loudness_lines(paths))
        for section in sections:
            for line in section():
                out.append(line)
                print(line, flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if not RESULTS.exists():
        RESULTS.write_text("# Phase 4 assembly: speed and memory\n\nAppended by `python -m bench.bench_assemble`.\n")
    with open(RESULTS, "a") as fh:
        fh.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
