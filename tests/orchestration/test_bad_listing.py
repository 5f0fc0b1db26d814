"""The bad-input listing end to end through the CLI: `picaivid job create` then `picaivid run`.

The job completes; every photo row is either shown by a finished clip or carries a reason (never
both), the panorama is panned across its width, and no clip shows a photo with its duplicate.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from db.enums import ClipStatus, JobStatus
from db.models import Clip, Job, Photo
from db.session import session_scope
from flows.cli import app
from tests.analyze.phase_jobs import sample_listing
from tests.analyze.test_bad_inputs import check_rows, kept_kitchen
from tests.bad_listing import EXPECTED, LARGE_JPEG_FULL_DECODE_LIMIT, make_bad_listing

pytestmark = pytest.mark.slow


def test_a_bad_listing_makes_a_video_and_every_photo_is_used_or_has_a_reason(
    db: str, prefect_api: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks.settings import get_settings

    monkeypatch.setenv("PICAIVID_CLIP_WIDTH", "320")
    monkeypatch.setenv("PICAIVID_CLIP_HEIGHT", "180")
    monkeypatch.setenv("PICAIVID_MAX_FULL_DECODE_PIXELS", str(LARGE_JPEG_FULL_DECODE_LIMIT))
    get_settings.cache_clear()
    folder = make_bad_listing(sample_listing(), tmp_path / "upload")
    runner = CliRunner()
    res = runner.invoke(app, ["job", "create", "--photos", str(folder), "--metadata", str(tmp_path / "overrides.json"),
                              "--target-length", "12", "--json"])
    assert res.exit_code == 0, res.output
    job_id = uuid.UUID(json.loads(res.stdout)["job_id"])
    res = runner.invoke(app, ["run", str(job_id), "--json"])
    assert res.exit_code == 0, res.output

    with session_scope() as s:
        job = s.get(Job, job_id)
        rows = {p.original_filename: p for p in s.exec(select(Photo).where(Photo.job_id == job_id))}
        clips = list(s.exec(select(Clip).where(Clip.job_id == job_id)))
    assert job.status is JobStatus.completed and job.final_video_uri
    assert set(rows) == set(EXPECTED)
    check_rows(rows)

    done = [c for c in clips if c.status is ClipStatus.done]
    shown = {pid for c in done for pid in c.source_photo_ids}
    for row in rows.values():  # the property: in the plan, or a reason, never both
        reason = row.unusable_reason or row.quality_gate_reason or ("excluded" if row.exclude else None)
        assert (row.id in shown) != bool(reason), f"{row.original_filename}: shown={row.id in shown}, reason={reason}"
    assert not [c for c in clips if c.status is ClipStatus.failed and not c.downgraded_from_id and
                not any(d.downgraded_from_id == c.id for d in clips)], "a usable photo lost its clip"

    pano = rows["panorama.jpg"]
    (sweep,) = [c for c in done if c.source_photo_ids == [pano.id]]
    assert sweep.render_params["sweep"] is True and sweep.render_params["plain_2d"] is True
    kitchen_copies = {rows[n].id for n in EXPECTED if n.startswith("kitchen_a")}
    assert all(len(set(c.source_photo_ids) & kitchen_copies) <= 1 for c in clips)
    assert kept_kitchen(rows).id in shown
