"""db.validation.one_line: the one-line reason every parser gives for a pydantic ValidationError."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from db.validation import one_line


class Inner(BaseModel):
    name: str


class Outer(BaseModel):
    agents: list[Inner]


def error_of(document: object) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        Outer.model_validate(document)
    return caught.value


def test_names_where_the_first_error_is() -> None:
    err = error_of({"agents": [{"name": "a"}, {"name": 3}]})
    assert one_line(err, "listing", join=".") == "listing.agents.1.name: Input should be a valid string"
    assert one_line(err, "upload.json: p1.jpg") == "upload.json: p1.jpg: agents.1.name: Input should be a valid string"


def test_without_a_location_names_only_the_subject() -> None:
    err = error_of("not a mapping")
    message = "Input should be a valid dictionary or instance of Outer"
    assert one_line(err, "listing", join=".") == f"listing: {message}"
    assert one_line(err, "upload.json: p1.jpg") == f"upload.json: p1.jpg: {message}"
