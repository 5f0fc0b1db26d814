"""The CDK app: the base (images, Prefect credential), the production environment, the dev GPU instance.

`cdk` runs this module (`--app "python -m infra.app"`); `python -m infra.synth` calls `build_app`
directly. Either way the context decides everything and nothing is looked up in AWS.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import aws_cdk as cdk

from infra.config import InfraConfig
from infra.dev_gpu import DevGpuStack
from infra.stack import BaseStack, PicaividStack

CONTEXT_KEYS = tuple(InfraConfig.__dataclass_fields__)


def build_app(context: Mapping[str, object], outdir: Path | None = None) -> cdk.App:
    """All stacks for the given context; synthesis writes them to `outdir` (default: cdk.out or CDK_OUTDIR)."""
    cfg = InfraConfig.from_context(context)
    app = cdk.App(outdir=str(outdir) if outdir else None, context=dict(context),
                  analytics_reporting=False)
    env = cdk.Environment(account=cfg.account, region=cfg.region)
    base = BaseStack(app, cfg, env=env, description="Picaivid image repositories and Prefect credential")
    PicaividStack(app, cfg, base.prefect_auth, env=env,
                  description="Picaivid media pipeline: ECS Spot GPU, Prefect, SQS, S3, Postgres")
    DevGpuStack(app, cfg, env=env, description="Picaivid dev: one persistent Spot GPU instance, stopped when idle")
    return app


def main() -> None:
    probe = cdk.App()  # reads the context the cdk CLI passes (CDK_CONTEXT_JSON), and cdk.json's
    context = {k: v for k in CONTEXT_KEYS if (v := probe.node.try_get_context(k)) is not None}
    build_app(context).synth()


if __name__ == "__main__":
    main()
