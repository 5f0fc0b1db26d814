"""docs/rails.md is the contract a Rails developer reads: its examples must be what we accept and send."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from db.contract import ContractError, check, schema
from db.enums import EditType, EventType, JobStatus, Phase
from db.models import TEMPLATE_NAMES

DOC = Path(__file__).resolve().parents[2] / "docs" / "rails.md"
BLOCK = re.compile(r"```json (message|event)\n(.*?)```", re.S)


def examples() -> list[tuple[str, dict]]:
    return [(shape, json.loads(body)) for shape, body in BLOCK.findall(DOC.read_text())]


def test_the_doc_has_an_example_of_every_action_and_event_type() -> None:
    found = examples()
    assert {d["action"] for s, d in found if s == "message"} == {"run", "edit", "cancel"}
    assert {d["type"] for s, d in found if s == "event"} == {e.value for e in EventType}


@pytest.mark.parametrize("shape,document", examples())
def test_every_example_matches_its_schema(shape: str, document: dict) -> None:
    check(shape, document)


def test_the_schemas_name_every_value_the_code_knows() -> None:
    assert set(schema("event")["properties"]["type"]["enum"]) == {e.value for e in EventType}
    assert set(schema("message")["properties"]["start_phase"]["enum"]) - {None} == {p.value for p in Phase}
    text = DOC.read_text()
    for value in [*JobStatus, *EditType, *TEMPLATE_NAMES]:
        assert f"`{value}`" in text, value


@pytest.mark.parametrize("document,problem", [
    ({"job_id": "0b7c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d", "action": "edit", "stop_after": "render"}, "stop_after"),
    ({"job_id": "0b7c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d"}, "'action' is a required property"),
])
def test_a_message_outside_the_contract_says_why(document: dict, problem: str) -> None:
    with pytest.raises(ContractError, match=problem):
        check("message", document)
