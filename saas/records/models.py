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
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from saas.extensions import db
from tenants.context import TenantScoped

#: Records not in the recycle bin (the predicate of the ``ix_<table>_live`` indexes).
LIVE = text("deleted_at IS NULL")


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
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list, server_default="{}")
    #: Lower-cased name, pinyin (full and initials) and searchable values for quick search;
    #: trigram-indexed (``saas.records.search``).
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        name = cls.__tablename__
        return (
            Index(f"ix_{name}_tenant_name", "tenant_id", "name"),
            Index(f"ix_{name}_tenant_owner", "tenant_id", "owner_id"),
            # Live records only: a count reads this index alone (index-only scan).
            Index(f"ix_{name}_live", "tenant_id", "id", postgresql_where=LIVE),
            Index(f"ix_{name}_tags", "tags", postgresql_using="gin"),
            Index(
                f"ix_{name}_search",
                "search_text",
                postgresql_using="gin",
                postgresql_ops={"search_text": "gin_trgm_ops"},
            ),
        )


class Account(RecordColumns, db.Model):
    """A customer (客户). Its owner works it exclusively; without one it is in the public pool
    (``saas.crm.pool``), which also keeps the four dates below."""

    __tablename__ = "accounts"

    #: When the current owner got it (creation, claim, assignment or transfer).
    owned_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: The latest follow-up logged against it; the return-to-pool clock starts here.
    last_activity_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: When it went into the pool; set only while it has no owner.
    pool_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: When its development window ran out without a deal (reset by a change of owner).
    review_flagged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


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
            Index("ix_custom_records_live", "tenant_id", "object_id", "id", postgresql_where=LIVE),
            Index("ix_custom_records_tags", "tags", postgresql_using="gin"),
            Index(
                "ix_custom_records_search",
                "search_text",
                postgresql_using="gin",
                postgresql_ops={"search_text": "gin_trgm_ops"},
            ),
        )


#: Every table that holds records (the list reader may SELECT these and nothing else).
RECORD_TABLES = (
    "accounts",
    "contacts",
    "leads",
    "opportunities",
    "activities",
    "products",
    "quotes",
    "quote_lines",
    "contracts",
    "custom_records",
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


class SavedView(TenantScoped, db.Model):
    """A named list of an object's records: columns, filter, sort, page size, layout.

    ``visibility`` says who sees it: ``private`` (its owner), ``roles`` / ``teams`` (those listed
    in ``shared_with``) or ``tenant`` (everyone).
    """

    __tablename__ = "saved_views"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "object_id"],
            ["object_definitions.tenant_id", "object_definitions.id"],
            ondelete="CASCADE",
        ),
        Index("ix_saved_views_object", "tenant_id", "object_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    object_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(100))
    owner_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE")
    )
    visibility: Mapped[str] = mapped_column(String(20), default="private")
    #: Role keys or team ids the view is shared with.
    shared_with: Mapped[list[Any]] = mapped_column(JSONB, default=list)
    #: ``[{"key": "amount", "width": 120}, ...]`` in display order.
    columns: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    filter: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    sort: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    page_size: Mapped[int] = mapped_column(Integer, default=50)
    #: ``list`` or ``kanban`` (grouped by the picklist ``group_by``).
    layout: Mapped[str] = mapped_column(String(20), default="list")
    group_by: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ViewPreference(TenantScoped, db.Model):
    """A user's default view of an object: a saved view id or a built-in key (``all``, ``mine``,
    ``my_team``, ``recent``)."""

    __tablename__ = "view_preferences"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "object_id"],
            ["object_definitions.tenant_id", "object_definitions.id"],
            ondelete="CASCADE",
        ),
    )

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    object_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    default_view: Mapped[str] = mapped_column(String(40))


class RecentRecord(TenantScoped, db.Model):
    """When a user last opened a record, for the "Recently viewed" view."""

    __tablename__ = "recent_records"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "object_id"],
            ["object_definitions.tenant_id", "object_definitions.id"],
            ondelete="CASCADE",
        ),
        Index("ix_recent_records_user", "tenant_id", "user_id", "object_id", "viewed_at"),
    )

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    object_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    record_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    viewed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class RecordShare(TenantScoped, db.Model):
    """A record opened to one member or one team (and the teams below it) beyond their data
    scope: ``access`` is ``read`` or ``edit``."""

    __tablename__ = "record_shares"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "team_id"], ["teams.tenant_id", "teams.id"], ondelete="CASCADE"
        ),
        Index(
            "uq_record_shares_user",
            "tenant_id",
            "object_key",
            "user_id",
            "record_id",
            unique=True,
            postgresql_where=text("user_id IS NOT NULL"),
        ),
        Index(
            "uq_record_shares_team",
            "tenant_id",
            "object_key",
            "team_id",
            "record_id",
            unique=True,
            postgresql_where=text("team_id IS NOT NULL"),
        ),
        Index("ix_record_shares_record", "tenant_id", "object_key", "record_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    object_key: Mapped[str] = mapped_column(String(60))
    record_id: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE")
    )
    team_id: Mapped[int | None] = mapped_column(BigInteger)
    access: Mapped[str] = mapped_column(String(10))
    created_by: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
