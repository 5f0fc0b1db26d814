"""The schema: migrations and models agree, every table and field exists, the database checks."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from db.enums import ClipStatus, ConfidenceTier, MotionType
from db.models import ALL_TABLES, Clip, Job, Photo, RoomCluster
from db.session import engine_for, sqlalchemy_url

DESIGN_FIELDS = {
    "jobs": "id listing_id status current_phase template_type target_length music_uri bpm "
    "beat_offset enable_beat_sync final_video_uri error stop_after gpu_seconds created_at updated_at",
    "photos": "id job_id s3_uri room_label room_override exclude manual_metadata sharpness "
    "exposure_score composition_score base_score final_score original_filename",
    "room_clusters": "id job_id room_type confidence_tier sfm_eligible image_count overlap_score "
    "depth_variance",
    "analysis_results": "job_id room_cluster_id hero_photo_id recommended_motion "
    "allowed_motion_types recommended_duration tier model_recommendation debug_metrics",
    "clips": "id job_id room_cluster_id source_photo_ids motion_type model_used is_3d duration "
    "s3_uri validation_score status attempts attempt validation_metrics error gpu_seconds",
    "timeline": "id job_id version status beat_grid total_duration",
    "timeline_clips": "id timeline_id clip_id order_index in_time out_time transition_type "
    "audio_policy",
    "edits": "id timeline_id user_id edit_type payload created_at",
}


def test_every_design_field_exists(migrated_db_url: str) -> None:
    inspector = sa.inspect(engine_for(migrated_db_url))
    assert set(ALL_TABLES) <= set(inspector.get_table_names())
    for table, fields in DESIGN_FIELDS.items():
        columns = {c["name"] for c in inspector.get_columns(table)}
        assert set(fields.split()) <= columns, f"{table} lacks {set(fields.split()) - columns}"


def test_json_columns_are_jsonb(migrated_db_url: str) -> None:
    with engine_for(migrated_db_url).connect() as conn:
        rows = conn.execute(
            sa.text(
                "select table_name, column_name, data_type from information_schema.columns "
                "where column_name in ('manual_metadata','debug_metrics','beat_grid','payload')"
            )
        ).all()
    assert {(t, c) for t, c, _ in rows} == {
        ("photos", "manual_metadata"), ("analysis_results", "debug_metrics"),
        ("timeline", "beat_grid"), ("edits", "payload"),
    }
    assert {d for _, _, d in rows} == {"jsonb"}


def test_models_and_migrations_agree(migrated_db_url: str) -> None:
    """Autogenerate against the migrated database finds nothing to do."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    engine = sa.create_engine(sqlalchemy_url(migrated_db_url))
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        diff = compare_metadata(ctx, SQLModel.metadata)
    engine.dispose()
    assert diff == []


def test_upgrade_then_downgrade_leaves_nothing(pg_server_url: str) -> None:
    from db.migrate import downgrade, upgrade
    from db.session import database_name
    from tests.conftest import empty_database

    url = empty_database(pg_server_url, "updown")
    upgrade(url)
    engine = sa.create_engine(sqlalchemy_url(url))
    assert set(ALL_TABLES) <= set(sa.inspect(engine).get_table_names())
    downgrade(url)
    assert set(sa.inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()
    admin = sa.create_engine(sqlalchemy_url(pg_server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{database_name(url)}" WITH (FORCE)'))
    admin.dispose()


def _job_and_cluster(session) -> tuple[Job, RoomCluster, Photo]:
    job = Job()
    session.add(job)
    session.flush()
    cluster = RoomCluster(job_id=job.id, room_type="kitchen", confidence_tier=ConfidenceTier.low, image_count=1)
    photo = Photo(job_id=job.id, s3_uri="file:///x.jpg", original_filename="x.jpg")
    session.add_all([cluster, photo])
    session.flush()
    return job, cluster, photo


def _clip(job: Job, cluster: RoomCluster, photo: Photo, attempt: int = 0) -> Clip:
    return Clip(
        job_id=job.id, room_cluster_id=cluster.id, source_photo_ids=[photo.id],
        motion_type=MotionType.micro_push_in, confidence_tier=ConfidenceTier.low,
        duration=4.0, attempt=attempt,
    )


def test_clip_natural_key_refuses_a_duplicate(db: str) -> None:
    from sqlmodel import Session

    with Session(engine_for(db)) as session:
        job, cluster, photo = _job_and_cluster(session)
        session.add(_clip(job, cluster, photo))
        session.add(_clip(job, cluster, photo, attempt=1))  # a downgrade attempt is a new row
        session.commit()
        session.add(_clip(job, cluster, photo))
        with pytest.raises(IntegrityError, match="uq_clips_natural_key"):
            session.commit()


@pytest.mark.parametrize(
    "table,column,value",
    [
        ("jobs", "status", "exploded"),
        ("jobs", "current_phase", "dance"),
        ("room_clusters", "confidence_tier", "extreme"),
        ("clips", "motion_type", "barrel_roll"),
        ("clips", "status", "maybe"),
        ("timeline_clips", "transition_type", "starwipe"),
    ],
)
def test_database_checks_enumerated_values(db: str, table: str, column: str, value: str) -> None:
    """Rails writes this database too: the CHECK constraints, not Python, must refuse junk."""
    from sqlmodel import Session

    with Session(engine_for(db)) as session:
        job, cluster, photo = _job_and_cluster(session)
        session.add(_clip(job, cluster, photo))
        session.commit()
        targets = {
            "jobs": ("jobs", "id", str(job.id)),
            "room_clusters": ("room_clusters", "id", cluster.id),
            "clips": ("clips", "job_id", str(job.id)),
        }
    engine = engine_for(db)
    if table == "timeline_clips":
        stmt = sa.text(
            "insert into timeline (job_id, version, status, total_duration, template_type, fps, width, height)"
            " values (:j, 1, 'draft', 1, 'standard', 30, 1920, 1080) returning id"
        )
        with engine.begin() as conn:
            tl = conn.execute(stmt, {"j": str(job.id)}).scalar_one()
            clip_id = conn.execute(sa.text("select id from clips limit 1")).scalar_one()
        with pytest.raises(IntegrityError, match="ck_timeline_clips_transition_type"):
            with engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "insert into timeline_clips (timeline_id, clip_id, order_index, in_time, out_time,"
                        " start_time, transition_type, transition_duration, audio_policy)"
                        " values (:t, :c, 0, 0, 1, 0, :v, 0, 'music_only')"
                    ),
                    {"t": tl, "c": clip_id, "v": value},
                )
        return
    tbl, key, key_value = targets[table]
    with pytest.raises(IntegrityError, match=f"ck_{table}_"):
        with engine.begin() as conn:
            conn.execute(sa.text(f"update {tbl} set {column} = :v where {key} = :k"), {"v": value, "k": key_value})


def test_clip_status_values_roundtrip(db: str) -> None:
    from sqlmodel import Session, select

    with Session(engine_for(db)) as session:
        job, cluster, photo = _job_and_cluster(session)
        clip = _clip(job, cluster, photo)
        clip.status = ClipStatus.interrupted
        session.add(clip)
        session.commit()
        raw = session.execute(sa.text("select status from clips")).scalar_one()
        assert raw == "interrupted"
        assert session.exec(select(Clip)).one().status is ClipStatus.interrupted
