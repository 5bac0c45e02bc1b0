"""Contracts API under ``/api/v1/t/<slug>/``: a contract from a quote, the status actions, the
payment plan, received payments (回款) and the receivables summary."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from flask import g
from marshmallow import Schema, ValidationError, fields, validate

from saas.api.blueprint import ApiBlueprint
from saas.api.schemas import StrictSchema
from saas.crm import contracts, money
from saas.crm.models import PAYMENT_METHODS, Payment
from saas.records.models import Contract
from tenants.resolution import attach_api_tenant

bp = ApiBlueprint(
    "api_contracts", __name__, description="Contracts, payment plans, payments, receivables"
)
attach_api_tenant(bp)
SECURITY = [{"bearerAuth": []}]


class Amount(fields.Field):
    """An amount as text (``"1,234.50"``, ``"¥1234.5"``) or a JSON number; checked against the
    contract's currency by the service."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValidationError('Send an amount as text such as "1234.50", or a number.')
        return value if isinstance(value, str) else str(value)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else format(value, "f")


def _money(value: Decimal | None, currency: str) -> str | None:
    return None if value is None else format(money.round_money(value, currency), "f")


# ---------------------------------------------------------------- schemas


class ContractStandingOut(Schema):
    currency = fields.String()
    amount = fields.String(metadata={"description": "The contract amount."})
    received = fields.String(metadata={"description": "Sum of the live payments."})
    outstanding = fields.String(
        metadata={"description": "amount − received; negative when the customer overpaid."}
    )
    overpaid = fields.String(metadata={"description": "received − amount when above 0, else 0."})
    plan_total = fields.String()
    due_to_date = fields.String(
        metadata={"description": "Sum of the instalments whose due date has passed."}
    )
    overdue = fields.String(metadata={"description": "What of those instalments is not received."})
    overdue_rate = fields.String(
        allow_none=True,
        metadata={"description": "overdue ÷ due_to_date in percent (2 decimals); null: none due"},
    )


class ContractApprovalOut(Schema):
    id = fields.Integer()
    decision = fields.String(metadata={"description": "pending | approved | rejected | withdrawn"})
    requested_by = fields.Integer(allow_none=True)
    request_comment = fields.String(allow_none=True)
    decided_by = fields.Integer(allow_none=True)
    comment = fields.String(allow_none=True)
    created_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)


