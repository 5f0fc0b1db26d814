"""What the validator needs of a clip, kept while its frames are rendered.

The validator reads every frame's luma and a few RGB frames at analysis size
(tasks.render.validate). Decoding the written clip back to get them cost a full 1080p decode
per clip (about as much as encoding it); the frames are already in memory while the clip is
rendered, so they are taken there instead: the luma is the Y plane the encoder is given (the
same BT.601 plane a decode returns, before the encoder's loss), scaled the same way. The
validator therefore judges what the generator made, not the intermediate encode's artifacts,
which leaves the intermediate's preset free to be chosen for speed.
"""

from __future__ import annotations

import cv2
import numpy as np

from tasks.media.video import analysis_size


class AnalysisFrames:
    """Every frame's luma (T, h, w) uint8 and RGB at `rgb_indices`, all scaled to `max_side`."""

    def __init__(self, n_frames: int, width: int, height: int, max_side: int, rgb_indices: list[int]) -> None:
        self.height = height
        self.size = analysis_size(width, height, max_side)
        self._lumas = np.empty((n_frames, self.size[1], self.size[0]), np.uint8)  # one block: no copy at the end
        self._wanted = set(rgb_indices)
        self.samples: dict[int, np.ndarray] = {}
        self.count = 0

    def add(self, rgb: np.ndarray, i420: np.ndarray) -> None:
        """The next frame: its RGB and the I420 planes it was encoded from."""
        if self.count >= len(self._lumas):
            raise ValueError(f"more than the {len(self._lumas)} frames announced")
        cv2.resize(i420[: self.height], self.size, dst=self._lumas[self.count], interpolation=cv2.INTER_AREA)
        if self.count in self._wanted:
            self.samples[self.count] = cv2.resize(rgb, self.size, interpolation=cv2.INTER_AREA)
        self.count += 1

    @property
    def lumas(self) -> np.ndarray:
        """The lumas of the frames added so far."""
        return self._lumas[: self.count]
