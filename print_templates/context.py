"""What a template sees: plain dicts built from a record, in the shape of
:mod:`print_templates.variables`, never ORM objects.

Everything is read as the member who prints (their data scope and field access), inside the
current company: a field their role hides is not in ``record``, a related record they cannot see
gives ``None``, and nothing of another company can be reached (the queries are tenant-scoped and
row-level security applies). Field values in ``record`` are the field types' display text in the
document's language; quote and contract amounts are :class:`~decimal.Decimal` from
:mod:`saas.crm.quotes` (per-currency rounding there), dates are :class:`datetime.date`.

Besides the variables of :mod:`print_templates.variables`, every context carries ``object``
(``key`` and ``label`` of the printed object) and ``fields`` (each visible field as ``key``,
``label`` and ``value``, in page order), which the generic template prints as a table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import force_locale
from sqlalchemy import select

from custom_fields import types
from custom_fields.definitions import FieldInfo, ObjectSchema
from custom_fields.errors import NotFound
from custom_fields.types import Context
from custom_fields.types.lookup import USER_TARGET
from saas.extensions import db
from saas.records import services as records
from saas.records.models import RecordColumns
from tenants.context import current_tenant_id
from tenants.models import Membership, Tenant

#: Quote statuses that count as approved (the DRAFT watermark goes away).
QUOTE_APPROVED = frozenset({"approved", "sent", "accepted"})
#: Contract statuses reached only after approval.
CONTRACT_APPROVED = frozenset({"signed", "active", "expired", "terminated"})
#: Field types whose value a template gets as the text the record page shows.
_AS_TEXT = frozenset({"phone", "picklist", "multi_picklist", "boolean", "datetime", "formula"})
#: The document's language, currency and time zone while a context is built.
_ctx: ContextVar[Context | None] = ContextVar("print_context", default=None)
#: Company details a template may print, read from the company's settings when it has them.
COMPANY_KEYS = ("address", "phone", "email", "website", "tax_id", "bank_name", "bank_account")


def build(
    actor: Membership,
    object_key: str,
    record: RecordColumns,
    *,
    locale: str,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The context of ``record`` (already read within ``actor``'s scope) for a template in
    ``locale``."""
    tenant = db.session.get(Tenant, current_tenant_id())
    ctx = Context(currency=tenant.currency, timezone=tenant.timezone, locale=locale)
    token = _ctx.set(ctx)
    try:
        with force_locale(locale):
            return _build(actor, object_key, record, ctx, tenant, now)
    finally:
        _ctx.reset(token)


def _build(
    actor: Membership,
    object_key: str,
    record: RecordColumns,
    ctx: Context,
    tenant: Tenant,
    now: dt.datetime | None,
) -> dict[str, Any]:
    locale = ctx.locale
    st = records.store(object_key, actor)
    fields = _fields(st.schema, record, actor, ctx)
    values = {f["key"]: f["value"] for f in fields}
    context: dict[str, Any] = {
        "company": company(tenant),
        "owner": _owner(record.owner_id),
        "record": {"id": record.id, "name": record.name or "", **values},
        "object": {"key": object_key, "label": st.schema.label(locale)},
        "fields": fields,
        "printed_at": (now or dt.datetime.now(dt.UTC)).astimezone(ZoneInfo(tenant.timezone)),
    }
    if object_key == "quote":
        context.update(_quote(actor, record, ctx, tenant))
    elif object_key == "contract":
        context.update(_contract(actor, record, ctx, tenant))
    return context


# ---------------------------------------------------------------- common parts


def company(tenant: Tenant) -> dict[str, Any]:
    """The company's name, details and assets (``asset:logo`` / ``asset:seal`` when uploaded)."""
    info: dict[str, Any] = {"name": tenant.name}
    for key in COMPANY_KEYS:
        value = getattr(tenant, key, None)
        info[key] = value if isinstance(value, str) and value.strip() else None
    assets = _asset_names()
    info["logo"] = "asset:logo" if "logo" in assets else None
    info["seal"] = "asset:seal" if "seal" in assets else None
    return info


def _asset_names() -> set[str]:
    try:
        from saas.files.services import list_assets
    except ImportError:  # no file storage: no assets
        return set()
    return {asset.name for asset in list_assets()}


def _owner(user_id: int | None) -> dict[str, Any] | None:
    if user_id is None:
        return None
    member = db.session.execute(
        select(Membership).where(Membership.user_id == user_id)
    ).scalar_one_or_none()
    if member is None:
        return None
    user = member.user
    return {
        "name": user.display_name,
        "title": member.position,
        "phone": None,
        "email": user.email,
    }


