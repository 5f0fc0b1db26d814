"""Photo decoding: one careful path from stored bytes to an RGB array, shared by every phase.

Listing photos arrive as whatever the upstream site published: rotated phone JPEGs, iPhone HEIC,
CMYK print files, palette PNGs, 16-bit TIFFs, images with alpha, and sometimes garbage. Everything
becomes an upright 8-bit RGB array here, or an `UnusablePhoto` whose reason is worth storing in the
database (RAW, video and animations included: see `tasks.media.formats`).

Size limits, checked on the header before any pixel is decoded:
- `max_image_pixels` (250 MP): the hard limit for every photo. JPEGs up to it are decoded at a
  reduced scale (libjpeg's 1/2, 1/4, 1/8 through Pillow's draft mode), so a 200 MP photo costs
  the memory of its reduced size, not of its full size (bench/bench_large_photo.py measures it).
- `max_full_decode_pixels` (100 MP): formats that can only be decoded whole (PNG, WebP, TIFF,
  HEIC, ...) need their full size in memory first, so they stop here.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from pillow_heif import register_heif_opener

from tasks.media.formats import refusal
from tasks.settings import get_settings

register_heif_opener()  # HEIC/HEIF (iPhone photos) through Pillow's ordinary Image.open
# Pillow's own bomb guard refuses past 179 MP before our header check can run; ours (`_open`,
# settings.max_image_pixels) replaces it, with a limit and a reason of our choosing.
Image.MAX_IMAGE_PIXELS = None

# EXIF orientations 5..8 turn the picture a quarter, so the upright size swaps width and height.
_QUARTER_TURN_ORIENTATIONS = frozenset({5, 6, 7, 8})
_EXIF_ORIENTATION_TAG = 0x0112
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_ALPHA_BACKGROUND = (255, 255, 255)  # listing sites show transparent areas on white
_DRAFT_FORMATS = frozenset({"JPEG", "MPO"})  # decodable at 1/2, 1/4, 1/8 scale
_ANIMATION_FORMATS = frozenset({"GIF", "PNG", "WEBP"})  # a multi-frame one is an animation
RENDER_OVERSCAN = 1.25  # photo pixels per output pixel a render may need (pans overscan, pushes zoom)


class UnusablePhoto(ValueError):
    """The bytes cannot become a photo we can analyse; `reason` is stored on the photo row."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class DecodedPhoto:
    """An upright RGB picture and the upright size of the original it came from."""

    pixels: np.ndarray  # HxWx3 uint8, possibly downscaled
    width: int  # original upright width
    height: int  # original upright height


def decode_photo(
    data: bytes, max_side: int | None = None, *, name: str | None = None, max_pixels: int | None = None
) -> DecodedPhoto:
    """Decode `data` upright into RGB, shrunk so its longest side is at most `max_side`.

    `max_side=None` keeps the full resolution. `name` (the uploaded file name) lets RAW and video
    files be refused by name too. `max_pixels` defaults to the hard limit in settings; the checks
    run on the header, before any pixel is decoded, so a 50 000 x 50 000 PNG costs nothing.
    """
    if not data:
        raise UnusablePhoto("empty file (0 bytes)")
    refused = refusal(data, name)
    if refused:
        raise UnusablePhoto(refused)
    image = _open(data, max_pixels if max_pixels is not None else get_settings().max_image_pixels)
    width, height = image.size
    _refuse_animation(image)
    _refuse_full_decode_over_limit(image, max_side)
    if max_side is not None:
        _draft(image, max_side)
    try:
        # Load before anything else reads the file: Pillow's PNG getexif() loads lazily, and a
        # failure swallowed there would leave a half-decoded image that loads "fine" a second time.
        image.load()
        if _orientation(image) in _QUARTER_TURN_ORIENTATIONS:
            width, height = height, width
        image = ImageOps.exif_transpose(image)
        rgb = to_rgb(image)
    except (OSError, SyntaxError, ValueError) as err:
        raise UnusablePhoto(f"corrupt or truncated image: {err}") from err
    if max_side is not None and max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=2.0)
    # A writable copy: callers (and torch) may work on it in place.
    return DecodedPhoto(pixels=np.array(rgb, dtype=np.uint8), width=width, height=height)


def decode_for_analysis(data: bytes, name: str | None = None) -> DecodedPhoto:
    """The one analysis-size decode of Phase 1 (`settings.analysis_max_side`)."""
    return decode_photo(data, get_settings().analysis_max_side, name=name)


