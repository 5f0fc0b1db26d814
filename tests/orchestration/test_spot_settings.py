"""The stop chain's timings agree, and prefect.yaml stamps a version on every deployment.

A Spot SIGTERM goes container init → `prefect flow-run execute` → engine; each link gives the
next less time than it has itself (infra/README.md, "Spot interruptions"), so the clean path
always finishes before anything is killed.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml

from infra.pools import Pool, load_template
from tasks.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
SPOT_NOTICE_S = 120  # EC2 Spot's interruption notice; also the most ECS allows for stopTimeout


def container_definition(pool: Pool) -> dict:
    (definition,) = load_template(pool)["job_configuration"]["task_definition"]["containerDefinitions"]
    return definition


def supervisor_kill_grace_s() -> float:
    """How long `prefect flow-run execute` waits after SIGTERMing its engine before SIGKILL."""
    from prefect.runner._process_manager import ProcessManager

    return inspect.signature(ProcessManager.kill).parameters["grace_seconds"].default


@pytest.mark.parametrize("pool", list(Pool))
def test_each_link_of_the_stop_chain_waits_less_than_the_one_above(pool: Pool) -> None:
    definition = container_definition(pool)
    env = {e["name"]: e.get("value") for e in definition["environment"]}
    assert env["PREFECT_FLOW_RUN_EXECUTE_SIGTERM_BEHAVIOR"] == "reschedule"  # else SIGTERM kills the supervisor alone
    assert definition["linuxParameters"]["initProcessEnabled"]  # an init forwards SIGTERM to the command
    grace = Settings.model_fields["sigterm_grace_s"].default
    assert grace < supervisor_kill_grace_s() < definition["stopTimeout"] <= SPOT_NOTICE_S


def test_every_deployment_carries_the_version_it_is_deployed_with(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `prefect deploy` does with the file: environment placeholders filled, anchors resolved."""
    import os

    from prefect.utilities.templating import apply_values

    monkeypatch.setenv("PICAIVID_VERSION", "0.1.0+abc1234")
    spec = apply_values(yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text()), os.environ, remove_notset=False)
    assert {d["name"]: d["version"] for d in spec["deployments"]} == {
        d["name"]: "0.1.0+abc1234" for d in spec["deployments"]
    }


def test_the_local_stack_deploys_with_the_package_version_and_commit(tmp_path: Path) -> None:
    from importlib.metadata import version

    from flows.local_stack import LocalStack, StackConfig, code_version

    assert code_version().startswith(version("picaivid") + "+")  # this is a git checkout
    assert LocalStack(StackConfig(root=tmp_path)).env()["PICAIVID_VERSION"] == code_version()
