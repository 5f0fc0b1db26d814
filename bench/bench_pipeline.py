"""The demo listing end to end, against a bare x264 encode of its output measured in the same run.

    python -m bench.bench_pipeline              # appends to bench/results/pipeline.md
    python -m bench.bench_pipeline --quality    # also picks the final preset/CRF by SSIM

`picaivid demo` runs as a child process, exactly as a user starts it (imports, schema check,
sample listing, Prefect, four phases, exit). Its stages' wall and CPU seconds come from the
pipeline's own log lines (`demo.listing_made`, `phase.finished` carry `wall_s`/`cpu_s`, see
tasks.usage); what lies between them (Prefect's server start, flow-run bookkeeping, exit) is
the difference of timestamps, and its CPU is the run's total (rusage of the child and all it
waited for) less the phases'. Peak memory is the process tree's summed RSS, sampled every
0.1 s (the embedded PostgreSQL server is not ours to count and is outside the tree).

The bare encode is the demo's own final video decoded and re-encoded with x264 `veryfast` at
the final CRF, less decoding it alone: the cost of just encoding those frames on this machine
at this moment. The machine is shared, so ratios to it (wall and CPU) are the reading, with
the load average recorded beside them.

`--quality` renders the demo's timeline again with each candidate preset/CRF and compares the
result with a `slow` render of the same timeline (ffmpeg's SSIM, luma and all planes); for each
preset the highest CRF that keeps both >= 0.98 is kept, and the cheapest in CPU seconds whose
file is at most MAX_SIZE_RATIO times the reference's is the pick. `--quality-only photos` runs
the same sweep on real listing photos.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np

from bench.machine import describe

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "pipeline.md"
TARGET_RATIO, TARGET_PEAK_GB, MIN_SSIM = 3.5, 1.5, 0.98
# A delivered file may be at most this much larger than the slow reference: ultrafast keeps
# SSIM only by spending 4-8x the bits (no CABAC, no B-frames), which viewers then download.
MAX_SIZE_RATIO = 1.5
REFERENCE = ("slow", 20)  # the yardstick: slow at the CRF finals had before they were chosen here
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast")
CRFS = (26, 24, 22, 20, 18)  # tried from the smallest output down, per preset, until SSIM holds

HEADER = """# The demo end to end: `picaivid demo` against a bare encode of its output

`python -m bench.bench_pipeline` appends one dated section per run. Target (2-core dev machine):
**the whole demo (the sample listing -> 30 s 1080p30) within 3.5x a bare x264 `veryfast` encode of its
output**, every stage shown, peak memory under 1.5 GB.

- Stage wall and CPU seconds are the pipeline's own (`demo.listing_made` and `phase.finished`
  log lines); rows in italics are gaps between them (Prefect, process start and exit), whose CPU
  is the run's total less the logged stages'.
- *bare encode* = the demo's final video decoded and re-encoded by x264 `veryfast` at the final
  CRF, less decoding it alone, measured right after the demo in the same run.
- The machine is shared by several agents: absolute seconds reflect the load (recorded); the
  CPU-second ratio is the steadier figure.
"""


def machine() -> str:
    return describe()


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    peak_rss: float  # bytes, summed over the process tree
    peak_holders: list[str]  # its processes at that moment, largest first
    started: float  # epoch seconds
    events: list[dict]
    stdout: str


def tree_rss(proc: Any) -> tuple[int, list[str]]:
    """Summed RSS of a psutil.Process and its descendants, and who holds how much."""
    import psutil

    held = []
    for p in [proc, *proc.children(recursive=True)]:
        try:
            held.append((p.memory_info().rss, " ".join(p.cmdline()[:3])[:60]))
        except psutil.Error:
            pass
    return sum(rss for rss, _ in held), [f"{who} {rss / 1e6:.0f} MB" for rss, who in sorted(held, reverse=True)]


def run_logged(args: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> Run:
    """Run a command, sampling its tree's memory, and parse the JSON log lines it wrote."""
    import psutil

    peak, holders = 0, []
    cpu0, started, t0 = children_cpu(), time.time(), time.perf_counter()
    with log_path.open("w") as err:
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=err, text=True, cwd=cwd)
        watched = psutil.Process(proc.pid)
        out: list[str] = []
        reader = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        while proc.poll() is None:
            try:
                total, who = tree_rss(watched)
            except psutil.Error:
                continue
            if total > peak:
                peak, holders = total, who
            time.sleep(0.1)
        reader.join()
    wall, cpu = time.perf_counter() - t0, children_cpu() - cpu0
    if proc.returncode:
        tail = "\n".join(log_path.read_text().splitlines()[-30:])
        sys.exit(f"{' '.join(args)} failed ({proc.returncode}); the end of its log:\n{tail}")
    return Run(wall, cpu, peak, holders, started, parse_events(log_path.read_text()), "".join(out))


