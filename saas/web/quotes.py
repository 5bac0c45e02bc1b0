"""Quote pages (``/t/<slug>/quotes/…``): the line editor, status actions, approval history and
revision chain on a quote's record page (:func:`quote_panel`, included by
``records/detail.html``), the approvers' page, and the live totals the editor asks for.

The editor is a plain form (it works without scripts: one blank row to add a line);
``saas/static/quotes.js`` adds rows, reorders them, searches products and shows totals as
they are typed through :func:`preview`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from babel.numbers import format_currency, format_decimal
from flask import (
    Blueprint,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from markupsafe import Markup
from werkzeug.datastructures import MultiDict

from saas.crm import approvals as approval_history
from saas.crm import money, price_lists, quotes
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.records import services as records
from saas.records.errors import StaleVersion
from saas.records.models import Product, RecordColumns
from tenants import services as tenant_services
from tenants.models import WRITE_ROLES
from tenants.resolution import attach_ui_tenant

bp = Blueprint("quotes", __name__, url_prefix="/t/<slug>/quotes")
attach_ui_tenant(bp)

LINE_FIELDS = ("id", "product", "name", "quantity", "unit_price", "discount", "tax_rate")
#: Colours of the status badges (Bootstrap), by status.
BADGES = {
    "draft": "secondary",
    "pending_approval": "warning",
    "approved": "info",
    "sent": "primary",
    "accepted": "success",
    "rejected": "danger",
    "expired": "dark",
}


def _locale() -> str:
    return records.context().locale


def _money(amount: Any, currency: str) -> str:
    """An amount in the person's language, every stored decimal shown (unit prices may be
    finer than the currency)."""
    if amount in (None, ""):
        return ""
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return str(amount)
    return format_currency(value, currency, locale=_locale(), decimal_quantization=False)


def _number(value: Any) -> str:
    if value in (None, ""):
        return ""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return format_decimal(number, locale=_locale(), decimal_quantization=False)


@dataclass
class Row:
    """One row of the line editor: the values as typed and their errors."""

    values: dict[str, str] = field(default_factory=dict)
    product_name: str = ""
    line_total: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Editor:
    """The line editor's state: header values, rows and errors not tied to a row."""

    header: dict[str, str]
    rows: list[Row]
    errors: list[str] = field(default_factory=list)
    header_errors: dict[str, list[str]] = field(default_factory=dict)
    version: int = 0


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        value = value.get("amount")
    return "" if value is None else str(value)


def _product_names(ids: list[Any]) -> dict[int, str]:
    wanted = sorted({i for i in ids if isinstance(i, int)})
    if not wanted:
        return {}
    st = records.store("product", None)
    stmt = st.query().where(Product.id.in_(wanted)).with_only_columns(Product.id, Product.name)
    return {pid: name or f"#{pid}" for pid, name in db.session.execute(stmt)}


def _editor(quote: RecordColumns, lines: list[RecordColumns]) -> Editor:
    names = _product_names([line.data.get("product") for line in lines])
    currency = quotes.currency_of(quote)
    rows = [
        Row(
            values={
                "id": str(line.id),
                "product": _plain(line.data.get("product")),
                "name": line.name or "",
                "quantity": _plain(line.data.get("quantity")),
                "unit_price": _plain(line.data.get("unit_price")),
                "discount": _plain(line.data.get("discount")),
                "tax_rate": _plain(line.data.get("tax_rate")),
            },
            product_name=names.get(line.data.get("product"), ""),
            line_total=_money(_plain(line.data.get("line_total")), currency),
        )
        for line in lines
    ]
    header = {
        "tax_mode": quotes.tax_mode_of(quote),
        "header_discount": _plain(quote.data.get("header_discount")),
        "currency": currency,
        "price_list": str(quote.data.get("price_list") or ""),
    }
    return Editor(header, rows, version=quote.version)


