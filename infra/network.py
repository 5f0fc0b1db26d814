"""The VPC and the security groups every other piece refers to.

Tasks run in private subnets and reach ECR, Prefect and the model hub through NAT; S3 traffic
(clips, weights, finals) takes the free gateway endpoint instead of paying NAT per GB. Nothing
accepts inbound traffic except PostgreSQL and the model cache, from the groups that need them.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from infra.config import InfraConfig


def allow_named_availability_zones(stack: Stack) -> None:
    """Tell cfn-lint (W3010) that the AZs are named on purpose.

    Named AZs keep synthesis free of AWS lookups, and let a deployment pick the AZs that offer its
    GPU classes (context `availability_zones`).
    """
    stack.template_options.metadata = {"cfn-lint": {"config": {"ignore_checks": ["W3010"]}}}


class Network(Construct):
    def __init__(self, scope: Construct, id: str, cfg: InfraConfig) -> None:
        super().__init__(scope, id)
        allow_named_availability_zones(Stack.of(self))
        self.vpc = ec2.Vpc(
            self, "Vpc",
            availability_zones=list(cfg.azs),
            nat_gateways=cfg.nat_gateways,
            restrict_default_security_group=False,  # the restriction is a Lambda custom resource; no assets here
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20),
            ],
            gateway_endpoints={"S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)},
        )
        self.private_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)

        def group(id: str, description: str) -> ec2.SecurityGroup:
            return ec2.SecurityGroup(self, id, vpc=self.vpc, description=description, allow_all_outbound=True)

        self.workers = group("Workers", "Prefect ECS workers: outbound to Prefect and the AWS APIs")
        self.relay = group("Relay", "SQS relay: outbound to SQS, Prefect and PostgreSQL")
        self.cpu_runs = group("CpuRuns", "CPU flow runs (Phases 1, 3, 4, create-video)")
        self.gpu_runs = group("GpuRuns", "GPU flow runs (render-clip)")
        self.gpu_hosts = group("GpuHosts", "GPU container instances (awsvpc tasks bring their own group)")
