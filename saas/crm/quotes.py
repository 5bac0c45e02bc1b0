"""Quotes (报价单): line items priced by :mod:`saas.crm.money`, statuses, approval of large
discounts, revisions and copies; and the rules the record service applies to quotes, their lines
and products (:func:`check_record`, :func:`before_delete`, :func:`before_restore`).

**Lines.** A quote's lines are ``quote_line`` records. :func:`save_lines` replaces them in one
transaction: each line is checked (a product of this company, quantity > 0, prices and percents
as the money rules say; unit price and tax rate default to the product's), the quote is priced,
each line's ``line_total`` (its gross after its own discount, before the header discount) and the
quote's ``subtotal``, ``tax_total`` and ``total`` are written, and the quote's version goes up
(optimistic concurrency like every record: a stale version is a 412 with the current quote).
Lines, totals and the pricing header (tax mode, overall discount) change only this way; the
generic record API and forms refuse them, and refuse any change to a quote that is not a draft.

**Statuses.** draft → (submit) pending_approval when the effective discount is above the
company's ``quote_discount_threshold``, else approved; pending_approval → approved or rejected
(by an owner, admin or manager whose data scope covers the quote, never its owner or the person
who asked; a rejection needs a comment; the owner is notified); approved → sent → accepted or
rejected (declined); sent or approved → expired past ``valid_until`` (the daily job); rejected →
draft (reopen). Any other move is a 409 naming the current status.

**Revisions.** :func:`revise` makes a new draft with ``revision`` + 1, the same lines and a link
to the previous version (``previous_quote``); the old one keeps its status and is frozen
(``superseded_by``). :func:`copy` makes an unrelated draft, revision 1.

**Products** are unique by code + name + specification in a company, ignoring case, character
width and repeated spaces: the database keeps a normalised key (``products.product_key``, set by
a trigger on every write, imports included) under a unique index, and :func:`check_record` tells
the person which product has it (a 409 naming the three fields) before the index would refuse.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import BigInteger, Text, func, literal, literal_column, select
from sqlalchemy.exc import IntegrityError

from custom_fields import types
from custom_fields.definitions import ObjectSchema
from custom_fields.query.scope import team_members
from saas.crm import approvals, money, price_lists
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.jobs import job, queue_daily_per_tenant
from saas.records import search
from saas.records import services as records
from saas.records.errors import RecordNotFound, StaleVersion
from saas.records.models import Product, QuoteLine, RecordColumns
from saas.records.models import Quote as QuoteRecord
from tenants import audit, notifications, permissions
from tenants.context import current_tenant_id
from tenants.errors import Forbidden
from tenants.models import (
    ADMIN_ROLES,
    WRITE_ROLES,
    DataScope,
    Membership,
    MembershipStatus,
    RoleKey,
    Tenant,
)

_log = logging.getLogger("kehu.quotes")

#: Lines per quote.
MAX_LINES = 500
#: Quotes expired per transaction by the daily job.
BATCH = 1000
#: How far the record page follows a revision chain each way.
MAX_CHAIN = 50
#: Roles that decide approvals (within their data scope).
APPROVER_ROLES = frozenset({RoleKey.OWNER, RoleKey.ADMIN, RoleKey.MANAGER})
DEFAULT_THRESHOLD = Decimal(10)


class Status(enum.StrEnum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    SENT = "sent"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EXPIRED = "expired"


#: action → (statuses it starts from, status it leads to; ``submit`` decides by the discount).
TRANSITIONS: dict[str, tuple[frozenset[Status], Status | None]] = {
    "submit": (frozenset({Status.DRAFT}), None),
    "approve": (frozenset({Status.PENDING_APPROVAL}), Status.APPROVED),
    "reject": (frozenset({Status.PENDING_APPROVAL}), Status.REJECTED),
    "send": (frozenset({Status.APPROVED}), Status.SENT),
    "accept": (frozenset({Status.SENT}), Status.ACCEPTED),
    "decline": (frozenset({Status.SENT}), Status.REJECTED),
    "reopen": (frozenset({Status.REJECTED}), Status.DRAFT),
    "withdraw": (frozenset({Status.PENDING_APPROVAL}), Status.DRAFT),
    "expire": (frozenset({Status.APPROVED, Status.SENT}), Status.EXPIRED),
}
#: Statuses a new version can be made from (a draft is edited; a pending one awaits its answer;
#: an accepted one is final).
REVISABLE = frozenset({Status.APPROVED, Status.SENT, Status.REJECTED, Status.EXPIRED})

#: Quote fields the quote workflows write; the record API and forms may not change them.
COMPUTED_KEYS = (
    "status",
    "subtotal",
    "tax_total",
    "total",
    "revision",
    "previous_quote",
    "superseded_by",
)
#: What prices a quote: set when it is created, then only through :func:`save_lines`.
PRICING_KEYS = ("tax_mode", "header_discount", "price_list")
#: A line's standard fields: written only by :func:`save_lines`.
LINE_KEYS = (
    "quote",
    "product",
    "quantity",
    "unit_price",
    "discount",
    "tax_rate",
    "line_total",
    "position",
)
#: Changes a quote that is no longer a draft still takes (a leaver's quotes change hands).
ALWAYS_EDITABLE = frozenset({"owner_id", "tags"})
_LINE_INPUT = frozenset({"id", "product", "name", "quantity", "unit_price", "discount", "tax_rate"})
_HEADER_INPUT = frozenset({"tax_mode", "header_discount", "currency", "price_list"})
_QUOTE_OF_LINE = literal_column("quote_lines.quote_id", BigInteger)
_PRODUCT_KEY = literal_column("products.product_key", Text)


# ---------------------------------------------------------------- errors


class TransitionRefused(DomainError):
    """The action is not allowed from the quote's status (409); ``current_status`` says which."""

    status = 409

    def __init__(self, message: str, current_status: str):
        super().__init__(message)
        self.current_status = current_status

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["current_status"] = self.current_status
        return body


class QuoteLocked(ValidationFailed):
    """A change to a quote (or its line) that its state no longer allows (409, per field)."""

    status = 409


class ProductExists(ValidationFailed):
    """Another product has the same code, name and specification (409 on the three fields)."""

    status = 409

    def __init__(self, errors: dict[str, list[str]], existing: dict[str, Any]):
        super().__init__(errors)
        self.existing = existing

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["existing"] = self.existing
        return body


# ---------------------------------------------------------------- notifications


def _quote_name(params: Mapping[str, Any]) -> str:
    return params.get("name") or _("a quote")


notifications.register(
    "quote.approval_requested",
    lambda p: _(
        "%(actor)s asks you to approve the quote “%(name)s”: discount %(discount)s%% "
        "(threshold %(threshold)s%%).",
        actor=notifications.actor_name(p),
        name=_quote_name(p),
        discount=p.get("discount", ""),
        threshold=p.get("threshold", ""),
    ),
)
notifications.register(
    "quote.approved",
    lambda p: _(
        "%(actor)s approved your quote “%(name)s”.",
        actor=notifications.actor_name(p),
        name=_quote_name(p),
    ),
)
notifications.register(
    "quote.rejected",
    lambda p: _(
        "%(actor)s rejected your quote “%(name)s”: %(comment)s",
        actor=notifications.actor_name(p),
        name=_quote_name(p),
        comment=p.get("comment", ""),
    ),
)
notifications.register(
    "quote.expired",
    lambda p: _("Your quote “%(name)s” expired on %(date)s.", name=_quote_name(p), date=p["date"]),
)


