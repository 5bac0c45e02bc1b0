"""Batched work over existing record values: purging a deleted field, converting a field's type.

Both run as tracked background jobs that commit per batch and report progress; people see the
job through ``GET /api/v1/t/<slug>/jobs/<id>``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from marshmallow import ValidationError
from sqlalchemy import delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB

from custom_fields import types
from custom_fields.definitions import bump_version
from custom_fields.models import FieldDefinition, ObjectDefinition, PicklistValue
from custom_fields.services import (
    _formulas_using,
    _load_values,
    _require_admin,
    _save_values,
    _spec,
    describe,
    get_field,
    guard_system,
)
from custom_fields.types import Context, FieldSpec, FieldValueError
from custom_fields.types.base import unique_key
from saas import tracked
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.jobs import job
from tenants import audit
from tenants.context import current_tenant_id
from tenants.models import Membership, Tenant

BATCH = 5000
#: Above this many values, making a field unique runs as a job rather than in the request.
INLINE_UNIQUE_LIMIT = 20_000
PREVIEW_LIMIT = 100_000
SAMPLES = 20


def _model_and_filter(object_id: int):
    from saas.records.models import STANDARD_MODELS, CustomRecord

    obj = db.session.execute(
        select(ObjectDefinition).where(ObjectDefinition.id == object_id)
    ).scalar_one()
    if obj.is_standard and obj.key in STANDARD_MODELS:
        return STANDARD_MODELS[obj.key], []
    return CustomRecord, [CustomRecord.object_id == obj.id]


def _holders(field: FieldDefinition):
    model, conditions = _model_and_filter(field.object_id)
    return model, [*conditions, model.data.has_key(field.key)]


def _batches(
    field: FieldDefinition, limit: int | None = None, *, lock: bool = False
) -> Iterator[list[tuple[int, Any]]]:
    """(record id, stored value) of the records holding the field, by id, a batch at a time.

    ``lock`` keeps the rows from changing until the caller's transaction ends.
    """
    model, conditions = _holders(field)
    last, seen = 0, 0
    while limit is None or seen < limit:
        size = BATCH if limit is None else min(BATCH, limit - seen)
        stmt = (
            select(model.id, model.data[field.key])
            .where(*conditions, model.id > last)
            .order_by(model.id)
            .limit(size)
        )
        rows = db.session.execute(stmt.with_for_update() if lock else stmt).all()
        if not rows:
            return
        last, seen = rows[-1][0], seen + len(rows)
        yield [(r[0], r[1]) for r in rows]


def _count_holders(field: FieldDefinition) -> int:
    model, conditions = _holders(field)
    return db.session.execute(
        select(func.count()).select_from(model).where(*conditions)
    ).scalar_one()


# ---------------------------------------------------------------- default backfill


def backfill_default(actor: Membership, object_key: str, field_key: str) -> tracked.TrackedJob:
    """Give the field's default to every existing record that has no value for it."""
    _require_admin(actor)
    field = get_field(object_key, field_key)
    if field.deleted_at is not None:
        raise DomainError(_("Restore the field before changing it."), status=409)
    if field.default is None:
        raise ValidationFailed({"default": [_("The field has no default to fill in.")]})
    if field.unique:
        raise ValidationFailed(
            {
                "unique": [
                    _(
                        "A unique field cannot have a default: every new "
                        "record would get the same value."
                    )
                ]
            }
        )
    row = tracked.start(
        f"field-backfill:{field.id}",
        "field.backfill",
        run_backfill,
        params={"field_id": field.id},
        created_by=actor.user_id,
    )
    db.session.commit()
    return row


