"""Lists and views: teams and data scope, record tags and quick-search text (trigram), saved
views, default views, recently viewed records, index state of indexed fields.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 09:10:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from tenants.rls import enable_tenant_rls

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

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
    "custom_records",
)


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
    )


def _object_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", "object_id"],
        ["object_definitions.tenant_id", "object_definitions.id"],
        name=f"fk_{table}_tenant_id_object_id_object_definitions",
        ondelete="CASCADE",
    )


def upgrade():
    # pg_trgm is a trusted extension: a database owner may create it without superuser.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")

    op.create_table(
        "teams",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        _tenant_fk("teams"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_teams"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_teams_tenant_id_name"),
    )
    op.create_foreign_key(
        "fk_teams_tenant_id_parent_id_teams",
        "teams",
        "teams",
        ["tenant_id", "parent_id"],
        ["tenant_id", "id"],
    )
    enable_tenant_rls("teams")
    op.add_column("memberships", sa.Column("team_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        "fk_memberships_tenant_id_team_id_teams",
        "memberships",
        "teams",
        ["tenant_id", "team_id"],
        ["tenant_id", "id"],
    )
    op.add_column(
        "roles",
        sa.Column("data_scope", sa.String(length=20), server_default="all", nullable=False),
    )
    op.add_column(
        "field_definitions", sa.Column("index_state", sa.String(length=20), nullable=True)
    )

    for table in RECORD_TABLES:
        op.add_column(
            table,
            sa.Column(
                "tags",
                postgresql.ARRAY(sa.String(length=50)),
                server_default="{}",
                nullable=False,
            ),
        )
        op.add_column(table, sa.Column("search_text", sa.Text(), server_default="", nullable=False))
        op.create_index(f"ix_{table}_tags", table, ["tags"], postgresql_using="gin")
        op.create_index(
            f"ix_{table}_search",
            table,
            ["search_text"],
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        )
        # Names found by quick search before this revision: the name, lower-cased.
        op.execute(f"UPDATE {table} SET search_text = lower(coalesce(name, ''))")  # noqa: S608 (a constant)

    op.create_table(
        "saved_views",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("object_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=True),
        sa.Column("visibility", sa.String(length=20), nullable=False),
        sa.Column("shared_with", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("columns", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("filter", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("sort", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("page_size", sa.Integer(), nullable=False),
        sa.Column("layout", sa.String(length=20), nullable=False),
        sa.Column("group_by", sa.String(length=60), nullable=True),
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
        _tenant_fk("saved_views"),
        _object_fk("saved_views"),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name="fk_saved_views_owner_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_saved_views"),
    )
    op.create_index("ix_saved_views_object", "saved_views", ["tenant_id", "object_id"])
    enable_tenant_rls("saved_views")

    op.create_table(
        "view_preferences",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("object_id", sa.BigInteger(), nullable=False),
        sa.Column("default_view", sa.String(length=40), nullable=False),
        _tenant_fk("view_preferences"),
        _object_fk("view_preferences"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_view_preferences_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", "object_id", name="pk_view_preferences"),
    )
    enable_tenant_rls("view_preferences")

    op.create_table(
        "recent_records",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("object_id", sa.BigInteger(), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "viewed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        _tenant_fk("recent_records"),
        _object_fk("recent_records"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_recent_records_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "user_id", "object_id", "record_id", name="pk_recent_records"
        ),
    )
    op.create_index(
        "ix_recent_records_user",
        "recent_records",
        ["tenant_id", "user_id", "object_id", "viewed_at"],
    )
    enable_tenant_rls("recent_records")


def downgrade():
    op.drop_table("recent_records")
    op.drop_table("view_preferences")
    op.drop_table("saved_views")
    for table in RECORD_TABLES:
        op.drop_index(f"ix_{table}_search", table_name=table)
        op.drop_index(f"ix_{table}_tags", table_name=table)
        op.drop_column(table, "search_text")
        op.drop_column(table, "tags")
    op.drop_column("field_definitions", "index_state")
    op.drop_column("roles", "data_scope")
    op.drop_constraint("fk_memberships_tenant_id_team_id_teams", "memberships")
    op.drop_column("memberships", "team_id")
    op.drop_table("teams")
