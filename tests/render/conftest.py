"""Render-phase fixtures: the sample listing (photos with true depth), rendered once per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.render.clip_makers import sample_photo


@pytest.fixture(scope="session")
def listing_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from flows.dev.sample_listing import make_listing

    return make_listing(tmp_path_factory.mktemp("listing"), music_seconds=1.0).root


@pytest.fixture(scope="session")
def living(listing_root: Path) -> tuple[np.ndarray, np.ndarray]:
    return sample_photo(listing_root, "living_a")


@pytest.fixture(scope="session")
def living_b(listing_root: Path) -> tuple[np.ndarray, np.ndarray]:
    return sample_photo(listing_root, "living_b")
