"""The templates are data the rest of Phase 3 reads; these pin the issue's three styles."""

from __future__ import annotations

import dataclasses

import pytest

from db.enums import TransitionType
from tasks.domain.templates import TEMPLATES, get_template


def test_the_three_styles_of_the_issue() -> None:
    standard, social, luxury = (get_template(n) for n in ("standard", "social", "luxury"))
    assert (standard.width, standard.height) == (1920, 1080)
    assert (standard.min_length, standard.max_length) == (45, 90)
    assert (social.width, social.height) == (1080, 1920)
    assert (social.min_length, social.max_length) == (15, 30)
    assert luxury.shot_beats[0] >= standard.shot_beats[1] and luxury.transition_beats > standard.transition_beats
    assert luxury.prefer_drone_opening and not standard.prefer_drone_opening


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_template_uses_only_known_transitions(name: str) -> None:
    template = TEMPLATES[name]
    assert all(isinstance(t, TransitionType) for t in template.transitions)
    assert template.min_length <= template.target_length <= template.max_length
    assert template.fps > 0


def test_a_rule_outside_the_vocabulary_is_refused() -> None:
    with pytest.raises(ValueError, match="not in its transition vocabulary"):
        dataclasses.replace(get_template("standard"), closing_transition=TransitionType.circleopen)


def test_transitions_must_fit_the_shortest_shot() -> None:
    with pytest.raises(ValueError, match="half the shortest shot"):
        dataclasses.replace(get_template("social"), transition_beats=1.5)


def test_unknown_template_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="luxury, social, square, standard"):
        get_template("cinematic")
