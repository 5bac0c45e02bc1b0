"""Metadata store: field definitions, picklist values, field access per role, and the
per-tenant metadata version that invalidates cached definitions across processes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 16:54:35.552287

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from tenants.rls import enable_tenant_rls

TENANT_TABLES = ("field_definitions", "picklist_values", "field_access")

# revision identifiers, used by Alembic.
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "field_definitions",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("object_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("type", sa.String(length=30), nullable=False),
        sa.Column("label_en", sa.String(length=100), nullable=False),
        sa.Column("label_zh", sa.String(length=100), nullable=False),
        sa.Column("help_en", sa.Text(), nullable=False),
        sa.Column("help_zh", sa.Text(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("unique", sa.Boolean(), nullable=False),
        sa.Column("indexed", sa.Boolean(), nullable=False),
        sa.Column("searchable", sa.Boolean(), nullable=False),
        sa.Column("default", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("options", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "key ~ '^[a-z][a-z0-9_]{1,59}$'", name=op.f("ck_field_definitions_key_format")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "object_id"],
            ["object_definitions.tenant_id", "object_definitions.id"],
            name=op.f("fk_field_definitions_tenant_id_object_id_object_definitions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_field_definitions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_field_definitions")),
        sa.UniqueConstraint(
            "tenant_id",
            "object_id",
            "key",
            name=op.f("uq_field_definitions_tenant_id_object_id_key"),
        ),
    )
    op.create_table(
        "field_access",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("field_id", sa.BigInteger(), nullable=False),
        sa.Column("role_key", sa.String(length=40), nullable=False),
        sa.Column("access", sa.String(length=10), nullable=False),
        sa.CheckConstraint(
            "access IN ('hidden', 'read_only', 'editable')",
            name=op.f("ck_field_access_access_value"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "field_id"],
            ["field_definitions.tenant_id", "field_definitions.id"],
            name=op.f("fk_field_access_tenant_id_field_id_field_definitions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "role_key"],
            ["roles.tenant_id", "roles.key"],
            name=op.f("fk_field_access_tenant_id_role_key_roles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_field_access_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "field_id", "role_key", name=op.f("pk_field_access")),
    )
    op.create_table(
        "picklist_values",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("field_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("label_en", sa.String(length=100), nullable=False),
        sa.Column("label_zh", sa.String(length=100), nullable=False),
        sa.Column("colour", sa.String(length=7), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "field_id"],
            ["field_definitions.tenant_id", "field_definitions.id"],
            name=op.f("fk_picklist_values_tenant_id_field_id_field_definitions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_picklist_values_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_picklist_values")),
        sa.UniqueConstraint(
            "tenant_id", "field_id", "code", name=op.f("uq_picklist_values_tenant_id_field_id_code")
        ),
    )
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("metadata_version", sa.BigInteger(), server_default="1", nullable=False)
        )

    for table in TENANT_TABLES:
        enable_tenant_rls(table)


def downgrade():
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("metadata_version")

    op.drop_table("picklist_values")
    op.drop_table("field_access")
    op.drop_table("field_definitions")
