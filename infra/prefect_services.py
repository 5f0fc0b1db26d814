"""The Prefect side on ECS: the roles flow runs get, the two ECS workers, and the SQS relay.

Flow-run task definitions are not made here: each pool's ECS worker registers them from its base
job template (infra/work_pools/), which names the roles, security groups and secrets made here.
Keeping the container definition in the template alone means one place to change it.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import iam as grants
from infra.config import InfraConfig
from infra.model_cache import ModelCache
from infra.network import Network

PREFECT_AUTH_ENV = {"api_key": "PREFECT_API_KEY", "auth_string": "PREFECT_API_AUTH_STRING"}
WORKER_HEALTH_PORT = 8080  # `prefect worker start --with-healthcheck` serves /health here
HEALTH_PROBE = (
    "python -c \"import urllib.request; "
    f"urllib.request.urlopen('http://localhost:{WORKER_HEALTH_PORT}/health', timeout=5)\""
)


@dataclass(frozen=True)
class FlowRunRoles:
    """What a pool's flow-run tasks run as (task role) and start with (execution role)."""

    task: iam.Role
    execution: iam.Role


@dataclass(frozen=True)
class Shared:
    """The resources the Prefect pieces use, made elsewhere in the stack."""

    network: Network
    cluster: ecs.Cluster
    bucket: s3.IBucket
    database_url: secretsmanager.ISecret
    model_cache: ModelCache
    cpu_repository: ecr.IRepository
    gpu_repository: ecr.IRepository
    rails_queue: sqs.IQueue
    rails_dead_letters: sqs.IQueue
    rails_events: sqs.IQueue
    ecs_events: sqs.IQueue
    prefect_auth: secretsmanager.ISecret | None  # from BaseStack; None when prefect_auth=none


