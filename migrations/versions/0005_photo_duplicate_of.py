"""photos name the photo they duplicate

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 05:50:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Phase 1 fills it on its next run; until then no photo is marked a duplicate.
    op.add_column('photos', sa.Column('duplicate_of_photo_id', sa.Integer(), nullable=True))
    op.create_foreign_key(op.f('fk_photos_duplicate_of_photo_id_photos'), 'photos', 'photos',
                          ['duplicate_of_photo_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    op.drop_constraint(op.f('fk_photos_duplicate_of_photo_id_photos'), 'photos', type_='foreignkey')
    op.drop_column('photos', 'duplicate_of_photo_id')
