"""Contracts' payment plans (``payment_plans``) and received payments (``payments``, 回款).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 09:00:00

"""

import sqlalchemy as sa
from alembic import op

from tenants.rls import enable_tenant_rls

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
    )


def _contract_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", "contract_id"],
        ["contracts.tenant_id", "contracts.id"],
        name=f"fk_{table}_tenant_id_contracts",
        ondelete="CASCADE",
    )


def _user_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["users.id"], name=f"fk_{table}_{column}_users", ondelete="SET NULL"
    )


def _timestamp(name: str, *, now: bool = False) -> sa.Column:
    if now:
        return sa.Column(
            name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        )
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


def upgrade():
    op.create_table(
        "payment_plans",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("contract_id", sa.BigInteger(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(18, 4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        _timestamp("due_notified_at"),
        _timestamp("overdue_notified_at"),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payment_plans_amount_positive")),
        sa.CheckConstraint("sequence > 0", name=op.f("ck_payment_plans_sequence_positive")),
        _tenant_fk("payment_plans"),
        _contract_fk("payment_plans"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_payment_plans"),
        sa.UniqueConstraint(
            "tenant_id",
            "contract_id",
            "sequence",
            name="uq_payment_plans_tenant_id_contract_id_sequence",
        ),
    )
    op.create_index("ix_payment_plans_due", "payment_plans", ["tenant_id", "due_date"])
    enable_tenant_rls("payment_plans")

    op.create_table(
        "payments",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("contract_id", sa.BigInteger(), nullable=False),
        sa.Column("plan_id", sa.BigInteger(), nullable=True),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(18, 4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        _timestamp("created_at", now=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        _timestamp("updated_at", now=True),
        _timestamp("deleted_at"),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payments_amount_positive")),
        sa.CheckConstraint(
            "method IN ('bank_transfer', 'cash', 'cheque', 'online', 'other')",
            name=op.f("ck_payments_method"),
        ),
        _tenant_fk("payments"),
        _contract_fk("payments"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "plan_id"],
            ["payment_plans.tenant_id", "payment_plans.id"],
            name="fk_payments_tenant_id_payment_plans",
        ),
        _user_fk("payments", "created_by"),
        _user_fk("payments", "updated_by"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_payments"),
    )
    op.create_index("ix_payments_contract", "payments", ["tenant_id", "contract_id"])
    op.create_index("ix_payments_plan", "payments", ["tenant_id", "plan_id"])
    enable_tenant_rls("payments")


def downgrade():
    op.drop_table("payments")
    op.drop_table("payment_plans")
