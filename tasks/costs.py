"""GPU cost control: per-job GPU seconds, daily GPU hours, and alerts over thresholds.

Usage is read from Postgres (clips.gpu_seconds, jobs.gpu_seconds), so the numbers survive
worker restarts. Each recorded render also publishes a CloudWatch metric when
`PICAIVID_METRICS_NAMESPACE` is set (the infra alarms watch it), and a threshold crossing is
logged as the `gpu.threshold_exceeded` event.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timezone

import sqlalchemy as sa
import structlog

from db.models import Clip, Job
from db.session import session_scope
from tasks.domain.clip_lifecycle import GPU_SPEND
from tasks.settings import get_settings

log = structlog.get_logger(__name__)


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def gpu_usage(since: date | None = None) -> dict:
    """GPU hours per UTC day and GPU seconds per job, from the clips that used a GPU."""
    day = sa.func.date_trunc("day", Clip.updated_at).label("day")
    where = [Clip.gpu_seconds > 0]
    if since is not None:
        where.append(Clip.updated_at >= _start_of(since))
    with session_scope() as s:
        days = s.execute(
            sa.select(day, sa.func.sum(Clip.gpu_seconds)).where(*where).group_by(day).order_by(day)
        ).all()
        jobs = s.execute(
            sa.select(Clip.job_id, sa.func.sum(Clip.gpu_seconds), sa.func.count())
            .where(*where).group_by(Clip.job_id).order_by(sa.func.sum(Clip.gpu_seconds).desc())
        ).all()
    return {
        "days": [{"day": d.date().isoformat(), "gpu_hours": round(sec / 3600, 4)} for d, sec in days],
        "jobs": [{"job_id": str(j), "gpu_seconds": round(sec, 2), "clips": n} for j, sec, n in jobs],
        "total_gpu_hours": round(sum(sec for _, sec in days) / 3600, 4),
    }


def thresholds_exceeded(job_seconds: float, today_hours: float) -> list[str]:
    """Which configured limits the numbers are over (pure, so the rule lives in one place)."""
    settings = get_settings()
    over = []
    if job_seconds > settings.gpu_seconds_per_job_alert:
        over.append(f"job used {job_seconds:.0f} GPU seconds (> {settings.gpu_seconds_per_job_alert:.0f})")
    if today_hours > settings.gpu_hours_daily_alert:
        over.append(f"{today_hours:.2f} GPU hours today (> {settings.gpu_hours_daily_alert:.2f})")
    return over


def record_gpu_seconds(job_id: uuid.UUID, clip_id: int, seconds: float) -> list[str]:
    """Add a render's GPU time to its clip and job, publish it, and alert over thresholds.

    Called while the clip is `rendering` (tasks.domain.clip_lifecycle.GPU_SPEND), also when the
    generation then fails or is interrupted: the time was spent."""
    today = datetime.now(timezone.utc).date()
    with session_scope() as s:
        status = s.execute(sa.update(Clip).where(Clip.id == clip_id).values(gpu_seconds=Clip.gpu_seconds + seconds)
                           .returning(Clip.status)).scalar_one()
        job_seconds = s.execute(
            sa.update(Job).where(Job.id == job_id).values(gpu_seconds=Job.gpu_seconds + seconds)
            .returning(Job.gpu_seconds)
        ).scalar_one()
        today_seconds = s.execute(
            sa.select(sa.func.coalesce(sa.func.sum(Clip.gpu_seconds), 0.0))
            .where(Clip.updated_at >= _start_of(today))
        ).scalar_one()
    if status not in GPU_SPEND:  # the lifecycle spends GPU time only while rendering: a caller's slip, still counted
        log.warning("gpu.spend_outside_rendering", job_id=str(job_id), clip_id=clip_id, status=str(status))
    publish_metric(job_id, seconds, job_seconds)
    over = thresholds_exceeded(job_seconds, today_seconds / 3600)
    if over:
        log.warning("gpu.threshold_exceeded", job_id=str(job_id), clip_id=clip_id, reasons=over)
    return over


def publish_metric(job_id: uuid.UUID, seconds: float, job_total_seconds: float) -> None:
    """Into CloudWatch, when a namespace is configured: `GpuSeconds` (overall, and per JobId for
    inspection) and `JobGpuSeconds`, the job's running total, which the per-job alarm watches
    (an alarm cannot watch an open-ended set of JobId series)."""
    namespace = get_settings().metrics_namespace
    if not namespace:
        return
    import boto3

    boto3.client("cloudwatch").put_metric_data(
        Namespace=namespace,
        MetricData=[
            {"MetricName": "GpuSeconds", "Value": seconds, "Unit": "Seconds"},
            {"MetricName": "GpuSeconds", "Value": seconds, "Unit": "Seconds",
             "Dimensions": [{"Name": "JobId", "Value": str(job_id)}]},
            {"MetricName": "JobGpuSeconds", "Value": job_total_seconds, "Unit": "Seconds"},
        ],
    )
