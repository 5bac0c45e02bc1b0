"""Print templates and generated documents: ``print_templates``, their immutable versions
(``print_template_versions``), the generated PDFs and zips (``print_documents``) and their bytes
(``print_document_contents``). Triggers refuse changes to what a version or a document holds.

Starter templates are not inserted here: a company gets them at signup, and an existing company
the first time it uses templates (``print_templates.services.ensure_starters``), so the starters
shipped with the code, not a copy frozen in this revision, are what it receives.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-12 09:00:00

"""

import sqlalchemy as sa
from alembic import op

from tenants.rls import enable_tenant_rls

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def _users_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["users.id"], name=f"fk_{table}_{column}_users", ondelete="SET NULL"
    )


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
    )


def upgrade():
    op.create_table(
        "print_templates",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("object_key", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("starter", sa.String(length=40), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("locale IN ('zh_CN', 'en')", name=op.f("ck_print_templates_locale")),
        sa.CheckConstraint("current_version > 0", name=op.f("ck_print_templates_current_version")),
        sa.CheckConstraint(
            "is_default IS FALSE OR active", name=op.f("ck_print_templates_default_active")
        ),
        _tenant_fk("print_templates"),
        _users_fk("print_templates", "created_by"),
        _users_fk("print_templates", "updated_by"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_print_templates"),
    )
    # One default template per company, object and language.
    op.create_index(
        "uq_print_templates_default",
        "print_templates",
        ["tenant_id", "object_key", "locale"],
        unique=True,
        postgresql_where=sa.text("is_default"),
    )
    # A starter is installed once per company.
    op.create_index(
        "uq_print_templates_starter",
        "print_templates",
        ["tenant_id", "starter"],
        unique=True,
        postgresql_where=sa.text("starter IS NOT NULL"),
    )
    op.create_index("ix_print_templates_object", "print_templates", ["tenant_id", "object_key"])
    enable_tenant_rls("print_templates")

    op.create_table(
        "print_template_versions",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("template_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("css", sa.Text(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("version > 0", name=op.f("ck_print_template_versions_version")),
        _tenant_fk("print_template_versions"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "template_id"],
            ["print_templates.tenant_id", "print_templates.id"],
            name="fk_print_template_versions_tenant_id_print_templates",
            ondelete="CASCADE",
        ),
        _users_fk("print_template_versions", "created_by"),
        sa.PrimaryKeyConstraint(
            "tenant_id", "template_id", "version", name="pk_print_template_versions"
        ),
    )
    enable_tenant_rls("print_template_versions")

    op.create_table(
        "print_documents",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("object_key", sa.String(length=60), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("record_version", sa.Integer(), nullable=True),
        sa.Column("template_id", sa.BigInteger(), nullable=True),
        sa.Column("template_version", sa.Integer(), nullable=True),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.Column("request_key", sa.String(length=200), nullable=False),
        sa.Column("role_key", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("kind IN ('pdf', 'zip')", name=op.f("ck_print_documents_kind")),
        sa.CheckConstraint(
            "status IN ('ready', 'partial')", name=op.f("ck_print_documents_status")
        ),
        sa.CheckConstraint(
            "kind = 'zip' OR record_id IS NOT NULL", name=op.f("ck_print_documents_record")
        ),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_print_documents_sha256")),
        sa.CheckConstraint("size > 0", name=op.f("ck_print_documents_size")),
        _tenant_fk("print_documents"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "template_id", "template_version"],
            [
                "print_template_versions.tenant_id",
                "print_template_versions.template_id",
                "print_template_versions.version",
            ],
            name="fk_print_documents_tenant_id_print_template_versions",
        ),
        _users_fk("print_documents", "created_by"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_print_documents"),
        sa.UniqueConstraint("tenant_id", "request_key", name="uq_print_documents_request_key"),
    )
    op.create_index(
        "ix_print_documents_record",
        "print_documents",
        ["tenant_id", "object_key", "record_id", "id"],
    )
    enable_tenant_rls("print_documents")

    op.create_table(
        "print_document_contents",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("document_id", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        _tenant_fk("print_document_contents"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "document_id"],
            ["print_documents.tenant_id", "print_documents.id"],
            name="fk_print_document_contents_tenant_id_print_documents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "document_id", name="pk_print_document_contents"),
    )
    # PDFs and zips are compressed already: out of line, no second compression attempt.
    op.execute("ALTER TABLE print_document_contents ALTER COLUMN content SET STORAGE EXTERNAL")
    enable_tenant_rls("print_document_contents")

    # Versions and documents are snapshots: what they hold never changes. (Moving a row to
    # another company is left to row-level security, which refuses it; a deleted user's
    # ``created_by`` may still become NULL.)
    op.execute(
        """
        CREATE FUNCTION print_snapshot_unchanged() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF (to_jsonb(NEW) - 'tenant_id' - 'created_by')
             IS DISTINCT FROM (to_jsonb(OLD) - 'tenant_id' - 'created_by') THEN
            RAISE EXCEPTION '% rows cannot be changed', TG_TABLE_NAME
              USING ERRCODE = 'integrity_constraint_violation';
          END IF;
          RETURN NEW;
        END $$
        """
    )
    for table in ("print_template_versions", "print_documents", "print_document_contents"):
        op.execute(
            f"CREATE TRIGGER {table}_unchanged BEFORE UPDATE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION print_snapshot_unchanged()"
        )


def downgrade():
    op.drop_table("print_document_contents")
    op.drop_table("print_documents")
    op.drop_table("print_template_versions")
    op.drop_table("print_templates")
    op.execute("DROP FUNCTION IF EXISTS print_snapshot_unchanged()")
