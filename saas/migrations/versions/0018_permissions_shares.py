"""Module permissions and a data scope per role and object (``role_permissions``), and records
shared with a member or a team (``record_shares``).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-10 09:00:00

"""

import sqlalchemy as sa
from alembic import op

from tenants.rls import enable_tenant_rls

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "role_permissions",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("role_key", sa.String(length=40), nullable=False),
        sa.Column("object_key", sa.String(length=60), nullable=False),
        sa.Column("can_view", sa.Boolean(), nullable=False),
        sa.Column("can_create", sa.Boolean(), nullable=False),
        sa.Column("can_edit", sa.Boolean(), nullable=False),
        sa.Column("can_delete", sa.Boolean(), nullable=False),
        sa.Column("can_export", sa.Boolean(), nullable=False),
        # NULL: the role's own data scope.
        sa.Column("data_scope", sa.String(length=20), nullable=True),
        sa.CheckConstraint(
            "data_scope IS NULL OR data_scope IN ('all', 'team_and_below', 'team', 'own')",
            name=op.f("ck_role_permissions_data_scope"),
        ),
        # Writing implies reading: a role cannot change what it cannot see.
        sa.CheckConstraint(
            "can_view OR NOT (can_create OR can_edit OR can_delete OR can_export)",
            name=op.f("ck_role_permissions_view_first"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_role_permissions_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "role_key"],
            ["roles.tenant_id", "roles.key"],
            name="fk_role_permissions_tenant_id_roles",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "role_key", "object_key", name="pk_role_permissions"),
    )
    enable_tenant_rls("role_permissions")

    op.create_table(
        "record_shares",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("object_key", sa.String(length=60), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("team_id", sa.BigInteger(), nullable=True),
        sa.Column("access", sa.String(length=10), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("access IN ('read', 'edit')", name=op.f("ck_record_shares_access")),
        sa.CheckConstraint(
            "(user_id IS NULL) <> (team_id IS NULL)", name=op.f("ck_record_shares_one_target")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_record_shares_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_record_shares_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name="fk_record_shares_created_by_users",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "team_id"],
            ["teams.tenant_id", "teams.id"],
            name="fk_record_shares_tenant_id_teams",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_record_shares"),
    )
    # The scope check asks "which records of this object are shared with me (or my teams)".
    op.create_index(
        "uq_record_shares_user",
        "record_shares",
        ["tenant_id", "object_key", "user_id", "record_id"],
        unique=True,
        postgresql_where=sa.text("user_id IS NOT NULL"),
    )
    op.create_index(
        "uq_record_shares_team",
        "record_shares",
        ["tenant_id", "object_key", "team_id", "record_id"],
        unique=True,
        postgresql_where=sa.text("team_id IS NOT NULL"),
    )
    op.create_index(
        "ix_record_shares_record", "record_shares", ["tenant_id", "object_key", "record_id"]
    )
    enable_tenant_rls("record_shares")


def downgrade():
    op.drop_table("record_shares")
    op.drop_table("role_permissions")
