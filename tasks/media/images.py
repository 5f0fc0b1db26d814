"""Photo decoding: one careful path from stored bytes to an RGB array, shared by every phase.

Listing photos arrive as whatever the upstream site published: rotated phone JPEGs, CMYK print
files, palette PNGs, 16-bit TIFFs, images with alpha, and sometimes garbage. Everything becomes an
upright 8-bit RGB array here, or an `UnusablePhoto` whose reason is worth storing in the database.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from tasks.settings import get_settings

# EXIF orientations 5..8 turn the picture a quarter, so the upright size swaps width and height.
_QUARTER_TURN_ORIENTATIONS = frozenset({5, 6, 7, 8})
_EXIF_ORIENTATION_TAG = 0x0112
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_ALPHA_BACKGROUND = (255, 255, 255)  # listing sites show transparent areas on white


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


def decode_photo(data: bytes, max_side: int | None = None, *, max_pixels: int | None = None) -> DecodedPhoto:
    """Decode `data` upright into RGB, shrunk so its longest side is at most `max_side`.

    `max_side=None` keeps the full resolution (Phase 2 renders from that). `max_pixels` defaults to
    the decompression-bomb guard in settings; the check runs on the header, before any pixel is
    decoded, so a 50 000 x 50 000 PNG costs nothing.
    """
    if not data:
        raise UnusablePhoto("empty file (0 bytes)")
    limit = max_pixels if max_pixels is not None else get_settings().max_image_pixels
    image = _open(data, limit)
    width, height = image.size
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
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise UnusablePhoto(f"corrupt or truncated image: {err}") from err
    if max_side is not None and max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=2.0)
    # A writable copy: callers (and torch) may work on it in place.
    return DecodedPhoto(pixels=np.array(rgb, dtype=np.uint8), width=width, height=height)


def decode_for_analysis(data: bytes) -> DecodedPhoto:
    """The one analysis-size decode of Phase 1 (`settings.analysis_max_side`)."""
    return decode_photo(data, get_settings().analysis_max_side)


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Open lazily (header only) and refuse non-images and decompression bombs."""
    try:
        with warnings.catch_warnings():
            # Our own limit below is the guard; Pillow's global one only adds noise or, above
            # twice its default, refuses before we can give a useful reason.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as err:
        raise UnusablePhoto(f"decompression bomb refused: {err}") from err
    except UnidentifiedImageError as err:
        raise UnusablePhoto(f"not an image ({len(data)} bytes in no format Pillow knows)") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise UnusablePhoto(f"unreadable image header: {err}") from err
    w, h = image.size
    if w <= 0 or h <= 0:
        raise UnusablePhoto(f"image has no pixels ({w}x{h})")
    if w * h > max_pixels:
        raise UnusablePhoto(
            f"decompression bomb refused: {w}x{h} = {w * h} pixels exceeds the limit of {max_pixels}"
        )
    return image


def _orientation(image: Image.Image) -> int:
    return int(image.getexif().get(_EXIF_ORIENTATION_TAG, 1))


def _draft(image: Image.Image, max_side: int) -> None:
    """Let JPEG decode at 1/2, 1/4 or 1/8 scale when that still covers `max_side` (much faster)."""
    w, h = image.size
    scale = max_side / max(w, h)
    if scale < 1 and image.format == "JPEG":
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
