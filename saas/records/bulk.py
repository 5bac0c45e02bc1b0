"""Bulk actions on the records of a list: set a field, change the owner, add or remove a tag,
move to the recycle bin.

They apply to chosen records (``ids``) or to every record matching a view (a query). Either way
the records are first narrowed to what the person may see (data scope), and the number the person
confirmed must still be the number that matches (else :class:`CountChanged`, 409, with the new
count, so the page asks again). Each record then goes through the record service exactly as a
single change would (validation, unique values, required fields, field access, audit), without
optimistic locking: a record someone changed meanwhile is read again and changed once more. A
failure on one record does not stop the others; the outcome lists each failure with its reason.

Up to :data:`SYNC_LIMIT` records are changed in the request; more run as a tracked job with
progress. The operation itself is audited once (``records.bulk``), with its outcome.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext

from custom_fields import types
from custom_fields.query import engine
from custom_fields.query.engine import QuerySpec
from custom_fields.types import FieldValueError
from saas import tracked
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.jobs import job
from saas.records import services
from saas.records.errors import StaleVersion
from saas.records.models import RecordColumns
from saas.records.requester import Requester, acting_as
from tenants import audit
from tenants import services as tenant_services
from tenants.errors import Forbidden
from tenants.models import ADMIN_ROLES, Membership

ACTIONS = ("update", "owner", "tag", "untag", "delete")
#: Records changed in the request; more run as a background job.
SYNC_LIMIT = 200
#: The most records one bulk action changes (counts are exact up to this many).
MAX_RECORDS = engine.COUNT_LIMIT
#: Failures kept in the outcome (the count is always complete).
MAX_FAILURES = 500
JOB_KIND = "records.bulk"
_RETRIES = 3


class CountChanged(DomainError):
    """The view no longer matches the number of records the person confirmed."""

    status = 409

    def __init__(self, count: int, expected: int):
        super().__init__(
            ngettext(
                "This now applies to %(num)d record, not %(expected)d. Check and confirm again.",
                "This now applies to %(num)d records, not %(expected)d. Check and confirm again.",
                count,
                expected=expected,
            ),
            field="expected_count",
        )
        self.count = count
        self.expected = expected

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["count"] = self.count
        body["expected_count"] = self.expected
        return body


@dataclass(frozen=True)
class BulkRequest:
    """What to do (``action`` and its ``field``/``value``, ``owner_id`` or ``tag``) to which
    records: ``ids``, or every record matching ``query`` (then ``expected_count`` is needed)."""

    action: str
    ids: tuple[int, ...] | None = None
    query: QuerySpec | None = None
    field: str | None = None
    value: Any = None
    owner_id: Any = None
    tag: Any = None
    expected_count: int | None = None


@dataclass(frozen=True)
class Change:
    """A validated action, ready to apply to one record after another."""

    action: str
    field: str | None = None
    value: Any = None  # as sent; the record service cleans it again per record
    stored: Any = None  # the value as it would be stored, to skip records that have it
    owner_id: int | None = None
    tag: str | None = None
    unique: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "field": self.field,
            "value": self.value,
            "owner_id": self.owner_id,
            "tag": self.tag,
        }

    def payload(self, record: RecordColumns) -> dict[str, Any] | None:
        """What to send to ``update_record``; ``None`` when the record already has it."""
        if self.action == "update":
            assert self.field is not None
            if record.data.get(self.field) == self.stored:
                return None
            return {self.field: self.value}
        if self.action == "owner":
            return None if record.owner_id == self.owner_id else {"owner_id": self.owner_id}
        tags = list(record.tags or [])
        if self.action == "tag":
            return None if self.tag in tags else {"tags": [*tags, self.tag]}
        if self.action == "untag":
            return {"tags": [t for t in tags if t != self.tag]} if self.tag in tags else None
        raise AssertionError(self.action)


@dataclass
class Outcome:
    """How a bulk action went: counts, and each failure with the record and the reason."""

    action: str
    matched: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    job_id: str | None = None

    def fail(self, record_id: int, name: str | None, message: str) -> None:
        self.failed += 1
        if len(self.failures) < MAX_FAILURES:
            self.failures.append({"id": record_id, "name": name, "message": message})

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "matched": self.matched,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "failures": self.failures,
        }


def _require_right(actor: Membership, object_key: str, action: str) -> None:
    """Deleting needs the delete right on the object; every other bulk action, edit."""
    services.require_permission(actor, object_key, "delete" if action == "delete" else "edit")


def _int(raw: Any, key: str, message: str) -> int:
    if isinstance(raw, bool):
        raise ValidationFailed({key: [message]})
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        raise ValidationFailed({key: [message]}) from None
    if not 0 < value < 2**63:
        raise ValidationFailed({key: [message]})
    return value


def _prepare(st: services.Store, actor: Membership, req: BulkRequest) -> Change:
    """Check the action and its value once, before any record (errors name the input)."""
    if req.action not in ACTIONS:
        raise ValidationFailed(
            {"action": [_("Choose one of: %(actions)s.", actions=", ".join(ACTIONS))]}
        )
    if req.action == "delete":
        return Change("delete")
    if req.action == "owner":
        message = _("Choose a member of this company.")
        owner_id = _int(req.owner_id, "owner_id", message)
        member = tenant_services.membership(owner_id)
        if member is None or not member.is_active:
            raise ValidationFailed({"owner_id": [message]})
        return Change("owner", owner_id=owner_id)
    if req.action in ("tag", "untag"):
        if not isinstance(req.tag, str) or not req.tag.strip():
            raise ValidationFailed({"tag": [_("Enter a tag.")]})
        try:
            tags = services.clean_tags([req.tag])
        except FieldValueError as exc:
            raise ValidationFailed({"tag": [exc.message]}) from exc
        return Change(req.action, tag=tags[0])
    return _prepare_update(st, actor, req)


def _prepare_update(st: services.Store, actor: Membership, req: BulkRequest) -> Change:
    key = req.field
    if not isinstance(key, str) or not key:
        raise ValidationFailed({"field": [_("Choose a field to change.")]})
    info = st.schema.field(key)
    if info is None or info.access_for(actor.role_key) == "hidden":
        raise ValidationFailed({"field": [_("There is no field “%(key)s”.", key=key[:60])]})
    field_type = types.get(info.type)
    if not field_type.editable:
        raise ValidationFailed({"field": [_("This field is computed; it cannot be set.")]})
    if info.access_for(actor.role_key) == "read_only":
        raise ValidationFailed({"field": [_("Your role cannot change this field.")]})
    ctx = services.context()
    try:
        value = field_type.clean(req.value, info.spec, ctx)
    except FieldValueError as exc:
        raise ValidationFailed({"value": [exc.message]}) from exc
    if value is None and info.spec.required:
        raise ValidationFailed({"value": [_("A value is required.")]})
    if (
        info.type == "lookup"
        and value is not None
        and not services._lookup_exists(info.spec.options.get("target", ""), value)
    ):
        raise ValidationFailed({"value": [_("There is no such record.")]})
    return Change(
        "update",
        field=key,
        value=req.value,
        stored=field_type.to_storage(value),
        unique=info.unique,
    )


def _check_count(change: Change, count: int) -> None:
    if change.unique and change.stored is not None and count > 1:
        raise ValidationFailed(
            {"value": [_("This field is unique: several records cannot share one value.")]}
        )


def _matching(st: services.Store, actor: Membership, req: BulkRequest) -> list[int]:
    """Ids of the records the action applies to that ``actor`` may see, in id order (at most
    :data:`MAX_RECORDS` + 1)."""
    if req.ids is not None:
        spec = QuerySpec(ids=list(req.ids), count=False)
    elif req.query is not None:
        spec = QuerySpec(filter=req.query.filter, search=req.query.search, count=False)
    else:
        raise ValidationFailed({"ids": [_("Choose records, or all records of the view.")]})
    timezone = services.context().timezone
    stmt, _resolver = engine.base_query(st.schema, actor, spec, timezone)
    stmt = stmt.with_only_columns(st.model.id).order_by(st.model.id).limit(MAX_RECORDS + 1)
    return list(db.session.execute(stmt).scalars())


def _messages(exc: DomainError) -> str:
    if isinstance(exc, ValidationFailed):
        return " ".join(m for messages in exc.errors.values() for m in messages)
    return exc.message


def _apply_one(actor: Membership, object_key: str, change: Change, record_id: int) -> bool:
    """Apply ``change`` to one record; ``False`` when it already had it."""
    for attempt in range(_RETRIES):
        record = services.get_record(object_key, record_id)
        if change.action == "delete":
            services.delete_record(actor, object_key, record_id)
            return True
        payload = change.payload(record)
        if payload is None:
            return False
        try:
            services.update_record(actor, object_key, record_id, payload, record.version)
            return True
        except StaleVersion:
            db.session.rollback()
            if attempt == _RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def apply(
    actor: Membership,
    object_key: str,
    change: Change,
    ids: Sequence[int],
    outcome: Outcome,
    progress: Callable[[int], None] | None = None,
) -> Outcome:
    """Apply ``change`` to each record, one transaction each, collecting failures."""
    for done, record_id in enumerate(ids, start=1):
        try:
            if _apply_one(actor, object_key, change, record_id):
                outcome.updated += 1
            else:
                outcome.unchanged += 1
                db.session.rollback()  # nothing to write: end the read transaction
        except DomainError as exc:
            db.session.rollback()
            outcome.fail(record_id, _name_of(object_key, record_id), _messages(exc))
        if progress is not None and (done % 25 == 0 or done == len(ids)):
            progress(done)
    return outcome


def _name_of(object_key: str, record_id: int) -> str | None:
    try:
        return services.get_record(object_key, record_id).name
    except DomainError:
        return None


def _audit(object_key: str, change: Change, outcome: Outcome) -> None:
    audit.record(
        "records.bulk",
        "object",
        object_key,
        after={
            **{k: v for k, v in change.to_json().items() if v is not None},
            "matched": outcome.matched,
            "updated": outcome.updated,
            "unchanged": outcome.unchanged,
            "failed": outcome.failed,
            "job_id": outcome.job_id,
        },
    )


def run(actor: Membership, object_key: str, req: BulkRequest) -> Outcome | tracked.TrackedJob:
    """Apply a bulk action: the :class:`Outcome` when done in the request, else the job."""
    _require_right(actor, object_key, req.action)
    st = services.store(object_key, actor)
    if req.query is not None and req.ids is None and req.expected_count is None:
        raise ValidationFailed({"expected_count": [_("Confirm how many records this applies to.")]})
    change = _prepare(st, actor, req)
    ids = _matching(st, actor, req)
    if len(ids) > MAX_RECORDS:
        raise ValidationFailed(
            {
                "filter": [
                    _(
                        "A bulk action changes at most %(n)s records at a time; narrow the view.",
                        n=f"{MAX_RECORDS:,}",
                    )
                ]
            }
        )
    if req.expected_count is not None and len(ids) != req.expected_count:
        raise CountChanged(len(ids), req.expected_count)
    _check_count(change, len(ids))
    outcome = Outcome(change.action, matched=len(ids))
    missing = sorted(set(req.ids or ()) - set(ids))
    for record_id in missing:
        outcome.fail(record_id, None, _("There is no such record."))
    if len(ids) > SYNC_LIMIT:
        row = tracked.start(
            f"bulk:{uuid.uuid4().hex}",
            JOB_KIND,
            run_bulk,
            params={
                "object_key": object_key,
                "change": change.to_json(),
                "ids": ids,
                "missing": missing,
                "requester": Requester.current().to_json(),
            },
            created_by=actor.user_id,
            total=len(ids),
        )
        db.session.commit()
        return row
    apply(actor, object_key, change, ids, outcome)
    _audit(object_key, change, outcome)
    db.session.commit()
    return outcome


@job
def run_bulk(
    job_id: str,
    object_key: str,
    change: dict[str, Any],
    ids: list[int],
    missing: list[int],
    requester: dict[str, Any],
) -> None:
    """Apply a bulk action as the person who asked, reporting progress."""
    tracked.begin(job_id)
    try:
        with acting_as(Requester.from_json(requester)) as actor:
            _require_right(actor, object_key, change["action"])
            st = services.store(object_key, actor)
            # The field or the person's access may have changed since: check again.
            checked = _prepare(
                st,
                actor,
                BulkRequest(
                    action=change["action"],
                    field=change.get("field"),
                    value=change.get("value"),
                    owner_id=change.get("owner_id"),
                    tag=change.get("tag"),
                ),
            )
            _check_count(checked, len(ids))
            outcome = Outcome(checked.action, matched=len(ids), job_id=job_id)
            for record_id in missing:
                outcome.fail(record_id, None, _("There is no such record."))

            def progress(done: int) -> None:
                tracked.progress(job_id, done)

            apply(actor, object_key, checked, ids, outcome, progress)
            _audit(object_key, checked, outcome)
            db.session.commit()
            tracked.finish(job_id, {"object_key": object_key, **outcome.to_json()})
    except DomainError as exc:
        tracked.fail(job_id, exc.message)
    except Exception as exc:
        tracked.crashed(job_id, exc)
        raise


def bulk_job(actor: Membership, object_key: str, job_id: str) -> tracked.TrackedJob:
    """A bulk job of this object that ``actor`` started (admins: any)."""
    row = tracked.get_job(job_id)
    if row is None or row.kind != JOB_KIND or (row.params or {}).get("object_key") != object_key:
        raise DomainError(_("There is no such job."), status=404)
    if row.created_by != actor.user_id and actor.role_key not in ADMIN_ROLES:
        raise Forbidden(_("Only the person who started this job can see it."))
    return row


def summary(result: Mapping[str, Any]) -> str:
    """One sentence for a finished bulk action: updated N, unchanged K, failed M."""
    parts = [
        ngettext("%(num)d record changed", "%(num)d records changed", result.get("updated", 0))
    ]
    if result.get("unchanged"):
        parts.append(
            ngettext(
                "%(num)d already as asked",
                "%(num)d already as asked",
                result["unchanged"],
            )
        )
    if result.get("failed"):
        parts.append(ngettext("%(num)d failed", "%(num)d failed", result["failed"]))
    # TRANSLATORS: the separator between the parts of a bulk action's summary.
    return _("%(parts)s.", parts=_(", ").join(parts))
