"""H.264 clips in and out of numpy frames, through PyAV (libx264 inside).

Frames are RGB uint8 (H, W, 3). Writing converts to yuv420p once with OpenCV's BT.601
limited-range matrix and tags the stream accordingly, so every player and ffmpeg filter reads
the colours back as written. Frame i gets pts i in a 1/fps time base, so a clip of N frames
lasts exactly N/fps seconds. Encoding runs on a background thread: PyAV releases the GIL
inside libx264, so the caller renders frame i+1 while frame i is being encoded.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import cv2
import numpy as np

BT601 = 6  # AVCOL_PRI/TRC/SPC_SMPTE170M: what cv2.COLOR_RGB2YUV_I420 computes
LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG
DEFAULT_CRF = 18
DEFAULT_PRESET = "superfast"


class VideoError(RuntimeError):
    """A clip could not be written or read."""


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    frame_count: int
    duration: float
    codec: str
    pix_fmt: str


def rgb_to_yuv420(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB → the (H*3/2, W) I420 plane layout PyAV's yuv420p frames take."""
    return cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420)


class VideoWriter:
    """Streams frames into an mp4; closing (also on an exception) leaves a playable file.

    That last point is what makes partial output possible: a render interrupted half way
    still closes its writer and the frames written so far are a valid clip.
    """

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        fps: int,
        *,
        crf: int = DEFAULT_CRF,
        preset: str = DEFAULT_PRESET,
        threads: int = 2,
    ) -> None:
        if width % 2 or height % 2:
            raise VideoError(f"yuv420p needs even dimensions, got {width}x{height}")
        self.path = Path(path)
        self.width, self.height, self.fps = width, height, fps
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self.path), mode="w", options={"movflags": "+faststart"})
        stream = self._container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.thread_count = threads
        # a keyframe every second: Phase 4 trims deep into clips, and a seek decodes from the keyframe before it
        stream.codec_context.gop_size = fps
        stream.options = {"preset": preset, "crf": str(crf)}
        ctx = stream.codec_context
        ctx.color_primaries = ctx.color_trc = ctx.colorspace = BT601
        ctx.color_range = LIMITED_RANGE
        self._stream = stream
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=4)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._encode_loop, name="video-encode", daemon=True)
        self._thread.start()
        self.frames_written = 0
        self._closed = False

    def _encode_loop(self) -> None:
        try:
            pts = 0
            while (planes := self._queue.get()) is not None:
                frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
                frame.pts = pts
                frame.color_range = LIMITED_RANGE
                pts += 1
                for packet in self._stream.encode(frame):
                    self._container.mux(packet)
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        except BaseException as err:  # noqa: BLE001 — handed to the writer's caller, not swallowed
            self._error = err
            while self._queue.get() is not None:  # unblock a producer waiting on a full queue
                pass

    def write(self, frame: np.ndarray) -> np.ndarray:
        """Queue `frame` for encoding; returns the I420 planes it is encoded from (read-only
        for the caller: the encoder thread reads them too)."""
        if self._error is not None:
            raise VideoError(f"encoding {self.path.name} failed: {self._error}") from self._error
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise VideoError(
                f"frame {frame.shape} {frame.dtype} does not match {self.height}x{self.width}x3 uint8"
            )
        planes = rgb_to_yuv420(frame)
        self._queue.put(planes)
        self.frames_written += 1
        return planes

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()
        self._container.close()
        if self._error is not None:
            raise VideoError(f"encoding {self.path.name} failed: {self._error}") from self._error

    def __enter__(self) -> VideoWriter:  # noqa: PYI034 — not subclassed
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def encode_frames(
    frames: Iterable[np.ndarray], path: Path, width: int, height: int, fps: int, **options: object
) -> VideoInfo:
    with VideoWriter(path, width, height, fps, **options) as writer:  # type: ignore[arg-type]
        for frame in frames:
            writer.write(frame)
    return probe(path)


def probe(path: Path) -> VideoInfo:
    """Size, rate and the exact frame count (counted by demuxing, not trusted from headers)."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            ctx = stream.codec_context
            rate = stream.average_rate or stream.guessed_rate
            frames = sum(1 for packet in container.demux(stream) if packet.size)
            fps = float(rate) if rate else 0.0
            return VideoInfo(
                width=ctx.width,
                height=ctx.height,
                fps=fps,
                frame_count=frames,
                duration=frames / fps if fps else 0.0,
                codec=ctx.name,
                pix_fmt=ctx.pix_fmt or "",
            )
    except (av.error.FFmpegError, IndexError) as err:
        raise VideoError(f"cannot read video {path}: {err}") from err


def analysis_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(width, height) scaled so the longest side is at most max_side, kept even."""
    scale = 1.0 if not max_side else min(1.0, max_side / max(width, height))
    return max(2, round(width * scale)) // 2 * 2, max(2, round(height * scale)) // 2 * 2


def read_frames(path: Path, max_side: int | None = None) -> Iterator[np.ndarray]:
    """Every frame in order as RGB uint8, optionally scaled to max_side."""
    for _, frame in _decode(path):
        rgb = frame.to_ndarray(format="rgb24")
        size = analysis_size(rgb.shape[1], rgb.shape[0], max_side)
        yield rgb if size == (rgb.shape[1], rgb.shape[0]) else cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def read_luma_and_samples(
    path: Path, max_side: int, rgb_indices: Iterable[int]
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """What the validator reads in one decode pass: every frame's luma (T, h, w) uint8, and
    RGB for the frames in `rgb_indices`, all scaled to max_side.

    Luma is the decoded Y plane itself (no colour conversion), which is what makes reading
    every frame of a 1080p clip cheap; only the few sampled frames are converted to RGB.
    """
    wanted = set(rgb_indices)
    lumas: list[np.ndarray] = []
    samples: dict[int, np.ndarray] = {}
    for index, frame in _decode(path):
        size = analysis_size(frame.width, frame.height, max_side)
        if frame.format.name == "yuv420p":
            plane = frame.planes[0]
            luma = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
        else:
            luma = frame.to_ndarray(format="gray")
        lumas.append(cv2.resize(luma, size, interpolation=cv2.INTER_AREA))
        if index in wanted:
            rgb = frame.to_ndarray(format="rgb24")
            samples[index] = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    if not lumas:
        raise VideoError(f"{path} holds no video frames")
    return np.stack(lumas), samples


def _decode(path: Path) -> Iterator[tuple[int, av.VideoFrame]]:
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            yield from enumerate(container.decode(stream))
    except (av.error.FFmpegError, IndexError) as err:
        raise VideoError(f"cannot decode video {path}: {err}") from err
