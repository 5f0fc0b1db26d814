"""The formats agents upload: HEIC read, animations/RAW/video refused by name and by content,
size limits by format, reduced decodes of large JPEGs."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
from PIL import Image

from tasks.media.formats import refusal, sniff
from tasks.media.images import UnusablePhoto, decode_for_analysis, decode_for_render, decode_photo
from tests.analyze.test_images import encode, gradient_rgb


def heic(image: Image.Image, **kw) -> bytes:
    """A real HEIC, as an iPhone writes it (HEVC in an ISO-BMFF 'heic' container)."""
    buf = io.BytesIO()
    pillow_heif.from_pillow(image).save(buf, quality=90, **kw)
    return buf.getvalue()


def test_heic_decodes_upright_like_any_photo() -> None:
    src = gradient_rgb(128, 96)
    data = heic(Image.fromarray(src))
    assert data[4:12] == b"ftypheic" and sniff(data) is None
    out = decode_photo(data, name="IMG_0001.HEIC")
    assert (out.width, out.height) == (128, 96)
    assert np.abs(out.pixels.astype(int) - src).mean() < 6  # lossy HEVC, same picture


def test_animated_gif_and_webp_are_refused_with_their_frame_count() -> None:
    frames = [Image.fromarray(gradient_rgb()).rotate(a) for a in (0, 90, 180)]
    for fmt in ("GIF", "WEBP"):
        buf = io.BytesIO()
        frames[0].save(buf, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
        with pytest.raises(UnusablePhoto, match=f"animated {fmt} \\(3 frames\\)"):
            decode_for_analysis(buf.getvalue(), "tour.gif")
    still = decode_photo(encode(Image.fromarray(gradient_rgb()), "GIF"))  # a still GIF is a photo
    assert still.pixels.shape == (64, 96, 3)


@pytest.mark.parametrize(
    "name,data,reason",
    [
        ("IMG_0001.CR2", b"II*\x00\x10\x00\x00\x00CR", "camera RAW file (.cr2)"),
        ("DSC_0001.NEF", b"MM\x00*" + bytes(32), "camera RAW file (.nef)"),
        ("walk.mov", b"\x00\x00\x00\x14ftypqt  " + bytes(16), "video file (.mov)"),
        ("photo.jpg", b"\x00\x00\x00\x18ftypmp42" + bytes(16), "video file is not a photo"),  # a lying name
        ("photo.jpg", b"\x1a\x45\xdf\xa3" + bytes(16), "video file is not a photo"),
        ("key-without-suffix", b"\x00\x00\x00\x18ftypcrx " + bytes(16), "camera RAW file is not read"),
        ("upload-17", b"II*\x00\x10\x00\x00\x00CR\x02\x00" + bytes(16), "camera RAW file is not read"),
    ],
)
def test_raw_and_video_are_refused_by_name_or_content(name: str, data: bytes, reason: str) -> None:
    assert reason in (refusal(data, name) or "")
    with pytest.raises(UnusablePhoto, match=reason.replace("(", "\\(").replace(")", "\\)")):
        decode_for_analysis(data, name)


def test_formats_decoded_whole_have_a_lower_limit_than_jpeg(env, monkeypatch) -> None:
    """PNG (and WebP, TIFF, HEIC) cannot shrink while decoding; JPEG can, so it may be larger."""
    from tasks.settings import get_settings

    monkeypatch.setenv("PICAIVID_MAX_FULL_DECODE_PIXELS", str(200 * 150 - 1))
    get_settings.cache_clear()
    src = Image.fromarray(gradient_rgb(200, 150))
    with pytest.raises(UnusablePhoto, match="PNG of 200x150 = 30000 pixels is over the 29999 pixels limit"):
        decode_for_analysis(encode(src, "PNG"))
    assert decode_for_analysis(encode(src, "JPEG")).width == 200  # reduced decode: within the hard limit
    with pytest.raises(UnusablePhoto, match="formats decoded at full size"):
        decode_photo(encode(src, "JPEG"))  # but not when asked for every pixel


def test_render_decode_is_no_larger_than_the_frame_needs() -> None:
    """A 4000x3000 JPEG for a 480x270 render decodes at libjpeg's 1/4 scale (draft), not whole."""
    data = encode(Image.new("RGB", (4000, 3000), (120, 130, 140)), "JPEG", quality=70)
    out = decode_for_render(data, 480, 270)
    assert (out.width, out.height) == (4000, 3000)  # the original's size is still reported
    assert max(out.pixels.shape[:2]) <= 1000 and out.pixels.shape[0] >= 270 * 1.25
    small = decode_for_render(encode(Image.new("RGB", (300, 200)), "JPEG"), 1920, 1080)
    assert small.pixels.shape[:2] == (200, 300)  # never enlarged by the decode


PEAK_RSS_SCRIPT = textwrap.dedent("""
    import sys
    from tasks.media.images import decode_for_analysis
    def peak_kib():  # VmHWM starts afresh at exec; ru_maxrss would carry pytest's peak over the fork
        return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
    data = open(sys.argv[1], "rb").read()
    before = peak_kib()
    out = decode_for_analysis(data)
    after = peak_kib()
    print(out.width, out.height, max(out.pixels.shape), (after - before) // 1024)
""")


@pytest.mark.slow  # writes a 200 MP JPEG (a few seconds)
def test_a_200_megapixel_jpeg_decodes_in_bounded_memory(tmp_path: Path) -> None:
    """200 MP at full size is 600 MB of RGB; the draft decode stays under a tenth of that.
    Grey (one channel) keeps the writer's own memory small; the reader's path is the same."""
    path = tmp_path / "big.jpg"
    Image.new("L", (16330, 12250), 128).save(path, quality=80)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run([sys.executable, "-c", PEAK_RSS_SCRIPT, str(path)], env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    width, height, side, grown_mb = (int(v) for v in out.stdout.split())
    assert (width, height, side) == (16330, 12250, 512)
    assert grown_mb < 60, f"peak RSS grew {grown_mb} MB decoding a 200 MP JPEG"
