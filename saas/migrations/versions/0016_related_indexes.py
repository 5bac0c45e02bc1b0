"""The customer page's related lists: a partial expression index per lookup that a related list
reads by (``saas.crm.related``), e.g. a customer's activities newest first::

    (tenant_id, (CAST(data ->> 'account' AS BIGINT)), id) WHERE deleted_at IS NULL

The expression is the lookup type's SQL (``custom_fields/types/lookup.py``), which the query
engine emits for ``account = 42``; the planner matches it once the bound key and value are
substituted in a custom plan. The list reader (no row-level security) can then narrow by it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 09:00:00

"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

#: (table, lookup field key) read by a related list.
LINKS = (
    ("contacts", "account"),
    ("activities", "account"),
    ("activities", "contact"),
    ("activities", "opportunity"),
    ("opportunities", "account"),
    ("quotes", "account"),
    ("quotes", "opportunity"),
    ("contracts", "account"),
)


def _name(table: str, key: str) -> str:
    return f"ix_{table}_by_{key}"


def upgrade():
    for table, key in LINKS:
        op.execute(
            f"CREATE INDEX {_name(table, key)} ON {table} "
            f"(tenant_id, (CAST(data ->> '{key}' AS BIGINT)), id) WHERE deleted_at IS NULL"
        )


def downgrade():
    for table, key in reversed(LINKS):
        op.drop_index(_name(table, key), table_name=table)
