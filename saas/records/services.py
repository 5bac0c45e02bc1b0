"""Create, read, update and delete records of any object, validated against its fields.

Values are cleaned by their field type; required, unique, lookup targets, dependent picklists
and field access per role are enforced here. Updates name the version they read (optimistic
concurrency); deletes go to the recycle bin. Every change is audited.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import g, has_request_context, request
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from custom_fields import types
from custom_fields.definitions import FieldInfo, ObjectSchema, schemas
from custom_fields.errors import NotFound
from custom_fields.query.engine import model_for
from custom_fields.query.scope import restricted, scope_clause
from custom_fields.types import Context, FieldValueError
from custom_fields.types.auto_number import period, render
from custom_fields.types.base import unique_key
from saas.crm import activities, contracts, duplicates, leads, pipeline, pool, quotes
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.records import search
from saas.records.errors import RecordNotFound, StaleVersion, VersionRequired
from saas.records.models import (
    AutoNumberCounter,
    CustomRecord,
    RecordColumns,
    UniqueValue,
)
from tenants import audit, permissions
from tenants.context import current_tenant_id
from tenants.errors import Forbidden
from tenants.models import WRITE_ROLES, Membership, MembershipStatus, Tenant

#: Keys of the record JSON that are not fields.
SYSTEM_KEYS = (
    "id",
    "version",
    "name",
    "owner_id",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
    "tags",
)
MAX_PAGE = 200
MAX_TAGS = 20
MAX_TAG_LENGTH = 50


@dataclass(frozen=True)
class Store:
    """Where an object's records live and how to select them; ``actor`` limits them to the
    records the user's data scope allows."""

    schema: ObjectSchema
    model: type[RecordColumns]
    actor: Membership | None = None

    @property
    def is_custom(self) -> bool:
        return self.model is CustomRecord

    def query(self, *, deleted: bool = False, edit: bool = False):
        """Live (or deleted) records in the actor's scope; ``edit``: only those they may change
        (their data scope, or shared with them to edit)."""
        model = self.model
        stmt = select(model).where(
            model.deleted_at.is_not(None) if deleted else model.deleted_at.is_(None)
        )
        if self.is_custom:
            stmt = stmt.where(CustomRecord.object_id == self.schema.id)
        scope = scope_clause(model, self.actor, self.schema.key, edit=edit)
        if scope is not None:
            stmt = stmt.where(scope)
        return stmt


_REQUEST_ACTOR: Any = object()


def store(object_key: str, actor: Membership | None = _REQUEST_ACTOR) -> Store:
    """The object's store; in a request the signed-in member's data scope applies unless an
    ``actor`` (or ``None``: no scope, for system work) is given."""
    schema = schemas(current_tenant_id()).get(object_key)
    if schema is None:
        raise NotFound(_("There is no object “%(key)s”.", key=object_key))
    if actor is _REQUEST_ACTOR:
        actor = g.get("membership") if has_request_context() else None
    return Store(schema, model_for(schema), actor)


def context() -> Context:
    """The tenant's currency and the user's language and time zone, for cleaning and display."""
    tenant = g.get("tenant") if has_request_context() else None
    if tenant is None:
        tenant = db.session.get(Tenant, current_tenant_id())
    locale = str(get_locale() or "en") if has_request_context() else "en"
    timezone = tenant.timezone
    member = g.get("membership") if has_request_context() else None
    if member is not None and member.user.timezone:
        timezone = member.user.timezone
    return Context(
        currency=tenant.currency,
        timezone=timezone,
        locale="zh_CN" if locale.startswith("zh") else "en",
    )


def _named(info: FieldInfo, message: str, ctx: Context) -> str:
    return _("%(field)s: %(message)s", field=info.spec.label(ctx.locale), message=message)


