"""The synthesised production stack has the properties the design asks for.

Synthesis runs once per session (conftest) with the default context: no credentials, no lookups.
"""

from __future__ import annotations

import pytest

from infra.artifacts import CLIP_PREFIX
from infra.cost import GPU_SECONDS, JOB_GPU_SECONDS, budget_tag_filter
from infra.outputs import Output
from tests.infra.cfn import as_list, only, policy_statements, ref, resources

pytestmark = pytest.mark.slow

DATA_SERVICES = {"s3", "sqs", "secretsmanager", "elasticfilesystem", "rds-db", "dynamodb", "kms", "ssm"}


def groups_by_provider(template: dict) -> dict[str, dict]:
    """Capacity provider name -> its Auto Scaling group's properties."""
    groups = resources(template, "AWS::AutoScaling::AutoScalingGroup")
    return {p["Name"]: groups[p["AutoScalingGroupProvider"]["AutoScalingGroupArn"]["Ref"]]
            for p in resources(template, "AWS::ECS::CapacityProvider").values()}


def launch_template_user_data(template: dict, group: dict) -> str:
    launch_template_id = group["MixedInstancesPolicy"]["LaunchTemplate"]["LaunchTemplateSpecification"]["LaunchTemplateId"]["Ref"]
    user_data = resources(template, "AWS::EC2::LaunchTemplate")[launch_template_id]["LaunchTemplateData"]["UserData"]
    return "".join(p for p in user_data["Fn::Base64"]["Fn::Join"][1] if isinstance(p, str))


# --- GPU capacity --------------------------------------------------------------------------------


def test_gpu_capacity_providers_scale_from_zero_under_ecs_management(main_template, cfg):
    providers = resources(main_template, "AWS::ECS::CapacityProvider")
    assert {p["Name"] for p in providers.values()} == {cfg.gpu_spot_provider, cfg.gpu_on_demand_provider}
    for provider in providers.values():
        asg = provider["AutoScalingGroupProvider"]
        assert asg["ManagedScaling"]["Status"] == "ENABLED"
        assert asg["ManagedTerminationProtection"] == "ENABLED"
        assert asg["ManagedDraining"] == "ENABLED"
    for name, group in groups_by_provider(main_template).items():
        assert group["MinSize"] == "0", name
        assert group["NewInstancesProtectedFromScaleIn"] is True, name
    (association,) = resources(main_template, "AWS::ECS::ClusterCapacityProviderAssociations").values()
    assert sorted(p["Ref"] for p in association["CapacityProviders"] if isinstance(p, dict)) == sorted(providers)
    assert "FARGATE" in association["CapacityProviders"]


def test_spot_group_is_all_spot_and_drains_on_the_interruption_notice(main_template, cfg):
    groups = groups_by_provider(main_template)
    spot, on_demand = groups[cfg.gpu_spot_provider], groups[cfg.gpu_on_demand_provider]
    assert spot["MixedInstancesPolicy"]["InstancesDistribution"]["OnDemandPercentageAboveBaseCapacity"] == 0
    assert spot["MixedInstancesPolicy"]["InstancesDistribution"]["OnDemandBaseCapacity"] == 0
    assert on_demand["MixedInstancesPolicy"]["InstancesDistribution"]["OnDemandPercentageAboveBaseCapacity"] == 100
    assert "ECS_ENABLE_SPOT_INSTANCE_DRAINING=true" in launch_template_user_data(main_template, spot)
    assert int(spot["MaxSize"]) == cfg.gpu_spot_max and int(on_demand["MaxSize"]) == cfg.gpu_on_demand_max


def test_both_gpu_groups_use_the_configured_classes_on_the_gpu_ami(main_template, cfg):
    for group in groups_by_provider(main_template).values():
        overrides = group["MixedInstancesPolicy"]["LaunchTemplate"]["Overrides"]
        assert [o["InstanceType"] for o in overrides] == list(cfg.gpu_instance_types)
    (ami_parameter,) = [p for p in main_template["Parameters"].values()
                        if "ecs/optimized-ami/amazon-linux-2023/gpu" in str(p.get("Default"))]
    assert ami_parameter["Type"] == "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"


def test_default_gpu_classes_can_run_ltx2_per_the_memory_planner(cfg):
    """The renderer's own planner decides (tasks/render/memory_plan.py); g5.xlarge is refused there."""
    from infra.config import GPU_INSTANCES
    from tasks.render.memory_plan import GiB, InsufficientMemory, choose_memory_plan

    task_memory = cfg.gpu_task_size()[1] * 2**20
    for instance_type in cfg.gpu_instance_types:
        _, _, vram_gib = GPU_INSTANCES[instance_type]
        choose_memory_plan(int(vram_gib * GiB), task_memory)  # raises if it does not fit
    _, host_gib, vram_gib = GPU_INSTANCES["g5.xlarge"]
    with pytest.raises(InsufficientMemory):
        choose_memory_plan(int(vram_gib * GiB), host_gib * GiB)


