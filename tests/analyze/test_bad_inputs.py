"""The bad-input listing through Phase 1 on the Rails path: photo rows that point at s3:// keys
Rails chose (moto in server mode), no intake of ours. Every row ends used or with its reason."""

from __future__ import annotations

import pytest
from sqlmodel import select

from db.models import Job, Photo
from db.session import session_scope
from tasks.analyze.phase import run_analyze
from tasks.settings import get_settings
from tasks.storage import sha256_bytes, store_from_url
from tests.analyze.phase_jobs import sample_listing
from tests.bad_listing import EXPECTED, KITCHEN, LARGE_JPEG_FULL_DECODE_LIMIT, OVERRIDES, PANNED, USED, make_bad_listing


@pytest.mark.slow  # builds the listing (a 39 MP JPEG among it) and analyses 20 photos
def test_rails_rows_of_every_kind_end_used_or_with_a_reason(db, s3_bucket, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PICAIVID_MAX_FULL_DECODE_PIXELS", str(LARGE_JPEG_FULL_DECODE_LIMIT))
    get_settings.cache_clear()
    folder = make_bad_listing(sample_listing(), tmp_path / "upload")
    store = store_from_url(f"s3://{s3_bucket}/rails")
    import uuid

    job_id = uuid.uuid4()
    with session_scope() as s:
        s.add(Job(id=job_id, template_type="standard"))
        s.flush()
        for i, path in enumerate(sorted(folder.iterdir())):
            data = path.read_bytes()
            # Rails' own key: an upload id, no file name (so nothing can be judged by suffix here)
            uri = store.put_bytes(f"uploads/{job_id}/{i}", data)
            s.add(Photo(job_id=job_id, s3_uri=uri, original_filename=path.name, content_sha256=sha256_bytes(data),
                        manual_metadata=OVERRIDES.get(path.name, {})))
    summary = run_analyze(job_id, store=store)

    with session_scope() as s:
        job = s.get(Job, job_id)
        rows = {p.original_filename: p for p in s.exec(select(Photo).where(Photo.job_id == job_id))}
    check_rows(rows)
    assert (rows["panorama.jpg"].width, rows["panorama.jpg"].height) == (6000, 700)
    assert (rows["living_c_large.jpg"].width, rows["living_c_large.jpg"].height) == (7680, 5120)
    kept = kept_kitchen(rows)
    assert job.opening_photo_id == kept.id  # hero_global was set on its CMYK copy, and carried
    (group,) = [g for g in summary["duplicates"] if g["kept"] == kept.original_filename]
    assert len(group["duplicates"]) == 5


def kept_kitchen(rows: dict[str, Photo]) -> Photo:
    (kept,) = [rows[n] for n, e in EXPECTED.items() if e == KITCHEN and rows[n].duplicate_of_photo_id is None]
    return kept


def check_rows(rows: dict[str, Photo]) -> None:
    """Each file ends as EXPECTED says: used (placed in a room) or left out with its reason."""
    kept = kept_kitchen(rows)
    for name, expected in EXPECTED.items():
        row = rows[name]
        reason = row.unusable_reason or row.quality_gate_reason
        if expected == KITCHEN and row is not kept:
            assert row.duplicate_of_photo_id == kept.id and reason.startswith(f"duplicate of {kept.original_filename}")
        elif expected in (USED, PANNED, KITCHEN):
            assert reason is None and row.room_cluster_id is not None, f"{name}: {reason}"
        else:
            assert reason and expected in reason, f"{name}: expected {expected!r}, got {reason!r}"
            assert row.room_cluster_id is None