# ---------------------------------------------------------------- reading a quote


def status_of(quote: RecordColumns) -> Status:
    try:
        return Status(quote.data.get("status") or Status.DRAFT)
    except ValueError:
        return Status.DRAFT


def revision_of(quote: RecordColumns) -> int:
    try:
        return int(quote.data.get("revision") or 1)
    except (TypeError, ValueError):
        return 1


def is_superseded(quote: RecordColumns) -> bool:
    return quote.data.get("superseded_by") is not None


def _tenant() -> Tenant:
    return db.session.get(Tenant, current_tenant_id())


def threshold() -> Decimal:
    """The company's discount threshold in percent (above it, a manager approves)."""
    value = _tenant().quote_discount_threshold
    return DEFAULT_THRESHOLD if value is None else Decimal(value)


def currency_of(quote: RecordColumns) -> str:
    for key in ("total", "subtotal"):
        stored = quote.data.get(key)
        if isinstance(stored, dict) and stored.get("currency"):
            return str(stored["currency"])
    return _tenant().currency


def tax_mode_of(quote: RecordColumns) -> str:
    mode = quote.data.get("tax_mode")
    return mode if mode in ("exclusive", "inclusive") else "exclusive"


def status_label(code: str, locale: str) -> str:
    """A status's label as the company named it (the picklist), in ``locale``."""
    info = records.store("quote", None).schema.field("status")
    choice = info.spec.choice(code) if info is not None else None
    return choice.label(locale) if choice is not None else code


def _not_found() -> RecordNotFound:
    return RecordNotFound(_("There is no such quote."))


def _load(actor: Membership | None, quote_id: int, *, lock: bool = False) -> QuoteRecord:
    """The quote if ``actor``'s data scope covers it (``None``: any quote of the company);
    ``lock``: to change it, which a quote shared with the actor to read only refuses."""
    st = records.store("quote", actor)
    stmt = st.query().where(st.model.id == quote_id)
    if lock:
        stmt = stmt.with_for_update(of=st.model).execution_options(populate_existing=True)
    quote = db.session.execute(stmt).scalar_one_or_none()
    if quote is None:
        raise _not_found()
    if lock and actor is not None:
        records.require_change(actor, "quote", quote)
    return quote


def get_quote(actor: Membership, quote_id: int) -> QuoteRecord:
    """A quote the member may open (404 otherwise)."""
    return _load(actor, quote_id)


def line_records(quote_id: int) -> list[QuoteLine]:
    """The quote's lines (not in the recycle bin), in their order."""
    stmt = (
        select(QuoteLine)
        .where(quote_id == _QUOTE_OF_LINE, QuoteLine.deleted_at.is_(None))
        .order_by(QuoteLine.data["position"].astext.cast(BigInteger).nulls_last(), QuoteLine.id)
    )
    return list(db.session.execute(stmt).scalars())


def _stored_decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("amount")
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _money_quote(quote: RecordColumns, lines: Sequence[RecordColumns]) -> money.Quote | None:
    """The quote's stored lines as money inputs; ``None`` when a line lacks what pricing needs
    (lines written before the quote workflows existed)."""
    priced = []
    for line in lines:
        quantity = _stored_decimal(line.data.get("quantity"))
        price = _stored_decimal(line.data.get("unit_price"))
        if quantity is None or price is None:
            return None
        try:
            priced.append(
                money.Line(
                    quantity=quantity,
                    unit_price=price,
                    discount_percent=_stored_decimal(line.data.get("discount")) or Decimal(0),
                    tax_rate=_stored_decimal(line.data.get("tax_rate")) or Decimal(0),
                )
            )
        except money.MoneyError:
            return None
    header = _stored_decimal(quote.data.get("header_discount"))
    try:
        return money.Quote(
            currency=currency_of(quote),
            tax_mode=money.TaxMode(tax_mode_of(quote)),
            lines=tuple(priced),
            header_discount=money.HeaderDiscount(money.DiscountKind.PERCENT, header)
            if header
            else None,
        )
    except money.MoneyError:
        return None


def price_of(quote: RecordColumns, lines: Sequence[RecordColumns] | None = None):
    """The quote priced from its stored lines (``None`` when they cannot be priced)."""
    lines = line_records(quote.id) if lines is None else lines
    inputs = _money_quote(quote, lines)
    return None if inputs is None else money.calculate(inputs)


# ---------------------------------------------------------------- pricing input


@dataclass(frozen=True)
class PricedLine:
    """A line as it will be stored: the money line, its description and product."""

    index: int
    line_id: int | None
    product_id: int | None
    name: str
    line: money.Line


@dataclass(frozen=True)
class Priced:
    """Lines and header checked and priced (nothing written)."""

    currency: str
    tax_mode: money.TaxMode
    header_percent: Decimal | None
    lines: tuple[PricedLine, ...]
    result: money.QuoteResult
    #: The price list named in the header (line prices not typed came from it).
    price_list_id: int | None = None

    def to_dict(self, limit: Decimal) -> dict[str, Any]:
        """Totals as the API and the line editor show them, with what each line was priced at
        (a product's price and tax rate filled in) and whether submitting needs approval."""
        body = self.result.to_dict()
        for priced, line in zip(self.lines, body["lines"], strict=True):
            line.update(
                name=priced.name,
                product=priced.product_id,
                quantity=_plain(priced.line.quantity),
                unit_price=_plain(priced.line.unit_price),
                discount=_plain(priced.line.discount_percent),
                line_total=line["subtotal"],
            )
        body["header"] = {
            "currency": self.currency,
            "tax_mode": self.tax_mode.value,
            "header_discount": None if self.header_percent is None else _plain(self.header_percent),
            "price_list": self.price_list_id,
        }
        effective = money.effective_discount_percent(self.result)
        body["threshold"] = _plain(limit)
        body["needs_approval"] = effective > limit
        return body


