"""The 360° customer page: everything linked to a customer (and to a contact or an opportunity),
one keyset-paged list per kind, and the summary strip at the top of the customer's page.

Decisions:

- **What is related**: records whose lookup field points at the record (:data:`RELATIONS`):
  a customer's contacts, activities, opportunities, quotes and contracts by their ``account``
  field, a contact's activities by ``contact``, an opportunity's activities and quotes by
  ``opportunity``; and a customer's payments through its contracts.
- **Files** (the customer's ``files`` tab, :data:`FILES`): the files attached to the customer
  and to the related records the person may open, newest first, each with the record it is on;
  files on records they may not open are only counted. Built in ``saas.files.related``; every
  record page also has its own "Files" panel (``saas.web.files``).
- **Reads**: record lists go through the query engine (:func:`run_query`, the list reader) with
  the condition ``<lookup> = <id>``, which migration 0016 indexes as
  ``(tenant_id, (CAST(data ->> '<lookup>' AS BIGINT)), id) WHERE deleted_at IS NULL``: a page of
  a customer's newest activities is one index range, however many it has.
- **Data scope and field access**: the engine applies both. Records on the customer that the
  person may not open are not listed; :attr:`RelatedPage.hidden` counts them ("1 more you cannot
  open"), so a salesperson knows a colleague works the customer too. Hidden fields are neither
  shown nor sorted on; a kind whose lookup field is hidden does not exist for the role. A hidden
  contract amount hides the contract's money figures and its payments' amounts as well.
- **"New …" links** open the child's form prefilled with the lookup (``?account=42``), for
  roles that write and may edit the lookup field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, url_for
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import BigInteger, and_, func, literal, select, tuple_

from custom_fields.definitions import ObjectSchema, schemas
from custom_fields.errors import NotFound
from custom_fields.query import engine, reader
from custom_fields.query.engine import QuerySpec, Resolver, SortKey
from custom_fields.query.filters import Condition
from custom_fields.query.scope import restricted, scope_clause
from saas.accounts.models import User
from saas.crm import activities, contracts, pipeline
from saas.crm.models import Payment, PaymentPlan
from saas.errors import ValidationFailed
from saas.extensions import db
from saas.records import services
from tenants import permissions
from tenants.context import current_tenant_id
from tenants.models import Membership, Tenant

DEFAULT_LIMIT = 10
MAX_LIMIT = 50
#: Related records read at once for the summary (a customer with more is an outlier; the
#: summary then covers the newest ones).
SUMMARY_CAP = 1000


@dataclass(frozen=True)
class Kind:
    """One related list: the child object, its lookup to the parent, what it shows, its order."""

    key: str
    child: str
    link: str
    columns: tuple[str, ...]
    sort: tuple[SortKey, ...] = (SortKey("id", desc=True),)


_ACTIVITY_COLUMNS = ("type", "status", "done_at", "due_at", "content", "result")
RELATIONS: dict[str, tuple[Kind, ...]] = {
    "account": (
        Kind(
            "contacts",
            "contact",
            "account",
            ("is_primary", "title", "mobile", "phone", "email"),
            (SortKey("is_primary", desc=True), SortKey("id")),
        ),
        Kind("activities", "activity", "account", (*_ACTIVITY_COLUMNS, "contact", "opportunity")),
        Kind("opportunities", "opportunity", "account", ("stage", "amount", "expected_close")),
        Kind("quotes", "quote", "account", ("status", "total", "revision", "opportunity")),
        Kind("contracts", "contract", "account", ("number", "status", "amount", "signed_on")),
        Kind("payments", "contract", "account", ()),
    ),
    "contact": (Kind("activities", "activity", "contact", (*_ACTIVITY_COLUMNS, "opportunity")),),
    "opportunity": (
        Kind("activities", "activity", "opportunity", (*_ACTIVITY_COLUMNS, "contact")),
        Kind("quotes", "quote", "opportunity", ("status", "total", "revision")),
    ),
}
#: The 360° files tab (``saas.files.related``) and the objects whose page has it.
FILES = Kind("files", "file", "", ())
FILE_TABS = frozenset({"account"})
#: A small symbol per activity type (the label is shown next to it).
TYPE_ICONS = {"call": "☎", "visit": "⛟", "email": "✉", "meeting": "☷", "message": "✎"}


@dataclass
class Row:
    """One related record: API values of the visible columns, their text, and extra figures."""

    id: int
    name: str
    url: str | None
    owner_id: int | None
    owner: str
    values: dict[str, Any]
    display: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RelatedPage:
    """A page of one related list. ``count`` is what the person sees (exact up to 10,000),
    ``hidden`` how many more are linked that they may not open."""

    kind: str
    object_key: str
    columns: list[tuple[str, str]]
    rows: list[Row]
    next_cursor: str | None
    count: int
    hidden: int
    new_url: str | None


# ---------------------------------------------------------------- helpers


def _locale() -> str:
    return services.context().locale


def _schema(object_key: str) -> ObjectSchema:
    schema = schemas(current_tenant_id()).get(object_key)
    if schema is None:
        raise NotFound(_("There is no object “%(key)s”.", key=object_key))
    return schema


def _visible(schema: ObjectSchema, key: str, actor: Membership) -> bool:
    info = schema.field(key)
    return info is not None and info.access_for(actor.role_key) != "hidden"


def kinds_for(actor: Membership, object_key: str) -> list[Kind]:
    """The related lists of ``object_key`` the person's role can have (the child object
    viewable, its lookup field visible)."""
    found = []
    for kind in RELATIONS.get(object_key, ()):
        schema = schemas(current_tenant_id()).get(kind.child)
        if (
            schema is not None
            and permissions.allowed(actor, kind.child, "view")
            and _visible(schema, kind.link, actor)
        ):
            found.append(kind)
    if object_key in FILE_TABS:
        found.append(FILES)
    return found


def _kind(actor: Membership, object_key: str, key: str) -> Kind:
    for kind in kinds_for(actor, object_key):
        if kind.key == key:
            return kind
    raise NotFound(_("There is no related list “%(kind)s” here.", kind=str(key)[:40]))


def _limit(raw: Any) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= MAX_LIMIT:
        raise ValidationFailed(
            {"limit": [_("Enter a number from 1 to %(n)d.", n=MAX_LIMIT)]}
        ) from None
    return value


def _timezone() -> str:
    return services.context().timezone


def _link_condition(kind: Kind, record_id: int) -> Condition:
    return Condition(kind.link, "eq", record_id, "related")


def _names(user_ids: Iterable[int | None]) -> dict[int, str]:
    ids = sorted({i for i in user_ids if i is not None})
    if not ids:
        return {}
    rows = db.session.execute(select(User.id, User.name, User.email).where(User.id.in_(ids)))
    return {uid: name or email for uid, name, email in rows}


def _linked_ids(actor: Membership, kind: Kind, record_id: int, *, scoped: bool) -> list[int]:
    """Ids of the child records linked to the parent (``scoped``: those the person may open),
    newest first, at most :data:`SUMMARY_CAP`; one index range through the reader."""
    schema = _schema(kind.child)
    model = engine.model_for(schema)
    with reader.reading() as session:
        engine.limit_session(session)
        expr = Resolver(schema, actor, model).resolve(kind.link).expr
        stmt = select(model.id).where(
            engine.tenant_literal(model),
            model.deleted_at.is_(None),
            expr == literal(record_id, BigInteger),
        )
        if scoped:
            scope = scope_clause(model, actor, kind.child)
            if scope is not None:
                stmt = stmt.where(scope)
        stmt = stmt.order_by(model.id.desc()).limit(SUMMARY_CAP)
        return list(session.execute(stmt).scalars())


def _linked_count(actor: Membership, kind: Kind, record_id: int) -> int:
    """Every live child linked to the parent, whoever owns it (capped like list counts)."""
    schema = _schema(kind.child)
    model = engine.model_for(schema)
    with reader.reading() as session:
        engine.limit_session(session)
        expr = Resolver(schema, actor, model).resolve(kind.link).expr
        inner = (
            select(model.id)
            .where(
                engine.tenant_literal(model),
                model.deleted_at.is_(None),
                expr == literal(record_id, BigInteger),
            )
            .limit(engine.COUNT_LIMIT + 1)
            .subquery()
        )
        count = session.execute(select(func.count()).select_from(inner)).scalar_one()
    return min(count, engine.COUNT_LIMIT)


def _new_url(actor: Membership, kind: Kind, record_id: int) -> str | None:
    if kind.key == "payments" or not permissions.allowed(actor, kind.child, "create"):
        return None
    info = _schema(kind.child).field(kind.link)
    if info is None or info.access_for(actor.role_key) != "editable":
        return None
    return url_for("records.create", object_key=kind.child, **{kind.link: record_id})


def _columns(schema: ObjectSchema, actor: Membership, keys: Iterable[str]) -> list[str]:
    return [key for key in keys if _visible(schema, key, actor)]


def _display_rows(
    actor: Membership, schema: ObjectSchema, records: list[Any], columns: list[str]
) -> list[Row]:
    """Rows with API values and text for ``columns`` (lookups shown by the names the person
    may see)."""
    from custom_fields import types

    st = services.store(schema.key, actor)
    serialize = services.serializer(st, actor, columns=columns)
    ctx = services.context()
    refs: list[tuple[str, int]] = []
    for record in records:
        for key in columns:
            info = schema.field(key)
            value = (record.data or {}).get(key)
            if info.type == "lookup" and isinstance(value, int) and not isinstance(value, bool):
                refs.append((info.spec.options.get("target", ""), value))
    names = activities.names_of(actor, refs) if refs else {}
    owners = _names(r.owner_id for r in records)
    rows = []
    for record in records:
        shown: dict[str, str] = {}
        for key in columns:
            info = schema.field(key)
            stored = (record.data or {}).get(key)
            if stored is None:
                shown[key] = ""
                continue
            if info.type == "lookup":
                target = info.spec.options.get("target", "")
                shown[key] = names.get((target, stored), "")
                continue
            field_type = types.get(info.type)
            shown[key] = field_type.display(field_type.from_storage(stored), info.spec, ctx)
        values = serialize(record)
        rows.append(
            Row(
                id=record.id,
                name=record.name or f"#{record.id}",
                url=url_for("records.detail", object_key=schema.key, record_id=record.id),
                owner_id=record.owner_id,
                owner=owners.get(record.owner_id, ""),
                values={k: values.get(k) for k in columns},
                display=shown,
            )
        )
    return rows


# ---------------------------------------------------------------- contracts' money


def _standings(records: list[Any], today: dt.date | None = None) -> dict[int, contracts.Standing]:
    """Each contract's standing, with its plans and payments read in two statements."""
    ids = [r.id for r in records]
    if not ids:
        return {}
    plans: dict[int, list[PaymentPlan]] = {}
    for plan in db.session.execute(
        select(PaymentPlan).where(PaymentPlan.contract_id.in_(ids))
    ).scalars():
        plans.setdefault(plan.contract_id, []).append(plan)
    paid: dict[int, list[Payment]] = {}
    for payment in db.session.execute(
        select(Payment).where(Payment.contract_id.in_(ids), Payment.deleted_at.is_(None))
    ).scalars():
        paid.setdefault(payment.contract_id, []).append(payment)
    today = today or contracts.tenant_today()
    found = {}
    for record in records:
        amount, currency = contracts.amount_of(record)
        found[record.id] = contracts.standing(
            amount or Decimal(0),
            currency,
            [
                contracts.Instalment(p.id, p.sequence, p.due_date, p.amount)
                for p in plans.get(record.id, [])
            ],
            [contracts.Received(p.amount, p.plan_id) for p in paid.get(record.id, [])],
            today,
        )
    return found


