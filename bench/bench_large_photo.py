"""Peak memory of reading a 200 MP photo: Phase 1's analysis decode and Phase 2's render decode.

    python -m bench.bench_large_photo            # appends to bench/results/large_photo.md
    python -m bench.bench_large_photo --megapixels 108

A real RGB JPEG of the given size (a smooth, textured scene, so it compresses like a photo) is
written once; then each decode runs in a fresh process that records its peak RSS (VmHWM, the
file's bytes already read) before and after, so one measurement cannot inherit another's memory. The full-size decode
(what Pillow does without draft mode) is measured too, as the cost the reduced decode avoids.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "large_photo.md"

MEASURE = """
import sys, time
from tasks.media.images import decode_for_analysis, decode_for_render, decode_photo
def peak_kib():  # VmHWM starts afresh at exec; ru_maxrss would carry the parent's peak over a fork
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
data = open(sys.argv[1], "rb").read()
kind = sys.argv[2]
base = peak_kib()
start = time.perf_counter()
if kind == "analysis":
    out = decode_for_analysis(data)
elif kind == "render-1080p":
    out = decode_for_render(data, 1920, 1080)
else:
    out = decode_photo(data, max_pixels=10**12)
seconds = time.perf_counter() - start
peak = peak_kib()
print(out.pixels.shape[1], out.pixels.shape[0], base // 1024, peak // 1024, round(seconds, 2))
"""


def write_photo(path: Path, megapixels: float) -> tuple[int, int]:
    """A 4:3 RGB JPEG of about `megapixels`: a smooth scene plus fine grain, so it compresses about
    as a camera's photo does (tens of MiB at 200 MP). The writer holds it whole (about 1.2 GB)."""
    import numpy as np
    from PIL import Image

    height = int(math.sqrt(megapixels * 1e6 * 3 / 4))
    width = int(height * 4 / 3)
    rng = np.random.default_rng(0)
    scene = Image.fromarray((rng.random((48, 64, 3)) * 230).astype(np.uint8))
    pixels = np.asarray(scene.resize((width, height), Image.Resampling.BILINEAR)).copy()
    pixels += rng.integers(0, 24, pixels.shape, dtype=np.uint8)  # below 230 + 24: no wrap
    Image.fromarray(pixels).save(path, quality=90)
    return width, height


def measure(path: Path, kind: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PICAIVID_MAX_FULL_DECODE_PIXELS": str(10**12)}
    out = subprocess.run([sys.executable, "-c", MEASURE, str(path), kind], env=env, capture_output=True,
                         text=True, check=True, cwd=ROOT)
    w, h, base, peak, seconds = out.stdout.split()
    return {"decoded": f"{w}x{h}", "base_mb": int(base), "peak_mb": int(peak), "grown_mb": int(peak) - int(base),
            "seconds": float(seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megapixels", type=float, default=200.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "large.jpg"
        started = time.perf_counter()
        width, height = write_photo(path, args.megapixels)
        written = time.perf_counter() - started
        size_mb = path.stat().st_size / 2**20
        rows = {kind: measure(path, kind) for kind in ("analysis", "render-1080p", "full-size")}
    load = os.getloadavg()[0]
    lines = [
        f"\n## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {width}x{height} = {width * height / 1e6:.0f} MP JPEG "
        f"({size_mb:.0f} MiB, written in {written:.1f} s), load average {load:.1f}\n",
        "| decode | decoded to | peak RSS (MiB) | grown by (MiB) | seconds |",
        "|---|---|---|---|---|",
        *(f"| {k} | {r['decoded']} | {r['peak_mb']} | {r['grown_mb']} | {r['seconds']} |" for k, r in rows.items()),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    new = not RESULTS.exists()
    with RESULTS.open("a") as fh:
        if new:
            fh.write("# Peak memory of reading a large JPEG (bench/bench_large_photo.py)\n")
        fh.write(text)


if __name__ == "__main__":
    main()
