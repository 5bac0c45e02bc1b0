"""Leads and the pipeline: how new leads get an owner (``lead_assignment``), the rules that
score them (``lead_score_rules``), the probability and kind of each opportunity stage
(``opportunity_stages``), the stage history of opportunities (``stage_history``), the offsets
of after-sale follow-ups (``tenants.followup_offsets``), and the activity's ``lead`` lookup
(the system-field catalogue given again to existing companies).

Existing companies get the default stage table.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 09:00:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from tenants.rls import enable_tenant_rls

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

#: The default stage table as of this revision: code → (probability, kind).
DEFAULT_STAGES = {
    "qualification": (10, "open"),
    "needs_analysis": (25, "open"),
    "proposal": (50, "open"),
    "negotiation": (75, "open"),
    "won": (100, "won"),
    "lost": (0, "lost"),
}


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
    )


def upgrade():
    op.create_table(
        "lead_assignment",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("mode", sa.String(length=20), server_default="manual", nullable=False),
        sa.Column("members", ARRAY(sa.BigInteger()), server_default="{}", nullable=False),
        sa.Column("cursor", sa.Integer(), server_default="0", nullable=False),
        sa.Column("regions", JSONB(), server_default="{}", nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "mode IN ('manual', 'round_robin', 'by_region')", name=op.f("ck_lead_assignment_mode")
        ),
        sa.CheckConstraint("cursor >= 0", name=op.f("ck_lead_assignment_cursor")),
        _tenant_fk("lead_assignment"),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_lead_assignment"),
    )
    enable_tenant_rls("lead_assignment")

    op.create_table(
        "lead_score_rules",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("condition", JSONB(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.CheckConstraint("points BETWEEN -100 AND 100", name=op.f("ck_lead_score_rules_points")),
        _tenant_fk("lead_score_rules"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_lead_score_rules"),
    )
    op.create_index("ix_lead_score_rules_position", "lead_score_rules", ["tenant_id", "position"])
    enable_tenant_rls("lead_score_rules")

    op.create_table(
        "opportunity_stages",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("probability", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), server_default="open", nullable=False),
        sa.CheckConstraint(
            "probability BETWEEN 0 AND 100", name=op.f("ck_opportunity_stages_probability")
        ),
        sa.CheckConstraint(
            "kind IN ('open', 'won', 'lost')", name=op.f("ck_opportunity_stages_kind")
        ),
        _tenant_fk("opportunity_stages"),
        sa.PrimaryKeyConstraint("tenant_id", "code", name="pk_opportunity_stages"),
    )
    # Written before row-level security is switched on, so that the owner may write them for
    # every company whatever its privileges. A code a company does not have is never read.
    defaults = sa.values(
        sa.column("code", sa.String),
        sa.column("probability", sa.Integer),
        sa.column("kind", sa.String),
        name="d",
    ).data([(code, p, kind) for code, (p, kind) in DEFAULT_STAGES.items()])
    tenants = sa.table("tenants", sa.column("id", sa.BigInteger))
    stages = sa.table(
        "opportunity_stages",
        *(sa.column(name) for name in ("tenant_id", "code", "probability", "kind")),
    )
    op.execute(
        sa.insert(stages).from_select(
            ["tenant_id", "code", "probability", "kind"],
            sa.select(
                tenants.c.id, defaults.c.code, defaults.c.probability, defaults.c.kind
            ).join_from(tenants, defaults, sa.true()),
        )
    )
    enable_tenant_rls("opportunity_stages")

    op.create_table(
        "stage_history",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("opportunity_id", sa.BigInteger(), nullable=False),
        sa.Column("from_stage", sa.String(length=60), nullable=True),
        sa.Column("to_stage", sa.String(length=60), nullable=True),
        sa.Column("changed_by", sa.BigInteger(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount", sa.Numeric(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        _tenant_fk("stage_history"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "opportunity_id"],
            ["opportunities.tenant_id", "opportunities.id"],
            name="fk_stage_history_tenant_id_opportunities",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["changed_by"],
            ["users.id"],
            name="fk_stage_history_changed_by_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_stage_history"),
    )
    op.create_index(
        "ix_stage_history_opportunity",
        "stage_history",
        ["tenant_id", "opportunity_id", "changed_at", "id"],
    )
    enable_tenant_rls("stage_history")

    op.add_column(
        "tenants",
        sa.Column(
            "followup_offsets",
            ARRAY(sa.String(length=10)),
            server_default="{P7D,P1M,P3M,P1Y}",
            nullable=False,
        ),
    )

    # The catalogue gained the activity's ``lead`` lookup: existing companies get it too.
    from custom_fields.system_fields import backfill

    backfill(op.get_bind())


def downgrade():
    op.drop_column("tenants", "followup_offsets")
    op.drop_index("ix_stage_history_opportunity", table_name="stage_history")
    op.drop_table("stage_history")
    op.drop_table("opportunity_stages")
    op.drop_index("ix_lead_score_rules_position", table_name="lead_score_rules")
    op.drop_table("lead_score_rules")
    op.drop_table("lead_assignment")
