"""What a render needs and makes beyond the pictures: each cut's cards, the poster, the caption
files, and the check that the mp4 plays while it downloads.

- Cards: every visible overlay of a cut drawn (tasks.assemble.cards) against the frames it will
  cover, which are decoded from the clips and fitted to the format the way the renderer fits
  them, so the contrast check sees what the viewer sees.
- Poster: the sharpest frame of the hero shot (the opening, which the selection priorities give
  to the hero photo), as drawn in that cut, so the MLS poster carries no branding either.
- Captions: each cut's overlays as SRT and WebVTT cues (pysubs2), for players and accessibility.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pysubs2
from PIL import Image, ImageOps

from db.enums import OverlayKind
from db.listing import Listing
from tasks.assemble.cards import Palette, draw_card
from tasks.assemble.graph import CardPlacement
from tasks.assemble.layout import Span, TimelineSpec, to_frames
from tasks.domain.formats import OutputFormat
from tasks.domain.overlays import Overlay

BRANDED, UNBRANDED = "branded", "unbranded"
RISE = 0.02  # of the short side: how far a card slides up as it fades in
POSTER_QUALITY = 90


def needs_unbranded(overlays: Sequence[Overlay], listing: Listing) -> bool:
    """Whether the branded cut shows anything of the agent's (else one cut serves both)."""
    brand = listing.brand is not None and any(listing.brand.model_dump(exclude_none=True).values())
    return brand or any(o.visible and o.branded_only for o in overlays)


def shows(cut: str, overlay: Overlay) -> bool:
    return overlay.visible and (cut == BRANDED or not overlay.branded_only)


class FrameSampler:
    """Output frames as the renderer will show them (before any card), decoded from the clips.

    The clips' only keyframe is usually their first frame, so every clip is decoded once from
    its start to the last frame asked of it, for all the frames asked together (`frames`):
    decoding from the start once per frame cost seconds per card."""

    def __init__(self, spec: TimelineSpec, spans: Sequence[Span], fit: str) -> None:
        self.spec, self.spans, self.fit = spec, spans, fit
        self._fitted: dict[tuple[Path, int, int, int], np.ndarray] = {}  # (clip, frame, width, height)

    def source(self, frame: int) -> tuple[Path, int]:
        """The clip and its frame that output frame `frame` shows (the incoming shot in a transition)."""
        span = next((s for s in reversed(self.spans) if s.start <= frame), self.spans[0])
        shown = span.source_start + max(0, span.source_frames(frame - span.start + 1) - 1)
        return self.spec.shots[span.index].path, shown

    def frames(self, times: Sequence[float], fmt: OutputFormat) -> np.ndarray:
        """The output frames at `times` (seconds), fitted to `fmt`, as one RGB array."""
        last = self.spans[-1].end - 1
        wanted = [self.source(min(to_frames(t, self.spec.fps), last)) + (fmt.width, fmt.height) for t in times]
        missing: dict[Path, set[int]] = {}
        for key in wanted:
            if key not in self._fitted:
                missing.setdefault(key[0], set()).add(key[1])
        for path, indices in missing.items():
            self._decode(path, indices, fmt)
        if not wanted:
            return np.empty((0, fmt.height, fmt.width, 3), np.uint8)
        return np.stack([self._fitted[key] for key in wanted])

    def _decode(self, path: Path, indices: set[int], fmt: OutputFormat) -> None:
        """Frames `indices` (on the timeline's frame rate) of one clip, in a single pass, fitted
        as the renderer fits them; past the clip's end, its last frame."""
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = float(stream.average_rate or self.spec.fps)
            targets = {index: round(index * rate / self.spec.fps) for index in indices}
            frame = None
            for n, frame in enumerate(container.decode(stream)):
                for index in [i for i, target in targets.items() if target <= n]:
                    self._keep(path, index, frame.to_image(), fmt)
                    del targets[index]
                if not targets:
                    break
            if frame is None:
                raise ValueError(f"{path.name} has no video frame")
            for index in targets:
                self._keep(path, index, frame.to_image(), fmt)

    def _keep(self, path: Path, index: int, image: Image.Image, fmt: OutputFormat) -> None:
        size = (fmt.width, fmt.height)
        fitted = ImageOps.fit(image, size) if self.fit == "cover" else ImageOps.pad(image, size, color=(0, 0, 0))
        self._fitted[(path, index, *size)] = np.asarray(fitted.convert("RGB"))


@dataclass(frozen=True)
class DrawnCut:
    cards: tuple[CardPlacement, ...]
    contrast: dict[int, float]  # overlay index -> the contrast its text reached


