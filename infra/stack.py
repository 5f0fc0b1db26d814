"""The production environment of one `env_name`: network, data, GPU/CPU capacity, Prefect, cost.

What the services need before they can start, the images and the Prefect credential, lives in
its own stack (`BaseStack`): deployed first, filled (images pushed, key stored), then this one.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Fn, Stack, Tags
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.artifacts import artifact_bucket
from infra.config import InfraConfig
from infra.cost import COST_TAG, CostControl
from infra import iam as grants
from infra.database import database_url_secret
from infra.gpu_capacity import GpuCapacity
from infra.model_cache import ModelCache
from infra.network import Network
from infra.outputs import Output
from infra.prefect_services import PrefectServices, Shared
from infra.queues import ecs_events_queue, rails_events_queue, rails_queues


class BaseStack(Stack):
    """ECR repositories for the CPU image (workers, relay, CPU flow runs) and the GPU image, and the
    secret holding the Prefect API key (or auth string), which the operator sets before the
    services start: a worker without a valid key fails, and its deployment would roll back."""

    def __init__(self, scope: Construct, cfg: InfraConfig, **kwargs) -> None:
        super().__init__(scope, cfg.base_stack_name, **kwargs)
        Tags.of(self).add(COST_TAG, cfg.prefix)
        for id, name in (("Cpu", cfg.cpu_repository), ("Gpu", cfg.gpu_repository)):
            repository = ecr.Repository(
                self, f"{id}Repository", repository_name=name, image_scan_on_push=True,
                lifecycle_rules=[ecr.LifecycleRule(description="keep the newest 30 images", max_image_count=30)],
            )
            CfnOutput(self, f"{id}RepositoryUri", value=repository.repository_uri)
        self.prefect_auth: secretsmanager.Secret | None = None
        if cfg.prefect_auth != "none":
            self.prefect_auth = secretsmanager.Secret(
                self, "PrefectAuth", secret_name=cfg.prefect_auth_secret_name,
                description=f"Prefect {cfg.prefect_auth} for workers, relay and flow runs: put the real value here",
            )
            CfnOutput(self, Output.prefect_auth_secret.value, value=self.prefect_auth.secret_arn)


class PicaividStack(Stack):
    def __init__(self, scope: Construct, cfg: InfraConfig, prefect_auth: secretsmanager.ISecret | None, **kwargs) -> None:
        super().__init__(scope, cfg.main_stack_name, **kwargs)
        Tags.of(self).add(COST_TAG, cfg.prefix)

        network = Network(self, "Network", cfg)
        cluster = ecs.Cluster(self, "Cluster", vpc=network.vpc, cluster_name=cfg.prefix,
                              enable_fargate_capacity_providers=True)
        gpu = GpuCapacity(self, "Gpu", cfg, network, cluster)
        bucket = artifact_bucket(self, cfg)
        rails_queue, rails_dead_letters = rails_queues(self, cfg)
        rails_events = rails_events_queue(self, cfg)
        app_clients = [network.relay, network.cpu_runs, network.gpu_runs]
        database_url = database_url_secret(self, cfg, network.vpc, network.private_subnets, app_clients)
        model_cache = ModelCache(self, "ModelCache", network.vpc, network.private_subnets,
                                 [network.cpu_runs, network.gpu_runs])
        repositories = {
            kind: ecr.Repository.from_repository_name(self, f"{kind.title()}Repository", name)
            for kind, name in (("cpu", cfg.cpu_repository), ("gpu", cfg.gpu_repository))
        }
        prefect = PrefectServices(self, "Prefect", cfg, Shared(
            network=network, cluster=cluster, bucket=bucket, database_url=database_url, model_cache=model_cache,
            cpu_repository=repositories["cpu"], gpu_repository=repositories["gpu"],
            rails_queue=rails_queue, rails_dead_letters=rails_dead_letters, rails_events=rails_events,
            ecs_events=ecs_events_queue(self, cfg, cluster), prefect_auth=prefect_auth,
        ))
        cost = CostControl(self, "Cost", cfg, rails_dead_letters)
        rails_policy = self._rails_policy(rails_queue, rails_events, bucket, database_url)

        gpu_cpu, gpu_memory = cfg.gpu_task_size()
        outputs: dict[Output, str] = {
            Output.environment: cfg.env_name,
            Output.region: self.region,
            Output.cluster: cluster.cluster_name,
            Output.vpc: network.vpc.vpc_id,
            Output.private_subnets: Fn.join(",", [s.subnet_id for s in network.vpc.private_subnets]),
            Output.cpu_pool: cfg.cpu_pool,
            Output.gpu_pool: cfg.gpu_pool,
            Output.cpu_image: repositories["cpu"].repository_uri_for_tag(cfg.image_tag),
            Output.gpu_image: repositories["gpu"].repository_uri_for_tag(cfg.image_tag),
            Output.cpu_run_security_group: network.cpu_runs.security_group_id,
            Output.gpu_run_security_group: network.gpu_runs.security_group_id,
            Output.cpu_run_task_role: prefect.cpu_runs.task.role_arn,
            Output.cpu_run_execution_role: prefect.cpu_runs.execution.role_arn,
            Output.gpu_run_task_role: prefect.gpu_runs.task.role_arn,
            Output.gpu_run_execution_role: prefect.gpu_runs.execution.role_arn,
            Output.gpu_spot_provider: gpu.spot.capacity_provider_name,
            Output.gpu_on_demand_provider: gpu.on_demand.capacity_provider_name,
            Output.gpu_task_cpu: str(gpu_cpu),
            Output.gpu_task_memory: str(gpu_memory),
            Output.flow_run_log_group: prefect.flow_run_logs.log_group_name,
            Output.storage_url: f"s3://{bucket.bucket_name}",
            Output.database_url_secret: database_url.secret_arn,
            Output.prefect_auth_mode: cfg.prefect_auth,
            Output.model_cache_file_system: model_cache.file_system.file_system_id,
            Output.model_cache_access_point: model_cache.access_point.access_point_id,
            Output.metrics_namespace: cfg.metrics_namespace,
            Output.gpu_hours_daily_alert: f"{cfg.gpu_hours_daily_alarm:g}",
            Output.gpu_seconds_per_job_alert: f"{cfg.gpu_seconds_per_job_alarm:g}",
            Output.render_concurrency: str(cfg.gpu_clips_per_job),
            Output.gpu_pool_limit: str(cfg.gpu_pool_limit),
            Output.rails_queue_url: rails_queue.queue_url,
            Output.rails_dead_letter_queue_url: rails_dead_letters.queue_url,
            Output.rails_events_queue_url: rails_events.queue_url,
            Output.rails_policy: rails_policy.managed_policy_arn,
            Output.alerts_topic: cost.topic.topic_arn,
        }
        for key, value in outputs.items():
            CfnOutput(self, key.value, value=value)

    def _rails_policy(self, queue: sqs.IQueue, events: sqs.IQueue, bucket: s3.IBucket,
                      database_url: secretsmanager.ISecret) -> iam.ManagedPolicy:
        """For Rails' own role: enqueue requests, read events, upload inputs, read finals, reach the database URL."""
        return iam.ManagedPolicy(self, "RailsPolicy", description="Rails: the Picaivid queues, inputs, finals", statements=[
            iam.PolicyStatement(actions=["sqs:SendMessage", "sqs:GetQueueUrl"], resources=[queue.queue_arn]),
            iam.PolicyStatement(actions=grants.QUEUE_CONSUMER_ACTIONS, resources=[events.queue_arn]),
            iam.PolicyStatement(actions=["s3:PutObject"],
                                resources=[bucket.arn_for_objects("jobs/*/photos/*"), bucket.arn_for_objects("jobs/*/music/*")]),
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.arn_for_objects("jobs/*/final/*")]),
            iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[database_url.secret_arn]),
        ])
