"""Phase 1 end to end on real PostgreSQL and a real file store, with the fallback backends."""

from __future__ import annotations

import io
import uuid
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from sqlmodel import select

from db.enums import EXTERIOR_ROOMS, ClipStatus, ConfidenceTier, MotionType
from db.models import AnalysisResult, Clip, Job, Photo, RoomCluster, Timeline, TimelineClip
from db.queries import job_summary
from db.session import session_scope
from flows.dev.sample_listing import DEMO_OVERRIDES
from tasks.analyze.phase import NoUsablePhotos, run_analyze
from tasks.analyze.plan import ALLOWED_MOTION
from tasks.depth.storage import decode_depth_png
from tasks.domain.manual_flags import InvalidManualMetadata
from tasks.storage import FileStore, get_store
from tests.analyze.phase_jobs import JobPhoto, create_job, listing_photos, sample_listing
from tests.analyze.test_embeddings import tiny_clip_checkpoint  # noqa: F401  (fixture)
from tests.analyze.test_images import png_header_only
from tests.depth.test_depth import tiny_dpt  # noqa: F401  (fixture)


def rows(job_id: uuid.UUID):
    with session_scope() as s:
        job = s.get(Job, job_id)
        photos = {p.original_filename: p for p in s.exec(select(Photo).where(Photo.job_id == job_id))}
        clusters = {c.id: c for c in s.exec(select(RoomCluster).where(RoomCluster.job_id == job_id))}
        results = {
            r.room_cluster_id: r
            for r in s.exec(select(AnalysisResult).where(AnalysisResult.job_id == job_id))
        }
    return job, photos, clusters, results


def grouping(photos: dict[str, Photo]) -> set[frozenset[str]]:
    groups = defaultdict(set)
    for name, p in photos.items():
        if p.room_cluster_id is not None:
            groups[p.room_cluster_id].add(name)
    return {frozenset(g) for g in groups.values()}


def blurred(data: bytes, sigma: float = 4.0) -> bytes:
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    out = io.BytesIO()
    Image.fromarray(cv2.GaussianBlur(rgb, (0, 0), sigma)).save(out, "JPEG", quality=92)
    return out.getvalue()


@pytest.fixture
def listing():
    return sample_listing()


def test_sample_listing_rooms_plan_and_overrides(db, listing):
    job_id = create_job(listing_photos(listing, DEMO_OVERRIDES))
    summary = run_analyze(job_id)
    job, photos, clusters, results = rows(job_id)

    # Same room, several views: the groups are exactly the listing's rooms, each named right.
    truth = {frozenset(g) for g in listing.overlap_groups} | {frozenset({"bathroom_a.jpg"})}
    assert grouping(photos) == truth
    truth_room = {p.path.name: p.room_type.value for p in listing.photos}
    for cluster in clusters.values():
        members = [n for n, p in photos.items() if p.room_cluster_id == cluster.id]
        assert cluster.image_count == len(members)
        assert {truth_room[n] for n in members} == {cluster.room_type}, members
        assert all(photos[n].room_label == cluster.room_type for n in members)

    # One plan per room, internally consistent, with the reasons a person needs.
    assert set(results) == set(clusters)
    for cid, result in results.items():
        cluster = clusters[cid]
        assert result.tier == cluster.confidence_tier
        assert result.allowed_motion_types == [m.value for m in ALLOWED_MOTION[result.tier]]
        assert result.recommended_motion.value in result.allowed_motion_types
        assert cluster.overlap_score is None and cluster.sfm_eligible is None  # COLMAP off: not assessed
        d = result.debug_metrics
        assert d["inputs"]["overlap"]["assessed"] is False
        for key in ("tier", "recommended_motion", "is_3d_eligible", "hero"):
            assert d[key]["reason"], key
        assert {m["photo_id"] for m in d["members"]} == {
            p.id for p in photos.values() if p.room_cluster_id == cid
        }
        if cluster.image_count == 1:
            assert result.tier is ConfidenceTier.low

    # Overrides: kitchen_b is hero_room; living_a hero_global opens; exterior_front_b closes.
    hero_of = {clusters[cid].id: r.hero_photo_id for cid, r in results.items()}
    kitchen_b = photos["kitchen_b.jpg"]
    assert hero_of[kitchen_b.room_cluster_id] == kitchen_b.id
    assert results[kitchen_b.room_cluster_id].debug_metrics["hero"]["rule"] == "hero_room"
    assert job.opening_photo_id == photos["living_a.jpg"].id
    assert job.closing_photo_id == photos["exterior_front_b.jpg"].id
    assert results[photos["living_a.jpg"].room_cluster_id].debug_metrics["opening"]["rule"] == "hero_global"
    assert (
        results[photos["exterior_front_b.jpg"].room_cluster_id].debug_metrics["closing"]["rule"]
        == "preferred_closing"
    )
    assert photos["living_a.jpg"].final_score == pytest.approx(photos["living_a.jpg"].base_score + 0.30)
    assert photos["kitchen_b.jpg"].final_score == pytest.approx(
        photos["kitchen_b.jpg"].base_score + 0.20 + 0.10
    )

    # Scores and depth on every photo; depth maps in the store as 16-bit PNGs.
    store = get_store()
    for p in photos.values():
        assert p.usable and p.quality_gate_reason is None
        assert 0 <= p.sharpness <= 1 and 0 <= p.exposure_score <= 1 and 0 <= p.composition_score <= 1
        assert (p.width, p.height) == listing.size
        depth = decode_depth_png(store.get_bytes(p.depth_uri))
        assert depth.min() >= 0 and depth.max() <= 1 and depth.std() > 0.05
        assert p.depth_variance == pytest.approx(float(depth.var()), abs=0.02)
        assert len(p.embedding) > 10

    assert job.analysis_backends == summary["backends"]
    assert job.analysis_backends["embedding"] == "classical-fallback"
    assert job.analysis_backends["depth"] == "layout-prior"
    assert summary["eligible"] == len(listing.photos)


