"""Cards on the pictures: drawn inside the format's safe area, legible over any frame, and in a
render exactly where and when the timeline says, in the branded cut and not the unbranded one."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from db.enums import OverlayKind, OverlayPosition
from db.listing import parse_listing
from tasks.assemble.cards import MIN_CONTRAST, Palette, contrast, draw_card
from tasks.assemble.delivery import BRANDED, UNBRANDED, FrameSampler, draw_cut
from tasks.assemble.layout import frame_layout
from tasks.assemble.render import Cut, render_options, render_timeline
from tasks.domain.formats import OutputFormat, resolve_format
from tasks.domain.overlays import Overlay
from tasks.settings import get_settings
from tests.assemble.media import shot, spec_of

BRAND = parse_listing({"brand": {"primary": "#F4E9C8", "accent": "#7A1F2B"}, "agent": {"name": "Jordan Avery"}})
TITLE = Overlay(OverlayKind.title, 0, {"status": "Open house Sat 2-4", "address": ["1428 Orchard Lane"],
                                       "price": "$849,000", "facts": "4 bd · 2.5 ba"}, OverlayPosition.middle,
                start_time=0.2, end_time=1.3, fade_duration=0.2)
CAPTION = Overlay(OverlayKind.room_caption, 1, {"text": "Kitchen"}, OverlayPosition.bottom,
                  start_time=1.7, end_time=2.8, fade_duration=0.2)
AGENT = Overlay(OverlayKind.agent_card, 2, {"name": "Jordan Avery", "brokerage": "Northgate Realty Group",
                                            "phone": "(217) 555-0142"}, OverlayPosition.middle, branded_only=True,
                start_time=3.1, end_time=4.5, fade_duration=0.2)
DISCLOSURE = Overlay(OverlayKind.disclosure, None, {"text": "Motion generated from still photos"}, OverlayPosition.top,
                     start_time=0.0, end_time=4.5)
FORMATS = {"16x9": OutputFormat("16x9", 320, 180), "9x16": OutputFormat("9x16", 180, 320)}


def inside(box: tuple[int, int, int, int], safe: tuple[int, int, int, int], slack: int = 0) -> bool:
    return safe[0] - slack <= box[0] and safe[1] - slack <= box[1] and box[2] <= safe[2] + slack and box[3] <= safe[3] + slack


CHROMA = 2  # px: 4:2:0 colour is stored per 2x2 block, so an edge's colour bleeds into the next pixels


@pytest.mark.parametrize("name", ["16x9", "9x16", "1x1"])
def test_cards_fit_the_safe_area_at_full_size(name: str) -> None:
    fmt = resolve_format(name, 1920, 1080, preview=False, preview_short_side=540)
    long = Overlay(OverlayKind.title, 0, {"status": "Open house Saturday 2-4 pm", "address": [
        "12345 Lakeshore Boulevard Northeast", "Bainbridge Island, Washington 98110", "Unit 4B"],
        "price": "$12,849,000", "facts": "12 bd · 10.5 ba · 12,150 sq ft"}, OverlayPosition.middle)
    for overlay in (long, CAPTION, AGENT, DISCLOSURE):
        card = draw_card(overlay, fmt, Palette.for_cut(BRAND.brand, True))
        assert inside(card.box, fmt.safe_box), (overlay.kind, card.box, fmt.safe_box)
    # 9:16 keeps clear of the apps' bands: nothing in the top 14 %, bottom 22 % or right 14 %
    if name == "9x16":
        assert fmt.safe_box == (65, 269, 929, 1498)


@pytest.mark.parametrize("background", ["white", "black", "noise", "brand-coloured"])
def test_text_contrast_holds_over_any_frame(background: str) -> None:
    fmt = FORMATS["16x9"]
    frame = np.zeros((1, fmt.height, fmt.width, 3), np.uint8)
    frame[:] = {"white": 255, "black": 0, "brand-coloured": (244, 233, 200)}.get(background, 0)
    if background == "noise":
        frame[:] = np.random.default_rng(0).integers(0, 256, frame.shape)
    for branded in (True, False):
        palette = Palette.for_cut(BRAND.brand, branded)
        card = draw_card(CAPTION, fmt, palette, frame)
        assert card.contrast >= MIN_CONTRAST
        # what the viewer gets: the drawn panel composited on the frame, against the text colour
        pixels = np.asarray(card.image, np.float64)
        under = frame[0, card.y : card.y + card.image.height, card.x : card.x + card.image.width]
        alpha = pixels[..., 3:] / 255
        shown = alpha * pixels[..., :3] + (1 - alpha) * under
        centre = shown[card.image.height // 2 - 1, 2 : -2]  # across the caption's middle: panel or text
        assert contrast(np.array(palette.text), centre).max() >= MIN_CONTRAST


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])])


def changed(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int, int] | None:
    """The box of pixels that differ clearly (beyond encoding noise), or None."""
    mask = np.abs(a.astype(np.int16) - b).sum(axis=-1) > 60
    if mask.sum() < 4:
        return None
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@pytest.mark.slow
@pytest.mark.parametrize("name", ["16x9", "9x16"])
def test_branded_and_unbranded_renders_show_cards_where_the_timeline_says(fast, cards, tmp_path, name) -> None:
    fmt = FORMATS[name]
    spec = spec_of([shot(1, cards["c1"], 0.0, 1.5), shot(3, cards["c3"], 0.0, 1.5), shot(5, cards["c5"], 0.0, 1.5)])
    spans = frame_layout(spec)
    overlays = [TITLE, CAPTION, AGENT]
    sampler = FrameSampler(spec, spans, "cover")
    drawn = {cut: draw_cut(cut, overlays, BRAND, fmt, sampler, {}, spans[-1].end, tmp_path / "cards") for cut in (BRANDED, UNBRANDED)}
    result = render_timeline(spec, render_options(fmt, get_settings()), tmp_path / "work",
                             [Cut("bare"), Cut(BRANDED, drawn[BRANDED].cards), Cut(UNBRANDED, drawn[UNBRANDED].cards)])
    bare, branded, unbranded = (decode(result.cuts[c]) for c in ("bare", BRANDED, UNBRANDED))
    assert bare.shape == branded.shape == unbranded.shape == (135, fmt.height, fmt.width, 3)

    def at(seconds: float) -> int:
        return round(seconds * 30)

    for overlay in overlays:
        mid = at((overlay.start_time + overlay.end_time) / 2)
        box = changed(branded[mid], bare[mid])
        assert box is not None and inside(box, fmt.safe_box, CHROMA), (overlay.kind, box, fmt.safe_box)
        in_unbranded = changed(unbranded[mid], bare[mid])
        if overlay.branded_only:  # the agent card: only in the branded cut
            assert in_unbranded is None
        else:  # the title and caption: in both, the same place, in neutral colours without the brand
            assert in_unbranded is not None and inside(in_unbranded, fmt.safe_box, CHROMA)
            assert changed(unbranded[mid], branded[mid]) is not None
        before = at(overlay.start_time) - 2  # two frames before it comes in: nothing yet
        assert changed(branded[before], bare[before]) is None, (overlay.kind, "early")
        if overlay.end_time < 4.5:
            after = at(overlay.end_time) + 1
            assert changed(branded[after], bare[after]) is None, (overlay.kind, "late")
    # it fades in: half-way through its fade the card is fainter than when fully in
    start = at(TITLE.start_time)
    half = np.abs(branded[start + 3].astype(int) - bare[start + 3]).sum()
    full = np.abs(branded[at(0.75)].astype(int) - bare[at(0.75)]).sum()
    assert 0 < half < full


@pytest.mark.slow
def test_a_card_changes_only_the_pixels_it_covers(fast, cards, tmp_path, monkeypatch) -> None:
    """Losslessly encoded, a render with a card equals the render without it everywhere outside
    the card's box: the card is blended in the video's own colours, never by taking whole frames
    through RGB (which once shifted every pixel of the picture and cost 4x the encode)."""
    monkeypatch.setenv("PICAIVID_ASSEMBLE_CRF", "0")
    get_settings.cache_clear()
    fmt = FORMATS["16x9"]
    spec = spec_of([shot(1, cards["c1"], 0.0, 1.5), shot(3, cards["c3"], 0.0, 1.5)])
    spans = frame_layout(spec)
    drawn = draw_cut(BRANDED, [CAPTION], BRAND, fmt, FrameSampler(spec, spans, "cover"), {}, spans[-1].end,
                     tmp_path / "cards")
    result = render_timeline(spec, render_options(fmt, get_settings()), tmp_path / "work",
                             [Cut("bare"), Cut(BRANDED, drawn.cards)])
    bare, carded = decode(result.cuts["bare"]), decode(result.cuts[BRANDED])
    card = drawn.cards[0]
    width, height = Image.open(card.path).size
    outside = np.ones(bare.shape[1:3], bool)
    outside[max(0, card.y - CHROMA) : card.y + card.rise + height + CHROMA,
            max(0, card.x - CHROMA) : card.x + width + CHROMA] = False
    assert np.array_equal(bare[:, outside], carded[:, outside])
    mid = round((CAPTION.start_time + CAPTION.end_time) / 2 * 30)
    assert np.abs(bare[mid].astype(int) - carded[mid]).max() > 60