def _plain(value: Decimal) -> str:
    """A Decimal as text without exponent or trailing zeros after the point."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _number(raw: Any) -> Any:
    """JSON numbers arrive as floats: their shortest repr is what the person wrote."""
    if isinstance(raw, float):
        return repr(raw)
    if isinstance(raw, str):
        return raw.strip().replace(",", "").replace("，", "") or None
    return raw


_MONEY_FIELDS = {"discount_percent": "discount"}


def _products(ids: Iterable[int]) -> dict[int, Product]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    st = records.store("product", None)  # the company's catalogue, whoever owns an entry
    stmt = st.query().where(Product.id.in_(wanted))
    return {p.id: p for p in db.session.execute(stmt).scalars()}


def _product_id(raw: Any) -> int | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise ValueError
    value = int(raw)
    if not 0 < value < 2**63:
        raise ValueError
    return value


def price(
    lines: Any,
    header: Mapping[str, Any] | None,
    *,
    quote: RecordColumns | None = None,
) -> Priced:
    """Check and price lines and a header as entered (``ValidationFailed`` naming each value at
    fault: ``lines[2].quantity``, ``header.header_discount``). A header value left out keeps
    the quote's (or the default: tax exclusive, no overall discount, the company's currency)."""
    errors: dict[str, list[str]] = {}
    header = dict(header or {})
    if not isinstance(lines, list):
        raise ValidationFailed({"lines": [_("Send the lines as a list.")]})
    if len(lines) > MAX_LINES:
        raise ValidationFailed({"lines": [_("A quote has at most %(n)d lines.", n=MAX_LINES)]})
    for key in header:
        if key not in _HEADER_INPUT:
            errors[f"header.{key}"] = [_("There is no such value.")]
    currency = header.get("currency") or (
        currency_of(quote) if quote is not None else _tenant().currency
    )
    tax_mode = header.get("tax_mode") or (tax_mode_of(quote) if quote is not None else "exclusive")
    if "header_discount" in header:
        header_raw = _number(header.get("header_discount"))
    else:
        header_raw = quote.data.get("header_discount") if quote is not None else None
    currency = str(currency).strip().upper()
    try:
        money.minor_digits(currency)
    except money.MoneyError as exc:
        errors["header.currency"] = [exc.text(_)]
    try:
        mode = money.TaxMode(tax_mode)
    except ValueError:
        errors["header.tax_mode"] = [_("Choose tax exclusive or tax inclusive prices.")]
        mode = money.TaxMode.EXCLUSIVE
    discount: money.HeaderDiscount | None = None
    if header_raw not in (None, "", 0, "0"):
        try:
            discount = money.HeaderDiscount(money.DiscountKind.PERCENT, header_raw)
        except money.MoneyError as exc:
            errors["header.header_discount"] = [exc.text(_)]
    list_id = _price_list_choice(header, quote, currency, errors)
    product_ids: dict[int, int] = {}
    for index, raw in enumerate(lines):
        if not isinstance(raw, Mapping):
            errors[f"lines[{index}]"] = [_("Send each line as an object.")]
            continue
        for key in raw:
            if key not in _LINE_INPUT:
                errors[f"lines[{index}].{key}"] = [_("There is no such value.")]
        try:
            product = _product_id(raw.get("product"))
        except (TypeError, ValueError):
            errors[f"lines[{index}].product"] = [_("There is no such product.")]
            continue
        if product is not None:
            product_ids[index] = product
    found = _products(product_ids.values())
    plist = (
        price_lists.applicable_list(currency, price_lists.today(), list_id)
        if "header.currency" not in errors and "header.price_list" not in errors
        else None
    )
    breaks = price_lists.list_prices(plist.id, found) if plist is not None else {}
    priced: list[PricedLine] = []
    for index, raw in enumerate(lines):
        if not isinstance(raw, Mapping):
            continue
        path = f"lines[{index}]"
        product = found.get(product_ids[index]) if index in product_ids else None
        if index in product_ids and product is None:
            errors[f"{path}.product"] = [_("There is no such product.")]
            continue
        name = raw.get("name")
        name = name.strip() if isinstance(name, str) else ""
        if not name and product is not None:
            name = product.name or ""
        if not name:
            errors[f"{path}.name"] = [_("Enter a description or choose a product.")]
        elif len(name) > 255:
            errors[f"{path}.name"] = [_("Enter a description of at most 255 characters.")]
        unit_price = _number(raw.get("unit_price"))
        tax_rate = _number(raw.get("tax_rate"))
        if product is not None and unit_price is None and product.id in breaks:
            unit_price = _list_price(breaks[product.id], raw.get("quantity"))
        if product is not None and unit_price is None:
            stored = product.data.get("price")
            if isinstance(stored, dict) and stored.get("amount") is not None:
                if stored.get("currency") not in (None, currency):
                    errors[f"{path}.unit_price"] = [
                        _(
                            "The product's price is in %(currency)s: enter a unit price.",
                            currency=stored.get("currency"),
                        )
                    ]
                    continue
                unit_price = str(stored["amount"])
        if product is not None and tax_rate is None:
            tax_rate = product.data.get("tax_rate")
        line_id = raw.get("id")
        if line_id is not None and (isinstance(line_id, bool) or not isinstance(line_id, int)):
            errors[f"{path}.id"] = [_("This line is not part of the quote.")]
            continue
        try:
            line = money.Line(
                quantity=_number(raw.get("quantity")),
                unit_price=unit_price,
                discount_percent=_number(raw.get("discount")) or Decimal(0),
                tax_rate=tax_rate if tax_rate is not None else Decimal(0),
            )
        except money.MoneyError as exc:
            key = _MONEY_FIELDS.get(exc.field, exc.field)
            if exc.message == money.N_("must be a number") and raw.get(key) is None:
                message = _("Enter a value.")
            else:
                message = exc.text(_)
            errors[f"{path}.{key}"] = [message]
            continue
        priced.append(PricedLine(index, line_id, product.id if product else None, name, line))
    if errors:
        raise ValidationFailed(errors)
    try:
        inputs = money.Quote(
            currency=currency,
            tax_mode=mode,
            lines=tuple(p.line for p in priced),
            header_discount=discount,
        )
        result = money.calculate(inputs)
    except money.MoneyError as exc:
        field = exc.field.replace("header_discount.value", "header_discount")
        path = field if field.startswith("lines") else f"header.{field}"
        raise ValidationFailed({path: [exc.text(_)]}) from None
    percent = discount.value if discount is not None else None
    return Priced(currency, mode, percent, tuple(priced), result, list_id)


def _price_list_choice(
    header: Mapping[str, Any],
    quote: RecordColumns | None,
    currency: str,
    errors: dict[str, list[str]],
) -> int | None:
    """The price list the header names (left out: the quote's), checked against the currency
    and the company's date; ``None``: the currency's default list, if any, prices."""
    named = "price_list" in header
    raw = header.get("price_list") if named else None
    if not named and quote is not None:
        raw = quote.data.get("price_list")
    if raw in (None, ""):
        return None
    try:
        list_id = _product_id(raw)
        plist = price_lists.get_price_list(list_id) if list_id is not None else None
    except (TypeError, ValueError, DomainError):
        if named:
            errors["header.price_list"] = [_("There is no such price list.")]
        return None
    if plist is None:
        return None
    if not named:  # kept from the quote: it prices only while it still applies
        return (
            plist.id if plist.valid_on(price_lists.today()) and plist.currency == currency else None
        )
    if plist.currency != currency:
        errors["header.price_list"] = [
            _(
                "This price list is in %(currency)s: choose one in the quote's currency.",
                currency=plist.currency,
            )
        ]
    elif not plist.valid_on(price_lists.today()):
        errors["header.price_list"] = [_("This price list is not active today.")]
    return plist.id


def _list_price(breaks: Sequence[tuple], quantity: Any) -> str | None:
    """A list's unit price for the line's quantity (``None``: the quantity is not a number or
    below every break; the product's own price applies)."""
    try:
        wanted = Decimal(str(_number(quantity)))
    except (InvalidOperation, ValueError):
        return None
    chosen = price_lists.pick(breaks, wanted) if wanted.is_finite() else None
    return None if chosen is None else _plain(chosen[1])


def preview(lines: Any, header: Mapping[str, Any] | None) -> dict[str, Any]:
    """Totals for lines that are not saved (the line editor's live totals)."""
    return price(lines, header).to_dict(threshold())


# ---------------------------------------------------------------- permissions and states


def _require_writer(actor: Membership) -> None:
    from saas.records.services import require_writer  # imports this module

    require_writer(actor, _("Your role does not allow changing quotes."))
    permissions.require(actor, "quote", "edit", _("Your role does not allow changing quotes."))


def _refuse(action: str, status: Status) -> TransitionRefused:
    label = status_label(status, _locale())
    messages = {
        "submit": _("Only a draft can be submitted; this quote is “%(status)s”."),
        "approve": _("Only a quote pending approval can be approved; this one is “%(status)s”."),
        "reject": _("Only a quote pending approval can be rejected; this one is “%(status)s”."),
        "send": _("Only an approved quote can be sent; this one is “%(status)s”."),
        "accept": _("Only a sent quote can be accepted; this one is “%(status)s”."),
        "decline": _("Only a sent quote can be declined; this one is “%(status)s”."),
        "reopen": _("Only a rejected quote can go back to draft; this one is “%(status)s”."),
        "withdraw": _("Only a quote pending approval can be withdrawn; this one is “%(status)s”."),
        "revise": _("A quote that is “%(status)s” cannot be revised."),
        "expire": _("A quote that is “%(status)s” cannot expire."),
        "edit": _("Only a draft can be changed; this quote is “%(status)s”."),
    }
    return TransitionRefused(messages[action] % {"status": label}, status.value)


def _superseded(quote: RecordColumns) -> TransitionRefused:
    return TransitionRefused(
        _("This version was replaced by a newer one: it can no longer be changed."),
        status_of(quote).value,
    )


def _locale() -> str:
    return records.context().locale


def _check_transition(quote: RecordColumns, action: str) -> Status:
    if is_superseded(quote):
        raise _superseded(quote)
    sources, _target = TRANSITIONS[action]
    status = status_of(quote)
    if status not in sources:
        raise _refuse(action, status)
    return status


def may_decide(actor: Membership, quote: RecordColumns, request: approvals.Approval | None) -> bool:
    """Whether ``actor`` may approve or reject the quote's request (its scope is checked by
    loading the quote through it)."""
    return (
        actor.role_key in APPROVER_ROLES
        and quote.owner_id != actor.user_id
        and (request is None or request.requested_by != actor.user_id)
    )


def allowed_actions(actor: Membership, quote: RecordColumns) -> list[str]:
    """The actions the member may take on the quote now (buttons of the record page)."""
    writer = actor.role_key in WRITE_ROLES
    if is_superseded(quote):
        return ["copy"] if writer else []
    status = status_of(quote)
    found = []
    if status is Status.PENDING_APPROVAL and may_decide(
        actor, quote, approvals.pending("quote", quote.id)
    ):
        found += ["approve", "reject"]
    if writer:
        for action in ("submit", "send", "accept", "decline", "reopen"):
            if status in TRANSITIONS[action][0]:
                found.append(action)
        if status is Status.PENDING_APPROVAL and may_withdraw(
            actor, quote, approvals.pending("quote", quote.id)
        ):
            found.append("withdraw")
        if status in REVISABLE:
            found.append("revise")
        found.append("copy")
    return found


def _clean_comment(raw: Any, *, required: bool) -> str | None:
    if raw is not None and not isinstance(raw, str):
        raise ValidationFailed({"comment": [_("Enter the comment as text.")]})
    comment = (raw or "").strip()
    if required and not comment:
        raise ValidationFailed({"comment": [_("Say why: a comment is required.")]})
    if len(comment) > approvals.MAX_COMMENT:
        raise ValidationFailed(
            {"comment": [_("Enter at most %(n)d characters.", n=approvals.MAX_COMMENT)]}
        )
    return comment or None


# ---------------------------------------------------------------- writing


def _stored_money(amount: Decimal, currency: str) -> dict[str, str]:
    # format "f": never exponent notation ("0E-6") in what the currency type reads back
    return {"amount": format(amount, "f"), "currency": currency}


def _stored_number(type_name: str, value: Decimal | None) -> Any:
    return types.get(type_name).to_storage(None if value is None else Decimal(_plain(value)))


def _touch(record: RecordColumns, actor_id: int | None, schema: ObjectSchema) -> None:
    record.updated_by = actor_id
    record.updated_at = func.now()
    record.search_text = search.record_text(schema, record.name, record.data)


def _set(quote: RecordColumns, actor_id: int | None, **values: Any) -> None:
    """Write quote values (``None`` removes one) and mark the change (the version goes up)."""
    data = dict(quote.data)
    for key, value in values.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    quote.data = data
    _touch(quote, actor_id, records.store("quote", None).schema)


def _totals(priced: Priced) -> dict[str, Any]:
    result, currency = priced.result, priced.currency
    return {
        "tax_mode": priced.tax_mode.value,
        "header_discount": _stored_number("percent", priced.header_percent),
        "price_list": priced.price_list_id,
        "subtotal": _stored_money(result.subtotal, currency),
        "tax_total": _stored_money(result.tax_total, currency),
        "total": _stored_money(result.total, currency),
    }


def _line_data(quote_id: int, position: int, priced: PricedLine, result: Any, currency: str):
    line = priced.line
    return {
        "quote": quote_id,
        "product": priced.product_id,
        "quantity": _stored_number("decimal", line.quantity),
        "unit_price": _stored_money(line.unit_price, currency),
        "discount": _stored_number("percent", line.discount_percent),
        "tax_rate": _stored_number("percent", line.tax_rate),
        "line_total": _stored_money(result.subtotal, currency),
        "position": position,
    }


def _summary(quote: RecordColumns, lines: int) -> dict[str, Any]:
    return {
        "lines": lines,
        **{
            k: quote.data.get(k)
            for k in ("tax_mode", "header_discount", "price_list", "subtotal", "total")
        },
    }


def save_lines(
    actor: Membership,
    quote_id: int,
    lines: Any,
    header: Mapping[str, Any] | None,
    expected_version: int,
) -> QuoteRecord:
    """Replace the draft quote's lines and its pricing header, price it and store the totals,
    if nobody changed the quote since ``expected_version``. A line that names the ``id`` of one
    of the quote's lines updates it (keeping its other fields); the quote's lines not named go
    to the recycle bin."""
    _require_writer(actor)
    quote = _load(actor, quote_id, lock=True)
    if quote.version != expected_version:
        raise StaleVersion(
            _("Someone else changed this quote. Reload it and apply your change again."),
            current=quote_json(actor, quote),
        )
    try:
        _check_transition(quote, "submit")  # editable exactly when it can be submitted
    except TransitionRefused as exc:
        if not is_superseded(quote):
            raise _refuse("edit", status_of(quote)) from exc
        raise
    priced = price(lines, header, quote=quote)
    existing = {line.id: line for line in line_records(quote.id)}
    unknown = {
        f"lines[{p.index}].id": [_("This line is not part of the quote.")]
        for p in priced.lines
        if p.line_id is not None and p.line_id not in existing
    }
    named = [p.line_id for p in priced.lines if p.line_id is not None]
    for p in priced.lines:
        if p.line_id is not None and named.count(p.line_id) > 1:
            unknown[f"lines[{p.index}].id"] = [_("This line is listed twice.")]
    if unknown:
        raise ValidationFailed(unknown)
    before = _summary(quote, len(existing))
    line_store = records.store("quote_line", None)
    kept: set[int] = set()
    for position, (p, result) in enumerate(
        zip(priced.lines, priced.result.lines, strict=True), start=1
    ):
        values = _line_data(quote.id, position, p, result, priced.currency)
        if p.line_id is not None:
            record = existing[p.line_id]
            kept.add(record.id)
            data = {**record.data, **values}
            if values["product"] is None:
                data.pop("product")
            if data != record.data or record.name != p.name:
                record.data, record.name = data, p.name
                record.owner_id = quote.owner_id
                _touch(record, actor.user_id, line_store.schema)
            continue
        data = {
            info.key: info.default
            for info in line_store.schema.fields
            if info.default is not None and info.key not in LINE_KEYS
        }
        data.update({k: v for k, v in values.items() if v is not None})
        record = QuoteLine(
            name=p.name,
            owner_id=quote.owner_id,
            created_by=actor.user_id,
            updated_by=actor.user_id,
            data=data,
            tags=[],
        )
        record.search_text = search.record_text(line_store.schema, record.name, data)
        db.session.add(record)
    for record in existing.values():
        if record.id not in kept:
            record.deleted_at = func.now()
            record.updated_by = actor.user_id
    _set(quote, actor.user_id, **_totals(priced))
    db.session.flush()
    audit.record(
        "quote.lines_saved",
        "quote",
        quote.id,
        before=before,
        after=_summary(quote, len(priced.lines)),
    )
    db.session.commit()
    return quote


def _command(action: str, actor: Membership, quote_id: int, *, writer: bool = True):
    if writer:
        _require_writer(actor)
    quote = _load(actor, quote_id, lock=True)
    status = _check_transition(quote, action)
    return quote, status


def _move(action: str, quote: RecordColumns, actor: Membership, status: Status, **extra: Any):
    target = TRANSITIONS[action][1]
    assert target is not None
    _set(quote, actor.user_id, status=target.value)
    audit.record(
        f"quote.{action}",
        "quote",
        quote.id,
        before={"status": status.value},
        after={"status": target.value, **extra},
    )


def _approvers(quote: RecordColumns, requester: int) -> list[int]:
    """Active owners, admins and managers whose data scope covers the quote's owner, but the
    owner and the person asking."""
    members = db.session.execute(
        select(Membership).where(
            Membership.status == MembershipStatus.ACTIVE,
            Membership.role_key.in_(list(APPROVER_ROLES)),
        )
    ).scalars()
    found = []
    for member in members:
        if member.user_id in (quote.owner_id, requester):
            continue
        scope = permissions.object_scope(member.role_key, "quote")
        if scope == DataScope.OWN:
            continue
        if scope in (DataScope.TEAM, DataScope.TEAM_AND_BELOW):
            below = scope == DataScope.TEAM_AND_BELOW
            if quote.owner_id not in team_members(member, below=below):
                continue
        found.append(member.user_id)
    return found


def submit(actor: Membership, quote_id: int, comment: Any = None) -> QuoteRecord:
    """Submit a draft: approved at once when its effective discount is at most the company's
    threshold, else pending a manager's approval (the approvers are notified)."""
    quote, status = _command("submit", actor, quote_id)
    note = _clean_comment(comment, required=False)
    lines = line_records(quote.id)
    if not lines:
        raise DomainError(_("Add at least one line before submitting."), field="lines", status=409)
    result = price_of(quote, lines)
    if result is None:
        raise DomainError(
            _("Some lines lack a quantity or a unit price: save the lines again."),
            field="lines",
            status=409,
        )
    discount = money.effective_discount_percent(result)
    limit = threshold()
    figures = {"discount": str(discount), "threshold": str(limit)}
    if discount <= limit:
        _set(quote, actor.user_id, status=Status.APPROVED.value)
        audit.record(
            "quote.submit",
            "quote",
            quote.id,
            before={"status": status.value},
            after={"status": Status.APPROVED.value, "comment": note, **figures},
        )
        db.session.commit()
        return quote
    approvals.request(
        "quote", quote.id, actor.user_id, threshold=limit, discount=discount, comment=note
    )
    _set(quote, actor.user_id, status=Status.PENDING_APPROVAL.value)
    audit.record(
        "quote.submit",
        "quote",
        quote.id,
        before={"status": status.value},
        after={"status": Status.PENDING_APPROVAL.value, "comment": note, **figures},
    )
    notifications.notify_many(
        {
            "user_id": user_id,
            "kind": "quote.approval_requested",
            "object_key": "quote",
            "record_id": quote.id,
            "params": {"name": quote.name, "actor": actor.user.display_name, **figures},
        }
        for user_id in _approvers(quote, actor.user_id)
    )
    try:
        db.session.commit()
    except IntegrityError as exc:  # another open request for it (cannot happen under the lock)
        db.session.rollback()
        raise DomainError(_("This quote is already waiting for approval."), status=409) from exc
    return quote


def _decide(
    actor: Membership, quote_id: int, action: str, comment: Any, decision: approvals.Decision
) -> QuoteRecord:
    if actor.role_key not in APPROVER_ROLES:
        raise Forbidden(_("Only owners, administrators and managers approve quotes."))
    quote, status = _command(action, actor, quote_id, writer=False)
    note = _clean_comment(comment, required=decision is approvals.Decision.REJECTED)
    request = approvals.pending("quote", quote.id, lock=True)
    if quote.owner_id == actor.user_id:
        raise Forbidden(_("You cannot decide on your own quote: another manager must."))
    if request is not None and request.requested_by == actor.user_id:
        raise Forbidden(_("You asked for this approval: another manager must decide."))
    if request is None:  # a quote put in this state by hand: its decision is recorded all the same
        request = approvals.request("quote", quote.id, None, threshold=threshold(), discount=None)
    approvals.decide(request, decision, actor.user_id, note)
    _move(action, quote, actor, status, comment=note)
    if quote.owner_id is not None:
        notifications.notify(
            quote.owner_id,
            f"quote.{'approved' if decision is approvals.Decision.APPROVED else 'rejected'}",
            object_key="quote",
            record_id=quote.id,
            params={"name": quote.name, "actor": actor.user.display_name, "comment": note or ""},
        )
    db.session.commit()
    return quote


def approve(actor: Membership, quote_id: int, comment: Any = None) -> QuoteRecord:
    """Approve a quote pending approval (an approver over its owner's data; not its owner)."""
    return _decide(actor, quote_id, "approve", comment, approvals.Decision.APPROVED)


def reject(actor: Membership, quote_id: int, comment: Any = None) -> QuoteRecord:
    """Reject a quote pending approval, saying why (its owner reads the comment)."""
    return _decide(actor, quote_id, "reject", comment, approvals.Decision.REJECTED)


def may_withdraw(
    actor: Membership, quote: RecordColumns, request: approvals.Approval | None
) -> bool:
    """The quote's owner, whoever asked for the approval, and owners and administrators may
    take a pending quote back to draft (e.g. when nobody else can approve it)."""
    return (
        actor.role_key in ADMIN_ROLES
        or quote.owner_id == actor.user_id
        or (request is not None and request.requested_by == actor.user_id)
    )


def withdraw(actor: Membership, quote_id: int, comment: Any = None) -> QuoteRecord:
    """Take a quote pending approval back to draft: its request is closed as withdrawn (kept in
    its approval history) and the approvers' inbox no longer shows it."""
    note = _clean_comment(comment, required=False)
    quote, status = _command("withdraw", actor, quote_id)
    request = approvals.pending("quote", quote.id, lock=True)
    if not may_withdraw(actor, quote, request):
        raise Forbidden(
            _("Only its owner, whoever asked for the approval or an administrator can withdraw it.")
        )
    if request is not None:
        approvals.decide(request, approvals.Decision.WITHDRAWN, actor.user_id, note)
    _move("withdraw", quote, actor, status, comment=note)
    db.session.commit()
    return quote


def _simple(action: str, actor: Membership, quote_id: int, comment: Any = None) -> QuoteRecord:
    note = _clean_comment(comment, required=False)
    quote, status = _command(action, actor, quote_id)
    _move(action, quote, actor, status, comment=note)
    db.session.commit()
    return quote


def send(actor: Membership, quote_id: int, comment: Any = None) -> QuoteRecord:
    """Mark an approved quote as sent to the customer."""
    return _simple("send", actor, quote_id, comment)


def accept(actor: Membership, quote_id: int, comment: Any = None) -> QuoteRecord:
    """The customer accepted the sent quote."""
    return _simple("accept", actor, quote_id, comment)


def decline(actor: Membership, quote_id: int, comment: Any = None) -> QuoteRecord:
    """The customer declined the sent quote (status rejected)."""
    return _simple("decline", actor, quote_id, comment)


def reopen(actor: Membership, quote_id: int, comment: Any = None) -> QuoteRecord:
    """Take a rejected quote back to draft, to change and submit it again."""
    return _simple("reopen", actor, quote_id, comment)


def _without_unique(schema: ObjectSchema, data: Mapping[str, Any], numbers: bool) -> dict:
    """A record's values for a new record: unique values dropped (they belong to the old one),
    and with ``numbers`` auto-numbers too (the new record gets its own)."""
    dropped = {f.key for f in schema.fields if f.unique or (numbers and f.type == "auto_number")}
    return {k: v for k, v in data.items() if k not in dropped}


def _duplicate(
    actor: Membership, source: QuoteRecord, *, name: str, owner_id: int | None, values: dict
) -> QuoteRecord:
    """A new quote from ``source`` with ``values`` on top, and copies of its lines."""
    st = records.store("quote", None)
    fresh_numbers = values.get("revision") == 1
    data = _without_unique(st.schema, source.data, fresh_numbers)
    for key, value in values.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    quote = QuoteRecord(
        name=name,
        owner_id=owner_id,
        created_by=actor.user_id,
        updated_by=actor.user_id,
        data=data,
        tags=list(source.tags or []),
    )
    if fresh_numbers:
        records._assign_numbers(st, quote)
    quote.search_text = search.record_text(st.schema, quote.name, quote.data)
    db.session.add(quote)
    db.session.flush()
    line_store = records.store("quote_line", None)
    for line in line_records(source.id):
        copied = _without_unique(line_store.schema, line.data, True)
        copied["quote"] = quote.id
        record = QuoteLine(
            name=line.name,
            owner_id=owner_id,
            created_by=actor.user_id,
            updated_by=actor.user_id,
            data=copied,
            tags=list(line.tags or []),
        )
        if any(f.type == "auto_number" for f in line_store.schema.fields):
            records._assign_numbers(line_store, record)
        record.search_text = search.record_text(line_store.schema, record.name, record.data)
        db.session.add(record)
    db.session.flush()
    return quote


def revise(actor: Membership, quote_id: int) -> QuoteRecord:
    """A new version of the quote: a draft with the next revision, the same lines and a link to
    this one, which keeps its status and is frozen."""
    _require_writer(actor)
    quote = _load(actor, quote_id, lock=True)
    if is_superseded(quote):
        raise _superseded(quote)
    status = status_of(quote)
    if status not in REVISABLE:
        raise _refuse("revise", status)
    revision = revision_of(quote) + 1
    new = _duplicate(
        actor,
        quote,
        name=quote.name or "",
        owner_id=quote.owner_id,
        values={
            "status": Status.DRAFT.value,
            "revision": revision,
            "previous_quote": quote.id,
            "superseded_by": None,
        },
    )
    _set(quote, actor.user_id, superseded_by=new.id)
    audit.record(
        "quote.revise",
        "quote",
        quote.id,
        before={"status": status.value, "revision": revision - 1},
        after={"superseded_by": new.id, "revision": revision},
    )
    db.session.commit()
    return new


def copy(actor: Membership, quote_id: int) -> QuoteRecord:
    """A new draft quote (revision 1) with the same customer, header and lines, owned by the
    person copying."""
    _require_writer(actor)
    quote = _load(actor, quote_id)
    new = _duplicate(
        actor,
        quote,
        name=_("%(name)s (copy)", name=quote.name or "")[:255],
        owner_id=actor.user_id,
        values={
            "status": Status.DRAFT.value,
            "revision": 1,
            "previous_quote": None,
            "superseded_by": None,
        },
    )
    audit.record("quote.copy", "quote", quote.id, after={"copy": new.id})
    db.session.commit()
    return new


# ---------------------------------------------------------------- the daily expiry


def _today(tenant: Tenant) -> dt.date:
    return dt.datetime.now(ZoneInfo(tenant.timezone)).date()


def expire_due(today: dt.date | None = None, *, batch: int = BATCH) -> int:
    """Mark expired every approved or sent quote of the company in context whose
    ``valid_until`` is before ``today`` (the company's date by default); owners are notified.
    A batch per transaction; returns how many expired."""
    tenant = _tenant()
    today = today or _today(tenant)
    schema = records.store("quote", None).schema
    done = 0
    while True:
        due = list(
            db.session.execute(
                select(QuoteRecord)
                .where(
                    QuoteRecord.deleted_at.is_(None),
                    QuoteRecord.data["status"].astext.in_(
                        [Status.APPROVED.value, Status.SENT.value]
                    ),
                    QuoteRecord.data["valid_until"].astext < today.isoformat(),
                    ~QuoteRecord.data.has_key("superseded_by"),
                )
                .order_by(QuoteRecord.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        if not due:
            return done
        for quote in due:
            before = status_of(quote).value
            data = {**quote.data, "status": Status.EXPIRED.value}
            quote.data = data
            quote.updated_at = func.now()
            quote.search_text = search.record_text(schema, quote.name, data)
            audit.record(
                "quote.expire",
                "quote",
                quote.id,
                before={"status": before},
                after={"status": Status.EXPIRED.value, "valid_until": data.get("valid_until")},
            )
        notifications.notify_many(
            {
                "user_id": q.owner_id,
                "kind": "quote.expired",
                "object_key": "quote",
                "record_id": q.id,
                "params": {"name": q.name, "date": q.data.get("valid_until")},
            }
            for q in due
            if q.owner_id is not None
        )
        db.session.commit()
        done += len(due)


@job
def run_expiry() -> int:
    """The daily expiry of the company in context (queued by :func:`schedule_expiry`)."""
    return expire_due()


@job
def schedule_expiry(day: str | None = None) -> int:
    """Queue today's expiry for every company not queued yet today (run hourly by the worker's
    schedule, ``saas.jobs.PERIODIC``; a Redis key per company and day makes it daily)."""
    day = day or dt.datetime.now(dt.UTC).date().isoformat()
    return queue_daily_per_tenant("quote-expiry", run_expiry, day)


# ---------------------------------------------------------------- reading for the API and pages


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _amount(value: Any) -> str | None:
    return _text(value.get("amount")) if isinstance(value, dict) else None


def quote_json(actor: Membership, quote: RecordColumns) -> dict[str, Any]:
    """The quote with its lines and totals, as the API answers (amounts as strings)."""
    lines = line_records(quote.id)
    result = price_of(quote, lines)
    data = quote.data
    body: dict[str, Any] = {
        "quote": {
            "id": quote.id,
            "version": quote.version,
            "name": quote.name,
            "owner_id": quote.owner_id,
            "status": status_of(quote).value,
            "revision": revision_of(quote),
            "currency": currency_of(quote),
            "tax_mode": tax_mode_of(quote),
            "header_discount": _text(data.get("header_discount")),
            "price_list": data.get("price_list"),
            "subtotal": _amount(data.get("subtotal")),
            "tax_total": _amount(data.get("tax_total")),
            "total": _amount(data.get("total")),
            "valid_until": data.get("valid_until"),
            "account": data.get("account"),
            "opportunity": data.get("opportunity"),
            "previous_quote": data.get("previous_quote"),
            "superseded_by": data.get("superseded_by"),
        },
        "lines": [
            {
                "id": line.id,
                "version": line.version,
                "position": line.data.get("position"),
                "name": line.name,
                "product": line.data.get("product"),
                "quantity": _text(line.data.get("quantity")),
                "unit_price": _amount(line.data.get("unit_price")),
                "discount": _text(line.data.get("discount")),
                "tax_rate": _text(line.data.get("tax_rate")),
                "line_total": _amount(line.data.get("line_total")),
            }
            for line in lines
        ],
        "totals": None if result is None else result.to_dict(),
        "actions": allowed_actions(actor, quote),
        "threshold": str(threshold()),
    }
    return body


def user_names(user_ids: Iterable[int | None]) -> dict[int, str]:
    from saas.accounts.models import User

    wanted = sorted({u for u in user_ids if u is not None})
    if not wanted:
        return {}
    rows = db.session.execute(select(User.id, User.name, User.email).where(User.id.in_(wanted)))
    return {uid: name or email for uid, name, email in rows}


def approval_json(row: approvals.Approval, names: Mapping[int, str]) -> dict[str, Any]:
    return {
        "id": row.id,
        "object_key": row.object_key,
        "record_id": row.record_id,
        "decision": row.decision,
        "requested_by": row.requested_by,
        "requested_by_name": names.get(row.requested_by) if row.requested_by else None,
        "request_comment": row.request_comment,
        "requested_at": row.created_at.isoformat() if row.created_at else None,
        "decided_by": row.decided_by,
        "decided_by_name": names.get(row.decided_by) if row.decided_by else None,
        "comment": row.comment,
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
        "threshold": _text(row.threshold),
        "discount": _text(row.discount),
    }


def history(quote: RecordColumns) -> list[dict[str, Any]]:
    """The quote's approval requests and decisions, oldest first."""
    rows = approvals.history("quote", [quote.id])
    names = user_names([r.requested_by for r in rows] + [r.decided_by for r in rows])
    return [approval_json(r, names) for r in rows]


def chain(quote: RecordColumns) -> list[QuoteRecord]:
    """The quote's versions, oldest first (as far as :data:`MAX_CHAIN` each way)."""

    def fetch(record_id: Any) -> QuoteRecord | None:
        if not isinstance(record_id, int):
            return None
        stmt = select(QuoteRecord).where(QuoteRecord.id == record_id)
        return db.session.execute(stmt).scalar_one_or_none()

    older: list[QuoteRecord] = []
    current: QuoteRecord | None = quote  # type: ignore[assignment]
    seen = {quote.id}
    while current is not None and len(older) < MAX_CHAIN:
        current = fetch(current.data.get("previous_quote"))
        if current is None or current.id in seen:
            break
        seen.add(current.id)
        older.append(current)
    newer: list[QuoteRecord] = []
    current = quote  # type: ignore[assignment]
    while current is not None and len(newer) < MAX_CHAIN:
        current = fetch(current.data.get("superseded_by"))
        if current is None or current.id in seen:
            break
        seen.add(current.id)
        newer.append(current)
    return [*reversed(older), quote, *newer]  # type: ignore[list-item]


@dataclass(frozen=True)
class Inbox:
    """A page of approval requests with the quotes they are about."""

    rows: list[dict[str, Any]]
    next_cursor: int | None


def inbox(
    actor: Membership, *, status: str = "pending", before_id: int | None = None, limit: int = 50
) -> Inbox:
    """Approval requests of the quotes in ``actor``'s data scope, newest first; ``status`` is
    ``pending`` (the approvers' inbox), ``approved``, ``rejected``, ``withdrawn`` or ``all``.
    Each row says whether ``actor`` may decide it and the quote's discount against the
    threshold it was asked with."""
    limit = max(1, min(limit, 200))
    st = records.store("quote", actor)
    Approval = approvals.Approval
    stmt = (
        st.query()
        .join(Approval, (Approval.record_id == QuoteRecord.id) & (Approval.object_key == "quote"))
        .add_columns(Approval)
        .order_by(Approval.id.desc())
        .limit(limit + 1)
    )
    if status != "all":
        if status not in {d.value for d in approvals.Decision}:
            raise ValidationFailed(
                {"status": [_("Choose pending, approved, rejected, withdrawn or all.")]}
            )
        stmt = stmt.where(Approval.decision == status)
    if before_id:
        stmt = stmt.where(Approval.id < before_id)
    found = [(a, q) for q, a in db.session.execute(stmt).all()]
    more = len(found) > limit
    found = found[:limit]
    names = user_names(
        [a.requested_by for a, _q in found]
        + [a.decided_by for a, _q in found]
        + [q.owner_id for _a, q in found]
    )
    rows = []
    for row, quote in found:
        item = approval_json(row, names)
        item.update(
            quote={
                "id": quote.id,
                "name": quote.name,
                "status": status_of(quote).value,
                "revision": revision_of(quote),
                "owner_id": quote.owner_id,
                "owner_name": names.get(quote.owner_id) if quote.owner_id else None,
                "total": _amount(quote.data.get("total")),
                "currency": currency_of(quote),
            },
            can_decide=row.decision == approvals.Decision.PENDING
            and status_of(quote) is Status.PENDING_APPROVAL
            and not is_superseded(quote)
            and may_decide(actor, quote, row),
        )
        rows.append(item)
    return Inbox(rows, found[-1][0].id if more and found else None)


# ---------------------------------------------------------------- rules for the record service


def _changed(
    payload: Mapping[str, Any],
    system: Mapping[str, Any],
    data: Mapping[str, Any],
    current: RecordColumns,
) -> set[str]:
    """The keys of ``payload`` whose value differs from the record's."""
    found = set()
    for key in payload:
        if key in system:
            old = getattr(current, key, None)
            if key == "tags":
                old = list(old or [])
            if system[key] != old:
                found.add(key)
        elif data.get(key) != current.data.get(key):
            found.add(key)
    return found


def _computed_message() -> str:
    return _("This value is computed by the quote: it cannot be set.")


def _editor_message() -> str:
    return _("Change this in the quote's line editor.")


def _check_quote(
    schema: ObjectSchema,
    payload: Mapping[str, Any],
    system: Mapping[str, Any],
    data: Mapping[str, Any],
    current: RecordColumns | None,
) -> None:
    if current is None:
        # A new quote is a draft, revision 1, without totals: its defaults, nothing else.
        defaults = {f.key: f.default for f in schema.fields}
        errors = {
            key: [_computed_message()]
            for key in COMPUTED_KEYS
            if key in payload and data.get(key) != defaults.get(key)
        }
        if errors:
            raise ValidationFailed(errors)
        return
    changed = _changed(payload, system, data, current)
    if is_superseded(current) or status_of(current) is not Status.DRAFT:
        locked = sorted(changed - ALWAYS_EDITABLE)
        if locked:
            if is_superseded(current):
                message = _(
                    "This version was replaced by a newer one: it can no longer be changed."
                )
            else:
                message = _refuse("edit", status_of(current)).message
            raise QuoteLocked({key: [message] for key in locked})
        return
    errors = {key: [_computed_message()] for key in sorted(changed) if key in COMPUTED_KEYS}
    errors.update({key: [_editor_message()] for key in sorted(changed) if key in PRICING_KEYS})
    if errors:
        raise ValidationFailed(errors)


def _check_line(
    payload: Mapping[str, Any],
    system: Mapping[str, Any],
    data: Mapping[str, Any],
    current: RecordColumns | None,
) -> None:
    if current is None:
        raise ValidationFailed({"quote": [_("Add lines in the quote's line editor.")]})
    changed = _changed(payload, system, data, current)
    if not changed:
        return
    quote = db.session.execute(
        select(QuoteRecord).where(QuoteRecord.id == current.data.get("quote"))
    ).scalar_one_or_none()
    if quote is not None and (is_superseded(quote) or status_of(quote) is not Status.DRAFT):
        message = (
            _superseded(quote).message
            if is_superseded(quote)
            else _refuse("edit", status_of(quote)).message
        )
        raise QuoteLocked({key: [message] for key in sorted(changed)})
    errors = {key: [_editor_message()] for key in sorted(changed) if key in LINE_KEYS}
    if errors:
        raise ValidationFailed(errors)


def _check_product(system: Mapping[str, Any], data: Mapping[str, Any], current: Any) -> None:
    name = system.get("name", current.name if current is not None else None)
    code, spec = data.get("code"), data.get("specification")
    if current is not None and (name, code, spec) == (
        current.name,
        current.data.get("code"),
        current.data.get("specification"),
    ):
        return
    key = func.kehu_product_key(
        literal(code, Text), literal(name, Text), literal(spec, Text), type_=Text
    )
    # Two people saving the same product wait for each other here, so the second is told
    # which product is in the way instead of meeting the unique index.
    lock = func.hashtextextended(func.concat("kehu-product:", current_tenant_id(), ":", key), 0)
    db.session.execute(select(func.pg_advisory_xact_lock(lock)))
    stmt = select(Product.id, Product.name, Product.deleted_at).where(key == _PRODUCT_KEY)
    if current is not None and current.id is not None:
        stmt = stmt.where(Product.id != current.id)
    found = db.session.execute(stmt.limit(1)).first()
    if found is None:
        return
    existing_id, existing_name, deleted_at = found
    if deleted_at is not None:
        message = _(
            "A product in the recycle bin has this code, name and specification: “%(name)s”.",
            name=existing_name,
        )
    else:
        message = _(
            "Another product has this code, name and specification: “%(name)s”.",
            name=existing_name,
        )
    raise ProductExists(
        {key: [message] for key in ("code", "name", "specification")},
        {"id": existing_id, "name": existing_name, "in_recycle_bin": deleted_at is not None},
    )


def check_record(
    schema: ObjectSchema,
    payload: Mapping[str, Any],
    system: Mapping[str, Any],
    data: Mapping[str, Any],
    current: RecordColumns | None,
) -> None:
    """What the record service asks before a create (``current=None``) or update of a quote,
    a quote line or a product is written: totals, lines and a quote past draft are not the
    generic forms' to change; products stay unique."""
    if schema.key == "quote":
        _check_quote(schema, payload, system, data, current)
    elif schema.key == "quote_line":
        _check_line(payload, system, data, current)
    elif schema.key == "product":
        _check_product(system, data, current)


def before_delete(object_key: str, record: RecordColumns, actor_id: int | None) -> None:
    """Quote lines go with their quote's line editor; only a draft quote goes to the recycle
    bin, and a draft revision that does frees its previous version to be revised again."""
    if object_key == "quote_line":
        raise DomainError(_("Remove lines in the quote's line editor."), status=409)
    if object_key != "quote":
        return
    if is_superseded(record):
        raise _superseded(record)
    if status_of(record) is not Status.DRAFT:
        raise DomainError(
            _("Only a draft quote can be moved to the recycle bin."), field="status", status=409
        )
    previous = record.data.get("previous_quote")
    if previous is not None:
        older = _load(None, previous, lock=True) if _exists(previous) else None
        if older is not None and older.data.get("superseded_by") == record.id:
            _set(older, actor_id, superseded_by=None)


def before_restore(object_key: str, record: RecordColumns, actor_id: int | None) -> None:
    """A quote line is not restored on its own; a restored revision freezes its previous
    version again, unless a newer version of that one exists meanwhile."""
    if object_key == "quote_line":
        raise DomainError(_("Lines are restored with the quote's line editor."), status=409)
    if object_key != "quote":
        return
    previous = record.data.get("previous_quote")
    if previous is None or not _exists(previous):
        return
    older = _load(None, previous, lock=True)
    other = older.data.get("superseded_by")
    if other is not None and other != record.id:
        raise DomainError(
            _("The previous version has a newer revision now: this one cannot come back."),
            status=409,
        )
    _set(older, actor_id, superseded_by=record.id)


def _exists(quote_id: Any) -> bool:
    if not isinstance(quote_id, int):
        return False
    stmt = select(QuoteRecord.id).where(
        QuoteRecord.id == quote_id, QuoteRecord.deleted_at.is_(None)
    )
    return db.session.execute(stmt).first() is not None
