"""Live records: a partial index on ``(tenant_id, id) WHERE deleted_at IS NULL`` per record table
(``(tenant_id, object_id, id)`` on ``custom_records``), so that a list's count and its newest
first page read the index alone instead of one heap page per record (records of all tenants are
interleaved in the heap).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 20:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

STANDARD_TABLES = (
    "accounts",
    "contacts",
    "leads",
    "opportunities",
    "activities",
    "products",
    "quotes",
    "quote_lines",
    "contracts",
)
LIVE = sa.text("deleted_at IS NULL")


def upgrade():
    for table in STANDARD_TABLES:
        op.create_index(f"ix_{table}_live", table, ["tenant_id", "id"], postgresql_where=LIVE)
    op.create_index(
        "ix_custom_records_live",
        "custom_records",
        ["tenant_id", "object_id", "id"],
        postgresql_where=LIVE,
    )


def downgrade():
    op.drop_index("ix_custom_records_live", table_name="custom_records")
    for table in STANDARD_TABLES:
        op.drop_index(f"ix_{table}_live", table_name=table)