def _format(value: Decimal, currency: str) -> str:
    from flask_babel import format_currency

    return format_currency(value, currency)


# ---------------------------------------------------------------- the lists


def related(
    actor: Membership,
    object_key: str,
    record_id: int,
    kind: str,
    cursor: str | None = None,
    limit: Any = DEFAULT_LIMIT,
) -> RelatedPage:
    """One page of the records of ``kind`` linked to the record, as ``actor`` may see them.

    404 when the parent is not visible to the person or the list does not exist for its object
    or role; 400 naming ``limit`` or ``cursor`` for a bad page request."""
    activities.visible_record(actor, object_key, record_id)
    spec_kind = _kind(actor, object_key, kind)
    limit = _limit(limit)
    if spec_kind.key == "payments":
        return _payments(actor, spec_kind, record_id, cursor, limit)
    if spec_kind.key == "files":
        from saas.files import related as files_tab

        return files_tab.page(actor, object_key, record_id, cursor, limit)
    schema = _schema(spec_kind.child)
    columns = _columns(schema, actor, spec_kind.columns)
    sort = [s for s in spec_kind.sort if s.field == "id" or _visible(schema, s.field, actor)]
    page = engine.run_query(
        schema,
        actor,
        QuerySpec(
            filter=_link_condition(spec_kind, record_id),
            sort=sort,
            limit=limit,
            cursor=cursor or None,
        ),
        timezone=_timezone(),
    )
    rows = _display_rows(actor, schema, page.rows, columns)
    if spec_kind.key == "activities":
        for row in rows:
            code = row.values.get("type")
            row.extra["icon"] = TYPE_ICONS.get(code, "•") if code else "•"
    if spec_kind.key == "contracts":
        _contract_figures(actor, schema, page.rows, rows)
    count = page.count or 0
    hidden = 0
    if restricted(actor, spec_kind.child):
        hidden = max(0, _linked_count(actor, spec_kind, record_id) - count)
    labels = {f.key: f.spec.label(_locale()) for f in schema.fields}
    return RelatedPage(
        kind=spec_kind.key,
        object_key=spec_kind.child,
        columns=[(key, labels[key]) for key in columns],
        rows=rows,
        next_cursor=page.next_cursor,
        count=count,
        hidden=hidden,
        new_url=_new_url(actor, spec_kind, record_id),
    )


