"""Quotes: approval history (``approvals``), the company's discount threshold
(``tenants.quote_discount_threshold``), products unique by code + name + specification
(``products.product_key``, kept by a trigger), a quote's lines by an index
(``quote_lines.quote_id``, kept by a trigger), and the quote system fields this revision adds
to the catalogue (revision chain, line numbers) for existing companies.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 09:00:00

"""

import sqlalchemy as sa
from alembic import op

from custom_fields import system_fields
from tenants.rls import enable_tenant_rls

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# Code-point case mapping whatever the database's collation (as custom_fields.formula chooses).
_COLLATIONS = ("pg_c_utf8", "C.utf8")


def _collation() -> str:
    found = set(
        op.get_bind()
        .execute(
            sa.text("SELECT collname FROM pg_collation WHERE collname = ANY(:names)"),
            {"names": list(_COLLATIONS)},
        )
        .scalars()
    )
    for name in _COLLATIONS:
        if name in found:
            return f' COLLATE "{name}"'
    return ""


def _tenant_ids() -> list[int]:
    return list(op.get_bind().execute(sa.text("SELECT id FROM tenants ORDER BY id")).scalars())


def _enter(tenant_id: int | None) -> None:
    """Row-level security binds a migration owner that is not a superuser: work per tenant."""
    value = "" if tenant_id is None else str(tenant_id)
    op.execute(sa.text("SELECT set_config('app.tenant_id', :t, true)").bindparams(t=value))


def _product_keys() -> None:
    collate = _collation()
    # One part: width folded (NFKC: full-width letters, digits and spaces become ASCII), runs of
    # white space made one space, trimmed, lower-cased. The parts are joined with U+001F.
    op.execute(
        "CREATE FUNCTION kehu_product_key_part(value text) RETURNS text "
        "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT lower(btrim(regexp_replace("
        f"normalize(coalesce(value, ''), NFKC), '\\s+', ' ', 'g')){collate}) $$"
    )
    op.execute(
        "CREATE FUNCTION kehu_product_key(code text, name text, specification text) "
        "RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT "
        "kehu_product_key_part(code) || chr(31) || kehu_product_key_part(name) || chr(31) || "
        "kehu_product_key_part(specification) $$"
    )
    op.add_column("products", sa.Column("product_key", sa.Text(), nullable=True))
    # Existing products: the first of a set of duplicates (live ones before the recycle bin)
    # gets the key, the others keep none until someone edits them.
    for tenant_id in _tenant_ids():
        _enter(tenant_id)
        op.execute(
            sa.text(
                "UPDATE products p SET product_key = k.key FROM ("
                " SELECT id, key, row_number() OVER (PARTITION BY key"
                "  ORDER BY deleted_at IS NOT NULL, id) AS n FROM ("
                "  SELECT id, deleted_at, kehu_product_key(data ->> 'code', name,"
                "   data ->> 'specification') AS key FROM products WHERE tenant_id = :t) s) k "
                "WHERE p.tenant_id = :t AND p.id = k.id AND k.n = 1"
            ).bindparams(t=tenant_id)
        )
    _enter(None)
    op.create_index(
        "uq_products_product_key", "products", ["tenant_id", "product_key"], unique=True
    )
    # Every writer (the record service, imports, bulk edits) goes through the trigger.
    op.execute(
        "CREATE FUNCTION kehu_products_set_key() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN NEW.product_key := kehu_product_key(NEW.data ->> 'code', NEW.name, "
        "NEW.data ->> 'specification'); RETURN NEW; END $$"
    )
    op.execute(
        "CREATE TRIGGER products_key BEFORE INSERT OR UPDATE OF name, data ON products "
        "FOR EACH ROW EXECUTE FUNCTION kehu_products_set_key()"
    )


