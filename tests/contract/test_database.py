"""The database enforces the Rails contract: plain INSERTs of the documented columns work, and
what the pipeline cannot handle is refused by a named constraint (raw SQL, as ActiveRecord sends)."""

from __future__ import annotations

import time
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from db.models import MAX_TARGET_LENGTH_S, TEMPLATE_NAMES
from db.session import engine_for


def _insert_job(conn: sa.Connection, **columns: object) -> dict:
    names = ", ".join(columns)
    values = ", ".join(f":{k}" for k in columns)
    return conn.execute(sa.text(f"INSERT INTO jobs ({names}) VALUES ({values}) RETURNING *"), columns).mappings().one()


def test_a_job_from_the_documented_columns_gets_every_default(db: str) -> None:
    with engine_for(db).begin() as conn:
        job = _insert_job(conn, listing_id="L-42", target_length=30.0, music_uri="s3://rails-uploads/l42/track.mp3")
        photo = conn.execute(sa.text(
            "INSERT INTO photos (job_id, s3_uri) VALUES (:j, 's3://rails-uploads/l42/photos/Kitchen%201.jpg') RETURNING *"
        ), {"j": job["id"]}).mappings().one()
    assert isinstance(job["id"], uuid.UUID)
    assert (job["status"], job["template_type"], job["enable_beat_sync"], job["gpu_seconds"]) == (
        "pending", "standard", True, 0.0)
    assert job["analysis_backends"] == {} and job["created_at"] is not None and job["updated_at"] is not None
    assert (photo["original_filename"], photo["exclude"], photo["usable"], photo["manual_metadata"]) == (
        "Kitchen%201.jpg", False, True, {})


def test_updated_at_moves_on_every_update_whoever_writes(db: str) -> None:
    engine = engine_for(db)
    with engine.begin() as conn:
        job = _insert_job(conn, listing_id="L-1")
    time.sleep(0.05)
    with engine.begin() as conn:  # Rails' UPDATE names no updated_at
        after = conn.execute(sa.text("UPDATE jobs SET listing_id = 'L-2' WHERE id = :id RETURNING updated_at"),
                             {"id": job["id"]}).scalar_one()
        forced = conn.execute(sa.text(
            "UPDATE jobs SET listing_id = 'L-3', updated_at = '2000-01-01' WHERE id = :id RETURNING updated_at"),
            {"id": job["id"]}).scalar_one()
    assert after > job["updated_at"]
    assert forced.year > 2000  # a stale value written by hand is replaced


@pytest.mark.parametrize("columns,constraint", [
    ({"target_length": 0}, "ck_jobs_target_length_range"),
    ({"target_length": -5}, "ck_jobs_target_length_range"),
    ({"target_length": MAX_TARGET_LENGTH_S + 1}, "ck_jobs_target_length_range"),
    ({"template_type": "tiktok"}, "ck_jobs_template_type_known"),
    ({"music_uri": "http://169.254.169.254/latest/meta-data"}, "ck_jobs_music_uri_scheme"),
    ({"music_uri": "/etc/passwd"}, "ck_jobs_music_uri_scheme"),
    ({"bpm": 0}, "ck_jobs_bpm_range"),
    ({"status": "done"}, "ck_jobs_job_status"),
])
def test_values_the_pipeline_cannot_handle_are_refused_with_the_constraint_name(
    db: str, columns: dict, constraint: str
) -> None:
    with pytest.raises(IntegrityError, match=constraint), engine_for(db).begin() as conn:
        _insert_job(conn, listing_id="L-9", **columns)


@pytest.mark.parametrize("uri", ["http://example.com/a.jpg", "ftp://x/y.jpg", "kitchen.jpg", ""])
def test_photo_uris_must_be_s3_or_file(db: str, uri: str) -> None:
    with engine_for(db).begin() as conn:
        job = _insert_job(conn, listing_id="L-5")
    with pytest.raises(IntegrityError, match="ck_photos_s3_uri_scheme"), engine_for(db).begin() as conn:
        conn.execute(sa.text("INSERT INTO photos (job_id, s3_uri) VALUES (:j, :u)"), {"j": job["id"], "u": uri})


def test_the_database_knows_the_same_templates_as_the_pipeline() -> None:
    from tasks.domain.templates import TEMPLATES

    assert set(TEMPLATE_NAMES) == set(TEMPLATES)


def test_an_edit_from_rails_starts_pending(db: str) -> None:
    with engine_for(db).begin() as conn:
        job = _insert_job(conn, listing_id="L-7")
        timeline = conn.execute(sa.text(
            "INSERT INTO timeline (job_id, version, status, total_duration, template_type, fps, width, height) "
            "VALUES (:j, 1, 'ready', 10, 'standard', 30, 1920, 1080) RETURNING id"), {"j": job["id"]}).scalar_one()
        edit = conn.execute(sa.text(
            "INSERT INTO edits (timeline_id, edit_type, payload, user_id) "
            "VALUES (:t, 'reorder', '{\"from_index\": 0, \"to_index\": 1}', 'agent-1') RETURNING *"),
            {"t": timeline}).mappings().one()
    assert (edit["status"], edit["reason"], edit["applied_at"], edit["result_timeline_id"]) == ("pending", None, None, None)
    with pytest.raises(IntegrityError, match="ck_edits_edit_type"), engine_for(db).begin() as conn:
        conn.execute(sa.text("INSERT INTO edits (timeline_id, edit_type) VALUES (:t, 'recolour')"), {"t": timeline})
