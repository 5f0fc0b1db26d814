"""The job's music, from the artifact store to a beat grid."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tasks.domain.beat_grid import BeatGrid
from tasks.settings import get_settings
from tasks.storage import ArtifactStore, safe_name
from tasks.timeline.beats import BeatParams, beat_grid_from_file


def analyse_music(
    store: ArtifactStore, music_uri: str | None, *, bpm: float | None, beat_offset: float | None
) -> BeatGrid | None:
    """The music's beat grid with the given overrides, by settings.beat_tracker; None without music."""
    if music_uri is None:
        return None
    with tempfile.TemporaryDirectory(prefix="picaivid-music-") as tmp:
        path = store.get_file(music_uri, Path(tmp) / safe_name(music_uri.rsplit("/", 1)[-1]))
        params = BeatParams(tracker=get_settings().beat_tracker)
        return beat_grid_from_file(path, params, bpm=bpm, beat_offset=beat_offset)
