"""Price lists (价目表): a product's price per list, currency and quantity break.

A list has a currency, a validity period (``valid_from``, ``valid_to`` inclusive; no end date:
open) and may be the company's default for its currency (at most one per currency; making a list
the default takes the mark from the previous one). Its items give a product's unit price from a
minimum quantity on: 100 from 1, 90 from 10, 80 from 100.

:func:`unit_price_for` answers what a product costs: the named list's (or else the currency's
default list's) price for the highest break not above the quantity, when that list is active and
valid on the day; otherwise the product's own price in that currency. Quotes call it through
:func:`list_prices` when they fill in a line's unit price.

Any member reads; owners, administrators and managers change lists. Each command is one audited
transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKeyConstraint,
    Identity,
    Index,
    Numeric,
    String,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from saas.crm import money
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.records.models import Product
from tenants import audit
from tenants.context import TenantScoped, current_tenant_id
from tenants.errors import Forbidden
from tenants.models import Membership, RoleKey, Tenant

#: Roles that create and change price lists.
WRITER_ROLES = frozenset({RoleKey.OWNER, RoleKey.ADMIN, RoleKey.MANAGER})
MAX_NAME = 100
MAX_ITEMS = 5000
MAX_LISTS = 500


class PriceList(TenantScoped, db.Model):
    """A named set of product prices in one currency, valid from ``valid_from`` to ``valid_to``
    (inclusive; ``None``: no end). ``is_default`` marks the list quotes in its currency use
    when they name none (one per company and currency, a partial unique index)."""

    __tablename__ = "price_lists"
    __table_args__ = (
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="valid_range"),
        Index(
            "uq_price_lists_default",
            "tenant_id",
            "currency",
            unique=True,
            postgresql_where=text("is_default"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME))
    currency: Mapped[str] = mapped_column(String(3))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    def valid_on(self, day: dt.date) -> bool:
        """Whether the list applies on ``day`` (active and within its dates)."""
        return (
            self.active
            and self.valid_from <= day
            and (self.valid_to is None or day <= self.valid_to)
        )


class PriceListItem(TenantScoped, db.Model):
    """A product's unit price in a list from ``min_quantity`` on (a quantity break)."""

    __tablename__ = "price_list_items"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "price_list_id"],
            ["price_lists.tenant_id", "price_lists.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "product_id"], ["products.tenant_id", "products.id"], ondelete="CASCADE"
        ),
        CheckConstraint("min_quantity > 0", name="min_quantity"),
        CheckConstraint("unit_price >= 0", name="unit_price"),
        Index("ix_price_list_items_product", "tenant_id", "product_id"),
    )

    price_list_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    product_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    min_quantity: Mapped[Decimal] = mapped_column(Numeric(18, 4), primary_key=True, default=1)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(18, 6))


# ---------------------------------------------------------------- reads


@dataclass(frozen=True)
class UnitPrice:
    """What a product costs: ``source`` is ``price_list`` (with the list and the break used),
    ``product`` (its own price) or ``None`` (no price in this currency)."""

    unit_price: Decimal | None
    currency: str
    source: str | None
    price_list_id: int | None = None
    min_quantity: Decimal | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit_price": None if self.unit_price is None else _plain(self.unit_price),
            "currency": self.currency,
            "source": self.source,
            "price_list_id": self.price_list_id,
            "min_quantity": None if self.min_quantity is None else _plain(self.min_quantity),
        }


def _plain(value: Decimal) -> str:
    text_ = format(value, "f")
    return text_.rstrip("0").rstrip(".") if "." in text_ else text_


def _not_found() -> DomainError:
    return DomainError(_("There is no such price list."), status=404)


def today() -> dt.date:
    """The company's date (its time zone)."""
    tenant = db.session.get(Tenant, current_tenant_id())
    return dt.datetime.now(ZoneInfo(tenant.timezone)).date()


