"""security: subscriber ids never reused and a random link key per subscriber, the outbox of
the web pages' mail, application keys

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import secrets

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('link_key', sa.String(length=32), nullable=True))
    bind = op.get_bind()
    subscribers = sa.table('subscribers', sa.column('id', sa.Integer), sa.column('link_key'))
    ids = [row.id for row in bind.execute(sa.select(subscribers.c.id))]
    for start in range(0, len(ids), 1000):
        bind.execute(
            subscribers.update()
            .where(subscribers.c.id == sa.bindparam('row_id'))
            .values(link_key=sa.bindparam('key')),
            [{'row_id': i, 'key': secrets.token_urlsafe(16)} for i in ids[start : start + 1000]],
        )
    # recreate: on SQLite the table is rebuilt with AUTOINCREMENT (ids never reused).
    with op.batch_alter_table(
        'subscribers', schema=None,
        recreate='always' if bind.dialect.name == 'sqlite' else 'auto',
        table_kwargs={'sqlite_autoincrement': True},
    ) as batch_op:
        batch_op.alter_column('link_key', existing_type=sa.String(length=32), nullable=False)
    op.create_table(
        'outbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('to_address', sa.String(length=320), nullable=False),
        sa.Column('subscriber_id', sa.Integer(), nullable=True),
        sa.Column('envelope_from', sa.String(length=320), nullable=False),
        sa.Column('message', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ['subscriber_id'], ['subscribers.id'],
            name=op.f('fk_outbox_subscriber_id_subscribers'), ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    )
    op.create_index('ix_outbox_to_address_created_at', 'outbox', ['to_address', 'created_at'])
    op.create_index('ix_outbox_sent_at_next_attempt_at', 'outbox', ['sent_at', 'next_attempt_at'])
    op.create_table(
        'app_keys',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('value', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_app_keys')),
    )


def downgrade() -> None:
    op.drop_table('app_keys')
    op.drop_index('ix_outbox_sent_at_next_attempt_at', table_name='outbox')
    op.drop_index('ix_outbox_to_address_created_at', table_name='outbox')
    op.drop_table('outbox')
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.drop_column('link_key')