class PrefectServices(Construct):
    def __init__(self, scope: Construct, id: str, cfg: InfraConfig, shared: Shared) -> None:
        super().__init__(scope, id)
        self.cfg, self.shared = cfg, shared
        self.flow_run_logs = logs.LogGroup(self, "FlowRunLogs", log_group_name=f"/{cfg.prefix}/flow-runs",
                                           retention=logs.RetentionDays.ONE_MONTH)
        self.service_logs = logs.LogGroup(self, "ServiceLogs", log_group_name=f"/{cfg.prefix}/services",
                                          retention=logs.RetentionDays.ONE_MONTH)

        self.cpu_runs = self._flow_run_roles("CpuRun", shared.cpu_repository)
        self.gpu_runs = self._flow_run_roles("GpuRun", shared.gpu_repository)
        self.cpu_worker = self._worker("CpuWorker", "cpu-worker", cfg.cpu_pool, self.cpu_runs)
        self.gpu_worker = self._worker("GpuWorker", "gpu-worker", cfg.gpu_pool, self.gpu_runs)
        self.relay = self._relay()
        self.publisher = self._publisher()

    # --- flow runs ---------------------------------------------------------------------------

    def _flow_run_roles(self, id: str, repository: ecr.IRepository) -> FlowRunRoles:
        shared = self.shared
        task = grants.task_role(self, f"{id}TaskRole", f"{id} flow runs: artifacts, model cache, GPU metrics")
        grants.allow_artifacts(task, shared.bucket)
        grants.allow_model_cache(task, shared.model_cache.file_system, shared.model_cache.access_point)
        grants.allow_put_metrics(task, self.cfg.metrics_namespace)

        execution = grants.task_role(self, f"{id}ExecutionRole", f"{id} flow runs: pull the image, read secrets, log")
        repository.grant_pull(execution)
        self.flow_run_logs.grant_write(execution)
        grants.allow_read_secrets(execution, *filter(None, (shared.database_url, shared.prefect_auth)))
        return FlowRunRoles(task=task, execution=execution)

    # --- services ----------------------------------------------------------------------------

    def _container_secrets(self) -> dict[str, ecs.Secret]:
        """The Prefect credential, under the variable name its kind uses."""
        if not self.shared.prefect_auth:
            return {}
        return {PREFECT_AUTH_ENV[self.cfg.prefect_auth]: ecs.Secret.from_secrets_manager(self.shared.prefect_auth)}

    def _service(self, id: str, *, family: str, task_role: iam.Role, command: list[str], environment: dict[str, str],
                 secrets: dict[str, ecs.Secret], security_group: ec2.ISecurityGroup, cpu: int, memory: int,
                 health_check: ecs.HealthCheck | None = None) -> ecs.FargateService:
        task_definition = ecs.FargateTaskDefinition(self, f"{id}Task", family=f"{self.cfg.prefix}-{family}", cpu=cpu,
                                                    memory_limit_mib=memory, task_role=task_role)
        task_definition.add_container(
            id,
            image=ecs.ContainerImage.from_ecr_repository(self.shared.cpu_repository, self.cfg.image_tag),
            command=command,
            environment={"PREFECT_API_URL": self.cfg.prefect_api_url, **environment},
            secrets={**self._container_secrets(), **secrets},
            logging=ecs.LogDrivers.aws_logs(stream_prefix=id, log_group=self.service_logs),
            health_check=health_check,
        )
        return ecs.FargateService(
            self, id,
            cluster=self.shared.cluster, task_definition=task_definition, desired_count=1,
            vpc_subnets=self.shared.network.private_subnets, security_groups=[security_group],
            min_healthy_percent=100, max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
        )

    def _worker(self, id: str, family: str, pool: str, runs: FlowRunRoles) -> ecs.FargateService:
        """`prefect worker start --pool <pool> --type ecs`: polls the pool, starts one ECS task per flow run."""
        role = grants.task_role(self, f"{id}TaskRole", f"Prefect ECS worker of {pool}: runs and watches its flow runs")
        self._allow_worker(role, runs)
        return self._service(
            id, family=family, task_role=role,
            command=["prefect", "worker", "start", "--pool", pool, "--type", "ecs", "--with-healthcheck"],
            environment={
                "PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_ENABLED": "true",
                "PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME": self.shared.ecs_events.queue_name,
                "PREFECT_WORKER_WEBSERVER_PORT": str(WORKER_HEALTH_PORT),
            },
            secrets={}, security_group=self.shared.network.workers, cpu=512, memory=1024,
            health_check=ecs.HealthCheck(
                command=["CMD-SHELL", HEALTH_PROBE],
                interval=Duration.seconds(30), timeout=Duration.seconds(5), retries=3, start_period=Duration.seconds(60),
            ),
        )

    def _allow_worker(self, role: iam.Role, runs: FlowRunRoles) -> None:
        """What prefect-aws's ECS worker and observer call, scoped to this cluster and this pool's roles."""
        cluster, stack = self.shared.cluster, Stack.of(self)
        tasks_arn = stack.format_arn(service="ecs", resource="task", resource_name=f"{cluster.cluster_name}/*")
        in_cluster = {"ArnEquals": {"ecs:cluster": cluster.cluster_arn}}
        statements = [
            iam.PolicyStatement(actions=["ecs:RunTask"], conditions=in_cluster,
                                resources=[stack.format_arn(service="ecs", resource="task-definition", resource_name="*")]),
            iam.PolicyStatement(actions=["ecs:StopTask", "ecs:DescribeTasks"], resources=[tasks_arn]),
            iam.PolicyStatement(actions=["ecs:TagResource"], resources=[tasks_arn],
                                conditions={"StringEquals": {"ecs:CreateAction": "RunTask"}}),
            iam.PolicyStatement(actions=["ecs:DescribeClusters"], resources=[cluster.cluster_arn]),
            # Task definitions cannot be scoped by resource for these calls.
            iam.PolicyStatement(actions=["ecs:RegisterTaskDefinition", "ecs:DeregisterTaskDefinition",
                                         "ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions"], resources=["*"]),
            # The worker checks the pool's subnets against its VPC.
            iam.PolicyStatement(actions=["ec2:DescribeVpcs", "ec2:DescribeSubnets"], resources=["*"]),
            iam.PolicyStatement(actions=["iam:PassRole"], resources=[runs.task.role_arn, runs.execution.role_arn],
                                conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}),
            # The observer forwards a crashed run's container log to Prefect.
            iam.PolicyStatement(actions=["logs:GetLogEvents"], resources=[self.flow_run_logs.log_group_arn]),
        ]
        for statement in statements:
            role.add_to_principal_policy(statement)
        grants.allow_consume(role, self.shared.ecs_events)

    def _publisher(self) -> ecs.FargateService:
        """`picaivid publish-events`: the events outbox → Rails' events queue, at least once."""
        shared = self.shared
        role = grants.task_role(self, "PublisherTaskRole", "Events publisher: send job events to Rails' queue")
        grants.allow_send(role, shared.rails_events)
        return self._service(
            "Publisher", family="publisher", task_role=role,
            command=["picaivid", "publish-events"],
            environment={"PICAIVID_EVENTS_QUEUE_URL": shared.rails_events.queue_url},
            secrets={"DATABASE_URL": ecs.Secret.from_secrets_manager(shared.database_url)},
            security_group=shared.network.relay, cpu=256, memory=512,
        )

    def _relay(self) -> ecs.FargateService:
        """`picaivid relay`: Rails' queue → one create-video flow run per message."""
        shared = self.shared
        role = grants.task_role(self, "RelayTaskRole", "SQS relay: consume Rails' queue, dead-letter bad messages")
        grants.allow_consume(role, shared.rails_queue)
        grants.allow_send(role, shared.rails_dead_letters)
        return self._service(
            "Relay", family="relay", task_role=role,
            command=["picaivid", "relay"],
            environment={
                "PICAIVID_QUEUE_URL": shared.rails_queue.queue_url,
                "PICAIVID_DEAD_LETTER_QUEUE_URL": shared.rails_dead_letters.queue_url,
            },
            secrets={"DATABASE_URL": ecs.Secret.from_secrets_manager(shared.database_url)},
            security_group=shared.network.relay, cpu=256, memory=512,
        )