# --- Prefect pieces ------------------------------------------------------------------------------


def container_of(template: dict, family_suffix: str) -> dict:
    (definition,) = [p for p in resources(template, "AWS::ECS::TaskDefinition").values() if p["Family"].endswith(family_suffix)]
    (c,) = definition["ContainerDefinitions"]
    return c


@pytest.mark.parametrize("kind", ["cpu", "gpu"])
def test_a_worker_service_per_pool_runs_prefects_ecs_worker(main_template, cfg, kind):
    pool = {"cpu": cfg.cpu_pool, "gpu": cfg.gpu_pool}[kind]
    c = container_of(main_template, f"{kind}-worker")
    assert c["Command"][:7] == ["prefect", "worker", "start", "--pool", pool, "--type", "ecs"]
    env = {e["Name"]: e["Value"] for e in c["Environment"]}
    events_queue, _ = only(main_template, "AWS::SQS::Queue", QueueName=f"{cfg.prefix}-ecs-events")
    assert env["PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME"] == {"Fn::GetAtt": [events_queue, "QueueName"]}
    (secret,) = c["Secrets"]
    assert secret["Name"] == "PREFECT_API_KEY"
    assert "Fn::ImportValue" in secret["ValueFrom"], "ECS needs the base stack's complete secret ARN"


def test_relay_service_reads_the_rails_queue(main_template, cfg):
    c = container_of(main_template, "relay")
    assert c["Command"] == ["picaivid", "relay"]
    env = {e["Name"]: e["Value"] for e in c["Environment"]}
    queue, _ = only(main_template, "AWS::SQS::Queue", QueueName=f"{cfg.prefix}-jobs")
    dead, _ = only(main_template, "AWS::SQS::Queue", QueueName=f"{cfg.prefix}-jobs-dlq")
    assert env["PICAIVID_QUEUE_URL"] == ref(queue) and env["PICAIVID_DEAD_LETTER_QUEUE_URL"] == ref(dead)
    assert {s["Name"] for s in c["Secrets"]} == {"DATABASE_URL", "PREFECT_API_KEY"}
    services = resources(main_template, "AWS::ECS::Service")
    assert len(services) == 4 and all(s["DesiredCount"] == 1 for s in services.values())  # 2 workers, relay, publisher


def test_ecs_task_state_changes_of_the_cluster_reach_the_observer_queue(main_template, cfg):
    events_queue, _ = only(main_template, "AWS::SQS::Queue", QueueName=f"{cfg.prefix}-ecs-events")
    (rule,) = resources(main_template, "AWS::Events::Rule").values()
    (cluster,) = resources(main_template, "AWS::ECS::Cluster")
    assert rule["EventPattern"] == {"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"],
                                    "detail": {"clusterArn": [{"Fn::GetAtt": [cluster, "Arn"]}]}}
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": [events_queue, "Arn"]}
    allowed = [s for _, s in policy_statements(main_template)
               if s.get("Principal") == {"Service": "events.amazonaws.com"} and "sqs:SendMessage" in as_list(s["Action"])]
    assert allowed and all(s["Resource"] == {"Fn::GetAtt": [events_queue, "Arn"]} for s in allowed)


def test_workers_may_pass_only_their_own_pools_roles(main_template):
    passes = {owner: s for owner, s in policy_statements(main_template) if "iam:PassRole" in as_list(s["Action"])}
    assert {owner.split("TaskRole")[0] for owner in passes} == {"PrefectCpuWorker", "PrefectGpuWorker"}
    for owner, statement in passes.items():
        kind = "Cpu" if owner.startswith("PrefectCpu") else "Gpu"
        roles = {r["Fn::GetAtt"][0] for r in statement["Resource"]}
        assert roles and all(r.startswith(f"Prefect{kind}Run") for r in roles), roles
        assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}


def test_the_model_cache_survives_instance_replacement(main_template):
    (file_system_id, file_system), = [(k, v) for k, v in main_template["Resources"].items() if v["Type"] == "AWS::EFS::FileSystem"]
    assert file_system["DeletionPolicy"] == "Retain" and file_system["Properties"]["Encrypted"] is True
    (access_point,) = resources(main_template, "AWS::EFS::AccessPoint").values()
    assert access_point["FileSystemId"] == ref(file_system_id) and access_point["RootDirectory"]["Path"] == "/models"


# --- data ------------------------------------------------------------------------------------------


