"""What one deployment of the stacks may vary, read from CDK context (`-c key=value`).

Every value has a default, so `python -m infra.synth` works with no context and no AWS access;
a real deployment passes at least `account`, `region`, `prefect_api_url` and `alert_email`.
The defaults that the application also reads (alert thresholds, render concurrency) come from
`tasks.settings.Settings`, so the alarms and the app agree unless someone overrides both.
"""

from __future__ import annotations

import math
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields

from tasks.settings import Settings

GPU_INSTANCES: dict[str, tuple[int, int, float]] = {
    # vCPUs, host memory (GiB), GPU memory free to PyTorch after the CUDA context (GiB; the A10G
    # and L4 show ~22 of 24 GB, the L40S ~44.5 of 48 GB, see bench/results/ltx2_memory.md).
    "g5.xlarge": (4, 16, 22.0), "g5.2xlarge": (8, 32, 22.0), "g5.4xlarge": (16, 64, 22.0), "g5.8xlarge": (32, 128, 22.0),
    "g6.xlarge": (4, 16, 22.0), "g6.2xlarge": (8, 32, 22.0), "g6.4xlarge": (16, 64, 22.0), "g6.8xlarge": (32, 128, 22.0),
    "g6e.xlarge": (4, 32, 44.5), "g6e.2xlarge": (8, 64, 44.5), "g6e.4xlarge": (16, 128, 44.5), "g6e.8xlarge": (32, 256, 44.5),
}
TASK_MEMORY_SHARE = 0.9
"""Of an instance's nominal memory, what a task may reserve: ECS registers less than the nominal size."""

PREFECT_AUTH_MODES = ("api_key", "auth_string", "none")


def _app_default(name: str) -> typing.Any:
    return Settings.model_fields[name].default


