"""PyAV encode/decode: exact size, rate, length and colours; partial output stays playable."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from tasks.media.video import (
    VideoError,
    VideoWriter,
    encode_frames,
    probe,
    read_frames,
    read_luma_and_samples,
)


def ramp_frames(n: int, width: int = 160, height: int = 96) -> list[np.ndarray]:
    """Smooth coloured gradients that shift a little each frame (easy to compare after coding)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for i in range(n):
        r = 40 + 150 * (x + 2 * i) / width
        g = 60 + 120 * y / height
        b = np.full_like(r, 30 + i)
        frames.append(np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8))
    return frames


def test_encode_is_exact_in_size_rate_length_and_format(tmp_path: Path) -> None:
    info = encode_frames(ramp_frames(45), tmp_path / "c.mp4", 160, 96, 30)
    assert (info.width, info.height, info.fps, info.frame_count) == (160, 96, 30.0, 45)
    assert info.duration == pytest.approx(1.5)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    with av.open(str(tmp_path / "c.mp4")) as container:
        stream = container.streams.video[0]
        assert float(stream.duration * stream.time_base) == pytest.approx(1.5, abs=1 / 30)
        assert stream.codec_context.colorspace == 6 and stream.codec_context.color_range == 1  # BT.601, tv


def test_decoded_colours_match_what_was_written(tmp_path: Path) -> None:
    frames = ramp_frames(10)
    encode_frames(frames, tmp_path / "c.mp4", 160, 96, 25)
    decoded = list(read_frames(tmp_path / "c.mp4"))
    assert len(decoded) == 10
    error = np.abs(decoded[5].astype(int) - frames[5].astype(int))
    assert error.mean() < 2.0 and np.percentile(error, 99) < 8


def test_luma_and_samples_read_in_one_pass(tmp_path: Path) -> None:
    encode_frames(ramp_frames(12), tmp_path / "c.mp4", 160, 96, 24)
    lumas, samples = read_luma_and_samples(tmp_path / "c.mp4", 80, [0, 11])
    assert lumas.shape == (12, 48, 80) and lumas.dtype == np.uint8
    assert sorted(samples) == [0, 11] and samples[11].shape == (48, 80, 3)
    assert lumas[0].mean() < lumas[11].mean()  # frames brighten as blue grows


def test_a_writer_closed_by_an_exception_leaves_a_playable_partial_clip(tmp_path: Path) -> None:
    path = tmp_path / "partial.mp4"
    with pytest.raises(KeyboardInterrupt), VideoWriter(path, 160, 96, 30) as writer:
        for i, frame in enumerate(ramp_frames(60)):
            if i == 17:
                raise KeyboardInterrupt
            writer.write(frame)
    assert probe(path).frame_count == 17


def test_bad_frames_and_files_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="even"):
        VideoWriter(tmp_path / "odd.mp4", 161, 96, 30)
    with VideoWriter(tmp_path / "c.mp4", 160, 96, 30) as writer, pytest.raises(VideoError, match="does not match"):
        writer.write(np.zeros((96, 100, 3), np.uint8))
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    with pytest.raises(VideoError):
        probe(tmp_path / "junk.mp4")
