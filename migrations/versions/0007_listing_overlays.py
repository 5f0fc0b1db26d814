"""listing and agent facts on jobs, output formats, timeline overlays (cards and captions), overlay edits

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-04 07:00:00

Rails writes `jobs.listing` (address, price, agent, brand: db.listing) and `jobs.formats`; the
database refuses what no card can show. Each timeline version gets its cards and captions as
`timeline_overlays` rows, which two new edit types change.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0007'
down_revision = '0005'
branch_labels = None
depends_on = None

EDIT_TYPES_OLD = ('reorder', 'trim', 'change_transition', 'remove_clip', 'swap_music', 'change_pacing')
EDIT_TYPES = (*EDIT_TYPES_OLD, 'change_overlay', 'show_captions')
TOP_KEYS = "'address_lines', 'price', 'beds', 'baths', 'area', 'status', 'agent', 'brand', 'caption_language'"
AGENT_KEYS = "'name', 'brokerage', 'phone', 'email', 'logo_uri', 'headshot_uri'"
URI = "^(s3|file)://"
COLOUR = "^#[0-9A-Fa-f]{6}$"


def only_keys(value: str, keys: str) -> str:
    return (f"CASE WHEN {value} IS NULL OR jsonb_typeof({value}) = 'null' THEN true WHEN jsonb_typeof({value}) <> 'object' THEN false "
            f"ELSE {value} - ARRAY[{keys}] = '{{}}'::jsonb END")


def matches_or_absent(path: str, pattern: str) -> str:
    return f"coalesce(listing #>> '{{{path}}}', '') ~ '{pattern}|^$'"


LISTING_CHECKS = {
    "listing_shape": "listing IS NULL OR (" + " AND ".join([
        only_keys("listing", TOP_KEYS), only_keys("(listing -> 'agent')", AGENT_KEYS),
        only_keys("(listing -> 'brand')", "'primary', 'accent'")]) + ")",
    "listing_media_uri": "listing IS NULL OR (" + " AND ".join(
        matches_or_absent(f"agent,{k}", URI) for k in ("logo_uri", "headshot_uri")) + ")",
    "listing_colour": "listing IS NULL OR (" + " AND ".join(
        matches_or_absent(f"brand,{k}", COLOUR) for k in ("primary", "accent")) + ")",
    "listing_language": "listing IS NULL OR coalesce(listing ->> 'caption_language', 'en') IN ('en', 'es', 'fr', 'de')",
}


def edit_type_check(values: tuple[str, ...]) -> None:
    op.drop_constraint(op.f('ck_edits_edit_type'), 'edits', type_='check')
    op.create_check_constraint(op.f('ck_edits_edit_type'), 'edits',
                               "edit_type IN (" + ", ".join(f"'{v}'" for v in values) + ")")


def upgrade() -> None:
    op.add_column('jobs', sa.Column('listing', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column('jobs', sa.Column('formats', postgresql.ARRAY(sa.String(length=8)), nullable=True))
    op.create_check_constraint(op.f('ck_jobs_formats_known'), 'jobs',
                               "formats IS NULL OR (cardinality(formats) > 0 AND "
                               "formats <@ ARRAY['16x9', '9x16', '1x1']::varchar[])")
    for name, sql in LISTING_CHECKS.items():
        op.create_check_constraint(op.f(f'ck_jobs_{name}'), 'jobs', sql)

    op.create_table(
        'timeline_overlays',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('timeline_id', sa.Integer(), nullable=False),
        sa.Column('order_index', sa.Integer(), nullable=False),
        sa.Column('kind', sa.Enum('title', 'room_caption', 'agent_card', 'disclosure', name='overlay_kind',
                                  native_enum=False, create_constraint=True, length=32), nullable=False),
        sa.Column('shot_index', sa.Integer(), nullable=True),
        sa.Column('start_time', sa.Float(), nullable=False),
        sa.Column('end_time', sa.Float(), nullable=False),
        sa.Column('fade_duration', sa.Float(), nullable=False),
        sa.Column('position', sa.Enum('top', 'middle', 'bottom', name='overlay_position', native_enum=False,
                                      create_constraint=True, length=32), nullable=False),
        sa.Column('content', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column('branded_only', sa.Boolean(), nullable=False),
        sa.Column('visible', sa.Boolean(), nullable=False),
        sa.CheckConstraint('end_time > start_time AND start_time >= 0', name=op.f('ck_timeline_overlays_span_valid')),
        sa.CheckConstraint('fade_duration >= 0', name=op.f('ck_timeline_overlays_fade_nonnegative')),
        sa.ForeignKeyConstraint(['timeline_id'], ['timeline.id'], name=op.f('fk_timeline_overlays_timeline_id_timeline'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_timeline_overlays')),
        sa.UniqueConstraint('timeline_id', 'order_index', name=op.f('uq_timeline_overlays_timeline_id_order_index')),
    )
    op.create_index(op.f('ix_timeline_overlays_timeline_id'), 'timeline_overlays', ['timeline_id'], unique=False)
    edit_type_check(EDIT_TYPES)


def downgrade() -> None:
    op.execute("DELETE FROM edits WHERE edit_type IN ('change_overlay', 'show_captions')")
    edit_type_check(EDIT_TYPES_OLD)
    op.drop_index(op.f('ix_timeline_overlays_timeline_id'), table_name='timeline_overlays')
    op.drop_table('timeline_overlays')
    for name in (*reversed(LISTING_CHECKS), 'formats_known'):
        op.drop_constraint(op.f(f'ck_jobs_{name}'), 'jobs', type_='check')
    op.drop_column('jobs', 'formats')
    op.drop_column('jobs', 'listing')
