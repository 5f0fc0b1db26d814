"""The artifact bucket: photos, music, clips and finals, encrypted and never public.

Intermediate clips expire; finals and inputs do not. S3 lifecycle filters match key prefixes,
so every clip must live under one shared prefix (`CLIP_PREFIX`), apart from the job's other
artifacts, which stay under `jobs/<job_id>/`.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import InfraConfig

CLIP_PREFIX = "clips/"
"""Where `tasks.storage.keys.clip` must put clips (`clips/<job_id>/<clip_id>.mp4`) for them to expire."""


def artifact_bucket(scope: Construct, cfg: InfraConfig) -> s3.Bucket:
    return s3.Bucket(
        scope, "Artifacts",
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        enforce_ssl=True,
        versioned=False,  # keys are deterministic and retried writes overwrite: versions would only pile up
        removal_policy=RemovalPolicy.RETAIN,
        lifecycle_rules=[
            s3.LifecycleRule(
                id="expire-intermediate-clips",
                prefix=CLIP_PREFIX,
                expiration=Duration.days(cfg.clip_expiry_days),
            ),
            s3.LifecycleRule(
                id="abort-incomplete-uploads",  # interrupted multipart uploads (Spot) cost storage until aborted
                abort_incomplete_multipart_upload_after=Duration.days(1),
            ),
        ],
    )
