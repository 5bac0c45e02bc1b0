"""Transferring a leaving member's records to a colleague in one action.

Owners and admins move the ownership of every live record of the chosen objects (by default
every object but quote lines, which follow their quote) from one member to another active
member. Customers move as a pool transfer: a new development window starts (``owned_since`` and
the activity clock reset, a review flag cleared) and a ``transfer`` pool event is kept. Records
move in batches of :data:`BATCH`, one transaction each (rows taken ``FOR UPDATE SKIP LOCKED``: a
record someone is saving at that moment is picked up by the next pass). Each record gets a
``record.transferred`` audit event (its history shows the new owner), each batch a
``records.transferred`` event with its count, and the whole a ``member.records_transferred``
summary. Both people are notified. More than :data:`SYNC_LIMIT` records run as a tracked job.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import BigInteger, func, insert, literal_column, select, update

from custom_fields.definitions import ObjectSchema, schemas
from custom_fields.query.engine import model_for
from saas import tracked
from saas.crm.pool import PoolEvent
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.jobs import job
from saas.records.models import Account, CustomRecord, QuoteLine
from saas.records.requester import Requester, acting_as
from tenants import audit, notifications
from tenants import services as tenant_services
from tenants.context import current_tenant_id
from tenants.errors import Forbidden
from tenants.models import ADMIN_ROLES, AuditEvent, Membership

#: Records moved in the request; more run as a tracked job.
#: A quote line's quote as a column, kept by a trigger (migration 0011).
QUOTE_OF_LINE = literal_column("quote_lines.quote_id", BigInteger())
SYNC_LIMIT = 200
BATCH = 500
JOB_KIND = "records.transfer"
#: Objects whose records follow a parent's owner rather than being offered on their own.
FOLLOWERS = frozenset({"quote_line"})


notifications.register(
    "records.transferred_to",
    lambda p: ngettext(
        "%(actor)s transferred %(num)d record of %(from)s to you.",
        "%(actor)s transferred %(num)d records of %(from)s to you.",
        int(p.get("count", 0)),
        actor=notifications.actor_name(p),
        **{"from": p.get("from") or _("a colleague")},
    ),
    lambda row: None,
)
notifications.register(
    "records.transferred_from",
    lambda p: ngettext(
        "%(actor)s transferred %(num)d of your records to %(to)s.",
        "%(actor)s transferred %(num)d of your records to %(to)s.",
        int(p.get("count", 0)),
        actor=notifications.actor_name(p),
        to=p.get("to") or _("a colleague"),
    ),
    lambda row: None,
)


def objects() -> list[ObjectSchema]:
    """The objects whose records may be transferred, standard ones first."""
    found = [s for s in schemas(current_tenant_id()).values() if s.key not in FOLLOWERS]
    return sorted(found, key=lambda s: (not s.is_standard, s.id))


def _require_admin(actor: Membership) -> None:
    if actor.role_key not in ADMIN_ROLES:
        raise Forbidden(_("Only owners and administrators can transfer records."))


def _member(user_id: int) -> Membership:
    member = tenant_services.membership(user_id)
    if member is None:
        raise DomainError(_("No such member."), status=404)
    return member


def _live_owned(schema: ObjectSchema, user_id: int):
    model = model_for(schema)
    stmt = select(model.id).where(model.owner_id == user_id, model.deleted_at.is_(None))
    if model is CustomRecord:
        stmt = stmt.where(CustomRecord.object_id == schema.id)
    return model, stmt


def _chosen(raw: Any) -> list[ObjectSchema]:
    available = {s.key: s for s in objects()}
    if raw is None:
        return list(available.values())
    if not isinstance(raw, list) or not raw or not all(isinstance(k, str) for k in raw):
        raise ValidationFailed({"objects": [_("Choose at least one object.")]})
    unknown = [k for k in raw if k not in available]
    if unknown:
        raise ValidationFailed(
            {"objects": [_("There is no object “%(key)s”.", key=unknown[0][:60])]}
        )
    return [available[k] for k in dict.fromkeys(raw)]


def owned_counts(
    actor: Membership, user_id: int, keys: Sequence[str] | None = None
) -> dict[str, int]:
    """How many live records of each object ``user_id`` owns (owners and admins)."""
    _require_admin(actor)
    _member(user_id)
    counts: dict[str, int] = {}
    for schema in _chosen(list(keys) if keys is not None else None):
        _model, stmt = _live_owned(schema, user_id)
        counts[schema.key] = db.session.execute(
            stmt.with_only_columns(func.count()).order_by(None)
        ).scalar_one()
    return counts


def _check(actor: Membership, from_user_id: int, to_user_id: Any) -> tuple[Membership, Membership]:
    _require_admin(actor)
    source = _member(from_user_id)
    message = _("Choose another active member to receive the records.")
    if isinstance(to_user_id, bool) or not isinstance(to_user_id, int):
        raise ValidationFailed({"to_user_id": [message]})
    target = tenant_services.membership(to_user_id) if 0 < to_user_id < 2**63 else None
    if target is None or not target.is_active or to_user_id == from_user_id:
        raise ValidationFailed({"to_user_id": [message]})
    return source, target


def transfer_preview(
    actor: Membership, from_user_id: int, to_user_id: Any, objects: Sequence[str] | None = None
) -> dict[str, int]:
    """Check a transfer as :func:`transfer_all` would, moving nothing: the counts by object."""
    _check(actor, from_user_id, to_user_id)
    keys = [s.key for s in _chosen(list(objects) if objects is not None else None)]
    return owned_counts(actor, from_user_id, keys)


def transfer_all(
    actor: Membership,
    from_user_id: int,
    to_user_id: Any,
    objects: Sequence[str] | None = None,
) -> dict[str, Any] | tracked.TrackedJob:
    """Move every live record of the chosen objects from one member to another: the counts
    by object when done in the request, else the tracked job doing it."""
    _check(actor, from_user_id, to_user_id)
    chosen = _chosen(list(objects) if objects is not None else None)
    keys = [s.key for s in chosen]
    counts = owned_counts(actor, from_user_id, keys)
    total = sum(counts.values())
    if total > SYNC_LIMIT:
        row = tracked.start(
            f"transfer:{uuid.uuid4().hex}",
            JOB_KIND,
            run_transfer,
            params={
                "from_user_id": from_user_id,
                "to_user_id": to_user_id,
                "objects": keys,
                "requester": Requester.current().to_json(),
            },
            created_by=actor.user_id,
            total=total,
        )
        db.session.commit()
        return row
    return _move_all(actor, from_user_id, to_user_id, keys)


def _move_batch(
    schema: ObjectSchema, actor: Membership, from_id: int, to_id: int, now: datetime
) -> int:
    """Move one batch of ``schema``'s records; returns how many moved (0: none left)."""
    model, stmt = _live_owned(schema, from_id)
    ids = list(
        db.session.execute(
            stmt.order_by(model.id).limit(BATCH).with_for_update(skip_locked=True)
        ).scalars()
    )
    if not ids:
        return 0
    values: dict[str, Any] = {
        "owner_id": to_id,
        "version": model.version + 1,
        "updated_at": func.now(),
        "updated_by": actor.user_id,
    }
    if model is Account:
        # As a transfer in the public pool: a new owner gets a fresh development window.
        values.update(owned_since=now, last_activity_at=now, pool_since=None)
        values["review_flagged_at"] = None
    db.session.execute(
        update(model)
        .where(model.id.in_(ids))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    tenant_id = current_tenant_id()
    if model is Account:
        db.session.execute(
            insert(PoolEvent),
            [
                {
                    "tenant_id": tenant_id,
                    "account_id": i,
                    "kind": "transfer",
                    "user_id": actor.user_id,
                    "from_owner_id": from_id,
                    "to_owner_id": to_id,
                    "reason": None,
                    "created_at": now,
                }
                for i in ids
            ],
        )
    if schema.key == "quote":
        db.session.execute(
            update(QuoteLine)
            .where(QUOTE_OF_LINE.in_(ids), QuoteLine.owner_id == from_id)
            .values(owner_id=to_id, version=QuoteLine.version + 1, updated_at=func.now())
            .execution_options(synchronize_session=False)
        )
    event = audit.record(  # the request's address and token, copied to each record's event
        "records.transferred",
        "object",
        schema.key,
        after={"from_user_id": from_id, "to_user_id": to_id, "count": len(ids)},
    )
    db.session.execute(
        insert(AuditEvent),
        [
            {
                "tenant_id": tenant_id,
                "actor_user_id": actor.user_id,
                "actor_token_id": event.actor_token_id,
                "ip": event.ip,
                "request_id": event.request_id,
                "action": "record.transferred",
                "target_type": schema.key,
                "target_id": str(i),
                "before": {"owner_id": from_id},
                "after": {"owner_id": to_id},
            }
            for i in ids
        ],
    )
    db.session.commit()
    return len(ids)


def _move_all(
    actor: Membership,
    from_id: int,
    to_id: int,
    keys: Sequence[str],
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    all_schemas = schemas(current_tenant_id())
    now = datetime.now(UTC)
    counts: dict[str, int] = {}
    done = 0
    for key in keys:
        schema = all_schemas.get(key)
        if schema is None:
            continue  # deleted meanwhile
        counts[key] = 0
        while moved := _move_batch(schema, actor, from_id, to_id, now):
            counts[key] += moved
            done += moved
            if progress is not None:
                progress(done)
    total = sum(counts.values())
    audit.record(
        "member.records_transferred",
        "user",
        from_id,
        before={"owner_id": from_id},
        after={"owner_id": to_id, "counts": counts, "total": total},
    )
    if total:
        source, target = _member(from_id), _member(to_id)
        name = actor.user.display_name
        if to_id != actor.user_id:
            notifications.notify(
                to_id,
                "records.transferred_to",
                params={"actor": name, "from": source.user.display_name, "count": total},
            )
        if from_id != actor.user_id:
            notifications.notify(
                from_id,
                "records.transferred_from",
                params={"actor": name, "to": target.user.display_name, "count": total},
            )
    db.session.commit()
    return {"from_user_id": from_id, "to_user_id": to_id, "counts": counts, "total": total}


@job
def run_transfer(
    job_id: str,
    from_user_id: int,
    to_user_id: int,
    objects: list[str],
    requester: dict[str, Any],
) -> None:
    """Transfer records as the person who asked, reporting progress."""
    tracked.begin(job_id)
    try:
        with acting_as(Requester.from_json(requester)) as actor:
            _check(actor, from_user_id, to_user_id)  # roles may have changed since

            def progress(done: int) -> None:
                tracked.progress(job_id, done)

            result = _move_all(actor, from_user_id, to_user_id, objects, progress)
            tracked.finish(job_id, result)
    except DomainError as exc:
        tracked.fail(job_id, exc.message)
    except Exception as exc:
        tracked.crashed(job_id, exc)
        raise


def transfer_job(actor: Membership, job_id: str) -> tracked.TrackedJob:
    """A transfer job (owners and admins)."""
    _require_admin(actor)
    row = tracked.get_job(job_id)
    if row is None or row.kind != JOB_KIND:
        raise DomainError(_("There is no such job."), status=404)
    return row
