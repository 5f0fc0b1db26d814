"""Decoding music to the mono samples beat detection reads.

Decoded with FFmpeg (PyAV), the decoder Phase 4 mixes the music with: beat times are then
measured on exactly the samples the final video plays (an MP3's encoder delay, say, is skipped
the same way by both), and every format the intake accepts (m4a/aac included) has one path.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


class AudioError(ValueError):
    """The music cannot be decoded; the message names the file and the reason."""


def load_mono(path: Path, sr: int) -> np.ndarray:
    """The file's first audio stream as float32 mono samples at `sr` Hz."""
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as err:
        raise AudioError(f"{path.name}: not a readable audio file ({err})") from None
    chunks: list[np.ndarray] = []
    with container:
        if not container.streams.audio:
            raise AudioError(f"{path.name}: has no audio stream")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
        try:
            for frame in container.decode(container.streams.audio[0]):
                chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
            chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
        except av.error.FFmpegError as err:
            raise AudioError(f"{path.name}: audio cannot be decoded ({err})") from None
    if not chunks:
        raise AudioError(f"{path.name}: the audio stream is empty")
    return np.concatenate(chunks).astype(np.float32, copy=False)
