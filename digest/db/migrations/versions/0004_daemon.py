"""the daemon: one issue per weekly slot, the approval gate, job runs, the daemon's holder

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.add_column(sa.Column('week_slot', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('held_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('proof_sent_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_issues_week_slot'), ['week_slot'])
    op.create_table(
        'job_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('job', sa.String(length=32), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('line', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_job_runs')),
    )
    op.create_index('ix_job_runs_job_started_at', 'job_runs', ['job', 'started_at'])
    op.create_table(
        'daemon_holder',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('host', sa.String(length=255), nullable=False),
        sa.Column('pid', sa.Integer(), nullable=False),
        sa.Column('since', sa.DateTime(timezone=True), nullable=False),
        sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_daemon_holder')),
    )


def downgrade() -> None:
    op.drop_table('daemon_holder')
    op.drop_index('ix_job_runs_job_started_at', table_name='job_runs')
    op.drop_table('job_runs')
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_issues_week_slot'), type_='unique')
        batch_op.drop_column('proof_sent_at')
        batch_op.drop_column('approved_at')
        batch_op.drop_column('held_at')
        batch_op.drop_column('week_slot')
