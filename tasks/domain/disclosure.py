"""Which clips show generated motion: the fact the disclosure label and the delivery record
("Motion generated from still photos") rest on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

GENERATED_MODEL_PREFIX = "ltx2"


def is_generated(model_used: str | None, render_params: Mapping[str, Any] | None, parallax_travel: float) -> bool:
    """Whether a clip shows motion a model invented: LTX-2, or a depth parallax that moves the
    camera further than `parallax_travel` (push or pan, the profile the renderer recorded)."""
    if model_used and model_used.startswith(GENERATED_MODEL_PREFIX):
        return True
    profile = ((render_params or {}).get("generator") or {}).get("profile") or {}
    travel = max(profile.get("push_travel", 0.0), profile.get("pan_travel", 0.0))
    return travel > parallax_travel