def list_price_lists() -> list[PriceList]:
    """The company's lists: defaults first, then by name."""
    stmt = select(PriceList).order_by(
        PriceList.is_default.desc(), func.lower(PriceList.name), PriceList.id
    )
    return list(db.session.execute(stmt).scalars())


def get_price_list(price_list_id: int) -> PriceList:
    """One list of the company in context (404 otherwise)."""
    found = db.session.execute(
        select(PriceList).where(PriceList.id == price_list_id)
    ).scalar_one_or_none()
    if found is None:
        raise _not_found()
    return found


def items(price_list_id: int) -> list[dict[str, Any]]:
    """The list's items with their products' names and codes, by product name and break."""
    stmt = (
        select(PriceListItem, Product.name, Product.data["code"].astext)
        .join(Product, Product.id == PriceListItem.product_id)
        .where(PriceListItem.price_list_id == price_list_id)
        .order_by(func.lower(Product.name), PriceListItem.product_id, PriceListItem.min_quantity)
    )
    return [
        {
            "product": item.product_id,
            "product_name": name,
            "product_code": code,
            "min_quantity": _plain(item.min_quantity),
            "unit_price": _plain(item.unit_price),
        }
        for item, name, code in db.session.execute(stmt)
    ]


def item_counts() -> dict[int, int]:
    rows = db.session.execute(
        select(PriceListItem.price_list_id, func.count()).group_by(PriceListItem.price_list_id)
    )
    return {list_id: count for list_id, count in rows}


def default_list(currency: str) -> PriceList | None:
    """The company's default list for ``currency`` (whether or not it is valid today)."""
    return db.session.execute(
        select(PriceList).where(PriceList.currency == currency, PriceList.is_default)
    ).scalar_one_or_none()


def applicable_list(
    currency: str, on_date: dt.date, price_list_id: int | None = None
) -> PriceList | None:
    """The list that prices in ``currency`` on ``on_date``: the named one or else the
    currency's default, when it is active, valid that day and in that currency."""
    plist = (
        db.session.execute(
            select(PriceList).where(PriceList.id == price_list_id)
        ).scalar_one_or_none()
        if price_list_id is not None
        else default_list(currency)
    )
    if plist is None or plist.currency != currency or not plist.valid_on(on_date):
        return None
    return plist


def list_prices(price_list_id: int, product_ids: Iterable[int]) -> dict[int, list[tuple]]:
    """product id → its breaks ``(min_quantity, unit_price)`` in the list, highest first."""
    wanted = sorted(set(product_ids))
    if not wanted:
        return {}
    stmt = (
        select(PriceListItem.product_id, PriceListItem.min_quantity, PriceListItem.unit_price)
        .where(
            PriceListItem.price_list_id == price_list_id,
            PriceListItem.product_id.in_(wanted),
        )
        .order_by(PriceListItem.product_id, PriceListItem.min_quantity.desc())
    )
    found: dict[int, list[tuple]] = {}
    for product_id, minimum, price in db.session.execute(stmt):
        found.setdefault(product_id, []).append((minimum, price))
    return found


def pick(breaks: Iterable[tuple], quantity: Decimal) -> tuple | None:
    """The break for ``quantity``: the highest ``min_quantity`` not above it."""
    for minimum, price in sorted(breaks, key=lambda b: b[0], reverse=True):
        if minimum <= quantity:
            return minimum, price
    return None


def unit_price_for(
    product_id: int,
    quantity: Decimal,
    currency: str,
    on_date: dt.date,
    price_list_id: int | None = None,
) -> UnitPrice:
    """A product's unit price for ``quantity`` in ``currency`` on ``on_date``: the applicable
    list's (:func:`applicable_list`) highest break not above the quantity, else the product's
    own price when it is in that currency."""
    product = db.session.execute(
        select(Product).where(Product.id == product_id, Product.deleted_at.is_(None))
    ).scalar_one_or_none()
    if product is None:
        raise DomainError(_("There is no such product."), field="product", status=404)
    plist = applicable_list(currency, on_date, price_list_id)
    if plist is not None:
        chosen = pick(list_prices(plist.id, [product_id]).get(product_id, ()), quantity)
        if chosen is not None:
            return UnitPrice(chosen[1], currency, "price_list", plist.id, chosen[0])
    stored = product.data.get("price")
    if (
        isinstance(stored, dict)
        and stored.get("amount") is not None
        and stored.get("currency") in (None, currency)
    ):
        return UnitPrice(Decimal(str(stored["amount"])), currency, "product")
    return UnitPrice(None, currency, None)


