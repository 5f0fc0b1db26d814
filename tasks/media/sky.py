"""Where the sky is in a photo: room labels read it (an exterior has sky across its top) and the
depth prior puts it at infinity."""

from __future__ import annotations

import cv2
import numpy as np

# Sky: clearly blue (b* < -8), hue not violet (a* < 0.6 |b*|, which keeps purple walls out),
# smooth (no edges), in the top third. Dusk and night skies are still blue in L*a*b*.
_SKY_B, _SKY_HUE, _SKY_SMOOTH = -8.0, 0.6, 0.25
SKY_EXTERIOR = 0.2  # sky share of the top third at which a photo counts as an exterior


def lab_and_gradients(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CIELAB of an RGB uint8 image and the Sobel gradients of its L*/100."""
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    grey = lab[..., 0] / 100.0
    return lab, cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)


def sky_mask(image: np.ndarray) -> np.ndarray:
    """Pixels that look like sky: clearly blue, not violet, smooth (used by the depth prior too)."""
    lab, gx, gy = lab_and_gradients(image)
    a, b = lab[..., 1], lab[..., 2]
    return (b < _SKY_B) & (a < _SKY_HUE * -b) & (np.hypot(gx, gy) < _SKY_SMOOTH)
