"""The LTX-2 path end to end through the clip unit production uses, on a tiny random LTX-2.

Settings name a local model folder (saved from the tiny pipeline of test_ltx2), so the real
loader, the generator adapter, encoding, upload, validation and the downgrade all run. A
random model makes noise, so the validator is expected to reject it and the ladder to end on
the CPU parallax renderer; either way the LTX-2 attempt is kept with what it recorded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import LTX2VideoTransformer3DModel
from sqlmodel import select

from db.enums import ClipStatus, ConfidenceTier, MotionType
from db.models import Clip, Job
from db.session import session_scope
from tasks.media.video import probe
from tasks.render.clip_unit import render_clip
from tasks.render.phase import plan_clips
from tasks.settings import get_settings
from tests.render.clip_makers import sample_photo
from tests.render.phase1_rows import PhotoSpec, RoomSpec, seed_phase1


@pytest.fixture(scope="module")
def tiny_ltx2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.render.ltx2_tiny import save_tiny_model, write_published_lora

    torch.set_num_threads(1)
    path = save_tiny_model(tmp_path_factory.mktemp("tiny-ltx2-clip"))
    transformer = LTX2VideoTransformer3DModel.from_pretrained(path, subfolder="transformer")
    write_published_lora(transformer, path / "distilled.safetensors", ("to_q", "to_v"), seed=2)
    return path


@pytest.mark.slow
def test_ltx2_clip_runs_through_the_clip_unit(db: str, store, listing_root: Path, tiny_ltx2: Path,
                                              monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    for name, value in (("GENERATOR", "ltx2"), ("LTX2_MODEL", str(tiny_ltx2)), ("LTX2_CAMERA_LORAS", "{}"),
                        ("LTX2_DISTILLED_LORA", str(tiny_ltx2 / "distilled.safetensors")),
                        ("LTX2_MAX_PIXELS", "4096"),
                        ("CLIP_FPS", "8"), ("CLIP_WIDTH", "192"), ("CLIP_HEIGHT", "128")):
        monkeypatch.setenv(f"PICAIVID_{name}", value)
    get_settings.cache_clear()
    image, depth = sample_photo(listing_root, "kitchen_a")
    seeded = seed_phase1(store, [RoomSpec("kitchen", ConfidenceTier.low, MotionType.micro_push_in,
                                          [PhotoSpec("kitchen_a", image, depth)], duration=1.0)])
    (clip_id,) = plan_clips(seeded.job_id)
    result = render_clip(clip_id)
    with session_scope() as session:
        rows = list(session.exec(select(Clip).where(Clip.job_id == seeded.job_id).order_by(Clip.id)))
        job_gpu = session.get(Job, seeded.job_id).gpu_seconds
    first = rows[0]
    assert first.model_used == f"ltx2:{tiny_ltx2}" and first.s3_uri
    assert first.render_params["generator"]["pipeline"] == "LTX2ConditionPipeline"
    assert first.render_params["generator"]["recipe"] == "distilled"  # the low tier's default
    assert first.render_params["generator"]["frames"] == 8
    info = probe(store.get_file(first.s3_uri, tmp_path / "ltx.mp4"))
    assert (info.width, info.height, info.frame_count, info.fps) == (192, 128, 8, 8.0)
    assert first.validation_metrics["sub_scores"]  # it was validated
    assert first.gpu_seconds == 0.0 and job_gpu == 0.0  # ran on the CPU: no GPU time to account
    if first.status is ClipStatus.rejected:
        last = rows[-1]
        assert (last.status, last.model_used, last.downgraded_from_id) == (
            ClipStatus.done, "parallax-cpu", first.id)
    else:
        assert first.status is ClipStatus.done
    assert result["status"] == "done" and result["chain"] == [r.id for r in rows]
    assert np.isfinite(first.validation_score)
