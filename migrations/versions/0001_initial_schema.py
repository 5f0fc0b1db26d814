"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-24 10:25:39.418217
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('jobs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('listing_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('status', sa.Enum('pending', 'running', 'stopped', 'completed', 'failed', name='job_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('current_phase', sa.Enum('analyze', 'render', 'timeline', 'assemble', name='job_phase', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('stop_after', sa.Enum('analyze', 'render', 'timeline', 'assemble', name='job_stop_after', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('template_type', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('target_length', sa.Float(), nullable=True),
    sa.Column('music_uri', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('bpm', sa.Float(), nullable=True),
    sa.Column('beat_offset', sa.Float(), nullable=True),
    sa.Column('enable_beat_sync', sa.Boolean(), nullable=False),
    sa.Column('final_video_uri', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('final_video_facts', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('flow_run_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('gpu_seconds', sa.Float(), server_default='0', nullable=False),
    sa.Column('analysis_backends', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('opening_photo_id', sa.Integer(), nullable=True),
    sa.Column('closing_photo_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    op.create_index(op.f('ix_jobs_listing_id'), 'jobs', ['listing_id'], unique=False)
    op.create_index(op.f('ix_jobs_status'), 'jobs', ['status'], unique=False)
    op.create_table('room_clusters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Uuid(), nullable=False),
    sa.Column('room_type', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('confidence_tier', sa.Enum('low', 'medium', 'high', name='cluster_tier', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('sfm_eligible', sa.Boolean(), nullable=True),
    sa.Column('image_count', sa.Integer(), nullable=False),
    sa.Column('overlap_score', sa.Float(), nullable=True),
    sa.Column('depth_variance', sa.Float(), nullable=True),
    sa.Column('label_confidence', sa.Float(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_room_clusters_job_id_jobs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_room_clusters'))
    )
    op.create_index(op.f('ix_room_clusters_job_id'), 'room_clusters', ['job_id'], unique=False)
    op.create_table('timeline',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('draft', 'ready', 'rendering', 'rendered', 'failed', name='timeline_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('beat_grid', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('total_duration', sa.Float(), nullable=False),
    sa.Column('template_type', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('music_uri', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('fps', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('rendered_uri', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_timeline_job_id_jobs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_timeline')),
    sa.UniqueConstraint('job_id', 'version', name=op.f('uq_timeline_job_id_version'))
    )
    op.create_index(op.f('ix_timeline_job_id'), 'timeline', ['job_id'], unique=False)
    op.create_table('clips',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Uuid(), nullable=False),
    sa.Column('room_cluster_id', sa.Integer(), nullable=False),
    sa.Column('source_photo_ids', postgresql.ARRAY(sa.Integer()), nullable=False),
    sa.Column('motion_type', sa.Enum('micro_push_in', 'micro_push_out', 'subtle_pan', 'two_image_reveal', 'multi_image_synthesis', name='clip_motion', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('model_used', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('is_3d', sa.Boolean(), nullable=False),
    sa.Column('confidence_tier', sa.Enum('low', 'medium', 'high', name='clip_tier', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('duration', sa.Float(), nullable=False),
    sa.Column('fps', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('s3_uri', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('validation_score', sa.Float(), nullable=True),
    sa.Column('validation_metrics', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('render_params', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('status', sa.Enum('pending', 'rendering', 'validating', 'done', 'failed', 'rejected', 'interrupted', 'superseded', name='clip_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('gpu_seconds', sa.Float(), server_default='0', nullable=False),
    sa.Column('downgraded_from_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('attempt >= 0', name=op.f('ck_clips_attempt_nonnegative')),
    sa.ForeignKeyConstraint(['downgraded_from_id'], ['clips.id'], name=op.f('fk_clips_downgraded_from_id_clips'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_clips_job_id_jobs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['room_cluster_id'], ['room_clusters.id'], name=op.f('fk_clips_room_cluster_id_room_clusters'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clips')),
    sa.UniqueConstraint('job_id', 'room_cluster_id', 'motion_type', 'source_photo_ids', 'attempt', name='uq_clips_natural_key')
    )
    op.create_index(op.f('ix_clips_job_id'), 'clips', ['job_id'], unique=False)
    op.create_index(op.f('ix_clips_room_cluster_id'), 'clips', ['room_cluster_id'], unique=False)
    op.create_index(op.f('ix_clips_status'), 'clips', ['status'], unique=False)
    op.create_table('edits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('timeline_id', sa.Integer(), nullable=False),
    sa.Column('result_timeline_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('edit_type', sa.Enum('reorder', 'trim', 'change_transition', 'remove_clip', 'swap_music', 'change_pacing', name='edit_type', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['result_timeline_id'], ['timeline.id'], name=op.f('fk_edits_result_timeline_id_timeline'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['timeline_id'], ['timeline.id'], name=op.f('fk_edits_timeline_id_timeline'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_edits'))
    )
    op.create_index(op.f('ix_edits_timeline_id'), 'edits', ['timeline_id'], unique=False)
    op.create_table('photos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Uuid(), nullable=False),
    sa.Column('s3_uri', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('original_filename', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('content_sha256', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('room_label', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('room_override', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('exclude', sa.Boolean(), nullable=False),
    sa.Column('manual_metadata', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('usable', sa.Boolean(), nullable=False),
    sa.Column('unusable_reason', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('quality_gate_reason', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('sharpness', sa.Float(), nullable=True),
    sa.Column('exposure_score', sa.Float(), nullable=True),
    sa.Column('composition_score', sa.Float(), nullable=True),
    sa.Column('base_score', sa.Float(), nullable=True),
    sa.Column('final_score', sa.Float(), nullable=True),
    sa.Column('room_cluster_id', sa.Integer(), nullable=True),
    sa.Column('depth_variance', sa.Float(), nullable=True),
    sa.Column('depth_layering', sa.Float(), nullable=True),
    sa.Column('planarity', sa.Float(), nullable=True),
    sa.Column('depth_uri', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('embedding', postgresql.ARRAY(sa.Float()), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_photos_job_id_jobs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['room_cluster_id'], ['room_clusters.id'], name=op.f('fk_photos_room_cluster_id_room_clusters'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_photos')),
    sa.UniqueConstraint('job_id', 'original_filename', name=op.f('uq_photos_job_id_original_filename'))
    )
    op.create_index(op.f('ix_photos_job_id'), 'photos', ['job_id'], unique=False)
    op.create_index(op.f('ix_photos_room_cluster_id'), 'photos', ['room_cluster_id'], unique=False)
    op.create_table('analysis_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Uuid(), nullable=False),
    sa.Column('room_cluster_id', sa.Integer(), nullable=False),
    sa.Column('hero_photo_id', sa.Integer(), nullable=True),
    sa.Column('recommended_motion', sa.Enum('micro_push_in', 'micro_push_out', 'subtle_pan', 'two_image_reveal', 'multi_image_synthesis', name='analysis_motion', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('allowed_motion_types', postgresql.ARRAY(sa.String(length=32)), nullable=False),
    sa.Column('recommended_duration', sa.Float(), nullable=False),
    sa.Column('tier', sa.Enum('low', 'medium', 'high', name='analysis_tier', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('model_recommendation', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('is_3d_eligible', sa.Boolean(), nullable=False),
    sa.Column('debug_metrics', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['hero_photo_id'], ['photos.id'], name=op.f('fk_analysis_results_hero_photo_id_photos'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_analysis_results_job_id_jobs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['room_cluster_id'], ['room_clusters.id'], name=op.f('fk_analysis_results_room_cluster_id_room_clusters'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_analysis_results')),
    sa.UniqueConstraint('room_cluster_id', name=op.f('uq_analysis_results_room_cluster_id'))
    )
    op.create_index(op.f('ix_analysis_results_job_id'), 'analysis_results', ['job_id'], unique=False)
    op.create_table('timeline_clips',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('timeline_id', sa.Integer(), nullable=False),
    sa.Column('clip_id', sa.Integer(), nullable=False),
    sa.Column('order_index', sa.Integer(), nullable=False),
    sa.Column('in_time', sa.Float(), nullable=False),
    sa.Column('out_time', sa.Float(), nullable=False),
    sa.Column('start_time', sa.Float(), nullable=False),
    sa.Column('transition_type', sa.Enum('cut', 'fade', 'fadeblack', 'fadewhite', 'dissolve', 'slideleft', 'slideright', 'wipeleft', 'wiperight', 'smoothleft', 'smoothright', 'circleopen', 'zoomin', name='transition_type', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('transition_duration', sa.Float(), nullable=False),
    sa.Column('audio_policy', sa.Enum('music_only', 'duck_music', 'clip_only', 'mix', name='audio_policy', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.CheckConstraint('out_time > in_time AND in_time >= 0', name=op.f('ck_timeline_clips_trim_valid')),
    sa.ForeignKeyConstraint(['clip_id'], ['clips.id'], name=op.f('fk_timeline_clips_clip_id_clips'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['timeline_id'], ['timeline.id'], name=op.f('fk_timeline_clips_timeline_id_timeline'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_timeline_clips')),
    sa.UniqueConstraint('timeline_id', 'order_index', name=op.f('uq_timeline_clips_timeline_id_order_index'))
    )
    op.create_index(op.f('ix_timeline_clips_clip_id'), 'timeline_clips', ['clip_id'], unique=False)
    op.create_index(op.f('ix_timeline_clips_timeline_id'), 'timeline_clips', ['timeline_id'], unique=False)

    # jobs <-> photos reference each other: the jobs side is added once photos exists.
    op.create_foreign_key(op.f('fk_jobs_opening_photo_id_photos'), 'jobs', 'photos', ['opening_photo_id'], ['id'], ondelete='SET NULL')
    op.create_foreign_key(op.f('fk_jobs_closing_photo_id_photos'), 'jobs', 'photos', ['closing_photo_id'], ['id'], ondelete='SET NULL')

def downgrade() -> None:
    op.drop_constraint(op.f('fk_jobs_closing_photo_id_photos'), 'jobs', type_='foreignkey')
    op.drop_constraint(op.f('fk_jobs_opening_photo_id_photos'), 'jobs', type_='foreignkey')
    op.drop_index(op.f('ix_timeline_clips_timeline_id'), table_name='timeline_clips')
    op.drop_index(op.f('ix_timeline_clips_clip_id'), table_name='timeline_clips')
    op.drop_table('timeline_clips')
    op.drop_index(op.f('ix_analysis_results_job_id'), table_name='analysis_results')
    op.drop_table('analysis_results')
    op.drop_index(op.f('ix_photos_room_cluster_id'), table_name='photos')
    op.drop_index(op.f('ix_photos_job_id'), table_name='photos')
    op.drop_table('photos')
    op.drop_index(op.f('ix_edits_timeline_id'), table_name='edits')
    op.drop_table('edits')
    op.drop_index(op.f('ix_clips_status'), table_name='clips')
    op.drop_index(op.f('ix_clips_room_cluster_id'), table_name='clips')
    op.drop_index(op.f('ix_clips_job_id'), table_name='clips')
    op.drop_table('clips')
    op.drop_index(op.f('ix_timeline_job_id'), table_name='timeline')
    op.drop_table('timeline')
    op.drop_index(op.f('ix_room_clusters_job_id'), table_name='room_clusters')
    op.drop_table('room_clusters')
    op.drop_index(op.f('ix_jobs_status'), table_name='jobs')
    op.drop_index(op.f('ix_jobs_listing_id'), table_name='jobs')
    op.drop_table('jobs')