def _posted_editor(form: MultiDict, quote: RecordColumns) -> tuple[Editor, list[int]]:
    """The editor as posted, and for each line sent to the service the row it came from
    (blank rows are left out)."""
    order: list[str] = []
    for key in form:
        parts = key.split("-", 2)
        if len(parts) == 3 and parts[0] == "line" and parts[1] not in order:
            order.append(parts[1])
    rows, sent = [], []
    for number in order:
        values = {name: form.get(f"line-{number}-{name}", "").strip() for name in LINE_FIELDS}
        row = Row(values=values, product_name=form.get(f"line-{number}-product_name", ""))
        rows.append(row)
        if any(values[name] for name in LINE_FIELDS if name != "id"):
            sent.append(len(rows) - 1)
    header = {
        "tax_mode": form.get("tax_mode", quotes.tax_mode_of(quote)),
        "header_discount": form.get("header_discount", "").strip(),
        "currency": form.get("currency", quotes.currency_of(quote)),
        "price_list": form.get("price_list", "").strip(),
    }
    try:
        version = int(form.get("version", ""))
    except ValueError:
        version = -1
    return Editor(header, rows, version=version), sent


def _payload(editor: Editor, sent: list[int]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    lines = []
    for index in sent:
        values = editor.rows[index].values
        line: dict[str, Any] = {k: v for k, v in values.items() if v and k != "id"}
        if values.get("id"):
            try:
                line["id"] = int(values["id"])
            except ValueError:
                line["id"] = values["id"]
        lines.append(line)
    header = {
        "tax_mode": editor.header["tax_mode"],
        "header_discount": editor.header["header_discount"] or None,
        "currency": editor.header["currency"],
        "price_list": editor.header.get("price_list") or None,
    }
    return lines, header


def _attach(editor: Editor, sent: list[int], err: DomainError) -> None:
    """Put each error next to the row and input it names (``lines[2].quantity``)."""
    errors = err.errors if isinstance(err, ValidationFailed) else {err.field or "": [err.message]}
    for path, messages in errors.items():
        if path.startswith("lines[") and "]" in path:
            index_text, _sep, rest = path[len("lines[") :].partition("]")
            try:
                row = editor.rows[sent[int(index_text)]]
            except (ValueError, IndexError):
                editor.errors.extend(messages)
                continue
            name = rest.lstrip(".") or "name"
            row.errors.setdefault(name if name in LINE_FIELDS else "name", []).extend(messages)
        elif path.startswith("header."):
            editor.header_errors.setdefault(path.removeprefix("header."), []).extend(messages)
        else:
            editor.errors.extend(messages)


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


# ---------------------------------------------------------------- the record page's panel


def _panel_context(quote: RecordColumns, editor: Editor | None = None) -> dict[str, Any]:
    actor = g.membership
    lines = quotes.line_records(quote.id)
    status = quotes.status_of(quote)
    locale = _locale()
    currency = quotes.currency_of(quote)
    result = quotes.price_of(quote, lines)
    superseded = quotes.is_superseded(quote)
    can_edit = actor.role_key in WRITE_ROLES and status is quotes.Status.DRAFT and not superseded
    names = _product_names([line.data.get("product") for line in lines])
    effective = money.effective_discount_percent(result) if result is not None else None
    chain = quotes.chain(quote)
    history = approval_history.history("quote", [quote.id])
    pending = status is quotes.Status.PENDING_APPROVAL
    return {
        "quote": quote,
        "status": status.value,
        "status_label": quotes.status_label(status.value, locale),
        "badge": BADGES.get(status.value, "secondary"),
        "revision": quotes.revision_of(quote),
        "superseded_by": quote.data.get("superseded_by") if superseded else None,
        "actions": quotes.allowed_actions(actor, quote),
        "lines": lines,
        "product_names": names,
        "currency": currency,
        "tax_mode": quotes.tax_mode_of(quote),
        "header_discount": quote.data.get("header_discount"),
        "result": result,
        "effective": effective,
        "threshold": quotes.threshold(),
        "needs_approval": effective is not None and effective > quotes.threshold(),
        "history": history,
        "names": quotes.user_names(
            [a.requested_by for a in history] + [a.decided_by for a in history]
        ),
        "chain": [
            (
                version,
                quotes.revision_of(version),
                quotes.status_label(quotes.status_of(version).value, locale),
            )
            for version in chain
        ]
        if len(chain) > 1
        else [],
        "pending": pending,
        "is_approver": actor.role_key in quotes.APPROVER_ROLES,
        "can_edit": can_edit,
        "editor": editor if editor is not None else (_editor(quote, lines) if can_edit else None),
        "currencies": tenant_services.SUPPORTED_CURRENCIES,
        "price_lists": _price_list_choices(),
        "money": _money,
        "number": _number,
    }


def _price_list_choices() -> list[tuple[str, str, str]]:
    """Lists a quote may name today: (id, label, currency); the script shows those of the
    quote's currency."""
    today = price_lists.today()
    return [
        (str(p.id), p.name, p.currency)
        for p in price_lists.list_price_lists()
        if p.active and p.valid_on(today)
    ]


@bp.app_context_processor
def _quote_helpers() -> dict[str, Any]:
    """``quote_panel(record)`` for the quote's record page."""

    def quote_panel(record: RecordColumns) -> Markup:
        return Markup(render_template("quotes/_panel.html", **_panel_context(record)))  # noqa: S704

    return {"quote_panel": quote_panel}


# ---------------------------------------------------------------- routes


@bp.get("/approvals")
def approvals():
    """Quotes waiting for approval that the person may see, with discount against threshold;
    ``?status=`` ``approved``, ``rejected`` or ``all`` shows decided ones."""
    status = request.args.get("status", "pending")
    if status not in ("pending", "approved", "rejected", "withdrawn", "all"):
        status = "pending"
    try:
        before = int(request.args.get("cursor", "")) or None
    except ValueError:
        before = None
    page = quotes.inbox(g.membership, status=status, before_id=before)
    return render_template(
        "quotes/approvals.html",
        rows=page.rows,
        next_cursor=page.next_cursor,
        status=status,
        money=_money,
        number=_number,
        status_label=lambda code: quotes.status_label(code, _locale()),
    )


@bp.post("/preview")
def preview():
    """Totals for the editor's lines (JSON in and out; nothing is saved)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400)
    return jsonify(quotes.preview(body.get("lines"), body.get("header")))


@bp.route("/<int:quote_id>/lines", methods=["GET", "POST"])
def lines(quote_id: int):
    """The line editor on a page of its own (where the record page's form lands when a save
    is refused and scripts are off); a post saves the lines."""
    quote = quotes.get_quote(g.membership, quote_id)
    if request.method == "GET":
        return render_template("quotes/lines.html", **_panel_context(quote))
    editor, sent = _posted_editor(request.form, quote)
    lines_in, header = _payload(editor, sent)
    try:
        quotes.save_lines(g.membership, quote_id, lines_in, header, editor.version)
    except StaleVersion as err:
        if _wants_json():
            return jsonify(err.to_dict()), 412
        flash(err.message, "error")
        return redirect(url_for("quotes.lines", quote_id=quote_id))
    except DomainError as err:
        db.session.rollback()
        if _wants_json():
            return jsonify(err.to_dict()), err.status
        _attach(editor, sent, err)
        quote = quotes.get_quote(g.membership, quote_id)
        return render_template("quotes/lines.html", **_panel_context(quote, editor)), err.status
    if _wants_json():
        return jsonify(saved=True)
    flash(_("The lines have been saved."), "success")
    return redirect(url_for("records.detail", object_key="quote", record_id=quote_id))


_DONE = {
    "submit": lambda: _("The quote has been submitted."),
    "approve": lambda: _("The quote has been approved."),
    "reject": lambda: _("The quote has been rejected."),
    "send": lambda: _("The quote is marked as sent."),
    "accept": lambda: _("The quote is marked as accepted."),
    "decline": lambda: _("The quote is marked as declined."),
    "reopen": lambda: _("The quote is a draft again."),
    "withdraw": lambda: _("The approval request was withdrawn: the quote is a draft again."),
    "revise": lambda: _("This is the new version of the quote: change it and submit it."),
    "copy": lambda: _("This is the copy of the quote."),
}


@bp.post("/<int:quote_id>/actions")
def act(quote_id: int):
    """A status action, a revision or a copy, from the record page or the approvals page."""
    quotes.get_quote(g.membership, quote_id)  # 404 for a quote the person may not see
    action = request.form.get("action", "")
    if action not in _DONE:
        abort(400)
    back = request.form.get("back") == "approvals"
    target = quote_id
    try:
        command = getattr(quotes, action)
        if action in ("revise", "copy"):
            target = command(g.membership, quote_id).id
        else:
            command(g.membership, quote_id, request.form.get("comment"))
    except DomainError as err:
        db.session.rollback()
        messages = err.errors if isinstance(err, ValidationFailed) else {"": [err.message]}
        for texts in messages.values():
            for text in texts:
                flash(text, "error")
    else:
        flash(_DONE[action](), "success")
    if back:
        return redirect(url_for("quotes.approvals"))
    return redirect(url_for("records.detail", object_key="quote", record_id=target))
