"""Decoding: every colour mode, orientation, size guard and kind of broken file."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from tasks.media.images import UnusablePhoto, decode_for_analysis, decode_photo


def encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def gradient_rgb(w: int = 96, h: int = 64) -> np.ndarray:
    """Red grows left to right, green top to bottom: any flip or turn moves the corners."""
    x = np.linspace(0, 255, w)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h)[:, None].repeat(w, 1)
    return np.stack([x, y, np.full_like(x, 40)], axis=2).astype(np.uint8)


def test_rgb_jpeg_decodes_to_uint8_rgb_at_full_size():
    src = gradient_rgb()
    out = decode_photo(encode(Image.fromarray(src), "PNG"))
    assert out.pixels.dtype == np.uint8 and out.pixels.shape == (64, 96, 3)
    assert (out.width, out.height) == (96, 64)
    assert np.array_equal(out.pixels, src)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied(orientation):
    src = gradient_rgb()
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(Image.fromarray(src), "JPEG", quality=95, exif=exif.tobytes())
    out = decode_photo(data)
    expected = {3: np.rot90(src, 2), 6: np.rot90(src, -1), 8: np.rot90(src, 1)}[orientation]
    assert out.pixels.shape == expected.shape
    assert (out.width, out.height) == (expected.shape[1], expected.shape[0])
    assert np.abs(out.pixels.astype(int) - expected.astype(int)).mean() < 4


def test_cmyk_jpeg_becomes_the_same_colours_in_rgb():
    src = gradient_rgb()
    out = decode_photo(encode(Image.fromarray(src).convert("CMYK"), "JPEG", quality=95))
    assert out.pixels.shape == src.shape
    assert np.abs(out.pixels.astype(int) - src.astype(int)).mean() < 6


def test_palette_with_transparency_is_flattened_on_white():
    image = Image.new("P", (20, 10), 0)
    image.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    image.paste(1, (10, 0, 20, 10))
    out = decode_photo(encode(image, "PNG", transparency=0))
    assert (out.pixels[:, :10] == 255).all()  # transparent half shows white, not black
    assert tuple(out.pixels[5, 15]) == (200, 10, 10)


def test_rgba_alpha_is_composited_not_dropped():
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 128  # half-transparent red over white -> pink
    out = decode_photo(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    r, g, b = (int(v) for v in out.pixels[4, 4])
    assert r == 255 and 120 <= g <= 135 and g == b


def test_sixteen_bit_grayscale_is_scaled_not_clipped():
    ramp = np.linspace(0, 65535, 64 * 32).reshape(32, 64).astype(np.uint16)
    out = decode_photo(encode(Image.fromarray(ramp), "PNG"))
    gray = out.pixels[..., 0].astype(int)
    assert (out.pixels[..., 0] == out.pixels[..., 1]).all()
    assert gray.min() == 0 and gray.max() == 255
    assert abs(gray.mean() - 127.5) < 2  # clipping at 255 would push the mean far up


def test_sixteen_bit_rgb_png_keeps_its_colours():
    src16 = gradient_rgb().astype(np.uint16) * 257
    ok, png = cv2.imencode(".png", cv2.cvtColor(src16, cv2.COLOR_RGB2BGR))
    assert ok
    out = decode_photo(png.tobytes())
    assert np.abs(out.pixels.astype(int) - gradient_rgb().astype(int)).max() <= 1


def test_grayscale_becomes_three_equal_channels():
    out = decode_photo(encode(Image.fromarray(gradient_rgb()[..., 0]), "PNG"))
    assert out.pixels.shape == (64, 96, 3)
    assert (out.pixels[..., 0] == out.pixels[..., 2]).all()


def test_downscale_keeps_aspect_and_reports_original_size(env):
    big = np.array(Image.fromarray(gradient_rgb()).resize((2000, 1000)))
    data = encode(Image.fromarray(big), "JPEG", quality=90)
    out = decode_photo(data, max_side=300)
    assert out.pixels.shape == (150, 300, 3)
    assert (out.width, out.height) == (2000, 1000)
    small = decode_photo(encode(Image.fromarray(gradient_rgb()), "PNG"), max_side=300)
    assert small.pixels.shape == (64, 96, 3)  # never upscaled
    analysed = decode_for_analysis(data)  # settings.analysis_max_side, 512 by default
    assert max(analysed.pixels.shape[:2]) == 512


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty file"),
        (b"this is a text file, not a photo\n" * 20, "not an image"),
        (b"\xff\xd8\xff\xe0", "not an image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "unreadable image header"),
    ],
)
def test_non_images_are_refused_with_a_reason(data, expected):
    with pytest.raises(UnusablePhoto) as err:
        decode_photo(data)
    assert expected in err.value.reason


@pytest.mark.parametrize("max_side", [None, 64])
def test_truncated_jpeg_is_refused(max_side):
    data = encode(Image.fromarray(gradient_rgb(400, 300)), "JPEG", quality=90)
    with pytest.raises(UnusablePhoto) as err:
        decode_photo(data[: len(data) // 2], max_side)
    assert "truncated" in err.value.reason


def test_corrupt_png_payload_is_refused():
    data = bytearray(encode(Image.fromarray(gradient_rgb()), "PNG"))
    idat = data.index(b"IDAT")
    data[idat + 8 : idat + 40] = b"\x00" * 32  # garbage inside the compressed stream
    with pytest.raises(UnusablePhoto):
        decode_photo(bytes(data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a huge size: the guard must refuse it from the header alone."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [20_000, 60_000])  # above our limit; above twice Pillow's own
def test_decompression_bomb_is_refused_before_decoding(side):
    with pytest.raises(UnusablePhoto) as err:
        decode_photo(png_header_only(side, side), max_pixels=80_000_000)
    assert "decompression bomb" in err.value.reason


def test_bomb_limit_comes_from_settings(env, monkeypatch):
    from tasks.settings import get_settings

    data = encode(Image.fromarray(gradient_rgb()), "PNG")
    monkeypatch.setenv("PICAIVID_MAX_IMAGE_PIXELS", str(96 * 64 - 1))
    get_settings.cache_clear()
    with pytest.raises(UnusablePhoto, match="decompression bomb"):
        decode_photo(data)
