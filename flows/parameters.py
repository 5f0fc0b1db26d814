"""The flows' parameter types: what the deployment's schema (the UI's run form) shows and checks.

Prefect's server validates a run's parameters against the deployment's schema before the run
exists; JSON Schema does not check `format: uuid` by default, so a job id also carries the
UUID pattern, and a mistyped id is refused there like a mistyped phase.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import Field, WithJsonSchema

UUID_PATTERN = r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"

JobId = Annotated[uuid.UUID, WithJsonSchema({"type": "string", "format": "uuid", "pattern": UUID_PATTERN,
                                             "description": "The job's id (jobs.id)."})]
TimelineVersion = Annotated[int, Field(ge=1)]
