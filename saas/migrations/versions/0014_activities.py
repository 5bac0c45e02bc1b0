"""Visits and follow-ups: replies on records (``activity_replies``, 批复), visit frequency
targets per customer grade (``visit_targets``), and the indexes behind reminders, the calendar
and the list of customers behind their target (``saas.crm.activities``).

Every company gets the default targets (A 7, B 14, C 30, D 90 days); new companies get them at
signup. The rows are written before row-level security is switched on, so that the owner may
write them for every company whatever its privileges.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 09:00:00

"""

import sqlalchemy as sa
from alembic import op

from tenants.rls import enable_tenant_rls

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

#: As ``saas.crm.activities``: the expressions and predicates there must match these exactly,
#: constants included, or PostgreSQL will not use the indexes.
CONTACT_DONE = (
    "deleted_at IS NULL AND (data ->> 'status') = 'done' "
    "AND (data ->> 'type') IN ('visit', 'call', 'meeting')"
)
PLANNED = "deleted_at IS NULL AND (data ->> 'status') = 'planned'"
DEFAULT_TARGETS = (("A", 7), ("B", 14), ("C", 30), ("D", 90))


def upgrade():
    op.create_table(
        "activity_replies",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("object_key", sa.String(length=60), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "char_length(body) BETWEEN 1 AND 2000", name=op.f("ck_activity_replies_body")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_activity_replies_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name="fk_activity_replies_author_id_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_activity_replies"),
    )
    # A record's thread, oldest first.
    op.create_index(
        "ix_activity_replies_record",
        "activity_replies",
        ["tenant_id", "object_key", "record_id", "id"],
    )
    enable_tenant_rls("activity_replies")

    op.create_table(
        "visit_targets",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("grade", sa.String(length=60), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.CheckConstraint("days BETWEEN 1 AND 3650", name=op.f("ck_visit_targets_days")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_visit_targets_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "grade", name="pk_visit_targets"),
    )
    for grade, days in DEFAULT_TARGETS:
        op.execute(
            sa.text(
                "INSERT INTO visit_targets (tenant_id, grade, days) "
                "SELECT id, :grade, :days FROM tenants"
            ).bindparams(grade=grade, days=days)
        )
    enable_tenant_rls("visit_targets")

    # Behind target: a customer's latest done visit, call or meeting is one index probe.
    op.execute(
        "CREATE INDEX ix_activities_contacts ON activities "
        "(tenant_id, (data ->> 'account'), ((data ->> 'done_at') COLLATE \"C\")) "
        f"WHERE {CONTACT_DONE}"
    )
    # Reminders: a person's planned activities by due time.
    op.execute(
        "CREATE INDEX ix_activities_planned ON activities "
        "(tenant_id, owner_id, ((data ->> 'due_at') COLLATE \"C\")) "
        f"WHERE {PLANNED}"
    )
    # The calendar: people's activities by when they happen (done) or are due (planned).
    op.execute(
        "CREATE INDEX ix_activities_calendar ON activities "
        "(tenant_id, owner_id, (coalesce(data ->> 'done_at', data ->> 'due_at') COLLATE \"C\")) "
        "WHERE deleted_at IS NULL"
    )
    # Behind target by grade: owned, live customers of one grade, newest first.
    op.execute(
        "CREATE INDEX ix_accounts_grade_owned ON accounts (tenant_id, (data ->> 'grade'), id) "
        "WHERE owner_id IS NOT NULL AND deleted_at IS NULL"
    )


def downgrade():
    op.drop_index("ix_accounts_grade_owned", table_name="accounts")
    for name in ("ix_activities_calendar", "ix_activities_planned", "ix_activities_contacts"):
        op.drop_index(name, table_name="activities")
    op.drop_table("visit_targets")
    op.drop_index("ix_activity_replies_record", table_name="activity_replies")
    op.drop_table("activity_replies")
