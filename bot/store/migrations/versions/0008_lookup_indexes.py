"""customer: billing contacts looked up by number; outbox: messages looked up by subject

Revision ID: 0008_lookup_indexes
Revises: 0007_list_picker
Create Date: 2026-11-22 16:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0008_lookup_indexes'
down_revision = '0007_list_picker'
branch_labels = None
depends_on = None

SUBJECT_SET = sa.text("subject IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_billing_phone'), ['billing_phone'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_customer_billing_whatsapp'), ['billing_whatsapp'],
                              unique=False)
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_subject', ['subject'], unique=False,
                              sqlite_where=SUBJECT_SET, postgresql_where=SUBJECT_SET)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_subject', sqlite_where=SUBJECT_SET,
                            postgresql_where=SUBJECT_SET)
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_billing_whatsapp'))
        batch_op.drop_index(batch_op.f('ix_customer_billing_phone'))
