"""Contract pages: the status, payment plan and payments panel on a contract's record page
(and "Create contract" on an accepted quote's), the plan editor, correcting a payment, and the
receivables list (``/t/<slug>/receivables``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from saas.crm import contracts
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.web.forms import ConfirmForm
from saas.web.helpers import safe_next
from tenants import services as tenant_services
from tenants.models import Membership
from tenants.resolution import attach_ui_tenant

bp = Blueprint("contracts", __name__, url_prefix="/t/<slug>")
attach_ui_tenant(bp)

METHOD_LABELS = {
    "bank_transfer": _l("Bank transfer"),
    "cash": _l("Cash"),
    "cheque": _l("Cheque"),
    "online": _l("Online payment"),
    "other": _l("Other"),
}
ACTION_LABELS = {
    "submit": _l("Submit for approval"),
    "approve": _l("Approve"),
    "reject": _l("Reject"),
    "activate": _l("Activate"),
    "terminate": _l("Terminate"),
}
INSTALMENT_LABELS = {
    "paid": _l("Paid"),
    "partly_paid": _l("Partly paid"),
    "overdue": _l("Overdue"),
    "open": _l("Open"),
}
SORT_LABELS = {
    "number": _l("Contract No."),
    "name": _l("Name"),
    "amount": _l("Amount"),
    "received": _l("Received"),
    "outstanding": _l("Outstanding"),
    "overdue": _l("Overdue"),
    "overdue_rate": _l("Overdue rate"),
}
#: Empty rows the plan editor offers besides the instalments there are.
BLANK_ROWS = 3
PAGE = 50


def _locale() -> str:
    return "zh_CN" if str(get_locale() or "en").startswith("zh") else "en"


def _refused(err: DomainError) -> None:
    """A refusal as flash messages; a 404 stays a 404 (another company's ids are no ids)."""
    if err.status == 404:
        raise err
    if isinstance(err, ValidationFailed):
        for messages in err.errors.values():
            for message in messages:
                flash(message, "error")
    else:
        flash(err.message, "error")


def _record_page(contract_id: int) -> str:
    return url_for("records.detail", object_key="contract", record_id=contract_id)


def _member_names() -> dict[int, str]:
    return {m.user_id: m.user.display_name for m in tenant_services.members()}


def _confirmed() -> None:
    if not ConfirmForm().validate_on_submit():
        abort(400)


# ---------------------------------------------------------------- the record page panel


@bp.app_template_global()
def contract_panel(object_key: str, record: Any) -> dict[str, Any] | None:
    """What ``contracts/_record.html`` (included by ``records/detail.html``) shows: the
    contract panel, or "Create contract" on a quote."""
    member: Membership | None = g.get("membership")
    if member is None:
        return None
    if object_key == "quote":
        return {
            "kind": "quote",
            "ready": (record.data or {}).get("status") == contracts.QUOTE_READY,
            "made": contracts.contract_for_quote(record.id),
            "can_write": contracts.may_write(member),
        }
    if object_key != "contract":
        return None
    view = contracts.overview(member, record.id)
    return {
        "kind": "contract",
        "view": view,
        "status_label": contracts.status_label(view.status, _locale()),
        "can_write": contracts.may_write(member),
        "payable": view.status in contracts.PAYABLE,
        "plan_editable": view.status in contracts.PLAN_EDITABLE,
        "labels": ACTION_LABELS,
        "methods": METHOD_LABELS,
        "instalment_labels": INSTALMENT_LABELS,
        "names": _member_names(),
        "today": contracts.tenant_today(),
    }


@bp.post("/contracts/<int:contract_id>/status")
def change_status(contract_id: int):
    _confirmed()
    action = request.form.get("action", "")
    if action not in contracts.ACTIONS:
        abort(400)
    text = request.form.get("text") or None
    try:
        contracts.transition(g.membership, contract_id, action, text=text)
    except DomainError as err:
        _refused(err)
        return redirect(_record_page(contract_id))
    messages = {
        "submit": _("The contract is submitted for approval."),
        "approve": _("The contract is approved and signed."),
        "reject": _("The contract went back to draft."),
        "activate": _("The contract is active."),
        "terminate": _("The contract is terminated."),
    }
    flash(messages[action], "success")
    return redirect(_record_page(contract_id))


@bp.post("/contracts/from-quote/<int:quote_id>")
def from_quote(quote_id: int):
    _confirmed()
    try:
        contract = contracts.from_quote(g.membership, quote_id)
    except DomainError as err:
        _refused(err)
        return redirect(url_for("records.detail", object_key="quote", record_id=quote_id))
    flash(_("The contract “%(name)s” was created as a draft.", name=contract.name), "success")
    return redirect(_record_page(contract.id))


# ---------------------------------------------------------------- the plan editor


@dataclass
class PlanRow:
    """One row of the plan editor, as typed."""

    id: str = ""
    due_date: str = ""
    amount: str = ""
    note: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def blank(self) -> bool:
        return not (self.due_date.strip() or self.amount.strip() or self.note.strip())


def _rows_from_form(form: Any) -> list[PlanRow]:
    count = min(int(form.get("rows", "0") or 0) if form.get("rows", "").isdigit() else 0, 200)
    return [
        PlanRow(
            id=form.get(f"id-{i}", ""),
            due_date=form.get(f"due_date-{i}", ""),
            amount=form.get(f"amount-{i}", ""),
            note=form.get(f"note-{i}", ""),
        )
        for i in range(count)
    ]


@bp.route("/contracts/<int:contract_id>/plan", methods=["GET", "POST"])
def plan(contract_id: int):
    member = g.membership
    view = contracts.overview(member, contract_id)
    general: list[str] = []
    warnings: list[dict[str, str]] = []
    if request.method == "POST":
        _confirmed()
        rows = _rows_from_form(request.form)
        filled = [(i, r) for i, r in enumerate(rows) if not r.blank]
        payload = [
            {
                "id": int(r.id) if r.id.isdigit() and len(r.id) < 19 else None,
                "due_date": r.due_date,
                "amount": r.amount,
                "note": r.note,
            }
            for _i, r in filled
        ]
        try:
            result = contracts.set_plan(member, contract_id, payload)
        except DomainError as err:
            if err.status == 404:
                raise
            db.session.rollback()
            errors = err.errors if isinstance(err, ValidationFailed) else {"": [err.message]}
            for key, messages in errors.items():
                # "instalments[2].amount" → the third filled row's amount input
                column = key.rsplit(".", 1)[-1]
                if key.startswith("instalments[") and column in ("due_date", "amount", "note"):
                    index = int(key[len("instalments[") : key.index("]")])
                    rows[filled[index][0]].errors[column] = messages
                else:
                    general.extend(messages)
            return _plan_page(view, rows, general, warnings, status=err.status)
        for warning in result.warnings:
            flash(warning["message"], "warning")
        if result.unmatched_payments:
            flash(
                _(
                    "%(n)d payments were matched to instalments that are gone: they count "
                    "towards the earliest instalments now.",
                    n=result.unmatched_payments,
                ),
                "warning",
            )
        flash(_("The payment plan is saved."), "success")
        return redirect(_record_page(contract_id))
    rows = [
        PlanRow(str(p.id), p.due_date.isoformat(), format(p.amount.normalize(), "f"), p.note or "")
        for p in view.plan
    ]
    rows += [PlanRow() for _i in range(BLANK_ROWS)]
    return _plan_page(view, rows, general, view.warnings)


def _plan_page(
    view: contracts.Overview,
    rows: list[PlanRow],
    general: list[str],
    warnings: list[dict[str, str]],
    status: int = 200,
):
    more = request.args.get("more", "")
    extra = min(int(more), 50) if more.isdigit() else 0
    rows = rows + [PlanRow() for _i in range(extra)]
    return render_template(
        "contracts/plan.html",
        view=view,
        rows=rows,
        general=general,
        warnings=warnings,
        can_write=contracts.may_write(g.membership),
        editable=view.status in contracts.PLAN_EDITABLE,
        confirm=ConfirmForm(),
    ), status


# ---------------------------------------------------------------- payments


def _payment_values(form: Any) -> dict[str, Any]:
    return {
        "received_on": form.get("received_on", ""),
        "amount": form.get("amount", ""),
        "method": form.get("method", ""),
        "plan_id": form.get("plan_id") or None,
        "reference": form.get("reference") or None,
        "note": form.get("note") or None,
    }


@bp.post("/contracts/<int:contract_id>/payments")
def add_payment(contract_id: int):
    _confirmed()
    try:
        payment = contracts.record_payment(g.membership, contract_id, _payment_values(request.form))
    except DomainError as err:
        _refused(err)
        return redirect(_record_page(contract_id) + "#payments")
    flash(
        _(
            "A payment of %(amount)s is recorded.",
            amount=_money(payment.amount, payment.currency),
        ),
        "success",
    )
    return redirect(_record_page(contract_id) + "#payments")


def _money(value: Any, currency: str) -> str:
    from flask_babel import format_currency

    return format_currency(value, currency)


@bp.route("/payments/<int:payment_id>/edit", methods=["GET", "POST"])
def edit_payment(payment_id: int):
    member = g.membership
    payment, contract = contracts.get_payment(member, payment_id)
    values = {
        "received_on": payment.received_on.isoformat(),
        "amount": format(payment.amount.normalize(), "f"),
        "method": payment.method,
        "plan_id": str(payment.plan_id or ""),
        "reference": payment.reference or "",
        "note": payment.note or "",
    }
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        _confirmed()
        values = {k: request.form.get(k, "") for k in values}
        try:
            contracts.correct_payment(member, payment_id, _payment_values(request.form))
        except DomainError as err:
            if err.status == 404:
                raise
            db.session.rollback()
            errors = err.errors if isinstance(err, ValidationFailed) else {"": [err.message]}
            status = err.status
            payment, contract = contracts.get_payment(member, payment_id)
        else:
            flash(_("The payment is corrected."), "success")
            return redirect(_record_page(contract.id) + "#payments")
    return render_template(
        "contracts/payment_form.html",
        payment=payment,
        contract=contract,
        values=values,
        errors=errors,
        plan=contracts.plan_of(contract.id),
        methods=METHOD_LABELS,
        currency=contracts.amount_of(contract)[1],
        confirm=ConfirmForm(),
    ), status


@bp.post("/payments/<int:payment_id>/delete")
def delete_payment(payment_id: int):
    _confirmed()
    try:
        payment = contracts.delete_payment(g.membership, payment_id)
    except DomainError as err:
        _refused(err)
        return redirect(safe_next(request.form.get("next"), url_for("contracts.receivables")))
    flash(_("The payment is in the recycle bin; it no longer counts."), "success")
    return redirect(_record_page(payment.contract_id) + "#payments")


@bp.post("/payments/<int:payment_id>/restore")
def restore_payment(payment_id: int):
    _confirmed()
    try:
        payment = contracts.restore_payment(g.membership, payment_id)
    except DomainError as err:
        _refused(err)
        return redirect(safe_next(request.form.get("next"), url_for("contracts.receivables")))
    flash(_("The payment is restored."), "success")
    return redirect(_record_page(payment.contract_id) + "#payments")


# ---------------------------------------------------------------- receivables


@bp.get("/receivables")
def receivables():
    member = g.membership
    sort = request.args.get("sort", "overdue")
    if sort not in contracts.SORTS:
        sort = "overdue"
    order = "asc" if request.args.get("order") == "asc" else "desc"
    raw_owner = request.args.get("owner_id", "")
    owner_id = int(raw_owner) if raw_owner.isdigit() and len(raw_owner) < 19 else None
    cursor = request.args.get("cursor") or None
    page = contracts.receivables(
        member,
        owner_id=owner_id,
        sort=sort,
        descending=order == "desc",
        cursor=cursor,
        limit=PAGE,
    )
    names = _member_names()
    owners = sorted(
        {t.owner_id for t in page.owners if t.owner_id is not None} | ({owner_id} - {None}),
        key=lambda uid: names.get(uid, ""),
    )
    return render_template(
        "contracts/receivables.html",
        page=page,
        sort=sort,
        order=order,
        owner_id=owner_id,
        first_page=cursor is None,
        names=names,
        owners=[(uid, names.get(uid, str(uid))) for uid in owners],
        sorts=SORT_LABELS,
        status_label=lambda code: contracts.status_label(code, _locale()),
    )
