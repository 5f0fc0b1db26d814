"""The contact sheet's frame picker lands on the asked moment, wherever the keyframes are."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from tasks.assemble.contact_sheet import frame_at

FPS, FRAMES, STEP = 10, 60, 4  # frame i is grey level 4*i: any frame's index reads off its mean


@pytest.fixture(scope="module")
def numbered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sheet") / "numbered.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS, options={"crf": "0", "g": "15"})  # a keyframe every 1.5 s
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), STEP * i, np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


@pytest.mark.parametrize("t", [0.0, 0.05, 1.0, 1.6, 3.25, 5.9])
def test_the_frame_at_a_moment_is_the_first_at_or_after_it(numbered: Path, t: float) -> None:
    image = frame_at(numbered, t)
    index = round(float(np.asarray(image.convert("L")).mean()) / STEP)
    assert index == int(np.ceil(t * FPS - 1e-9))


def test_past_the_end_is_the_last_frame(numbered: Path) -> None:
    image = frame_at(numbered, 60.0)
    assert round(float(np.asarray(image.convert("L")).mean()) / STEP) == FRAMES - 1
