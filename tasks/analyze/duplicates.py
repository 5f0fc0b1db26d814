"""Duplicate photos: the same picture uploaded twice, re-encoded, resized, in CMYK, cropped.

Agents upload a listing's photos from several exports, so one kitchen can arrive as a JPEG, a
WebP, a 16-bit PNG and a rotated phone copy. Used as they come, they fill half the video with one
room and pair a picture with itself in a two-image reveal. Here they are grouped:

- exact: the same bytes (same SHA-256);
- near: perceptual hashes (64-bit pHash of the upright analysis image, which a re-encode, a colour
  space or a size change barely moves) within `duplicate_max_hash_distance` bits;
- crops: a learned (CLIP) embedding at least `duplicate_min_embedding_similarity` alike and a hash
  still within `duplicate_max_crop_hash_distance` bits. The non-learned fallback embedding
  describes colour and layout, which two different photos of one room share, so it never decides.

Groups are the connected components of those pairs. In each, the photo that can be used and scores
best is kept and the others are marked "duplicate of <file>"; manual metadata set on any member
(hero, opening/closing, exclude, room) carries to the kept one, so a flag is not lost with the copy
that carried it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import imagehash
import numpy as np
from PIL import Image

from tasks.settings import Settings

LEARNED_EMBEDDING_PREFIX = "openclip:"


@dataclass(frozen=True)
class DuplicateCandidate:
    """One decoded photo, with what ranks it among its duplicates (higher is better)."""

    photo_id: int
    name: str
    sha256: str
    phash: imagehash.ImageHash
    rank: tuple  # (usable at all, resolution fit, in colour, base score, pixels): the best is kept
    embedding: np.ndarray | None = None  # learned embeddings only, L2-normalised


@dataclass(frozen=True)
class DuplicateGroup:
    kept: int  # photo id
    members: tuple[int, ...]  # every photo id in the group, the kept one included
    evidence: dict[int, str]  # member id -> why it is a duplicate of the kept one


def perceptual_hash(pixels: np.ndarray) -> imagehash.ImageHash:
    return imagehash.phash(Image.fromarray(pixels))


def in_colour(pixels: np.ndarray) -> bool:
    """False for a grey copy (a 16-bit grey export of a colour photo scores as sharp, but is worse)."""
    channels = pixels.astype(np.int16)
    spread = np.abs(np.diff(channels, axis=-1)).max()
    return bool(spread > 2)


def find_duplicates(
    candidates: Sequence[DuplicateCandidate], settings: Settings, learned: bool
) -> list[DuplicateGroup]:
    """Groups of two or more duplicates; `learned` says whether the embeddings may decide crops."""
    parent = list(range(len(candidates)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    why: dict[tuple[int, int], str] = {}
    for i, a in enumerate(candidates):
        for j in range(i + 1, len(candidates)):
            reason = _pair_reason(a, candidates[j], settings, learned)
            if reason:
                why[(i, j)] = why[(j, i)] = reason
                parent[root(j)] = root(i)
    components: dict[int, list[int]] = {}
    for i in range(len(candidates)):
        components.setdefault(root(i), []).append(i)
    groups = []
    for members in components.values():
        if len(members) < 2:
            continue
        best = max(members, key=lambda i: (*candidates[i].rank, -candidates[i].photo_id))
        evidence = {
            candidates[i].photo_id: why.get((i, best), f"{_closest(why, i, members)}, grouped through others")
            for i in members
            if i != best
        }
        ids = tuple(candidates[i].photo_id for i in members)
        groups.append(DuplicateGroup(candidates[best].photo_id, ids, evidence))
    return sorted(groups, key=lambda g: g.kept)


def _pair_reason(a: DuplicateCandidate, b: DuplicateCandidate, settings: Settings, learned: bool) -> str | None:
    if a.sha256 == b.sha256:
        return "same bytes (SHA-256)"
    distance = a.phash - b.phash
    if distance <= settings.duplicate_max_hash_distance:
        return f"perceptual hash {distance} bits apart"
    if (
        learned
        and a.embedding is not None
        and b.embedding is not None
        and distance <= settings.duplicate_max_crop_hash_distance
    ):
        similarity = float(np.dot(a.embedding, b.embedding))
        if similarity >= settings.duplicate_min_embedding_similarity:
            return f"embedding similarity {similarity:.3f}, hash {distance} bits apart"
    return None


def _closest(why: dict[tuple[int, int], str], i: int, members: list[int]) -> str:
    return next(why[(i, j)] for j in members if (i, j) in why)
