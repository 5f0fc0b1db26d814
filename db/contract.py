"""The wire shapes Rails and the pipeline exchange, as JSON Schema files shipped in the package.

`db/schemas/message.schema.json` is what Rails may send on the queue, `event.schema.json` what
the pipeline sends back. The files are the truth (docs/rails.md shows them); the relay checks
every message against one, and every event is checked against the other before it is stored.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any, Literal

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match

Shape = Literal["message", "event"]


class ContractError(ValueError):
    """A document that does not match its schema; the message names the field and the rule."""


@cache
def schema(shape: Shape) -> dict[str, Any]:
    return json.loads(files("db").joinpath("schemas", f"{shape}.schema.json").read_text())


@cache
def _validator(shape: Shape) -> Draft202012Validator:
    return Draft202012Validator(schema(shape), format_checker=FormatChecker())


def check(shape: Shape, document: Any) -> None:
    """Raise ContractError with the most relevant problem, in one line."""
    error = best_match(_validator(shape).iter_errors(document))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "body"
        raise ContractError(f"{where}: {error.message}")
