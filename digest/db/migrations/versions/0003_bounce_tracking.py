"""bounce tracking: raw bounce messages kept for audit, the reason, code and issue of each
bounce event, and the history of subscriber status changes with their evidence

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'bounce_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=300), nullable=False),
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('raw', sa.LargeBinary(), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=32), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('subscriber_id', sa.Integer(), nullable=True),
        sa.Column('delivery_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ['delivery_id'], ['deliveries.id'],
            name=op.f('fk_bounce_messages_delivery_id_deliveries'), ondelete='SET NULL',
        ),
        sa.ForeignKeyConstraint(
            ['subscriber_id'], ['subscribers.id'],
            name=op.f('fk_bounce_messages_subscriber_id_subscribers'), ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_bounce_messages')),
        sa.UniqueConstraint('key', name=op.f('uq_bounce_messages_key')),
    )
    op.create_index('ix_bounce_messages_received_at', 'bounce_messages', ['received_at'])
    with op.batch_alter_table('bounce_events', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('reason', sa.String(length=32), nullable=False, server_default=sa.text("''"))
        )
        batch_op.add_column(sa.Column('smtp_code', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('issue_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('message_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_bounce_events_issue_id_issues'), 'issues', ['issue_id'], ['id'],
            ondelete='SET NULL',
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_bounce_events_message_id_bounce_messages'), 'bounce_messages',
            ['message_id'], ['id'], ondelete='SET NULL',
        )
    op.create_table(
        'status_changes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subscriber_id', sa.Integer(), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('before', sa.String(length=16), nullable=False),
        sa.Column('after', sa.String(length=16), nullable=False),
        sa.Column('event', sa.String(length=32), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('bounce_event_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ['bounce_event_id'], ['bounce_events.id'],
            name=op.f('fk_status_changes_bounce_event_id_bounce_events'), ondelete='SET NULL',
        ),
        sa.ForeignKeyConstraint(
            ['subscriber_id'], ['subscribers.id'],
            name=op.f('fk_status_changes_subscriber_id_subscribers'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_status_changes')),
    )
    op.create_index(
        op.f('ix_status_changes_subscriber_id'), 'status_changes', ['subscriber_id']
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_status_changes_subscriber_id'), table_name='status_changes')
    op.drop_table('status_changes')
    with op.batch_alter_table('bounce_events', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_bounce_events_message_id_bounce_messages'), type_='foreignkey'
        )
        batch_op.drop_constraint(batch_op.f('fk_bounce_events_issue_id_issues'), type_='foreignkey')
        batch_op.drop_column('message_id')
        batch_op.drop_column('issue_id')
        batch_op.drop_column('smtp_code')
        batch_op.drop_column('reason')
    op.drop_index('ix_bounce_messages_received_at', table_name='bounce_messages')
    op.drop_table('bounce_messages')
