"""Model weights on EFS: downloaded once, mounted into every flow-run task, kept across instances.

EFS rather than an EBS snapshot because GPU hosts scale from zero and come and go with Spot: a
shared file system needs no per-instance restore, and several renders read it at once. Hub
downloads land there through HF_HOME=/models/huggingface (set in the work-pool templates).
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_efs as efs
from constructs import Construct

APP_UID = "1000"
"""The images run as this user (infra/docker); the access point writes as it too."""


class ModelCache(Construct):
    def __init__(
        self, scope: Construct, id: str, vpc: ec2.IVpc, subnets: ec2.SubnetSelection, clients: list[ec2.ISecurityGroup]
    ) -> None:
        super().__init__(scope, id)
        security_group = ec2.SecurityGroup(self, "SecurityGroup", vpc=vpc, description="Model cache: NFS from flow runs",
                                           allow_all_outbound=False)
        for client in clients:
            security_group.add_ingress_rule(client, ec2.Port.tcp(2049), "NFS from flow runs")
        self.file_system = efs.FileSystem(
            self, "FileSystem",
            vpc=vpc, vpc_subnets=subnets, security_group=security_group,
            encrypted=True,
            performance_mode=efs.PerformanceMode.GENERAL_PURPOSE,
            throughput_mode=efs.ThroughputMode.ELASTIC,  # bursts to GB/s when a cold instance loads weights
            allow_anonymous_access=False,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.access_point = self.file_system.add_access_point(
            "Models",
            path="/models",
            posix_user=efs.PosixUser(uid=APP_UID, gid=APP_UID),
            create_acl=efs.Acl(owner_uid=APP_UID, owner_gid=APP_UID, permissions="755"),
        )
