"""Context → InfraConfig: types from `-c` strings, validation, names and GPU task sizing."""

from __future__ import annotations

import pytest

from infra.config import GPU_INSTANCES, InfraConfig
from tasks.settings import Settings


def test_context_strings_become_typed_values():
    cfg = InfraConfig.from_context({
        "env_name": "staging", "gpu_spot_max": "6", "db_multi_az": "true",
        "gpu_hours_daily_alarm": "12.5", "gpu_instance_types": "g6e.2xlarge, g6e.4xlarge",
    })
    assert cfg.gpu_spot_max == 6 and cfg.db_multi_az is True and cfg.gpu_hours_daily_alarm == 12.5
    assert cfg.gpu_instance_types == ("g6e.2xlarge", "g6e.4xlarge")
    assert cfg.prefix == "picaivid-staging"
    assert cfg.gpu_pool == "picaivid-staging-gpu" and cfg.gpu_spot_provider == "picaivid-staging-gpu-spot"


def test_typed_context_from_cdk_json_is_kept():
    cfg = InfraConfig.from_context({"gpu_instance_types": ["g6e.xlarge"], "nat_gateways": 2})
    assert cfg.gpu_instance_types == ("g6e.xlarge",) and cfg.nat_gateways == 2


@pytest.mark.parametrize("context, message", [
    ({"gpu_spot_maxx": "3"}, "unknown infra context keys: gpu_spot_maxx"),
    ({"gpu_spot_max": "three"}, "gpu_spot_max='three' is not a valid int"),
    ({"db_multi_az": "maybe"}, "db_multi_az='maybe' is not a valid bool"),
    ({"env_name": "Prod_1"}, "env_name must be"),
    ({"prefect_auth": "token"}, "prefect_auth must be one of"),
    ({"gpu_instance_types": "p5.48xlarge"}, "set gpu_task_cpu and gpu_task_memory_mib for p5.48xlarge"),
    ({"nat_gateways": "0"}, "nat_gateways must be >= 1"),
    ({"dev_idle_minutes": "7"}, "multiple of 5"),
    ({"gpu_clips_per_job": "7"}, r"gpu_clips_per_job must be between 1 and the GPU pool.s limit \(6\)"),
])
def test_bad_context_is_refused_with_the_reason(context, message):
    with pytest.raises(ValueError, match=message):
        InfraConfig.from_context(context)


def test_alarm_thresholds_and_render_concurrency_default_to_the_apps_settings():
    cfg = InfraConfig()
    fields = Settings.model_fields
    assert cfg.gpu_hours_daily_alarm == fields["gpu_hours_daily_alert"].default
    assert cfg.gpu_seconds_per_job_alarm == fields["gpu_seconds_per_job_alert"].default
    assert cfg.gpu_clips_per_job == fields["gpu_render_concurrency"].default
    assert cfg.gpu_clips_per_job < cfg.gpu_pool_limit == cfg.gpu_spot_max + cfg.gpu_on_demand_max  # no job takes every GPU


def test_gpu_task_takes_the_smallest_instance_less_what_ecs_keeps():
    assert InfraConfig(gpu_instance_types=("g6e.xlarge", "g6e.2xlarge")).gpu_task_size() == (4096, 29184)
    assert InfraConfig(gpu_instance_types=("g6e.4xlarge",)).gpu_task_size() == (16384, 117760)
    for types in (("g6e.xlarge",), ("g6e.2xlarge", "g6e.4xlarge")):
        _, memory = InfraConfig(gpu_instance_types=types).gpu_task_size()
        smallest = min(GPU_INSTANCES[t][1] for t in types)
        assert memory < smallest * 1024 and memory % 512 == 0


def test_unknown_instance_types_take_an_explicit_task_size():
    cfg = InfraConfig(gpu_instance_types=("p5.48xlarge",), gpu_task_cpu=8192, gpu_task_memory_mib=65536)
    assert cfg.gpu_task_size() == (8192, 65536)


def test_default_availability_zones_are_named_from_the_region():
    assert InfraConfig(region="eu-west-1").azs == ("eu-west-1a", "eu-west-1b", "eu-west-1c")
    assert InfraConfig(availability_zones=("us-east-1b",)).azs == ("us-east-1b",)
