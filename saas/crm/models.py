"""Tables of the CRM's sales domain."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
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
from sqlalchemy.orm import Mapped, mapped_column

from saas.extensions import db
from tenants.context import TenantScoped


class DuplicateKey(TenantScoped, db.Model):
    """One normalised key of a customer, contact or lead (``saas.crm.dedupe``), so that a new
    or changed record finds the records it may duplicate with an index lookup.

    ``kind`` is ``name`` (a customer's company key, a contact's or lead's person key),
    ``company`` (a lead's company, compared with customers' names), ``phone`` or ``email``.
    Only records outside the recycle bin have keys: deleting removes them, restoring puts them
    back (``saas.crm.duplicates``)."""

    __tablename__ = "duplicate_keys"
    __table_args__ = (Index("ix_duplicate_keys_lookup", "tenant_id", "kind", "key"),)

    object_key: Mapped[str] = mapped_column(String(20), primary_key=True)
    record_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)


#: How a payment was received (回款方式).
PAYMENT_METHODS = ("bank_transfer", "cash", "cheque", "online", "other")


class PaymentPlan(TenantScoped, db.Model):
    """One instalment of a contract's payment plan (回款计划): what is due on which day.

    The instalments of a contract add up to its amount when the plan is set
    (``saas.crm.contracts.set_plan``). ``due_notified_at`` and ``overdue_notified_at`` make the
    daily job tell the owner once that it falls due soon and once that it is overdue; a new due
    date clears them."""

    __tablename__ = "payment_plans"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "contract_id"],
            ["contracts.tenant_id", "contracts.id"],
            ondelete="CASCADE",
        ),
        UniqueConstraint("tenant_id", "contract_id", "sequence"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("sequence > 0", name="sequence_positive"),
        # The daily job: instalments by due date.
        Index("ix_payment_plans_due", "tenant_id", "due_date"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    contract_id: Mapped[int] = mapped_column(BigInteger)
    #: 1, 2, 3 … in the order the plan lists them.
    sequence: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    currency: Mapped[str] = mapped_column(String(3))
    note: Mapped[str | None] = mapped_column(Text)
    due_notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    overdue_notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Payment(TenantScoped, db.Model):
    """A payment received against a contract (回款), optionally matched to one instalment.

    Deleting moves it to the recycle bin (``deleted_at``); only live payments count."""

    __tablename__ = "payments"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "contract_id"],
            ["contracts.tenant_id", "contracts.id"],
            ondelete="CASCADE",
        ),
        # Replacing a plan unmatches the payments of the instalments it drops, in the same
        # transaction, before deleting them.
        ForeignKeyConstraint(
            ["tenant_id", "plan_id"], ["payment_plans.tenant_id", "payment_plans.id"]
        ),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "method IN ('bank_transfer', 'cash', 'cheque', 'online', 'other')", name="method"
        ),
        Index("ix_payments_contract", "tenant_id", "contract_id"),
        Index("ix_payments_plan", "tenant_id", "plan_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    contract_id: Mapped[int] = mapped_column(BigInteger)
    plan_id: Mapped[int | None] = mapped_column(BigInteger)
    received_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