def draw_cut(
    cut: str, overlays: Sequence[Overlay], listing: Listing, fmt: OutputFormat, sampler: FrameSampler,
    images: Mapping[str, Image.Image], total_frames: int, folder: Path,
) -> DrawnCut:
    """Every overlay the cut shows, drawn to PNGs in `folder` and placed on the frame grid."""
    folder.mkdir(parents=True, exist_ok=True)
    fps = sampler.spec.fps
    palette = Palette.for_cut(listing.brand, cut == BRANDED)
    rise = round(RISE * min(fmt.width, fmt.height))
    shown = []
    for index, overlay in enumerate(overlays):
        start, end = to_frames(overlay.start_time, fps), min(to_frames(overlay.end_time, fps), total_frames)
        if shows(cut, overlay) and end > start:
            # the frames it covers when fully in, half-way, and as it starts to go
            times = (overlay.start_time + overlay.fade_duration, (overlay.start_time + overlay.end_time) / 2,
                     max(overlay.start_time, overlay.end_time - overlay.fade_duration - 1 / fps))
            shown.append((index, overlay, start, end, times))
    sampler.frames([t for *_, times in shown for t in times], fmt)  # every clip decoded once
    cards, reached = [], {}
    for index, overlay, start, end, times in shown:
        fade = min(to_frames(overlay.fade_duration, fps), (end - start) // 2)
        card = draw_card(overlay, fmt, palette, sampler.frames(times, fmt), images)
        path = folder / f"{cut}-{index}.png"
        card.image.save(path)
        cards.append(CardPlacement(path, card.x, card.y, start, end, fade, rise if fade else 0, end >= total_frames))
        reached[index] = card.contrast
    return DrawnCut(tuple(cards), reached)


def sharpness(gray: np.ndarray) -> float:
    """Variance of the Laplacian: high where edges are crisp."""
    g = gray.astype(np.float32)
    lap = -4 * g[1:-1, 1:-1] + g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:]
    return float(lap.var())


def poster(video: Path, span: Span, out: Path) -> Path:
    """The sharpest frame of `span` (the hero shot, transitions excluded) as a JPEG."""
    first, last = span.start + span.fade_in, max(span.start + span.fade_in + 1, span.end - span.fade_out)
    best, best_score = None, -1.0
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for n, frame in enumerate(container.decode(stream)):
            if n >= last:
                break
            if n < first:
                continue
            score = sharpness(frame.reformat(width=min(320, frame.width), format="gray").to_ndarray())
            if score > best_score:
                best, best_score = frame.to_image(), score
    if best is None:
        raise ValueError(f"{video.name} has no frame in [{first}, {last})")
    out.parent.mkdir(parents=True, exist_ok=True)
    best.convert("RGB").save(out, "JPEG", quality=POSTER_QUALITY, optimize=True, progressive=True)
    return out


def cue_text(overlay: Overlay) -> str:
    c = overlay.content
    if overlay.kind is OverlayKind.title:
        parts = [c.get("status"), *c.get("address", []), c.get("price"), c.get("facts")]
    elif overlay.kind is OverlayKind.agent_card:
        parts = [c.get(k) for k in ("name", "brokerage", "phone", "email")]
    else:
        parts = [c.get("text")]
    return "\n".join(p for p in parts if p)


def caption_files(overlays: Sequence[Overlay], cut: str, folder: Path) -> dict[str, Path]:
    """The cut's overlays as cues, in time order: {"srt": path, "vtt": path}."""
    subs = pysubs2.SSAFile()
    for overlay in sorted((o for o in overlays if shows(cut, o)), key=lambda o: (o.start_time, o.end_time)):
        event = pysubs2.SSAEvent(start=round(overlay.start_time * 1000), end=round(overlay.end_time * 1000))
        event.plaintext = cue_text(overlay)
        subs.append(event)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for ext in ("srt", "vtt"):
        paths[ext] = folder / f"{cut}.{ext}"
        subs.save(str(paths[ext]), format_=ext, encoding="utf-8")
    return paths


def is_faststart(path: Path) -> bool:
    """Whether the mp4's index (moov) comes before its media (mdat): playable while downloading."""
    order = []
    with open(path, "rb") as fh:
        while len(order) < 8:
            header = fh.read(8)
            if len(header) < 8:
                break
            size, kind = int.from_bytes(header[:4], "big"), header[4:].decode("latin-1")
            order.append(kind)
            skip = int.from_bytes(fh.read(8), "big") - 16 if size == 1 else size - 8
            if size == 0 or skip < 0:  # the last box, running to the end of the file
                break
            fh.seek(skip, 1)
    return "moov" in order and "mdat" in order and order.index("moov") < order.index("mdat")
