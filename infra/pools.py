"""The Prefect work-pool base job templates, filled with a deployed stack's values.

`infra/work_pools/{cpu,gpu}-ecs.json` are Prefect's ECS worker default template plus our task
definitions; the deployment-specific values (cluster, subnets, roles, images, secrets, capacity
providers) are variables whose defaults are left empty there and filled here from the stack's
outputs (`cdk deploy --outputs-file`). Deployments can still override any of them.

    python -m infra.pools --outputs cdk-outputs.json --out build/work-pools
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

from infra.outputs import Output

TEMPLATE_DIR = Path(__file__).resolve().parent / "work_pools"


class Pool(StrEnum):
    cpu = "cpu"
    gpu = "gpu"


# Template variable <- stack output, for values that are copied as they are.
COMMON_VARIABLES: dict[str, Output] = {
    "cluster": Output.cluster,
    "vpc_id": Output.vpc,
    "aws_region": Output.region,
    "storage_url": Output.storage_url,
    "database_url_secret_arn": Output.database_url_secret,
    "log_group": Output.flow_run_log_group,
    "metrics_namespace": Output.metrics_namespace,
    "gpu_hours_daily_alert": Output.gpu_hours_daily_alert,
    "gpu_seconds_per_job_alert": Output.gpu_seconds_per_job_alert,
    "model_cache_file_system_id": Output.model_cache_file_system,
    "model_cache_access_point_id": Output.model_cache_access_point,
}
POOL_VARIABLES: dict[Pool, dict[str, Output]] = {
    Pool.cpu: {
        "image": Output.cpu_image,
        "task_role_arn": Output.cpu_run_task_role,
        "execution_role_arn": Output.cpu_run_execution_role,
        "gpu_render_concurrency": Output.render_concurrency,
    },
    Pool.gpu: {
        "image": Output.gpu_image,
        "task_role_arn": Output.gpu_run_task_role,
        "execution_role_arn": Output.gpu_run_execution_role,
    },
}
SECURITY_GROUP: dict[Pool, Output] = {Pool.cpu: Output.cpu_run_security_group, Pool.gpu: Output.gpu_run_security_group}
POOL_NAME: dict[Pool, Output] = {Pool.cpu: Output.cpu_pool, Pool.gpu: Output.gpu_pool}
PREFECT_AUTH_VARIABLE = {"api_key": "prefect_api_key_secret_arn", "auth_string": "prefect_api_auth_string_secret_arn"}


def template_path(pool: Pool) -> Path:
    return TEMPLATE_DIR / f"{pool}-ecs.json"


def load_template(pool: Pool) -> dict:
    return json.loads(template_path(pool).read_text())


def spot_first_strategy(template: dict, spot: str, on_demand: str) -> list[dict]:
    """The GPU template's own strategy (its base and weights), pointed at the stack's providers.

    The checked-in default lists the Spot provider first and the on-demand fallback second;
    only the names change per environment.
    """
    spot_entry, on_demand_entry = template["variables"]["properties"]["capacity_provider_strategy"]["default"]
    return [{**spot_entry, "capacityProvider": spot}, {**on_demand_entry, "capacityProvider": on_demand}]


def pool_defaults(pool: Pool, outputs: Mapping[str, str], template: dict) -> dict[str, object]:
    """Variable defaults for one pool from the stack outputs; a missing output is an error."""

    def need(key: Output) -> str:
        if key not in outputs:
            raise KeyError(f"stack output {key} is missing: deploy the base and main stacks with --outputs-file")
        return outputs[key]

    defaults: dict[str, object] = {name: need(key) for name, key in {**COMMON_VARIABLES, **POOL_VARIABLES[pool]}.items()}
    defaults["network_configuration"] = {
        "subnets": need(Output.private_subnets).split(","),
        "securityGroups": [need(SECURITY_GROUP[pool])],
        "assignPublicIp": "DISABLED",
    }
    auth_variable = PREFECT_AUTH_VARIABLE.get(need(Output.prefect_auth_mode))
    if auth_variable:
        defaults[auth_variable] = need(Output.prefect_auth_secret)
    if pool is Pool.gpu:
        defaults["cpu"] = int(need(Output.gpu_task_cpu))
        defaults["memory"] = int(need(Output.gpu_task_memory))
        defaults["capacity_provider_strategy"] = spot_first_strategy(
            template, need(Output.gpu_spot_provider), need(Output.gpu_on_demand_provider)
        )
    return defaults


def render(pool: Pool, outputs: Mapping[str, str]) -> dict:
    """The pool's base job template with the stack's values as variable defaults."""
    template = copy.deepcopy(load_template(pool))
    properties = template["variables"]["properties"]
    for name, value in pool_defaults(pool, outputs, template).items():
        properties[name]["default"] = value
    return template


def deployment_outputs(outputs_file: Path, stacks: list[str] | None) -> dict[str, str]:
    """The outputs of one environment's stacks from `cdk deploy --outputs-file`, merged.

    By default every stack in the file; a key that two stacks give different values means the
    file holds several environments, and the stacks must be named.
    """
    by_stack = json.loads(outputs_file.read_text())
    missing = [s for s in stacks or [] if s not in by_stack]
    if missing:
        raise KeyError(f"{outputs_file} has no stack {', '.join(missing)} (it has {', '.join(by_stack)})")
    merged: dict[str, str] = {}
    for name in stacks or by_stack:
        for key, value in by_stack[name].items():
            if merged.setdefault(key, value) != value:
                raise ValueError(f"{outputs_file}: output {key} differs between stacks; name them with --stack")
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.pools", description=__doc__.split("\n\n")[0])
    parser.add_argument("--outputs", type=Path, required=True, help="the file `cdk deploy --outputs-file` wrote")
    parser.add_argument("--stack", action="append", dest="stacks",
                        help="a stack of the environment, repeatable (default: every stack in the file)")
    parser.add_argument("--out", type=Path, required=True, help="folder for cpu-ecs.json and gpu-ecs.json")
    args = parser.parse_args(argv)
    try:
        outputs = deployment_outputs(args.outputs, args.stacks)
        rendered = {pool: render(pool, outputs) for pool in Pool}
        if Output.gpu_pool_limit not in outputs:
            raise KeyError(f"stack output {Output.gpu_pool_limit} is missing: deploy the main stack again")
    except (KeyError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for pool, template in rendered.items():
        path = args.out / template_path(pool).name
        path.write_text(json.dumps(template, indent=2) + "\n")
        print(f"prefect work-pool create {outputs[POOL_NAME[pool]]} --type ecs --base-job-template {path} --overwrite")
    print(f"prefect work-pool set-concurrency-limit {outputs[POOL_NAME[Pool.gpu]]} {outputs[Output.gpu_pool_limit]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
