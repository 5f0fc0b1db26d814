"""The render flow's thread pool is sized from the settings when a run starts, not at import."""

from __future__ import annotations

import pytest

from flows.phases import render
from tasks.settings import get_settings


@pytest.mark.parametrize(("dispatch", "variable", "slots"), [
    ("inline", "PICAIVID_INLINE_RENDER_CONCURRENCY", 3),
    ("inline", "PICAIVID_INLINE_RENDER_CONCURRENCY", 5),
    ("deployment", "PICAIVID_GPU_RENDER_CONCURRENCY", 4),
])
def test_render_pool_follows_settings_changed_after_import(
    env, monkeypatch: pytest.MonkeyPatch, dispatch: str, variable: str, slots: int
) -> None:
    monkeypatch.setenv("PICAIVID_RENDER_DISPATCH", dispatch)
    monkeypatch.setenv(variable, str(slots))
    get_settings.cache_clear()
    with render.task_runner.duplicate() as runner:  # what Prefect enters for each flow run
        assert runner._executor is not None and runner._executor._max_workers == slots
