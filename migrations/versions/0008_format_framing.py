"""crop windows per output format on photos, a clip's renders per extra format

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 09:10:00

Phase 1 writes `photos.framing` ({"subject": [x, y], "windows": {format: [x, y, w, h]}}, shares
of the photo) for the job's formats; Phase 2 renders each clip at every planned format beyond
16:9 from those windows and lists the files in `clips.format_uris` ({format: uri}). Both are
null until the next run of their phase, and Phase 4 then cover-crops the 16:9 clip as before.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('photos', sa.Column('framing', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column('clips', sa.Column('format_uris', postgresql.JSONB(astext_type=sa.Text()), nullable=True))


def downgrade() -> None:
    op.drop_column('clips', 'format_uris')
    op.drop_column('photos', 'framing')