def _visible(schema: ObjectSchema, actor: Membership) -> list[FieldInfo]:
    return [f for f in schema.fields if f.access_for(actor.role_key) != "hidden"]


def _fields(
    schema: ObjectSchema, record: RecordColumns, actor: Membership, ctx: Context
) -> list[dict[str, Any]]:
    """Each field the actor may see, as text the way the record page shows it; lookups show
    the name of the record (or member) they point to."""
    visible = _visible(schema, actor)
    formulas = records._formula_values(records.store(schema.key, actor), record)
    names = _lookup_names(visible, [record], actor)
    rows = []
    for info in visible:
        stored = record.data.get(info.key)
        if info.type == "formula":
            text = records._display_result(formulas.get(info.key), ctx)
        elif info.type == "lookup":
            target = info.spec.options.get("target", "")
            text = names.get((target, _as_int(stored)), "") if stored is not None else ""
        else:
            field_type = types.get(info.type)
            value = None if stored is None else field_type.from_storage(stored)
            text = field_type.display(value, info.spec, ctx)
        rows.append({"key": info.key, "label": info.spec.label(ctx.locale), "value": text})
    return rows


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _lookup_names(
    fields: Iterable[FieldInfo], rows: Iterable[RecordColumns], actor: Membership
) -> dict[tuple[str, int | None], str]:
    """(target, id) → name, for the lookups of ``rows``; records outside the actor's scope and
    members of no one are left out."""
    wanted: dict[str, set[int]] = {}
    for info in fields:
        if info.type != "lookup":
            continue
        target = info.spec.options.get("target", "")
        for row in rows:
            value = _as_int(row.data.get(info.key))
            if value is not None:
                wanted.setdefault(target, set()).add(value)
    names: dict[tuple[str, int | None], str] = {}
    for target, ids in wanted.items():
        if target == USER_TARGET:
            found = db.session.execute(
                select(Membership).where(Membership.user_id.in_(sorted(ids)))
            ).scalars()
            names.update({(target, m.user_id): m.user.display_name for m in found})
            continue
        try:
            st = records.store(target, actor)
        except NotFound:
            continue
        stmt = st.query().where(st.model.id.in_(sorted(ids)))
        for found in db.session.execute(stmt).scalars():
            names[(target, found.id)] = found.name or f"#{found.id}"
    return names


def _related(actor: Membership, object_key: str, record_id: Any) -> RecordColumns | None:
    """A related record the actor may see (``None`` when absent or out of their scope)."""
    record_id = _as_int(record_id)
    if record_id is None:
        return None
    try:
        st = records.store(object_key, actor)
    except NotFound:
        return None
    return db.session.execute(st.query().where(st.model.id == record_id)).scalar_one_or_none()


def _value(
    schema: ObjectSchema, record: RecordColumns | None, actor: Membership, *keys: str
) -> Any:
    """The value of the first of ``keys`` the object has and the actor may see, as plain data:
    money its amount, dates ``date``, numbers ``Decimal``, lookups the id, and phones,
    picklists, booleans and the like their display text."""
    if record is None:
        return None
    for key in keys:
        info = schema.field(key)
        if info is None or info.access_for(actor.role_key) == "hidden":
            continue
        stored = record.data.get(key)
        if stored is None:
            continue
        if isinstance(stored, Mapping) and "amount" in stored:
            return _decimal(stored["amount"])
        if info.type == "date":
            return _date(stored)
        if info.type in ("decimal", "percent"):
            return _decimal(stored)
        if info.type in _AS_TEXT:
            field_type = types.get(info.type)
            value = field_type.from_storage(stored)
            return field_type.display(value, info.spec, _ctx.get() or Context())
        return stored
    return None


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        value = value.get("amount")
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _schema(object_key: str, actor: Membership) -> ObjectSchema:
    return records.store(object_key, actor).schema


def _customer(actor: Membership, account_id: Any, contact_id: Any) -> dict[str, Any] | None:
    account = _related(actor, "account", account_id)
    if account is None:
        return None
    schema = _schema("account", actor)
    contact = _related(actor, "contact", contact_id) if contact_id else None
    if contact is None:
        contact = _primary_contact(actor, account.id)
    return {
        "name": account.name or "",
        "code": _text(_value(schema, account, actor, "code", "number")),
        "address": _text(_value(schema, account, actor, "address")),
        "phone": _text(_value(schema, account, actor, "phone")),
        "tax_id": _text(_value(schema, account, actor, "tax_id", "tax_no")),
        "contact": _contact(actor, contact),
    }