def test_rails_queue_redrives_to_its_dead_letter_queue(main_template, cfg):
    dead, _ = only(main_template, "AWS::SQS::Queue", QueueName=f"{cfg.prefix}-jobs-dlq")
    _, queue = only(main_template, "AWS::SQS::Queue", QueueName=f"{cfg.prefix}-jobs")
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [dead, "Arn"]},
                                      "maxReceiveCount": cfg.rails_max_receive_count}
    assert all(q.get("SqsManagedSseEnabled") for q in resources(main_template, "AWS::SQS::Queue").values())


def test_bucket_is_encrypted_and_never_public(main_template):
    (bucket_id, bucket), = resources(main_template, "AWS::S3::Bucket").items()
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    (policy,) = [p for p in resources(main_template, "AWS::S3::BucketPolicy").values() if p["Bucket"] == ref(bucket_id)]
    (deny,) = policy["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_only_intermediate_clips_expire(main_template, cfg):
    (bucket,) = resources(main_template, "AWS::S3::Bucket").values()
    expiring = [r for r in bucket["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r]
    assert expiring == [{"ExpirationInDays": cfg.clip_expiry_days, "Id": "expire-intermediate-clips",
                         "Prefix": CLIP_PREFIX, "Status": "Enabled"}]
    others = [r for r in bucket["LifecycleConfiguration"]["Rules"] if r not in expiring]
    assert all(set(r) <= {"Id", "Status", "AbortIncompleteMultipartUpload"} for r in others)


def test_no_artifact_but_clips_lies_under_the_expiring_prefix():
    from tasks.storage import keys

    for key in (keys.final("job", 1, "16x9"), keys.photo("job", "0" * 64, "a.jpg"), keys.music("job", "m.mp3"), keys.depth("job", 3)):
        assert not key.startswith(CLIP_PREFIX), key


def test_clip_keys_lie_under_the_expiring_prefix():
    from tasks.storage import keys

    assert keys.clip("job", 7).startswith(CLIP_PREFIX)
    assert keys.clip("job", 7, partial=True).startswith(CLIP_PREFIX)


def test_database_url_secret_is_composed_without_the_password_in_the_template(main_template, cfg):
    (instance,) = resources(main_template, "AWS::RDS::DBInstance").values()
    assert instance["StorageEncrypted"] is True and instance["PubliclyAccessible"] is False
    _, secret = only(main_template, "AWS::SecretsManager::Secret", Name=f"{cfg.prefix}/database-url")
    parts = secret["SecretString"]["Fn::Join"][1]
    assert parts[0] == "postgresql://{{resolve:secretsmanager:"
    assert any(isinstance(p, str) and p.startswith(":SecretString:password::}}") for p in parts)


def test_existing_database_secret_replaces_rds(tmp_path_factory):
    from tests.infra.conftest import synthesise

    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:picaivid/database-url-AbCdEf"
    result = synthesise({"env_name": "staging", "database_url_secret_arn": arn, "prefect_auth": "none",
                         "gpu_instance_types": "g6e.2xlarge,g6e.4xlarge"}, tmp_path_factory.mktemp("variant"))
    template = result.templates["Picaivid-staging"]
    assert not resources(template, "AWS::RDS::DBInstance")
    assert template["Outputs"][Output.database_url_secret]["Value"] == arn
    base = result.templates["Picaivid-staging-Base"]
    assert Output.prefect_auth_secret not in base["Outputs"] and not resources(base, "AWS::SecretsManager::Secret")
    assert all("Secrets" not in container_of(template, f"{kind}-worker") for kind in ("cpu", "gpu"))
    assert template["Outputs"][Output.prefect_auth_mode]["Value"] == "none"
    assert template["Outputs"][Output.gpu_task_memory]["Value"] == str(58880)
    for group in groups_by_provider(template).values():
        assert [o["InstanceType"] for o in group["MixedInstancesPolicy"]["LaunchTemplate"]["Overrides"]] == [
            "g6e.2xlarge", "g6e.4xlarge"]


# --- least privilege -------------------------------------------------------------------------------


def test_no_wildcard_actions_or_resources_on_data(synthesised):
    for stack, template in synthesised.templates.items():
        for owner, statement in policy_statements(template):
            if statement["Effect"] != "Allow":
                continue  # denies (TLS-only policies) may be broad on purpose
            for action in as_list(statement["Action"]):
                assert action != "*" and not action.endswith(":*"), f"{stack}/{owner}: {action}"
                if action.split(":")[0] in DATA_SERVICES:
                    assert "*" not in action, f"{stack}/{owner}: wildcard action {action} on data"
                    assert "*" not in as_list(statement.get("Resource", [])), f"{stack}/{owner}: {action} on every resource"


def test_metrics_may_only_be_put_in_our_namespace(main_template, cfg):
    puts = [s for _, s in policy_statements(main_template) if "cloudwatch:PutMetricData" in as_list(s["Action"])]
    assert len(puts) == 2  # the CPU and GPU flow-run roles
    assert all(s["Condition"] == {"StringEquals": {"cloudwatch:namespace": cfg.metrics_namespace}} for s in puts)


# --- cost control ------------------------------------------------------------------------------------


def test_gpu_hour_alarms_watch_the_apps_metrics_and_notify(main_template, cfg):
    alarms = {a["MetricName"]: a for a in resources(main_template, "AWS::CloudWatch::Alarm").values()}
    topic, _ = only(main_template, "AWS::SNS::Topic", TopicName=f"{cfg.prefix}-alerts")
    daily, per_job = alarms[GPU_SECONDS], alarms[JOB_GPU_SECONDS]
    assert (daily["Namespace"], daily["Statistic"], daily["Period"]) == (cfg.metrics_namespace, "Sum", 86400)
    assert daily["Threshold"] == cfg.gpu_hours_daily_alarm * 3600
    assert (per_job["Namespace"], per_job["Statistic"]) == (cfg.metrics_namespace, "Maximum")
    assert per_job["Threshold"] == cfg.gpu_seconds_per_job_alarm
    for alarm in (daily, per_job, alarms["ApproximateNumberOfMessagesVisible"]):
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["AlarmActions"] == [ref(topic)]
        assert "Dimensions" not in alarm or alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"


def test_budget_alarms_on_the_stacks_cost_tag(main_template, cfg):
    (budget,) = resources(main_template, "AWS::Budgets::Budget").values()
    assert budget["Budget"]["BudgetLimit"] == {"Amount": cfg.monthly_budget_usd, "Unit": "USD"}
    assert budget["Budget"]["CostFilters"] == {"TagKeyValue": [budget_tag_filter(cfg)]}
    kinds = {n["Notification"]["NotificationType"] for n in budget["NotificationsWithSubscribers"]}
    assert kinds == {"ACTUAL", "FORECASTED"}
    (topic,) = resources(main_template, "AWS::SNS::Topic")
    assert all(n["Subscribers"] == [{"Address": ref(topic), "SubscriptionType": "SNS"}] for n in budget["NotificationsWithSubscribers"])


# --- outputs feed the pools ----------------------------------------------------------------------------


def test_stacks_output_every_value_the_pool_templates_and_rails_need(synthesised, main_template, cfg):
    base_outputs = synthesised.templates[cfg.base_stack_name]["Outputs"]
    assert set(main_template["Outputs"]) == {o.value for o in Output} - {Output.prefect_auth_secret}
    assert Output.prefect_auth_secret in base_outputs


# --- dev variant -----------------------------------------------------------------------------------------


def test_dev_gpu_instance_is_persistent_spot_stopped_when_idle_and_keeps_its_cache(dev_template, cfg):
    (launch_template,) = resources(dev_template, "AWS::EC2::LaunchTemplate").values()
    market = launch_template["LaunchTemplateData"]["InstanceMarketOptions"]
    assert market == {"MarketType": "spot", "SpotOptions": {"InstanceInterruptionBehavior": "stop", "SpotInstanceType": "persistent"}}
    (instance_id,) = resources(dev_template, "AWS::EC2::Instance")
    (alarm,) = resources(dev_template, "AWS::CloudWatch::Alarm").values()
    assert alarm["Dimensions"] == [{"Name": "InstanceId", "Value": ref(instance_id)}]
    assert alarm["ComparisonOperator"] == "LessThanThreshold" and alarm["EvaluationPeriods"] * alarm["Period"] == cfg.dev_idle_minutes * 60
    (action,) = alarm["AlarmActions"]
    assert action["Fn::Join"][1][-1].endswith(":ec2:stop")
    (volume_id, volume), = [(k, v) for k, v in dev_template["Resources"].items() if v["Type"] == "AWS::EC2::Volume"]
    assert volume["DeletionPolicy"] == "Snapshot" and volume["Properties"]["Encrypted"] is True
    (attachment,) = resources(dev_template, "AWS::EC2::VolumeAttachment").values()
    assert attachment["InstanceId"] == ref(instance_id) and attachment["VolumeId"] == ref(volume_id)
    user_data = "".join(p for p in launch_template["LaunchTemplateData"]["UserData"]["Fn::Base64"]["Fn::Join"][1] if isinstance(p, str))
    assert " /models xfs defaults,nofail" in user_data


def test_publisher_sends_events_to_the_queue_rails_reads(main_template, cfg):
    c = container_of(main_template, "publisher")
    assert c["Command"] == ["picaivid", "publish-events"]
    queue, _ = only(main_template, "AWS::SQS::Queue", QueueName=f"{cfg.prefix}-events")
    env = {e["Name"]: e["Value"] for e in c["Environment"]}
    assert env["PICAIVID_EVENTS_QUEUE_URL"] == ref(queue)
    assert "DATABASE_URL" in {s["Name"] for s in c["Secrets"]}