# ---------------------------------------------------------------- validation


def _require_writer(actor: Membership) -> None:
    if actor.role_key not in WRITER_ROLES:
        raise Forbidden(_("Only owners, administrators and managers change price lists."))


def _clean_name(raw: Any, errors: dict[str, list[str]]) -> str:
    name = " ".join(raw.split()) if isinstance(raw, str) else ""
    if not name:
        errors["name"] = [_("Enter a name.")]
    elif len(name) > MAX_NAME:
        errors["name"] = [_("Use at most %(max)d characters.", max=MAX_NAME)]
    return name


def _clean_currency(raw: Any, errors: dict[str, list[str]]) -> str:
    code = raw.strip().upper() if isinstance(raw, str) else ""
    try:
        money.minor_digits(code)
    except money.MoneyError as exc:
        errors["currency"] = [exc.text(_)]
    return code


def _clean_date(raw: Any, field: str, errors: dict[str, list[str]]) -> dt.date | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, dt.date):
        return raw
    try:
        return dt.date.fromisoformat(str(raw).strip())
    except ValueError:
        errors[field] = [_("Enter a date as YYYY-MM-DD.")]
        return None


def _clean_bool(raw: Any, field: str, errors: dict[str, list[str]]) -> bool:
    if isinstance(raw, bool):
        return raw
    errors[field] = [_("Choose true or false.")]
    return False


def state(plist: PriceList) -> dict[str, Any]:
    """The list's settings as plain values (audit entries, the settings form)."""
    return {
        "name": plist.name,
        "currency": plist.currency,
        "active": plist.active,
        "valid_from": plist.valid_from.isoformat() if plist.valid_from else None,
        "valid_to": plist.valid_to.isoformat() if plist.valid_to else None,
        "is_default": plist.is_default,
    }


_FIELDS = ("name", "currency", "active", "valid_from", "valid_to", "is_default")


def _apply(plist: PriceList, values: Mapping[str, Any], *, new: bool) -> None:
    """Check ``values`` and set them on ``plist`` (every problem at once, naming the field)."""
    errors: dict[str, list[str]] = {}
    for key in values:
        if key not in _FIELDS:
            errors[key] = [_("There is no such value.")]
    if new or "name" in values:
        plist.name = _clean_name(values.get("name"), errors)
    if new or "currency" in values:
        raw = values.get("currency")
        if new and raw in (None, ""):
            raw = db.session.get(Tenant, current_tenant_id()).currency
        plist.currency = _clean_currency(raw, errors)
    for key in ("active", "is_default"):
        if key in values:
            setattr(plist, key, _clean_bool(values[key], key, errors))
        elif new:
            setattr(plist, key, key == "active")
    if new or "valid_from" in values:
        plist.valid_from = _clean_date(values.get("valid_from"), "valid_from", errors) or (
            plist.valid_from if not new and "valid_from" not in errors else today()
        )
    if "valid_to" in values:
        plist.valid_to = _clean_date(values.get("valid_to"), "valid_to", errors)
    if (
        "valid_to" not in errors
        and plist.valid_to is not None
        and plist.valid_from is not None
        and plist.valid_to < plist.valid_from
    ):
        errors["valid_to"] = [_("The end date cannot be before the start date.")]
    if errors:
        raise ValidationFailed(errors)


