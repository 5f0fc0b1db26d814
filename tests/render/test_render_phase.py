"""Phase 2 glue on the real database and artifact store: planning, the clip unit, downgrades."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from sqlmodel import select

from db.enums import ClipStatus, ConfidenceTier
from db.enums import MotionType as M
from db.models import AnalysisResult, Clip, Job
from db.session import session_scope
from tasks.media.video import probe
from tasks.costs import record_gpu_seconds
from tasks.render.clip_unit import render_clip
from tasks.render.phase import plan_clips, run_render
from tasks.settings import get_settings
from tests.render.phase1_rows import PhotoSpec, RoomSpec, seed_phase1

FPS, WIDTH, HEIGHT = 15, 480, 270


@pytest.fixture
def small_clips(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Clips at 480x270, 15 fps: the same code path as 1080p, a fraction of the time."""
    for name, value in (("CLIP_FPS", FPS), ("CLIP_WIDTH", WIDTH), ("CLIP_HEIGHT", HEIGHT), ("GENERATOR", "parallax")):
        monkeypatch.setenv(f"PICAIVID_{name}", str(value))
    get_settings.cache_clear()


def clips(job_id: uuid.UUID) -> list[Clip]:
    with session_scope() as session:
        return list(session.exec(select(Clip).where(Clip.job_id == job_id).order_by(Clip.id)))


def photo_spec(views: dict, stem: str, depth: bool = True) -> PhotoSpec:
    image, unit = views[stem]
    return PhotoSpec(stem, image, unit if depth else None)


