"""The metadata store: each tenant's objects, their fields, picklist values, field access and
page layouts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from saas.extensions import db
from tenants.context import TenantScoped


class ObjectDefinition(TenantScoped, db.Model):
    """An object type of one tenant (account, contact, … or a custom one), keyed by ``key``."""

    __tablename__ = "object_definitions"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    key: Mapped[str] = mapped_column(String(60))
    label_en: Mapped[str] = mapped_column(String(100))
    label_zh: Mapped[str] = mapped_column(String(100))
    plural_en: Mapped[str] = mapped_column(String(100))
    plural_zh: Mapped[str] = mapped_column(String(100))
    icon: Mapped[str] = mapped_column(String(40), default="box")
    is_standard: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Custom objects may number their records (``{0000}`` tokens) instead of asking a name.
    name_pattern: Mapped[str | None] = mapped_column(String(60))
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    def label(self, locale: str) -> str:
        return self.label_zh if locale.startswith("zh") else self.label_en

    def plural(self, locale: str) -> str:
        return self.plural_zh if locale.startswith("zh") else self.plural_en


class FieldDefinition(TenantScoped, db.Model):
    """A field of an object. ``key`` never changes: record values are stored under it.

    Deleting sets ``deleted_at`` (the values stay and the field can be restored) until purged.
    A system field (``is_system``) comes from the catalogue in ``custom_fields/system_fields.py``:
    the product's own code reads it by key, so it cannot be deleted, converted or made optional.
    """

    __tablename__ = "field_definitions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "object_id", "key"),
        ForeignKeyConstraint(
            ["tenant_id", "object_id"],
            ["object_definitions.tenant_id", "object_definitions.id"],
            ondelete="CASCADE",
        ),
        CheckConstraint("key ~ '^[a-z][a-z0-9_]{1,59}$'", name="key_format"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    object_id: Mapped[int] = mapped_column(BigInteger)
    key: Mapped[str] = mapped_column(String(60))
    type: Mapped[str] = mapped_column(String(30))
    label_en: Mapped[str] = mapped_column(String(100))
    label_zh: Mapped[str] = mapped_column(String(100))
    help_en: Mapped[str] = mapped_column(Text, default="")
    help_zh: Mapped[str] = mapped_column(Text, default="")
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    unique: Mapped[bool] = mapped_column(Boolean, default=False)
    indexed: Mapped[bool] = mapped_column(Boolean, default=False)
    #: State of the database index behind ``indexed``: building, ready or failed (null: none).
    index_state: Mapped[str | None] = mapped_column(String(20))
    searchable: Mapped[bool] = mapped_column(Boolean, default=False)
    default: Mapped[Any] = mapped_column(JSONB, nullable=True)
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_system: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    def label(self, locale: str) -> str:
        return self.label_zh if locale.startswith("zh") else self.label_en


class PicklistValue(TenantScoped, db.Model):
    """One value of a picklist or multi-picklist field: user-defined code, labels, colour, order."""

    __tablename__ = "picklist_values"
    __table_args__ = (
        UniqueConstraint("tenant_id", "field_id", "code"),
        ForeignKeyConstraint(
            ["tenant_id", "field_id"],
            ["field_definitions.tenant_id", "field_definitions.id"],
            ondelete="CASCADE",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    field_id: Mapped[int] = mapped_column(BigInteger)
    code: Mapped[str] = mapped_column(String(60))
    label_en: Mapped[str] = mapped_column(String(100))
    label_zh: Mapped[str] = mapped_column(String(100))
    colour: Mapped[str | None] = mapped_column(String(7))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class FieldAccess(TenantScoped, db.Model):
    """How a role may use a field: hidden, read-only or editable (no row means editable)."""

    __tablename__ = "field_access"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "field_id"],
            ["field_definitions.tenant_id", "field_definitions.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "role_key"], ["roles.tenant_id", "roles.key"], ondelete="CASCADE"
        ),
        CheckConstraint("access IN ('hidden', 'read_only', 'editable')", name="access_value"),
    )

    field_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    role_key: Mapped[str] = mapped_column(String(40), primary_key=True)
    access: Mapped[str] = mapped_column(String(10))


class PageLayout(TenantScoped, db.Model):
    """How an object's record pages arrange its fields: titled sections of one or two columns.

    ``sections`` is ``[{"title_en", "title_zh", "columns": 1 | 2, "fields": [key, …]}, …]``.
    Fields a layout does not place are shown in an "Other" section, so a layout never hides one.
    """

    __tablename__ = "page_layouts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "object_id"],
            ["object_definitions.tenant_id", "object_definitions.id"],
            ondelete="CASCADE",
        ),
    )

    object_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sections: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    updated_by: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
