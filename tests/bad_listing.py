"""A listing as agents really upload it, built in the test from the procedural sample house.

Real photos of the house next to what comes with them: an 8x8 thumbnail, exact and near
duplicates (a byte copy, CMYK, WebP, 16-bit PNG, EXIF-rotated), an iPhone HEIC, a large JPEG,
a 6000x700 panorama, an animated GIF, a RAW file, a video, a truncated JPEG, an all-black frame,
and a hostile file name. `EXPECTED` says how each must end: used, or refused with which reason.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image

USED = "used"
PANNED = "panned"
KITCHEN = "one kitchen"  # the kitchen's six copies: exactly one is used, the rest are its duplicates

# file -> USED, PANNED, or a fragment of the reason it is left out with
EXPECTED: dict[str, str] = {
    "exterior_front_a.jpg": USED,
    "living_a.jpg": USED,
    "kitchen_a.jpg": KITCHEN,
    "bedroom_a.jpg": USED,
    "bathroom_a.jpg": USED,
    'it\'s "ours"; rm -rf ünï.jpg': USED,  # living_b under a hostile name
    "IMG_0042.HEIC": USED,  # bedroom_b from an iPhone
    "living_c_large.jpg": USED,  # 39 MP: read through the reduced JPEG decode only
    "panorama.jpg": PANNED,
    "kitchen_a copy.jpg": KITCHEN,
    "kitchen_a_cmyk.jpg": KITCHEN,
    "kitchen_a.webp": KITCHEN,
    "kitchen_a_16bit.png": KITCHEN,
    "kitchen_a_rotated.jpg": KITCHEN,
    "thumb.jpg": "too small for video: 8x8",
    "tour.gif": "animated GIF (3 frames)",
    "IMG_0001.CR2": "camera RAW file (.cr2)",
    "walkthrough.mov": "video file (.mov)",
    "truncated.jpg": "corrupt or truncated",
    "black.png": "exposure",
}
OVERRIDES = {"kitchen_a_cmyk.jpg": {"hero_global": True}}  # carried to whichever kitchen copy is kept
LARGE_JPEG_FULL_DECODE_LIMIT = 20_000_000  # set as PICAIVID_MAX_FULL_DECODE_PIXELS: the large JPEG is over it


def encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def make_bad_listing(listing, folder: Path) -> Path:
    """Write the files of `EXPECTED` into `folder` (and overrides.json beside it); returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    src = {p.path.stem: p.path for p in listing.photos}
    for stem in ("exterior_front_a", "living_a", "kitchen_a", "bedroom_a", "bathroom_a"):
        (folder / f"{stem}.jpg").write_bytes(src[stem].read_bytes())
    (folder / 'it\'s "ours"; rm -rf ünï.jpg').write_bytes(src["living_b"].read_bytes())
    heic = io.BytesIO()
    pillow_heif.from_pillow(Image.open(src["bedroom_b"]).convert("RGB")).save(heic, quality=90)
    (folder / "IMG_0042.HEIC").write_bytes(heic.getvalue())
    living_c = Image.open(src["living_c"]).convert("RGB")
    large = living_c.resize((7680, 5120), Image.Resampling.BILINEAR)
    (folder / "living_c_large.jpg").write_bytes(encode(large, "JPEG", quality=80))
    outside = [Image.open(src[s]).convert("RGB") for s in ("exterior_front_b", "exterior_front_a")]
    strip = np.concatenate([np.asarray(im) for im in outside], axis=1)
    (folder / "panorama.jpg").write_bytes(encode(Image.fromarray(strip).resize((6000, 700)), "JPEG", quality=90))

    kitchen = Image.open(src["kitchen_a"]).convert("RGB")
    (folder / "kitchen_a copy.jpg").write_bytes(src["kitchen_a"].read_bytes())
    (folder / "kitchen_a_cmyk.jpg").write_bytes(encode(kitchen.convert("CMYK"), "JPEG", quality=92))
    (folder / "kitchen_a.webp").write_bytes(encode(kitchen, "WEBP", quality=80))
    gray16 = np.asarray(kitchen.convert("L")).astype(np.uint16) * 257
    (folder / "kitchen_a_16bit.png").write_bytes(encode(Image.fromarray(gray16), "PNG"))
    exif = Image.Exif()
    exif[0x0112] = 8  # stored turned a quarter, shown upright
    sideways = kitchen.transpose(Image.Transpose.ROTATE_270)
    (folder / "kitchen_a_rotated.jpg").write_bytes(encode(sideways, "JPEG", quality=90, exif=exif.tobytes()))

    (folder / "thumb.jpg").write_bytes(encode(Image.open(src["bathroom_a"]).convert("RGB").resize((8, 8)), "JPEG"))
    frames = [kitchen.resize((96, 64)).rotate(a) for a in (0, 90, 180)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    (folder / "tour.gif").write_bytes(buf.getvalue())
    (folder / "IMG_0001.CR2").write_bytes(b"II*\x00\x10\x00\x00\x00CR\x02\x00" + bytes(256))
    (folder / "walkthrough.mov").write_bytes(b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00" + bytes(256))
    whole = src["bathroom_a"].read_bytes()
    (folder / "truncated.jpg").write_bytes(whole[: len(whole) // 3])
    (folder / "black.png").write_bytes(encode(Image.new("RGB", (1600, 1000)), "PNG"))
    (folder.parent / "overrides.json").write_text(json.dumps(OVERRIDES))
    assert sorted(p.name for p in folder.iterdir()) == sorted(EXPECTED)
    return folder
