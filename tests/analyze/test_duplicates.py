"""Duplicate grouping on real re-encodes of one photo, and how flags carry to the kept one."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from db.enums import RoomType
from db.manual_metadata import ManualMetadata
from tasks.analyze.duplicates import (
    DuplicateCandidate,
    find_duplicates,
    perceptual_hash,
)
from tasks.domain.manual_flags import carry_duplicate_flags, merged_flags
from tasks.media.images import decode_for_analysis
from tasks.settings import Settings
from tasks.storage import sha256_bytes
from tests.analyze.phase_jobs import sample_listing


def encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def variants(path: Path) -> dict[str, bytes]:
    """What an agent's exports make of one photo."""
    src = Image.open(path).convert("RGB")
    w, h = src.size
    gray16 = Image.fromarray(np.asarray(src.convert("L")).astype(np.uint16) * 257)  # 16-bit PNG
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways, shown upright
    return {
        "original.jpg": path.read_bytes(),
        "copy.jpg": path.read_bytes(),
        "cmyk.jpg": encode(src.convert("CMYK"), "JPEG", quality=90),
        "export.webp": encode(src, "WEBP", quality=80),
        "half.jpg": encode(src.resize((w // 2, h // 2)), "JPEG", quality=60),
        "gray16.png": encode(gray16, "PNG"),
        "rotated.jpg": encode(src.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif.tobytes()),
        "crop.jpg": encode(src.crop((w // 20, h // 20, w - w // 20, h - h // 20)), "JPEG"),
    }


def candidates(files: dict[str, bytes]) -> list[DuplicateCandidate]:
    out = []
    for i, (name, data) in enumerate(files.items(), start=1):
        pixels = decode_for_analysis(data, name).pixels
        rank = (True, True, 0.5, pixels.size if name != "original.jpg" else 10**9)  # the original is best
        out.append(DuplicateCandidate(i, name, sha256_bytes(data), perceptual_hash(pixels), rank))
    return out


def test_reencodes_colour_spaces_sizes_rotations_and_crops_group_with_the_original() -> None:
    listing = sample_listing()
    kitchen = next(p.path for p in listing.photos if p.path.stem == "kitchen_a")
    cands = candidates(variants(kitchen))
    (group,) = find_duplicates(cands, Settings(), learned=False)
    names = {c.photo_id: c.name for c in cands}
    assert names[group.kept] == "original.jpg" and len(group.members) == len(cands)
    assert group.evidence[2] == "same bytes (SHA-256)"
    assert all("perceptual hash" in why or "SHA-256" in why or "through others" in why
               for why in group.evidence.values())


def test_distinct_photos_of_one_house_are_not_duplicates() -> None:
    """Overlapping views of one room (what a two-image reveal needs) stay apart."""
    files = {p.path.name: p.path.read_bytes() for p in sample_listing().photos}
    assert find_duplicates(candidates(files), Settings(), learned=False) == []


def test_crops_need_a_learned_embedding_to_be_grouped() -> None:
    """Past the near-duplicate distance, alike learned embeddings decide; the fallback never does."""
    flat = perceptual_hash(np.zeros((8, 8, 3), np.uint8))
    ramp = perceptual_hash(np.tile((np.arange(64, dtype=np.uint8) * 4).reshape(8, 8, 1), (1, 1, 3)))
    distance = flat - ramp
    settings = Settings(duplicate_max_hash_distance=distance - 1, duplicate_max_crop_hash_distance=distance)
    same = np.full(4, 0.5, np.float32)  # unit length: cosine 1
    a = DuplicateCandidate(1, "a.jpg", "1" * 64, flat, (True,), embedding=same)
    b = DuplicateCandidate(2, "b.jpg", "2" * 64, ramp, (False,), embedding=same)
    assert find_duplicates([a, b], settings, learned=False) == []
    (group,) = find_duplicates([a, b], settings, learned=True)
    assert group.kept == 1 and "embedding similarity 1.000" in group.evidence[2]
    far = Settings(duplicate_max_hash_distance=distance - 1, duplicate_max_crop_hash_distance=distance - 1)
    assert find_duplicates([a, b], far, learned=True) == []  # too far apart for a crop


def test_flags_of_any_member_carry_to_the_kept_one() -> None:
    kept = ManualMetadata(hero_priority=1, notes="kept's note")
    others = [ManualMetadata(hero_global=True, hero_priority=3, room_override=RoomType.kitchen),
              ManualMetadata(preferred_opening=True, exclude=True, notes="other note")]
    merged = merged_flags(kept, others)
    assert (merged.hero_global, merged.preferred_opening, merged.exclude) == (True, True, True)
    assert (merged.hero_priority, merged.room_override, merged.notes) == (3, RoomType.kitchen, "kept's note")
    flags = {1: ManualMetadata(), 2: ManualMetadata(hero_room=True), 3: ManualMetadata()}
    carried = carry_duplicate_flags(flags, {2: 1})
    assert carried[1].hero_room and not carried[3].hero_room and carried[2] == flags[2]