def _contract_figures(
    actor: Membership, schema: ObjectSchema, records: list[Any], rows: list[Row]
) -> None:
    """Received, outstanding and overdue per contract, unless its amount is hidden."""
    if not _visible(schema, "amount", actor):
        return
    standings = _standings(records)
    for row in rows:
        standing = standings.get(row.id)
        if standing is None:
            continue
        for key in ("received", "outstanding", "overdue"):
            value = getattr(standing, key)
            row.extra[key] = format(value, "f")
            row.display[key] = _format(value, standing.currency)
        row.extra["currency"] = standing.currency


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="kehu.related")


def _payments(
    actor: Membership, kind: Kind, record_id: int, cursor: str | None, limit: int
) -> RelatedPage:
    """A customer's payments through the contracts the person may open, latest received
    first; payments on other contracts only counted."""
    visible = _linked_ids(actor, kind, record_id, scoped=True)
    hidden_ids: list[int] = []
    if restricted(actor, kind.child):
        hidden_ids = sorted(set(_linked_ids(actor, kind, record_id, scoped=False)) - set(visible))
    contract_schema = _schema("contract")
    amount_shown = _visible(contract_schema, "amount", actor)
    live = and_(Payment.deleted_at.is_(None), Payment.contract_id.in_(visible))
    stmt = select(Payment).where(live)
    if cursor:
        try:
            owner, day, last_id = _serializer().loads(cursor)
            if owner != record_id:
                raise ValueError
            position = (dt.date.fromisoformat(day), int(last_id))
        except (BadSignature, TypeError, ValueError):
            raise ValidationFailed(
                {"cursor": [_("This cursor is not valid; start from the first page.")]}
            ) from None
        stmt = stmt.where(tuple_(Payment.received_on, Payment.id) < tuple_(*position))
    found = list(
        db.session.execute(
            stmt.order_by(Payment.received_on.desc(), Payment.id.desc()).limit(limit + 1)
        ).scalars()
    )
    more = len(found) > limit
    found = found[:limit]
    count = db.session.execute(select(func.count()).where(live)).scalar_one() if visible else 0
    hidden = 0
    if hidden_ids:
        hidden = db.session.execute(
            select(func.count()).where(
                Payment.deleted_at.is_(None), Payment.contract_id.in_(hidden_ids)
            )
        ).scalar_one()
    names = activities.names_of(actor, [("contract", p.contract_id) for p in found])
    creators = _names(p.created_by for p in found)
    rows = []
    for p in found:
        values: dict[str, Any] = {
            "received_on": p.received_on.isoformat(),
            "contract": p.contract_id,
            "method": p.method,
            "reference": p.reference,
        }
        shown = {
            "received_on": p.received_on.isoformat(),
            "contract": names.get(("contract", p.contract_id), f"#{p.contract_id}"),
            "method": p.method,
            "reference": p.reference or "",
        }
        if amount_shown:
            values["amount"] = {"amount": format(p.amount, "f"), "currency": p.currency}
            shown["amount"] = _format(p.amount, p.currency)
        rows.append(
            Row(
                id=p.id,
                name=shown["contract"],
                url=url_for("records.detail", object_key="contract", record_id=p.contract_id),
                owner_id=p.created_by,
                owner=creators.get(p.created_by, ""),
                values=values,
                display=shown,
            )
        )
    columns = [("received_on", _("Received on"))]
    if amount_shown:
        columns.append(("amount", _("Amount")))
    columns += [("contract", _("Contract")), ("method", _("Method"))]
    next_cursor = None
    if more and found:
        last = found[-1]
        next_cursor = _serializer().dumps([record_id, last.received_on.isoformat(), last.id])
    return RelatedPage(
        kind="payments",
        object_key="payment",
        columns=columns,
        rows=rows,
        next_cursor=next_cursor,
        count=count,
        hidden=hidden,
        new_url=None,
    )


