"""GPU cost control: usage from Postgres, thresholds, the CloudWatch metric (moto over HTTP)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from db.enums import ConfidenceTier, MotionType
from db.models import Clip, Job, RoomCluster
from db.session import session_scope
from flows.cli import app
from tasks.costs import gpu_usage, record_gpu_seconds


def _clip(job_id) -> int:
    with session_scope() as s:
        cluster = RoomCluster(job_id=job_id, room_type="kitchen", confidence_tier=ConfidenceTier.low, image_count=1)
        s.add(cluster)
        s.flush()
        clip = Clip(job_id=job_id, room_cluster_id=cluster.id, source_photo_ids=[1],
                    motion_type=MotionType.micro_push_in, confidence_tier=ConfidenceTier.low, duration=4)
        s.add(clip)
        s.flush()
        return clip.id


def _job():
    with session_scope() as s:
        job = Job()
        s.add(job)
    return job.id


def test_usage_per_day_and_job_and_alerts(db: str, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    from tasks.settings import get_settings

    monkeypatch.setenv("PICAIVID_GPU_SECONDS_PER_JOB_ALERT", "100")
    get_settings.cache_clear()
    a, b = _job(), _job()
    clip_a, clip_b, old = _clip(a), _clip(b), _clip(b)
    assert record_gpu_seconds(a, clip_a, 60) == []
    over = record_gpu_seconds(a, clip_a, 50)
    assert over and "110 GPU seconds" in over[0]
    record_gpu_seconds(b, clip_b, 30)
    record_gpu_seconds(b, old, 3600)
    with session_scope() as s:  # one of b's clips was rendered two days ago (past the trigger that keeps updated_at current)
        s.execute(sa.text("ALTER TABLE clips DISABLE TRIGGER clips_touch_updated_at"))
        s.execute(sa.update(Clip).where(Clip.id == old).values(updated_at=datetime.now(timezone.utc) - timedelta(days=2)))
        s.execute(sa.text("ALTER TABLE clips ENABLE TRIGGER clips_touch_updated_at"))
        assert s.get(Job, a).gpu_seconds == pytest.approx(110)
    usage = gpu_usage()
    assert [d["gpu_hours"] for d in usage["days"]] == [1.0, pytest.approx(140 / 3600, abs=1e-4)]
    assert {j["job_id"]: j["gpu_seconds"] for j in usage["jobs"]} == {str(a): 110, str(b): 3630}
    recent = gpu_usage(since=datetime.now(timezone.utc).date())
    assert recent["total_gpu_hours"] == pytest.approx(140 / 3600, abs=1e-4)

    res = CliRunner().invoke(app, ["gpu-usage", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["total_gpu_hours"] == pytest.approx(3740 / 3600, abs=1e-3)
    bad = CliRunner().invoke(app, ["gpu-usage", "--since", "yesterday"])
    assert bad.exit_code != 0 and "--since must be a date" in bad.stderr


def test_metric_published_to_cloudwatch(db: str, aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tasks.settings import get_settings

    monkeypatch.setenv("PICAIVID_METRICS_NAMESPACE", "PicaividTest")
    get_settings.cache_clear()
    job = _job()
    record_gpu_seconds(job, _clip(job), 42)
    cw = boto3.client("cloudwatch")
    names = cw.list_metrics(Namespace="PicaividTest")["Metrics"]
    series = sorted((m["MetricName"], tuple(d["Value"] for d in m["Dimensions"])) for m in names)
    assert series == [("GpuSeconds", ()), ("GpuSeconds", (str(job),)), ("JobGpuSeconds", ())]
    stats = cw.get_metric_statistics(
        Namespace="PicaividTest", MetricName="GpuSeconds", Dimensions=[{"Name": "JobId", "Value": str(job)}],
        StartTime=datetime.now(timezone.utc) - timedelta(hours=1), EndTime=datetime.now(timezone.utc) + timedelta(minutes=5),
        Period=3600, Statistics=["Sum"],
    )
    assert stats["Datapoints"][0]["Sum"] == 42


def test_gpu_time_outside_rendering_is_counted_and_flagged(db: str) -> None:
    """The lifecycle spends GPU time only while a clip is rendering: time recorded against a clip
    in another state is still counted (it was spent) but logged as a caller's slip."""
    import structlog

    from db.enums import ClipStatus

    job = _job()
    rendering, pending = _clip(job), _clip(job)
    with session_scope() as s:
        s.execute(sa.update(Clip).where(Clip.id == rendering).values(status=ClipStatus.rendering))
    with structlog.testing.capture_logs() as logs:
        record_gpu_seconds(job, rendering, 5)
        record_gpu_seconds(job, pending, 7)
    slips = [e for e in logs if e["event"] == "gpu.spend_outside_rendering"]
    assert [(e["clip_id"], e["status"]) for e in slips] == [(pending, "pending")]
    with session_scope() as s:
        assert s.get(Job, job).gpu_seconds == pytest.approx(12)