def _primary_contact(actor: Membership, account_id: int) -> RecordColumns | None:
    """The customer's primary contact, else its first contact the actor may see."""
    st = records.store("contact", actor)
    schema = st.schema
    account_field = schema.field("account")
    if account_field is None or account_field.access_for(actor.role_key) == "hidden":
        return None
    stmt = (
        st.query()
        .where(st.model.data["account"].astext == str(account_id))
        .order_by(
            st.model.data["is_primary"].astext.is_distinct_from("true"),
            st.model.id,
        )
        .limit(1)
    )
    return db.session.execute(stmt).scalar_one_or_none()


def _contact(actor: Membership, contact: RecordColumns | None) -> dict[str, Any] | None:
    if contact is None:
        return None
    schema = _schema("contact", actor)
    return {
        "name": contact.name or "",
        "title": _text(_value(schema, contact, actor, "title")),
        "phone": _text(_value(schema, contact, actor, "mobile", "phone")),
        "email": _text(_value(schema, contact, actor, "email")),
    }


def _terms(raw: Any) -> list[str]:
    if isinstance(raw, list):
        return [str(t).strip() for t in raw if str(t).strip()]
    if not isinstance(raw, str):
        return []
    return [line.strip() for line in raw.splitlines() if line.strip()]


def _local_date(moment: dt.datetime | None, tenant: Tenant) -> dt.date | None:
    if moment is None:
        return None
    return moment.astimezone(ZoneInfo(tenant.timezone)).date()


# ---------------------------------------------------------------- quotes