def counts(actor: Membership, object_key: str, record_id: int) -> dict[str, int]:
    """How many of each related list the person sees (for the tabs)."""
    activities.visible_record(actor, object_key, record_id)
    found = {}
    for kind in kinds_for(actor, object_key):
        if kind.key == "files":
            from saas.files import related as files_tab

            found[kind.key] = files_tab.count(actor, object_key, record_id)
            continue
        if kind.key == "payments":
            ids = _linked_ids(actor, kind, record_id, scoped=True)
            found[kind.key] = (
                db.session.execute(
                    select(func.count()).where(
                        Payment.deleted_at.is_(None), Payment.contract_id.in_(ids)
                    )
                ).scalar_one()
                if ids
                else 0
            )
            continue
        schema = _schema(kind.child)
        stmt, _resolver = engine.base_query(
            schema, actor, QuerySpec(filter=_link_condition(kind, record_id)), _timezone()
        )
        model = engine.model_for(schema)
        inner = stmt.with_only_columns(model.id).limit(engine.COUNT_LIMIT + 1).subquery()
        with reader.reading() as session:
            engine.limit_session(session)
            found[kind.key] = min(
                session.execute(select(func.count()).select_from(inner)).scalar_one(),
                engine.COUNT_LIMIT,
            )
    return found


