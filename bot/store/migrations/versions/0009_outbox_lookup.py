"""outbox: withdrawn messages; dropped ones whose last attempt may have reached Twilio, to be
looked up there

Revision ID: 0009_outbox_lookup
Revises: 0008_lookup_indexes
Create Date: 2026-11-22 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import bot.store.types

revision = '0009_outbox_lookup'
down_revision = '0008_lookup_indexes'
branch_labels = None
depends_on = None

TO_LOOK_UP = sa.text("status = 'dropped' AND attempt_started_at IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('withdrawn_at', bot.store.types.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.create_index('ix_outbox_lookup', ['attempt_started_at'], unique=False,
                              sqlite_where=TO_LOOK_UP, postgresql_where=TO_LOOK_UP)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_lookup', sqlite_where=TO_LOOK_UP,
                            postgresql_where=TO_LOOK_UP)
        batch_op.drop_column('withdrawn_at')