def _quote_lines(
    actor: Membership, quote: RecordColumns
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The quote's lines and totals as the money rules compute them; amounts of fields the
    actor's role hides are ``None``."""
    from saas.crm import quotes

    lines = quotes.line_records(quote.id)
    result = quotes.price_of(quote, lines)
    line_schema = _schema("quote_line", actor)
    product_schema = _schema("product", actor)
    quote_schema = _schema("quote", actor)

    def shown(schema: ObjectSchema, key: str) -> bool:
        info = schema.field(key)
        return info is None or info.access_for(actor.role_key) != "hidden"

    product_ids = {_as_int(line.data.get("product")) for line in lines} - {None}
    products: dict[int, RecordColumns] = {}
    if product_ids and shown(line_schema, "product"):
        st = records.store("product", actor)
        stmt = st.query().where(st.model.id.in_(sorted(product_ids)))
        products = {p.id: p for p in db.session.execute(stmt).scalars()}
    out = []
    for index, line in enumerate(lines):
        product = products.get(_as_int(line.data.get("product")) or 0)
        amounts = result.lines[index] if result is not None else None
        out.append(
            {
                "no": index + 1,
                "product": line.name or (product.name if product is not None else "") or "",
                "code": _text(_value(product_schema, product, actor, "code")),
                "spec": _text(_value(product_schema, product, actor, "specification")),
                "unit": _text(_value(product_schema, product, actor, "unit")),
                "quantity": _decimal(line.data.get("quantity"))
                if shown(line_schema, "quantity")
                else None,
                "unit_price": _decimal(line.data.get("unit_price"))
                if shown(line_schema, "unit_price")
                else None,
                "discount": (_decimal(line.data.get("discount")) or Decimal(0))
                if shown(line_schema, "discount")
                else None,
                "tax_rate": (_decimal(line.data.get("tax_rate")) or Decimal(0))
                if shown(line_schema, "tax_rate")
                else None,
                "line_total": (
                    amounts.list_amount - amounts.line_discount
                    if amounts is not None
                    else _decimal(line.data.get("line_total"))
                )
                if shown(line_schema, "line_total")
                else None,
                "notes": _text(line.data.get("notes")),
            }
        )
    if not all(shown(quote_schema, k) for k in ("subtotal", "tax_total", "total")):
        return out, None
    if result is not None:
        # As a document shows them: the lines' amounts (in the prices' tax mode) less the
        # overall discount, plus tax when prices exclude it, make the total.
        totals = {
            "subtotal": sum((a.list_amount - a.line_discount for a in result.lines), Decimal(0)),
            "discount": result.header_discount,
            "tax": result.tax_total,
            "total": result.total,
        }
    else:
        totals = {
            "subtotal": _decimal(quote.data.get("subtotal")) or Decimal(0),
            "discount": Decimal(0),
            "tax": _decimal(quote.data.get("tax_total")) or Decimal(0),
            "total": _decimal(quote.data.get("total")) or Decimal(0),
        }
    return out, totals


def _quote(actor: Membership, quote: RecordColumns, ctx: Context, tenant: Tenant) -> dict[str, Any]:
    from saas.crm import quotes

    schema = _schema("quote", actor)
    data = quote.data
    status = quotes.status_of(quote).value
    lines, totals = _quote_lines(actor, quote)
    return {
        "customer": _customer(actor, _value(schema, quote, actor, "account"), data.get("contact")),
        "document": {
            "kind": "quote",
            "number": _text(_value(schema, quote, actor, "number")) or quote.name or "",
            "title": _text(_value(schema, quote, actor, "title", "subject")) or quote.name or "",
            "date": _value(schema, quote, actor, "date", "quote_date")
            or _local_date(quote.created_at, tenant),
            "valid_until": _value(schema, quote, actor, "valid_until"),
            "revision": quotes.revision_of(quote),
            "status": status,
            "status_label": quotes.status_label(status, ctx.locale),
            "approved": status in QUOTE_APPROVED,
            "currency": quotes.currency_of(quote),
            "tax_mode": quotes.tax_mode_of(quote),
            "payment_terms": _text(_value(schema, quote, actor, "payment_terms")),
            "delivery_terms": _text(_value(schema, quote, actor, "delivery_terms")),
            "notes": _text(_value(schema, quote, actor, "notes")),
        },
        "lines": lines,
        "totals": totals,
        "terms": _terms(_value(schema, quote, actor, "terms")),
    }


# ---------------------------------------------------------------- contracts


def _contract(
    actor: Membership, contract: RecordColumns, ctx: Context, tenant: Tenant
) -> dict[str, Any]:
    from saas.crm import contracts, quotes

    schema = _schema("contract", actor)
    data = contract.data
    status = contracts.status_of(contract)
    quote = _related(actor, "quote", _value(schema, contract, actor, "quote"))
    amount, currency = contracts.amount_of(contract)
    amount_info = schema.field("amount")
    amount_hidden = amount_info is not None and amount_info.access_for(actor.role_key) == "hidden"
    if amount_hidden:
        amount = None
    lines: list[dict[str, Any]] = []
    totals: dict[str, Any] | None = None
    if quote is not None:
        lines, totals = _quote_lines(actor, quote)
    if totals is None and amount is not None:
        totals = {"subtotal": amount, "discount": Decimal(0), "tax": None, "total": amount}
    elif totals is not None and amount is not None:
        totals = {**totals, "total": amount}
    payments = [
        {
            "no": p.sequence,
            "due_date": p.due_date,
            "amount": None if amount_hidden else p.amount,
            "note": _text(p.note),
        }
        for p in contracts.plan_of(contract.id)
    ]
    return {
        "customer": _customer(
            actor, _value(schema, contract, actor, "account"), data.get("contact")
        ),
        "document": {
            "kind": "contract",
            "number": _text(_value(schema, contract, actor, "number")) or contract.name or "",
            "title": _text(_value(schema, contract, actor, "title")) or contract.name or "",
            "date": _value(schema, contract, actor, "signed_on", "start_date")
            or _local_date(contract.created_at, tenant),
            "signed_date": _value(schema, contract, actor, "signed_on"),
            "start_date": _value(schema, contract, actor, "start_date"),
            "end_date": _value(schema, contract, actor, "end_date"),
            "status": status,
            "status_label": contracts.status_label(status, ctx.locale),
            "approved": status in CONTRACT_APPROVED,
            "currency": currency,
            "tax_mode": quotes.tax_mode_of(quote) if quote is not None else "exclusive",
            "payment_terms": _text(_value(schema, contract, actor, "payment_terms")),
            "delivery_terms": _text(_value(schema, contract, actor, "delivery_terms")),
            "notes": _text(_value(schema, contract, actor, "notes")),
            "quote_number": (
                _text(_value(_schema("quote", actor), quote, actor, "number")) or quote.name
            )
            if quote is not None
            else None,
        },
        "lines": lines,
        "totals": totals,
        "payments": payments,
        "terms": _terms(_value(schema, contract, actor, "terms")),
    }
