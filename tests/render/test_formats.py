"""Formats framed from the start, on the real database, store, parallax renderer and ffmpeg:
Phase 1's crop window per format, Phase 2 rendering a portrait clip from the photo's window
(not cut from the landscape clip), Phase 4 delivering 9:16 without upscaling."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from sqlmodel import select

from db.enums import ClipStatus, ConfidenceTier
from db.enums import MotionType as M
from db.models import Clip, Job, Photo
from db.session import session_scope
from tasks.analyze.framing import plan_framing
from tasks.assemble.phase import run_assemble
from tasks.media.video import probe
from tasks.render.clip_unit import render_clip
from tasks.render.phase import plan_clips
from tasks.settings import get_settings
from tests.assemble.media import shot
from tests.assemble.test_phase import add_timeline
from tests.render.phase1_rows import PhotoSpec, RoomSpec, seed_phase1

FPS, WIDTH, HEIGHT = 15, 480, 270  # a quarter of 1080p: 9:16 clips are then 270x480


@pytest.fixture
def small(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Quarter-size clips, and previews at the same quarter size, so sizes compare as at full size."""
    for name, value in (("CLIP_FPS", FPS), ("CLIP_WIDTH", WIDTH), ("CLIP_HEIGHT", HEIGHT), ("GENERATOR", "parallax"),
                        ("PREVIEW_SHORT_SIDE", HEIGHT)):
        monkeypatch.setenv(f"PICAIVID_{name}", str(value))
    get_settings.cache_clear()


def first_frame(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def shown_centre_x(frame: np.ndarray, photo: np.ndarray) -> float:
    """Where in the photo (share of its width) the frame's centre lies, by template matching
    over the zooms a push-in starts at."""
    small = cv2.cvtColor(cv2.resize(frame, (60, round(60 * frame.shape[0] / frame.shape[1]))), cv2.COLOR_RGB2GRAY)
    best = (-2.0, 0.5)
    for zoom in np.linspace(1.0, 1.3, 13):
        height = round(small.shape[0] * zoom)
        scaled = cv2.cvtColor(cv2.resize(photo, (round(photo.shape[1] * height / photo.shape[0]), height)),
                              cv2.COLOR_RGB2GRAY)
        scores = cv2.matchTemplate(scaled, small, cv2.TM_CCOEFF_NORMED)
        _, score, _, (x, _) = cv2.minMaxLoc(scores)
        if score > best[0]:
            best = (score, (x + small.shape[1] / 2) / scaled.shape[1])
    return best[1]


@pytest.mark.slow
def test_a_9x16_cut_shows_the_photos_portrait_window_without_upscaling(small, store, views_for_formats, tmp_path) -> None:
    image, depth = views_for_formats
    seeded = seed_phase1(store, [RoomSpec("living_room", ConfidenceTier.low, M.micro_push_in,
                                          [PhotoSpec("living_a", image, depth)])])
    framing = plan_framing(image, depth, image.shape[1], image.shape[0], ["16x9", "9x16"])
    with session_scope() as s:
        photo = s.exec(select(Photo).where(Photo.job_id == seeded.job_id)).one()
        photo.framing = framing
        job = s.get(Job, seeded.job_id)
        job.formats = ["9x16"]
    [clip_id] = plan_clips(seeded.job_id)
    assert render_clip(clip_id)["status"] == "done"

    clip = _clip(clip_id)
    assert clip.render_params["formats"] == ["9x16"] and set(clip.format_uris) == {"9x16"}
    wide, portrait = tmp_path / "wide.mp4", tmp_path / "portrait.mp4"
    store.get_file(clip.s3_uri, wide)
    store.get_file(clip.format_uris["9x16"], portrait)
    wide_info, portrait_info = probe(wide), probe(portrait)
    assert (wide_info.width, wide_info.height) == (WIDTH, HEIGHT)
    assert (portrait_info.width, portrait_info.height) == (HEIGHT, WIDTH)  # rendered portrait
    assert portrait_info.frame_count == wide_info.frame_count  # the same move, frame for frame

    # the portrait clip is the photo's planned window: the subject point inside, the frame centred on it
    x, _, w, _ = framing["windows"]["9x16"]
    assert x <= framing["subject"][0] <= x + w and x + w / 2 < 0.4  # off-centre, where the room is
    assert shown_centre_x(first_frame(portrait), image) == pytest.approx(x + w / 2, abs=0.04)

    # Phase 4: a 9:16 cut (at the clips' quarter scale) uses the portrait clip: no upscaling
    add_timeline(seeded.job_id, 1, [shot(clip_id, portrait, 0.0, 0.8)], size=(1080, 1920))
    result = run_assemble(seeded.job_id, fmt="9x16", preview=True)
    out = tmp_path / "cut.mp4"
    store.get_file(result["uri"], out)
    info = probe(out)
    assert (info.width, info.height) == (HEIGHT, WIDTH)
    assert result["facts"]["source_scale"]["9x16-preview"] >= 1.0  # source pixels per output pixel

    # what it replaces: cutting 9:16 from the landscape clip enlarges it by 16/9
    with session_scope() as s:
        s.get(Clip, clip_id).format_uris = None
    cropped = run_assemble(seeded.job_id, fmt="9x16", preview=True)
    assert cropped["facts"]["source_scale"]["9x16-preview"] == pytest.approx(9 / 16, abs=0.01)


@pytest.fixture
def views_for_formats(listing_root: Path) -> tuple[np.ndarray, np.ndarray]:
    """The sample living room with its subject off to the left: its left 55 % beside a plain far
    wall, so a centred portrait crop would miss what the planned window keeps."""
    from tests.render.clip_makers import sample_photo

    image, depth = sample_photo(listing_root, "living_a")
    keep = round(image.shape[1] * 0.55)
    image, depth = image.copy(), depth.copy()
    image[:, keep:] = np.median(image[:, keep:].reshape(-1, 3), axis=0).astype(np.uint8)
    depth[:, keep:] = 1.0
    return image, depth


def _clip(clip_id: int) -> Clip:
    with session_scope() as s:
        clip = s.get(Clip, clip_id)
        assert clip is not None and clip.status is ClipStatus.done
        return clip


def test_a_16x9_job_plans_no_other_format_until_it_asks(small, store, views_for_formats) -> None:
    image, depth = views_for_formats
    seeded = seed_phase1(store, [RoomSpec("living_room", ConfidenceTier.low, M.micro_push_in,
                                          [PhotoSpec("living_a", image, depth)])])
    [clip_id] = plan_clips(seeded.job_id)
    with session_scope() as s:
        clip = s.get(Clip, clip_id)
        assert clip.render_params["formats"] == [] and (clip.width, clip.height) == (WIDTH, HEIGHT)
        s.get(Job, seeded.job_id).formats = ["1x1", "9x16"]
    assert plan_clips(seeded.job_id) == [clip_id]  # the same row, not rendered yet: it follows
    with session_scope() as s:
        assert s.get(Clip, clip_id).render_params["formats"] == ["1x1", "9x16"]
