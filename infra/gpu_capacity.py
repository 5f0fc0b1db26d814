"""GPU capacity for render-clip tasks: a Spot group first, an on-demand group as fallback.

Both groups start at zero instances and are driven by ECS managed scaling: a render task waiting
for a GPU makes ECS scale its group out, and an idle instance is scaled in (scale from zero).
Managed termination protection keeps ECS from removing an instance that still runs a render;
managed draining and ECS Spot draining move an instance to DRAINING when Auto Scaling or a Spot
interruption notice wants it gone, so the render gets SIGTERM and its 120 s stop timeout.
"""

from __future__ import annotations

from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.config import InfraConfig
from infra.network import Network


class GpuCapacity(Construct):
    def __init__(self, scope: Construct, id: str, cfg: InfraConfig, network: Network, cluster: ecs.Cluster) -> None:
        super().__init__(scope, id)
        self.spot = self._provider("Spot", cfg, network, cluster, spot=True,
                                   name=cfg.gpu_spot_provider, max_capacity=cfg.gpu_spot_max)
        self.on_demand = self._provider("OnDemand", cfg, network, cluster, spot=False,
                                        name=cfg.gpu_on_demand_provider, max_capacity=cfg.gpu_on_demand_max)

    def _provider(self, id: str, cfg: InfraConfig, network: Network, cluster: ecs.Cluster, *,
                  spot: bool, name: str, max_capacity: int) -> ecs.AsgCapacityProvider:
        user_data = ec2.UserData.for_linux()
        if spot:
            # On the two-minute interruption notice the agent drains the instance: tasks get SIGTERM
            # and their stop timeout (CDK only writes this for groups with a fixed spot price).
            user_data.add_commands("echo ECS_ENABLE_SPOT_INSTANCE_DRAINING=true >> /etc/ecs/ecs.config")
        role = iam.Role(self, f"{id}InstanceRole", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
                        description="GPU container instance: joins the cluster (ECS adds its own statements)")
        launch_template = ec2.LaunchTemplate(
            self, f"{id}LaunchTemplate",
            machine_image=ecs.EcsOptimizedImage.amazon_linux2023(ecs.AmiHardwareType.GPU),
            role=role,
            security_group=network.gpu_hosts,
            user_data=user_data,
            require_imdsv2=True,  # with the default hop limit of 1, task containers cannot reach instance credentials
            block_devices=[ec2.BlockDevice(
                device_name="/dev/xvda",
                volume=ec2.BlockDeviceVolume.ebs(cfg.gpu_root_volume_gib, volume_type=ec2.EbsDeviceVolumeType.GP3,
                                                 encrypted=True, delete_on_termination=True),
            )],
        )
        group = autoscaling.AutoScalingGroup(
            self, f"{id}Group",
            vpc=network.vpc, vpc_subnets=network.private_subnets,
            min_capacity=0, max_capacity=max_capacity,
            mixed_instances_policy=autoscaling.MixedInstancesPolicy(
                launch_template=launch_template,
                launch_template_overrides=[
                    autoscaling.LaunchTemplateOverrides(instance_type=ec2.InstanceType(t)) for t in cfg.gpu_instance_types
                ],
                instances_distribution=autoscaling.InstancesDistribution(
                    on_demand_base_capacity=0,
                    on_demand_percentage_above_base_capacity=0 if spot else 100,
                    spot_allocation_strategy=autoscaling.SpotAllocationStrategy.PRICE_CAPACITY_OPTIMIZED,
                    on_demand_allocation_strategy=autoscaling.OnDemandAllocationStrategy.PRIORITIZED,
                ),
            ),
        )
        provider = ecs.AsgCapacityProvider(
            self, f"{id}Provider",
            auto_scaling_group=group,
            capacity_provider_name=name,
            enable_managed_scaling=True,
            target_capacity_percent=100,
            enable_managed_termination_protection=True,
            enable_managed_draining=True,
        )
        cluster.add_asg_capacity_provider(provider)
        return provider
