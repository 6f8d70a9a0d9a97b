"""outbox: the label of a WhatsApp list's button

Revision ID: 0007_list_picker
Revises: 0006_operator
Create Date: 2026-11-22 14:10:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0007_list_picker'
down_revision = '0006_operator'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('list_button', sqlmodel.sql.sqltypes.AutoString(length=20),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('list_button')
