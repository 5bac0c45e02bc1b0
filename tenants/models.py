"""Tenants, their members, roles, invitations, API tokens, audit trail and mail outbox."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from saas.extensions import db
from tenants.context import TenantScoped


class Tenant(db.Model):
    """A company with a hosted account. Not tenant-owned itself: it is the registry of tenants."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    default_locale: Mapped[str] = mapped_column(String(10), default="zh_CN")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    #: What saving a possible duplicate customer, contact or lead does: ``warn`` or ``block``.
    duplicate_policy: Mapped[str] = mapped_column(String(10), default="warn", server_default="warn")
    #: Public pool rules (``saas.crm.pool``): days without activity before an owned customer
    #: returns to the pool (0: never), the most customers one person may own (0: no limit), days
    #: of a development window before review (0: never), lifecycle stages that never return,
    #: and days before someone may claim back a customer they released or lost.
    pool_return_days: Mapped[int] = mapped_column(Integer, default=60, server_default="60")
    pool_owner_cap: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    pool_review_days: Mapped[int] = mapped_column(Integer, default=180, server_default="180")
    pool_exempt_stages: Mapped[list[str]] = mapped_column(
        ARRAY(String(40)),
        default=lambda: ["customer", "renewal"],
        server_default="{customer,renewal}",
    )
    pool_reclaim_days: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: A quote whose overall discount is above this percent needs a manager's approval.
    quote_discount_threshold: Mapped[Decimal] = mapped_column(
        Numeric(5, 2), default=Decimal(10), server_default="10"
    )
    #: Days a deleted record stays in the recycle bin before the daily purge removes it for
    #: good (0: kept until someone restores or purges it; ``saas.records.retention``).
    recycle_days: Mapped[int] = mapped_column(Integer, default=30, server_default="30")
    #: After-sale follow-ups of a won deal, due this long after it was won (ISO 8601
    #: durations: ``P7D``, ``P2W``, ``P1M``, ``P1Y``; ``saas.crm.pipeline``). Empty: none.
    followup_offsets: Mapped[list[str]] = mapped_column(
        ARRAY(String(10)),
        default=lambda: ["P7D", "P1M", "P3M", "P1Y"],
        server_default="{P7D,P1M,P3M,P1Y}",
    )
    #: Bumped by every metadata change; processes compare it to drop cached definitions.
    metadata_version: Mapped[int] = mapped_column(BigInteger, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    def __repr__(self) -> str:
        return f"<Tenant {self.slug}>"


class RoleKey(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MANAGER = "manager"
    MEMBER = "member"
    READ_ONLY = "read_only"


ROLE_LABELS = {
    RoleKey.OWNER: _l("Owner"),
    RoleKey.ADMIN: _l("Administrator"),
    RoleKey.MANAGER: _l("Manager"),
    RoleKey.MEMBER: _l("Member"),
    RoleKey.READ_ONLY: _l("Read-only"),
}


def role_label(key: str) -> str:
    """The role's name in the current language (custom roles show their key)."""
    label = ROLE_LABELS.get(key)  # type: ignore[call-overload]
    return str(label) if label is not None else key


#: Roles, most powerful first. Built-in roles cannot be deleted.
BUILTIN_ROLES: tuple[RoleKey, ...] = tuple(RoleKey)
ADMIN_ROLES = frozenset({RoleKey.OWNER, RoleKey.ADMIN})
WRITE_ROLES = frozenset({RoleKey.OWNER, RoleKey.ADMIN, RoleKey.MANAGER, RoleKey.MEMBER})


class Role(TenantScoped, db.Model):
    """A role within a tenant; the built-in five are created at signup."""

    __tablename__ = "roles"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_en: Mapped[str] = mapped_column(String(100))
    name_zh: Mapped[str] = mapped_column(String(100))
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    rank: Mapped[int] = mapped_column(default=100)
    #: Which records the role sees: all, team_and_below, team or own (see ``DataScope``).
    data_scope: Mapped[str] = mapped_column(String(20), default="all", server_default="all")


class RolePermission(TenantScoped, db.Model):
    """What a role may do with one object (module permissions) and, optionally, which of its
    records it sees (``data_scope``; ``None``: the role's own scope). No row: the role's
    defaults (``tenants.permissions.default_grant``)."""

    __tablename__ = "role_permissions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "role_key"], ["roles.tenant_id", "roles.key"], ondelete="CASCADE"
        ),
    )

    role_key: Mapped[str] = mapped_column(String(40), primary_key=True)
    object_key: Mapped[str] = mapped_column(String(60), primary_key=True)
    can_view: Mapped[bool] = mapped_column(Boolean)
    can_create: Mapped[bool] = mapped_column(Boolean)
    can_edit: Mapped[bool] = mapped_column(Boolean)
    can_delete: Mapped[bool] = mapped_column(Boolean)
    can_export: Mapped[bool] = mapped_column(Boolean)
    data_scope: Mapped[str | None] = mapped_column(String(20))


