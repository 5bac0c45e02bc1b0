"""Stored files: attachments of records and company assets (``stored_files``, metadata) and
their bytes (``stored_file_contents``), kept apart so that lists never read the blobs.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-11 09:00:00

"""

import sqlalchemy as sa
from alembic import op

from tenants.rls import enable_tenant_rls

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "stored_files",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("object_key", sa.String(length=60), nullable=True),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("name", sa.String(length=40), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("kind IN ('attachment', 'asset')", name=op.f("ck_stored_files_kind")),
        # An attachment belongs to a record; an asset has a name and no record.
        sa.CheckConstraint(
            "(kind = 'attachment' AND object_key IS NOT NULL AND record_id IS NOT NULL"
            " AND name IS NULL)"
            " OR (kind = 'asset' AND object_key IS NULL AND record_id IS NULL"
            " AND name IS NOT NULL)",
            name=op.f("ck_stored_files_owner"),
        ),
        sa.CheckConstraint("size > 0", name=op.f("ck_stored_files_size")),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_stored_files_sha256")),
        sa.CheckConstraint("length(filename) > 0", name=op.f("ck_stored_files_filename")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_stored_files_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name="fk_stored_files_created_by_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_stored_files"),
    )
    # A record's files, newest first (keyset on id).
    op.create_index(
        "ix_stored_files_record",
        "stored_files",
        ["tenant_id", "object_key", "record_id", "id"],
    )
    # One asset per name and company ("logo", "seal").
    op.create_index(
        "uq_stored_files_asset",
        "stored_files",
        ["tenant_id", "name"],
        unique=True,
        postgresql_where=sa.text("kind = 'asset'"),
    )
    enable_tenant_rls("stored_files")

    op.create_table(
        "stored_file_contents",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("file_id", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_stored_file_contents_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "file_id"],
            ["stored_files.tenant_id", "stored_files.id"],
            name="fk_stored_file_contents_tenant_id_stored_files",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "file_id", name="pk_stored_file_contents"),
    )
    # Most uploads (images, PDFs, office files) are compressed already: store them out of line
    # without another compression attempt.
    op.execute("ALTER TABLE stored_file_contents ALTER COLUMN content SET STORAGE EXTERNAL")
    enable_tenant_rls("stored_file_contents")


def downgrade():
    op.drop_table("stored_file_contents")
    op.drop_table("stored_files")