# ---------------------------------------------------------------- the summary strip


@dataclass
class Summary:
    """The strip at the top of a customer's page. Money is per currency; ``None`` where the
    person may not see the field it comes from."""

    owner_id: int | None
    owner: str
    grade: str | None
    stage: str | None
    last_contact_at: dt.datetime | None
    open_count: int | None
    open_amount: dict[str, Decimal] | None
    won_count: int | None
    won_amount: dict[str, Decimal] | None
    outstanding: dict[str, Decimal] | None
    overdue: dict[str, Decimal] | None

    def to_dict(self) -> dict[str, Any]:
        def sums(value: Mapping[str, Decimal] | None) -> list[dict[str, str]] | None:
            if value is None:
                return None
            return [{"currency": c, "amount": format(v, "f")} for c, v in sorted(value.items())]

        return {
            "owner_id": self.owner_id,
            "owner": self.owner or None,
            "grade": self.grade,
            "stage": self.stage,
            "last_contact_at": (self.last_contact_at.isoformat() if self.last_contact_at else None),
            "open_opportunities": {"count": self.open_count, "amount": sums(self.open_amount)},
            "won_this_year": {"count": self.won_count, "amount": sums(self.won_amount)},
            "outstanding": sums(self.outstanding),
            "overdue": sums(self.overdue),
        }


def _choice_text(schema: ObjectSchema, actor: Membership, record: Any, key: str) -> str | None:
    if not _visible(schema, key, actor):
        return None
    code = (record.data or {}).get(key)
    if code is None:
        return ""
    choice = schema.field(key).spec.choice(code)
    return choice.label(_locale()) if choice is not None else str(code)


