"""Data safety: how long deleted records stay in the recycle bin (``tenants.recycle_days``), an
index that reads one record's history at once (audit events by target), and partial indexes on
the recycle bin of every record table, which the daily purge walks by deletion time.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 09:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

#: As ``saas.records.models.RECORD_TABLES`` at this revision.
RECORD_TABLES = (
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
IN_BIN = sa.text("deleted_at IS NOT NULL")


def upgrade():
    op.add_column(
        "tenants",
        sa.Column("recycle_days", sa.Integer(), server_default="30", nullable=False),
    )
    op.create_check_constraint(
        "ck_tenants_recycle_days", "tenants", "recycle_days BETWEEN 0 AND 3650"
    )
    # A record's history: WHERE tenant_id, target_type, target_id ORDER BY id DESC.
    op.create_index(
        "ix_audit_events_target",
        "audit_events",
        ["tenant_id", "target_type", "target_id", "id"],
    )
    for table in RECORD_TABLES:
        op.create_index(
            f"ix_{table}_bin", table, ["tenant_id", "deleted_at"], postgresql_where=IN_BIN
        )
    op.create_index(
        "ix_custom_records_bin",
        "custom_records",
        ["tenant_id", "object_id", "deleted_at"],
        postgresql_where=IN_BIN,
    )


def downgrade():
    op.drop_index("ix_custom_records_bin", table_name="custom_records")
    for table in RECORD_TABLES:
        op.drop_index(f"ix_{table}_bin", table_name=table)
    op.drop_index("ix_audit_events_target", table_name="audit_events")
    op.drop_constraint("ck_tenants_recycle_days", "tenants", type_="check")
    op.drop_column("tenants", "recycle_days")