class ContractOut(Schema):
    id = fields.Integer()
    version = fields.Integer()
    name = fields.String(allow_none=True)
    number = fields.String(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    account = fields.Integer(allow_none=True)
    quote = fields.Integer(allow_none=True)
    status = fields.String(
        metadata={"description": "draft | in_approval | signed | active | expired | terminated"}
    )
    amount = fields.String(allow_none=True)
    currency = fields.String()
    start_date = fields.String(allow_none=True)
    end_date = fields.String(allow_none=True)
    signed_on = fields.String(allow_none=True)
    actions = fields.List(
        fields.String(), metadata={"description": "What the caller may do now: submit, approve …"}
    )
    standing = fields.Nested(ContractStandingOut)
    approvals = fields.List(fields.Nested(ContractApprovalOut))


class InstalmentOut(Schema):
    id = fields.Integer()
    sequence = fields.Integer()
    due_date = fields.Date()
    amount = fields.String()
    note = fields.String(allow_none=True)
    paid = fields.String(metadata={"description": "Received against it (matched or allocated)."})
    remaining = fields.String()
    overdue = fields.String()
    status = fields.String(metadata={"description": "paid | partly_paid | overdue | open"})


class PlanWarningOut(Schema):
    field = fields.String()
    message = fields.String()


class PlanOut(Schema):
    contract_id = fields.Integer()
    currency = fields.String()
    instalments = fields.List(fields.Nested(InstalmentOut))
    standing = fields.Nested(ContractStandingOut)
    warnings = fields.List(
        fields.Nested(PlanWarningOut),
        metadata={"description": "Due dates outside the contract's period (not errors)."},
    )
    unmatched_payments = fields.Integer(
        metadata={"description": "Payments whose instalment this change removed (PUT only)."}
    )


class InstalmentIn(StrictSchema):
    id = fields.Integer(
        allow_none=True,
        strict=True,
        metadata={"description": "An existing instalment to keep (its payments stay matched)."},
    )
    due_date = fields.Date(required=True)
    amount = Amount(required=True, metadata={"type": "string", "example": "50000.00"})
    note = fields.String(allow_none=True, validate=validate.Length(max=contracts.MAX_NOTE))


class PlanIn(StrictSchema):
    instalments = fields.List(
        fields.Nested(InstalmentIn),
        required=True,
        validate=validate.Length(max=contracts.MAX_INSTALMENTS),
        metadata={"description": "The whole plan, in order; they must add up to the amount."},
    )


class PaymentOut(Schema):
    id = fields.Integer()
    contract_id = fields.Integer()
    plan_id = fields.Integer(allow_none=True, metadata={"description": "The matched instalment"})
    received_on = fields.Date()
    amount = fields.Method("_amount")
    currency = fields.String()
    method = fields.String()
    reference = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    created_by = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    updated_by = fields.Integer(allow_none=True)
    updated_at = fields.DateTime()
    deleted_at = fields.DateTime(allow_none=True)

    def _amount(self, payment: Payment) -> str | None:
        return _money(payment.amount, payment.currency)


class PaymentsOut(Schema):
    data = fields.List(fields.Nested(PaymentOut), metadata={"description": "By date received"})
    deleted = fields.List(fields.Nested(PaymentOut), metadata={"description": "Recycle bin"})
    standing = fields.Nested(ContractStandingOut)


_METHOD = validate.OneOf(PAYMENT_METHODS)


class PaymentIn(StrictSchema):
    received_on = fields.Date(required=True)
    amount = Amount(required=True, metadata={"type": "string", "example": "50000.00"})
    currency = fields.String(metadata={"description": "Optional; must be the contract's currency."})
    method = fields.String(load_default="bank_transfer", validate=_METHOD)
    plan_id = fields.Integer(allow_none=True, strict=True)
    reference = fields.String(allow_none=True, validate=validate.Length(max=100))
    note = fields.String(allow_none=True, validate=validate.Length(max=contracts.MAX_NOTE))


class PaymentPatch(StrictSchema):
    received_on = fields.Date()
    amount = Amount(metadata={"type": "string"})
    currency = fields.String()
    method = fields.String(validate=_METHOD)
    plan_id = fields.Integer(allow_none=True, strict=True)
    reference = fields.String(allow_none=True, validate=validate.Length(max=100))
    note = fields.String(allow_none=True, validate=validate.Length(max=contracts.MAX_NOTE))


class ContractCommentIn(StrictSchema):
    comment = fields.String(allow_none=True, validate=validate.Length(max=contracts.MAX_REASON))


class ContractRejectIn(StrictSchema):
    comment = fields.String(
        required=True,
        validate=validate.Length(max=contracts.MAX_REASON),
        metadata={"description": "Why it goes back to draft (told to the owner)."},
    )


class ContractTerminateIn(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(max=contracts.MAX_REASON))


class ReceivablesQuery(Schema):
    owner_id = fields.Integer(validate=validate.Range(min=1, max=2**63 - 1))
    sort = fields.String(load_default="overdue", validate=validate.OneOf(contracts.SORTS))
    order = fields.String(load_default="desc", validate=validate.OneOf(["asc", "desc"]))
    cursor = fields.String(validate=validate.Length(max=500))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    as_of = fields.Date(metadata={"description": "The day to compute for (default: today)."})


class ReceivableOut(Schema):
    id = fields.Integer()
    name = fields.String(allow_none=True)
    number = fields.String(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    status = fields.String()
    currency = fields.String()
    amount = fields.String()
    received = fields.String()
    outstanding = fields.String()
    overdue = fields.String()
    due_to_date = fields.String()
    overdue_rate = fields.String(allow_none=True)


class ReceivableTotalsOut(Schema):
    owner_id = fields.Integer(allow_none=True)
    currency = fields.String()
    contracts = fields.Integer()
    amount = fields.String()
    received = fields.String()
    outstanding = fields.String()
    overdue = fields.String()
    due_to_date = fields.String()
    overdue_rate = fields.String(allow_none=True)


class ReceivablesOut(Schema):
    data = fields.List(fields.Nested(ReceivableOut))
    next_cursor = fields.String(allow_none=True)
    count = fields.Integer()
    totals = fields.List(
        fields.Nested(ReceivableTotalsOut), metadata={"description": "Per currency"}
    )
    owners = fields.List(
        fields.Nested(ReceivableTotalsOut), metadata={"description": "Per owner and currency"}
    )


# ---------------------------------------------------------------- shaping


def _contract_body(view: contracts.Overview) -> dict[str, Any]:
    contract: Contract = view.contract
    data = contract.data or {}
    amount, currency = contracts.amount_of(contract)
    return {
        "id": contract.id,
        "version": contract.version,
        "name": contract.name,
        "number": data.get("number"),
        "owner_id": contract.owner_id,
        "account": data.get("account"),
        "quote": data.get("quote"),
        "status": view.status,
        "amount": _money(amount, currency),
        "currency": currency,
        "start_date": data.get("start_date"),
        "end_date": data.get("end_date"),
        "signed_on": data.get("signed_on"),
        "actions": view.actions,
        "standing": view.standing.to_dict(),
        "approvals": view.approvals,
    }


def _plan_body(view: contracts.Overview, unmatched: int = 0) -> dict[str, Any]:
    currency = view.standing.currency
    rows = {row.instalment.id: row for row in view.standing.instalments}
    instalments = []
    for item in view.plan:
        row = rows[item.id]
        instalments.append(
            {
                "id": item.id,
                "sequence": item.sequence,
                "due_date": item.due_date,
                "amount": _money(item.amount, currency),
                "note": item.note,
                "paid": format(row.paid, "f"),
                "remaining": format(row.remaining, "f"),
                "overdue": format(row.overdue, "f"),
                "status": row.status,
            }
        )
    return {
        "contract_id": view.contract.id,
        "currency": currency,
        "instalments": instalments,
        "standing": view.standing.to_dict(),
        "warnings": view.warnings,
        "unmatched_payments": unmatched,
    }


def _view(contract_id: int, today: date | None = None) -> contracts.Overview:
    return contracts.overview(g.membership, contract_id, today)


# ---------------------------------------------------------------- routes


@bp.post("/contracts/from-quote/<int:quote_id>")
@bp.doc(security=SECURITY)
@bp.response(201, ContractOut)
def from_quote(quote_id: int):
    """A draft contract from an accepted quote: its customer, its total as the amount, a link
    to it, the next contract number. ``409`` when the quote is not accepted (naming its status)
    or already has a contract."""
    contract = contracts.from_quote(g.membership, quote_id)
    return _contract_body(_view(contract.id))


@bp.get("/contracts/<int:contract_id>")
@bp.doc(security=SECURITY)
@bp.response(200, ContractOut)
def get_contract(contract_id: int):
    """A contract's status, the actions the caller may take, its money standing and its
    approval history."""
    return _contract_body(_view(contract_id))


def _transition(contract_id: int, action: str, text: str | None) -> dict[str, Any]:
    contracts.transition(g.membership, contract_id, action, text=text)
    return _contract_body(_view(contract_id))


@bp.post("/contracts/<int:contract_id>/submit")
@bp.doc(security=SECURITY)
@bp.arguments(ContractCommentIn)
@bp.response(200, ContractOut)
def submit(body: dict, contract_id: int):
    """Draft → in approval. Needs the amount, start and end dates (``400`` naming what is
    missing) and, when there is a plan, that it adds up to the amount."""
    return _transition(contract_id, "submit", body.get("comment"))


@bp.post("/contracts/<int:contract_id>/approve")
@bp.doc(security=SECURITY)
@bp.arguments(ContractCommentIn)
@bp.response(200, ContractOut)
def approve(body: dict, contract_id: int):
    """In approval → signed (managers, owners, admins; a manager cannot approve a contract
    they submitted). Sets ``signed_on`` to today when empty; the owner is notified."""
    return _transition(contract_id, "approve", body.get("comment"))


@bp.post("/contracts/<int:contract_id>/reject")
@bp.doc(security=SECURITY)
@bp.arguments(ContractRejectIn)
@bp.response(200, ContractOut)
def reject(body: dict, contract_id: int):
    """In approval → draft with a comment (managers); the owner is notified."""
    return _transition(contract_id, "reject", body["comment"])


@bp.post("/contracts/<int:contract_id>/activate")
@bp.doc(security=SECURITY)
@bp.response(200, ContractOut)
def activate(contract_id: int):
    """Signed → active by hand (the daily job does it on the start date)."""
    return _transition(contract_id, "activate", None)


@bp.post("/contracts/<int:contract_id>/terminate")
@bp.doc(security=SECURITY)
@bp.arguments(ContractTerminateIn)
@bp.response(200, ContractOut)
def terminate(body: dict, contract_id: int):
    """Signed or active → terminated with a reason (managers); the owner is notified."""
    return _transition(contract_id, "terminate", body["reason"])


@bp.get("/contracts/<int:contract_id>/plan")
@bp.doc(security=SECURITY)
@bp.response(200, PlanOut)
def get_plan(contract_id: int):
    """The instalments with what is paid, remaining and overdue of each, and the standing."""
    return _plan_body(_view(contract_id))


@bp.put("/contracts/<int:contract_id>/plan")
@bp.doc(security=SECURITY)
@bp.arguments(PlanIn)
@bp.response(200, PlanOut)
def put_plan(body: dict, contract_id: int):
    """Replace the plan. The amounts must add up to the contract amount exactly: otherwise
    ``400`` with ``difference``, ``plan_total`` and ``contract_amount``. Due dates outside the
    contract's period come back as ``warnings``. Send an instalment's ``id`` to keep it."""
    result = contracts.set_plan(g.membership, contract_id, body["instalments"])
    return _plan_body(_view(contract_id), result.unmatched_payments)


@bp.get("/contracts/<int:contract_id>/payments")
@bp.doc(security=SECURITY)
@bp.response(200, PaymentsOut)
def list_payments(contract_id: int):
    """The contract's payments (and those in the recycle bin) with its standing."""
    view = _view(contract_id)
    return {
        "data": view.payments,
        "deleted": view.deleted_payments,
        "standing": view.standing.to_dict(),
    }


@bp.post("/contracts/<int:contract_id>/payments")
@bp.doc(security=SECURITY)
@bp.arguments(PaymentIn)
@bp.response(201, PaymentOut)
def record_payment(body: dict, contract_id: int):
    """Record a payment received (signed, active, expired or terminated contracts), in the
    contract's currency, not dated in the future; ``plan_id`` matches it to an instalment."""
    return contracts.record_payment(g.membership, contract_id, body)


@bp.patch("/payments/<int:payment_id>")
@bp.doc(security=SECURITY)
@bp.arguments(PaymentPatch)
@bp.response(200, PaymentOut)
def correct_payment(body: dict, payment_id: int):
    """Correct a payment: only the values sent change."""
    return contracts.correct_payment(g.membership, payment_id, body)


@bp.delete("/payments/<int:payment_id>")
@bp.doc(security=SECURITY)
@bp.response(204)
def delete_payment(payment_id: int):
    """Move a payment to the recycle bin (it stops counting; restorable)."""
    contracts.delete_payment(g.membership, payment_id)


@bp.post("/payments/<int:payment_id>/restore")
@bp.doc(security=SECURITY)
@bp.response(200, PaymentOut)
def restore_payment(payment_id: int):
    """Bring a payment back from the recycle bin."""
    return contracts.restore_payment(g.membership, payment_id)


@bp.get("/receivables")
@bp.doc(security=SECURITY)
@bp.arguments(ReceivablesQuery, location="query")
@bp.response(200, ReceivablesOut)
def receivables(query: dict):
    """Signed, active and expired contracts the caller may see, with amount, received,
    outstanding, overdue and overdue rate; sorted by ``sort`` (ending in the id), paged by
    ``cursor``; ``totals`` per currency and ``owners`` per owner and currency cover every
    contract of the filter, not only the page."""
    page = contracts.receivables(
        g.membership,
        today=query.get("as_of"),
        owner_id=query.get("owner_id"),
        sort=query["sort"],
        descending=query["order"] == "desc",
        cursor=query.get("cursor"),
        limit=query["limit"],
    )
    return {
        "data": [row.to_dict() for row in page.rows],
        "next_cursor": page.next_cursor,
        "count": page.count,
        "totals": [t.to_dict() for t in page.totals],
        "owners": [t.to_dict() for t in page.owners],
    }
