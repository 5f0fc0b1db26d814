"""Phase 2's framing strategy: render each clip at every format's own framing, or once wide?

    python -m bench.bench_framing                # appends to bench/results/framing.md
    python -m bench.bench_framing --seconds 2 --repeat 2

A job in 16:9 and 9:16 (or all three formats) needs, per shot, footage that covers each
format's crop window (tasks.analyze.framing) at the format's full size without upscaling. Two
ways to get it with the CPU parallax renderer (frames + H.264, what Phase 2 stores):
- per format: one clip per format, each rendered at the format's size from the photo cut to
  its window (what tasks.render.clip_unit does);
- wide once: one clip of the union of the windows, large enough that every window inside it
  still holds its format's full size, each format then cut from it in Phase 4.
Inputs: sample-listing photos (768x512, true depth), and a ../shared/data/listings/houses
photo when present; windows are Phase 1's. The machine is shared: the load average is
recorded, and the best of `--repeat` runs is the fair reading.
"""

from __future__ import annotations

import math
import tempfile
from functools import partial
from pathlib import Path

import numpy as np

from bench.bench_render import HOUSES, start, timed
from bench.machine import append_section

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "framing.md"
HEADER = """# Framing per format: render each format, or once wide

`python -m bench.bench_framing` appends one dated section per run (tasks.render.clip_unit
renders per format; this is the measurement behind that choice). *Per format* renders one clip
per format at its own size from the photo's crop window; *wide once* renders one clip of the
union of the windows, big enough that each window still holds its format's size (no upscaling
in Phase 4). *Mpx/frame* is the pixels rendered per output frame over all formats. CPU parallax
renderer, frames + libx264 into mp4, as Phase 2 stores clips.
"""


def union(windows: list[list[float]]) -> list[float]:
    x0, y0 = min(w[0] for w in windows), min(w[1] for w in windows)
    x1, y1 = max(w[0] + w[2] for w in windows), max(w[1] + w[3] for w in windows)
    return [x0, y0, x1 - x0, y1 - y0]


def wide_size(box: list[float], windows: dict[str, list[float]], photo_w: int, photo_h: int) -> tuple[int, int]:
    """The union box's render size at which every window holds its format's full size."""
    from tasks.domain.formats import even, get_format

    aspect = box[2] * photo_w / (box[3] * photo_h)
    width = max(max(get_format(n).width * box[2] / w[2], get_format(n).height * box[3] / w[3] * aspect)
                for n, w in windows.items())
    return even(width), even(width / aspect)


def cut(image: np.ndarray, box: list[float]) -> np.ndarray:
    from tasks.domain.formats import window_box

    left, top, right, bottom = window_box(box, image.shape[1], image.shape[0])
    return np.ascontiguousarray(image[top:bottom, left:right])


def photos(tmp: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from PIL import Image

    from flows.dev.sample_listing import make_listing
    from tasks.depth.estimator import load_depth_estimator
    from tasks.depth.unit import unit_depth_from_metric

    listing = make_listing(tmp / "listing", music_seconds=1.0)
    by_stem = {p.path.stem: p for p in listing.photos}
    living = by_stem["living_a"]
    found = {"sample living_a 768x512": (np.asarray(Image.open(living.path).convert("RGB")),
                                         unit_depth_from_metric(listing.depth(living)))}
    kitchen = HOUSES / "1" / "kitchen.jpg"
    if kitchen.exists():
        image = np.asarray(Image.open(kitchen).convert("RGB"))
        h, w = image.shape[:2]
        found[f"houses/1/kitchen {w}x{h}"] = (image, load_depth_estimator().estimate([image])[0])
    return found


def render(image: np.ndarray, depth: np.ndarray, size: tuple[int, int], seconds: float, fps: int, out: Path) -> None:
    """One micro push-in clip of `image` at `size`, frames + H.264, as Phase 2 makes it."""
    from db.enums import ConfidenceTier, MotionType
    from tasks.render.generator import ClipRequest, ParallaxBackend, generate_clip

    request = ClipRequest(images=(image,), depths=(depth,), motion=MotionType.micro_push_in, room_type="living_room",
                          duration=seconds, fps=fps, width=size[0], height=size[1], tier=ConfidenceTier.low)
    generate_clip(request, ParallaxBackend(), out)


def per_format(image: np.ndarray, depth: np.ndarray, windows: dict[str, list[float]], seconds: float, fps: int,
               tmp: Path) -> None:
    """A clip per format at its own size, each from the photo cut to its window (16:9: whole)."""
    from tasks.domain.formats import PRIMARY, get_format

    for name, window in windows.items():
        framed = (image, depth) if name == PRIMARY else (cut(image, window), cut(depth, window))
        render(*framed, get_format(name).size, seconds, fps, tmp / f"{name}.mp4")


def bench(seconds: float, fps: int, repeat: int) -> list[str]:
    from tasks.analyze.framing import plan_framing
    from tasks.domain.formats import get_format

    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for label, (image, depth) in photos(tmp).items():
            h, w = image.shape[:2]
            for formats in (("16x9", "9x16"), ("16x9", "9x16", "1x1")):
                windows = plan_framing(image, depth, w, h, formats)["windows"]
                box = union(list(windows.values()))
                size = wide_size(box, windows, w, h)
                a, a_cpu = timed(partial(per_format, image, depth, windows, seconds, fps, tmp), repeat)
                b, b_cpu = timed(partial(render, cut(image, box), cut(depth, box), size, seconds, fps, tmp / "wide.mp4"),
                                 repeat)
                per_px = sum(math.prod(get_format(n).size) for n in formats) / 1e6
                names = " + ".join(formats)
                sizes = " + ".join("x".join(map(str, get_format(n).size)) for n in formats)
                rows.append(f"| {label} | {names} | per format | {sizes} | {per_px:.2f} | {a:.2f} s | {a_cpu:.2f} |")
                rows.append(f"| {label} | {names} | wide once | {size[0]}x{size[1]} | {math.prod(size) / 1e6:.2f} | "
                            f"{b:.2f} s | {b_cpu:.2f} |")
                print(rows[-2], rows[-1], sep="\n")
    return rows


def main() -> None:
    args, heading = start(__doc__, seconds=2.0, repeat=2)
    rows = bench(args.seconds, args.fps, args.repeat)
    append_section(RESULTS, HEADER, heading,
                   f"{args.seconds:g} s micro push-in clips at {args.fps} fps, best of {args.repeat}.\n\n"
                   "| photo | formats | strategy | rendered | Mpx/frame | wall | CPU s |\n|---|---|---|---|---|---|---|\n"
                   + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
