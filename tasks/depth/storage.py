"""Unit depth's artifact-store form: a 16-bit greyscale PNG."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def encode_depth_png(depth: np.ndarray) -> bytes:
    """Unit depth as a 16-bit greyscale PNG (0 = nearest), the artifact-store form."""
    levels = np.round(np.clip(depth, 0.0, 1.0) * 65535).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(levels).save(buffer, format="PNG")
    return buffer.getvalue()


def decode_depth_png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)), dtype=np.float32) / 65535.0
