"""System fields: ``field_definitions.is_system``, and the catalogue of
``custom_fields/system_fields.py`` given to every existing tenant (a key a tenant already uses on
an object stays the tenant's own field).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 22:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "field_definitions",
        sa.Column("is_system", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    from custom_fields.system_fields import backfill

    backfill(op.get_bind())


def downgrade():
    # The fields stay as the tenants' own: their values live in the records.
    op.drop_column("field_definitions", "is_system")
