"""Templates as data: the rule-based editing styles Phase 3 cuts to.

A template fixes the output format, how long the video and each shot may be (shot length in
beats when beat sync is on, in seconds otherwise), which transitions it uses where, and its
opening and closing rules, and which of the music's beats it cuts on. Adding a style is adding an entry here; the code reads only fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from db.enums import AudioPolicy, TransitionType
from tasks.domain.formats import FORMATS, FormatName


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    output: FormatName  # its format (tasks.domain.formats): size, fps and safe area
    target_length: float  # seconds, when the job does not say
    min_length: float  # the range the style is made for; a job's own target_length still wins
    max_length: float
    shot_beats: tuple[int, int]  # shortest and longest shot, in beats (beat sync on)
    shot_seconds: tuple[float, float]  # the same in seconds (beat sync off, or no music)
    transitions: tuple[TransitionType, ...]  # the vocabulary: every transition the rules may use
    same_room_transition: TransitionType  # into a shot of the room the previous shot showed
    room_change_transition: TransitionType  # into the first shot of another room
    closing_transition: TransitionType  # into the closing shot
    transition_beats: float  # a transition's length in beats (beat sync on)
    transition_seconds: float  # and in seconds otherwise
    prefer_drone_opening: bool  # Opening Selection Priority step 3 applies
    closing_hold_beats: int  # the closing shot lasts this many beats longer than the others
    allow_repeats: bool  # may a clip be shown twice to fill the length
    audio_policy: AudioPolicy = AudioPolicy.music_only  # every shot's, when there is music
    # The slowest a shot may play to fill the length when the footage is short (1: never
    # slowed). Below about 0.8 generated motion visibly turns to slow motion.
    min_playback_speed: float = 0.8
    # Which of the music's beats a cut may land on (beat sync on): "beats" (every beat, or every
    # 2nd / 4th where the music is fast, tasks.domain.pacing.pulse_of) or "bars" (bar starts).
    cut_on: Literal["beats", "bars"] = "beats"
    room_captions: bool = True  # a lower-third caption where each room starts
    # the "Motion generated from still photos" label when some shot was generated
    # (tasks.domain.disclosure.is_generated); the fact is recorded either way
    disclosure_label: bool = True

    @property
    def width(self) -> int:
        return FORMATS[self.output].width

    @property
    def height(self) -> int:
        return FORMATS[self.output].height

    @property
    def fps(self) -> int:
        return FORMATS[self.output].fps

    def __post_init__(self) -> None:
        for rule in (self.same_room_transition, self.room_change_transition, self.closing_transition):
            if rule not in self.transitions:
                raise ValueError(f"template {self.name}: {rule.value} is not in its transition vocabulary")
        if not 0 < self.shot_beats[0] <= self.shot_beats[1] or not 0 < self.shot_seconds[0] <= self.shot_seconds[1]:
            raise ValueError(f"template {self.name}: shot length ranges must be positive and ordered")
        # a transition overlaps the shots on both sides of it, so the shortest shot must hold two
        if 2 * self.transition_beats > self.shot_beats[0] or 2 * self.transition_seconds > self.shot_seconds[0]:
            raise ValueError(f"template {self.name}: transitions longer than half the shortest shot")
        if not 0 < self.min_playback_speed <= 1:
            raise ValueError(f"template {self.name}: min_playback_speed must be in (0, 1]")
        if not 0 < self.min_length <= self.target_length <= self.max_length:
            raise ValueError(f"template {self.name}: target_length outside its length range")


TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template(
            name="standard", description="16:9 walk-through tour, 45-90 s, even tempo",
            output="16x9", target_length=60.0, min_length=45.0, max_length=90.0,
            shot_beats=(4, 8), shot_seconds=(3.0, 5.0),
            transitions=(TransitionType.cut, TransitionType.fade, TransitionType.smoothleft),
            same_room_transition=TransitionType.cut, room_change_transition=TransitionType.fade,
            closing_transition=TransitionType.fade,
            transition_beats=1.0, transition_seconds=0.6,
            prefer_drone_opening=False, closing_hold_beats=2, allow_repeats=False,
        ),
        Template(
            name="social", description="9:16 social cut, 15-30 s, fast cuts",
            output="9x16", target_length=20.0, min_length=15.0, max_length=30.0,
            shot_beats=(2, 4), shot_seconds=(1.5, 2.5),
            transitions=(TransitionType.cut, TransitionType.slideleft, TransitionType.zoomin),
            same_room_transition=TransitionType.cut, room_change_transition=TransitionType.slideleft,
            closing_transition=TransitionType.zoomin,
            transition_beats=0.5, transition_seconds=0.3,
            prefer_drone_opening=False, closing_hold_beats=2, allow_repeats=True,
        ),
        Template(
            name="luxury", description="16:9 slow and lingering, long dissolves, drone opening, 60-120 s",
            output="16x9", target_length=75.0, min_length=60.0, max_length=120.0,
            shot_beats=(8, 16), shot_seconds=(5.0, 8.0),
            transitions=(TransitionType.dissolve, TransitionType.fadeblack),
            same_room_transition=TransitionType.dissolve, room_change_transition=TransitionType.dissolve,
            closing_transition=TransitionType.fadeblack,
            transition_beats=2.0, transition_seconds=1.2,
            prefer_drone_opening=True, closing_hold_beats=4, allow_repeats=False, cut_on="bars",
        ),
        Template(
            name="square", description="1:1 feed post, 20-40 s",
            output="1x1", target_length=30.0, min_length=20.0, max_length=40.0,
            shot_beats=(4, 6), shot_seconds=(2.5, 4.0),
            transitions=(TransitionType.cut, TransitionType.fade),
            same_room_transition=TransitionType.cut, room_change_transition=TransitionType.fade,
            closing_transition=TransitionType.fade,
            transition_beats=1.0, transition_seconds=0.5,
            prefer_drone_opening=False, closing_hold_beats=2, allow_repeats=True,
        ),
    )
}


def get_template(name: str) -> Template:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise ValueError(f"unknown template {name!r}; expected one of {', '.join(sorted(TEMPLATES))}") from None