def decode_for_render(data: bytes, width: int, height: int, name: str | None = None) -> DecodedPhoto:
    """Decoded no larger than a `width` x `height` render can use (RENDER_OVERSCAN times the
    scale that covers the frame), so a 200 MP photo is never held at full size."""
    image = _open(data, get_settings().max_image_pixels) if data else None
    max_side = None
    if image is not None:
        w, h = image.size
        if _orientation(image) in _QUARTER_TURN_ORIENTATIONS:
            w, h = h, w
        scale = max(width / w, height / h) * RENDER_OVERSCAN
        max_side = math.ceil(max(w, h) * scale) if scale < 1 else None
    return decode_photo(data, max_side, name=name)


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Open lazily (header only) and refuse non-images and decompression bombs."""
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as err:
        raise UnusablePhoto(f"not an image ({len(data)} bytes in no format Pillow knows)") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise UnusablePhoto(f"unreadable image header: {err}") from err
    w, h = image.size
    if w <= 0 or h <= 0:
        raise UnusablePhoto(f"image has no pixels ({w}x{h})")
    if w * h > max_pixels:
        raise UnusablePhoto(
            f"{w}x{h} = {_pixels(w * h)} is over the {_pixels(max_pixels)} limit for any photo "
            f"(decompression bomb guard): upload a smaller export"
        )
    return image


def _refuse_animation(image: Image.Image) -> None:
    frames = getattr(image, "n_frames", 1)
    if image.format in _ANIMATION_FORMATS and getattr(image, "is_animated", False):
        raise UnusablePhoto(
            f"animated {image.format} ({frames} frames) is not a photo: upload a still image of the room"
        )


def _refuse_full_decode_over_limit(image: Image.Image, max_side: int | None) -> None:
    """Only JPEG shrinks while it decodes; any other format must fit whole in memory first."""
    w, h = image.size
    limit = get_settings().max_full_decode_pixels
    if (image.format not in _DRAFT_FORMATS or max_side is None) and w * h > limit:
        raise UnusablePhoto(
            f"{image.format or 'image'} of {w}x{h} = {_pixels(w * h)} is over the {_pixels(limit)} "
            f"limit for formats decoded at full size: upload it as a JPEG (read up to "
            f"{_pixels(get_settings().max_image_pixels)}) or smaller"
        )


def _pixels(n: int) -> str:
    return f"{n / 1e6:.0f} MP" if n >= 10_000_000 else f"{n} pixels"


def _orientation(image: Image.Image) -> int:
    return int(image.getexif().get(_EXIF_ORIENTATION_TAG, 1))


def _draft(image: Image.Image, max_side: int) -> None:
    """Let JPEG decode at 1/2, 1/4 or 1/8 scale when that still covers `max_side` (much faster)."""
    w, h = image.size
    scale = max_side / max(w, h)
    if scale < 1 and image.format in _DRAFT_FORMATS:
        image.draft(image.mode, (math.ceil(w * scale), math.ceil(h * scale)))


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode as 8-bit RGB: alpha flattened on white, 16-bit scaled, not clipped."""
    if image.mode == "RGB":
        return image
    if image.mode in _SIXTEEN_BIT_MODES:
        return _high_bit_gray_to_rgb(np.asarray(image), 65535.0)
    if image.mode == "F":
        return _high_bit_gray_to_rgb(np.asarray(image), 1.0)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*_ALPHA_BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV


def _high_bit_gray_to_rgb(values: np.ndarray, full_scale: float) -> Image.Image:
    gray = np.clip(values.astype(np.float32) * (255.0 / full_scale), 0, 255)
    gray8 = np.rint(gray).astype(np.uint8)
    return Image.fromarray(np.repeat(gray8[:, :, None], 3, axis=2), "RGB")


def check_images(images: Sequence[np.ndarray]) -> None:
    """Refuse anything but HxWx3 uint8 RGB, naming the culprit (the decoder guarantees that form)."""
    for i, image in enumerate(images):
        if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3
                and image.shape[2] == 3 and min(image.shape[:2]) >= 8):
            shape = getattr(image, "shape", None)
            dtype = getattr(image, "dtype", type(image).__name__)
            raise ValueError(f"image {i}: expected HxWx3 uint8 RGB of at least 8x8, got {shape} {dtype}")
