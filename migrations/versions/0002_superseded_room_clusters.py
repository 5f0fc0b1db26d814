"""room clusters of an earlier analysis are marked superseded

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 14:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('room_clusters', sa.Column('superseded_at', sa.DateTime(timezone=True), nullable=True))
    # Before this revision the current analysis was the clusters with an analysis_results row.
    op.execute(
        "UPDATE room_clusters SET superseded_at = updated_at WHERE NOT EXISTS "
        "(SELECT 1 FROM analysis_results r WHERE r.room_cluster_id = room_clusters.id)"
    )


def downgrade() -> None:
    op.drop_column('room_clusters', 'superseded_at')
