"""timeline clips carry a playback speed

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 15:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every existing shot plays as rendered.
    op.add_column('timeline_clips', sa.Column('speed', sa.Float(), server_default='1', nullable=False))
    op.create_check_constraint(op.f('ck_timeline_clips_speed_positive'), 'timeline_clips', 'speed > 0')


def downgrade() -> None:
    op.drop_constraint(op.f('ck_timeline_clips_speed_positive'), 'timeline_clips', type_='check')
    op.drop_column('timeline_clips', 'speed')