def parse_events(text: str) -> list[dict]:
    """Structured log lines (Prefect prefixes some with its own header) as dicts, in order."""
    events = []
    for line in text.splitlines():
        start = line.find('{"')
        if start < 0:
            continue
        try:
            event = json.loads(line[start:])
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and "event" in event and "timestamp" in event:
            event["t"] = datetime.fromisoformat(event["timestamp"]).timestamp()
            events.append(event)
    return events


@dataclass(frozen=True)
class Stage:
    name: str
    wall: float
    cpu: float | None  # None: not logged (a gap), filled from the total
    gap: bool = False


def stages(run: Run) -> list[Stage]:
    """The run cut at its logged points: each logged stage, and the gaps between them.

    Code from before the stages logged `wall_s`/`cpu_s` (a `--code` checkout of main) gets
    its phases' wall time from their start and finish lines and no CPU split."""
    first = {e["event"]: e for e in reversed(run.events)}
    listing = first.get("demo.listing_made")
    if listing:
        rows = [Stage("process start-up (imports)", listing["t"] - listing["wall_s"] - run.started, None, gap=True),
                Stage("schema check + sample listing", listing["wall_s"], listing["cpu_s"])]
        last = listing["t"]
    else:
        last = first["job.created"]["t"]
        rows = [Stage("process start-up, schema check, sample listing (not logged)", last - run.started, None, gap=True)]
    flow_started = first.get("create_video.started", {}).get("t")
    started: dict[str, float] = {}
    for event in run.events:
        if event["event"] == "phase.started":
            label = "Prefect: create_video flow run start" if flow_started and last < flow_started \
                else "Prefect flow-run bookkeeping"
            rows.append(Stage(f"{label} (before {event['phase']})", event["t"] - last, None, gap=True))
            started[event["phase"]] = event["t"]
        if event["event"] == "phase.finished":
            wall = event.get("wall_s", event["t"] - started.get(event["phase"], event["t"]))
            rows.append(Stage(event["phase"], wall, event.get("cpu_s")))
            last = event["t"]
    rows.append(Stage("finishing runs, process exit", run.started + run.wall - last, None, gap=True))
    return rows


def ffmpeg_timed(args: list[str]) -> tuple[float, float]:
    from tasks.media.ffmpeg import ffmpeg_exe

    cpu0, t0 = children_cpu(), time.perf_counter()
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)
    return time.perf_counter() - t0, children_cpu() - cpu0


def bare_encode(video: Path, preset: str, crf: int, fps: int, tmp: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of encoding `video`'s frames alone: decode + encode − decode."""
    from tasks.assemble.graph import Encoder

    dec_wall, dec_cpu = ffmpeg_timed(["-i", str(video), "-map", "0:v:0", "-f", "null", "-"])
    enc_wall, enc_cpu = ffmpeg_timed(["-i", str(video), "-map", "0:v:0", *Encoder(preset, crf).args(fps),
                                      str(tmp / f"bare-{preset}.mp4")])
    return enc_wall - dec_wall, enc_cpu - dec_cpu


def local_server() -> str:
    """Have the CLI's shared local Prefect server running before the demo, as it is for every
    command after a Prefect home's first (flows.local_api): its start is paid once, not per
    command, and it is not counted in the demo's process tree. Says how it was found."""
    from flows.local_api import configured_api_url, ensure_local_api

    if configured_api_url():
        return "Prefect: the configured PREFECT_API_URL."
    started: list[float] = []
    t0 = time.perf_counter()
    ensure_local_api(on_start=lambda: started.append(t0))
    if started:
        return (f"Prefect: the CLI's local server was started by the bench before the demo "
                f"({time.perf_counter() - t0:.1f} s, once per Prefect home) and reused by it.")
    return "Prefect: the CLI's local server, already running, reused by the demo."


def delivered_videos(result: dict) -> list[Path]:
    """Every distinct video file the demo delivered (each format's branded and unbranded cut),
    the first format's branded cut first; older code that reports only the final video: that."""
    uris = [result["final_video_uri"]]
    for cuts in (result.get("deliveries") or {}).values():
        uris += [entry["video"] for entry in cuts.values()]
    return [Path(unquote(urlparse(uri).path)) for uri in dict.fromkeys(uris)]


def warp_rates(listing: Path, frames: int = 90) -> tuple[float, float]:
    """Frames per CPU-second at 1080p of the parallax warp alone, and with the clip encode
    (`clip_x264_preset`/`clip_crf`), on a demo photo with its true depth, in this process."""
    from PIL import Image

    from db.enums import MotionType
    from tasks.depth.unit import unit_depth_from_metric
    from tasks.media.video import VideoWriter
    from tasks.render.parallax import parallax_frames
    from tasks.settings import get_settings

    settings = get_settings()
    image = np.asarray(Image.open(listing / "photos" / "living_a.jpg").convert("RGB"))
    depth = unit_depth_from_metric(np.asarray(Image.open(listing / "depth" / "living_a.png"), np.float32) / 1000.0)

    def move() -> Any:
        return parallax_frames([image], [depth], MotionType.micro_push_in, 1920, 1080, frames)

    cpu = time.process_time()
    for _ in move():
        pass
    warp = time.process_time() - cpu
    cpu = time.process_time()
    with VideoWriter(Path(tempfile.mkdtemp()) / "clip.mp4", 1920, 1080, 30, crf=settings.clip_crf,
                     preset=settings.clip_x264_preset) as writer:
        for frame in move():
            writer.write(frame)
    return frames / warp, frames / (time.process_time() - cpu)


def ssim(candidate: Path, reference: Path) -> tuple[float, float]:
    """(Y, All) SSIM of `candidate` against `reference`, frame by frame."""
    from tasks.media.ffmpeg import ffmpeg_exe

    done = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(candidate), "-i", str(reference),
         "-lavfi", "[0:v][1:v]ssim", "-f", "null", "-"], capture_output=True, text=True, check=True)
    match = re.search(r"SSIM Y:([\d.]+).* All:([\d.]+)", done.stderr)
    if match is None:
        raise RuntimeError(f"no SSIM in ffmpeg's output: {done.stderr[-400:]}")
    return float(match.group(1)), float(match.group(2))


