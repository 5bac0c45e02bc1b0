"""In-app notifications: something a person should know about, shown by the bell in the header.

A notification stores its ``kind`` and ``params`` (plain JSON), never text: the message is
rendered when it is shown, in the reader's language, by the renderer its kind registered
(:func:`register`). Features add their kinds at import time (``saas.crm.pool`` for the public
pool). :func:`notify` adds a row to the caller's transaction, so a notification exists exactly
when the change it reports was committed. Every read and change is limited to the reader's own
notifications; row-level security limits them to the tenant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, String, func, select, text
from sqlalchemy import insert as core_insert
from sqlalchemy import update as core_update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from saas.errors import DomainError
from saas.extensions import db
from tenants.context import TenantScoped, current_tenant_id

MAX_PAGE = 100


class Notification(TenantScoped, db.Model):
    """One message for one person: what happened (``kind`` and ``params``), the record it is
    about (``object_key``, ``record_id``), and when the person read it."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user", "tenant_id", "user_id", "id"),
        Index(
            "ix_notifications_unread",
            "tenant_id",
            "user_id",
            "id",
            postgresql_where=text("read_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(60))
    object_key: Mapped[str | None] = mapped_column(String(60))
    record_id: Mapped[int | None] = mapped_column(BigInteger)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class Kind:
    """How a kind of notification reads (``message(params)``, called in the reader's language)
    and, optionally, where it leads (``link(notification)``; by default the record's page)."""

    message: Callable[[Mapping[str, Any]], str]
    link: Callable[[Notification], str | None] | None = None


_KINDS: dict[str, Kind] = {}


def actor_name(params: Mapping[str, Any]) -> str:
    """Who did it, as stored in a notification's parameters ("Someone" when unknown)."""
    return params.get("actor") or _("Someone")


def register(
    kind: str,
    message: Callable[[Mapping[str, Any]], str],
    link: Callable[[Notification], str | None] | None = None,
) -> None:
    """Declare a kind of notification and how it renders."""
    _KINDS[kind] = Kind(message, link)


def notify(
    user_id: int,
    kind: str,
    *,
    object_key: str | None = None,
    record_id: int | None = None,
    params: Mapping[str, Any] | None = None,
) -> Notification:
    """Add a notification for ``user_id`` to the caller's transaction (the caller commits)."""
    if kind not in _KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    row = Notification(
        user_id=user_id,
        kind=kind,
        object_key=object_key,
        record_id=record_id,
        params=dict(params or {}),
    )
    db.session.add(row)
    return row


def notify_many(rows: Iterable[Mapping[str, Any]]) -> int:
    """Add many notifications in one statement (batch work such as the pool sweep); each row has
    ``user_id``, ``kind`` and optionally ``object_key``, ``record_id``, ``params``."""
    tenant_id = current_tenant_id()
    values = []
    for row in rows:
        if row["kind"] not in _KINDS:
            raise ValueError(f"unknown notification kind {row['kind']!r}")
        values.append(
            {
                "tenant_id": tenant_id,
                "user_id": row["user_id"],
                "kind": row["kind"],
                "object_key": row.get("object_key"),
                "record_id": row.get("record_id"),
                "params": dict(row.get("params") or {}),
            }
        )
    if values:
        db.session.execute(core_insert(Notification), values)
    return len(values)


# ---------------------------------------------------------------- reading


def message(row: Notification) -> str:
    """The notification's text in the current language."""
    kind = _KINDS.get(row.kind)
    if kind is None:
        return _("Notification")
    try:
        return kind.message(row.params or {})
    except (KeyError, TypeError, ValueError):  # params from an older version of the kind
        return _("Notification")


def link(row: Notification) -> str | None:
    """Where the notification leads in the web UI (needs a request of the tenant)."""
    from flask import url_for

    kind = _KINDS.get(row.kind)
    if kind is not None and kind.link is not None:
        return kind.link(row)
    if row.object_key and row.record_id:
        return url_for("records.detail", object_key=row.object_key, record_id=row.record_id)
    return None


def unread_count(user_id: int) -> int:
    """How many of the person's notifications are unread."""
    stmt = select(func.count()).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)
    )
    return db.session.execute(stmt).scalar_one()


def page(
    user_id: int, *, before_id: int | None = None, limit: int = 50, unread_only: bool = False
) -> tuple[list[Notification], int | None]:
    """The person's notifications, newest first, and the cursor of the next page."""
    limit = max(1, min(limit, MAX_PAGE))
    stmt = (
        select(Notification)
        .where(Notification.user_id == user_id)
        .order_by(Notification.id.desc())
        .limit(limit + 1)
    )
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    if before_id:
        stmt = stmt.where(Notification.id < before_id)
    rows = list(db.session.execute(stmt).scalars())
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_cursor


def unread(user_id: int, limit: int = 10) -> list[Notification]:
    """The person's newest unread notifications (the header's list)."""
    return page(user_id, limit=limit, unread_only=True)[0]


def mark_read(user_id: int, notification_id: int) -> Notification:
    """Mark one of the person's notifications read (another person's is not found)."""
    row = db.session.execute(
        select(Notification).where(
            Notification.id == notification_id, Notification.user_id == user_id
        )
    ).scalar_one_or_none()
    if row is None:
        raise DomainError(_("There is no such notification."), status=404)
    if row.read_at is None:
        row.read_at = datetime.now(UTC)
    db.session.commit()
    return row


def mark_all_read(user_id: int) -> int:
    """Mark every unread notification of the person read; returns how many."""
    result = db.session.execute(
        core_update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=func.now())
    )
    db.session.commit()
    return result.rowcount
