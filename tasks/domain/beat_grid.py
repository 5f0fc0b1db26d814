"""The music's beat grid as a record: what Phase 3's beat tracker (tasks.timeline.beats) finds,
what the timeline stores, and what pacing (tasks.domain.pacing) cuts to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BEATS_PER_BAR = 4
"""Beats in a bar: 4/4, as the tracker assumes (other meters are not detected). Phase 2 plans
bar-long cut margins with it before any music is analysed."""


@dataclass(frozen=True)
class BeatGrid:
    tempo: float  # BPM: the mean tempo of `beats` (slope of beat time over beat number)
    beats: tuple[float, ...]  # seconds from the music's start, as tracked: the music's beats
    downbeats: tuple[float, ...]  # the beats that start a bar
    phrases: tuple[float, ...]  # the downbeats that start a phrase
    music_duration: float
    source: str  # "librosa", "madmom", "jobs.bpm", with "+jobs.beat_offset" where that moved the grid
    beats_per_bar: int
    tempo_alternatives: tuple[dict[str, Any], ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    positions: tuple[int, ...] = ()  # each beat's place in its bar, 1..beats_per_bar
    confidence: float = 1.0  # 0..1, see the module doc
    reliable: bool = True  # confidence >= params.min_confidence: cuts may follow the beats
    tempo_curve: tuple[tuple[float, float], ...] = ()  # (beat time, local BPM) at each beat

    @property
    def period(self) -> float:
        return 60.0 / self.tempo

    def to_json(self) -> dict[str, Any]:
        return {
            "tempo": self.tempo,
            "beats": list(self.beats),
            "downbeats": list(self.downbeats),
            "phrases": list(self.phrases),
            "music_duration": self.music_duration,
            "source": self.source,
            "beats_per_bar": self.beats_per_bar,
            "tempo_alternatives": list(self.tempo_alternatives),
            "params": self.params,
            "positions": list(self.positions),
            "confidence": self.confidence,
            "reliable": self.reliable,
            "tempo_curve": [list(p) for p in self.tempo_curve],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BeatGrid:
        return cls(
            tempo=float(data["tempo"]),
            beats=tuple(data["beats"]),
            downbeats=tuple(data["downbeats"]),
            phrases=tuple(data["phrases"]),
            music_duration=float(data["music_duration"]),
            source=data["source"],
            beats_per_bar=int(data["beats_per_bar"]),
            tempo_alternatives=tuple(data.get("tempo_alternatives", ())),
            params=dict(data.get("params", {})),
            positions=tuple(data.get("positions", ())),
            confidence=float(data.get("confidence", 1.0)),
            reliable=bool(data.get("reliable", True)),
            tempo_curve=tuple((float(t), float(b)) for t, b in data.get("tempo_curve", ())),
        )
