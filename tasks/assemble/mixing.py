"""How loud the music and each shot's own audio play, from the shots' audio_policy.

A shot's policy sets two gains while it is on screen. Across a transition the gains ramp
linearly from one shot's to the next's (the audio crossfades with the picture); across a cut
they ramp over CUT_RAMP_S centred on the cut, which is short enough to read as a cut and long
enough not to click.

A slowed shot (any speed but 1; Phase 3 only ever slows) plays as music_only whatever its policy: its own sound would have
to be stretched too (atempo keeps the pitch but smears room tone and speech into an obvious
artefact), and generated clips carry no sound worth that. Dropping it also keeps each bed on
the exact sample grid without a tempo filter's rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

from db.enums import AudioPolicy
from tasks.assemble.layout import Shot, Span

CUT_RAMP_S = 0.02


@dataclass(frozen=True)
class Gains:
    music: float
    clip: float


def policy_gains(policy: AudioPolicy, duck_db: float) -> Gains:
    """The one table of what each audio_policy means."""
    ducked = 10 ** (duck_db / 20)
    return {
        AudioPolicy.music_only: Gains(music=1.0, clip=0.0),
        AudioPolicy.duck_music: Gains(music=ducked, clip=1.0),
        AudioPolicy.clip_only: Gains(music=0.0, clip=1.0),
        AudioPolicy.mix: Gains(music=1.0, clip=1.0),
    }[policy]


def shot_gains(shot: Shot, duck_db: float) -> Gains:
    """The gains while `shot` is on screen: its policy's, or music only when it is slowed."""
    return policy_gains(AudioPolicy.music_only if shot.speed != 1 else shot.audio_policy, duck_db)


def music_gain_expression(spans: tuple[Span, ...], gains: list[float], fps: int) -> str | None:
    """An ffmpeg expression of `t` for the music's gain, or None when it is 1 throughout.

    Written as a flat sum of clipped ramps (g0 + sum of steps), not nested ifs, so its size
    grows linearly with the shots and ffmpeg never recurses deeply to evaluate it.
    """
    terms = [f"{gains[0]:.6g}"]
    for span, before, after in zip(spans[1:], gains, gains[1:]):
        if after == before:
            continue
        if span.fade_in:
            begin, width = span.start / fps, span.fade_in / fps
        else:
            begin, width = span.start / fps - CUT_RAMP_S / 2, CUT_RAMP_S
        terms.append(f"({after - before:+.6g})*clip((t-{begin:.6f})/{width:.6f},0,1)")
    if len(terms) == 1 and gains[0] == 1.0:
        return None
    return "+".join(terms)