def test_bad_files_are_unusable_with_reasons_and_the_rest_goes_on(db, listing):
    truncated = listing.photos[0].path.read_bytes()
    photos = listing_photos(listing, only=["kitchen_a", "kitchen_b", "bathroom_a"]) + [
        JobPhoto("empty.jpg", b""),
        JobPhoto("notes.jpg", b"these are not pixels\n" * 10),
        JobPhoto("cut.jpg", truncated[: len(truncated) // 2]),
        JobPhoto("bomb.png", png_header_only(30_000, 30_000)),
    ]
    job_id = create_job(photos)
    summary = run_analyze(job_id)
    _, rows_, clusters, results = rows(job_id)
    assert not rows_["empty.jpg"].usable and "empty" in rows_["empty.jpg"].unusable_reason
    assert not rows_["notes.jpg"].usable and "not an image" in rows_["notes.jpg"].unusable_reason
    assert not rows_["cut.jpg"].usable and "truncated" in rows_["cut.jpg"].unusable_reason
    for name in ("empty.jpg", "notes.jpg", "cut.jpg"):
        assert rows_[name].room_cluster_id is None and rows_[name].sharpness is None
    assert not rows_["bomb.png"].usable and "decompression bomb" in rows_["bomb.png"].unusable_reason
    assert summary["eligible"] == 3
    assert summary["unusable"].keys() == {"empty.jpg", "notes.jpg", "cut.jpg", "bomb.png"}
    assert sum(c.image_count for c in clusters.values()) == 3


def test_a_photo_missing_from_the_store_is_unusable(db, listing):
    job_id = create_job(listing_photos(listing, only=["kitchen_a", "bathroom_a"]))
    with session_scope() as s:
        photo = s.exec(
            select(Photo).where(Photo.job_id == job_id, Photo.original_filename == "kitchen_a.jpg")
        ).one()
    get_store().delete(photo.s3_uri)
    run_analyze(job_id)
    _, photos, _, _ = rows(job_id)
    assert not photos["kitchen_a.jpg"].usable and "missing" in photos["kitchen_a.jpg"].unusable_reason
    assert photos["bathroom_a.jpg"].room_cluster_id is not None


def test_no_usable_photo_fails_clearly_and_writes_nothing(db):
    job_id = create_job([JobPhoto("a.jpg", b""), JobPhoto("b.png", b"<html></html>")])
    with pytest.raises(NoUsablePhotos) as err:
        run_analyze(job_id)
    assert (
        "no usable photo" in str(err.value) and "a.jpg: empty" in str(err.value) and "b.png" in str(err.value)
    )
    job, photos, clusters, _ = rows(job_id)
    assert not clusters and job.opening_photo_id is None
    assert all(p.usable and p.unusable_reason is None for p in photos.values())  # untouched


def test_blurry_hero_global_is_refused_by_the_gate(db, listing):
    photos = listing_photos(listing, only=["exterior_front_a", "kitchen_a", "bedroom_a"])
    kitchen = next(p for p in photos if p.name == "kitchen_a.jpg")
    kitchen.data = blurred(kitchen.data)
    kitchen.metadata = {"hero_global": True, "hero_room": True, "preferred_opening": True}
    job_id = create_job(photos)
    run_analyze(job_id)
    job, rows_, clusters, results = rows(job_id)
    k = rows_["kitchen_a.jpg"]
    assert k.usable and "blurry" in k.quality_gate_reason
    assert k.final_score == pytest.approx(k.base_score + 0.60)  # scored, bonus shown, still refused
    assert k.room_cluster_id is None
    assert job.opening_photo_id != k.id and job.closing_photo_id != k.id
    assert all(r.hero_photo_id != k.id for r in results.values())
    assert job.opening_photo_id == rows_["exterior_front_a.jpg"].id  # front exterior step instead


def test_exclude_removes_a_photo_from_every_choice(db, listing):
    photos = listing_photos(listing, only=["exterior_front_a", "exterior_front_b", "bedroom_a"])
    photos[0].metadata = {"preferred_opening": True, "preferred_closing": True, "hero_room": True}
    photos[0].exclude = True
    job_id = create_job(photos)
    run_analyze(job_id)
    job, rows_, clusters, results = rows(job_id)
    ex = rows_[photos[0].name]
    assert ex.exclude and ex.room_cluster_id is None and ex.depth_uri is None
    assert ex.final_score == pytest.approx(ex.base_score + 0.10 + 0.10 + 0.20 - 1.0)
    assert ex.id not in {job.opening_photo_id, job.closing_photo_id}
    assert all(r.hero_photo_id != ex.id for r in results.values())
    assert sum(c.image_count for c in clusters.values()) == 2


def test_room_override_forces_the_room(db, listing):
    photos = listing_photos(listing, only=["bedroom_a", "bedroom_b", "bathroom_a"])
    photos[2].room_override = "laundry"
    photos[0].metadata = {"room_override": "office"}
    job_id = create_job(photos)
    run_analyze(job_id)
    _, rows_, clusters, results = rows(job_id)
    assert rows_["bathroom_a.jpg"].room_label == "laundry"
    assert rows_["bedroom_a.jpg"].room_label == "office"
    laundry = clusters[rows_["bathroom_a.jpg"].room_cluster_id]
    assert laundry.room_type == "laundry" and laundry.label_confidence == 1.0
    office = results[rows_["bedroom_a.jpg"].room_cluster_id].debug_metrics
    assert office["room"]["source"] == "manual_override"
    effects = {m["file"]: m["room_override_effect"] for m in office["members"]}
    assert effects["bedroom_a.jpg"]


def test_invalid_manual_metadata_fails_before_anything_is_written(db, listing):
    photos = listing_photos(listing, only=["bedroom_a"])
    photos[0].metadata = {"hero_priority": "lots"}
    job_id = create_job(photos)
    with pytest.raises(InvalidManualMetadata, match="bedroom_a.jpg"):
        run_analyze(job_id)
    _, rows_, clusters, _ = rows(job_id)
    assert not clusters and rows_["bedroom_a.jpg"].sharpness is None


def add_clip_on_a_timeline(job_id: uuid.UUID, cluster_id: int, photo_id: int) -> int:
    with session_scope() as s:
        clip = Clip(
            job_id=job_id,
            room_cluster_id=cluster_id,
            source_photo_ids=[photo_id],
            motion_type=MotionType.micro_push_in,
            confidence_tier=ConfidenceTier.low,
            duration=3.0,
            status=ClipStatus.done,
        )
        s.add(clip)
        s.flush()
        timeline = Timeline(job_id=job_id, version=1, total_duration=3.0, template_type="standard")
        s.add(timeline)
        s.flush()
        s.add(
            TimelineClip(timeline_id=timeline.id, clip_id=clip.id, order_index=0, in_time=0.0, out_time=3.0)
        )
        return clip.id


def snapshot(job_id: uuid.UUID) -> dict:
    job, photos, clusters, results = rows(job_id)
    with session_scope() as s:
        clips = {c.id: c.status for c in s.exec(select(Clip).where(Clip.job_id == job_id))}
    return {
        "job": (job.opening_photo_id, job.closing_photo_id, job.analysis_backends),
        "photos": {
            n: (p.final_score, p.room_cluster_id, p.depth_uri, p.room_label, p.usable)
            for n, p in photos.items()
        },
        "clusters": {
            cid: (c.room_type, c.confidence_tier, c.image_count, c.superseded_at) for cid, c in clusters.items()
        },
        "results": {
            cid: (r.hero_photo_id, r.recommended_motion, r.debug_metrics) for cid, r in results.items()
        },
        "clips": clips,
    }


def test_rerun_replaces_the_analysis_and_supersedes_clips(db, listing):
    job_id = create_job(listing_photos(listing, only=["kitchen_a", "kitchen_b", "bedroom_a", "bedroom_b"]))
    run_analyze(job_id)
    _, photos, first_clusters, _ = rows(job_id)
    kitchen = photos["kitchen_a.jpg"]
    clip_id = add_clip_on_a_timeline(job_id, kitchen.room_cluster_id, kitchen.id)

    with session_scope() as s:  # the person now says kitchen_a is an office
        p = s.get(Photo, kitchen.id)
        p.room_override = "office"
        s.add(p)
    summary = run_analyze(job_id)
    job, photos, clusters, results = rows(job_id)
    assert summary["superseded_clips"] == 1
    with session_scope() as s:
        clip = s.get(Clip, clip_id)
        assert clip.status is ClipStatus.superseded  # kept: the timeline still points at it
        assert s.exec(select(TimelineClip).where(TimelineClip.clip_id == clip_id)).one()
    current = {c for c in clusters if c in results}
    assert len(results) == len(current) == 2  # the kitchen group, now named office, and the bedroom
    assert (
        kitchen.room_cluster_id in clusters and kitchen.room_cluster_id not in results
    )  # kept for the clip only
    assert not (set(first_clusters) - {kitchen.room_cluster_id}) & set(clusters)  # the rest replaced
    assert photos["kitchen_a.jpg"].room_label == photos["kitchen_b.jpg"].room_label == "office"
    assert {photos[n].room_cluster_id for n in photos} <= current


def test_reruns_stamp_cited_clusters_superseded_and_delete_the_rest(db, listing):
    """Clusters of an earlier analysis stay only while a clip cites them, stamped superseded_at
    once; the current analysis is the unstamped clusters, each with its plan, and it is what
    the readers see."""
    job_id = create_job(listing_photos(listing, only=["kitchen_a", "kitchen_b", "bedroom_a"]))
    run_analyze(job_id)
    _, photos, first, _ = rows(job_id)
    assert all(c.superseded_at is None for c in first.values())
    cited = photos["kitchen_a.jpg"].room_cluster_id
    add_clip_on_a_timeline(job_id, cited, photos["kitchen_a.jpg"].id)

    run_analyze(job_id)
    _, _, second, results = rows(job_id)
    stamped = second[cited].superseded_at
    assert stamped is not None and set(first) & set(second) == {cited}
    assert {cid for cid, c in second.items() if c.superseded_at is None} == set(results) == set(second) - {cited}
    assert [c["id"] for c in job_summary(job_id)["analyze"]["clusters"]] == sorted(results)

    run_analyze(job_id)  # no clip cites the second analysis: its clusters go
    _, _, third, now = rows(job_id)
    assert set(third) == {cited} | set(now) and not set(results) & set(third)
    assert third[cited].superseded_at == stamped  # stamped when it was retired, not again


class FailingStore(FileStore):
    """A real file store whose Nth put fails, as a full disk or a dropped S3 connection would."""

    def __init__(self, root: Path, fail_at: int) -> None:
        super().__init__(root)
        self.puts, self.fail_at = 0, fail_at

    def put_bytes(self, key, data, content_type=None):
        self.puts += 1
        if self.puts == self.fail_at:
            raise OSError(f"simulated storage failure on write {self.puts}")
        return super().put_bytes(key, data, content_type)


def test_failure_halfway_leaves_the_previous_analysis_intact(db, listing):
    photos = listing_photos(listing, only=["kitchen_a", "kitchen_b", "bedroom_a", "bathroom_a"])
    job_id = create_job(photos)
    run_analyze(job_id)
    _, rows_, _, _ = rows(job_id)
    add_clip_on_a_timeline(job_id, rows_["bedroom_a.jpg"].room_cluster_id, rows_["bedroom_a.jpg"].id)
    before = snapshot(job_id)

    with session_scope() as s:  # the rerun would change the plan: bathroom flagged as the opener
        p = s.get(Photo, rows_["bathroom_a.jpg"].id)
        p.manual_metadata = {"preferred_opening": True}
        s.add(p)
    store = get_store()
    failing = FailingStore(store.root, fail_at=3)  # after two depth maps and their photo rows
    with pytest.raises(OSError, match="simulated storage failure"):
        run_analyze(job_id, store=failing)
    assert failing.puts == 3
    assert snapshot(job_id) == before  # clusters, plans, scores, picks and clip status all as they were

    run_analyze(job_id)  # and the next good run goes through
    job, after, _, _ = rows(job_id)
    assert job.opening_photo_id == after["bathroom_a.jpg"].id


@pytest.mark.shared_data
def test_published_listing_photos_all_pass_and_get_rooms(db, shared_data):
    """48 real listing photos (../shared/data/listings/houses): every one is used but the two
    narrow portraits (too small for 16:9 at over 5x enlargement) and house 12's bathroom, which is
    byte for byte its bedroom; each used one gets a room, and front exteriors are told from
    interiors."""
    import csv

    root = shared_data / "listings" / "houses"
    with open(root / "labels.csv") as fh:
        labels = list(csv.DictReader(fh))
    job_id = create_job(
        [JobPhoto(r["file"].replace("/", "_"), (root / r["file"]).read_bytes()) for r in labels]
    )
    summary = run_analyze(job_id)
    assert not summary["unusable"]
    assert set(summary["gated"]) == {"2_bathroom.jpg", "7_bathroom.jpg", "12_bathroom.jpg"}
    assert summary["gated"]["12_bathroom.jpg"] == "duplicate of 12_bedroom.jpg"
    assert all(summary["gated"][n].startswith("too small for video: 3") for n in ("2_bathroom.jpg", "7_bathroom.jpg"))
    assert summary["eligible"] == len(labels) - 3
    _, photos, clusters, results = rows(job_id)
    labels = [r for r in labels if r["file"].replace("/", "_") not in summary["gated"]]
    assert set(results) == set(clusters)
    exterior = {r.value for r in EXTERIOR_ROOMS}
    agree = sum(
        (photos[r["file"].replace("/", "_")].room_label in exterior) == (r["room_type"] == "frontal")
        for r in labels
    )
    assert agree / len(labels) >= 0.9, f"exterior/interior agreement {agree}/{len(labels)}"
    assert all(photos[r["file"].replace("/", "_")].depth_uri for r in labels)


@pytest.mark.slow  # builds and loads a tiny OpenCLIP and a tiny DPT through the production loaders
def test_learned_backends_run_and_are_recorded(db, listing, tiny_clip_checkpoint, tiny_dpt, monkeypatch):  # noqa: F811
    from tasks.settings import get_settings

    name, checkpoint, _ = tiny_clip_checkpoint
    folder, _ = tiny_dpt
    monkeypatch.setenv("PICAIVID_CLIP_MODEL", name)
    monkeypatch.setenv("PICAIVID_CLIP_PRETRAINED", str(checkpoint))
    monkeypatch.setenv("PICAIVID_DEPTH_WEIGHTS", str(folder))
    get_settings.cache_clear()
    job_id = create_job(
        listing_photos(listing, only=["kitchen_a", "kitchen_b", "bedroom_a", "exterior_front_a"])
    )
    summary = run_analyze(job_id)
    job, photos, clusters, results = rows(job_id)
    assert job.analysis_backends["embedding"] == f"openclip:{name}/{checkpoint}"
    assert job.analysis_backends["room_label"].endswith(":zero-shot")
    assert job.analysis_backends["depth"] == f"dpt:{folder}"
    assert summary["eligible"] == 4 and set(results) == set(clusters)
    assert all(len(p.embedding) == 32 and p.depth_uri for p in photos.values())
