"""A contact sheet of a job's delivered videos: for each format and cut, the frames where the
title, the first room caption and the agent card are fully in, side by side, so one image
shows whether the cards read and where the cuts differ."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import av
from PIL import Image, ImageDraw

from db.models import Job
from db.session import session_scope
from tasks.assemble.cards import SEMIBOLD, font
from tasks.storage import get_store

CELL_HEIGHT = 360
LABEL = 34
MOMENTS = ("title", "room_caption", "agent_card")


def moments(overlays: list[dict]) -> list[tuple[str, float]]:
    """(what, time) at the middle of the first visible overlay of each kind the sheet shows."""
    chosen = []
    for kind in MOMENTS:
        o = next((o for o in overlays if o["kind"] == kind and o["visible"]), None)
        if o is not None:
            chosen.append((kind.replace("_", " "), (o["start"] + o["end"]) / 2))
    return chosen


def frame_at(path: Path, t: float) -> Image.Image:
    """The first frame at or after `t` (the last one if `t` is past the end), decoded from the
    keyframe before it rather than from the start: a card near the end of a 30 s cut costs one
    GOP, not the whole video."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        container.seek(max(0, int(t / stream.time_base)), stream=stream, backward=True)
        last = None
        for frame in container.decode(stream):
            last = frame
            if frame.time is not None and frame.time >= t:
                break
    return last.to_image()  # type: ignore[union-attr]


def contact_sheet(job_id: uuid.UUID, out: Path) -> Path:
    """Rows of (format, cut), columns of moments; written as a JPEG to `out`."""
    with session_scope() as s:
        facts = s.get(Job, job_id).final_video_facts or {}
    deliveries, when = facts.get("deliveries") or {}, moments(facts.get("overlays") or [])
    if not deliveries or not when:
        raise ValueError(f"job {job_id} has no delivered cuts with cards to show")
    store = get_store()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, cuts in deliveries.items():
            for cut, files in cuts.items():
                video = store.get_file(files["video"], Path(tmp) / f"{fmt}-{cut}.mp4")
                cells = []
                for _, t in when:
                    image = frame_at(video, t)
                    cells.append(image.resize((round(image.width * CELL_HEIGHT / image.height), CELL_HEIGHT)))
                rows.append((f"{fmt} {cut}", cells))
    width = max(sum(c.width for c in cells) + 8 * (len(cells) + 1) for _, cells in rows)
    sheet = Image.new("RGB", (width, LABEL + len(rows) * (CELL_HEIGHT + LABEL + 8)), (245, 245, 242))
    draw = ImageDraw.Draw(sheet)
    draw.text((8, 4), "   ".join(f"{what} @ {t:.1f}s" for what, t in when), font=font(SEMIBOLD, 22), fill=(30, 30, 30))
    y = LABEL
    for label, cells in rows:
        draw.text((8, y + 4), label, font=font(SEMIBOLD, 24), fill=(30, 30, 30))
        x = 8
        for cell in cells:
            sheet.paste(cell, (x, y + LABEL))
            x += cell.width + 8
        y += CELL_HEIGHT + LABEL + 8
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, "JPEG", quality=88)
    return out
