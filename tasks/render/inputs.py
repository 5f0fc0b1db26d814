"""A clip's source material from the artifact store: photos at the resolution the render needs, their depth.

A photo that is missing or cannot be decoded is reported with its reason, not raised, so the
clip unit can drop it and step down to what the remaining photos support. A depth map that
is missing or unreadable is re-estimated with Phase 1's depth model (the same model that
wrote it), and the clip records where its depth came from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import structlog

from tasks.domain.formats import window_box
from tasks.media.images import UnusablePhoto, decode_for_render
from tasks.storage import ArtifactNotFound, ArtifactStore

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PhotoRef:
    photo_id: int
    s3_uri: str
    depth_uri: str | None


@dataclass
class Sources:
    photo_ids: list[int] = field(default_factory=list)  # readable, in the clip's order
    images: list[np.ndarray] = field(default_factory=list)
    depths: list[np.ndarray] = field(default_factory=list)
    depth_sources: dict[int, str] = field(default_factory=dict)  # photo id -> "phase1" | "estimated:<backend>"
    unreadable: dict[int, str] = field(default_factory=dict)  # photo id -> reason


def read_photo(store: ArtifactStore, ref: PhotoRef, width: int, height: int) -> np.ndarray:
    """The photo no larger than a width x height render can use (a 200 MP photo decodes small)."""
    if not ref.s3_uri:
        raise UnusablePhoto(f"photo {ref.photo_id} has no row or no stored file")
    try:
        return decode_for_render(store.get_bytes(ref.s3_uri), width, height).pixels
    except ArtifactNotFound as err:
        raise UnusablePhoto(f"photo {ref.photo_id} is missing from the store ({ref.s3_uri})") from err


def read_depth(store: ArtifactStore, ref: PhotoRef, shape: tuple[int, int]) -> np.ndarray | None:
    """Phase 1's depth map resized to the photo, or None when there is none that reads."""
    from tasks.depth.storage import decode_depth_png

    if not ref.depth_uri:
        return None
    try:
        depth = decode_depth_png(store.get_bytes(ref.depth_uri))
    except (ArtifactNotFound, OSError, ValueError) as err:
        log.warning("depth_unreadable", photo_id=ref.photo_id, uri=ref.depth_uri, error=str(err))
        return None
    if depth.ndim != 2:
        return None
    if depth.shape != shape:
        import cv2

        depth = cv2.resize(depth, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return depth.astype(np.float32)


def load_sources(store: ArtifactStore, refs: list[PhotoRef], width: int, height: int) -> Sources:
    sources = Sources()
    missing_depth: list[int] = []
    for ref in refs:
        try:
            image = read_photo(store, ref, width, height)
        except UnusablePhoto as err:
            sources.unreadable[ref.photo_id] = err.reason
            log.warning("source_unreadable", photo_id=ref.photo_id, reason=err.reason)
            continue
        depth = read_depth(store, ref, image.shape[:2])
        sources.photo_ids.append(ref.photo_id)
        sources.images.append(image)
        sources.depths.append(depth)  # type: ignore[arg-type]  # filled below when None
        if depth is None:
            missing_depth.append(len(sources.images) - 1)
        else:
            sources.depth_sources[ref.photo_id] = "phase1"
    if missing_depth:
        from tasks.render.validate import phase1_depth_estimator

        estimator = phase1_depth_estimator()
        estimated = estimator.estimate([sources.images[i] for i in missing_depth])
        for i, depth in zip(missing_depth, estimated, strict=True):
            sources.depths[i] = depth
            sources.depth_sources[sources.photo_ids[i]] = f"estimated:{estimator.backend}"
    return sources


def load_framed_sources(store: ArtifactStore, refs: list[PhotoRef], windows: Mapping[int, Sequence[float] | None],
                        width: int, height: int) -> Sources:
    """Sources for a width x height render framed by each photo's crop window (photo id ->
    window, None: the whole photo): decoded large enough for the window to cover the frame,
    then cut to it, depth alike."""
    need_w, need_h = width, height
    for window in windows.values():
        if window:
            need_w, need_h = max(need_w, math.ceil(width / window[2])), max(need_h, math.ceil(height / window[3]))
    sources = load_sources(store, refs, need_w, need_h)
    for i, photo_id in enumerate(sources.photo_ids):
        window = windows.get(photo_id)
        if window:
            left, top, right, bottom = window_box(window, sources.images[i].shape[1], sources.images[i].shape[0])
            sources.images[i] = np.ascontiguousarray(sources.images[i][top:bottom, left:right])
            sources.depths[i] = np.ascontiguousarray(sources.depths[i][top:bottom, left:right])
    return sources