@job
def run_backfill(job_id: str, field_id: int) -> None:
    """Fill records without a value, a batch at a time (each batch commits and bumps versions)."""
    tracked.begin(job_id)
    try:
        field = db.session.execute(
            select(FieldDefinition).where(FieldDefinition.id == field_id)
        ).scalar_one()
        if field.default is None or field.deleted_at is not None:
            tracked.finish(job_id, {"filled": 0, "skipped": "no default"})
            return
        model, conditions = _model_and_filter(field.object_id)
        empty = [*conditions, model.deleted_at.is_(None), ~model.data.has_key(field.key)]
        total = db.session.execute(
            select(func.count()).select_from(model).where(*empty)
        ).scalar_one()
        tracked.progress(job_id, 0, total)
        filled = 0
        value = literal({field.key: field.default}, JSONB)
        while True:
            ids = (
                db.session.execute(
                    select(model.id)
                    .where(*empty)
                    .order_by(model.id)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
                .scalars()
                .all()
            )
            if not ids:
                break
            db.session.execute(
                update(model)
                .where(model.id.in_(ids), ~model.data.has_key(field.key))
                .values(data=model.data.op("||")(value), version=model.version + 1)
                .execution_options(synchronize_session=False)
            )
            db.session.commit()
            filled += len(ids)
            tracked.progress(job_id, filled)
        audit.record(
            "field.default_filled",
            "field",
            field.key,
            after={"records": filled, "default": field.default},
        )
        db.session.commit()
        tracked.finish(job_id, {"filled": filled})
    except DomainError as exc:
        tracked.fail(job_id, exc.message)
    except Exception as exc:
        tracked.crashed(job_id, exc)
        raise


# ---------------------------------------------------------------- unique


def claim_existing_values(field: FieldDefinition) -> None:
    """Before a field becomes unique: refuse if records already share a value, else claim every
    value so that new records are checked against them (in the caller's transaction)."""
    from saas.records.models import UniqueValue

    seen: dict[str, int] = {}
    duplicates: list[str] = []
    for batch in _batches(field):
        claims = []
        for record_id, stored in batch:
            key = unique_key(field.type, stored)
            if key in seen:
                if len(duplicates) < 5:
                    duplicates.append(str(stored))
                continue
            seen[key] = record_id
            claims.append(
                {
                    "tenant_id": current_tenant_id(),
                    "field_id": field.id,
                    "value": key,
                    "record_id": record_id,
                }
            )
        if duplicates:
            raise ValidationFailed(
                {
                    "unique": [
                        _(
                            "Some records share a value (for example %(values)s); "
                            "make them different first.",
                            values=", ".join(duplicates),
                        )
                    ]
                }
            )
        if claims:
            db.session.execute(UniqueValue.__table__.insert(), claims)


def make_unique(actor: Membership, object_key: str, field_key: str) -> tracked.TrackedJob:
    """Make a field unique over many records: check and claim every value in a job."""
    _require_admin(actor)
    field = get_field(object_key, field_key)
    if field.deleted_at is not None:
        raise DomainError(_("Restore the field before changing it."), status=409)
    if field.unique:
        raise DomainError(_("This field is already unique."), field="unique", status=409)
    if field.type in ("multi_picklist", "boolean", "long_text", "formula"):
        raise ValidationFailed({"unique": [_("This type of field cannot be unique.")]})
    if field.default is not None:
        raise ValidationFailed(
            {
                "default": [
                    _(
                        "A unique field cannot have a default: every new "
                        "record would get the same value."
                    )
                ]
            }
        )
    row = tracked.start(
        f"field-unique:{field.id}",
        "field.unique",
        run_make_unique,
        params={"field_id": field.id},
        created_by=actor.user_id,
    )
    db.session.commit()
    return row


@job
def run_make_unique(job_id: str, field_id: int) -> None:
    """Claim every value with the records locked; one transaction, so all or nothing."""
    tracked.begin(job_id)
    try:
        field = db.session.execute(
            select(FieldDefinition).where(FieldDefinition.id == field_id).with_for_update()
        ).scalar_one()
        total = _count_holders(field)
        tracked.progress(job_id, 0, total)
        for _batch in _batches(field, lock=True):
            pass  # lock the holders so no value changes while they are claimed
        claim_existing_values(field)
        before = describe(field)
        field.unique = True
        audit.record("field.updated", "field", field.key, before=before, after=describe(field))
        bump_version(current_tenant_id())
        db.session.commit()
        tracked.progress(job_id, total)
        tracked.finish(job_id, {"claimed": total})
    except DomainError as exc:
        tracked.fail(job_id, exc.message)
    except Exception as exc:
        tracked.crashed(job_id, exc)
        raise


# ---------------------------------------------------------------- purge


def purge_field(actor: Membership, object_key: str, field_key: str) -> tracked.TrackedJob:
    """Remove a deleted field's values from every record, then the field itself, for good."""
    _require_admin(actor)
    field = get_field(object_key, field_key)
    guard_system(field, "purge")
    if field.deleted_at is None:
        raise DomainError(_("Delete the field before purging it."), status=409)
    row = tracked.start(
        f"field-purge:{field.id}",
        "field.purge",
        run_purge,
        params={"field_id": field.id},
        created_by=actor.user_id,
    )
    audit.record(
        "field.purge_started",
        "field",
        f"{object_key}.{field_key}",
        before={"key": field.key, "type": field.type},
    )
    db.session.commit()
    return row


@job
def run_purge(job_id: str, field_id: int) -> None:
    tracked.begin(job_id)
    try:
        field = db.session.execute(
            select(FieldDefinition).where(FieldDefinition.id == field_id).with_for_update()
        ).scalar_one_or_none()
        if field is None or field.deleted_at is None:
            # Restored (or gone) since the purge was asked for: nothing may be removed.
            tracked.finish(job_id, {"purged_values": 0, "skipped": "not deleted"})
            return
        model, _conditions = _holders(field)
        total = _count_holders(field)
        tracked.progress(job_id, 0, total)
        done = 0
        # One transaction: the values go all at once. The version bump makes an edit that read a
        # record before the purge fail with 412 instead of writing the old value back.
        for batch in _batches(field):
            ids = [record_id for record_id, _value in batch]
            db.session.execute(
                update(model)
                .where(model.id.in_(ids))
                .values(data=model.data - field.key, version=model.version + 1)
                .execution_options(synchronize_session=False)
            )
            done += len(ids)
            tracked.progress(job_id, done)
        db.session.execute(delete(FieldDefinition).where(FieldDefinition.id == field.id))
        bump_version(current_tenant_id())
        tracked.finish(job_id, {"purged_values": done})
    except DomainError as exc:
        tracked.fail(job_id, exc.message)  # a refusal is final: retrying changes nothing
    except Exception as exc:
        tracked.crashed(job_id, exc)
        raise


# ---------------------------------------------------------------- type conversion


def _raw(
    field_type: str, stored: Any, new_type: str | None = None, ctx: Context | None = None
) -> Any:
    """An old stored value as the input a person would type for the new type."""
    if stored is None:
        return None
    if field_type == "datetime" and new_type == "date" and isinstance(stored, str) and ctx:
        local = types.get("datetime").from_storage(stored).astimezone(ZoneInfo(ctx.timezone))
        return local.date().isoformat()
    # A value already in the new form (a batch of an interrupted run) is passed on as it is.
    if field_type == "currency" and isinstance(stored, dict):
        return stored.get("amount")
    if field_type == "multi_picklist" and isinstance(stored, list):
        return ";".join(stored)
    return stored


def _target(field: FieldDefinition, payload: Mapping[str, Any], ctx: Context) -> FieldSpec:
    """Validate the requested new type and options; the field itself is not changed yet."""
    new_type = payload.get("type")
    old = types.get(field.type)
    if new_type not in old.convertible_to:
        allowed = ", ".join(sorted(old.convertible_to)) or "—"
        raise ValidationFailed(
            {
                "type": [
                    _(
                        "A %(old)s field converts only to: %(allowed)s.",
                        old=field.type,
                        allowed=allowed,
                    )
                ]
            }
        )
    options = {k: v for k, v in payload.items() if k not in {"type", "values", "clear_failures"}}
    try:
        loaded = types.get(new_type).load_options(options)
    except ValidationError as exc:
        raise ValidationFailed(
            {
                k: [str(m) for m in (v if isinstance(v, list) else [v])]
                for k, v in exc.messages_dict.items()
            }
        ) from exc
    values = None
    if new_type in ("picklist", "multi_picklist"):
        errors: dict[str, list[str]] = {}
        values = _load_values(payload.get("values"), errors)
        if errors or not values:
            raise ValidationFailed(
                errors or {"values": [_("Give the picklist at least one value.")]}
            )
    probe = FieldDefinition(
        key=field.key,
        type=new_type,
        label_en=field.label_en,
        label_zh=field.label_zh,
        options=loaded,
    )
    return _spec(probe, values or [])


def _switch_type(field: FieldDefinition, spec: FieldSpec, ctx: Context) -> None:
    """Give the field its new type with everything that depends on the type made consistent:
    picklist values, the default, unique claims and the flags the new type allows."""
    from saas.records.models import UniqueValue

    old_type = field.type
    field.type, field.options = spec.type, dict(spec.options)
    new = types.get(spec.type)
    if spec.type in ("picklist", "multi_picklist"):
        db.session.execute(delete(PicklistValue).where(PicklistValue.field_id == field.id))
        _save_values(
            field,
            [
                {
                    "code": c.code,
                    "label_en": c.label_en,
                    "label_zh": c.label_zh,
                    "colour": c.colour,
                    "active": c.active,
                }
                for c in spec.choices
            ],
        )
    if field.default is not None:
        try:
            field.default = new.to_storage(
                new.clean(_raw(old_type, field.default, spec.type, ctx), spec, ctx)
            )
        except FieldValueError:
            field.default = None
    if not new.sortable:
        field.indexed = False
    db.session.execute(delete(UniqueValue).where(UniqueValue.field_id == field.id))
    if field.unique and spec.type in ("multi_picklist", "boolean", "long_text"):
        field.unique = False
    db.session.flush()
    if field.unique:
        claim_existing_values(field)  # refuses values that became equal, e.g. "007" and "7"


def _context() -> Context:
    tenant = db.session.get(Tenant, current_tenant_id())
    return Context(currency=tenant.currency, timezone=tenant.timezone)


def preview_conversion(
    object_key: str, field_key: str, payload: Mapping[str, Any]
) -> dict[str, Any]:
    """What would convert and what would not, over up to 100,000 records."""
    field = get_field(object_key, field_key)
    guard_system(field, "convert")
    ctx = _context()
    spec = _target(field, payload, ctx)
    new = types.get(spec.type)
    converted, failing, samples = 0, 0, []
    for batch in _batches(field, limit=PREVIEW_LIMIT):
        for record_id, stored in batch:
            try:
                new.clean(_raw(field.type, stored), spec, ctx)
                converted += 1
            except FieldValueError as exc:
                failing += 1
                if len(samples) < SAMPLES:
                    samples.append({"id": record_id, "value": stored, "error": exc.message})
    total = _count_holders(field)
    return {
        "type": spec.type,
        "total": total,
        "scanned": converted + failing,
        "converts": converted,
        "fails": failing,
        "samples": samples,
    }


def start_conversion(
    actor: Membership, object_key: str, field_key: str, payload: Mapping[str, Any]
) -> tracked.TrackedJob:
    """Convert every value in a job; values that do not convert are cleared only when asked,
    and then kept in the audit trail."""
    _require_admin(actor)
    field = get_field(object_key, field_key)
    guard_system(field, "convert")
    if field.deleted_at is not None:
        raise DomainError(_("Restore the field before changing it."), status=409)
    users = _formulas_using(field)
    if users:
        raise DomainError(
            _("Formula fields use this field: %(keys)s.", keys=", ".join(users)), status=409
        )
    _target(field, payload, _context())  # refuse bad requests now, not in the worker
    row = tracked.start(
        f"field-convert:{field.id}",
        "field.convert",
        run_conversion,
        params={"field_id": field.id, "payload": dict(payload)},
        created_by=actor.user_id,
    )
    db.session.commit()
    return row


@job
def run_conversion(job_id: str, field_id: int, payload: dict[str, Any]) -> None:
    """Convert in one transaction with the records locked: readers see the old type with the old
    values until the new type and the new values appear together."""
    from custom_fields import indexing

    tracked.begin(job_id)
    # The old type's index expressions could refuse the new values (a number's cast on a
    # currency object): the field's indexes go first and are rebuilt for whatever type it ends
    # up with.
    indexing.suspend_for_conversion(field_id)
    try:
        field = db.session.execute(
            select(FieldDefinition).where(FieldDefinition.id == field_id).with_for_update()
        ).scalar_one()
        ctx = _context()
        spec = _target(field, payload, ctx)
        old_type, new = field.type, types.get(spec.type)
        model, _conditions = _holders(field)
        total = _count_holders(field)
        tracked.progress(job_id, 0, total)
        converted: dict[int, Any] = {}
        failures: dict[str, Any] = {}
        for batch in _batches(field, lock=True):
            for record_id, stored in batch:
                try:
                    converted[record_id] = new.to_storage(
                        new.clean(_raw(old_type, stored, spec.type, ctx), spec, ctx)
                    )
                except FieldValueError:
                    failures[str(record_id)] = stored
        if failures and not payload.get("clear_failures"):
            db.session.rollback()
            tracked.fail(
                job_id,
                _(
                    "%(n)d values do not convert; nothing was changed. Send clear_failures to "
                    "clear them (they are kept in the audit trail).",
                    n=len(failures),
                ),
            )
            return
        done = 0
        for record_id, value in [*converted.items(), *((int(k), None) for k in failures)]:
            new_data = (
                model.data - field.key
                if value is None
                else model.data.op("||")(literal({field.key: value}, JSONB))
            )
            db.session.execute(
                update(model)
                .where(model.id == record_id)
                .values(data=new_data, version=model.version + 1)
                .execution_options(synchronize_session=False)
            )
            done += 1
            if done % BATCH == 0:
                tracked.progress(job_id, done)
        before = {
            "type": old_type,
            "options": dict(field.options or {}),
            "default": field.default,
            "unique": field.unique,
            "cleared_values": failures or None,
        }
        _switch_type(field, spec, ctx)
        audit.record(
            "field.converted",
            "field",
            field.key,
            before=before,
            after={
                "type": field.type,
                "options": field.options,
                "default": field.default,
                "unique": field.unique,
            },
        )
        bump_version(current_tenant_id())
        db.session.commit()
        tracked.progress(job_id, done)
        tracked.finish(job_id, {"converted": len(converted), "cleared": len(failures)})
    except DomainError as exc:
        tracked.fail(job_id, exc.message)  # a refusal is final: retrying changes nothing
    except Exception as exc:
        tracked.crashed(job_id, exc)
        raise
    finally:
        indexing.resume_after_conversion(job_id, field_id)
