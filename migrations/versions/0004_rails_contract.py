"""the Rails contract: database defaults and checks, updated_at trigger, edit status, events outbox

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 06:00:00

A Rails app writes jobs, photos and edits with plain INSERTs, so every column it does not set
gets its value here, values the pipeline cannot handle are refused with a named constraint,
and `updated_at` is kept current by a trigger whoever updates a row.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

TEMPLATES = "('standard', 'social', 'luxury', 'square')"
URI = "~ '^(s3|file)://'"
UPDATED_AT_TABLES = ("jobs", "photos", "room_clusters", "analysis_results", "clips", "timeline")
JOB_STATUSES_OLD = "('pending', 'running', 'stopped', 'completed', 'failed')"
JOB_STATUSES = "('pending', 'running', 'stopped', 'completed', 'failed', 'cancelled')"
EVENT_TYPES = ("phase.started", "job.stopped", "job.completed", "job.failed", "job.cancelled",
               "edit.applied", "edit.rejected")


def upgrade() -> None:
    # defaults for what a caller does not set
    op.alter_column('jobs', 'id', server_default=sa.text('gen_random_uuid()'))
    op.alter_column('jobs', 'status', server_default=sa.text("'pending'"))
    op.alter_column('jobs', 'template_type', server_default=sa.text("'standard'"))
    op.alter_column('jobs', 'enable_beat_sync', server_default=sa.text('true'))
    op.alter_column('photos', 'exclude', server_default=sa.text('false'))
    op.alter_column('photos', 'usable', server_default=sa.text('true'))

    # the new job state
    op.drop_constraint(op.f('ck_jobs_job_status'), 'jobs', type_='check')
    op.create_check_constraint(op.f('ck_jobs_job_status'), 'jobs', f"status IN {JOB_STATUSES}")

    # values the pipeline cannot handle are refused at INSERT
    op.create_check_constraint(op.f('ck_jobs_target_length_range'), 'jobs',
                               'target_length IS NULL OR (target_length > 0 AND target_length <= 600)')
    op.create_check_constraint(op.f('ck_jobs_template_type_known'), 'jobs', f'template_type IN {TEMPLATES}')
    op.create_check_constraint(op.f('ck_jobs_music_uri_scheme'), 'jobs', f'music_uri IS NULL OR music_uri {URI}')
    op.create_check_constraint(op.f('ck_jobs_bpm_range'), 'jobs', 'bpm IS NULL OR (bpm > 0 AND bpm <= 400)')
    op.create_check_constraint(op.f('ck_jobs_beat_offset_nonnegative'), 'jobs',
                               'beat_offset IS NULL OR beat_offset >= 0')
    op.create_check_constraint(op.f('ck_photos_s3_uri_scheme'), 'photos', f's3_uri {URI}')

    # updated_at stays current whoever writes (Rails and Python both do)
    op.execute("""
        CREATE FUNCTION picaivid_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.updated_at := now();
            RETURN NEW;
        END $$""")
    for table in UPDATED_AT_TABLES:
        op.execute(f"CREATE TRIGGER {table}_touch_updated_at BEFORE UPDATE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION picaivid_touch_updated_at()")

    # a photo inserted without a name is named after its URI's last path segment
    op.execute(r"""
        CREATE FUNCTION picaivid_photo_original_filename() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.original_filename IS NULL OR NEW.original_filename = '' THEN
                NEW.original_filename := COALESCE(NULLIF(regexp_replace(NEW.s3_uri, '^.*/', ''), ''), NEW.s3_uri);
            END IF;
            RETURN NEW;
        END $$""")
    op.execute("CREATE TRIGGER photos_original_filename BEFORE INSERT ON photos "
               "FOR EACH ROW EXECUTE FUNCTION picaivid_photo_original_filename()")

    # edits say where they stand
    op.add_column('edits', sa.Column(
        'status', sa.Enum('pending', 'applied', 'rejected', name='edit_status', native_enum=False,
                          create_constraint=True, length=32),
        server_default=sa.text("'pending'"), nullable=False))
    # edits made before this revision were applied when written
    op.execute("UPDATE edits SET status = 'applied' WHERE result_timeline_id IS NOT NULL")
    op.add_column('edits', sa.Column('reason', sa.Text(), nullable=True))
    op.add_column('edits', sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f('ix_edits_status'), 'edits', ['status'], unique=False)

    # the outbox
    op.create_table(
        'events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
        sa.Column('job_id', sa.Uuid(), nullable=False),
        sa.Column('type', sa.Enum(*EVENT_TYPES, name='event_type', native_enum=False, create_constraint=True,
                                  length=32), nullable=False),
        sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column('occurred_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('sqs_sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('webhook_sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_events_job_id_jobs'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_events')),
        sa.UniqueConstraint('event_id', name=op.f('uq_events_event_id')),
    )
    op.create_index(op.f('ix_events_job_id'), 'events', ['job_id'], unique=False)
    op.create_index(op.f('ix_events_next_attempt_at'), 'events', ['next_attempt_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_events_next_attempt_at'), table_name='events')
    op.drop_index(op.f('ix_events_job_id'), table_name='events')
    op.drop_table('events')
    op.drop_index(op.f('ix_edits_status'), table_name='edits')
    op.drop_column('edits', 'applied_at')
    op.drop_column('edits', 'reason')
    op.drop_column('edits', 'status')
    op.execute("DROP TRIGGER photos_original_filename ON photos")
    op.execute("DROP FUNCTION picaivid_photo_original_filename()")
    for table in UPDATED_AT_TABLES:
        op.execute(f"DROP TRIGGER {table}_touch_updated_at ON {table}")
    op.execute("DROP FUNCTION picaivid_touch_updated_at()")
    op.drop_constraint(op.f('ck_photos_s3_uri_scheme'), 'photos', type_='check')
    for name in ('beat_offset_nonnegative', 'bpm_range', 'music_uri_scheme', 'template_type_known',
                 'target_length_range'):
        op.drop_constraint(op.f(f'ck_jobs_{name}'), 'jobs', type_='check')
    op.execute("UPDATE jobs SET status = 'failed', error = 'cancelled' WHERE status = 'cancelled'")
    op.drop_constraint(op.f('ck_jobs_job_status'), 'jobs', type_='check')
    op.create_check_constraint(op.f('ck_jobs_job_status'), 'jobs', f"status IN {JOB_STATUSES_OLD}")
    for table, column in (('photos', 'usable'), ('photos', 'exclude'), ('jobs', 'enable_beat_sync'),
                          ('jobs', 'template_type'), ('jobs', 'status'), ('jobs', 'id')):
        op.alter_column(table, column, server_default=None)
