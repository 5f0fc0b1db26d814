"""The Phase 1 review page: pictures, plans and every override's effect, in one offline file."""

from __future__ import annotations

import html
import re
import uuid

import typer
from sqlmodel import select
from typer.testing import CliRunner

from db.models import AnalysisResult, Job, Photo, RoomCluster
from db.session import session_scope
from flows.cli.report import report
from tasks.analyze.phase import run_analyze
from tasks.analyze.report import build_report
from tests.analyze.phase_jobs import JobPhoto, create_job, listing_photos, sample_listing
from tests.analyze.test_phase import blurred


def flagged_job() -> uuid.UUID:
    photos = listing_photos(
        sample_listing(),
        {
            "kitchen_b.jpg": {"hero_room": True, "hero_priority": 2},
            "exterior_front_b.jpg": {"preferred_closing": True},
        },
        only=["exterior_front_a", "exterior_front_b", "kitchen_a", "kitchen_b", "bathroom_a"],
    )
    # Photos of their own, not copies of the ones above: a copy would be grouped as a duplicate and
    # its flags carried to the photo it copies (tests/analyze/test_duplicates.py).
    living_a, living_b = listing_photos(sample_listing(), only=["living_a", "living_b"])
    photos += [
        JobPhoto("blurry_hero.jpg", blurred(living_a.data), {"hero_global": True}),
        JobPhoto("dropped.jpg", living_b.data, {"preferred_opening": True}, exclude=True),
        JobPhoto("garbage.jpg", b"GIF89a not really"),
    ]
    photos[4].room_override = "laundry"  # bathroom_a
    return create_job(photos)


def test_report_shows_rooms_pictures_and_override_effects(db):
    job_id = flagged_job()
    run_analyze(job_id)
    page = build_report(job_id)
    text = html.unescape(page)
    with session_scope() as s:
        clusters = s.exec(select(RoomCluster).where(RoomCluster.job_id == job_id)).all()
        results = s.exec(select(AnalysisResult).where(AnalysisResult.job_id == job_id)).all()
        photos = {p.original_filename: p for p in s.exec(select(Photo).where(Photo.job_id == job_id))}
        job = s.get(Job, job_id)

    # Self-contained: every picture inline, nothing fetched from anywhere.
    assert not re.search(r'src="(?!data:)', page)
    analysed = [p for p in photos.values() if p.depth_uri]
    usable = [p for p in photos.values() if p.usable]
    # Each usable photo once, a depth map beside each analysed one, and the two picks shown again.
    assert page.count('src="data:image/jpeg;base64,') == len(usable) + len(analysed) + 2
    # Each room: its label, tier and motion; one hero each; depth next to each analysed photo.
    for cluster, result in zip(
        sorted(clusters, key=lambda c: c.id), sorted(results, key=lambda r: r.room_cluster_id), strict=True
    ):
        assert f"<h3>{cluster.room_type} " in page
        assert f'tier-{result.tier.value}">{result.tier.value}' in page
        assert f'chip rec">{result.recommended_motion.value}' in page
        assert result.debug_metrics["tier"]["reason"] in text
    assert page.count(">HERO<") == len(results)
    assert page.count(">OPENING<") == 2 and page.count(">CLOSING<") == 2  # the picks and their room cards
    assert job.closing_photo_id == photos["exterior_front_b.jpg"].id
    # Every override's effect, in words.
    assert "preferred_closing: chosen as closing" in text
    assert "hero_room: hero of its room" in text
    assert "hero_priority 2: +0.10" in text
    assert "hero_global: no effect, refused by the quality gate (too blurry" in text
    assert "exclude: manual bonus -0.90, removed from every choice" in text
    assert "room_override laundry: relabelled its group from" in text
    assert "not an image" in text  # the unusable photo and why


def test_report_before_analysis_says_so(db):
    job_id = create_job(listing_photos(sample_listing(), only=["bathroom_a"]))
    page = build_report(job_id)
    assert "No analysis yet" in page and "bathroom_a.jpg" in page


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("report")(report)
    app.command("noop")(lambda: None)  # two commands, so typer keeps the command name
    return app


def test_cli_writes_the_page(db, tmp_path):
    job_id = create_job(listing_photos(sample_listing(), only=["kitchen_a", "kitchen_b"]))
    run_analyze(job_id)
    out = tmp_path / "review" / "report.html"
    result = CliRunner().invoke(cli(), ["report", str(job_id), "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert page.startswith("<!doctype html>") and "kitchen_a.jpg" in page


def test_cli_refuses_an_unknown_job(db, tmp_path):
    result = CliRunner().invoke(cli(), ["report", str(uuid.uuid4()), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 1
    assert not (tmp_path / "r.html").exists()
    result = CliRunner().invoke(cli(), ["report", "not-a-uuid", "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 1