def _line_quotes() -> None:
    """``quote_lines.quote_id``: the line's quote as a column (the ``quote`` lookup in ``data``),
    so that a quote's lines are an index range. An expression on ``data`` could not narrow a
    query under row-level security (its operators are not leakproof); ``int8eq`` is."""
    op.add_column("quote_lines", sa.Column("quote_id", sa.BigInteger(), nullable=True))
    op.execute(
        "CREATE FUNCTION kehu_quote_lines_set_quote() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN NEW.quote_id := CASE WHEN NEW.data ->> 'quote' ~ '^[0-9]{1,18}$' "
        "THEN (NEW.data ->> 'quote')::bigint END; RETURN NEW; END $$"
    )
    for tenant_id in _tenant_ids():
        _enter(tenant_id)
        op.execute(
            "UPDATE quote_lines SET quote_id = CASE WHEN data ->> 'quote' ~ '^[0-9]{1,18}$' "
            "THEN (data ->> 'quote')::bigint END"
        )
    _enter(None)
    op.execute(
        "CREATE TRIGGER quote_lines_quote BEFORE INSERT OR UPDATE OF data ON quote_lines "
        "FOR EACH ROW EXECUTE FUNCTION kehu_quote_lines_set_quote()"
    )
    op.create_index(
        "ix_quote_lines_quote",
        "quote_lines",
        ["tenant_id", "quote_id"],
        postgresql_where=sa.text("deleted_at IS NULL"),
    )


def upgrade():
    op.create_table(
        "approvals",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("object_key", sa.String(length=60), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("requested_by", sa.BigInteger(), nullable=True),
        sa.Column("request_comment", sa.Text(), nullable=True),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("decided_by", sa.BigInteger(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("threshold", sa.Numeric(5, 2), nullable=True),
        sa.Column("discount", sa.Numeric(5, 2), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "decision IN ('pending', 'approved', 'rejected', 'withdrawn')",
            name=op.f("ck_approvals_decision"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_approvals_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["users.id"],
            name="fk_approvals_requested_by_users",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name="fk_approvals_decided_by_users", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_approvals"),
    )
    op.create_index(
        "ix_approvals_record", "approvals", ["tenant_id", "object_key", "record_id", "id"]
    )
    op.create_index(
        "ix_approvals_pending",
        "approvals",
        ["tenant_id", "object_key", "id"],
        postgresql_where=sa.text("decision = 'pending'"),
    )
    op.create_index(
        "uq_approvals_pending_record",
        "approvals",
        ["tenant_id", "object_key", "record_id"],
        unique=True,
        postgresql_where=sa.text("decision = 'pending'"),
    )
    enable_tenant_rls("approvals")

    op.add_column(
        "tenants",
        sa.Column(
            "quote_discount_threshold", sa.Numeric(5, 2), server_default="10", nullable=False
        ),
    )
    op.create_check_constraint(
        op.f("ck_tenants_quote_discount_threshold"),
        "tenants",
        "quote_discount_threshold BETWEEN 0 AND 100",
    )

    _product_keys()
    _line_quotes()
    # The catalogue's new quote fields (previous_quote, superseded_by, quote_line.position).
    system_fields.backfill(op.get_bind())


def downgrade():
    op.drop_index("ix_quote_lines_quote", table_name="quote_lines")
    op.execute("DROP TRIGGER quote_lines_quote ON quote_lines")
    op.execute("DROP FUNCTION kehu_quote_lines_set_quote()")
    op.drop_column("quote_lines", "quote_id")
    op.execute("DROP TRIGGER products_key ON products")
    op.execute("DROP FUNCTION kehu_products_set_key()")
    op.drop_index("uq_products_product_key", table_name="products")
    op.drop_column("products", "product_key")
    op.execute("DROP FUNCTION kehu_product_key(text, text, text)")
    op.execute("DROP FUNCTION kehu_product_key_part(text)")
    op.drop_constraint(op.f("ck_tenants_quote_discount_threshold"), "tenants", type_="check")
    op.drop_column("tenants", "quote_discount_threshold")
    op.drop_table("approvals")