def _read_once(key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    """``build()`` once per page view: a GET request changes nothing, so the record page and
    the panels it includes (files, documents, merge, pool…) share what they read."""
    if not has_request_context() or request.method not in ("GET", "HEAD"):
        return build()
    memo = g.setdefault("kehu_read_once", {})
    if key not in memo:
        memo[key] = build()
    return memo[key]


def get_record(
    object_key: str,
    record_id: int,
    *,
    deleted: bool = False,
    actor: Membership | None = _REQUEST_ACTOR,
) -> RecordColumns:
    """The record if the member's data scope shows it (the request's member unless ``actor``
    is given), else 404; read once per page view."""
    st = store(object_key, actor)

    def read() -> RecordColumns | None:
        return db.session.execute(
            st.query(deleted=deleted).where(st.model.id == record_id)
        ).scalar_one_or_none()

    actor = st.actor.user_id if st.actor is not None else None
    record = _read_once(("record", object_key, record_id, deleted, actor), read)
    if record is None:
        raise RecordNotFound(_("There is no such record."))
    return record


def list_records(
    object_key: str, *, limit: int = 50, before_id: int | None = None, deleted: bool = False
) -> tuple[list[RecordColumns], int | None]:
    """Newest first, a page at a time (``deleted=True``: the recycle bin); returns the page and
    the cursor of the next one."""
    st = store(object_key)
    limit = max(1, min(limit, MAX_PAGE))
    stmt = st.query(deleted=deleted).order_by(st.model.id.desc()).limit(limit + 1)
    if before_id:
        stmt = stmt.where(st.model.id < before_id)
    rows = list(db.session.execute(stmt).scalars())
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_cursor


def _check_owner(raw: Any, members: Collection[int] | None = None) -> int:
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise FieldValueError(_("Choose a member of this company."))
    try:
        owner_id = int(raw)
    except (TypeError, ValueError) as exc:
        raise FieldValueError(_("Choose a member of this company.")) from exc
    if not 0 < owner_id < 2**63:
        raise FieldValueError(_("Choose a member of this company."))
    if members is not None:  # the active members, read once by a bulk caller
        if owner_id not in members:
            raise FieldValueError(_("Choose a member of this company."))
        return owner_id
    member = db.session.execute(
        select(Membership).where(
            Membership.user_id == owner_id, Membership.status == MembershipStatus.ACTIVE
        )
    ).scalar_one_or_none()
    if member is None:
        raise FieldValueError(_("Choose a member of this company."))
    return owner_id


def clean_tags(raw: Any) -> list[str]:
    """Tags as a list of distinct short texts (a comma-separated text is accepted too)."""
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = raw.split(",")
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise FieldValueError(_("Enter tags as a list of texts."))
    tags = list(dict.fromkeys(t.strip() for t in raw if t.strip()))
    if len(tags) > MAX_TAGS:
        raise FieldValueError(_("A record may have at most %(n)d tags.", n=MAX_TAGS))
    if any(len(t) > MAX_TAG_LENGTH for t in tags):
        raise FieldValueError(_("A tag may have at most %(n)d characters.", n=MAX_TAG_LENGTH))
    return tags


def _lookup_exists(target: str, record_id: int) -> bool:
    if target == "user":
        return (
            db.session.execute(
                select(Membership.user_id).where(Membership.user_id == record_id)
            ).first()
            is not None
        )
    try:
        st = store(target)
    except NotFound:
        return False
    stmt = st.query().where(st.model.id == record_id).with_only_columns(st.model.id)
    return db.session.execute(stmt).first() is not None


def clean_values(
    st: Store,
    payload: Mapping[str, Any],
    actor: Membership,
    *,
    current: RecordColumns | None,
    ctx: Context | None = None,
    members: Collection[int] | None = None,
    lookup_exists: Callable[[str, int], bool] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate a create (``current=None``) or update exactly as :func:`create_record` and
    :func:`update_record` do, writing nothing: (system column values, new ``data``), or
    ``ValidationFailed``. Bulk callers (import) pass what they read once for many records:
    ``ctx``, the active members' ids and a lookup check."""
    return _clean(
        st,
        payload,
        actor,
        current=current,
        ctx=ctx,
        members=members,
        lookup_exists=lookup_exists,
    )


def _clean(
    st: Store,
    payload: Mapping[str, Any],
    actor: Membership,
    *,
    current: RecordColumns | None,
    ctx: Context | None = None,
    members: Collection[int] | None = None,
    lookup_exists: Callable[[str, int], bool] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate a create or update request: (system column values, new ``data``)."""
    ctx = ctx or context()
    lookup_exists = lookup_exists or _lookup_exists
    errors: dict[str, list[str]] = {}
    system: dict[str, Any] = {}
    data = dict(current.data) if current is not None else {}
    for key, raw in payload.items():
        if key == "name":
            if st.schema.name_pattern:
                errors[key] = [_("The name is numbered automatically.")]
            elif raw is None or (isinstance(raw, str) and not raw.strip()):
                errors[key] = [_("Enter a name.")]
            elif not isinstance(raw, str) or len(raw.strip()) > 255:
                errors[key] = [_("Enter a name of at most 255 characters.")]
            else:
                system["name"] = raw.strip()
            continue
        if key == "owner_id":
            if pool.starts_in_pool(st.schema.key, actor, raw, creating=current is None):
                system["owner_id"] = None  # a customer created straight into the public pool
                continue
            if leads.is_auto_owner(st.schema.key, raw, creating=current is None):
                continue  # the company's assignment rule picks the owner (saas.crm.leads)
            try:
                system["owner_id"] = _check_owner(raw, members)
            except FieldValueError as exc:
                errors[key] = [exc.message]
            continue
        if key == "tags":
            try:
                system["tags"] = clean_tags(raw)
            except FieldValueError as exc:
                errors[key] = [exc.message]
            continue
        if key in SYSTEM_KEYS:
            errors[key] = [_("This value is kept by the system.")]
            continue
        info = st.schema.field(key)
        if info is None or info.access_for(actor.role_key) == "hidden":
            errors[key] = [_("There is no field “%(key)s”.", key=key)]
            continue
        field_type = types.get(info.type)
        if info.access_for(actor.role_key) == "read_only":
            errors[key] = [_named(info, _("Your role cannot change this field."), ctx)]
            continue
        try:
            value = field_type.clean(raw, info.spec, ctx)
        except FieldValueError as exc:
            errors[key] = [_named(info, exc.message, ctx)]
            continue
        stored = field_type.to_storage(value)
        if stored is None:
            data.pop(key, None)
        else:
            data[key] = stored
    if current is None:
        if "name" not in system and not st.schema.name_pattern and "name" not in errors:
            errors["name"] = [_("Enter a name.")]
        for info in st.schema.fields:
            if info.key not in payload and info.default is not None:
                data[info.key] = info.default
    for info in st.schema.fields:
        if info.key in errors:
            continue
        field_type = types.get(info.type)
        value = data.get(info.key)
        can_edit = info.access_for(actor.role_key) == "editable"
        # On an update only what is sent is checked: a field made required later must not
        # block unrelated edits of older records.
        checked = current is None or info.key in payload
        if info.spec.required and field_type.editable and can_edit and checked and value is None:
            errors[info.key] = [_named(info, _("A value is required."), ctx)]
        elif info.type == "lookup" and value is not None and info.key in payload:
            if not lookup_exists(info.spec.options["target"], value):
                errors[info.key] = [_named(info, _("There is no such record."), ctx)]
        elif info.type == "picklist" and value is not None:
            controlling = info.spec.options.get("controlling_field")
            allowed = info.spec.options.get("dependencies", {}).get(str(data.get(controlling)))
            if controlling and allowed is not None and value not in allowed:
                other = st.schema.field(controlling)
                message = _(
                    "This value is not allowed together with the chosen %(other)s.",
                    other=other.spec.label(ctx.locale) if other else controlling,
                )
                errors[info.key] = [_named(info, message, ctx)]
    # A contract's status moves only through its actions (saas.crm.contracts).
    for key, messages in contracts.record_errors(
        st.schema.key, current.data if current is not None else None, data
    ).items():
        errors.setdefault(key, messages)
    if errors:
        raise ValidationFailed(errors)
    # Quote totals, lines and quotes past draft are not the forms' to change; products unique.
    quotes.check_record(st.schema, payload, system, data, current)
    return system, data


def _next_number(counter: str, start: int, reset_period: str) -> int:
    table = AutoNumberCounter.__table__
    stmt = (
        insert(table)
        .values(
            tenant_id=current_tenant_id(), counter=counter, period=reset_period, last_value=start
        )
        .on_conflict_do_update(
            index_elements=["tenant_id", "counter", "period"],
            set_={"last_value": table.c.last_value + 1},
        )
        .returning(table.c.last_value)
    )
    return db.session.execute(stmt).scalar_one()


def _today() -> dt.date:
    tenant = db.session.get(Tenant, current_tenant_id())
    return dt.datetime.now(ZoneInfo(tenant.timezone)).date()


def _assign_numbers(st: Store, record: RecordColumns) -> None:
    today = _today()
    data = dict(record.data)
    for info in st.schema.fields:
        if info.type != "auto_number":
            continue
        options = info.spec.options
        number = _next_number(f"field:{info.id}", options.get("start", 1), period(options, today))
        data[info.key] = render(options["pattern"], number, today)
    record.data = data
    if st.schema.name_pattern:
        options = {"reset": "never"}
        number = _next_number(f"object:{st.schema.id}:name", 1, period(options, today))
        record.name = render(st.schema.name_pattern, number, today)


def _unique_key(info: FieldInfo, stored: Any) -> str:
    return unique_key(info.type, stored)


def _claim_unique(st: Store, record: RecordColumns, before: Mapping[str, Any] | None) -> None:
    """Claim unique values in the database, which refuses a duplicate even under concurrency.

    ``before`` is the data before an update (``None`` on creation).
    """
    ctx = context()
    for info in st.schema.fields:
        if not info.unique:
            continue
        new = record.data.get(info.key)
        if before is not None and before.get(info.key) == new:
            continue
        db.session.execute(
            delete(UniqueValue).where(
                UniqueValue.field_id == info.id, UniqueValue.record_id == record.id
            )
        )
        if new is None:
            continue
        try:
            with db.session.begin_nested():
                db.session.add(
                    UniqueValue(field_id=info.id, value=_unique_key(info, new), record_id=record.id)
                )
        except IntegrityError as exc:
            raise DomainError(
                _named(info, _("This value is already used by another record."), ctx),
                field=info.key,
                status=409,
            ) from exc


def require_writer(actor: Membership, message: str | None = None) -> None:
    """Refuse members whose role may not write records (``message`` says what they tried)."""
    if actor.role_key not in WRITE_ROLES:
        raise Forbidden(message or _("Your role does not allow changing records."))


def require_permission(
    actor: Membership, object_key: str, action: str, message: str | None = None
) -> None:
    """Refuse ``action`` (view, create, edit, delete, export) on ``object_key`` when the
    member's role does not allow it (``tenants.permissions``)."""
    permissions.require(actor, object_key, action, message)


def may_change(actor: Membership, object_key: str, record: RecordColumns) -> bool:
    """Whether ``actor`` may change this record they can see: their role edits the object and
    the record is in their data scope or shared with them to edit (not only to read)."""
    if not permissions.allowed(actor, object_key, "edit"):
        return False
    if not restricted(actor, object_key):
        return True
    return _read_once(
        ("may_change", object_key, record.id, actor.user_id),
        lambda: _in_edit_scope(actor, object_key, record),
    )


def _in_edit_scope(actor: Membership, object_key: str, record: RecordColumns) -> bool:
    st = store(object_key, actor)
    found = db.session.execute(
        st.query(edit=True, deleted=record.deleted_at is not None)
        .where(st.model.id == record.id)
        .with_only_columns(st.model.id)
    ).first()
    return found is not None


def require_change(actor: Membership, object_key: str, record: RecordColumns) -> None:
    """Refuse a change to a record the member sees but may not change (a read share, or a role
    without the edit right): every workflow that changes a record loads it, then asks this."""
    if not may_change(actor, object_key, record):
        raise Forbidden(_("This record is shared with you to read only."))


def create_record(
    actor: Membership,
    object_key: str,
    payload: Mapping[str, Any],
    *,
    duplicate_check: duplicates.Check | None = None,
    commit: bool = True,
) -> RecordColumns:
    """Create a record; ``duplicate_check`` applies the company's duplicate policy to it;
    ``commit=False`` leaves it flushed in the caller's transaction."""
    require_permission(actor, object_key, "create")
    st = store(object_key)
    system, data = _clean(st, payload, actor, current=None)
    record = st.model(
        name=system.get("name"),
        tags=system.get("tags", []),
        owner_id=system.get("owner_id", actor.user_id),
        created_by=actor.user_id,
        updated_by=actor.user_id,
        data=data,
    )
    if st.is_custom:
        record.object_id = st.schema.id
    _assign_numbers(st, record)
    record.search_text = search.record_text(st.schema, record.name, record.data)
    leads.before_save(st, record, actor, payload, None)  # automatic owner, score
    pipeline.before_save(st, record, actor, payload, None)  # stage probability, lost reason
    activities.on_save(st.schema.key, record)  # a done activity keeps when it was done
    pool.on_save(st.schema.key, record, actor)  # ownership dates, activity clocks
    db.session.add(record)
    db.session.flush()
    try:
        _claim_unique(st, record, None)
        duplicates.after_write(st, record, actor, before=None, check=duplicate_check)
        leads.after_save(st, record, actor, None)  # the owner hears of a lead given to them
        pipeline.after_save(st, record, actor, None)  # stage history, after-sale follow-ups
    except DomainError:
        db.session.rollback()
        raise
    audit.record(
        "record.created",
        object_key,
        record.id,
        after=audited_values(record),
    )
    if commit:
        db.session.commit()
    else:
        db.session.flush()  # one step of a larger unit of work (lead conversion, follow-ups)
    return record


def audited_values(record: RecordColumns) -> dict[str, Any]:
    """What the audit trail keeps of a record: its name, owner, tags and field values."""
    return {
        "name": record.name,
        "owner_id": record.owner_id,
        "tags": list(record.tags or []),
        **record.data,
    }


def parse_version(if_match: str | None) -> int:
    """The version an ``If-Match`` header names (``"v3"``, ``W/"v3"`` or ``3``)."""
    if not if_match:
        raise VersionRequired(_("Send the version you read as If-Match (the record's ETag)."))
    raw = if_match.strip().removeprefix("W/").strip('"').removeprefix("v")
    try:
        return int(raw)
    except ValueError as exc:
        raise DomainError(
            _('If-Match must be the record\'s ETag, such as "v3".'), status=400
        ) from exc


def update_record(
    actor: Membership,
    object_key: str,
    record_id: int,
    payload: Mapping[str, Any],
    expected_version: int,
    *,
    duplicate_check: duplicates.Check | None = None,
    commit: bool = True,
    via: str | None = None,
) -> RecordColumns:
    """Apply a change if nobody changed the record since ``expected_version``;
    ``duplicate_check`` applies the company's duplicate policy to the values it brings in;
    ``commit=False`` leaves it flushed in the caller's transaction (a merge); ``via`` names the
    workflow that made the change in its audit event (``_via``)."""
    require_permission(actor, object_key, "edit")
    st = store(object_key)
    record = get_record(object_key, record_id)
    require_change(actor, object_key, record)
    if record.version != expected_version:
        raise StaleVersion(
            _("Someone else changed this record. Reload it and apply your change again."),
            current=serialize(st, record, actor),
        )
    before = audited_values(record)
    before_data = dict(record.data)
    system, data = _clean(st, payload, actor, current=record)
    for key, value in system.items():
        setattr(record, key, value)
    record.data = data
    record.search_text = search.record_text(st.schema, record.name, data)
    record.updated_by = actor.user_id
    record.updated_at = func.now()
    try:
        leads.before_save(st, record, actor, payload, (before["owner_id"], before_data))
        pipeline.before_save(st, record, actor, payload, (before["owner_id"], before_data))
        activities.on_save(st.schema.key, record, before_data)
        pool.on_save(st.schema.key, record, actor, (before["owner_id"], before_data))
        db.session.flush()
        _claim_unique(st, record, before_data)
        duplicates.after_write(
            st, record, actor, before=(before["name"], before_data), check=duplicate_check
        )
        leads.after_save(st, record, actor, (before["owner_id"], before_data))
        pipeline.after_save(st, record, actor, (before["owner_id"], before_data))
    except StaleDataError as exc:
        db.session.rollback()
        raise StaleVersion(
            _("Someone else changed this record. Reload it and apply your change again."),
            current=serialize(st, get_record(object_key, record_id), actor),
        ) from exc
    except DomainError:
        db.session.rollback()
        raise
    after = audited_values(record)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    if changed:
        audit.record(
            "record.updated",
            object_key,
            record.id,
            before={k: before.get(k) for k in sorted(changed)},
            after={k: after.get(k) for k in sorted(changed)} | ({"_via": via} if via else {}),
        )
    if commit:
        db.session.commit()
    else:
        db.session.flush()
    return record


def delete_record(actor: Membership, object_key: str, record_id: int) -> None:
    """Move to the recycle bin (restorable); its unique values stay claimed meanwhile, so a
    restore can never create a duplicate."""
    require_permission(actor, object_key, "delete")
    record = get_record(object_key, record_id)
    require_change(actor, object_key, record)
    quotes.before_delete(object_key, record, actor.user_id)
    record.deleted_at = func.now()
    duplicates.after_delete(object_key, record.id)
    audit.record("record.deleted", object_key, record.id, before={"name": record.name})
    db.session.commit()


def restore_record(actor: Membership, object_key: str, record_id: int) -> RecordColumns:
    require_permission(actor, object_key, "delete")
    record = get_record(object_key, record_id, deleted=True)
    require_change(actor, object_key, record)
    from saas.crm import merge  # imports this module

    merge.before_restore(record)  # a merged record lives on in its survivor
    quotes.before_restore(object_key, record, actor.user_id)
    record.deleted_at = None
    duplicates.after_restore(object_key, record)
    audit.record("record.restored", object_key, record.id, after={"name": record.name})
    db.session.commit()
    return record


def _python_values(st: Store, record: RecordColumns) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for info in st.schema.fields:
        stored = record.data.get(info.key)
        value = types.get(info.type).from_storage(stored) if stored is not None else None
        if info.type == "currency" and value is not None:
            value = value["amount"]
        values[info.key] = value
    return values


def _formula_values(st: Store, record: RecordColumns) -> dict[str, Any]:
    """Every formula of the record, those that use other formulas after them."""
    formulas = {f.key: f for f in st.schema.fields if f.type == "formula"}
    if not formulas:
        return {}
    from custom_fields.formula import FormulaError, compiled

    values = _python_values(st, record)
    field_types = {f.key: f.type for f in st.schema.fields if f.type != "formula"}
    parsed = {}
    for key, info in formulas.items():
        try:
            parsed[key] = compiled(info.spec.options["expression"])
        except FormulaError:
            continue
    today, now = _today(), dt.datetime.now(dt.UTC)
    results: dict[str, Any] = dict.fromkeys(formulas)
    pending = dict(parsed)
    while pending:
        ready = [k for k, f in pending.items() if not (f.references & set(pending))]
        if not ready:
            break  # a cycle: those stay empty (field validation refuses to create one)
        for key in ready:
            formula = pending.pop(key)
            try:
                field_types[key] = formula.result_type(field_types)
                results[key] = formula.evaluate(
                    values, today=today, now=now, field_types=field_types
                )
            except FormulaError:
                results[key] = None
            values[key] = results[key]
    return results


def _json(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)  # Decimal: exact, as the API sends numbers with decimals


def serialize(
    st: Store, record: RecordColumns, actor: Membership, *, columns: list[str] | None = None
) -> dict[str, Any]:
    """The record as the API shows it to ``actor``: hidden fields left out, formulas computed;
    with ``columns`` only those (and ``id`` and ``version``)."""
    return serializer(st, actor, columns=columns)(record)


def _stored_is_api(field_type: types.FieldType) -> bool:
    """Whether the type's API form is its stored JSON form (the base type's conversions)."""
    cls, base = type(field_type), types.FieldType
    return (
        cls.from_storage is base.from_storage
        and cls.to_api is base.to_api
        and cls.to_storage is base.to_storage
    )


def serializer(
    st: Store, actor: Membership, *, columns: list[str] | None = None
) -> Callable[[RecordColumns], dict[str, Any]]:
    """:func:`serialize` for many records of one store (a page): which fields ``actor`` sees
    and how each converts are decided once, not per record."""
    wanted = set(columns) | {"id", "version"} if columns else None
    fields = [f for f in st.schema.fields if wanted is None or f.key in wanted]
    with_formulas = any(f.type == "formula" for f in fields)
    plan: list[tuple[str, bool, types.FieldType | None]] = []  # key, formula, conversion
    for info in fields:
        if info.access_for(actor.role_key) == "hidden":
            continue
        if info.type == "formula":
            plan.append((info.key, True, None))
            continue
        field_type = types.get(info.type)
        plan.append((info.key, False, None if _stored_is_api(field_type) else field_type))

    def one(record: RecordColumns) -> dict[str, Any]:
        updated_at = record.updated_at
        body: dict[str, Any] = {
            "id": record.id,
            "version": record.version,
            "name": record.name,
            "owner_id": record.owner_id,
            "created_at": record.created_at.isoformat(),
            "updated_at": updated_at.isoformat() if isinstance(updated_at, dt.datetime) else None,
            "created_by": record.created_by,
            "updated_by": record.updated_by,
            "tags": list(record.tags or []),
        }
        if wanted is not None:
            body = {k: v for k, v in body.items() if k in wanted}
        formulas = _formula_values(st, record) if with_formulas else {}
        data = record.data
        for key, is_formula, field_type in plan:
            if is_formula:
                body[key] = _json(formulas.get(key))
                continue
            stored = data.get(key)
            if stored is None or field_type is None:
                body[key] = stored
            else:
                body[key] = field_type.to_api(field_type.from_storage(stored))
        return body

    return one


def _display_result(value: Any, ctx: Context) -> str:
    """A formula's result in the user's language, formatted by what kind of value it is."""
    from babel.dates import format_date, format_datetime
    from babel.numbers import format_decimal

    if value is None:
        return ""
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, dt.datetime):
        return format_datetime(
            value, format="medium", tzinfo=ZoneInfo(ctx.timezone), locale=ctx.locale
        )
    if isinstance(value, dt.date):
        return format_date(value, format="medium", locale=ctx.locale)
    if isinstance(value, (int, Decimal)):
        return format_decimal(value, locale=ctx.locale, decimal_quantization=False)
    return str(value)


def display_values(
    st: Store, record: RecordColumns, actor: Membership
) -> list[tuple[FieldInfo, str]]:
    """(field, text in the user's language) for the record page."""
    ctx = context()
    formulas = _formula_values(st, record)
    rows = []
    with force_locale(ctx.locale):
        for info in st.schema.fields:
            if info.access_for(actor.role_key) == "hidden":
                continue
            if info.type == "formula":
                rows.append((info, _display_result(formulas.get(info.key), ctx)))
                continue
            stored = record.data.get(info.key)
            field_type = types.get(info.type)
            value = None if stored is None else field_type.from_storage(stored)
            rows.append((info, field_type.display(value, info.spec, ctx)))
    return rows
