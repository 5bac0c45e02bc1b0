"""Tables of print templates and generated documents.

A template (``print_templates``) belongs to an object (standard or custom) and a language; its
HTML and CSS live in immutable versions (``print_template_versions``): every save adds one, and
``current_version`` names the one in use. A generated document (``print_documents``) is an
immutable snapshot — a record's PDF or a batch's zip — whose bytes sit in a table of their own
(``print_document_contents``) so that lists never read them. Triggers in migration 0020 refuse
any change to what a version or a document holds.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from saas.extensions import db
from tenants.context import TenantScoped

#: Languages a template is written in.
LOCALES = ("zh_CN", "en")
#: Longest template source and stylesheet, in characters.
MAX_SOURCE = 200_000
MAX_CSS = 100_000
MAX_NAME = 100
MAX_REQUEST_KEY = 200


class PrintTemplate(TenantScoped, db.Model):
    """A company's template for printing records of one object in one language.

    ``is_default`` marks the template the object's "PDF" button uses in that language (at most
    one per object and language: a partial unique index). ``starter`` names the built-in
    starter the row was installed from (``quote.zh_CN`` …), so installing twice adds nothing.
    Templates are archived (``active`` false), never deleted: documents name their versions.
    """

    __tablename__ = "print_templates"
    __table_args__ = (
        CheckConstraint("locale IN ('zh_CN', 'en')", name="locale"),
        CheckConstraint("current_version > 0", name="current_version"),
        CheckConstraint("is_default IS FALSE OR active", name="default_active"),
        Index(
            "uq_print_templates_default",
            "tenant_id",
            "object_key",
            "locale",
            unique=True,
            postgresql_where=text("is_default"),
        ),
        Index(
            "uq_print_templates_starter",
            "tenant_id",
            "starter",
            unique=True,
            postgresql_where=text("starter IS NOT NULL"),
        ),
        Index("ix_print_templates_object", "tenant_id", "object_key"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    object_key: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(MAX_NAME))
    locale: Mapped[str] = mapped_column(String(10))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    starter: Mapped[str | None] = mapped_column(String(40))
    created_by: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_by: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PrintTemplateVersion(TenantScoped, db.Model):
    """One saved state of a template: its HTML source and CSS, never changed afterwards.

    ``note`` says where it came from when it was not typed in (a restore of an older version,
    the starter it was installed from)."""

    __tablename__ = "print_template_versions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "template_id"],
            ["print_templates.tenant_id", "print_templates.id"],
            ondelete="CASCADE",
        ),
        CheckConstraint("version > 0", name="version"),
    )

    template_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    css: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PrintDocument(TenantScoped, db.Model):
    """A generated document, immutable: a record's PDF (``kind`` ``pdf``) or a batch's zip of
        PDFs (``zip``, no ``record_id``).

        ``request_key`` is unique per company: the same request made twice, or retried after a
        worker died, stores one document (``INSERT … ON CONFLICT DO NOTHING``). ``template_id`` and
        ``template_version`` name the version used (both empty: the built-in generic template);
        ``record_version`` is the record's version when it was rendered, ``role_key`` the role whose
    field access applied. ``status`` is ``ready``,
        or ``partial`` for a zip that lacks some records (``error`` says which and why)."""

    __tablename__ = "print_documents"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "template_id", "template_version"],
            [
                "print_template_versions.tenant_id",
                "print_template_versions.template_id",
                "print_template_versions.version",
            ],
        ),
        UniqueConstraint("tenant_id", "request_key", name="uq_print_documents_request_key"),
        CheckConstraint("kind IN ('pdf', 'zip')", name="kind"),
        CheckConstraint("status IN ('ready', 'partial')", name="status"),
        CheckConstraint("kind = 'zip' OR record_id IS NOT NULL", name="record"),
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256"),
        CheckConstraint("size > 0", name="size"),
        # A record's documents, newest first.
        Index("ix_print_documents_record", "tenant_id", "object_key", "record_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), default="pdf")
    object_key: Mapped[str] = mapped_column(String(60))
    record_id: Mapped[int | None] = mapped_column(BigInteger)
    record_version: Mapped[int | None] = mapped_column(Integer)
    template_id: Mapped[int | None] = mapped_column(BigInteger)
    template_version: Mapped[int | None] = mapped_column(Integer)
    locale: Mapped[str] = mapped_column(String(10))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    pages: Mapped[int | None] = mapped_column(Integer)
    #: PDFs in a zip.
    count: Mapped[int | None] = mapped_column(Integer)
    request_key: Mapped[str] = mapped_column(String(MAX_REQUEST_KEY))
    #: The role whose field access the document was rendered with: people of other roles
    #: (owners and administrators apart) do not get it, it may hold fields hidden from them.
    role_key: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10), default="ready")
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PrintDocumentContent(TenantScoped, db.Model):
    """The bytes of a :class:`PrintDocument`, read only to download it."""

    __tablename__ = "print_document_contents"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "document_id"],
            ["print_documents.tenant_id", "print_documents.id"],
            ondelete="CASCADE",
        ),
    )

    document_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
