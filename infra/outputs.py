"""The stacks' CloudFormation outputs: what the work-pool templates and Rails are filled from.

The stacks write exactly these keys and `infra.pools` reads them, so neither spells one alone.
All come from the main stack except `prefect_auth_secret`, which the base stack owns.
"""

from __future__ import annotations

from enum import StrEnum


class Output(StrEnum):
    environment = "Environment"
    region = "Region"
    cluster = "ClusterName"
    vpc = "VpcId"
    private_subnets = "PrivateSubnetIds"  # comma-separated
    cpu_pool = "CpuPoolName"
    gpu_pool = "GpuPoolName"
    cpu_image = "CpuImage"
    gpu_image = "GpuImage"
    cpu_run_security_group = "CpuRunSecurityGroupId"
    gpu_run_security_group = "GpuRunSecurityGroupId"
    cpu_run_task_role = "CpuRunTaskRoleArn"
    cpu_run_execution_role = "CpuRunExecutionRoleArn"
    gpu_run_task_role = "GpuRunTaskRoleArn"
    gpu_run_execution_role = "GpuRunExecutionRoleArn"
    gpu_spot_provider = "GpuSpotCapacityProvider"
    gpu_on_demand_provider = "GpuOnDemandCapacityProvider"
    gpu_task_cpu = "GpuTaskCpu"
    gpu_task_memory = "GpuTaskMemory"
    flow_run_log_group = "FlowRunLogGroup"
    storage_url = "StorageUrl"
    database_url_secret = "DatabaseUrlSecretArn"
    prefect_auth_secret = "PrefectAuthSecretArn"  # base stack; absent when prefect_auth=none
    prefect_auth_mode = "PrefectAuthMode"
    model_cache_file_system = "ModelCacheFileSystemId"
    model_cache_access_point = "ModelCacheAccessPointId"
    metrics_namespace = "MetricsNamespace"
    gpu_hours_daily_alert = "GpuHoursDailyAlert"
    gpu_seconds_per_job_alert = "GpuSecondsPerJobAlert"
    render_concurrency = "GpuRenderConcurrency"  # clips of one job in flight at once
    gpu_pool_limit = "GpuPoolConcurrencyLimit"  # render-clip runs at once over all jobs
    rails_queue_url = "RailsQueueUrl"
    rails_dead_letter_queue_url = "RailsDeadLetterQueueUrl"
    rails_events_queue_url = "RailsEventsQueueUrl"
    rails_policy = "RailsPolicyArn"
    alerts_topic = "AlertsTopicArn"
