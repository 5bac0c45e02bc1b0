"""Contracts (合同): created from an accepted quote or from scratch, their status machine, the
payment plan (回款计划) and the payments received (回款), with outstanding and overdue amounts.

A contract is a record of the standard object ``contract``; its business values are system
fields in ``data`` (``number``, ``account``, ``quote``, ``amount``, ``start_date``, ``end_date``,
``signed_on``, ``status``). The status moves only through :data:`ACTIONS` (and the daily job's
activation and expiry); the record service refuses a status typed into a form
(:func:`record_errors`).

Money is :class:`decimal.Decimal` in the contract's currency, rounded by ``saas.crm.money``. How
payments settle instalments (:func:`standing`): a payment matched to an instalment pays it; what
is left of it beyond that instalment, and every unmatched payment, pays the earliest-due unpaid
instalments first. An instalment is overdue when its due date has passed and it is not paid in
full; the overdue rate is the overdue amount over the amount due to date. Outstanding is the
amount less everything received, negative when the customer overpaid. :func:`receivables` is the
same rule in one SQL statement for lists and totals.

Each command is one transaction, permission-checked, audited, and holds the contract's row lock
(``SELECT … FOR UPDATE``), so plan changes and payments on one contract happen one at a time.
``today`` is a parameter everywhere (the company's date by default), so the rules can be checked
with a moving clock.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import format_currency, format_date
from flask_babel import gettext as _
from sqlalchemy import (
    ColumnElement,
    Numeric,
    and_,
    case,
    cast,
    func,
    literal,
    select,
    tuple_,
    update,
)

from custom_fields.definitions import schemas
from custom_fields.query.scope import scope_clause
from saas.crm import approvals, money
from saas.crm.models import PAYMENT_METHODS, Payment, PaymentPlan
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.jobs import job, queue_daily_per_tenant
from saas.records.errors import RecordNotFound
from saas.records.models import Contract, Quote
from tenants import audit, notifications, permissions
from tenants.context import current_tenant_id, tenant_context
from tenants.errors import Forbidden
from tenants.models import WRITE_ROLES, Membership, MembershipStatus, RoleKey, Tenant

_log = logging.getLogger("kehu.contracts")

STATUSES = ("draft", "in_approval", "signed", "active", "expired", "terminated")
#: Statuses in which payments may be recorded (money can arrive after the end or a termination).
PAYABLE = frozenset({"signed", "active", "expired", "terminated"})
#: Statuses whose outstanding amounts are receivables (a terminated contract is settled apart).
RECEIVABLE = ("signed", "active", "expired")
#: Statuses in which the payment plan may be set.
PLAN_EDITABLE = frozenset({"draft", "in_approval", "signed", "active"})
#: Roles that approve, reject and terminate contracts.
MANAGER_ROLES = frozenset({RoleKey.OWNER, RoleKey.ADMIN, RoleKey.MANAGER})
#: Owners and admins may approve a contract they submitted themselves; managers may not.
SELF_APPROVERS = frozenset({RoleKey.OWNER, RoleKey.ADMIN})
#: Days before its due date an instalment's owner is reminded.
DUE_SOON_DAYS = 7
MAX_INSTALMENTS = 120
MAX_REASON = 500
MAX_NOTE = 1000
MAX_REFERENCE = 100
#: Contracts handled per transaction by the daily job.
BATCH = 500


@dataclass(frozen=True)
class Action:
    """A move of the status machine: from which statuses, to which, and who may make it."""

    name: str
    sources: frozenset[str]
    target: str
    roles: frozenset[str]
    #: The text the person must give (``comment`` for a rejection, ``reason`` to terminate).
    needs: str | None = None


ACTIONS: dict[str, Action] = {
    "submit": Action("submit", frozenset({"draft"}), "in_approval", WRITE_ROLES),
    "approve": Action("approve", frozenset({"in_approval"}), "signed", MANAGER_ROLES),
    "reject": Action("reject", frozenset({"in_approval"}), "draft", MANAGER_ROLES, "comment"),
    "activate": Action("activate", frozenset({"signed"}), "active", WRITE_ROLES),
    "terminate": Action(
        "terminate", frozenset({"signed", "active"}), "terminated", MANAGER_ROLES, "reason"
    ),
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def tenant_today() -> date:
    """Today in the company's time zone: the date due dates and contract periods are read in."""
    tenant = db.session.get(Tenant, current_tenant_id())
    return datetime.now(ZoneInfo(tenant.timezone)).date()


class StatusConflict(DomainError):
    """The contract's status does not allow the action (409, naming the current status)."""

    status = 409

    def __init__(self, message: str, current: str) -> None:
        super().__init__(message)
        self.current = current

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "current_status": self.current}


class PlanMismatch(ValidationFailed):
    """The instalments do not add up to the contract amount (400, with the difference)."""

    def __init__(self, message: str, total: Decimal, amount: Decimal) -> None:
        super().__init__({"instalments": [message]})
        self.total, self.amount = total, amount

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "plan_total": format(self.total, "f"),
            "contract_amount": format(self.amount, "f"),
            "difference": format(self.total - self.amount, "f"),
        }


# ---------------------------------------------------------------- the arithmetic (pure)


@dataclass(frozen=True)
class Instalment:
    """One instalment as :func:`standing` needs it."""

    id: int | None
    sequence: int
    due_date: date
    amount: Decimal


@dataclass(frozen=True)
class Received:
    """One live payment as :func:`standing` needs it."""

    amount: Decimal
    plan_id: int | None = None


@dataclass(frozen=True)
class InstalmentStanding:
    """How far an instalment is paid on a day: ``status`` is ``paid``, ``partly_paid``,
    ``overdue`` (past due and not paid in full) or ``open``."""

    instalment: Instalment
    paid: Decimal
    remaining: Decimal
    overdue: Decimal
    status: str


