"""The stored-file tables: metadata (``stored_files``) and bytes (``stored_file_contents``).

The bytes live in their own table so that listing a record's files never reads a blob; both
tables are tenant-scoped, with row-level security like every tenant table (migration 0019).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    LargeBinary,
    String,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from saas.extensions import db
from tenants.context import TenantScoped

ATTACHMENT = "attachment"
ASSET = "asset"


class StoredFile(TenantScoped, db.Model):
    """A file's metadata. ``kind`` is ``attachment`` (on the record ``object_key`` /
    ``record_id``) or ``asset`` (a company-wide image under a unique ``name`` such as ``logo``
    or ``seal``). ``content_type`` is what the bytes were detected to be, never what the client
    claimed; ``sha256`` (hex) is the download's ETag."""

    __tablename__ = "stored_files"
    __table_args__ = (
        CheckConstraint("kind IN ('attachment', 'asset')", name="kind"),
        CheckConstraint(
            "(kind = 'attachment' AND object_key IS NOT NULL AND record_id IS NOT NULL"
            " AND name IS NULL)"
            " OR (kind = 'asset' AND object_key IS NULL AND record_id IS NULL"
            " AND name IS NOT NULL)",
            name="owner",
        ),
        CheckConstraint("size > 0", name="size"),
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256"),
        CheckConstraint("length(filename) > 0", name="filename"),
        Index("ix_stored_files_record", "tenant_id", "object_key", "record_id", "id"),
        Index(
            "uq_stored_files_asset",
            "tenant_id",
            "name",
            unique=True,
            postgresql_where=text("kind = 'asset'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    object_key: Mapped[str | None] = mapped_column(String(60))
    record_id: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(String(40))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class StoredFileContent(TenantScoped, db.Model):
    """The bytes of one stored file (removed with it through ``ON DELETE CASCADE``)."""

    __tablename__ = "stored_file_contents"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "file_id"],
            ["stored_files.tenant_id", "stored_files.id"],
            ondelete="CASCADE",
        ),
    )

    file_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
