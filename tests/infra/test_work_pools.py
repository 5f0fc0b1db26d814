"""The work-pool base job templates: Prefect's shape, our task definitions, and what the ECS worker
makes of them once filled from stack outputs (real prefect-aws code, AWS APIs served by moto)."""

from __future__ import annotations

import asyncio
import json
import re
import uuid

import pytest

from infra.config import InfraConfig
from infra.outputs import Output
from infra.pools import COMMON_VARIABLES, POOL_VARIABLES, Pool, load_template, main, render

PLACEHOLDER = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")


def default_template() -> dict:
    from prefect_aws.workers.ecs_worker import ECSWorker

    return ECSWorker.get_default_base_job_template()


def placeholders(value) -> set[str]:
    if isinstance(value, str):
        return set(PLACEHOLDER.findall(value))
    if isinstance(value, dict):
        return set().union(*map(placeholders, value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*map(placeholders, value)) if value else set()
    return set()


def container(template: dict) -> dict:
    (definition,) = template["job_configuration"]["task_definition"]["containerDefinitions"]
    return definition


def stack_outputs(cfg: InfraConfig, *, vpc: str, subnets: list[str], groups: dict[Pool, str]) -> dict[str, str]:
    """Outputs as `cdk deploy --outputs-file` writes them for the main stack."""
    account, region = "123456789012", cfg.region

    def role(name: str) -> str:
        return f"arn:aws:iam::{account}:role/{cfg.prefix}-{name}"

    def secret(name: str) -> str:
        return f"arn:aws:secretsmanager:{region}:{account}:secret:{cfg.prefix}/{name}-AbCdEf"

    registry = f"{account}.dkr.ecr.{region}.amazonaws.com"
    cpu, memory = cfg.gpu_task_size()
    return {
        Output.environment: cfg.env_name, Output.region: region, Output.cluster: cfg.prefix, Output.vpc: vpc,
        Output.private_subnets: ",".join(subnets), Output.cpu_pool: cfg.cpu_pool, Output.gpu_pool: cfg.gpu_pool,
        Output.cpu_image: f"{registry}/{cfg.cpu_repository}:abc123", Output.gpu_image: f"{registry}/{cfg.gpu_repository}:abc123",
        Output.cpu_run_security_group: groups[Pool.cpu], Output.gpu_run_security_group: groups[Pool.gpu],
        Output.cpu_run_task_role: role("cpu-run-task"), Output.cpu_run_execution_role: role("cpu-run-exec"),
        Output.gpu_run_task_role: role("gpu-run-task"), Output.gpu_run_execution_role: role("gpu-run-exec"),
        Output.gpu_spot_provider: cfg.gpu_spot_provider, Output.gpu_on_demand_provider: cfg.gpu_on_demand_provider,
        Output.gpu_task_cpu: str(cpu), Output.gpu_task_memory: str(memory),
        Output.flow_run_log_group: f"/{cfg.prefix}/flow-runs", Output.storage_url: "s3://picaivid-artifacts-bucket",
        Output.database_url_secret: secret("database-url"), Output.prefect_auth_mode: cfg.prefect_auth,
        Output.prefect_auth_secret: secret("prefect-api-key"),
        Output.model_cache_file_system: "fs-0123456789abcdef0", Output.model_cache_access_point: "fsap-0123456789abcdef0",
        Output.metrics_namespace: cfg.metrics_namespace, Output.gpu_hours_daily_alert: "24",
        Output.gpu_seconds_per_job_alert: "1800", Output.render_concurrency: str(cfg.gpu_clips_per_job), Output.gpu_pool_limit: str(cfg.gpu_pool_limit),
        Output.rails_queue_url: "https://sqs/q", Output.rails_dead_letter_queue_url: "https://sqs/dlq",
        Output.rails_events_queue_url: "https://sqs/events",
        Output.rails_policy: "arn:aws:iam::123456789012:policy/rails", Output.alerts_topic: "arn:aws:sns:topic",
    }


FAKE_NETWORK = {"vpc": "vpc-0abc", "subnets": ["subnet-0a", "subnet-0b"], "groups": {Pool.cpu: "sg-0cpu", Pool.gpu: "sg-0gpu"}}


# --- the checked-in files ---------------------------------------------------------------------


@pytest.mark.parametrize("pool", list(Pool))
def test_templates_extend_prefects_ecs_default(pool):
    template, default = load_template(pool), default_template()
    assert set(template) == {"job_configuration", "variables"}
    assert set(template["job_configuration"]) == set(default["job_configuration"])
    for name, schema in default["variables"]["properties"].items():
        ours = template["variables"]["properties"][name]
        assert {k: v for k, v in ours.items() if k != "default"} == {k: v for k, v in schema.items() if k != "default"}, name
    assert template["variables"]["definitions"] == default["variables"]["definitions"]
    undeclared = placeholders(template["job_configuration"]) - set(template["variables"]["properties"])
    assert not undeclared, f"job_configuration uses undeclared variables {undeclared}"


def test_gpu_template_asks_for_a_gpu_spot_first_and_two_minutes_to_stop():
    template = load_template(Pool.gpu)
    props, definition = template["variables"]["properties"], template["job_configuration"]["task_definition"]
    assert container(template)["resourceRequirements"] == [{"type": "GPU", "value": "{{ gpu_count }}"}]
    assert props["gpu_count"]["default"] == "1" and props["gpu_count"]["type"] == "string"
    assert container(template)["stopTimeout"] == 120
    assert definition["requiresCompatibilities"] == ["EC2"]
    spot, on_demand = props["capacity_provider_strategy"]["default"]
    assert spot["capacityProvider"].endswith("-gpu-spot") and on_demand["capacityProvider"].endswith("-gpu-ondemand")
    assert spot["base"] >= 1 and on_demand["base"] == 0
    assert 0 < on_demand["weight"] < spot["weight"]
    assert template["job_configuration"]["task_run_request"]["capacityProviderStrategy"] == "{{ capacity_provider_strategy }}"


def test_checked_in_strategy_names_are_the_prod_providers():
    cfg = InfraConfig()
    names = [e["capacityProvider"] for e in load_template(Pool.gpu)["variables"]["properties"]["capacity_provider_strategy"]["default"]]
    assert names == [cfg.gpu_spot_provider, cfg.gpu_on_demand_provider]


def test_cpu_template_runs_on_fargate_and_dispatches_renders_to_the_gpu_pool():
    template = load_template(Pool.cpu)
    definition = template["job_configuration"]["task_definition"]
    assert definition["requiresCompatibilities"] == ["FARGATE"] and definition["networkMode"] == "awsvpc"
    assert "resourceRequirements" not in container(template)
    env = {e["name"]: e["value"] for e in container(template)["environment"]}
    assert env["PICAIVID_RENDER_DISPATCH"] == "deployment"


@pytest.mark.parametrize("pool", list(Pool))
def test_both_pools_mount_the_model_cache_and_read_the_database_url_from_secrets(pool):
    template = load_template(pool)
    definition, c = template["job_configuration"]["task_definition"], container(template)
    (volume,) = definition["volumes"]
    assert c["mountPoints"] == [{"sourceVolume": volume["name"], "containerPath": "/models", "readOnly": False}]
    assert volume["efsVolumeConfiguration"]["transitEncryption"] == "ENABLED"
    assert c["secrets"] == [{"name": "DATABASE_URL", "valueFrom": "{{ database_url_secret_arn }}"}]
    env = {e["name"]: e["value"] for e in c["environment"]}
    assert env["HF_HOME"].startswith("/models/")


# --- filled from stack outputs ------------------------------------------------------------------


@pytest.mark.parametrize("pool", list(Pool))
def test_render_fills_every_infra_variable_from_the_outputs(pool):
    cfg = InfraConfig()
    outputs = stack_outputs(cfg, **FAKE_NETWORK)
    props = render(pool, outputs)["variables"]["properties"]
    for name, key in {**COMMON_VARIABLES, **POOL_VARIABLES[pool]}.items():
        assert props[name]["default"] == outputs[key], name
    assert props["network_configuration"]["default"] == {
        "subnets": ["subnet-0a", "subnet-0b"], "securityGroups": [FAKE_NETWORK["groups"][pool]], "assignPublicIp": "DISABLED"}
    assert props["prefect_api_key_secret_arn"]["default"] == outputs[Output.prefect_auth_secret]
    assert props["prefect_api_auth_string_secret_arn"]["default"] is None
    if pool is Pool.gpu:
        assert (props["cpu"]["default"], props["memory"]["default"]) == cfg.gpu_task_size()
        strategy = props["capacity_provider_strategy"]["default"]
        assert [e["capacityProvider"] for e in strategy] == [cfg.gpu_spot_provider, cfg.gpu_on_demand_provider]
        assert [(e["base"], e["weight"]) for e in strategy] == [
            (e["base"], e["weight"]) for e in load_template(Pool.gpu)["variables"]["properties"]["capacity_provider_strategy"]["default"]]
    assert load_template(pool)["variables"]["properties"]["cluster"]["default"] is None, "render must not touch the file"


def test_render_names_the_other_environments_providers():
    cfg = InfraConfig(env_name="staging")
    strategy = render(Pool.gpu, stack_outputs(cfg, **FAKE_NETWORK))["variables"]["properties"]["capacity_provider_strategy"]["default"]
    assert [e["capacityProvider"] for e in strategy] == ["picaivid-staging-gpu-spot", "picaivid-staging-gpu-ondemand"]


def test_render_without_prefect_auth_sets_no_secret_and_a_missing_output_is_an_error():
    outputs = stack_outputs(InfraConfig(), **FAKE_NETWORK)
    outputs[Output.prefect_auth_mode] = "none"
    del outputs[Output.prefect_auth_secret]
    props = render(Pool.cpu, outputs)["variables"]["properties"]
    assert props["prefect_api_key_secret_arn"]["default"] is None
    del outputs[Output.cluster]
    with pytest.raises(KeyError, match="ClusterName"):
        render(Pool.cpu, outputs)


def outputs_file_of(tmp_path, *environments: InfraConfig):
    """`cdk deploy --outputs-file` after deploying the base and main stacks of each environment."""
    by_stack = {}
    for cfg in environments:
        outputs = stack_outputs(cfg, **FAKE_NETWORK)
        by_stack[cfg.base_stack_name] = {"CpuRepositoryUri": f"x/{cfg.cpu_repository}",
                                         Output.prefect_auth_secret: outputs.pop(Output.prefect_auth_secret)}
        by_stack[cfg.main_stack_name] = outputs
    path = tmp_path / "cdk-outputs.json"
    path.write_text(json.dumps(by_stack))
    return path


def test_cli_writes_both_templates_and_prints_the_pool_commands(tmp_path, capsys):
    cfg = InfraConfig()
    assert main(["--outputs", str(outputs_file_of(tmp_path, cfg)), "--out", str(tmp_path / "pools")]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        f"prefect work-pool create {cfg.cpu_pool} --type ecs --base-job-template {tmp_path / 'pools' / 'cpu-ecs.json'} --overwrite",
        f"prefect work-pool create {cfg.gpu_pool} --type ecs --base-job-template {tmp_path / 'pools' / 'gpu-ecs.json'} --overwrite",
        f"prefect work-pool set-concurrency-limit {cfg.gpu_pool} {cfg.gpu_pool_limit}",
    ]
    written = json.loads((tmp_path / "pools" / "gpu-ecs.json").read_text())
    assert written["variables"]["properties"]["cluster"]["default"] == cfg.prefix
    assert written["variables"]["properties"]["prefect_api_key_secret_arn"]["default"].endswith("prefect-api-key-AbCdEf")


def test_cli_needs_the_stacks_named_when_the_file_holds_two_environments(tmp_path, capsys):
    prod, staging = InfraConfig(), InfraConfig(env_name="staging")
    path = outputs_file_of(tmp_path, prod, staging)
    assert main(["--outputs", str(path), "--out", str(tmp_path / "pools")]) == 2
    assert "name them with --stack" in capsys.readouterr().err
    assert not (tmp_path / "pools").exists()
    assert main(["--outputs", str(path), "--out", str(tmp_path / "pools"),
                 "--stack", staging.base_stack_name, "--stack", staging.main_stack_name]) == 0
    written = json.loads((tmp_path / "pools" / "cpu-ecs.json").read_text())
    assert written["variables"]["properties"]["cluster"]["default"] == staging.prefix


def test_cli_refuses_outputs_without_the_main_stack(tmp_path, capsys):
    path = tmp_path / "cdk-outputs.json"
    path.write_text(json.dumps({"Picaivid-prod-Base": {"CpuRepositoryUri": "x"}}))
    assert main(["--outputs", str(path), "--out", str(tmp_path / "pools")]) == 2
    assert "stack output" in capsys.readouterr().err
    assert not (tmp_path / "pools").exists()


# --- what prefect-aws's ECS worker does with a filled template ----------------------------------


@pytest.fixture
def moto_vpc(aws):
    import boto3

    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24")["Subnet"]["SubnetId"] for i in range(2)]
    groups = {pool: ec2.create_security_group(GroupName=f"{pool}-runs", Description=pool, VpcId=vpc)["GroupId"] for pool in Pool}
    return {"vpc": vpc, "subnets": subnets, "groups": groups}


def assert_valid_request(operation: str, params: dict) -> None:
    """The request matches the ECS API model, as boto3 checks it before sending."""
    import boto3
    from botocore.validate import ParamValidator

    model = boto3.client("ecs", region_name="us-east-1").meta.service_model.operation_model(operation)
    report = ParamValidator().validate(params, model.input_shape)
    assert not report.has_errors(), report.generate_report()


@pytest.mark.parametrize("pool", list(Pool))
def test_ecs_worker_turns_the_filled_template_into_valid_ecs_requests(pool, moto_vpc):
    import boto3
    from prefect.client.schemas.objects import FlowRun
    from prefect.settings import PREFECT_API_KEY, PREFECT_API_URL, temporary_settings
    from prefect_aws.workers.ecs_worker import ECSJobConfiguration, ECSWorker

    cfg = InfraConfig()
    template = render(pool, stack_outputs(cfg, **moto_vpc))
    flow_run = FlowRun(flow_id=uuid.uuid4(), deployment_id=uuid.uuid4(), name="clip-7-try-1")
    # The worker's own settings, as in its service (a key, since the pool hands runs the key's secret),
    # with an API URL nothing listens on: building the configuration must not need a Prefect server.
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api", PREFECT_API_KEY: "pnu_worker_key"}):
        configuration = asyncio.run(ECSJobConfiguration.from_template_and_values(template, {}))
        configuration.prepare_for_flow_run(flow_run)
        worker = ECSWorker(work_pool_name=cfg.gpu_pool if pool is Pool.gpu else cfg.cpu_pool)
        task_definition = worker._prepare_task_definition(configuration, region="us-east-1", flow_run=flow_run)
        assert_valid_request("RegisterTaskDefinition", task_definition)
        arn = boto3.client("ecs", region_name="us-east-1").register_task_definition(**task_definition)["taskDefinition"]["taskDefinitionArn"]
        request = worker._prepare_task_run_request(configuration, task_definition, arn, True)
    assert_valid_request("RunTask", request)

    c = next(d for d in task_definition["containerDefinitions"] if d["name"] == "prefect")
    env = {e["name"]: e["value"] for e in c["environment"]}
    assert env["PICAIVID_STORAGE_URL"] == "s3://picaivid-artifacts-bucket"
    assert env["PICAIVID_METRICS_NAMESPACE"] == cfg.metrics_namespace
    assert {s["name"] for s in c["secrets"]} == {"DATABASE_URL", "PREFECT_API_KEY"}
    assert c["logConfiguration"]["options"]["awslogs-group"] == f"/{cfg.prefix}/flow-runs"
    assert request["cluster"] == cfg.prefix
    assert request["overrides"]["taskRoleArn"].endswith(f"{pool}-run-task")
    assert request["networkConfiguration"]["awsvpcConfiguration"] == {
        "subnets": moto_vpc["subnets"], "securityGroups": [moto_vpc["groups"][pool]], "assignPublicIp": "DISABLED"}
    if pool is Pool.gpu:
        assert c["resourceRequirements"] == [{"type": "GPU", "value": "1"}]
        assert c["stopTimeout"] == 120
        assert "launchType" not in request
        assert [e["capacityProvider"] for e in request["capacityProviderStrategy"]] == [
            cfg.gpu_spot_provider, cfg.gpu_on_demand_provider]
    else:
        assert request["launchType"] == "FARGATE" and "capacityProviderStrategy" not in request
        assert "resourceRequirements" not in c
