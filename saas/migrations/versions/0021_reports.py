"""Stored reports and dashboards: ``report_definitions`` (a report engine definition with its
sharing), ``dashboards`` (a grid of report widgets and KPI tiles, with dashboard-wide filters),
``report_schedules`` (delivery by email of a report or a dashboard) and ``report_deliveries``
(one row per schedule and period: a period is delivered once). Outgoing mail may carry
attachments (``outbox_messages.attachments``).

Built-in reports are not inserted here: a company gets them at signup, and an existing company
the first time it lists its reports (``saas.reports.services.install_builtins``).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-14 09:00:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from tenants.rls import enable_tenant_rls

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

VISIBILITY = "visibility IN ('private', 'roles', 'teams', 'tenant')"


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
    )


def _users_fk(table: str, column: str, ondelete: str = "SET NULL") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["users.id"], name=f"fk_{table}_{column}_users", ondelete=ondelete
    )


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
    ]


def _sharing() -> list[sa.Column]:
    return [
        sa.Column("visibility", sa.String(length=20), nullable=False, server_default="private"),
        sa.Column(
            "shared_with",
            postgresql.JSONB(),
            nullable=False,
            server_default=sa.text("'[]'::jsonb"),
        ),
        sa.Column("owner_id", sa.BigInteger(), nullable=True),
    ]


def upgrade():
    op.create_table(
        "report_definitions",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("folder", sa.String(length=100), nullable=True),
        sa.Column("object_key", sa.String(length=60), nullable=False),
        sa.Column("spec", postgresql.JSONB(), nullable=False),
        *_sharing(),
        sa.Column("builtin_key", sa.String(length=60), nullable=True),
        *_stamps(),
        sa.CheckConstraint(VISIBILITY, name=op.f("ck_report_definitions_visibility")),
        _tenant_fk("report_definitions"),
        _users_fk("report_definitions", "owner_id"),
        _users_fk("report_definitions", "created_by"),
        _users_fk("report_definitions", "updated_by"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_report_definitions"),
    )
    # A built-in report is installed once per company.
    op.create_index(
        "uq_report_definitions_builtin",
        "report_definitions",
        ["tenant_id", "builtin_key"],
        unique=True,
        postgresql_where=sa.text("builtin_key IS NOT NULL"),
    )
    op.create_index("ix_report_definitions_owner", "report_definitions", ["tenant_id", "owner_id"])
    enable_tenant_rls("report_definitions")

    op.create_table(
        "dashboards",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        *_sharing(),
        sa.Column(
            "layout", postgresql.JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")
        ),
        sa.Column(
            "filters", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
        *_stamps(),
        sa.CheckConstraint(VISIBILITY, name=op.f("ck_dashboards_visibility")),
        _tenant_fk("dashboards"),
        _users_fk("dashboards", "owner_id"),
        _users_fk("dashboards", "created_by"),
        _users_fk("dashboards", "updated_by"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_dashboards"),
    )
    op.create_index("ix_dashboards_owner", "dashboards", ["tenant_id", "owner_id"])
    enable_tenant_rls("dashboards")

    op.create_table(
        "report_schedules",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("report_id", sa.BigInteger(), nullable=True),
        sa.Column("dashboard_id", sa.BigInteger(), nullable=True),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("frequency", sa.String(length=10), nullable=False),
        sa.Column("weekday", sa.SmallInteger(), nullable=True),
        sa.Column("day", sa.SmallInteger(), nullable=True),
        sa.Column("at_time", sa.Time(), nullable=False),
        sa.Column(
            "recipients", postgresql.JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")
        ),
        sa.Column("format", sa.String(length=10), nullable=False, server_default="xlsx"),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.String(length=20), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        *_stamps(),
        sa.CheckConstraint(
            "(report_id IS NULL) <> (dashboard_id IS NULL)",
            name=op.f("ck_report_schedules_one_target"),
        ),
        sa.CheckConstraint(
            "frequency IN ('daily', 'weekly', 'monthly')",
            name=op.f("ck_report_schedules_frequency"),
        ),
        sa.CheckConstraint(
            "weekday IS NULL OR weekday BETWEEN 0 AND 6", name=op.f("ck_report_schedules_weekday")
        ),
        sa.CheckConstraint(
            "day IS NULL OR day BETWEEN 1 AND 31", name=op.f("ck_report_schedules_day")
        ),
        sa.CheckConstraint("format IN ('xlsx', 'pdf')", name=op.f("ck_report_schedules_format")),
        _tenant_fk("report_schedules"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "report_id"],
            ["report_definitions.tenant_id", "report_definitions.id"],
            name="fk_report_schedules_tenant_id_report_definitions",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "dashboard_id"],
            ["dashboards.tenant_id", "dashboards.id"],
            name="fk_report_schedules_tenant_id_dashboards",
            ondelete="CASCADE",
        ),
        _users_fk("report_schedules", "owner_id", "CASCADE"),
        _users_fk("report_schedules", "created_by"),
        _users_fk("report_schedules", "updated_by"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_report_schedules"),
    )
    # The hourly run looks for active schedules that are due.
    op.create_index(
        "ix_report_schedules_due",
        "report_schedules",
        ["tenant_id", "next_run_at"],
        postgresql_where=sa.text("active"),
    )
    op.create_index("ix_report_schedules_report", "report_schedules", ["tenant_id", "report_id"])
    op.create_index(
        "ix_report_schedules_dashboard", "report_schedules", ["tenant_id", "dashboard_id"]
    )
    enable_tenant_rls("report_schedules")

    op.create_table(
        "report_deliveries",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("schedule_id", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column(
            "recipients", postgresql.JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")
        ),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "status IN ('sent', 'failed')", name=op.f("ck_report_deliveries_status")
        ),
        _tenant_fk("report_deliveries"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "schedule_id"],
            ["report_schedules.tenant_id", "report_schedules.id"],
            name="fk_report_deliveries_tenant_id_report_schedules",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "schedule_id", "period", name="pk_report_deliveries"),
    )
    enable_tenant_rls("report_deliveries")

    op.add_column("outbox_messages", sa.Column("attachments", postgresql.JSONB(), nullable=True))


def downgrade():
    op.drop_column("outbox_messages", "attachments")
    op.drop_table("report_deliveries")
    op.drop_table("report_schedules")
    op.drop_table("dashboards")
    op.drop_table("report_definitions")