@dataclass(frozen=True)
class Standing:
    """A contract's money on a day. ``outstanding`` = amount − received, negative when the
    customer overpaid (``overpaid`` is then that excess); ``due_to_date`` is the sum of the
    instalments whose due date has passed; ``overdue_rate`` is overdue ÷ due to date in percent
    with two decimals (``None`` while nothing is due)."""

    currency: str
    amount: Decimal
    received: Decimal
    outstanding: Decimal
    overpaid: Decimal
    plan_total: Decimal
    due_to_date: Decimal
    overdue: Decimal
    overdue_rate: Decimal | None
    instalments: tuple[InstalmentStanding, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        def text(value: Decimal | None) -> str | None:
            return None if value is None else format(value, "f")

        return {
            "currency": self.currency,
            "amount": text(self.amount),
            "received": text(self.received),
            "outstanding": text(self.outstanding),
            "overpaid": text(self.overpaid),
            "plan_total": text(self.plan_total),
            "due_to_date": text(self.due_to_date),
            "overdue": text(self.overdue),
            "overdue_rate": text(self.overdue_rate),
        }


def rate_percent(overdue: Decimal, due: Decimal) -> Decimal | None:
    """overdue ÷ due in percent, two decimals rounded half up; ``None`` when nothing is due."""
    if due <= 0:
        return None
    with localcontext() as ctx:
        ctx.prec = 60
        return (overdue * 100 / due).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def standing(
    amount: Decimal,
    currency: str,
    instalments: Sequence[Instalment],
    payments: Iterable[Received],
    today: date,
) -> Standing:
    """The contract's standing on ``today`` (see the module docstring for the rule)."""

    def r(value: Decimal) -> Decimal:
        return money.round_money(value, currency)

    zero = r(Decimal(0))
    payments = list(payments)
    ids = {i.id for i in instalments if i.id is not None}
    matched: dict[int, Decimal] = {}
    credit = zero
    for payment in payments:
        if payment.plan_id is not None and payment.plan_id in ids:
            matched[payment.plan_id] = matched.get(payment.plan_id, zero) + payment.amount
        else:
            credit += payment.amount
    order = sorted(instalments, key=lambda i: (i.due_date, i.sequence))
    paid: dict[int, Decimal] = {}
    for index, item in enumerate(order):
        given = matched.get(item.id, zero) if item.id is not None else zero
        paid[index] = min(given, item.amount)
        credit += given - paid[index]  # beyond the instalment: pays the earliest ones below
    for index, item in enumerate(order):
        take = min(credit, item.amount - paid[index])
        paid[index] += take
        credit -= take
    rows = []
    overdue = due_to_date = zero
    for index, item in enumerate(order):
        remaining = item.amount - paid[index]
        past = item.due_date < today
        late = remaining if past else zero
        if past:
            due_to_date += item.amount
            overdue += late
        status = (
            "paid"
            if remaining <= 0
            else "overdue"
            if past
            else "partly_paid"
            if paid[index] > 0
            else "open"
        )
        rows.append(InstalmentStanding(item, r(paid[index]), r(remaining), r(late), status))
    received = sum((p.amount for p in payments), zero)
    outstanding = amount - received
    # A plan that no longer matches the amount (changed in draft) must not claim more overdue
    # than is outstanding.
    overdue = min(overdue, max(outstanding, zero))
    rows.sort(key=lambda row: row.instalment.sequence)
    return Standing(
        currency=currency,
        amount=r(amount),
        received=r(received),
        outstanding=r(outstanding),
        overpaid=r(max(-outstanding, zero)),
        plan_total=r(sum((i.amount for i in instalments), zero)),
        due_to_date=r(due_to_date),
        overdue=r(overdue),
        overdue_rate=rate_percent(overdue, due_to_date),
        instalments=tuple(rows),
    )


# ---------------------------------------------------------------- notifications


def _money_text(params: Mapping[str, Any]) -> str:
    return format_currency(Decimal(params["amount"]), params["currency"])


def _date_text(params: Mapping[str, Any]) -> str:
    return format_date(date.fromisoformat(params["date"]), format="medium")


def _name(params: Mapping[str, Any]) -> str:
    return params.get("name") or _("a contract")


notifications.register(
    "contract.approved",
    lambda p: _(
        "%(actor)s approved the contract “%(name)s”: it is signed.",
        actor=notifications.actor_name(p),
        name=_name(p),
    ),
)
notifications.register(
    "contract.rejected",
    lambda p: _(
        "%(actor)s sent the contract “%(name)s” back to draft: %(comment)s",
        actor=notifications.actor_name(p),
        name=_name(p),
        comment=p.get("comment", ""),
    ),
)
notifications.register(
    "contract.terminated",
    lambda p: _(
        "%(actor)s terminated the contract “%(name)s”: %(reason)s",
        actor=notifications.actor_name(p),
        name=_name(p),
        reason=p.get("reason", ""),
    ),
)
notifications.register(
    "contract.expired",
    lambda p: _(
        "The contract “%(name)s” ended on %(date)s and has expired.",
        name=_name(p),
        date=_date_text(p),
    ),
)
notifications.register(
    "contract.instalment_due",
    lambda p: _(
        "Instalment %(sequence)d of the contract “%(name)s” falls due on %(date)s: "
        "%(amount)s still to receive.",
        sequence=int(p["sequence"]),
        name=_name(p),
        date=_date_text(p),
        amount=_money_text(p),
    ),
)
notifications.register(
    "contract.instalment_overdue",
    lambda p: _(
        "Instalment %(sequence)d of the contract “%(name)s” was due on %(date)s and is "
        "overdue: %(amount)s not received.",
        sequence=int(p["sequence"]),
        name=_name(p),
        date=_date_text(p),
        amount=_money_text(p),
    ),
)


# ---------------------------------------------------------------- reading a contract


def status_of(contract: Contract) -> str:
    return (contract.data or {}).get("status") or "draft"


def status_label(code: str, locale: str) -> str:
    """The company's label of a contract status."""
    schema = schemas(current_tenant_id()).get("contract")
    info = schema.field("status") if schema is not None else None
    if info is not None:
        for choice in info.spec.choices:
            if choice.code == code:
                return choice.label(locale)
    return code


def _locale() -> str:
    from saas.records.services import context

    return context().locale


def amount_of(contract: Contract) -> tuple[Decimal | None, str]:
    """The contract amount and its currency (the company's currency when there is no amount)."""
    stored = (contract.data or {}).get("amount")
    if isinstance(stored, Mapping) and stored.get("amount") is not None:
        return Decimal(str(stored["amount"])), str(stored["currency"])
    tenant = db.session.get(Tenant, current_tenant_id())
    return None, tenant.currency


def _date_value(contract: Contract, key: str) -> date | None:
    raw = (contract.data or {}).get(key)
    try:
        return date.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


def _not_found() -> RecordNotFound:
    return RecordNotFound(_("There is no such contract."))


def _contracts(actor: Membership | None):
    stmt = select(Contract).where(Contract.deleted_at.is_(None))
    scope = scope_clause(Contract, actor, "contract")
    return stmt if scope is None else stmt.where(scope)


def get_contract(actor: Membership | None, contract_id: int) -> Contract:
    """A live contract within the actor's data scope, else 404."""
    contract = db.session.execute(
        _contracts(actor).where(Contract.id == contract_id)
    ).scalar_one_or_none()
    if contract is None:
        raise _not_found()
    return contract


def _lock(actor: Membership | None, contract_id: int) -> Contract:
    """The contract, locked to change it (404 outside the scope; 403 when shared with the
    actor to read only)."""
    contract = db.session.execute(
        _contracts(actor)
        .where(Contract.id == contract_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if contract is None:
        raise _not_found()
    if actor is not None:
        from saas.records import services as records  # imports this module

        records.require_change(actor, "contract", contract)
    return contract


def plan_of(contract_id: int) -> list[PaymentPlan]:
    return list(
        db.session.execute(
            select(PaymentPlan)
            .where(PaymentPlan.contract_id == contract_id)
            .order_by(PaymentPlan.sequence)
        ).scalars()
    )


def payments_of(contract_id: int, *, deleted: bool = False) -> list[Payment]:
    """The contract's live payments (``deleted``: those in the recycle bin), by date received."""
    bin_filter = Payment.deleted_at.is_not(None) if deleted else Payment.deleted_at.is_(None)
    return list(
        db.session.execute(
            select(Payment)
            .where(Payment.contract_id == contract_id, bin_filter)
            .order_by(Payment.received_on, Payment.id)
        ).scalars()
    )


def _instalments(rows: Iterable[PaymentPlan]) -> list[Instalment]:
    return [Instalment(p.id, p.sequence, p.due_date, p.amount) for p in rows]


def _received(rows: Iterable[Payment]) -> list[Received]:
    return [Received(p.amount, p.plan_id) for p in rows]


def contract_standing(contract: Contract, today: date | None = None) -> Standing:
    amount, currency = amount_of(contract)
    return standing(
        amount or Decimal(0),
        currency,
        _instalments(plan_of(contract.id)),
        _received(payments_of(contract.id)),
        today or tenant_today(),
    )


def _pending_approval(contract: Contract, *, lock: bool = False) -> approvals.Approval | None:
    return approvals.pending("contract", contract.id, lock=lock)


def _may(actor: Membership, action: Action, contract: Contract) -> bool:
    if actor.role_key not in action.roles or status_of(contract) not in action.sources:
        return False
    if action.name in ("approve", "reject") and actor.role_key not in SELF_APPROVERS:
        pending = _pending_approval(contract)
        if pending is not None and pending.requested_by == actor.user_id:
            return False
    return True


def allowed_actions(actor: Membership, contract: Contract) -> list[str]:
    """The actions the actor may take on the contract now, in :data:`ACTIONS` order."""
    return [name for name, action in ACTIONS.items() if _may(actor, action, contract)]


def may_write(actor: Membership) -> bool:
    return actor.role_key in WRITE_ROLES


@dataclass
class Overview:
    """What a contract's page and ``GET …/plan`` show."""

    contract: Contract
    status: str
    standing: Standing
    plan: list[PaymentPlan]
    payments: list[Payment]
    deleted_payments: list[Payment]
    actions: list[str]
    warnings: list[dict[str, str]]
    approvals: list[approvals.Approval] = field(default_factory=list)


def overview(actor: Membership, contract_id: int, today: date | None = None) -> Overview:
    """A contract's status, allowed actions, plan, payments and standing, for the actor."""
    contract = get_contract(actor, contract_id)
    today = today or tenant_today()
    plan = plan_of(contract.id)
    live = payments_of(contract.id)
    amount, currency = amount_of(contract)
    return Overview(
        contract=contract,
        status=status_of(contract),
        standing=standing(
            amount or Decimal(0), currency, _instalments(plan), _received(live), today
        ),
        plan=plan,
        payments=live,
        deleted_payments=payments_of(contract.id, deleted=True),
        actions=allowed_actions(actor, contract),
        warnings=plan_warnings(contract, [(p.due_date, p.sequence) for p in plan]),
        approvals=approvals.history("contract", [contract.id]),
    )


# ---------------------------------------------------------------- guarding record edits


def record_errors(
    object_key: str, before: Mapping[str, Any] | None, after: Mapping[str, Any]
) -> dict[str, list[str]]:
    """What the record service must refuse of a contract edit (``before`` is ``None`` on
    creation): a status other than draft at creation or any status change later (those go
    through the actions), and a new amount once the contract left draft (it was approved)."""
    if object_key != "contract":
        return {}
    errors: dict[str, list[str]] = {}
    new_status = after.get("status")
    if before is None:
        if new_status not in (None, "draft"):
            errors["status"] = [
                _("A new contract starts as a draft; its status changes through its actions.")
            ]
        return errors
    old_status = before.get("status") or "draft"
    if (new_status or "draft") != old_status:
        errors["status"] = [
            _("Change the status with the contract's actions (submit, approve, terminate …).")
        ]
    amount_changed = _money_key(before.get("amount")) != _money_key(after.get("amount"))
    if old_status != "draft" and amount_changed:
        errors["amount"] = [_("The amount can be changed only while the contract is a draft.")]
    return errors


def _money_key(stored: Any) -> tuple[Decimal, str] | None:
    """A stored currency value compared by value: "100" and "100.00" are the same amount."""
    if not isinstance(stored, Mapping) or stored.get("amount") is None:
        return None
    return Decimal(str(stored["amount"])), str(stored.get("currency"))


# ---------------------------------------------------------------- commands


@contextmanager
def _command() -> Iterator[None]:
    """A command's transaction: a refusal rolls back (releasing the row lock) and re-raises."""
    try:
        yield
    except DomainError:
        db.session.rollback()
        raise


def _require_writer(actor: Membership) -> None:
    from saas.records.services import require_writer  # imports this module

    require_writer(actor, _("Your role does not allow changing contracts."))
    permissions.require(
        actor, "contract", "edit", _("Your role does not allow changing contracts.")
    )


def _conflict(contract: Contract, message: str) -> StatusConflict:
    current = status_of(contract)
    return StatusConflict(
        _(
            "%(message)s The contract is “%(status)s”.",
            message=message,
            status=status_label(current, _locale()),
        ),
        current,
    )


def _text(raw: Any, key: str, limit: int, required: bool = False) -> str | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            message = _("Enter a reason.") if key == "reason" else _("Enter a comment.")
            raise ValidationFailed({key: [message]})
        return None
    if not isinstance(raw, str):
        raise ValidationFailed({key: [_("Enter text.")]})
    value = raw.strip()
    if len(value) > limit:
        raise ValidationFailed({key: [_("Enter at most %(n)d characters.", n=limit)]})
    return value


def _set_status(contract: Contract, target: str, actor: Membership | None, **extra: Any) -> None:
    data = dict(contract.data or {})
    data["status"] = target
    data.update(extra)
    contract.data = data  # a new dict: the mapper writes it and bumps ``version``
    contract.updated_at = func.now()
    if actor is not None:
        contract.updated_by = actor.user_id


def _check_ready(contract: Contract) -> None:
    """What a contract needs before it goes to approval."""
    errors: dict[str, list[str]] = {}
    amount, currency = amount_of(contract)
    if amount is None or amount <= 0:
        errors["amount"] = [_("Enter the contract amount before submitting it.")]
    start, end = _date_value(contract, "start_date"), _date_value(contract, "end_date")
    if start is None:
        errors["start_date"] = [_("Enter the start date before submitting the contract.")]
    if end is None:
        errors["end_date"] = [_("Enter the end date before submitting the contract.")]
    elif start is not None and end < start:
        errors["end_date"] = [_("The end date must not be before the start date.")]
    plan = plan_of(contract.id)
    if plan and amount is not None:
        total = sum((p.amount for p in plan), Decimal(0))
        if total != amount:
            errors["plan"] = [
                _(
                    "The payment plan adds up to %(total)s, not the contract amount of "
                    "%(amount)s: set the plan again.",
                    total=format_currency(total, currency),
                    amount=format_currency(amount, currency),
                )
            ]
    if errors:
        raise ValidationFailed(errors)


def transition(
    actor: Membership,
    contract_id: int,
    action_name: str,
    *,
    text: str | None = None,
    today: date | None = None,
) -> Contract:
    """Move a contract through one of :data:`ACTIONS`; ``text`` is the comment of a submission
    or rejection (required to reject) or the reason of a termination (required)."""
    action = ACTIONS.get(action_name)
    if action is None:
        raise DomainError(_("There is no such contract action."), field="action", status=404)
    with _command():
        contract = _lock(actor, contract_id)
        if actor.role_key not in action.roles:
            if action.roles is MANAGER_ROLES:
                raise Forbidden(_("Only managers and administrators may do this."))
            raise Forbidden(_("Your role does not allow changing contracts."))
        current = status_of(contract)
        if current not in action.sources:
            raise _conflict(contract, _refusal(action_name))
        if action.needs:
            note = _text(text, action.needs, MAX_REASON, required=True)
        else:
            note = _text(text, "comment", MAX_REASON, required=False)
        today = today or tenant_today()
        extra: dict[str, Any] = {}
        pending = None
        if action_name in ("approve", "reject"):
            pending = _pending_approval(contract, lock=True)
            if (
                pending is not None
                and pending.requested_by == actor.user_id
                and actor.role_key not in SELF_APPROVERS
            ):
                raise Forbidden(_("Another manager must decide on a contract you submitted."))
        if action_name == "submit":
            _check_ready(contract)
            approvals.request(
                "contract", contract.id, actor.user_id, threshold=None, discount=None, comment=note
            )
        elif pending is not None:
            decision = (
                approvals.Decision.APPROVED
                if action_name == "approve"
                else approvals.Decision.REJECTED
            )
            approvals.decide(pending, decision, actor.user_id, note)
        if action_name == "approve" and not contract.data.get("signed_on"):
            extra["signed_on"] = today.isoformat()
        _set_status(contract, action.target, actor, **extra)
        after: dict[str, Any] = {"status": action.target, **extra}
        if note:
            after[action.needs or "comment"] = note
        audit.record(
            f"contract.{_PAST[action_name]}",
            "contract",
            contract.id,
            before={"status": current, **dict.fromkeys(extra)},  # signed_on was empty
            after=after,
        )
        _tell_owner(actor, contract, action_name, note)
        db.session.commit()
        return contract


_PAST = {
    "submit": "submitted",
    "approve": "approved",
    "reject": "rejected",
    "activate": "activated",
    "terminate": "terminated",
}


def _refusal(action_name: str) -> str:
    return {
        "submit": _("Only a draft can be submitted for approval."),
        "approve": _("Only a contract in approval can be approved."),
        "reject": _("Only a contract in approval can be rejected."),
        "activate": _("Only a signed contract can be activated."),
        "terminate": _("Only a signed or active contract can be terminated."),
    }[action_name]


def _tell_owner(actor: Membership, contract: Contract, action_name: str, note: str | None) -> None:
    kind = {
        "approve": "contract.approved",
        "reject": "contract.rejected",
        "terminate": "contract.terminated",
    }.get(action_name)
    owner = contract.owner_id
    if kind is None or owner is None or owner == actor.user_id:
        return
    params: dict[str, Any] = {"name": contract.name, "actor": actor.user.display_name}
    if action_name == "reject":
        params["comment"] = note or ""
    if action_name == "terminate":
        params["reason"] = note or ""
    notifications.notify(owner, kind, object_key="contract", record_id=contract.id, params=params)


def submit(actor: Membership, contract_id: int, comment: str | None = None) -> Contract:
    return transition(actor, contract_id, "submit", text=comment)


def approve(actor: Membership, contract_id: int, comment: str | None = None) -> Contract:
    return transition(actor, contract_id, "approve", text=comment)


def reject(actor: Membership, contract_id: int, comment: str) -> Contract:
    return transition(actor, contract_id, "reject", text=comment)


def activate(actor: Membership, contract_id: int) -> Contract:
    return transition(actor, contract_id, "activate")


def terminate(actor: Membership, contract_id: int, reason: str) -> Contract:
    return transition(actor, contract_id, "terminate", text=reason)


# ---------------------------------------------------------------- from a quote

#: The quote status a contract may be made from: the customer accepted the offer. An approved
#: quote may still be renegotiated before it is sent and accepted.
QUOTE_READY = "accepted"


def contract_for_quote(quote_id: int) -> Contract | None:
    """The live contract made from the quote, if any."""
    return db.session.execute(
        select(Contract)
        .where(Contract.deleted_at.is_(None), Contract.data["quote"].astext == str(quote_id))
        .order_by(Contract.id)
        .limit(1)
    ).scalar_one_or_none()


def from_quote(actor: Membership, quote_id: int) -> Contract:
    """A draft contract from an accepted quote: its customer, its total as the amount (and
    currency), a link to it, and the next contract number. One contract per quote; the quote's
    row lock makes two people converting it at once get one contract and one 409."""
    from saas.crm import quotes
    from saas.records import services as records

    _require_writer(actor)
    with _command():
        stmt = select(Quote).where(Quote.id == quote_id, Quote.deleted_at.is_(None))
        scope = scope_clause(Quote, actor, "quote")
        if scope is not None:
            stmt = stmt.where(scope)
        quote = db.session.execute(
            stmt.with_for_update().execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if quote is None:
            raise RecordNotFound(_("There is no such quote."))
        status = (quote.data or {}).get("status") or "draft"
        if status != QUOTE_READY:
            raise StatusConflict(
                _(
                    "Only an accepted quote becomes a contract. The quote is “%(status)s”.",
                    status=quotes.status_label(status, _locale()),
                ),
                status,
            )
        total = (quote.data or {}).get("total")
        if not isinstance(total, Mapping) or total.get("amount") is None:
            raise DomainError(_("The quote has no total yet."), field="total", status=409)
        existing = contract_for_quote(quote.id)
        if existing is not None:
            raise DomainError(
                _(
                    "The contract “%(name)s” was already made from this quote.",
                    name=existing.name or existing.id,
                ),
                status=409,
            )
        payload: dict[str, Any] = {
            "name": quote.name or _("Contract"),
            "quote": quote.id,
            "amount": {"amount": str(total["amount"]), "currency": total["currency"]},
        }
        if quote.data.get("account") is not None:
            payload["account"] = quote.data["account"]
        if quote.owner_id is not None and _active_member(quote.owner_id):
            payload["owner_id"] = quote.owner_id
        contract = records.create_record(actor, "contract", payload, commit=False)
        audit.record(
            "contract.created_from_quote",
            "contract",
            contract.id,
            after={"quote": quote.id, "amount": payload["amount"]},
        )
        db.session.commit()
        return contract


def _active_member(user_id: int) -> bool:
    stmt = select(Membership.user_id).where(
        Membership.user_id == user_id, Membership.status == MembershipStatus.ACTIVE
    )
    return db.session.execute(stmt).first() is not None


# ---------------------------------------------------------------- values people type


def parse_money(raw: Any, currency: str, key: str) -> Decimal:
    """An amount from a form or JSON (text or a number) in the currency's minor unit, > 0."""
    if isinstance(raw, bool) or raw is None:
        raise ValidationFailed({key: [_("Enter an amount.")]})
    text = raw if isinstance(raw, str) else str(raw)
    try:
        value = money.parse_amount(text, currency, field=key)
    except money.MoneyError as exc:
        raise ValidationFailed({exc.field: [exc.text(_)]}) from None
    if value <= 0:
        raise ValidationFailed({key: [_("Enter an amount greater than 0.")]})
    return value


def parse_day(raw: Any, key: str) -> date:
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str) and raw.strip():
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            pass
        raise ValidationFailed({key: [_("Enter a date as YYYY-MM-DD.")]})
    raise ValidationFailed({key: [_("Enter a date.")]})


def _collect(errors: dict[str, list[str]], func_: Any, *args: Any) -> Any:
    """Run a parser, moving its ``ValidationFailed`` into ``errors``."""
    try:
        return func_(*args)
    except ValidationFailed as exc:
        for key, messages in exc.errors.items():
            errors.setdefault(key, []).extend(messages)
        return None


# ---------------------------------------------------------------- the payment plan


def plan_warnings(contract: Contract, dates: Sequence[tuple[date, int]]) -> list[dict[str, str]]:
    """Due dates outside the contract's period: worth a look, not an error."""
    start, end = _date_value(contract, "start_date"), _date_value(contract, "end_date")
    warnings = []
    for index, (due, sequence) in enumerate(dates):
        key = f"instalments[{index}].due_date"
        if start is not None and due < start:
            warnings.append(
                {
                    "field": key,
                    "message": _(
                        "Instalment %(n)d is due before the contract starts (%(date)s).",
                        n=sequence,
                        date=format_date(start, format="medium"),
                    ),
                }
            )
        elif end is not None and due > end:
            warnings.append(
                {
                    "field": key,
                    "message": _(
                        "Instalment %(n)d is due after the contract ends (%(date)s).",
                        n=sequence,
                        date=format_date(end, format="medium"),
                    ),
                }
            )
    return warnings


@dataclass
class PlanResult:
    """The plan as set, its warnings, and how many payments lost their instalment."""

    plan: list[PaymentPlan]
    warnings: list[dict[str, str]]
    unmatched_payments: int


def _clean_plan(
    rows: Sequence[Mapping[str, Any]], currency: str, existing: Mapping[int, PaymentPlan]
) -> list[tuple[int | None, date, Decimal, str | None]]:
    if not isinstance(rows, Sequence) or isinstance(rows, (str, bytes)):
        raise ValidationFailed({"instalments": [_("Send a list of instalments.")]})
    if len(rows) > MAX_INSTALMENTS:
        raise ValidationFailed(
            {"instalments": [_("A plan has at most %(n)d instalments.", n=MAX_INSTALMENTS)]}
        )
    errors: dict[str, list[str]] = {}
    cleaned = []
    seen: set[int] = set()
    for index, row in enumerate(rows):
        prefix = f"instalments[{index}]"
        if not isinstance(row, Mapping):
            errors[prefix] = [_("Send each instalment as an object.")]
            continue
        row_id = row.get("id")
        if row_id is not None and (
            isinstance(row_id, bool)
            or not isinstance(row_id, int)
            or row_id not in existing
            or row_id in seen
        ):
            errors[f"{prefix}.id"] = [_("This is not an instalment of this contract's plan.")]
            row_id = None
        if row_id is not None:
            seen.add(row_id)
        due = _collect(errors, parse_day, row.get("due_date"), f"{prefix}.due_date")
        amount = _collect(errors, parse_money, row.get("amount"), currency, f"{prefix}.amount")
        note = _collect(errors, _text, row.get("note"), f"{prefix}.note", MAX_NOTE)
        cleaned.append((row_id, due, amount, note))
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def set_plan(actor: Membership, contract_id: int, rows: Sequence[Mapping[str, Any]]) -> PlanResult:
    """Replace the contract's instalments by ``rows`` (``due_date``, ``amount``, ``note``, and
    the ``id`` of an instalment to keep, so that its matched payments stay matched). The
    amounts must add up to the contract amount exactly; an empty list removes the plan.
    Payments matched to an instalment that goes are kept, unmatched."""
    _require_writer(actor)
    with _command():
        contract = _lock(actor, contract_id)
        if status_of(contract) not in PLAN_EDITABLE:
            raise _conflict(contract, _("The payment plan of this contract cannot change."))
        amount, currency = amount_of(contract)
        if amount is None and rows:
            raise ValidationFailed(
                {"amount": [_("Enter the contract amount before planning its payments.")]}
            )
        old = plan_of(contract.id)
        existing = {p.id: p for p in old}
        cleaned = _clean_plan(rows, currency, existing)
        total = sum((a for _i, _d, a, _n in cleaned), Decimal(0))
        if cleaned and total != amount:
            difference = total - (amount or Decimal(0))
            message = (
                _(
                    "The instalments add up to %(total)s, %(diff)s more than the contract "
                    "amount of %(amount)s.",
                    total=format_currency(total, currency),
                    diff=format_currency(difference, currency),
                    amount=format_currency(amount, currency),
                )
                if difference > 0
                else _(
                    "The instalments add up to %(total)s, %(diff)s less than the contract "
                    "amount of %(amount)s.",
                    total=format_currency(total, currency),
                    diff=format_currency(-difference, currency),
                    amount=format_currency(amount, currency),
                )
            )
            raise PlanMismatch(message, total, amount or Decimal(0))
        kept = {row_id for row_id, _d, _a, _n in cleaned if row_id is not None}
        dropped = [p.id for p in old if p.id not in kept]
        unmatched = 0
        if dropped:
            unmatched = db.session.execute(
                update(Payment)
                .where(Payment.contract_id == contract.id, Payment.plan_id.in_(dropped))
                .values(plan_id=None)
                .execution_options(synchronize_session=False)
            ).rowcount
            for row in old:
                if row.id in dropped:
                    db.session.delete(row)
        # Move the kept rows out of the way of the new sequence numbers (unique per contract).
        for row in old:
            if row.id in kept:
                row.sequence += MAX_INSTALMENTS + 1000
        db.session.flush()
        before = [_plan_audit(p) for p in old]
        plan = []
        for position, (row_id, due, value, note) in enumerate(cleaned, start=1):
            row = existing[row_id] if row_id is not None else PaymentPlan(contract_id=contract.id)
            if row_id is not None and row.due_date != due:
                row.due_notified_at = row.overdue_notified_at = None  # remind again
            row.sequence, row.due_date, row.amount, row.currency, row.note = (
                position,
                due,
                value,
                currency,
                note,
            )
            if row_id is None:
                db.session.add(row)
            plan.append(row)
        db.session.flush()
        audit.record(
            "contract.plan_set",
            "contract",
            contract.id,
            before={"instalments": before},
            after={
                "instalments": [_plan_audit(p) for p in plan],
                "unmatched_payments": unmatched,
            },
        )
        warnings = plan_warnings(contract, [(p.due_date, p.sequence) for p in plan])
        db.session.commit()
        return PlanResult(plan, warnings, unmatched)


def _plan_audit(row: PaymentPlan) -> dict[str, Any]:
    return {
        "id": row.id,
        "sequence": row.sequence,
        "due_date": row.due_date.isoformat(),
        "amount": format(row.amount, "f"),
        "note": row.note,
    }


# ---------------------------------------------------------------- payments

PAYMENT_KEYS = ("received_on", "amount", "currency", "method", "reference", "note", "plan_id")


def _clean_payment(
    contract: Contract,
    values: Mapping[str, Any],
    *,
    creating: bool,
    today: date,
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    unknown = [k for k in values if k not in PAYMENT_KEYS]
    for key in unknown:
        errors[key] = [_("Unknown value.")]
    currency = amount_of(contract)[1]
    cleaned: dict[str, Any] = {}
    if "currency" in values and values["currency"] not in (None, ""):
        code = values["currency"]
        if not isinstance(code, str) or code.strip().upper() != currency:
            errors["currency"] = [
                _("Record payments in the contract's currency, %(code)s.", code=currency)
            ]
    if "received_on" in values or creating:
        day = _collect(errors, parse_day, values.get("received_on"), "received_on")
        if day is not None and day > today:
            errors["received_on"] = [_("A payment cannot be received in the future.")]
        cleaned["received_on"] = day
    if "amount" in values or creating:
        cleaned["amount"] = _collect(errors, parse_money, values.get("amount"), currency, "amount")
    if "method" in values or creating:
        method = values.get("method") or ("bank_transfer" if creating else None)
        if method not in PAYMENT_METHODS:
            errors["method"] = [
                _("Choose one of: %(choices)s.", choices=", ".join(PAYMENT_METHODS))
            ]
        cleaned["method"] = method
    for key, limit in (("reference", MAX_REFERENCE), ("note", MAX_NOTE)):
        if key in values:
            cleaned[key] = _collect(errors, _text, values[key], key, limit)
    if "plan_id" in values:
        plan_id = values["plan_id"]
        if plan_id in (None, ""):
            cleaned["plan_id"] = None
        else:
            try:
                plan_id = int(plan_id)
            except (TypeError, ValueError):
                plan_id = -1
            ids = {p.id for p in plan_of(contract.id)}
            if isinstance(values["plan_id"], bool) or plan_id not in ids:
                errors["plan_id"] = [_("Choose an instalment of this contract's plan.")]
            cleaned["plan_id"] = plan_id
    if errors:
        raise ValidationFailed(errors)
    cleaned["currency"] = currency
    return cleaned


def _payment_audit(payment: Payment) -> dict[str, Any]:
    return {
        "contract_id": payment.contract_id,
        "plan_id": payment.plan_id,
        "received_on": payment.received_on.isoformat(),
        "amount": format(payment.amount, "f"),
        "currency": payment.currency,
        "method": payment.method,
        "reference": payment.reference,
        "note": payment.note,
    }


def _payable(contract: Contract) -> None:
    if status_of(contract) not in PAYABLE:
        raise _conflict(contract, _("Payments are recorded once the contract is signed."))


def record_payment(
    actor: Membership,
    contract_id: int,
    values: Mapping[str, Any],
    *,
    today: date | None = None,
) -> Payment:
    """Record a payment received; ``plan_id`` matches it to an instalment."""
    _require_writer(actor)
    with _command():
        contract = _lock(actor, contract_id)
        _payable(contract)
        cleaned = _clean_payment(contract, values, creating=True, today=today or tenant_today())
        payment = Payment(
            contract_id=contract.id,
            created_by=actor.user_id,
            updated_by=actor.user_id,
            **cleaned,
        )
        db.session.add(payment)
        db.session.flush()
        audit.record("payment.recorded", "payment", payment.id, after=_payment_audit(payment))
        db.session.commit()
        return payment


def _payment(
    actor: Membership, payment_id: int, *, deleted: bool = False
) -> tuple[Payment, Contract]:
    """A payment and its contract (locked), the contract within the actor's scope."""
    found = db.session.execute(
        select(Payment.contract_id).where(Payment.id == payment_id)
    ).scalar_one_or_none()
    if found is None:
        raise RecordNotFound(_("There is no such payment."))
    try:
        contract = _lock(actor, found)
    except RecordNotFound:
        raise RecordNotFound(_("There is no such payment.")) from None
    payment = db.session.execute(
        select(Payment)
        .where(
            Payment.id == payment_id,
            Payment.deleted_at.is_not(None) if deleted else Payment.deleted_at.is_(None),
        )
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if payment is None:
        raise RecordNotFound(_("There is no such payment."))
    return payment, contract


def get_payment(actor: Membership, payment_id: int) -> tuple[Payment, Contract]:
    """A live payment and its contract, for reading (no lock)."""
    payment = db.session.execute(
        select(Payment).where(Payment.id == payment_id, Payment.deleted_at.is_(None))
    ).scalar_one_or_none()
    if payment is None:
        raise RecordNotFound(_("There is no such payment."))
    try:
        return payment, get_contract(actor, payment.contract_id)
    except RecordNotFound:
        raise RecordNotFound(_("There is no such payment.")) from None


def correct_payment(
    actor: Membership,
    payment_id: int,
    values: Mapping[str, Any],
    *,
    today: date | None = None,
) -> Payment:
    """Correct a recorded payment (only the values given change)."""
    _require_writer(actor)
    with _command():
        payment, contract = _payment(actor, payment_id)
        cleaned = _clean_payment(contract, values, creating=False, today=today or tenant_today())
        before = _payment_audit(payment)
        for key, value in cleaned.items():
            setattr(payment, key, value)
        payment.updated_by = actor.user_id
        payment.updated_at = func.now()
        db.session.flush()
        after = _payment_audit(payment)
        changed = sorted(k for k in after if before[k] != after[k])
        if changed:
            audit.record(
                "payment.corrected",
                "payment",
                payment.id,
                before={k: before[k] for k in changed},
                after={k: after[k] for k in changed},
            )
        db.session.commit()
        return payment


def delete_payment(actor: Membership, payment_id: int) -> Payment:
    """Move a payment to the recycle bin: it no longer counts, and can be restored."""
    _require_writer(actor)
    with _command():
        payment, _contract = _payment(actor, payment_id)
        payment.deleted_at = func.now()
        payment.updated_by = actor.user_id
        audit.record("payment.deleted", "payment", payment.id, before=_payment_audit(payment))
        db.session.commit()
        return payment


def restore_payment(actor: Membership, payment_id: int) -> Payment:
    """Bring a payment back from the recycle bin (unmatched if its instalment is gone)."""
    _require_writer(actor)
    with _command():
        payment, _contract = _payment(actor, payment_id, deleted=True)
        payment.deleted_at = None
        payment.updated_by = actor.user_id
        audit.record("payment.restored", "payment", payment.id, after=_payment_audit(payment))
        db.session.commit()
        return payment


# ---------------------------------------------------------------- receivables (SQL)

#: Columns the receivables list sorts by.
SORTS = ("number", "name", "amount", "received", "outstanding", "overdue", "overdue_rate")


def _receivable_rows(actor: Membership | None, today: date, owner_id: int | None) -> Any:
    """One row per receivable contract in scope with the figures of :func:`standing`, as a
    subquery. The steps mirror it: payments matched to an instalment (capped at its amount),
    the rest as credit, shared first-due-first with a running sum over the instalments.

    Every figure derives from the contract's amount: a role that may not see that field (or
    contracts at all) has no receivables to see."""
    if actor is not None:
        permissions.require(actor, "contract", "view")
        info = schemas(current_tenant_id())["contract"].field("amount")
        if info is not None and info.access_for(actor.role_key) == "hidden":
            raise Forbidden(_("Your role does not see contract amounts, so it has no receivables."))
    c_amount = cast(Contract.data[("amount", "amount")].astext, Numeric)
    status = Contract.data["status"].astext
    contracts = select(
        Contract.id.label("id"),
        Contract.name.label("name"),
        Contract.owner_id.label("owner_id"),
        Contract.data["number"].astext.label("number"),
        status.label("status"),
        c_amount.label("amount"),
        Contract.data[("amount", "currency")].astext.label("currency"),
    ).where(
        Contract.deleted_at.is_(None),
        status.in_(RECEIVABLE),
        Contract.data[("amount", "amount")].astext.is_not(None),
    )
    scope = scope_clause(Contract, actor, "contract")
    if scope is not None:
        contracts = contracts.where(scope)
    if owner_id is not None:
        contracts = contracts.where(Contract.owner_id == owner_id)
    c = contracts.cte("c")

    live = and_(Payment.deleted_at.is_(None), Payment.contract_id.in_(select(c.c.id)))
    received = (
        select(Payment.contract_id.label("contract_id"), func.sum(Payment.amount).label("sum"))
        .where(live)
        .group_by(Payment.contract_id)
        .cte("r")
    )
    matched = (
        select(
            Payment.contract_id.label("contract_id"),
            Payment.plan_id.label("plan_id"),
            func.sum(Payment.amount).label("sum"),
        )
        .where(live, Payment.plan_id.is_not(None))
        .group_by(Payment.contract_id, Payment.plan_id)
        .cte("m")
    )
    inst = (
        select(
            PaymentPlan.contract_id.label("contract_id"),
            PaymentPlan.due_date.label("due_date"),
            PaymentPlan.sequence.label("sequence"),
            PaymentPlan.amount.label("amount"),
            func.least(func.coalesce(matched.c.sum, 0), PaymentPlan.amount).label("matched"),
        )
        .join(c, c.c.id == PaymentPlan.contract_id)
        .outerjoin(
            matched,
            and_(
                matched.c.plan_id == PaymentPlan.id,
                matched.c.contract_id == PaymentPlan.contract_id,
            ),
        )
        .cte("i")
    )
    past = inst.c.due_date < today
    plan = (
        select(
            inst.c.contract_id.label("contract_id"),
            func.sum(inst.c.matched).label("matched"),
            func.sum(case((past, inst.c.amount), else_=0)).label("due_to_date"),
        )
        .group_by(inst.c.contract_id)
        .cte("p")
    )
    credit = func.coalesce(received.c.sum, 0) - plan.c.matched
    open_before = func.sum(inst.c.amount - inst.c.matched).over(
        partition_by=inst.c.contract_id,
        order_by=(inst.c.due_date, inst.c.sequence),
        rows=(None, -1),
    )
    share = func.greatest(
        0, func.least(credit - func.coalesce(open_before, 0), inst.c.amount - inst.c.matched)
    )
    late = (
        select(
            inst.c.contract_id.label("contract_id"),
            case((past, inst.c.amount - inst.c.matched - share), else_=0).label("late"),
        )
        .join(plan, plan.c.contract_id == inst.c.contract_id)
        .outerjoin(received, received.c.contract_id == inst.c.contract_id)
        .subquery("l")
    )
    overdue = (
        select(late.c.contract_id, func.sum(late.c.late).label("sum"))
        .group_by(late.c.contract_id)
        .cte("o")
    )
    got = func.coalesce(received.c.sum, 0)
    outstanding = c.c.amount - got
    due = func.coalesce(plan.c.due_to_date, 0)
    overdue_value = func.least(func.coalesce(overdue.c.sum, 0), func.greatest(outstanding, 0))
    return (
        select(
            c.c.id,
            c.c.name,
            c.c.owner_id,
            c.c.number,
            c.c.status,
            c.c.currency,
            c.c.amount,
            got.label("received"),
            outstanding.label("outstanding"),
            overdue_value.label("overdue"),
            due.label("due_to_date"),
            case(
                (due > 0, func.round(overdue_value * 100 / func.nullif(due, 0), 2)), else_=None
            ).label("overdue_rate"),
        )
        .select_from(c)
        .outerjoin(received, received.c.contract_id == c.c.id)
        .outerjoin(plan, plan.c.contract_id == c.c.id)
        .outerjoin(overdue, overdue.c.contract_id == c.c.id)
        .subquery("receivables")
    )


@dataclass(frozen=True)
class Receivable:
    """One contract's line in the receivables list."""

    id: int
    name: str | None
    number: str | None
    owner_id: int | None
    status: str
    currency: str
    amount: Decimal
    received: Decimal
    outstanding: Decimal
    overdue: Decimal
    due_to_date: Decimal
    overdue_rate: Decimal | None

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        for key in ("amount", "received", "outstanding", "overdue", "due_to_date", "overdue_rate"):
            value = body[key]
            body[key] = None if value is None else format(value, "f")
        return body


@dataclass(frozen=True)
class Totals:
    """Sums over contracts of one currency (and one owner, in the per-owner summary)."""

    currency: str
    contracts: int
    amount: Decimal
    received: Decimal
    outstanding: Decimal
    overdue: Decimal
    due_to_date: Decimal
    overdue_rate: Decimal | None
    owner_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        for key in ("amount", "received", "outstanding", "overdue", "due_to_date", "overdue_rate"):
            value = body[key]
            body[key] = None if value is None else format(value, "f")
        return body


@dataclass
class ReceivablesPage:
    """A page of the receivables list, with the totals of everything it filters."""

    rows: list[Receivable]
    next_cursor: str | None
    totals: list[Totals]
    owners: list[Totals]
    count: int


def _rounded(value: Decimal | None, currency: str) -> Decimal | None:
    return None if value is None else money.round_money(value, currency)


def _sort_key(rows: Any, sort: str) -> ColumnElement[Any]:
    column = rows.c[sort]
    if sort in ("number", "name"):
        return func.coalesce(column, "")
    if sort == "overdue_rate":
        return func.coalesce(column, -1)  # nothing due yet: below 0 %
    return column


def _encode_cursor(value: Any, row_id: int) -> str:
    raw = json.dumps([str(value), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> tuple[Any, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(row_id, int) or not isinstance(value, str):
            raise ValueError
        return (value if sort in ("number", "name") else Decimal(value)), row_id
    except (ValueError, TypeError, binascii.Error, ArithmeticError):
        raise DomainError(_("This cursor is not valid."), field="cursor", status=400) from None


def _totals(rows: Any, *group: ColumnElement[Any]) -> Any:
    return select(
        *group,
        func.count().label("contracts"),
        func.sum(rows.c.amount).label("amount"),
        func.sum(rows.c.received).label("received"),
        func.sum(rows.c.outstanding).label("outstanding"),
        func.sum(rows.c.overdue).label("overdue"),
        func.sum(rows.c.due_to_date).label("due_to_date"),
    ).group_by(*group)


def _as_totals(row: Any, owner: bool = False) -> Totals:
    currency = row.currency
    return Totals(
        currency=currency,
        contracts=row.contracts,
        amount=_rounded(row.amount, currency),
        received=_rounded(row.received, currency),
        outstanding=_rounded(row.outstanding, currency),
        overdue=_rounded(row.overdue, currency),
        due_to_date=_rounded(row.due_to_date, currency),
        overdue_rate=rate_percent(row.overdue, row.due_to_date),
        owner_id=row.owner_id if owner else None,
    )


def receivables(
    actor: Membership | None,
    *,
    today: date | None = None,
    owner_id: int | None = None,
    sort: str = "overdue",
    descending: bool = True,
    cursor: str | None = None,
    limit: int = 50,
) -> ReceivablesPage:
    """Signed, active and expired contracts in the actor's scope with their outstanding and
    overdue amounts, sorted (ending in the id) and paged by keyset; with totals per currency
    and per owner and currency over all of them."""
    if sort not in SORTS:
        raise DomainError(_("Sort by one of: %(choices)s.", choices=", ".join(SORTS)), field="sort")
    today = today or tenant_today()
    limit = max(1, min(limit, 200))
    rows = _receivable_rows(actor, today, owner_id)
    key = _sort_key(rows, sort)
    stmt = select(rows)
    if cursor:
        value, last_id = _decode_cursor(cursor, sort)
        bound = literal(value, type_=Numeric()) if isinstance(value, Decimal) else literal(value)
        position = tuple_(key, rows.c.id)
        stmt = stmt.where(
            position < tuple_(bound, last_id) if descending else position > tuple_(bound, last_id)
        )
    order = (key.desc(), rows.c.id.desc()) if descending else (key.asc(), rows.c.id.asc())
    found = db.session.execute(stmt.order_by(*order).limit(limit + 1)).all()
    page = [
        Receivable(
            id=r.id,
            name=r.name,
            number=r.number,
            owner_id=r.owner_id,
            status=r.status,
            currency=r.currency,
            amount=_rounded(r.amount, r.currency),
            received=_rounded(r.received, r.currency),
            outstanding=_rounded(r.outstanding, r.currency),
            overdue=_rounded(r.overdue, r.currency),
            due_to_date=_rounded(r.due_to_date, r.currency),
            overdue_rate=r.overdue_rate,
        )
        for r in found[:limit]
    ]
    next_cursor = None
    if len(found) > limit:
        last = found[limit - 1]
        raw = getattr(last, sort)
        if sort in ("number", "name"):
            raw = raw or ""
        elif sort == "overdue_rate" and raw is None:
            raw = Decimal(-1)
        next_cursor = _encode_cursor(raw, last.id)
    totals = [
        _as_totals(r)
        for r in db.session.execute(_totals(rows, rows.c.currency).order_by(rows.c.currency)).all()
    ]
    owners = [
        _as_totals(r, owner=True)
        for r in db.session.execute(
            _totals(rows, rows.c.owner_id, rows.c.currency).order_by(
                rows.c.owner_id, rows.c.currency
            )
        ).all()
    ]
    return ReceivablesPage(page, next_cursor, totals, owners, sum(t.contracts for t in totals))


# ---------------------------------------------------------------- the daily job


@dataclass
class DailyResult:
    """What one run of the daily job did."""

    activated: int = 0
    expired: int = 0
    due_reminders: int = 0
    overdue_reminders: int = 0


def _status_batch(source: str, target: str, due: ColumnElement[bool], today: date) -> int:
    """Move up to :data:`BATCH` contracts whose date came from ``source`` to ``target``."""
    rows = list(
        db.session.execute(
            select(Contract)
            .where(Contract.deleted_at.is_(None), Contract.data["status"].astext == source, due)
            .order_by(Contract.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)  # someone editing one now: tomorrow, then
        ).scalars()
    )
    for contract in rows:
        _set_status(contract, target, None)
        audit.record(
            f"contract.{'activated' if target == 'active' else 'expired'}",
            "contract",
            contract.id,
            before={"status": source},
            after={"status": target, "by": "schedule", "on": today.isoformat()},
        )
        if target == "expired" and contract.owner_id is not None:
            notifications.notify(
                contract.owner_id,
                "contract.expired",
                object_key="contract",
                record_id=contract.id,
                params={"name": contract.name, "date": contract.data.get("end_date")},
            )
    db.session.commit()
    return len(rows)


def _reminders(today: date, now: datetime, result: DailyResult) -> None:
    """Tell owners once of each instalment falling due within :data:`DUE_SOON_DAYS` and once of
    each newly overdue one, if it is not paid in full."""
    soon = today + timedelta(days=DUE_SOON_DAYS)
    last_id = 0
    while True:
        ids = list(
            db.session.execute(
                select(PaymentPlan.contract_id)
                .join(Contract, Contract.id == PaymentPlan.contract_id)
                .where(
                    PaymentPlan.contract_id > last_id,
                    Contract.deleted_at.is_(None),
                    Contract.data["status"].astext.in_(RECEIVABLE),
                    ((PaymentPlan.due_date < today) & PaymentPlan.overdue_notified_at.is_(None))
                    | (
                        (PaymentPlan.due_date >= today)
                        & (PaymentPlan.due_date <= soon)
                        & PaymentPlan.due_notified_at.is_(None)
                    ),
                )
                .group_by(PaymentPlan.contract_id)
                .order_by(PaymentPlan.contract_id)
                .limit(BATCH)
            ).scalars()
        )
        if not ids:
            return
        last_id = ids[-1]
        for contract_id in ids:
            _remind(contract_id, today, soon, now, result)
        db.session.commit()


def _remind(contract_id: int, today: date, soon: date, now: datetime, result: DailyResult) -> None:
    contract = db.session.execute(
        select(Contract)
        .where(Contract.id == contract_id, Contract.deleted_at.is_(None))
        .with_for_update(skip_locked=True)
    ).scalar_one_or_none()
    if contract is None:
        return
    amount, currency = amount_of(contract)
    plan = plan_of(contract.id)
    figures = standing(
        amount or Decimal(0),
        currency,
        _instalments(plan),
        _received(payments_of(contract.id)),
        today,
    )
    by_id = {row.instalment.id: row for row in figures.instalments}
    for item in plan:
        row = by_id[item.id]
        overdue = item.due_date < today
        if overdue and item.overdue_notified_at is None:
            item.overdue_notified_at = now
            kind = "contract.instalment_overdue"
        elif not overdue and item.due_date <= soon and item.due_notified_at is None:
            item.due_notified_at = now
            kind = "contract.instalment_due"
        else:
            continue
        # Paid in full: nothing to say, but marked so it is not looked at again.
        if row.remaining <= 0 or contract.owner_id is None:
            continue
        notifications.notify(
            contract.owner_id,
            kind,
            object_key="contract",
            record_id=contract.id,
            params={
                "name": contract.name,
                "sequence": item.sequence,
                "date": item.due_date.isoformat(),
                "amount": format(row.remaining, "f"),
                "currency": currency,
            },
        )
        if overdue:
            result.overdue_reminders += 1
        else:
            result.due_reminders += 1


def run_daily(
    tenant_id: int, today: date | None = None, now: datetime | None = None
) -> DailyResult:
    """The company's daily contract work: activate signed contracts whose start date came,
    expire those whose end date passed (owner notified), and remind owners of instalments.
    Running it again the same day changes nothing."""
    result = DailyResult()
    now = now or utcnow()
    with tenant_context(tenant_id, db.session):
        today = today or tenant_today()
        iso = today.isoformat()
        start = Contract.data["start_date"].astext
        end = Contract.data["end_date"].astext
        # ISO dates compare as text.
        while (done := _status_batch("signed", "active", start <= iso, today)) > 0:
            result.activated += done
        while (done := _status_batch("active", "expired", end < iso, today)) > 0:
            result.expired += done
        _reminders(today, now, result)
        db.session.commit()
    if any(asdict(result).values()):
        _log.info("contracts daily", extra={"daily_tenant_id": tenant_id, **asdict(result)})
    return result


@job
def run_daily_job() -> dict[str, int]:
    """The daily contract work of the company in context (queued by :func:`schedule_daily`)."""
    return asdict(run_daily(current_tenant_id()))


@job
def schedule_daily(day: str | None = None) -> int:
    """Queue today's contract work for every company not yet queued today: hourly from the
    worker's periodic schedule, a Redis key per company and day makes it once a day."""
    return queue_daily_per_tenant(
        "contracts-daily", run_daily_job, day or utcnow().date().isoformat()
    )
