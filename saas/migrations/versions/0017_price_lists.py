"""Price lists (``price_lists``, ``price_list_items``: a product's price per list and quantity
break) and a member's position in their team (``memberships.position``).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-09 09:00:00

"""

import sqlalchemy as sa
from alembic import op

from tenants.rls import enable_tenant_rls

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "price_lists",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to >= valid_from", name=op.f("ck_price_lists_valid_range")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_price_lists_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_price_lists"),
    )
    # At most one default list per company and currency.
    op.create_index(
        "uq_price_lists_default",
        "price_lists",
        ["tenant_id", "currency"],
        unique=True,
        postgresql_where=sa.text("is_default"),
    )
    enable_tenant_rls("price_lists")

    op.create_table(
        "price_list_items",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("price_list_id", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("min_quantity", sa.Numeric(18, 4), nullable=False, server_default="1"),
        sa.Column("unit_price", sa.Numeric(18, 6), nullable=False),
        sa.CheckConstraint("min_quantity > 0", name=op.f("ck_price_list_items_min_quantity")),
        sa.CheckConstraint("unit_price >= 0", name=op.f("ck_price_list_items_unit_price")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_price_list_items_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "price_list_id"],
            ["price_lists.tenant_id", "price_lists.id"],
            name="fk_price_list_items_tenant_id_price_lists",
            ondelete="CASCADE",
        ),
        # A product purged from the recycle bin leaves the lists with it.
        sa.ForeignKeyConstraint(
            ["tenant_id", "product_id"],
            ["products.tenant_id", "products.id"],
            name="fk_price_list_items_tenant_id_products",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "price_list_id", "product_id", "min_quantity", name="pk_price_list_items"
        ),
    )
    op.create_index("ix_price_list_items_product", "price_list_items", ["tenant_id", "product_id"])
    enable_tenant_rls("price_list_items")

    op.add_column("memberships", sa.Column("position", sa.String(length=60), nullable=True))


def downgrade():
    op.drop_column("memberships", "position")
    op.drop_table("price_list_items")
    op.drop_table("price_lists")
