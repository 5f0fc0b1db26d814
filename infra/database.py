"""PostgreSQL, the system of record, seen by the app as one secret holding DATABASE_URL.

Either an existing secret (`database_url_secret_arn`, for a database run elsewhere) or a new RDS
instance plus a secret whose URL CloudFormation composes at deploy time from the generated
credentials: the password never appears in the template, only a dynamic reference to it.
"""

from __future__ import annotations

import string

from aws_cdk import Duration, Fn, RemovalPolicy, SecretValue
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.config import InfraConfig

DATABASE_NAME = "picaivid"
URL_UNSAFE_CHARACTERS = "".join(c for c in string.punctuation if c not in "-_") + " "
"""Kept out of the generated password, so it goes into a URL without escaping."""


def database_url_secret(
    scope: Construct, cfg: InfraConfig, vpc: ec2.IVpc, subnets: ec2.SubnetSelection, clients: list[ec2.ISecurityGroup]
) -> secretsmanager.ISecret:
    if cfg.database_url_secret_arn:
        return secretsmanager.Secret.from_secret_complete_arn(scope, "DatabaseUrl", cfg.database_url_secret_arn)

    security_group = ec2.SecurityGroup(scope, "PostgresSecurityGroup", vpc=vpc, description="PostgreSQL: from app tasks only",
                                       allow_all_outbound=False)
    for client in clients:
        security_group.add_ingress_rule(client, ec2.Port.tcp(5432), "PostgreSQL from app tasks")
    instance = rds.DatabaseInstance(
        scope, "Postgres",
        engine=rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_16_13),
        instance_type=ec2.InstanceType(cfg.db_instance_class),
        vpc=vpc, vpc_subnets=subnets, security_groups=[security_group],
        credentials=rds.Credentials.from_generated_secret(
            "picaivid", secret_name=f"{cfg.prefix}/postgres-master", exclude_characters=URL_UNSAFE_CHARACTERS
        ),
        database_name=DATABASE_NAME,
        allocated_storage=50, max_allocated_storage=500, storage_type=rds.StorageType.GP3, storage_encrypted=True,
        multi_az=cfg.db_multi_az, publicly_accessible=False,
        backup_retention=Duration.days(7), deletion_protection=True, removal_policy=RemovalPolicy.SNAPSHOT,
        auto_minor_version_upgrade=True,
    )
    master = instance.secret
    url = Fn.join("", [
        "postgresql://",
        master.secret_value_from_json("username").unsafe_unwrap(), ":",
        master.secret_value_from_json("password").unsafe_unwrap(), "@",
        instance.db_instance_endpoint_address, ":", instance.db_instance_endpoint_port, "/", DATABASE_NAME,
    ])
    return secretsmanager.Secret(
        scope, "DatabaseUrl",
        secret_name=f"{cfg.prefix}/database-url",
        description="DATABASE_URL of the Picaivid app (composed from the RDS master secret at deploy time)",
        secret_string_value=SecretValue.unsafe_plain_text(url),
    )