def _take_default(plist: PriceList) -> None:
    """Make ``plist`` its currency's only default (the previous default loses the mark)."""
    if not plist.is_default:
        return
    stmt = select(PriceList.id).where(PriceList.currency == plist.currency, PriceList.is_default)
    if plist.id is not None:
        stmt = stmt.where(PriceList.id != plist.id)
    # Not flushed first: ``plist`` would meet the unique index before the old default lets go.
    with db.session.no_autoflush:
        previous = db.session.execute(stmt.with_for_update()).scalars().all()
        if previous:
            db.session.execute(
                update(PriceList).where(PriceList.id.in_(previous)).values(is_default=False),
                execution_options={"synchronize_session": "fetch"},
            )
    if previous:
        for other in previous:
            audit.record(
                "price_list.updated",
                "price_list",
                other,
                before={"is_default": True},
                after={"is_default": False},
            )


def _commit() -> None:
    try:
        db.session.commit()
    except IntegrityError as exc:  # another default saved at the same moment
        db.session.rollback()
        raise DomainError(
            _("Another list is already the default for this currency. Try again."),
            field="is_default",
            status=409,
        ) from exc


# ---------------------------------------------------------------- commands


def create_price_list(actor: Membership, values: Mapping[str, Any]) -> PriceList:
    """A new list (``currency`` defaults to the company's, ``valid_from`` to today)."""
    _require_writer(actor)
    count = db.session.execute(select(func.count()).select_from(PriceList)).scalar_one()
    if count >= MAX_LISTS:
        raise DomainError(
            _("A company can have at most %(max)d price lists.", max=MAX_LISTS), status=409
        )
    plist = PriceList()
    _apply(plist, values, new=True)
    _take_default(plist)
    db.session.add(plist)
    db.session.flush()
    audit.record("price_list.created", "price_list", plist.id, after=state(plist))
    list_id = plist.id
    _commit()
    return get_price_list(list_id)


def update_price_list(
    actor: Membership, price_list_id: int, values: Mapping[str, Any]
) -> PriceList:
    """Change a list's name, currency, dates, active flag or default mark."""
    _require_writer(actor)
    plist = db.session.execute(
        select(PriceList).where(PriceList.id == price_list_id).with_for_update()
    ).scalar_one_or_none()
    if plist is None:
        raise _not_found()
    before = state(plist)
    try:
        _apply(plist, values, new=False)
    except ValidationFailed:
        db.session.rollback()
        raise
    after = state(plist)
    changed = [k for k in after if after[k] != before[k]]
    if changed:
        _take_default(plist)
        audit.record(
            "price_list.updated",
            "price_list",
            plist.id,
            before={k: before[k] for k in changed},
            after={k: after[k] for k in changed},
        )
    _commit()
    return get_price_list(price_list_id)


def delete_price_list(actor: Membership, price_list_id: int) -> None:
    """Delete a list and its items. Quotes that named it keep their saved prices."""
    _require_writer(actor)
    plist = get_price_list(price_list_id)
    count = item_counts().get(plist.id, 0)
    audit.record(
        "price_list.deleted", "price_list", plist.id, before={**state(plist), "items": count}
    )
    db.session.delete(plist)
    db.session.commit()


