"""Fixtures for Phase 4: card clips made once per session, and settings for fast encodes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.assemble.media import CLIP_HZ, make_clip


@pytest.fixture(scope="session")
def cards(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Card clips (numbers 1..5) at 30 fps, three of them with their own 1760 Hz tone, and a 24 fps one."""
    root = tmp_path_factory.mktemp("cards")
    made = {f"c{n}": make_clip(root / f"c{n}.mp4", n, 3.0) for n in (1, 3, 5)}
    made |= {f"c{n}a": make_clip(root / f"c{n}a.mp4", n, 3.0, tone_hz=CLIP_HZ) for n in (2, 4, 6)}
    made["c7_24fps"] = make_clip(root / "c7_24fps.mp4", 7, 2.0, fps=24)
    return made


@pytest.fixture
def fast(env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Full-size renders with the ultrafast preset: the same code path, a fraction of the time."""
    from tasks.settings import get_settings

    monkeypatch.setenv("PICAIVID_ASSEMBLE_X264_PRESET", "ultrafast")
    get_settings.cache_clear()
    return env
