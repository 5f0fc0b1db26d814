"""The procedural sample listing: deterministic, labelled, with depth that matches its geometry."""

from __future__ import annotations

import json
from pathlib import Path

import librosa
import numpy as np
import pytest
from PIL import Image

from db.enums import RoomType
from flows.dev.sample_listing import SKY_DEPTH_M, make_listing


@pytest.fixture(scope="module")
def listing(tmp_path_factory: pytest.TempPathFactory):
    return make_listing(tmp_path_factory.mktemp("listing"), seed=3, size=(320, 224), music_seconds=20)


def test_contents_and_manifest(listing) -> None:
    rooms = [p.room_type for p in listing.photos]
    assert rooms.count(RoomType.living_room) == 3 and RoomType.front_exterior in rooms
    assert len({p.view_group for p in listing.photos}) == 5
    manifest = json.loads((listing.root / "manifest.json").read_text())
    assert [p["file"] for p in manifest["photos"]] == [p.path.name for p in listing.photos]
    assert all(len(g) >= 2 for g in listing.overlap_groups) and len(listing.overlap_groups) == 4
    for photo in listing.photos:
        assert Image.open(photo.path).size == (320, 224)
    overrides = json.loads(listing.overrides_path.read_text())
    assert set(overrides) <= {p.path.name for p in listing.photos}


@pytest.mark.slow
def test_deterministic_from_seed(listing, tmp_path: Path) -> None:
    again = make_listing(tmp_path / "again", seed=3, size=(320, 224), music_seconds=20)
    for a, b in zip(listing.photos, again.photos):
        assert a.path.read_bytes() == b.path.read_bytes()
    other = make_listing(tmp_path / "other", seed=4, size=(320, 224), music_seconds=20)
    assert listing.photos[2].path.read_bytes() != other.photos[2].path.read_bytes()


def test_depth_is_geometric(listing) -> None:
    """Interiors: every pixel within the room's diagonal, floor nearer at the bottom of the frame.
    Exteriors: the sky is 'infinitely' far, the lawn in front nearer than the house."""
    for photo in listing.photos:
        depth = listing.depth(photo)
        h = depth.shape[0]
        if photo.room_type is RoomType.front_exterior:
            assert np.isclose(depth[: h // 8].max(), SKY_DEPTH_M, atol=0.01)
            assert np.median(depth[-h // 8 :]) < np.median(depth[h // 3 : h // 2])
        else:
            assert 0.2 < depth.min() and depth.max() < 12
            assert np.median(depth[-h // 8 :]) < np.median(depth[h // 3 : 2 * h // 3])
            assert depth.std() > 0.3  # furniture and walls at several depths, not a flat card


@pytest.mark.slow
def test_music_has_the_stated_tempo(listing) -> None:
    y, sr = librosa.load(listing.music_path, sr=22050)
    assert abs(len(y) / sr - 20) < 0.1
    tempo, _ = librosa.beat.beat_track(y=y, sr=sr)
    assert abs(float(np.atleast_1d(tempo)[0]) - listing.bpm) < 3
