"""Customer ownership and the public pool: when a customer was taken, last worked and returned
(``accounts``), the pool's history (``pool_events``), in-app notifications (``notifications``)
and the company's pool rules (``tenants.pool_*``).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 09:00:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from tenants.rls import enable_tenant_rls

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

#: The date a customer's return clock starts from (the sweep's index and query use the same).
ACTIVITY_CLOCK = "coalesce(last_activity_at, owned_since, created_at)"


def _timestamp(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


def upgrade():
    for name in ("owned_since", "last_activity_at", "pool_since", "review_flagged_at"):
        op.add_column("accounts", _timestamp(name))
    # Owned customers start their window at creation; customers without owner are in the pool.
    op.execute("UPDATE accounts SET owned_since = created_at WHERE owner_id IS NOT NULL")
    op.execute("UPDATE accounts SET pool_since = now() WHERE owner_id IS NULL")
    # The daily sweep: owned, live customers by the date their return clock started.
    op.create_index(
        "ix_accounts_pool_sweep",
        "accounts",
        ["tenant_id", sa.text(ACTIVITY_CLOCK)],
        postgresql_where=sa.text("owner_id IS NOT NULL AND deleted_at IS NULL"),
    )
    # Owned customers not yet flagged for review, by the start of their window.
    op.create_index(
        "ix_accounts_pool_review",
        "accounts",
        ["tenant_id", sa.text("coalesce(owned_since, created_at)")],
        postgresql_where=sa.text(
            "owner_id IS NOT NULL AND deleted_at IS NULL AND review_flagged_at IS NULL"
        ),
    )
    # The pool list (newest first) and the count of its customers.
    op.create_index(
        "ix_accounts_pool",
        "accounts",
        ["tenant_id", "id"],
        postgresql_where=sa.text("owner_id IS NULL AND deleted_at IS NULL"),
    )

    op.create_table(
        "pool_events",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("from_owner_id", sa.BigInteger(), nullable=True),
        sa.Column("to_owner_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "kind IN ('claim', 'release', 'return', 'assign', 'transfer')",
            name=op.f("ck_pool_events_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_pool_events_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "account_id"],
            ["accounts.tenant_id", "accounts.id"],
            name="fk_pool_events_tenant_id_accounts",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_pool_events_user_id_users", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["from_owner_id"],
            ["users.id"],
            name="fk_pool_events_from_owner_id_users",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["to_owner_id"],
            ["users.id"],
            name="fk_pool_events_to_owner_id_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_pool_events"),
    )
    # A customer's history, and the reclaim cooldown (who lost it, when).
    op.create_index(
        "ix_pool_events_account", "pool_events", ["tenant_id", "account_id", "created_at"]
    )
    enable_tenant_rls("pool_events")

    op.create_table(
        "notifications",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("object_key", sa.String(length=60), nullable=True),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("params", JSONB(), server_default="{}", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_notifications_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_notifications_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_notifications"),
    )
    op.create_index("ix_notifications_user", "notifications", ["tenant_id", "user_id", "id"])
    op.create_index(
        "ix_notifications_unread",
        "notifications",
        ["tenant_id", "user_id", "id"],
        postgresql_where=sa.text("read_at IS NULL"),
    )
    enable_tenant_rls("notifications")

    for name, default in (
        ("pool_return_days", "60"),
        ("pool_owner_cap", "0"),
        ("pool_review_days", "180"),
        ("pool_reclaim_days", "0"),
    ):
        op.add_column(
            "tenants", sa.Column(name, sa.Integer(), server_default=default, nullable=False)
        )
        op.create_check_constraint(op.f(f"ck_tenants_{name}"), "tenants", f"{name} >= 0")
    op.add_column(
        "tenants",
        sa.Column(
            "pool_exempt_stages",
            ARRAY(sa.String(length=40)),
            server_default="{customer,renewal}",
            nullable=False,
        ),
    )


def downgrade():
    op.drop_column("tenants", "pool_exempt_stages")
    for name in ("pool_reclaim_days", "pool_review_days", "pool_owner_cap", "pool_return_days"):
        op.drop_constraint(op.f(f"ck_tenants_{name}"), "tenants", type_="check")
        op.drop_column("tenants", name)
    op.drop_table("notifications")
    op.drop_table("pool_events")
    for name in ("ix_accounts_pool", "ix_accounts_pool_review", "ix_accounts_pool_sweep"):
        op.drop_index(name, table_name="accounts")
    for name in ("review_flagged_at", "pool_since", "last_activity_at", "owned_since"):
        op.drop_column("accounts", name)
