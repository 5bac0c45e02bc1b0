"""Record tables. Standard objects have a table each (their typed system columns grow with the
CRM features); custom objects share ``custom_records``. All carry custom values in ``data``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from saas.extensions import db
from tenants.context import TenantScoped


class RecordColumns(TenantScoped):
    """Columns every record has: name, owner, audit stamps, version, recycle bin, custom data."""

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255))
    owner_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_by: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_by: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    #: Optimistic concurrency: every update must name the version it read (ETag / If-Match).
    version: Mapped[int] = mapped_column(Integer, default=1)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        name = cls.__tablename__
        return (
            Index(f"ix_{name}_tenant_name", "tenant_id", "name"),
            Index(f"ix_{name}_tenant_owner", "tenant_id", "owner_id"),
        )


class Account(RecordColumns, db.Model):
    """A customer (客户)."""

    __tablename__ = "accounts"


class Contact(RecordColumns, db.Model):
    """A person at a customer (联系人)."""

    __tablename__ = "contacts"


class Lead(RecordColumns, db.Model):
    """A prospect not yet qualified (线索)."""

    __tablename__ = "leads"


class Opportunity(RecordColumns, db.Model):
    """A possible deal (商机)."""

    __tablename__ = "opportunities"


class Activity(RecordColumns, db.Model):
    """A visit, call, meeting or other follow-up (跟进记录)."""

    __tablename__ = "activities"


class Product(RecordColumns, db.Model):
    """Something the company sells (产品)."""

    __tablename__ = "products"


class Quote(RecordColumns, db.Model):
    """A priced offer to a customer (报价单)."""

    __tablename__ = "quotes"


class QuoteLine(RecordColumns, db.Model):
    """One line of a quote (报价明细)."""

    __tablename__ = "quote_lines"


class Contract(RecordColumns, db.Model):
    """A signed agreement (合同)."""

    __tablename__ = "contracts"


class CustomRecord(RecordColumns, db.Model):
    """A record of a tenant-defined object; ``object_id`` says which."""

    __tablename__ = "custom_records"

    object_id: Mapped[int] = mapped_column(BigInteger)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            ForeignKeyConstraint(
                ["tenant_id", "object_id"],
                ["object_definitions.tenant_id", "object_definitions.id"],
                ondelete="CASCADE",
            ),
            Index("ix_custom_records_tenant_object_id", "tenant_id", "object_id", "id"),
            Index("ix_custom_records_tenant_object_name", "tenant_id", "object_id", "name"),
            Index("ix_custom_records_tenant_owner", "tenant_id", "owner_id"),
        )


STANDARD_MODELS: dict[str, type[RecordColumns]] = {
    "account": Account,
    "contact": Contact,
    "lead": Lead,
    "opportunity": Opportunity,
    "activity": Activity,
    "product": Product,
    "quote": Quote,
    "quote_line": QuoteLine,
    "contract": Contract,
}


class UniqueValue(TenantScoped, db.Model):
    """Claims a value of a unique field: the primary key makes concurrent duplicates fail."""

    __tablename__ = "unique_values"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "field_id"],
            ["field_definitions.tenant_id", "field_definitions.id"],
            ondelete="CASCADE",
        ),
        Index("ix_unique_values_record", "tenant_id", "field_id", "record_id"),
    )

    field_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[str] = mapped_column(Text, primary_key=True)
    record_id: Mapped[int] = mapped_column(BigInteger)


class AutoNumberCounter(TenantScoped, db.Model):
    """The last number handed out for an auto-number field (or object name) in a period."""

    __tablename__ = "auto_number_counters"

    counter: Mapped[str] = mapped_column(String(80), primary_key=True)
    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    last_value: Mapped[int] = mapped_column(BigInteger)
