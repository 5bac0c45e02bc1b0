"""Merging duplicate customers, contacts and leads into one record that keeps the history of all.

A merge names a **survivor** and one to four **others** of the same object. In one transaction,
with every record involved locked (``SELECT … FOR UPDATE``, in id order):

- the values chosen per field (``choices``: field → record id; the survivor's by default) are
  written into the survivor through :func:`saas.records.services.update_record`, so validation,
  unique claims and duplicate keys follow the usual rules; tags become the union of all;
- every lookup value pointing at an other is repointed to the survivor: every lookup field whose
  target is the object, found in the metadata store (custom objects and fields in the recycle
  bin included), plus the tables that name a record by column (replies, notifications,
  approvals, files, pool events, recently viewed);
- the others go to the recycle bin, their duplicate keys and unique claims released (they can
  never come back, so the survivor may take their unique values), marked with
  :data:`MERGED_INTO` in their ``data`` (not a field key: field keys start with a letter);
- ``record.merged`` is audited on the survivor and on each other.

**History.** Audit events are never rewritten: the others keep theirs, and the survivor's history
is the events of :func:`history_ids` (the survivor and every record merged into it, following
merges of merges). :func:`history` reads them.

A merged record cannot be restored (:func:`before_restore`): it would be a duplicate again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import delete, func, select, update

from custom_fields import types
from custom_fields.definitions import FieldInfo
from custom_fields.models import FieldDefinition, ObjectDefinition
from saas.crm import duplicates
from saas.crm.activities import ActivityReply
from saas.crm.approvals import Approval
from saas.crm.pool import PoolEvent
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.files.models import StoredFile
from saas.records import services as records
from saas.records.errors import RecordNotFound
from saas.records.models import (
    STANDARD_MODELS,
    Account,
    CustomRecord,
    RecentRecord,
    RecordColumns,
    UniqueValue,
)
from tenants import audit
from tenants.errors import Forbidden
from tenants.models import AuditEvent, Membership, RoleKey
from tenants.notifications import Notification

#: The objects whose records may be merged.
OBJECTS = duplicates.OBJECTS
MAX_OTHERS = 4
#: Key in a merged record's ``data`` holding the survivor's id.
MERGED_INTO = "_merged_into"
#: Roles that may merge records of different owners (their data scope must cover all records).
MANAGING_ROLES = frozenset({RoleKey.OWNER, RoleKey.ADMIN, RoleKey.MANAGER})
#: Merges of merges followed at most (a chain longer than this is not expected).
MAX_DEPTH = 20


class StaleMerge(DomainError):
    """A record changed after the merge page read it."""

    status = 409


@dataclass(frozen=True)
class Reference:
    """A lookup field pointing at the merged object: ``object_key.field_key``."""

    object_key: str
    object_id: int
    model: type[RecordColumns]
    field_key: str
    label_en: str
    label_zh: str
    object_label_en: str
    object_label_zh: str

    def label(self, locale: str) -> str:
        zh = locale.startswith("zh")
        obj = self.object_label_zh if zh else self.object_label_en
        return f"{obj} · {self.label_zh if zh else self.label_en}"


@dataclass
class Preview:
    """What a merge would do: the records side by side and what would move to the survivor."""

    object_key: str
    survivor: RecordColumns
    others: list[RecordColumns]
    #: (field key or ``name``, label, {record id: text}, choosable)
    rows: list[tuple[str, str, dict[int, str], bool]]
    moves: list[tuple[str, str, int]]  # (key, label, count)
    owners: dict[int, str] = field(default_factory=dict)
    needs_manager: bool = False

    @property
    def records(self) -> list[RecordColumns]:
        return [self.survivor, *self.others]

    def to_json(self) -> dict[str, Any]:
        return {
            "object": self.object_key,
            "survivor": self.survivor.id,
            "records": [
                {
                    "id": r.id,
                    "name": r.name,
                    "version": r.version,
                    "owner_id": r.owner_id,
                    "owner": self.owners.get(r.owner_id) if r.owner_id else None,
                    "tags": list(r.tags or []),
                }
                for r in self.records
            ],
            "fields": [
                {
                    "key": key,
                    "label": label,
                    "values": {str(rid): text for rid, text in values.items()},
                    "choosable": choosable,
                    "differs": len(set(values.values())) > 1,
                    "default": self.survivor.id,
                }
                for key, label, values, choosable in self.rows
            ],
            "moves": [{"key": k, "label": label, "count": n} for k, label, n in self.moves],
            "tags": sorted({t for r in self.records for t in (r.tags or [])}),
            "needs_manager": self.needs_manager,
        }


# ---------------------------------------------------------------- checks


def _locale() -> str:
    return records.context().locale


def _clean_ids(survivor_id: Any, other_ids: Any) -> tuple[int, list[int]]:
    errors: dict[str, list[str]] = {}

    def as_id(raw: Any) -> int | None:
        if isinstance(raw, bool):
            return None
        try:
            value = int(raw)
        except (TypeError, ValueError):
            return None
        return value if 0 < value < 2**63 else None

    survivor = as_id(survivor_id)
    if survivor is None:
        errors["survivor"] = [_("Choose the record to keep.")]
    others: list[int] = []
    if not isinstance(other_ids, (list, tuple)) or not other_ids:
        errors["others"] = [_("Choose at least one record to merge into it.")]
    else:
        for raw in other_ids:
            value = as_id(raw)
            if value is None:
                errors["others"] = [_("Records are named by their ids.")]
                break
            if value not in others:
                others.append(value)
        else:
            if survivor in others:
                errors["others"] = [_("A record cannot be merged into itself.")]
            elif len(others) > MAX_OTHERS:
                errors["others"] = [
                    _("At most %(n)d records can be merged at once.", n=MAX_OTHERS + 1)
                ]
    if errors:
        raise ValidationFailed(errors)
    assert survivor is not None
    return survivor, others


def _check_object(object_key: str) -> None:
    if object_key not in OBJECTS:
        raise RecordNotFound(_("Only customers, contacts and leads can be merged."))


def _require_writer(actor: Membership, object_key: str) -> None:
    """Merging changes the survivor and deletes the others: both rights on the object."""
    from saas.records.services import require_permission, require_writer  # imports this module

    require_writer(actor, _("Your role does not allow merging records."))
    for action in ("edit", "delete"):
        require_permission(
            actor, object_key, action, _("Your role does not allow merging records.")
        )


def _load(
    actor: Membership, object_key: str, ids: Sequence[int], *, lock: bool
) -> dict[int, RecordColumns]:
    """The records, each within the actor's data scope (otherwise 404, as if it did not exist)."""
    st = records.store(object_key, actor)
    stmt = st.query().where(st.model.id.in_(list(ids))).order_by(st.model.id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    found = {r.id: r for r in db.session.execute(stmt).scalars()}
    if len(found) != len(ids):
        raise RecordNotFound(_("There is no such record."))
    if lock:  # merging changes the survivor and deletes the others: none may be read-only
        for record in found.values():
            records.require_change(actor, object_key, record)
    return found


def _needs_manager(rows: Sequence[RecordColumns]) -> bool:
    # A pool customer (no owner) counts as another owner: merging must not be a way to claim.
    return len({r.owner_id for r in rows}) > 1


def _check_owners(actor: Membership, rows: Sequence[RecordColumns]) -> None:
    if _needs_manager(rows) and actor.role_key not in MANAGING_ROLES:
        raise Forbidden(
            _("Records of different owners are merged by a manager or an administrator.")
        )


# ---------------------------------------------------------------- what points at a record


def references(object_key: str) -> list[Reference]:
    """Every lookup field whose target is ``object_key``, read from the metadata store (fields
    in the recycle bin too: restoring one must not bring back links to merged records)."""
    stmt = (
        select(FieldDefinition, ObjectDefinition)
        .join(ObjectDefinition, ObjectDefinition.id == FieldDefinition.object_id)
        .where(
            FieldDefinition.type == "lookup",
            FieldDefinition.options["target"].astext == object_key,
        )
        .order_by(ObjectDefinition.position, ObjectDefinition.id, FieldDefinition.position)
    )
    found = []
    for fd, od in db.session.execute(stmt):
        model = STANDARD_MODELS.get(od.key, CustomRecord) if od.is_standard else CustomRecord
        found.append(
            Reference(
                od.key, od.id, model, fd.key, fd.label_en, fd.label_zh, od.label_en, od.label_zh
            )
        )
    return found


def _ref_where(ref: Reference, ids: Sequence[int]) -> list[Any]:
    model = ref.model
    where = [model.data[ref.field_key].astext.in_([str(i) for i in ids])]
    if model is CustomRecord:
        where.append(CustomRecord.object_id == ref.object_id)
    return where


def _column_tables(object_key: str, ids: Sequence[int]) -> list[tuple[str, Any, Any]]:
    """(key, model, condition) of the tables naming a record by column."""
    tables: list[tuple[str, Any, Any]] = [
        (
            "replies",
            ActivityReply,
            (ActivityReply.object_key == object_key) & ActivityReply.record_id.in_(ids),
        ),
        (
            "notifications",
            Notification,
            (Notification.object_key == object_key) & Notification.record_id.in_(ids),
        ),
        ("approvals", Approval, (Approval.object_key == object_key) & Approval.record_id.in_(ids)),
        # Files attached to the others move to the survivor.
        (
            "files",
            StoredFile,
            (StoredFile.object_key == object_key) & StoredFile.record_id.in_(ids),
        ),
    ]
    if object_key == "account":
        tables.append(("pool_events", PoolEvent, PoolEvent.account_id.in_(ids)))
    return tables


def _column_label(key: str) -> str:
    return {
        "replies": _("Replies"),
        "notifications": _("Notifications"),
        "approvals": _("Approvals"),
        "pool_events": _("Ownership history"),
        "files": _("Files"),
    }[key]


def _moves(object_key: str, ids: Sequence[int]) -> list[tuple[str, str, int]]:
    locale = _locale()
    moves = []
    for ref in references(object_key):
        model = ref.model
        count = db.session.execute(
            select(func.count()).select_from(model).where(*_ref_where(ref, ids))
        ).scalar_one()
        if count:
            moves.append((f"{ref.object_key}.{ref.field_key}", ref.label(locale), count))
    for key, model, where in _column_tables(object_key, ids):
        count = db.session.execute(
            select(func.count()).select_from(model).where(where)
        ).scalar_one()
        if count:
            moves.append((key, _column_label(key), count))
    return moves


# ---------------------------------------------------------------- preview


def _choosable(info: FieldInfo, actor: Membership) -> bool:
    return types.get(info.type).editable and info.access_for(actor.role_key) == "editable"


def _owner_names(ids: set[int]) -> dict[int, str]:
    from saas.accounts.models import User

    if not ids:
        return {}
    rows = db.session.execute(select(User.id, User.name, User.email).where(User.id.in_(ids)))
    return {uid: name or email for uid, name, email in rows}


def preview(actor: Membership, object_key: str, survivor_id: Any, other_ids: Any) -> Preview:
    """The records side by side (every field the actor may see), the survivor's values chosen
    by default, and how many records and rows would be moved to the survivor."""
    _check_object(object_key)
    _require_writer(actor, object_key)
    survivor_id, others = _clean_ids(survivor_id, other_ids)
    found = _load(actor, object_key, [survivor_id, *others], lock=False)
    rows_in_order = [found[survivor_id], *(found[i] for i in others)]
    st = records.store(object_key, actor)
    locale = _locale()
    display = {
        r.id: {info.key: text for info, text in records.display_values(st, r, actor)}
        for r in rows_in_order
    }
    rows: list[tuple[str, str, dict[int, str], bool]] = [
        (
            "name",
            _("Name"),
            {r.id: r.name or "" for r in rows_in_order},
            not st.schema.name_pattern,
        )
    ]
    for info in st.schema.fields:
        if info.access_for(actor.role_key) == "hidden":
            continue
        values = {r.id: display[r.id].get(info.key, "") for r in rows_in_order}
        rows.append((info.key, info.spec.label(locale), values, _choosable(info, actor)))
    return Preview(
        object_key,
        found[survivor_id],
        [found[i] for i in others],
        rows,
        _moves(object_key, others),
        _owner_names({r.owner_id for r in rows_in_order if r.owner_id}),
        _needs_manager(rows_in_order),
    )


# ---------------------------------------------------------------- merge


def _clean_versions(expected: Any, ids: Sequence[int]) -> dict[int, int]:
    if not isinstance(expected, Mapping):
        raise ValidationFailed(
            {"expected_versions": [_("Send the version you read of every record.")]}
        )
    versions: dict[int, int] = {}
    for key, value in expected.items():
        try:
            versions[int(key)] = int(value)
        except (TypeError, ValueError):
            raise ValidationFailed(
                {"expected_versions": [_("Versions are whole numbers by record id.")]}
            ) from None
    missing = [i for i in ids if i not in versions]
    if missing:
        raise ValidationFailed(
            {"expected_versions": [_("Send the version you read of record %(id)d.", id=missing[0])]}
        )
    return versions


def _payload(
    actor: Membership,
    object_key: str,
    found: Mapping[int, RecordColumns],
    survivor: RecordColumns,
    choices: Any,
) -> tuple[dict[str, Any], dict[str, int]]:
    """The update of the survivor (only values chosen from another record, and the tags) and
    the cleaned choices."""
    if choices is None:
        choices = {}
    if not isinstance(choices, Mapping):
        raise ValidationFailed({"choices": [_("Choose a record per field.")]})
    st = records.store(object_key, actor)
    errors: dict[str, list[str]] = {}
    chosen: dict[str, int] = {}
    for key, raw in choices.items():
        try:
            record_id = int(raw)
        except (TypeError, ValueError):
            record_id = 0
        if record_id not in found:
            errors[f"choices.{key}"] = [_("Choose one of the records being merged.")]
            continue
        if key == "name":
            if st.schema.name_pattern and record_id != survivor.id:
                errors["choices.name"] = [_("The name is numbered automatically.")]
                continue
        else:
            info = st.schema.field(key)
            if info is None or info.access_for(actor.role_key) == "hidden":
                errors[f"choices.{key}"] = [_("There is no field “%(key)s”.", key=key)]
                continue
            if record_id != survivor.id and not _choosable(info, actor):
                errors[f"choices.{key}"] = [_("This value cannot be chosen.")]
                continue
        chosen[key] = record_id
    if errors:
        raise ValidationFailed(errors)
    payload: dict[str, Any] = {}
    # Values go in their API form, which the record service's validation reads.
    bodies = {survivor.id: records.serialize(st, survivor, actor)}
    for key, record_id in chosen.items():
        if record_id == survivor.id:
            continue
        if record_id not in bodies:
            bodies[record_id] = records.serialize(st, found[record_id], actor)
        if bodies[record_id].get(key) != bodies[survivor.id].get(key):
            payload[key] = bodies[record_id].get(key)
    tags = list(dict.fromkeys(t for r in (survivor, *found.values()) for t in (r.tags or [])))
    if tags != list(survivor.tags or []):
        payload["tags"] = tags
    return payload, chosen


def _latest(*moments: dt.datetime | None) -> dt.datetime | None:
    known = [m for m in moments if m is not None]
    return max(known) if known else None


def _repoint(object_key: str, survivor_id: int, others: Sequence[int]) -> dict[str, int]:
    moved: dict[str, int] = {}
    for ref in references(object_key):
        model = ref.model
        result = db.session.execute(
            update(model)
            .where(*_ref_where(ref, others))
            .values(
                data=model.data.op("||")(func.jsonb_build_object(ref.field_key, survivor_id)),
                version=model.version + 1,  # an edit that read the old link fails with 412
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:
            moved[f"{ref.object_key}.{ref.field_key}"] = result.rowcount
    for key, model, where in _column_tables(object_key, others):
        column = PoolEvent.account_id if model is PoolEvent else model.record_id
        result = db.session.execute(
            update(model)
            .where(where)
            .values({column.key: survivor_id})
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:
            moved[key] = result.rowcount
    # Recently viewed: one row per person and record, so a person who saw several keeps one.
    object_id = records.store(object_key, None).schema.id
    seen = select(RecentRecord.user_id).where(
        RecentRecord.object_id == object_id, RecentRecord.record_id == survivor_id
    )
    db.session.execute(
        delete(RecentRecord).where(
            RecentRecord.object_id == object_id,
            RecentRecord.record_id.in_(others),
            RecentRecord.user_id.in_(seen),
        )
    )
    kept = (
        select(RecentRecord.user_id, func.max(RecentRecord.viewed_at).label("at"))
        .where(RecentRecord.object_id == object_id, RecentRecord.record_id.in_(others))
        .group_by(RecentRecord.user_id)
    )
    latest = {uid: at for uid, at in db.session.execute(kept)}
    db.session.execute(
        delete(RecentRecord).where(
            RecentRecord.object_id == object_id, RecentRecord.record_id.in_(others)
        )
    )
    for uid, at in latest.items():
        db.session.add(
            RecentRecord(user_id=uid, object_id=object_id, record_id=survivor_id, viewed_at=at)
        )
    return moved


def merge(
    actor: Membership,
    object_key: str,
    survivor_id: Any,
    other_ids: Any,
    choices: Any = None,
    expected_versions: Any = None,
) -> RecordColumns:
    """Merge the others into the survivor in one transaction (see the module's description);
    nothing changes when any step fails. Returns the survivor."""
    _check_object(object_key)
    _require_writer(actor, object_key)
    survivor_id, others = _clean_ids(survivor_id, other_ids)
    ids = [survivor_id, *others]
    versions = _clean_versions(expected_versions, ids)
    try:
        found = _load(actor, object_key, sorted(ids), lock=True)
        stale = [i for i in ids if found[i].version != versions[i]]
        if stale:
            raise StaleMerge(
                _(
                    "Someone else changed “%(name)s”. Reload and merge again.",
                    name=found[stale[0]].name or f"#{stale[0]}",
                ),
                field="expected_versions",
            )
        survivor = found[survivor_id]
        rows = [found[i] for i in ids]
        _check_owners(actor, rows)
        payload, chosen = _payload(actor, object_key, found, survivor, choices)
        chosen_values = {k: payload.get(k) for k, rid in chosen.items() if rid != survivor_id}
        st = records.store(object_key, actor)
        # The others never come back: their unique values are free for the survivor to take.
        unique_fields = [f.id for f in st.schema.fields if f.unique]
        if unique_fields:
            db.session.execute(
                delete(UniqueValue).where(
                    UniqueValue.field_id.in_(unique_fields), UniqueValue.record_id.in_(others)
                )
            )
        records.update_record(
            actor, object_key, survivor_id, payload, survivor.version, via="merge", commit=False
        )
        if object_key == "account":
            # The survivor's owner keeps it; its clock starts at the latest activity of all
            # (bookkeeping, as activities move it: the version does not change).
            latest = _latest(*(r.last_activity_at for r in rows))  # type: ignore[attr-defined]
            db.session.execute(
                update(Account)
                .where(Account.id == survivor_id)
                .values(last_activity_at=latest)
                .execution_options(synchronize_session=False)
            )
        for other_id in others:
            other = found[other_id]
            other.deleted_at = func.now()
            other.data = {**(other.data or {}), MERGED_INTO: survivor_id}
            other.updated_by = actor.user_id
            duplicates.after_delete(object_key, other_id)
        db.session.flush()
        moved = _repoint(object_key, survivor_id, others)
        names = {i: found[i].name for i in ids}
        audit.record(
            "record.merged",
            object_key,
            survivor_id,
            after={
                "survivor": survivor_id,
                "merged": others,
                "names": {str(i): n for i, n in names.items()},
                "choices": chosen,
                "values": chosen_values,
                "moved": moved,
            },
        )
        for other_id in others:
            audit.record(
                "record.merged",
                object_key,
                other_id,
                before={"name": names[other_id]},
                after={"merged_into": survivor_id, "choices": chosen, "values": chosen_values},
            )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return records.get_record(object_key, survivor_id)


# ---------------------------------------------------------------- after a merge


def before_restore(record: RecordColumns) -> None:
    """Refuse to restore a merged record (it would be a duplicate of its survivor again)."""
    if MERGED_INTO in (record.data or {}):
        raise DomainError(
            _("This record was merged into another one and cannot be restored on its own."),
            status=409,
        )


def merged_into(record: RecordColumns) -> int | None:
    """The survivor a record was merged into, if it was."""
    value = (record.data or {}).get(MERGED_INTO)
    return int(value) if value is not None else None


def history_ids(object_key: str, record_id: int) -> list[int]:
    """The record and every record merged into it (merges of merges too), whose audit events
    together are its history."""
    model = records.store(object_key, None).model
    found, todo = [record_id], [record_id]
    for _depth in range(MAX_DEPTH):
        if not todo:
            break
        stmt = select(model.id).where(
            model.deleted_at.is_not(None),
            model.data[MERGED_INTO].astext.in_([str(i) for i in todo]),
        )
        todo = [i for i in db.session.execute(stmt).scalars() if i not in found]
        found.extend(todo)
    return found


def history(object_key: str, record_id: int, *, limit: int = 200) -> list[AuditEvent]:
    """The audit events of a record and of the records merged into it, newest first."""
    ids = [str(i) for i in history_ids(object_key, record_id)]
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.target_type == object_key, AuditEvent.target_id.in_(ids))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(limit)
    )
    return list(db.session.execute(stmt).scalars())