def demo_timeline(job_id: str, tmp: Path) -> Any:
    """The newest timeline of a demo job, its clips fetched, as a TimelineSpec."""
    import uuid

    from tasks.assemble.phase import fetch_inputs, load_timeline
    from tasks.storage import get_store

    timeline, rows, *_ = load_timeline(uuid.UUID(job_id), None)
    return fetch_inputs(timeline, rows, get_store(), tmp / "inputs")


def photo_timeline(shots: int = 7) -> Any:
    """Real listing photos (bench_assemble's clips of ../shared/data/listings/houses): the
    first `shots` shots of its 60 s timeline, about 30 s with cuts and transitions."""
    from bench.bench_assemble import clips, music, timeline_15
    from tasks.settings import get_settings

    paths = clips(get_settings().data_dir / "bench" / "assemble-clips")[:shots]
    return timeline_15(paths, music(Path(tempfile.mkdtemp())))


def sweep_plan(candidates: list[tuple[str, int]] | None) -> list[tuple[str, tuple[int, ...]]]:
    """(preset, CRFs to try in order) pairs: the given candidates grouped, or the full sweep."""
    if not candidates:
        return [(preset, CRFS) for preset in PRESETS]
    presets = dict.fromkeys(preset for preset, _ in candidates)
    return [(preset, tuple(crf for p, crf in candidates if p == preset)) for preset in presets]


