"""Phase 1 model work: speed on a 40-photo listing, and how good the models and fallbacks are.

    python -m bench.bench_analyze              # speed + quality, appends to bench/results/analyze.md
    python -m bench.bench_analyze --speed-only --depth-arch swin2-tiny-256

Speed uses real-size architectures with random weights (no weights are reachable offline;
timing does not depend on them): OpenCLIP ViT-B-32 and MiDaS (v2.1 small at 256 px by default;
`--depth-arch` adds DPT v3.1 Swin2-T at 256 px or v3 DPT-Hybrid at 384 px). The 40 photos are the first 40 of ../shared/data/listings/houses
(else four sample listings), read as bytes and decoded once like Phase 1. "Forward" time is
time inside the models' forward passes; everything else (decoding, preprocessing, resizing,
statistics, clustering, labelling) is "outside". The machine is shared, so the load average
and the process's CPU seconds are recorded beside the wall-clock time.

Quality uses the fallbacks that run without weights, against ../shared/data and the sample
listing, and says so where a number would be meaningless (random CLIP weights).
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench.machine import describe

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "analyze.md"
HOUSE_LABELS = {"frontal": "front_exterior", "kitchen": "kitchen", "bedroom": "bedroom", "bathroom": "bathroom"}


def machine() -> str:
    import torch

    return describe(f"torch {torch.__version__} {torch.get_num_threads()} threads", f"load {os.getloadavg()[0]:.1f}")


# ----------------------------------------------------------------------------- inputs


def listing_bytes(n: int = 40) -> list[bytes]:
    houses = SHARED / "listings" / "houses"
    if houses.is_dir():
        return [p.read_bytes() for p in sorted(houses.glob("*/*.jpg"))[:n]]
    import tempfile

    from flows.dev.sample_listing import make_listing

    out: list[bytes] = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(n // 10 + 1):
            listing = make_listing(Path(tmp) / str(seed), seed=seed, music_seconds=2)
            out += [p.path.read_bytes() for p in listing.photos]
    return out[:n]


def decode(data: list[bytes]) -> list[np.ndarray]:
    from tasks.media.images import decode_photo
    from tasks.settings import get_settings

    return [decode_photo(d, get_settings().analysis_max_side).pixels for d in data]


def load_rgb(path: Path, max_side: int = 512) -> np.ndarray:
    from PIL import Image

    image = Image.open(path).convert("RGB")
    image.thumbnail((max_side, max_side))
    return np.asarray(image)


# ----------------------------------------------------------------------------- speed


@dataclass
class Stopwatch:
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def lap(self, name: str):
        start = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def wrap(self, name: str, fn: Callable) -> Callable:
        def timed(*args, **kwargs):
            with self.lap(name):
                return fn(*args, **kwargs)
        return timed


def random_clip(watch: Stopwatch):
    import open_clip

    from tasks.analyze.embeddings import OpenClipEmbedder
    from tasks.settings import get_settings

    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    model.eval()
    model.encode_image = watch.wrap("forward", model.encode_image)
    model.encode_text = watch.wrap("forward", model.encode_text)
    return OpenClipEmbedder(model, preprocess, open_clip.get_tokenizer("ViT-B-32"),
                            "openclip:ViT-B-32/random-init", get_settings().analysis_batch_size)


DEPTH_ARCHS = {
    # isl-org/MiDaS midas_v21_small_256.pt (MiDaS v2.1 small), the CPU choice
    "midas-small-256": {"size": 256},
    # Intel/dpt-swinv2-tiny-256 (MiDaS v3.1 Swin2-T)
    "swin2-tiny-256": {"size": 256, "config": {"neck_hidden_sizes": [96, 192, 384, 768]}},
    # Intel/dpt-hybrid-midas (MiDaS v3 DPT-Hybrid)
    "hybrid-384": {"size": 384, "config": {
        "is_hybrid": True, "reassemble_factors": [1, 1, 1, 0.5], "neck_hidden_sizes": [256, 512, 768, 768],
        "readout_type": "project", "backbone_featmap_shape": [1, 1024, 24, 24]}},
}


def random_depth(arch: str, watch: Stopwatch):
    from tasks.depth.models import (
        LearnedDepthEstimator,
        build_midas_small,
        midas_small_estimator,
    )
    from tasks.settings import get_settings

    batch = get_settings().analysis_batch_size
    if arch == "midas-small-256":
        estimator = midas_small_estimator(build_midas_small(), f"midas-small:{arch}/random-init", batch)
    else:
        from transformers import (
            DPTConfig,
            DPTForDepthEstimation,
            DPTImageProcessor,
            Swinv2Config,
        )

        spec = DEPTH_ARCHS[arch]
        kwargs = dict(spec["config"])
        if arch.startswith("swin2"):
            kwargs["backbone_config"] = Swinv2Config(
                image_size=256, embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), window_size=16,
                pretrained_window_sizes=(0, 0, 0, 0), out_features=["stage1", "stage2", "stage3", "stage4"])
        model = DPTForDepthEstimation(DPTConfig(**kwargs)).eval()
        processor = DPTImageProcessor(size={"height": spec["size"], "width": spec["size"]}, keep_aspect_ratio=False,
                                      image_mean=[0.5] * 3, image_std=[0.5] * 3)
        estimator = LearnedDepthEstimator(
            model,
            lambda image: processor(images=image, return_tensors="pt")["pixel_values"][0],
            lambda x: model(pixel_values=x).predicted_depth,
            f"dpt:{arch}/random-init",
            batch,
        )
    estimator.forward = watch.wrap("forward", estimator.forward)
    return estimator


def speed(depth_arch: str, n: int) -> dict[str, float]:
    from tasks.analyze.rooms import group_rooms, label_clusters, label_rooms
    from tasks.depth.stats import depth_stats

    data = listing_bytes(n)
    watch = Stopwatch()
    embedder, estimator = random_clip(watch), random_depth(depth_arch, watch)
    embedder.embed(decode(data[:2]))  # warm-up: first-call allocations are not per-photo work
    estimator.estimate(decode(data[:2]))
    watch.seconds.clear()
    start, cpu_start = time.perf_counter(), time.process_time()
    with watch.lap("decode"):
        images = decode(data)
    with watch.lap("rooms"):
        emb = embedder.embed(images)
        groups = group_rooms(emb, embedder.backend)
        label_clusters(label_rooms(embedder, images, emb), groups)
    with watch.lap("depth"):
        maps = estimator.estimate(images)
        [depth_stats(d) for d in maps]
    total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    forward = watch.seconds["forward"]
    return {"photos": len(images), "total_s": total, "per_photo_s": total / len(images), "cpu_s": cpu,
            "forward_s": forward, "outside_share": 1 - forward / total,
            "decode_s": watch.seconds["decode"], "rooms_s": watch.seconds["rooms"], "depth_s": watch.seconds["depth"]}


# ----------------------------------------------------------------------------- quality


def house_photos() -> tuple[list[np.ndarray], list[str]]:
    root = SHARED / "listings" / "houses"
    rows = list(csv.DictReader((root / "labels.csv").read_text().splitlines()))
    return [load_rgb(root / r["file"]) for r in rows], [HOUSE_LABELS[r["room_type"]] for r in rows]


def label_accuracy(embedder, photos: list[np.ndarray], truth: list[str]) -> str:
    """Exterior-vs-interior and room-type accuracy, and per true room what was said."""
    from collections import Counter

    from db.enums import EXTERIOR_ROOMS, RoomType
    from tasks.analyze.rooms import label_rooms

    labels = label_rooms(embedder, photos)
    exterior = np.mean([lab.is_exterior == (RoomType(t) in EXTERIOR_ROOMS) for lab, t in zip(labels, truth)])
    room = np.mean([lab.room_type.value == t for lab, t in zip(labels, truth)])
    said = {t: Counter(lab.room_type.value for lab, u in zip(labels, truth) if u == t) for t in dict.fromkeys(truth)}
    detail = "; ".join(f"{t} -> " + ", ".join(f"{k} {n}" for k, n in c.most_common()) for t, c in said.items())
    return f"exterior vs interior {exterior:.1%}, room type {room:.1%} ({detail})"


def sample_photos(seed: int) -> tuple[list[np.ndarray], list[str], list[int]]:
    """The rendered sample listing: photos, true room per photo, true view group per photo."""
    import tempfile

    from flows.dev.sample_listing import make_listing

    with tempfile.TemporaryDirectory() as tmp:
        listing = make_listing(Path(tmp), seed=seed, music_seconds=2)
        return ([load_rgb(p.path) for p in listing.photos], [p.room_type.value for p in listing.photos],
                [p.view_group for p in listing.photos])


def cluster_labels(embedder, photos: list[np.ndarray], truth: list[str], groups: list[int]) -> str:
    """Grouping and per-cluster labels as Phase 1 makes them, against the true rooms."""
    from sklearn.metrics import adjusted_rand_score

    from tasks.analyze.rooms import group_rooms, label_clusters, label_rooms

    found = group_rooms(embedder.embed(photos), embedder.backend)
    named = label_clusters(label_rooms(embedder, photos), found)
    right = sum(all(named[c].room_type.value == t for c, t in zip(found, truth) if c == k) for k in named)
    return (f"clusters: adjusted Rand index {adjusted_rand_score(groups, found):.2f}, "
            f"{right} of {len(named)} clusters labelled right ({len(set(groups))} rooms)")


def grouping_sets() -> dict[str, tuple[list[np.ndarray], list[int]]]:
    """Photo sets with known rooms: overlapping crops of each houses photo (two 60-85 % views),
    the 48 houses photos plus the five shared views of one room, and two sample listings."""
    import tempfile

    from flows.dev.sample_listing import make_listing

    houses, _ = house_photos()
    rng = np.random.default_rng(0)
    crops, crop_groups = [], []
    for k, image in enumerate(houses):
        h, w = image.shape[:2]
        for _ in range(2):
            s = rng.uniform(0.6, 0.85)
            ch, cw = int(h * s), int(w * s)
            y, x = rng.integers(0, h - ch), rng.integers(0, w - cw)
            crops.append(np.ascontiguousarray(image[y:y + ch, x:x + cw]))
            crop_groups.append(k)
    views = [load_rgb(p) for p in sorted((SHARED / "depth").glob("color_*.jpg"))]
    sets = {"houses crops (96 photos, 48 rooms)": (crops, crop_groups),
            "houses + 5 views of one room (53, 49)": (houses + views, list(range(48)) + [48] * len(views))}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in (0, 1):
            listing = make_listing(Path(tmp) / str(seed), seed=seed, music_seconds=2)
            sets[f"sample listing seed {seed} (10, 5)"] = (
                [load_rgb(p.path) for p in listing.photos], [p.view_group for p in listing.photos])
    return sets


def depth_sets() -> dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """(photo, metric truth, valid mask) per frame."""
    import tempfile

    from PIL import Image

    from flows.dev.sample_listing import SKY_DEPTH_M, make_listing

    root = SHARED / "depth"
    living = []
    for i in range(5):
        z = np.asarray(Image.open(root / f"depth_{i:05d}.png"), np.float32) / 1000.0
        living.append((np.asarray(Image.open(root / f"color_{i:05d}.jpg").convert("RGB")), z, z > 0))
    z = np.asarray(Image.open(root / "TUM_depth.png"), np.float32) / 5000.0
    tum = [(np.asarray(Image.open(root / "TUM_color.png").convert("RGB")), z, z > 0)]
    sample = []
    with tempfile.TemporaryDirectory() as tmp:
        listing = make_listing(Path(tmp), seed=0, music_seconds=2)
        for p in listing.photos:
            z = listing.depth(p)
            sample.append((np.asarray(Image.open(p.path).convert("RGB")), z, z < SKY_DEPTH_M))
    return {"shared living room (5 synthetic RGB-D frames)": living, "TUM office (1 real RGB-D frame)": tum,
            "sample listing seed 0 (10 rendered photos, sky excluded from AbsRel)": sample}


def quality() -> list[str]:
    from sklearn.metrics import adjusted_rand_score

    from tasks.analyze.embeddings import ClassicalEmbedder
    from tasks.analyze.overlap import assess_overlap
    from tasks.analyze.rooms import group_rooms
    from tasks.depth.agreement import abs_rel_error, rank_agreement
    from tasks.depth.layout import LayoutDepthEstimator
    from tasks.settings import Settings

    lines = []
    photos, truth = house_photos()
    lines.append("- room labels, houses (48 photos, 12 each frontal/kitchen/bedroom/bathroom), classical-rules: "
                 + label_accuracy(ClassicalEmbedder(), photos, truth))
    for seed in range(4):
        images, rooms, groups = sample_photos(seed)
        lines.append(f"- room labels, sample listing seed {seed} (10 rendered photos), classical-rules: "
                     + label_accuracy(ClassicalEmbedder(), images, rooms) + "; "
                     + cluster_labels(ClassicalEmbedder(), images, rooms, groups))
    lines.append("- room labels, houses, OpenCLIP ViT-B-32 **random weights** (meaningless, checks the zero-shot "
                 "plumbing only): " + label_accuracy(random_clip(Stopwatch()), photos, truth))
    embedder = ClassicalEmbedder()
    for name, (images, groups) in grouping_sets().items():
        found = group_rooms(embedder.embed(images), embedder.backend)
        lines.append(f"- room grouping, classical-fallback, {name}: adjusted Rand index "
                     f"{adjusted_rand_score(groups, found):.2f}, {len(set(found))} clusters for {len(set(groups))} rooms")
    estimator = LayoutDepthEstimator()
    for name, frames in depth_sets().items():
        preds = estimator.estimate([f[0] for f in frames])
        rho = [rank_agreement(p, z, valid=z > 0) for p, (_, z, _) in zip(preds, frames)]
        ours = [abs_rel_error(p, z, m) for p, (_, z, m) in zip(preds, frames)]
        flat = [abs_rel_error(np.zeros_like(p), z, m) for p, (_, z, m) in zip(preds, frames)]
        lines.append(f"- depth, layout-prior vs truth, {name}: Spearman {np.mean(rho):.2f} "
                     f"(min {np.min(rho):.2f}; flat prediction 0), AbsRel (median-scaled) {np.mean(ours):.3f} "
                     f"vs flat {np.mean(flat):.3f}")
    colmap = Settings(enable_colmap=True)
    views = [load_rgb(p) for p in sorted((SHARED / "depth").glob("color_*.jpg"))]
    for name, images in (("5 views of one room", views), ("kitchens of houses 1-3", photos[1:12:4])):
        r = assess_overlap(images, colmap)
        lines.append(f"- overlap, {name}: assessed {r.assessed}, overlap_score {r.overlap_score}, "
                     f"sfm_eligible {r.sfm_eligible} ({r.reason})")
    return lines


# ----------------------------------------------------------------------------- main


def settings_depth_choice() -> str:
    from tasks.depth.estimator import depth_device, depth_weights_for
    from tasks.settings import get_settings

    settings = get_settings()
    device = depth_device(settings)
    return f"{device}: {depth_weights_for(settings, device) or 'no weights (layout prior)'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--depth-arch", choices=sorted(DEPTH_ARCHS), action="append")
    parser.add_argument("--speed-only", action="store_true")
    args = parser.parse_args()
    from tasks.logs import configure_logging

    configure_logging(level="WARNING")
    stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}"
    out = [f"\n### {stamp}\n", f"- depth model the settings choose here: {settings_depth_choice()}"]
    for arch in args.depth_arch or ["midas-small-256"]:
        r = speed(arch, args.photos)
        verdict = "meets" if r["total_s"] < 20 and r["outside_share"] <= 0.30 else "misses"
        out.append(
            f"- speed, ViT-B-32 + {arch} (random weights), {r['photos']} photos: {r['total_s']:.1f} s "
            f"({r['per_photo_s']:.2f} s/photo; decode {r['decode_s']:.1f}, rooms {r['rooms_s']:.1f}, depth "
            f"{r['depth_s']:.1f}; {r['cpu_s']:.1f} CPU s), outside forward passes {r['outside_share']:.0%} -> {verdict} the target "
            f"(< 20 s, <= 30 % outside)")
        print(out[-1], flush=True)
    if not args.speed_only:
        if not SHARED.is_dir():
            out.append("- quality: skipped, ../shared/data is absent")
        else:
            for line in quality():
                out.append(line)
                print(line, flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if not RESULTS.exists():
        RESULTS.write_text("# Phase 1 models: speed and quality\n\nAppended by `python -m bench.bench_analyze`.\n")
    with open(RESULTS, "a") as fh:
        fh.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
