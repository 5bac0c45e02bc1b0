"""Recycle-bin retention: records deleted longer ago than the company's ``recycle_days`` are
removed for good by a daily job; an admin may also remove one record from the bin at once.

Removing a record releases what it holds: its unique-value claims, its duplicate keys, its
approvals, replies, files and "recently viewed" rows (rows that name it by object and id). Tables
with a foreign key to a record table go with it through ``ON DELETE CASCADE`` (a customer's pool
events, an opportunity's stage history, a contract's payment plan and payments). A quote's lines
are its children: they are removed with the quote. A record that a live record still points to
through a required lookup (other than a quote line's quote) is kept, so that no live record is
left without a value it must have; it is purged on a later day once nothing needs it. Optional
lookups pointing at a removed record keep its id, which no longer opens anything.

The daily job works object by object in batches of :data:`BATCH` records, one transaction each,
taking the rows with ``FOR UPDATE SKIP LOCKED`` (someone restoring a record at the same moment
wins), and audits each batch with its counts (``records.purged``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import BigInteger, delete, literal_column, select

from custom_fields.definitions import ObjectSchema, schemas
from custom_fields.query.engine import model_for
from saas.crm.activities import ActivityReply
from saas.crm.approvals import Approval
from saas.crm.models import DuplicateKey
from saas.errors import DomainError
from saas.extensions import db
from saas.files.models import StoredFile
from saas.jobs import job, queue_daily_per_tenant
from saas.records.errors import RecordNotFound
from saas.records.models import CustomRecord, QuoteLine, RecentRecord, RecordShare, UniqueValue
from tenants import audit
from tenants.context import current_tenant_id
from tenants.errors import Forbidden
from tenants.models import ADMIN_ROLES, Membership, Tenant
from tenants.notifications import Notification

#: A quote line's quote as a column, kept by a trigger (migration 0011).
QUOTE_OF_LINE = literal_column("quote_lines.quote_id", BigInteger())
BATCH = 1000
DEFAULT_DAYS = 30
MAX_DAYS = 3650
#: (child object, its lookup to the parent): children removed with their parent, whose link
#: never keeps the parent.
CHILDREN = {"quote": ("quote_line", "quote")}


def utcnow() -> datetime:
    return datetime.now(UTC)


def _query(schema: ObjectSchema):
    model = model_for(schema)
    stmt = select(model.id)
    if model is CustomRecord:
        stmt = stmt.where(CustomRecord.object_id == schema.id)
    return model, stmt


def _still_needed(all_schemas: dict[str, ObjectSchema], target: str, ids: Sequence[int]) -> set:
    """Ids among ``ids`` that a live record points to through a required lookup."""
    needed: set[int] = set()
    wanted = [str(i) for i in ids]
    for schema in all_schemas.values():
        for info in schema.fields:
            if info.type != "lookup" or not info.spec.required:
                continue
            if info.spec.options.get("target") != target:
                continue
            if CHILDREN.get(target) == (schema.key, info.key):
                continue
            model, stmt = _query(schema)
            column = model.data[info.key].astext
            rows = db.session.execute(
                stmt.with_only_columns(column)
                .where(model.deleted_at.is_(None), column.in_(wanted))
                .distinct()
            ).scalars()
            needed.update(int(v) for v in rows)
    return needed


def _remove(schema: ObjectSchema, ids: Sequence[int], *, in_bin: bool = True) -> int:
    """Delete the records (``in_bin``: only those in the recycle bin; children go whatever
    their state) and everything that names them; returns how many went."""
    if not ids:
        return 0
    ids = list(ids)
    if schema.key in CHILDREN:
        child_key, _link = CHILDREN[schema.key]
        child_ids = list(
            db.session.execute(select(QuoteLine.id).where(QUOTE_OF_LINE.in_(ids))).scalars()
        )
        child = schemas(current_tenant_id()).get(child_key)
        if child is not None and child_ids:
            _remove(child, child_ids, in_bin=False)
    model, _stmt = _query(schema)
    field_ids = [f.id for f in schema.fields if f.unique]
    if field_ids:
        db.session.execute(
            delete(UniqueValue).where(
                UniqueValue.field_id.in_(field_ids), UniqueValue.record_id.in_(ids)
            )
        )
    # Notifications about a record gone for good would only lead to a "not found".
    for table in (DuplicateKey, Approval, ActivityReply, RecordShare, StoredFile, Notification):
        db.session.execute(
            delete(table).where(table.object_key == schema.key, table.record_id.in_(ids))
        )
    db.session.execute(
        delete(RecentRecord).where(
            RecentRecord.object_id == schema.id, RecentRecord.record_id.in_(ids)
        )
    )
    stmt = delete(model).where(model.id.in_(ids))
    if in_bin:
        stmt = stmt.where(model.deleted_at.is_not(None))
    if model is CustomRecord:
        stmt = stmt.where(CustomRecord.object_id == schema.id)
    return db.session.execute(stmt.execution_options(synchronize_session=False)).rowcount


def purge_expired(now: datetime | None = None, *, batch: int = BATCH) -> dict[str, int]:
    """Remove for good the records of every object of the company in context that have been
    in the recycle bin longer than its ``recycle_days`` (0: never). Returns counts by object."""
    now = now or utcnow()
    tenant = db.session.get(Tenant, current_tenant_id())
    days = tenant.recycle_days
    db.session.commit()
    if not days:
        return {}
    threshold = now - timedelta(days=days)
    counts: dict[str, int] = {}
    for key in sorted(schemas(current_tenant_id())):
        schema = schemas(current_tenant_id())[key]
        model, stmt = _query(schema)
        last_id = 0
        while True:
            ids = list(
                db.session.execute(
                    stmt.where(
                        model.deleted_at.is_not(None),
                        model.deleted_at < threshold,
                        model.id > last_id,
                    )
                    .order_by(model.id)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                ).scalars()
            )
            if not ids:
                db.session.commit()
                break
            last_id = ids[-1]
            needed = _still_needed(schemas(current_tenant_id()), key, ids)
            removed = _remove(schema, [i for i in ids if i not in needed])
            audit.record(
                "records.purged",
                "object",
                key,
                after={"purged": removed, "kept": len(needed), "days": days, "by": "schedule"},
            )
            db.session.commit()
            if removed:
                counts[key] = counts.get(key, 0) + removed
            if len(ids) < batch:
                break
    return counts


def purge_record(actor: Membership, object_key: str, record_id: int) -> None:
    """Remove one record from the recycle bin for good at once (owners and admins)."""
    if actor.role_key not in ADMIN_ROLES:
        raise Forbidden(_("Only owners and administrators can remove records for good."))
    schema = schemas(current_tenant_id()).get(object_key)
    if schema is None:
        raise RecordNotFound(_("There is no such record."))
    model, stmt = _query(schema)
    row = db.session.execute(
        stmt.with_only_columns(model.id, model.name)
        .where(model.id == record_id, model.deleted_at.is_not(None))
        .with_for_update()
    ).first()
    if row is None:
        raise RecordNotFound(_("There is no such record in the recycle bin."))
    if _still_needed(schemas(current_tenant_id()), object_key, [record_id]):
        raise DomainError(
            _("A record that is not in the recycle bin still needs this one: it cannot go."),
            status=409,
        )
    _remove(schema, [record_id])
    audit.record("record.purged", object_key, record_id, before={"name": row.name})
    db.session.commit()


def retention_days() -> int:
    """The company's period (0: forever)."""
    return db.session.get(Tenant, current_tenant_id()).recycle_days


@job
def run_bin_purge() -> dict[str, Any]:
    """The daily purge of the company in context (queued by :func:`schedule_bin_purges`)."""
    return purge_expired()


@job
def schedule_bin_purges(day: str | None = None) -> int:
    """Queue today's purge for every company not queued yet today (``saas.jobs.PERIODIC``)."""
    return queue_daily_per_tenant(
        "recycle-purge", run_bin_purge, day or utcnow().date().isoformat()
    )
