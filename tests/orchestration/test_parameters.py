"""Typed flow parameters: the schema `prefect deploy` records for each deployment of prefect.yaml
(the UI's run form: enums as dropdowns), and a bad value refused before a run exists."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml

from db.enums import PHASE_ORDER
from tasks.domain.formats import FORMATS, FormatName

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENTS = {d["name"]: d["entrypoint"] for d in yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())["deployments"]}
PHASES = [p.value for p in PHASE_ORDER]


def recorded_schema(entrypoint: str) -> dict[str, Any]:
    """Exactly what `prefect deploy` stores as the deployment's parameter_openapi_schema."""
    from prefect.flows import load_flow_from_entrypoint
    from prefect.utilities.callables import parameter_schema

    return parameter_schema(load_flow_from_entrypoint(entrypoint)).model_dump()


def _choices(schema: dict[str, Any], name: str) -> list[str]:
    """The values a dropdown offers for an optional enum parameter (inline or by $ref)."""
    options = schema["properties"][name]["anyOf"]
    assert {"type": "null"} in options  # optional: the form may leave it empty
    (choice,) = [o for o in options if o != {"type": "null"}]
    if "$ref" in choice:
        choice = schema["definitions"][choice["$ref"].rsplit("/", 1)[1]]
    return choice["enum"]


def test_every_deployment_has_typed_parameters() -> None:
    assert set(DEPLOYMENTS) == {"create-video", "analyze", "render", "render-clip", "timeline", "assemble",
                                "edit-video"}
    schemas = {name: recorded_schema(entry) for name, entry in DEPLOYMENTS.items()}
    for name, schema in schemas.items():
        if name != "render-clip":
            assert schema["properties"]["job_id"]["format"] == "uuid", name
            assert schema["required"] == ["job_id"], name

    create = schemas["create-video"]
    assert _choices(create, "start_phase") == PHASES and _choices(create, "stop_after") == PHASES

    assemble = schemas["assemble"]["properties"]
    assert _choices(schemas["assemble"], "fmt") == list(FORMATS) == list(get_args(FormatName))
    (version,) = [o for o in assemble["timeline_version"]["anyOf"] if o != {"type": "null"}]
    assert version["type"] == "integer" and version["minimum"] == 1
    assert assemble["preview"]["type"] == "boolean" and assemble["preview"]["default"] is False

    clip = schemas["render-clip"]["properties"]["clip_id"]
    assert clip["type"] == "integer" and clip["minimum"] == 1
    for name in ("analyze", "render", "timeline", "edit-video"):
        assert list(schemas[name]["properties"]) == ["job_id"], name


@pytest.mark.parametrize("parameters,wrong", [
    ({"start_phase": "analyse"}, "analyse"),
    ({"stop_after": "Render"}, "Render"),
    ({"job_id": "job-42"}, "job-42"),
])
def test_a_bad_value_is_refused_before_any_run_exists(prefect_api: None, parameters: dict, wrong: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId
    from prefect.exceptions import PrefectHTTPStatusError

    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("create-video")
        deployment_id = client.create_deployment(
            flow_id=flow_id, name=f"typed-{uuid.uuid4().hex[:8]}", entrypoint=DEPLOYMENTS["create-video"],
            parameter_openapi_schema=recorded_schema(DEPLOYMENTS["create-video"]), enforce_parameter_schema=True,
        )
        with pytest.raises(PrefectHTTPStatusError, match=wrong):
            client.create_flow_run_from_deployment(deployment_id, parameters={"job_id": str(uuid.uuid4()), **parameters})
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id])))
        assert runs == []
        good = client.create_flow_run_from_deployment(
            deployment_id, parameters={"job_id": str(uuid.uuid4()), "start_phase": "render", "stop_after": "timeline"})
        assert good.parameters["start_phase"] == "render"