def _quantity(raw: Any, field: str, errors: dict[str, list[str]]) -> Decimal | None:
    if raw is None or raw == "":
        return Decimal(1)
    if isinstance(raw, bool):
        raw = None
    elif isinstance(raw, float):
        raw = repr(raw)
    try:
        value = Decimal(str(raw).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        errors[field] = [_("Enter a number.")]
        return None
    if not value.is_finite() or value <= 0 or value >= money.LIMIT:
        errors[field] = [_("Enter a quantity greater than 0.")]
        return None
    if value != value.quantize(Decimal(1).scaleb(-money.QUANTITY_PLACES)):
        errors[field] = [_("Use at most %(places)d decimal places.", places=money.QUANTITY_PLACES)]
        return None
    return value


def parse_quantity(raw: Any, field: str = "quantity") -> Decimal:
    """A quantity as sent (``ValidationFailed`` naming ``field`` when it is not one)."""
    errors: dict[str, list[str]] = {}
    value = _quantity(raw, field, errors)
    if errors or value is None:
        raise ValidationFailed(errors)
    return value


def _unit_price(
    raw: Any, currency: str, field: str, errors: dict[str, list[str]]
) -> Decimal | None:
    if raw is None or raw == "":
        errors[field] = [_("Enter a unit price.")]
        return None
    if isinstance(raw, bool):
        errors[field] = [_("Enter an amount.")]
        return None
    if isinstance(raw, float):
        raw = repr(raw)
    try:
        value = money.parse_amount(str(raw), currency, field=field)
    except money.MoneyError as exc:
        errors[field] = [exc.text(_)]
        return None
    if value < 0:
        errors[field] = [_("Enter 0 or more.")]
        return None
    return value


def _product_ids(wanted: Iterable[int]) -> set[int]:
    ids = sorted(set(wanted))
    if not ids:
        return set()
    stmt = select(Product.id).where(Product.id.in_(ids), Product.deleted_at.is_(None))
    return set(db.session.execute(stmt).scalars())


def replace_items(actor: Membership, price_list_id: int, rows: Any) -> list[dict[str, Any]]:
    """Replace all of the list's items with ``rows`` (``product``, ``unit_price`` in the list's
    currency, ``min_quantity`` default 1); errors name each value (``items[2].unit_price``)."""
    _require_writer(actor)
    plist = db.session.execute(
        select(PriceList).where(PriceList.id == price_list_id).with_for_update()
    ).scalar_one_or_none()
    if plist is None:
        raise _not_found()
    if not isinstance(rows, list):
        raise ValidationFailed({"items": [_("Send the items as a list.")]})
    if len(rows) > MAX_ITEMS:
        raise ValidationFailed({"items": [_("A list has at most %(n)d items.", n=MAX_ITEMS)]})
    errors: dict[str, list[str]] = {}
    cleaned: list[tuple[int, int, Decimal, Decimal]] = []
    for index, row in enumerate(rows):
        path = f"items[{index}]"
        if not isinstance(row, Mapping):
            errors[path] = [_("Send each item as an object.")]
            continue
        for key in row:
            if key not in ("product", "unit_price", "min_quantity"):
                errors[f"{path}.{key}"] = [_("There is no such value.")]
        product = row.get("product")
        if isinstance(product, str) and product.strip().isdigit():
            product = int(product)
        if isinstance(product, bool) or not isinstance(product, int) or not 0 < product < 2**63:
            errors[f"{path}.product"] = [_("Choose a product.")]
            product = None
        minimum = _quantity(row.get("min_quantity"), f"{path}.min_quantity", errors)
        price = _unit_price(row.get("unit_price"), plist.currency, f"{path}.unit_price", errors)
        if product is not None and minimum is not None and price is not None:
            cleaned.append((index, product, minimum, price))
    existing = _product_ids(p for _i, p, _m, _u in cleaned)
    seen: set[tuple[int, Decimal]] = set()
    for index, product, minimum, _price in cleaned:
        if product not in existing:
            errors[f"items[{index}].product"] = [_("There is no such product.")]
        elif (product, minimum) in seen:
            errors[f"items[{index}].min_quantity"] = [
                _("This product already has a price from this quantity.")
            ]
        seen.add((product, minimum))
    if errors:
        db.session.rollback()
        raise ValidationFailed(errors)
    before = item_counts().get(plist.id, 0)
    db.session.execute(
        delete(PriceListItem).where(PriceListItem.price_list_id == plist.id),
        execution_options={"synchronize_session": False},
    )
    db.session.add_all(
        PriceListItem(
            price_list_id=plist.id, product_id=product, min_quantity=minimum, unit_price=price
        )
        for _i, product, minimum, price in cleaned
    )
    audit.record(
        "price_list.items_replaced",
        "price_list",
        plist.id,
        before={"items": before},
        after={"items": len(cleaned)},
    )
    db.session.commit()
    return items(price_list_id)