def _add(sums: dict[str, Decimal], stored: Any) -> None:
    if isinstance(stored, Mapping) and stored.get("amount") is not None:
        currency = str(stored.get("currency") or "")
        sums[currency] = sums.get(currency, Decimal(0)) + Decimal(str(stored["amount"]))


def _records(actor: Membership, kind: Kind, record_id: int) -> list[Any]:
    """The linked records the person may open (newest :data:`SUMMARY_CAP`)."""
    schema = _schema(kind.child)
    page = engine.run_query(
        schema,
        actor,
        QuerySpec(filter=_link_condition(kind, record_id), limit=SUMMARY_CAP, count=False),
        timezone=_timezone(),
    )
    return page.rows


def summary(actor: Membership, account_id: int, now: dt.datetime | None = None) -> Summary:
    """Owner, grade, lifecycle stage, last contact, open opportunities, won this year and the
    contracts' outstanding and overdue amounts of a customer, as ``actor`` may see them."""
    account = activities.visible_record(actor, "account", account_id)
    account_schema = _schema("account")
    kinds = {k.key: k for k in kinds_for(actor, "account")}
    now = now or activities.utcnow()
    tenant = db.session.get(Tenant, current_tenant_id())
    zone = ZoneInfo(tenant.timezone)
    year_start = dt.datetime(now.astimezone(zone).year, 1, 1, tzinfo=zone)

    open_count = won_count = None
    open_amount = won_amount = None
    opp_schema = _schema("opportunity")
    if "opportunities" in kinds and _visible(opp_schema, "stage", actor):
        table = pipeline.stage_table()
        records = _records(actor, kinds["opportunities"], account_id)
        amount_shown = _visible(opp_schema, "amount", actor)
        open_rows = [
            r
            for r in records
            if (
                table.get((r.data or {}).get("stage")) is None
                or table[(r.data or {}).get("stage")].kind == pipeline.OPEN
            )
        ]
        won_codes = [code for code, stage in table.items() if stage.kind == pipeline.WON]
        won_rows = [r for r in records if (r.data or {}).get("stage") in won_codes]
        if won_rows:
            from saas.crm.pipeline import StageHistory

            latest = dict(
                db.session.execute(
                    select(StageHistory.opportunity_id, func.max(StageHistory.changed_at))
                    .where(
                        StageHistory.opportunity_id.in_([r.id for r in won_rows]),
                        StageHistory.to_stage.in_(won_codes),
                    )
                    .group_by(StageHistory.opportunity_id)
                ).all()
            )
            won_rows = [r for r in won_rows if (latest.get(r.id) or r.updated_at) >= year_start]
        open_count, won_count = len(open_rows), len(won_rows)
        if amount_shown:
            open_amount, won_amount = {}, {}
            for r in open_rows:
                _add(open_amount, (r.data or {}).get("amount"))
            for r in won_rows:
                _add(won_amount, (r.data or {}).get("amount"))

    outstanding = overdue = None
    if "contracts" in kinds and _visible(_schema("contract"), "amount", actor):
        receivable = [
            r
            for r in _records(actor, kinds["contracts"], account_id)
            if (r.data or {}).get("status") in contracts.RECEIVABLE
        ]
        outstanding, overdue = {}, {}
        for standing in _standings(receivable).values():
            c = standing.currency
            outstanding[c] = outstanding.get(c, Decimal(0)) + standing.outstanding
            overdue[c] = overdue.get(c, Decimal(0)) + standing.overdue

    return Summary(
        owner_id=account.owner_id,
        owner=_names([account.owner_id]).get(account.owner_id, ""),
        grade=_choice_text(account_schema, actor, account, "grade"),
        stage=_choice_text(account_schema, actor, account, "lifecycle_stage"),
        last_contact_at=activities.contact_status(account, now).last_contact_at,
        open_count=open_count,
        open_amount=open_amount,
        won_count=won_count,
        won_amount=won_amount,
        outstanding=outstanding,
        overdue=overdue,
    )


def format_sums(sums: Mapping[str, Decimal] | None) -> str:
    """Amounts per currency as text ("¥1,000.00 · $20.00"); empty for none."""
    if not sums:
        return ""
    return " · ".join(_format(v, c) for c, v in sorted(sums.items()))
