"""Row-level security for tenant tables, applied by migrations.

Policies read ``app.tenant_id`` through a scalar sub-select so Postgres evaluates it once per
statement (an InitPlan) rather than once per row.
"""

from __future__ import annotations

from alembic import op

CURRENT_TENANT = "(SELECT NULLIF(current_setting('app.tenant_id', true), '')::bigint)"
CURRENT_USER = "(SELECT NULLIF(current_setting('app.user_id', true), '')::bigint)"


def enable_tenant_rls(table: str) -> None:
    """FORCE row-level security on ``table`` with the tenant isolation policy."""
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} "
        f"USING (tenant_id = {CURRENT_TENANT}) WITH CHECK (tenant_id = {CURRENT_TENANT})"
    )


def allow_own_rows(table: str, user_column: str = "user_id") -> None:
    """Let a user read their own rows of ``table`` across tenants (e.g. their memberships)."""
    op.execute(
        f"CREATE POLICY own_rows_read ON {table} FOR SELECT USING ({user_column} = {CURRENT_USER})"
    )
