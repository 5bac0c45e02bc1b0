"""Duplicate check: the normalised name, phone and email keys of customers, contacts and leads
(``duplicate_keys``), and the company's ``duplicate_policy`` (``warn`` or ``block``).

Keys are computed in Python (width, legal forms, E.164…), so this revision does not fill them:
an owner or admin runs the rebuild job (``POST /api/v1/t/<slug>/duplicates/rebuild``) once for
records created before it; records created or changed afterwards keep their keys themselves.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 09:00:00

"""

import sqlalchemy as sa
from alembic import op

from tenants.rls import enable_tenant_rls

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "duplicate_keys",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("object_key", sa.String(length=20), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_duplicate_keys_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "object_key", "record_id", "kind", "key", name="pk_duplicate_keys"
        ),
    )
    op.create_index("ix_duplicate_keys_lookup", "duplicate_keys", ["tenant_id", "kind", "key"])
    enable_tenant_rls("duplicate_keys")
    op.add_column(
        "tenants",
        sa.Column("duplicate_policy", sa.String(length=10), nullable=False, server_default="warn"),
    )
    op.create_check_constraint(
        op.f("ck_tenants_duplicate_policy"), "tenants", "duplicate_policy IN ('warn', 'block')"
    )


def downgrade():
    op.drop_constraint(op.f("ck_tenants_duplicate_policy"), "tenants", type_="check")
    op.drop_column("tenants", "duplicate_policy")
    op.drop_index("ix_duplicate_keys_lookup", table_name="duplicate_keys")
    op.drop_table("duplicate_keys")