@pytest.fixture(scope="module")
def views(listing_root: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from tests.render.clip_makers import sample_photo

    stems = ("living_a", "living_b", "kitchen_a", "kitchen_b", "bedroom_a", "exterior_front_a", "exterior_front_b")
    return {stem: sample_photo(listing_root, stem) for stem in stems}


def test_plan_follows_the_analysis_and_is_idempotent(small_clips, store, views) -> None:
    seeded = seed_phase1(store, [
        RoomSpec("living_room", ConfidenceTier.medium, M.two_image_reveal,
                 [photo_spec(views, "living_a"), photo_spec(views, "living_b")]),
        RoomSpec("kitchen", ConfidenceTier.low, M.subtle_pan, [photo_spec(views, "kitchen_a")]),
        RoomSpec("bedroom", ConfidenceTier.high, M.multi_image_synthesis,
                 [photo_spec(views, "bedroom_a"), photo_spec(views, "kitchen_b")]),  # only two views
        RoomSpec("front_exterior", ConfidenceTier.low, M.micro_push_in,
                 [photo_spec(views, "exterior_front_a"), photo_spec(views, "exterior_front_b")]),
    ], opening="exterior_front_b", closing="living_a")
    ids = plan_clips(seeded.job_id)
    rows = {c.id: c for c in clips(seeded.job_id)}
    assert sorted(ids) == sorted(rows) and len(ids) == 5
    planned = {(rows[i].render_params["role"], rows[i].motion_type, tuple(rows[i].source_photo_ids)) for i in ids}
    p = seeded.photo_ids
    assert planned == {
        ("room", M.two_image_reveal, (p["living_a"], p["living_b"])),
        ("room", M.subtle_pan, (p["kitchen_a"],)),
        ("room", M.two_image_reveal, (p["bedroom_a"], p["kitchen_b"])),  # multi shrunk to two views
        ("room", M.micro_push_in, (p["exterior_front_a"],)),
        ("opening", M.micro_push_in, (p["exterior_front_b"],)),  # the closing photo leads a room clip
    }
    assert all(r.status is ClipStatus.pending and r.attempt == 0 and (r.fps, r.width) == (FPS, WIDTH)
               for r in rows.values())
    assert plan_clips(seeded.job_id) == ids and len(clips(seeded.job_id)) == 5


def test_every_other_usable_view_gets_its_own_clip(small_clips, store, views) -> None:
    seeded = seed_phase1(store, [
        RoomSpec("kitchen", ConfidenceTier.low, M.micro_push_in,
                 [photo_spec(views, "kitchen_a"), photo_spec(views, "kitchen_b"), photo_spec(views, "living_b")]),
    ])
    ids = plan_clips(seeded.job_id)
    rows = {c.id: c for c in clips(seeded.job_id)}
    p = seeded.photo_ids
    shots = sorted((rows[i].render_params["role"], tuple(rows[i].source_photo_ids)) for i in ids)
    views_shown = {s[1][0] for s in shots if s[0] == "view"}
    assert len(ids) == 3 and [s[0] for s in shots].count("room") == 1
    assert views_shown | {s[1][0] for s in shots if s[0] == "room"} == {p["kitchen_a"], p["kitchen_b"], p["living_b"]}
    assert all(rows[i].motion_type in (M.subtle_pan, M.micro_push_out) for i in ids if rows[i].render_params["role"] == "view")


def test_a_new_analysis_supersedes_clips_it_no_longer_plans(small_clips, store, views) -> None:
    seeded = seed_phase1(store, [RoomSpec("kitchen", ConfidenceTier.low, M.subtle_pan, [photo_spec(views, "kitchen_a")])])
    (old,) = plan_clips(seeded.job_id)
    with session_scope() as session:
        session.execute(sa.update(AnalysisResult).where(AnalysisResult.job_id == seeded.job_id)
                        .values(recommended_motion=M.micro_push_out))
    (new,) = plan_clips(seeded.job_id)
    status = {c.id: c.status for c in clips(seeded.job_id)}
    assert new != old and status == {old: ClipStatus.superseded, new: ClipStatus.pending}
    with session_scope() as session:  # and back: the old clip is wanted again, the new one is not
        session.execute(sa.update(AnalysisResult).where(AnalysisResult.job_id == seeded.job_id)
                        .values(recommended_motion=M.subtle_pan))
    assert plan_clips(seeded.job_id) == [old]
    assert {c.id: c.status for c in clips(seeded.job_id)} == {old: ClipStatus.pending, new: ClipStatus.superseded}


def test_durations_are_sized_to_the_target_and_only_unrendered_clips_follow_a_change(small_clips, store, views) -> None:
    """No music: even pacing, the standard template's 0.6 s transitions; two shots share the target."""
    seeded = seed_phase1(store, [
        RoomSpec("kitchen", ConfidenceTier.low, M.subtle_pan, [photo_spec(views, "kitchen_a")]),
        RoomSpec("living_room", ConfidenceTier.low, M.micro_push_in, [photo_spec(views, "living_a")]),
    ], target_length=6.0)
    ids = plan_clips(seeded.job_id)
    first = clips(seeded.job_id)
    assert [c.duration for c in first] == [50 / FPS] * 2  # (6 + 0.6) / 2 = 3.3 s, up to a whole frame
    assert all(c.render_params["natural_duration"] == 1.0 for c in first)
    rendered, waiting = ids
    with session_scope() as session:  # one clip has been rendered meanwhile
        session.execute(sa.update(Clip).where(Clip.id == rendered).values(status=ClipStatus.done, s3_uri="file:///x.mp4"))
        session.execute(sa.update(Job).where(Job.id == seeded.job_id).values(target_length=8.0))
    assert plan_clips(seeded.job_id) == ids  # the same rows: duration is not part of the natural key
    after = {c.id: c for c in clips(seeded.job_id)}
    assert after[waiting].duration == 65 / FPS and after[waiting].status is ClipStatus.pending  # (8 + 0.6) / 2
    assert after[rendered].duration == 50 / FPS and after[rendered].s3_uri == "file:///x.mp4"  # its footage is kept


def test_a_clip_renders_uploads_validates_and_a_retry_does_nothing(small_clips, store, views) -> None:
    seeded = seed_phase1(store, [RoomSpec("living_room", ConfidenceTier.low, M.micro_push_in,
                                          [photo_spec(views, "living_a")], duration=1.2)])
    (clip_id,) = plan_clips(seeded.job_id)
    result = render_clip(clip_id)
    assert result["status"] == "done" and not result["noop"] and result["chain"] == [clip_id]
    (row,) = clips(seeded.job_id)
    assert row.model_used == "parallax-cpu" and row.attempts == 1 and row.gpu_seconds == 0.0
    assert row.validation_score >= 0.5 and row.validation_metrics["depth_backend"] == "layout-prior"
    assert row.render_params["backend"] == "parallax" and row.render_params["depth_sources"] == {
        str(seeded.photo_ids["living_a"]): "phase1"}
    local = store.get_file(row.s3_uri, Path(get_settings().data_dir) / "check.mp4")
    info = probe(local)
    assert (info.width, info.height, info.fps, info.frame_count) == (WIDTH, HEIGHT, FPS, 18)
    assert row.duration == pytest.approx(1.2)

    again = render_clip(clip_id)
    (after,) = clips(seeded.job_id)
    assert again["noop"] and again["status"] == "done"
    assert (after.attempts, after.updated_at, after.s3_uri) == (1, row.updated_at, row.s3_uri)


def test_a_rejected_clip_steps_down_to_the_plain_2d_floor_and_every_attempt_is_kept(small_clips, store, views) -> None:
    """Phase 1 measured depth, but the stored map is flat: the render is a flat card move, which
    the parallax check rejects twice; the floor, a plain 2D push in, is judged only on what a rigid
    move can get wrong, so the photo still gets its clip."""
    image, _ = views["living_a"]
    seeded = seed_phase1(store, [RoomSpec("living_room", ConfidenceTier.low, M.subtle_pan,
                                          [PhotoSpec("living_a", image, np.zeros(image.shape[:2], np.float32))])])
    with session_scope() as session:  # the photo row says: deep, layered, not planar
        session.execute(sa.text("UPDATE photos SET depth_variance = 0.05, depth_layering = 3, planarity = 0.2"))
    (clip_id,) = plan_clips(seeded.job_id)
    result = render_clip(clip_id)
    first, second, third = clips(seeded.job_id)
    assert (first.id, first.status, first.motion_type, first.attempt) == (clip_id, ClipStatus.rejected, M.subtle_pan, 0)
    assert "no_parallax" in first.error and first.validation_metrics["parallax"] < 0.03 and first.s3_uri
    assert (second.status, second.motion_type, second.attempt, second.downgraded_from_id) == (
        ClipStatus.rejected, M.micro_push_in, 1, first.id)
    assert "no_parallax" in second.error and second.s3_uri and second.render_params["backend"] == "parallax"
    assert second.render_params["downgrade"]["kind"] == "rejected"
    assert (third.status, third.motion_type, third.attempt, third.downgraded_from_id) == (
        ClipStatus.done, M.micro_push_in, 2, second.id)
    assert third.render_params["plain_2d"] is True and third.s3_uri
    assert third.validation_metrics["judged_checks"] == ["flicker", "frozen"]
    assert result["chain"] == [first.id, second.id, third.id] and result["status"] == "done"
    render_clip(clip_id)  # a finished chain is not rendered again
    assert len(clips(seeded.job_id)) == 3


def test_an_unreadable_photo_is_dropped_and_the_reveal_becomes_a_push_in(small_clips, store, views) -> None:
    seeded = seed_phase1(store, [RoomSpec("living_room", ConfidenceTier.medium, M.two_image_reveal,
                                          [photo_spec(views, "living_a"), photo_spec(views, "living_b")])])
    with session_scope() as session:
        uri = session.execute(sa.text("SELECT s3_uri FROM photos WHERE original_filename = 'living_b'")).scalar()
    store.delete(uri)
    (clip_id,) = plan_clips(seeded.job_id)
    assert render_clip(clip_id)["status"] == "done"
    first, second = clips(seeded.job_id)
    assert first.status is ClipStatus.failed and "missing from the store" in first.error
    assert (second.motion_type, second.source_photo_ids, second.status) == (
        M.micro_push_in, [seeded.photo_ids["living_a"]], ClipStatus.done)
    assert second.render_params["downgrade"]["kind"] == "unreadable_sources"


def test_a_backend_that_cannot_load_falls_back_to_cpu_parallax(small_clips, store, views, monkeypatch) -> None:
    monkeypatch.setenv("PICAIVID_GENERATOR", "ltx2")  # and no PICAIVID_LTX2_MODEL: LTX-2 cannot load
    get_settings.cache_clear()
    seeded = seed_phase1(store, [RoomSpec("kitchen", ConfidenceTier.low, M.micro_push_out,
                                          [photo_spec(views, "kitchen_a")])])
    (clip_id,) = plan_clips(seeded.job_id)
    assert render_clip(clip_id)["status"] == "done"
    first, second = clips(seeded.job_id)
    assert first.status is ClipStatus.failed and "LTX2_MODEL" in first.error
    assert (second.motion_type, second.model_used, second.render_params["downgrade"]["kind"]) == (
        M.micro_push_out, "parallax-cpu", "gpu_failure")


def test_missing_depth_is_estimated_with_the_phase1_model(small_clips, store, views) -> None:
    seeded = seed_phase1(store, [RoomSpec("kitchen", ConfidenceTier.low, M.micro_push_in,
                                          [photo_spec(views, "kitchen_a", depth=False)])])
    (clip_id,) = plan_clips(seeded.job_id)
    render_clip(clip_id)
    (row,) = clips(seeded.job_id)
    assert row.render_params["depth_sources"] == {str(seeded.photo_ids["kitchen_a"]): "estimated:layout-prior"}
    assert row.status is ClipStatus.done


def test_run_render_goes_on_past_a_broken_room_and_a_rerun_renders_nothing(small_clips, store, views) -> None:
    junk = PhotoSpec("junk", views["kitchen_a"][0], None)
    seeded = seed_phase1(store, [
        RoomSpec("living_room", ConfidenceTier.low, M.micro_push_in, [photo_spec(views, "living_a")]),
        RoomSpec("kitchen", ConfidenceTier.low, M.micro_push_in, [junk]),
    ])
    with session_scope() as session:
        uri = session.execute(sa.text("SELECT s3_uri FROM photos WHERE original_filename = 'junk'")).scalar()
    store.put_bytes(uri.split("/artifacts/", 1)[1], b"\xff\xd8 truncated jpeg")
    summary = run_render(seeded.job_id)
    assert summary["statuses"] == {"done": 1, "failed": 1}
    failed = next(c for c in clips(seeded.job_id) if c.status is ClipStatus.failed)
    assert "unreadable source photos" in failed.error and ("corrupt" in failed.error or "not an image" in failed.error)
    before = {c.id: (c.status, c.attempts) for c in clips(seeded.job_id)}
    rerun = run_render(seeded.job_id)
    assert all(s["noop"] for s in rerun["clips"] if s["status"] == "done")
    after = {c.id: (c.status, c.attempts) for c in clips(seeded.job_id)}
    assert {k: v for k, v in after.items() if v[0] is ClipStatus.done} == {
        k: v for k, v in before.items() if v[0] is ClipStatus.done}


def test_gpu_seconds_add_up_on_the_clip_and_the_job(small_clips, store, views) -> None:
    seeded = seed_phase1(store, [RoomSpec("kitchen", ConfidenceTier.low, M.micro_push_in,
                                          [photo_spec(views, "kitchen_a")])])
    (clip_id,) = plan_clips(seeded.job_id)
    record_gpu_seconds(seeded.job_id, clip_id, 12.5)
    record_gpu_seconds(seeded.job_id, clip_id, 2.5)
    with session_scope() as session:
        assert session.get(Clip, clip_id).gpu_seconds == 15.0
        assert session.get(Job, seeded.job_id).gpu_seconds == 15.0


def test_panoramas_sweep_and_low_resolution_photos_get_short_plain_pushes(small_clips, store, views) -> None:
    """The planner reads each photo's size: a 640x361 hero (3x to fill 1080p, past the soft limit)
    gets a short plain 2D push in, a 6000x700 panorama a plain pan across its width, and neither
    joins a multi-view clip; both render and pass."""
    import cv2

    image, depth = views["kitchen_a"]
    small = PhotoSpec("kitchen_small", cv2.resize(image, (640, 361), interpolation=cv2.INTER_AREA),
                      cv2.resize(depth, (640, 361)), final_score=0.9)
    strip = np.concatenate([views["exterior_front_a"][0], views["exterior_front_b"][0]], axis=1)
    pano = PhotoSpec("panorama", cv2.resize(strip, (6000, 700), interpolation=cv2.INTER_CUBIC),
                     np.zeros((700, 6000), np.float32), final_score=0.8)
    seeded = seed_phase1(store, [RoomSpec("kitchen", ConfidenceTier.medium, M.two_image_reveal,
                                          [small, pano, photo_spec(views, "kitchen_b")])], target_length=30.0)
    ids = plan_clips(seeded.job_id)
    rows = {tuple(c.source_photo_ids): c for c in clips(seeded.job_id)}
    p = seeded.photo_ids
    assert len(ids) == 3 and all(len(k) == 1 for k in rows)  # no reveal pairs either of them
    push, sweep = rows[(p["kitchen_small"],)], rows[(p["panorama"],)]
    assert (push.motion_type, push.render_params["plain_2d"], push.render_params["static_safe"]) == (
        M.micro_push_in, True, True)
    assert push.duration <= get_settings().soft_limit_max_seconds  # stays short while others grow to the target
    assert (sweep.motion_type, sweep.render_params["sweep"], sweep.render_params["backend"]) == (
        M.subtle_pan, True, "parallax")
    summary = run_render(seeded.job_id)
    assert summary["statuses"] == {"done": 3}, summary
    done = {tuple(c.source_photo_ids): c for c in clips(seeded.job_id)}
    assert done[(p["panorama"],)].validation_metrics["judged_checks"] == ["flicker", "frozen"]


def test_phase2_renders_only_what_phase1_allowed(small_clips, store, views) -> None:
    """A room not 3D eligible gets no multi-image clip, a view whose room does not allow a pan gets
    the next move down, and each clip carries the LTX-2 path of its motion (Phase 1's when it fits)."""
    seeded = seed_phase1(store, [
        RoomSpec("kitchen", ConfidenceTier.low, M.micro_push_in, [photo_spec(views, "kitchen_a"), photo_spec(views, "kitchen_b")],
                 allowed=(M.micro_push_in, M.micro_push_out)),
        RoomSpec("bedroom", ConfidenceTier.high, M.multi_image_synthesis,
                 [photo_spec(views, "bedroom_a"), photo_spec(views, "living_a"), photo_spec(views, "living_b")],
                 is_3d_eligible=False),
    ])
    plan_clips(seeded.job_id)
    p = seeded.photo_ids
    rows = {tuple(c.source_photo_ids): c for c in clips(seeded.job_id)}
    bedroom = rows[(p["bedroom_a"], p["living_a"])]
    assert (bedroom.motion_type, bedroom.render_params["planned_motion"], bedroom.render_params["model"]) == (
        M.two_image_reveal, "multi_image_synthesis", "ltx2-keyframe-interpolation")
    assert "Phase 1 recommended ltx2-multi-keyframe" in bedroom.render_params["model_reason"]
    kitchen_view = rows[(p["kitchen_b"],)]  # the first view clip would pan: the kitchen allows no pan
    assert (kitchen_view.render_params["role"], kitchen_view.motion_type) == ("view", M.micro_push_in)
    assert rows[(p["living_b"],)].motion_type is M.micro_push_out  # the bedroom allows every single-image move
    kitchen = rows[(p["kitchen_a"],)]
    assert kitchen.render_params["model"] == "ltx2-i2v-camera-lora" and "model_reason" not in kitchen.render_params


def test_a_failed_clip_is_final_for_render_and_dispatch(small_clips, store, views) -> None:
    """The lifecycle's meaning of `failed` (could not be produced): neither the clip unit nor the
    dispatcher tries it again; a new plan or a person does."""
    from flows.dispatch import dispatch_clip

    seeded = seed_phase1(store, [RoomSpec("kitchen", ConfidenceTier.low, M.micro_push_in,
                                          [photo_spec(views, "kitchen_a")])])
    (clip_id,) = plan_clips(seeded.job_id)
    with session_scope() as session:
        session.execute(sa.update(Clip).where(Clip.id == clip_id).values(status=ClipStatus.failed, error="gone"))
    result = render_clip(clip_id)
    assert result["noop"] and (result["status"], result["error"]) == ("failed", "gone")
    assert dispatch_clip.fn(clip_id)["status"] == "failed"
    (row,) = clips(seeded.job_id)
    assert (row.status, row.attempts, row.s3_uri) == (ClipStatus.failed, 0, None)
