"""Least-privilege grants, written out action by action.

CDK's `grant_*` helpers hand out wildcard actions (`s3:GetObject*`, `s3:List*`, ...); on data we
name each action instead, so a reviewer (and tests/infra) can see exactly what a role may do.
"""

from __future__ import annotations

from aws_cdk import aws_efs as efs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

ARTIFACT_OBJECT_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
QUEUE_CONSUMER_ACTIONS = [
    "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
]


def task_role(scope: Construct, id: str, description: str) -> iam.Role:
    """A role only ECS tasks can assume."""
    return iam.Role(scope, id, assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"), description=description)


def allow_artifacts(role: iam.IRole, bucket: s3.IBucket) -> None:
    """Read, write and delete artifacts, and list the bucket (so a missing key reads as 404, not 403)."""
    role.add_to_principal_policy(iam.PolicyStatement(actions=ARTIFACT_OBJECT_ACTIONS, resources=[bucket.arn_for_objects("*")]))
    role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn]))


def allow_consume(role: iam.IRole, queue: sqs.IQueue) -> None:
    role.add_to_principal_policy(iam.PolicyStatement(actions=QUEUE_CONSUMER_ACTIONS, resources=[queue.queue_arn]))


def allow_send(role: iam.IRole, queue: sqs.IQueue) -> None:
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=["sqs:SendMessage", "sqs:GetQueueUrl"], resources=[queue.queue_arn])
    )


def allow_read_secrets(role: iam.IRole, *secrets: secretsmanager.ISecret) -> None:
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[s.secret_arn for s in secrets])
    )


def allow_model_cache(role: iam.IRole, file_system: efs.IFileSystem, access_point: efs.IAccessPoint) -> None:
    """Mount and write the model cache, through its access point only."""
    role.add_to_principal_policy(iam.PolicyStatement(
        actions=["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
        resources=[file_system.file_system_arn],
        conditions={"StringEquals": {"elasticfilesystem:AccessPointArn": access_point.access_point_arn}},
    ))


def allow_put_metrics(role: iam.IRole, namespace: str) -> None:
    """PutMetricData has no resource-level permissions; the namespace condition scopes it."""
    role.add_to_principal_policy(iam.PolicyStatement(
        actions=["cloudwatch:PutMetricData"], resources=["*"],
        conditions={"StringEquals": {"cloudwatch:namespace": namespace}},
    ))