@dataclass(frozen=True)
class InfraConfig:
    env_name: str = "prod"
    account: str = "000000000000"  # placeholder: a deploy with it fails loudly instead of landing anywhere
    region: str = "us-east-1"
    availability_zones: tuple[str, ...] = ()  # default: <region>a, b, c (named, so synth needs no lookup)
    nat_gateways: int = 1

    # GPU capacity. LTX-2 19B + Gemma-3 12B does not fit a g5.xlarge (24 GB VRAM, 16 GiB host);
    # the first type is the cheapest per clip that fits (g6e.xlarge: L40S 48 GB, fp8 weights resident),
    # bench/results/ltx2_cost.md, tests/render/test_ltx2_cost.py. The second widens the Spot pools with the same GPU.
    gpu_instance_types: tuple[str, ...] = ("g6e.xlarge", "g6e.2xlarge")
    gpu_spot_max: int = 4
    gpu_on_demand_max: int = 2
    gpu_clips_per_job: int = _app_default("gpu_render_concurrency")  # clips of one job in flight at once
    gpu_root_volume_gib: int = 200  # image layers (CUDA + torch) and scratch
    gpu_task_cpu: int = 0  # 0: derived from the smallest instance type
    gpu_task_memory_mib: int = 0  # 0: derived from the smallest instance type

    image_tag: str = "latest"
    prefect_api_url: str = "https://api.prefect.cloud/api/accounts/ACCOUNT_ID/workspaces/WORKSPACE_ID"
    prefect_auth: str = "api_key"  # api_key (Prefect Cloud), auth_string (self-hosted basic auth), none

    database_url_secret_arn: str = ""  # an existing secret holding a full DATABASE_URL; empty: create RDS
    db_instance_class: str = "t4g.medium"
    db_multi_az: bool = False

    clip_expiry_days: int = 30
    rails_max_receive_count: int = 5

    gpu_hours_daily_alarm: float = _app_default("gpu_hours_daily_alert")
    gpu_seconds_per_job_alarm: float = _app_default("gpu_seconds_per_job_alert")
    monthly_budget_usd: float = 1000.0
    alert_email: str = ""

    dev_name: str = "dev"
    dev_instance_type: str = "g6e.xlarge"
    dev_model_cache_gib: int = 300
    dev_idle_minutes: int = 60
    dev_idle_cpu_percent: float = 5.0

    def __post_init__(self) -> None:
        problems = []
        for name in ("env_name", "dev_name"):
            if not re.fullmatch(r"[a-z][a-z0-9-]{0,15}", getattr(self, name)):
                problems.append(f"{name} must be 1-16 lowercase letters, digits or dashes")
        if not self.gpu_instance_types:
            problems.append("gpu_instance_types must name at least one instance type")
        unknown = [t for t in self.gpu_instance_types if t not in GPU_INSTANCES]
        if unknown and not (self.gpu_task_cpu and self.gpu_task_memory_mib):
            problems.append(f"set gpu_task_cpu and gpu_task_memory_mib for {', '.join(unknown)}")
        if self.prefect_auth not in PREFECT_AUTH_MODES:
            problems.append(f"prefect_auth must be one of {', '.join(PREFECT_AUTH_MODES)}")
        if self.nat_gateways < 1:
            problems.append("nat_gateways must be >= 1: tasks in private subnets reach ECR and Prefect through NAT")
        if self.gpu_spot_max < 1 or self.gpu_on_demand_max < 0:
            problems.append("gpu_spot_max must be >= 1 and gpu_on_demand_max >= 0")
        if not 1 <= self.gpu_clips_per_job <= self.gpu_pool_limit:
            problems.append(f"gpu_clips_per_job must be between 1 and the GPU pool's limit ({self.gpu_pool_limit})")
        if self.dev_idle_minutes < 5 or self.dev_idle_minutes % 5:
            problems.append("dev_idle_minutes must be a multiple of 5 (the alarm's period)")
        if self.dev_idle_minutes > 24 * 60:
            problems.append("dev_idle_minutes must be at most a day (CloudWatch alarm window)")
        for name in ("gpu_hours_daily_alarm", "gpu_seconds_per_job_alarm", "monthly_budget_usd", "clip_expiry_days"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be positive")
        if problems:
            raise ValueError("invalid infra context: " + "; ".join(problems))

    @classmethod
    def from_context(cls, context: Mapping[str, object]) -> InfraConfig:
        """Typed config from CDK context, whose `-c` values arrive as strings."""
        hints = typing.get_type_hints(cls)
        known = {f.name for f in fields(cls)}
        unknown = sorted(k for k in context if k not in known)
        if unknown:
            raise ValueError(f"unknown infra context keys: {', '.join(unknown)}")
        return cls(**{k: _coerce(k, v, hints[k]) for k, v in context.items()})

    # --- names: one place, so stacks, pools and docs agree ---------------------------------

    @property
    def prefix(self) -> str:
        return f"picaivid-{self.env_name}"

    @property
    def azs(self) -> tuple[str, ...]:
        return self.availability_zones or tuple(f"{self.region}{z}" for z in "abc")

    @property
    def cpu_pool(self) -> str:
        return f"{self.prefix}-cpu"

    @property
    def gpu_pool(self) -> str:
        return f"{self.prefix}-gpu"

    @property
    def gpu_pool_limit(self) -> int:
        """render-clip runs at once over all jobs: the GPU work pool's concurrency limit, one per instance."""
        return self.gpu_spot_max + self.gpu_on_demand_max

    @property
    def gpu_spot_provider(self) -> str:
        return f"{self.prefix}-gpu-spot"

    @property
    def gpu_on_demand_provider(self) -> str:
        return f"{self.prefix}-gpu-ondemand"

    @property
    def cpu_repository(self) -> str:
        return f"{self.prefix}-cpu"

    @property
    def gpu_repository(self) -> str:
        return f"{self.prefix}-gpu"

    @property
    def metrics_namespace(self) -> str:
        """Per environment, because the app's GpuSeconds metric carries no environment dimension."""
        return f"Picaivid/{self.env_name}"

    @property
    def main_stack_name(self) -> str:
        return f"Picaivid-{self.env_name}"

    @property
    def base_stack_name(self) -> str:
        return f"Picaivid-{self.env_name}-Base"

    @property
    def prefect_auth_secret_name(self) -> str:
        return f"{self.prefix}/prefect-{self.prefect_auth.replace('_', '-')}"

    @property
    def dev_stack_name(self) -> str:
        return f"Picaivid-DevGpu-{self.dev_name}"

    def gpu_task_size(self) -> tuple[int, int]:
        """CPU units and MiB a render task reserves: all of the smallest GPU class in the group.

        One render per instance, so the task takes the whole host, less what ECS does not register.
        """
        if self.gpu_task_cpu and self.gpu_task_memory_mib:
            return self.gpu_task_cpu, self.gpu_task_memory_mib
        vcpus = min(GPU_INSTANCES[t][0] for t in self.gpu_instance_types)
        gib = min(GPU_INSTANCES[t][1] for t in self.gpu_instance_types)
        memory = math.floor(gib * 1024 * TASK_MEMORY_SHARE / 512) * 512
        return self.gpu_task_cpu or vcpus * 1024, self.gpu_task_memory_mib or memory


def _coerce(name: str, value: object, hint: object) -> object:
    if not isinstance(value, str):
        return tuple(value) if hint == tuple[str, ...] and isinstance(value, list) else value
    try:
        if hint is bool:
            if value.lower() not in {"true", "false", "1", "0", "yes", "no"}:
                raise ValueError(value)
            return value.lower() in {"true", "1", "yes"}
        if hint is int:
            return int(value)
        if hint is float:
            return float(value)
        if hint == tuple[str, ...]:
            return tuple(v.strip() for v in value.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"context {name}={value!r} is not a valid {getattr(hint, '__name__', hint)}") from None
    return value