class DataScope(enum.StrEnum):
    """The records a role may see, by their owner."""

    ALL = "all"
    TEAM_AND_BELOW = "team_and_below"
    TEAM = "team"
    OWN = "own"


DATA_SCOPE_LABELS = {
    DataScope.ALL: _l("All records"),
    DataScope.TEAM_AND_BELOW: _l("Records of my team and the teams below it"),
    DataScope.TEAM: _l("Records of my team"),
    DataScope.OWN: _l("Only my own records"),
}


class Team(TenantScoped, db.Model):
    """A sales team; teams form a tree (``parent_id``) for "my team and below"."""

    __tablename__ = "teams"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "parent_id"],
            ["teams.tenant_id", "teams.id"],
        ),  # deleting a team first detaches its members and sub-teams (tenants.teams)
        UniqueConstraint("tenant_id", "name"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    parent_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class MembershipStatus(enum.StrEnum):
    ACTIVE = "active"
    DEACTIVATED = "deactivated"


class Membership(TenantScoped, db.Model):
    """A user's place in a tenant: its role and whether it is active."""

    __tablename__ = "memberships"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "role_key"], ["roles.tenant_id", "roles.key"], ondelete="RESTRICT"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "team_id"],
            ["teams.tenant_id", "teams.id"],
        ),
        Index("ix_memberships_user_id", "user_id"),
    )

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role_key: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default=MembershipStatus.ACTIVE)
    team_id: Mapped[int | None] = mapped_column(BigInteger)
    #: The member's job title in their team (销售经理), shown with the team.
    position: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    user = relationship("User", lazy="joined")
    tenant = relationship(Tenant, lazy="joined")

    @property
    def is_active(self) -> bool:
        return self.status == MembershipStatus.ACTIVE


class Invitation(TenantScoped, db.Model):
    """An emailed invitation to join a tenant with a role; the token is stored hashed."""

    __tablename__ = "invitations"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "role_key"], ["roles.tenant_id", "roles.key"], ondelete="RESTRICT"
        ),
        UniqueConstraint("tenant_id", "token_hash"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    role_key: Mapped[str] = mapped_column(String(40))
    token_hash: Mapped[str] = mapped_column(String(64))
    invited_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None


class ApiToken(TenantScoped, db.Model):
    """A bearer token for the REST API: one tenant, one user, that user's role. Stored hashed."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        UniqueConstraint("tenant_id", "token_hash"),
        ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["memberships.tenant_id", "memberships.user_id"],
            ondelete="CASCADE",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user = relationship(
        "User",
        primaryjoin="foreign(ApiToken.user_id) == User.id",
        lazy="joined",
        viewonly=True,
    )


class AuditEvent(TenantScoped, db.Model):
    """Who did what to which record, with the values before and after."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_tenant_at", "tenant_id", "at"),
        # One record's history is one index read (saas.records.history).
        Index("ix_audit_events_target", "tenant_id", "target_type", "target_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor_user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    actor_token_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(80))
    target_type: Mapped[str] = mapped_column(String(80))
    target_id: Mapped[str | None] = mapped_column(String(80))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    ip: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))

    actor = relationship("User", lazy="joined")


class OutboxMessage(TenantScoped, db.Model):
    """An email kept in the tenant's development outbox when no SMTP server is configured."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(40))
    #: ``[{"filename", "content_type", "data" (base64)}]`` (scheduled reports' workbooks).
    attachments: Mapped[list[dict[str, str]] | None] = mapped_column(JSONB)