def quality_sweep(spec: Any, tmp: Path, candidates: list[tuple[str, int]] | None = None) -> list[str]:
    """Render `spec` with `slow` and each candidate preset/CRF: SSIM against slow, and cost.

    Without `candidates`, each preset from PRESETS at CRFs from CRFS until one keeps SSIM."""
    import dataclasses

    from tasks.assemble.graph import Encoder
    from tasks.assemble.render import render_options, render_timeline
    from tasks.domain.formats import resolve_format
    from tasks.settings import get_settings

    settings = get_settings()
    fmt = resolve_format("16x9", 1920, 1080, preview=False, preview_short_side=settings.preview_short_side)
    base = render_options(fmt, settings)
    seconds = spec.total_duration

    def render(preset: str, crf: int) -> tuple[Path, float, float]:
        work = tmp / f"{preset}-{crf}"
        cpu0, t0 = children_cpu(), time.perf_counter()
        result = render_timeline(spec, dataclasses.replace(base, encoder=Encoder(preset, crf)), work)
        return result.path, time.perf_counter() - t0, children_cpu() - cpu0

    reference, ref_wall, ref_cpu = render(*REFERENCE)
    lines = [(f"{len(spec.shots)} shots, {seconds:.2f} s. Reference: `{REFERENCE[0]}` CRF {REFERENCE[1]}, {ref_wall:.1f} s wall / "
              f"{ref_cpu:.1f} CPU s, {reference.stat().st_size * 8 / seconds / 1e6:.1f} Mbit/s."), "",
             "| preset | CRF | wall s | CPU s | Mbit/s | SSIM Y | SSIM all | Y and all >= 0.98 |",
             "|---|---|---|---|---|---|---|---|"]
    kept: list[tuple[float, str, int]] = []
    for preset, crfs in sweep_plan(candidates):
        for crf in crfs:
            path, wall, cpu = render(preset, crf)
            y, everything = ssim(path, reference)
            ok = min(y, everything) >= MIN_SSIM  # luma alone too: it is what the eye sees
            size = path.stat().st_size / reference.stat().st_size
            verdict = ("yes" if size <= MAX_SIZE_RATIO else f"yes, but {size:.1f}x the reference's size") if ok else "no"
            lines.append(f"| {preset} | {crf} | {wall:.1f} | {cpu:.1f} | {path.stat().st_size * 8 / seconds / 1e6:.1f}"
                         f" | {y:.4f} | {everything:.4f} | {verdict} |")
            print(lines[-1], flush=True)
            path.unlink()
            if ok:  # a lower CRF costs more and is only bigger
                if size <= MAX_SIZE_RATIO:
                    kept.append((cpu, preset, crf))
                break
    if kept:
        cpu, preset, crf = min(kept)
        lines += ["", (f"Cheapest keeping SSIM >= {MIN_SSIM} at no more than {MAX_SIZE_RATIO}x the reference's size: "
                       f"**{preset} CRF {crf}** ({cpu:.1f} CPU s).")]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, help="Demo data (embedded database, artifacts); default: a "
                        "bench folder under PICAIVID_DATA_DIR, kept between runs so the database exists.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--code", type=Path, help="Run the demo from this checkout instead (e.g. an export of "
                        "main, for a before/after in the same conditions); the bench itself stays this one.")
    parser.add_argument("--quality", action="store_true", help="Also sweep the final preset/CRF by SSIM.")
    parser.add_argument("--quality-only", metavar="JOB_ID", help="Only the sweep, on an earlier demo job "
                        "(in the same --data-dir), or on `photos`: real listing photos (bench_assemble's clips).")
    parser.add_argument("--candidates", help="Only these settings in the sweep, e.g. superfast:24,veryfast:22.")
    parser.add_argument("--note", default="", help="What this run's code is (goes into the result).")
    args = parser.parse_args()

    from tasks.settings import get_settings

    settings = get_settings()
    data_dir = (args.data_dir or settings.data_dir / "bench" / "pipeline").resolve()
    os.environ["PICAIVID_DATA_DIR"] = str(data_dir)
    get_settings.cache_clear()
    settings = get_settings()
    code = (args.code or ROOT).resolve()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(code), os.environ.get("PYTHONPATH")]))}

    candidates = [(p, int(c)) for p, c in (pair.split(":") for pair in args.candidates.split(","))] \
        if args.candidates else None
    load = os.getloadavg()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{stamp} — {machine()}, load {load[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp_name:
        tmp = Path(tmp_name)
        if args.quality_only:
            spec = photo_timeline() if args.quality_only == "photos" else demo_timeline(args.quality_only, tmp)
            lines = [f"\n## {stamp} — {machine()}, load average {load[0]:.1f} / {load[1]:.1f} (1/5 min) at start\n",
                     f"{args.note}\n" if args.note else "", "### Final encoder settings by measurement", "",
                     *quality_sweep(spec, tmp, candidates)]
            lines.append(f"\nLoad average at the end: {os.getloadavg()[0]:.1f}.")
            return append("\n".join(lines) + "\n")
        server = local_server()
        run = run_logged([sys.executable, "-m", "flows.cli", "demo", "--json", "--seed", str(args.seed),
                          "--out", str(tmp / "listing")], env, code, tmp / "demo.log")
        load_after = os.getloadavg()
        result = json.loads(run.stdout)
        final = Path(unquote(urlparse(result["final_video_uri"]).path))
        from tasks.media.video import probe

        info = probe(final)
        outputs = delivered_videos(result)
        bare = [bare_encode(video, "veryfast", settings.assemble_crf, round(info.fps), tmp) for video in outputs]
        bare_wall, bare_cpu = sum(w for w, _ in bare), sum(c for _, c in bare)
        first_wall, first_cpu = bare[0]
        warp, warp_encode = warp_rates(tmp / "listing")
        rows = stages(run)
        logged_cpu = sum(s.cpu for s in rows if s.cpu is not None)
        frames = sum(e["frames"] for e in run.events if e["event"] == "clip_generated")
        render_cpu = next((s.cpu for s in rows if s.name == "render"), None)
        lines = [(f"\n## {stamp} — {machine()}, load average {load[0]:.1f} / {load[1]:.1f} (1/5 min) at start, "
                  f"{load_after[0]:.1f} after the demo\n")]
        if args.note:
            lines.append(f"{args.note}\n")
        lines.append(f"{server}\n")
        used = (f"Final x264 `{settings.assemble_x264_preset}` CRF {settings.assemble_crf}; clips x264 "
                f"`{settings.clip_x264_preset}` CRF {settings.clip_crf}." if not args.code else f"Code: {code}.")
        lines.append(f"Demo seed {args.seed}: {result['status']}, {info.duration:.2f} s {info.width}x{info.height}"
                     f"@{info.fps:g} ({info.frame_count} frames). {used}\n")
        lines += ["| stage | wall s | CPU s | share of wall |", "|---|---|---|---|"]
        gaps_cpu = run.cpu - logged_cpu
        for s in rows:
            cpu = f"{s.cpu:.1f}" if s.cpu is not None else "(in the gaps' total)" if s.gap else "(not logged)"
            name = f"*{s.name}*" if s.gap else s.name
            lines.append(f"| {name} | {s.wall:.1f} | {cpu} | {s.wall / run.wall:.0%} |")
        unlogged = "all gaps together" if all(s.cpu is not None for s in rows if not s.gap) else "everything not logged"
        lines.append(f"| *{unlogged}* | {sum(s.wall for s in rows if s.gap):.1f} | {gaps_cpu:.1f} | "
                     f"{sum(s.wall for s in rows if s.gap) / run.wall:.0%} |")
        lines.append(f"| **whole demo** | **{run.wall:.1f}** | **{run.cpu:.1f}** | 100% |")
        lines.append(f"| bare x264 veryfast encode of its {len(outputs)} delivered videos | {bare_wall:.1f} | "
                     f"{bare_cpu:.1f} | |")
        if len(outputs) > 1:
            lines.append(f"| ... of the first (16:9 branded) alone | {first_wall:.1f} | {first_cpu:.1f} | |")
        ratio = run.wall / bare_wall
        verdict = "meets" if ratio <= TARGET_RATIO and run.peak_rss < TARGET_PEAK_GB * 1e9 else "misses"
        prefect = sum(s.wall for s in rows if s.name.startswith("Prefect: create_video"))
        lines += ["", (f"- **whole demo / bare veryfast encode of its {len(outputs)} videos: {ratio:.2f}x wall, "
                       f"{run.cpu / bare_cpu:.2f}x CPU** "
                       f"({verdict} the target: <= {TARGET_RATIO}x, < {TARGET_PEAK_GB} GB); without the gap before "
                       f"analyze ({prefect:.1f} s, Prefect's flow-run start): "
                       f"{(run.wall - prefect) / bare_wall:.2f}x wall. Against the first video's bare encode alone: "
                       f"{run.wall / first_wall:.2f}x wall, {run.cpu / first_cpu:.2f}x CPU."),
                  f"- Peak memory (process tree, summed RSS): {run.peak_rss / 1e9:.2f} GB: "
                  + "; ".join(run.peak_holders) + "."]
        if render_cpu:
            lines.append(f"- Render: {frames} frames at {info.width}x{info.height} in {render_cpu:.1f} CPU s "
                         f"(parallax, clip encode and validation) = {frames / render_cpu:.1f} frames/s per core; "
                         f"bare veryfast encode: {info.frame_count / first_cpu:.1f} frames/s per core. The parallax warp "
                         f"alone: {warp:.1f} frames/s per core; with the clip's `{settings.clip_x264_preset}` encode: "
                         f"{warp_encode:.1f} (a 1080p push-in on a demo photo, in the bench's process).")
        done = sorted((e["clip_id"], e["score"]) for e in run.events if e["event"] == "clip_done")
        scores = [f"{score:.3f}" for _, score in done]
        rejected = sum(e["event"] == "clip_rejected" for e in run.events)
        lines.append(f"- Clips: {len(scores)} done, {rejected} rejected on the way; validation scores in plan order: "
                     f"{', '.join(scores)}.")
        if args.quality:
            lines += ["", "### Final encoder settings by measurement", ""]
            lines += quality_sweep(demo_timeline(result["job_id"], tmp), tmp, candidates)
    append("\n".join(lines) + "\n")


def append(text: str) -> None:
    print(text)
    if not RESULTS.exists():
        RESULTS.write_text(HEADER)
    with RESULTS.open("a") as out:
        out.write(text)


if __name__ == "__main__":
    main()
