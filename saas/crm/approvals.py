"""Approval requests of records (a quote's discount today, contracts later): who asked, with
which figures, who decided, when, and why.

A record has at most one pending request at a time (a partial unique index). The feature that
asks for approvals owns the rules (who may decide, what a decision changes); this module only
keeps the history, inside the caller's transaction.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Numeric,
    String,
    Text,
    func,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from saas.extensions import db
from tenants.context import TenantScoped

#: How long a comment may be.
MAX_COMMENT = 2000


class Decision(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    #: The request became moot (the record was deleted or replaced before a decision).
    WITHDRAWN = "withdrawn"


class Approval(TenantScoped, db.Model):
    """One request to approve a record: the figures it was asked with (``discount`` against
    ``threshold``), who asked and with what comment, and the decision with its comment."""

    __tablename__ = "approvals"
    __table_args__ = (
        CheckConstraint(
            "decision IN ('pending', 'approved', 'rejected', 'withdrawn')", name="decision"
        ),
        # A record's history, newest last.
        Index("ix_approvals_record", "tenant_id", "object_key", "record_id", "id"),
        # The approvers' inbox.
        Index(
            "ix_approvals_pending",
            "tenant_id",
            "object_key",
            "id",
            postgresql_where=text("decision = 'pending'"),
        ),
        # One open request per record, even when two people submit at the same moment.
        Index(
            "uq_approvals_pending_record",
            "tenant_id",
            "object_key",
            "record_id",
            unique=True,
            postgresql_where=text("decision = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    object_key: Mapped[str] = mapped_column(String(60))
    record_id: Mapped[int] = mapped_column(BigInteger)
    requested_by: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    request_comment: Mapped[str | None] = mapped_column(Text)
    decision: Mapped[str] = mapped_column(String(20), default=Decision.PENDING)
    decided_by: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    comment: Mapped[str | None] = mapped_column(Text)
    #: The company's threshold and the record's discount (percent) when it was asked.
    threshold: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    discount: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


def request(
    object_key: str,
    record_id: int,
    requested_by: int | None,
    *,
    threshold: Decimal | None,
    discount: Decimal | None,
    comment: str | None = None,
) -> Approval:
    """Add a pending request to the caller's transaction."""
    row = Approval(
        object_key=object_key,
        record_id=record_id,
        requested_by=requested_by,
        request_comment=comment or None,
        decision=Decision.PENDING,
        threshold=threshold,
        discount=discount,
    )
    db.session.add(row)
    return row


def pending(object_key: str, record_id: int, *, lock: bool = False) -> Approval | None:
    """The record's open request, if any (``lock``: locked until the transaction ends)."""
    stmt = select(Approval).where(
        Approval.object_key == object_key,
        Approval.record_id == record_id,
        Approval.decision == Decision.PENDING,
    )
    if lock:
        stmt = stmt.with_for_update()
    return db.session.execute(stmt).scalar_one_or_none()


def decide(row: Approval, decision: Decision, decided_by: int | None, comment: str | None) -> None:
    """Close a pending request (in the caller's transaction)."""
    row.decision = decision
    row.decided_by = decided_by
    row.comment = comment or None
    row.decided_at = datetime.now(UTC)


def history(object_key: str, record_ids: Sequence[int]) -> list[Approval]:
    """Every request of these records, oldest first."""
    if not record_ids:
        return []
    stmt = (
        select(Approval)
        .where(Approval.object_key == object_key, Approval.record_id.in_(list(record_ids)))
        .order_by(Approval.id)
    )
    return list(db.session.execute(stmt).scalars())
