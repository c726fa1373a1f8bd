"""placeholders: each issue's random key, which its per-subscriber markers carry

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.add_column(sa.Column('placeholder_key', sa.String(length=64), nullable=True))
    # Issues stored before keep the empty key: their fixed markers are filled as before.
    op.execute("UPDATE issues SET placeholder_key = ''")
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.alter_column(
            'placeholder_key', existing_type=sa.String(length=64), nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.drop_column("placeholder_key")
