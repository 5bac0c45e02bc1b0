"""Price list pages (``/t/<slug>/price-lists``): the lists, a page per list with its settings
and an items table (product typeahead, quantity breaks), and a confirmed delete. Any member
reads; owners, administrators and managers change."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from saas.crm import price_lists
from saas.errors import DomainError, ValidationFailed
from saas.web.forms import ConfirmForm
from tenants.resolution import attach_ui_tenant

bp = Blueprint("price_lists", __name__, url_prefix="/t/<slug>")
attach_ui_tenant(bp)

#: Empty rows under the items, to add products (more after saving).
BLANK_ROWS = 5
_SETTINGS = ("name", "currency", "valid_from", "valid_to")


def _can_write() -> bool:
    return g.membership.role_key in price_lists.WRITER_ROLES


def _messages(err: DomainError) -> dict[str, list[str]]:
    return err.errors if isinstance(err, ValidationFailed) else {err.field or "": [err.message]}


def _settings_from_form() -> dict[str, Any]:
    values: dict[str, Any] = {k: request.form.get(k, "") for k in _SETTINGS}
    values["valid_to"] = values["valid_to"] or None
    if not values["valid_from"]:
        values.pop("valid_from")
    values["active"] = request.form.get("active") == "on"
    values["is_default"] = request.form.get("is_default") == "on"
    return values


def _index(values: dict[str, Any] | None = None, errors: dict | None = None, status: int = 200):
    return render_template(
        "price_lists/index.html",
        lists=price_lists.list_price_lists(),
        counts=price_lists.item_counts(),
        can_write=_can_write(),
        values=values or {"currency": g.tenant.currency, "active": True},
        errors=errors or {},
        confirm=ConfirmForm(),
    ), status


@bp.route("/price-lists", methods=["GET", "POST"])
def index():
    if request.method == "GET":
        return _index()
    if not ConfirmForm().validate_on_submit():
        abort(400)
    values = _settings_from_form()
    try:
        plist = price_lists.create_price_list(g.membership, values)
    except DomainError as err:
        if err.status in (403, 404):
            raise
        return _index(values, _messages(err), err.status)
    flash(_("Price list “%(name)s” created.", name=plist.name), "success")
    return redirect(url_for("price_lists.detail", price_list_id=plist.id))


def _rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [*items, *({} for _ in range(BLANK_ROWS))]


def _detail(
    plist: price_lists.PriceList,
    *,
    values: dict[str, Any] | None = None,
    rows: list[dict[str, Any]] | None = None,
    errors: dict | None = None,
    status: int = 200,
):
    return render_template(
        "price_lists/detail.html",
        plist=plist,
        values=values or price_lists.state(plist),
        rows=rows if rows is not None else _rows(price_lists.items(plist.id)),
        can_write=_can_write(),
        errors=errors or {},
        confirm=ConfirmForm(),
    ), status


@bp.route("/price-lists/<int:price_list_id>", methods=["GET", "POST"])
def detail(price_list_id: int):
    plist = price_lists.get_price_list(price_list_id)
    if request.method == "GET":
        return _detail(plist)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    values = _settings_from_form()
    try:
        price_lists.update_price_list(g.membership, price_list_id, values)
    except DomainError as err:
        if err.status in (403, 404):
            raise
        plist = price_lists.get_price_list(price_list_id)
        return _detail(plist, values=values, errors=_messages(err), status=err.status)
    flash(_("Price list saved."), "success")
    return redirect(url_for("price_lists.detail", price_list_id=price_list_id))


@bp.post("/price-lists/<int:price_list_id>/items")
def items(price_list_id: int):
    plist = price_lists.get_price_list(price_list_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    products = request.form.getlist("product")
    names = request.form.getlist("product_name")
    minimums = request.form.getlist("min_quantity")
    prices = request.form.getlist("unit_price")
    rows: list[dict[str, Any]] = []
    shown: list[dict[str, Any]] = []
    for index, product in enumerate(products):
        minimum = minimums[index] if index < len(minimums) else ""
        price = prices[index] if index < len(prices) else ""
        shown.append(
            {
                "product": product,
                "product_name": names[index] if index < len(names) else "",
                "min_quantity": minimum,
                "unit_price": price,
            }
        )
        if not product.strip() and not price.strip():
            continue  # an empty row: nothing to save
        rows.append({"product": product.strip(), "min_quantity": minimum, "unit_price": price})
    try:
        saved = price_lists.replace_items(g.membership, price_list_id, rows)
    except DomainError as err:
        if err.status in (403, 404):
            raise
        # Messages name the saved row (items[2]); the page shows them by row of the table.
        kept = [i for i, r in enumerate(shown) if r["product"].strip() or r["unit_price"].strip()]
        errors = {_row_key(key, kept): messages for key, messages in _messages(err).items()}
        return _detail(plist, rows=shown, errors=errors, status=err.status)
    flash(
        _("Items saved: %(count)d.", count=len(saved)),
        "success",
    )
    return redirect(url_for("price_lists.detail", price_list_id=price_list_id, _anchor="items"))


def _row_key(key: str, kept: list[int]) -> str:
    """``items[2].unit_price`` → ``rows[5].unit_price`` (the table row it came from)."""
    if key.startswith("items[") and "]" in key:
        index, rest = key[6:].split("]", 1)
        if index.isdigit() and int(index) < len(kept):
            return f"rows[{kept[int(index)]}]{rest}"
    return key


@bp.route("/price-lists/<int:price_list_id>/delete", methods=["GET", "POST"])
def delete(price_list_id: int):
    plist = price_lists.get_price_list(price_list_id)
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        name = plist.name
        price_lists.delete_price_list(g.membership, price_list_id)
        flash(_("Price list “%(name)s” deleted.", name=name), "info")
        return redirect(url_for("price_lists.index"))
    return render_template(
        "price_lists/delete.html",
        plist=plist,
        count=price_lists.item_counts().get(plist.id, 0),
        confirm=form,
        can_write=_can_write(),
    )
