"""The development variant: one persistent Spot GPU instance that stops itself when idle.

A persistent Spot request with interruption behaviour `stop` keeps the instance (and its volumes)
across interruptions; an alarm on low CPU stops it after `dev_idle_minutes`, and engineers start
it again with `aws ec2 start-instances`. Model weights live on their own EBS volume, mounted at
/models, which survives stops, interruptions and instance replacement (snapshot on stack delete).
It runs the production GPU image with Docker (`docker run --gpus all -v /models:/models ...`).
Access is through SSM Session Manager: no inbound ports, no SSH keys.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Size, Stack, Tags
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.config import InfraConfig
from infra.cost import COST_TAG
from infra.network import allow_named_availability_zones

MODEL_CACHE_DEVICE = "/dev/sdf"
IDLE_PERIOD = Duration.minutes(5)


def mount_model_cache_script(volume_id: str) -> list[str]:
    """Wait for the cache volume (attached after boot), format it once, mount it at /models for good."""
    return [
        "set -euo pipefail",
        # The same GPU AMI as production hosts, used as a plain Docker host: no ECS agent here.
        "systemctl disable --now ecs || true",
        f"vol_id='{volume_id}'",
        'device="/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${vol_id//-/}"',
        'for _ in $(seq 1 120); do [ -e "$device" ] && break; sleep 5; done',
        'blkid "$device" || mkfs.xfs "$device"',
        "mkdir -p /models",
        'grep -q " /models " /etc/fstab || echo "$device /models xfs defaults,nofail 0 2" >> /etc/fstab',
        "mount -a",
        "mkdir -p /models/huggingface && chown -R 1000:1000 /models",
        "echo HF_HOME=/models/huggingface >> /etc/environment",
    ]


class DevGpuStack(Stack):
    def __init__(self, scope: Construct, cfg: InfraConfig, **kwargs) -> None:
        super().__init__(scope, cfg.dev_stack_name, **kwargs)
        Tags.of(self).add(COST_TAG, f"picaivid-{cfg.dev_name}")
        allow_named_availability_zones(self)
        zone = cfg.azs[0]
        vpc = ec2.Vpc(
            self, "Vpc", availability_zones=[zone], nat_gateways=0, restrict_default_security_group=False,
            subnet_configuration=[ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)],
            gateway_endpoints={"S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)},
        )
        security_group = ec2.SecurityGroup(self, "InstanceSecurityGroup", vpc=vpc, allow_all_outbound=True,
                                           description="Dev GPU instance: no inbound, SSM for access")
        role = iam.Role(self, "InstanceRole", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
                        managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("AmazonSSMManagedInstanceCore")])
        ecr.Repository.from_repository_name(self, "GpuRepository", cfg.gpu_repository).grant_pull(role)

        model_cache = ec2.Volume(
            self, "ModelCache", availability_zone=zone, size=Size.gibibytes(cfg.dev_model_cache_gib),
            volume_type=ec2.EbsDeviceVolumeType.GP3, encrypted=True, removal_policy=RemovalPolicy.SNAPSHOT,
        )
        user_data = ec2.UserData.for_linux()
        user_data.add_commands(*mount_model_cache_script(model_cache.volume_id))
        launch_template = ec2.LaunchTemplate(
            self, "LaunchTemplate",
            machine_image=ecs.EcsOptimizedImage.amazon_linux2023(ecs.AmiHardwareType.GPU),
            instance_type=ec2.InstanceType(cfg.dev_instance_type),
            role=role, security_group=security_group, user_data=user_data,
            require_imdsv2=True, associate_public_ip_address=True,
            block_devices=[ec2.BlockDevice(device_name="/dev/xvda", volume=ec2.BlockDeviceVolume.ebs(
                100, volume_type=ec2.EbsDeviceVolumeType.GP3, encrypted=True))],
            spot_options=ec2.LaunchTemplateSpotOptions(
                request_type=ec2.SpotRequestType.PERSISTENT,
                interruption_behavior=ec2.SpotInstanceInterruption.STOP,
            ),
        )
        instance = ec2.CfnInstance(
            self, "Instance",
            launch_template=ec2.CfnInstance.LaunchTemplateSpecificationProperty(
                launch_template_id=launch_template.launch_template_id,
                version=launch_template.latest_version_number,
            ),
            subnet_id=vpc.public_subnets[0].subnet_id,
        )
        ec2.CfnVolumeAttachment(self, "ModelCacheAttachment", instance_id=instance.ref,
                                volume_id=model_cache.volume_id, device=MODEL_CACHE_DEVICE)

        idle = cloudwatch.Alarm(
            self, "Idle",
            alarm_name=f"picaivid-{cfg.dev_name}-gpu-idle",
            alarm_description=f"Stops the dev GPU instance after {cfg.dev_idle_minutes} min below "
                              f"{cfg.dev_idle_cpu_percent:g}% CPU (a render keeps at least one core busy)",
            metric=cloudwatch.Metric(namespace="AWS/EC2", metric_name="CPUUtilization",
                                     dimensions_map={"InstanceId": instance.ref}, statistic="Maximum", period=IDLE_PERIOD),
            threshold=cfg.dev_idle_cpu_percent,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=cfg.dev_idle_minutes // 5,
            treat_missing_data=cloudwatch.TreatMissingData.MISSING,
        )
        idle.add_alarm_action(actions.Ec2Action(actions.Ec2InstanceAction.STOP))

        CfnOutput(self, "InstanceId", value=instance.ref)
        CfnOutput(self, "ModelCacheVolumeId", value=model_cache.volume_id)
