"""Visits and follow-ups (跟进): replies on records (批复), completing planned activities,
logging a follow-up from a customer, contact or opportunity, reminders of due and overdue
activities, the calendar feed, and visit frequency targets by customer grade.

Activities are records of the standard object ``activity``; creating and changing them goes
through ``saas.records.services`` (validation, field access, audit, the pool's activity clock).
This module adds the workflows around them. Decisions:

- **What counts as contact** with a customer: a *done* activity of type visit, call or meeting
  (:data:`CONTACT_TYPES`) linked to it through its ``account`` field. Emails and messages do not
  count, and planning a visit is not a visit. A follow-up logged from a contact or an
  opportunity is linked to its customer as well, so it counts.
- **Behind target**: an owned customer, outside the recycle bin, whose grade has a target of N
  days, and whose latest contact is more than N days old; or which never had one and has been
  owned (since its creation, claim or assignment) for more than N days.
- **Completing** needs a result for visits (:data:`RESULT_REQUIRED_TYPES`): a visit's outcome is
  what a manager reviews and replies to; a call may simply go unanswered. The time it was done
  may be in the past (logged late) but not more than a minute ahead of the clock.
- **Replies** (批复): the record's owner, or a manager or administrator whose data scope covers
  the record, may write. Anyone who sees the record reads the thread. The record's owner and
  everyone who replied before are notified; a person deletes only their own replies.

The list of customers behind target has no stored "last contact" column: a lateral sub-select
takes each customer's latest contact from ``ix_activities_contacts`` (one index-only probe per
customer, migration 0014) while the customers are read in id order, a page at a time. The
pool's ``accounts.last_activity_at`` is not usable here: planned activities and claims move it
as well. ``now`` is a parameter everywhere, so the rules can be checked with a moving clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    and_,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from custom_fields import types
from custom_fields.definitions import FieldInfo, schemas
from custom_fields.query import reader
from custom_fields.query.scope import scope_clause
from custom_fields.types import FieldValueError
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.records.errors import RecordNotFound
from saas.records.models import Account, Activity, RecordColumns
from tenants import audit, notifications, permissions
from tenants.context import TenantScoped, current_tenant_id
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

#: Done activities of these types are contact with the customer (the migration's index
#: predicate lists the same codes).
CONTACT_TYPES = ("visit", "call", "meeting")
#: Completing an activity of these types needs a result.
RESULT_REQUIRED_TYPES = ("visit",)
#: Targets every company starts with: at most this many days between contacts, per grade.
DEFAULT_TARGETS = {"A": 7, "B": 14, "C": 30, "D": 90}
MAX_TARGET_DAYS = 3650
MAX_REPLY = 2000
MAX_THREAD = 200
REMINDER_LIMIT = 20
#: A done activity may be dated this far ahead of the clock (clocks of phones differ).
FUTURE_TOLERANCE = timedelta(minutes=1)
MAX_CALENDAR_DAYS = 62
CALENDAR_LIMIT = 2000
#: Minutes an activity lasts on the calendar (activities have no end of their own).
DURATIONS = {"visit": 60, "meeting": 60, "call": 30}
DEFAULT_DURATION = 15
#: Objects whose record pages log follow-ups; an activity links to them by these field keys.
LINKED = ("account", "contact", "opportunity")
#: Roles that reply on the records of the people they oversee.
REPLY_ROLES = frozenset({RoleKey.OWNER, RoleKey.ADMIN, RoleKey.MANAGER})
BEHIND_PAGE = 50


def utcnow() -> datetime:
    """The clock the rules read when no ``now`` is given."""
    return datetime.now(UTC)


class ActivityReply(TenantScoped, db.Model):
    """A reply (批复) in the thread of one record: a manager's comment on a visit, a customer or
    any other record, or the owner's answer. Deleting sets ``deleted_at``."""

    __tablename__ = "activity_replies"
    __table_args__ = (
        CheckConstraint("char_length(body) BETWEEN 1 AND 2000", name="body"),
        Index("ix_activity_replies_record", "tenant_id", "object_key", "record_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    object_key: Mapped[str] = mapped_column(String(60))
    record_id: Mapped[int] = mapped_column(BigInteger)
    author_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class VisitTarget(TenantScoped, db.Model):
    """How often customers of a grade must be contacted: at most ``days`` days between done
    visits, calls or meetings. A grade without a row has no target."""

    __tablename__ = "visit_targets"
    __table_args__ = (CheckConstraint("days BETWEEN 1 AND 3650", name="days"),)

    grade: Mapped[str] = mapped_column(String(60), primary_key=True)
    days: Mapped[int] = mapped_column(Integer)


# ---------------------------------------------------------------- SQL on activity values

_KEY = re.compile(r"^[a-z_]+$")


def _text(data: Any, key: str) -> sa.ColumnElement[str]:
    """``data ->> 'key'`` with the key written as a constant: an index on an expression is
    used only when the query has the very same expression, never a bound parameter."""
    assert _KEY.match(key)
    return data.op("->>", return_type=Text)(literal_column(f"'{key}'", Text))


def _code(value: str) -> sa.ColumnElement[str]:
    assert _KEY.match(value)
    return literal_column(f"'{value}'", Text)


def _stamp(data: Any, key: str) -> sa.ColumnElement[str]:
    """A stored date-time (``YYYY-MM-DDTHH:MM:SSZ``): in byte order, which is time order."""
    return _text(data, key).collate("C")


def _iso(moment: datetime) -> str:
    """A moment in the stored form of date-time values."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_stored(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _contact_done() -> sa.ColumnElement[bool]:
    """The predicate of ``ix_activities_contacts``."""
    return and_(
        Activity.deleted_at.is_(None),
        _text(Activity.data, "status") == _code("done"),
        _text(Activity.data, "type").in_([_code(t) for t in CONTACT_TYPES]),
    )


def _planned() -> sa.ColumnElement[bool]:
    """The predicate of ``ix_activities_planned``."""
    return and_(Activity.deleted_at.is_(None), _text(Activity.data, "status") == _code("planned"))


def _calendar_time() -> sa.ColumnElement[str]:
    """When an activity shows on the calendar (the expression of ``ix_activities_calendar``)."""
    return func.coalesce(
        _text(Activity.data, "done_at"), _text(Activity.data, "due_at"), type_=Text
    ).collate("C")


def _tenant(entity: Any) -> sa.ColumnElement[bool]:
    """The tenant as a constant condition: reads through the list reader, which row-level
    security does not bind, carry it besides the ORM's tenant criteria."""
    return entity.tenant_id == literal_column(str(int(current_tenant_id())), BigInteger)


@contextmanager
def _reading() -> Iterator[Session]:
    """A session for reads whose conditions on activity values must use the indexes of
    migration 0014. Under row-level security PostgreSQL puts no JSONB condition into an index
    scan (none is leakproof), so these reads go through the list reader when there is one
    (``custom_fields.query.reader``), with the tenant as a constant in every statement."""
    from flask import current_app

    with reader.reading() as session:
        if reader.is_reader(session):
            zone = db.session.get(Tenant, current_tenant_id()).timezone
            reader.settle(session, int(current_app.config.get("QUERY_TIMEOUT_MS", 10_000)), zone)
        yield session


# ---------------------------------------------------------------- helpers


def person_zone(actor: Membership) -> ZoneInfo:
    """The person's time zone, else the company's: days and reminders follow it."""
    return _timezone(actor)


def _timezone(actor: Membership) -> ZoneInfo:
    name = actor.user.timezone if actor.user is not None else None
    if not name:
        name = db.session.get(Tenant, current_tenant_id()).timezone
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


def _require_writer(actor: Membership, message: str | None = None) -> None:
    from saas.records.services import require_writer  # imports this module

    require_writer(actor, message)


def _schema(object_key: str):
    return schemas(current_tenant_id()).get(object_key)


def _field(object_key: str, key: str) -> FieldInfo | None:
    schema = _schema(object_key)
    return schema.field(key) if schema is not None else None


def choice_label(object_key: str, key: str, code: Any, locale: str) -> str:
    """A picklist code's label in ``locale`` (the code itself when unknown)."""
    info = _field(object_key, key)
    choice = info.spec.choice(code) if info is not None and code is not None else None
    return choice.label(locale) if choice is not None else str(code or "")


def type_choices(locale: str) -> list[tuple[str, str]]:
    """(code, label) of the active activity types, for forms."""
    info = _field("activity", "type")
    if info is None:
        return [(code, code) for code in ("call", "visit", "email", "meeting", "message")]
    return [(c.code, c.label(locale)) for c in info.spec.choices if c.active]


def visible_record(actor: Membership, object_key: str, record_id: Any) -> RecordColumns:
    """The live record if ``actor``'s data scope shows it, else 404 (another company's or
    another team's record looks like no record at all)."""
    from saas.records import services

    if isinstance(record_id, bool) or not isinstance(record_id, int) or not 0 < record_id < 2**63:
        raise RecordNotFound(_("There is no such record."))
    return services.get_record(object_key, record_id, actor=actor)


def object_label(object_key: str, locale: str) -> str:
    """An object's name in ``locale`` ("Customer")."""
    schema = _schema(object_key)
    return schema.label(locale) if schema is not None else object_key


def loggable_record(actor: Membership, object_key: str, record_id: Any) -> RecordColumns:
    """A customer, contact or opportunity the actor sees and may log follow-ups for."""
    if object_key not in LINKED:
        raise RecordNotFound(_("There is no such record."))
    record = visible_record(actor, object_key, record_id)
    _require_writer(actor)
    return record


def names_of(actor: Membership, refs: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """Names of records (object key, id) that ``actor`` may see, one query per object."""
    from saas.records import services

    wanted: dict[str, set[int]] = {}
    for object_key, record_id in refs:
        wanted.setdefault(object_key, set()).add(record_id)
    found: dict[tuple[str, int], str] = {}
    for object_key, ids in wanted.items():
        try:
            st = services.store(object_key, actor)
        except DomainError:
            continue
        stmt = st.query().where(st.model.id.in_(sorted(ids)))
        for record_id, name in db.session.execute(
            stmt.with_only_columns(st.model.id, st.model.name)
        ):
            found[(object_key, record_id)] = name or f"#{record_id}"
    return found


def _link_of(data: Mapping[str, Any]) -> tuple[str, int] | None:
    """The record an activity is about: its customer, else its contact, else its opportunity."""
    for key in LINKED:
        value = data.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return key, value
    return None


def _member_ids() -> set[int]:
    return set(
        db.session.execute(
            select(Membership.user_id).where(Membership.status == MembershipStatus.ACTIVE)
        ).scalars()
    )


# ---------------------------------------------------------------- record hook


def on_save(
    object_key: str, record: RecordColumns, before: Mapping[str, Any] | None = None
) -> None:
    """Stamp ``done_at`` on an activity created done, or changed to done (``before``: its
    values before the change), without one: the time it was marked done, so that it counts
    as contact and shows on the calendar. Called by the record service before the flush."""
    if object_key != "activity":
        return
    data = record.data or {}
    if data.get("status") != "done" or data.get("done_at"):
        return
    if before is None or before.get("status") != "done":
        record.data = {**data, "done_at": _iso(utcnow())}


def prepare_import(schema: Any, rows: Iterable[Any]) -> None:
    """:func:`on_save` for a batch of imported activities while they are validated: a row
    created done, or changing one to done, without ``done_at`` is stamped with the time of the
    import. The rows are the import's outcomes (``saas.records.imports.Outcome``: ``action``,
    ``data``, and for updates ``before_data``)."""
    if schema.key != "activity":
        return
    stamp: str | None = None
    for outcome in rows:
        if outcome.action not in ("create", "update"):
            continue
        data = outcome.data
        if data.get("status") != "done" or data.get("done_at"):
            continue
        before = outcome.before_data if outcome.action == "update" else None
        if before is None or before.get("status") != "done":
            stamp = stamp or _iso(utcnow())
            data["done_at"] = stamp


# ---------------------------------------------------------------- replies (批复)


def _reply_kind_message(params: Mapping[str, Any]) -> str:
    return _(
        "%(actor)s replied on “%(name)s”: %(excerpt)s",
        actor=params.get("actor") or _("Someone"),
        name=params.get("name") or _("a record"),
        excerpt=params.get("excerpt", ""),
    )


def _reply_link(row: notifications.Notification) -> str | None:
    from flask import url_for

    if not row.object_key or not row.record_id:
        return None
    return url_for(
        "records.detail", object_key=row.object_key, record_id=row.record_id, _anchor="replies"
    )


notifications.register("activity.reply", _reply_kind_message, _reply_link)


def may_reply(actor: Membership, record: RecordColumns) -> bool:
    """Whether ``actor`` may write in the record's thread (the record is one they see): its
    owner, or a manager or administrator."""
    if actor.role_key not in WRITE_ROLES:
        return False
    return record.owner_id == actor.user_id or actor.role_key in REPLY_ROLES


def clean_body(raw: Any) -> str:
    """A reply's text: 1 to :data:`MAX_REPLY` characters once trimmed."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationFailed({"body": [_("Write a reply.")]})
    body = raw.replace("\r\n", "\n").strip()
    if len(body) > MAX_REPLY:
        raise ValidationFailed(
            {"body": [_("A reply may have at most %(max)d characters.", max=MAX_REPLY)]}
        )
    return body


def replies(actor: Membership, object_key: str, record_id: int) -> list[ActivityReply]:
    """The thread of a record the actor sees, oldest first (the latest :data:`MAX_THREAD`)."""
    visible_record(actor, object_key, record_id)
    rows = db.session.execute(
        select(ActivityReply)
        .where(
            ActivityReply.object_key == object_key,
            ActivityReply.record_id == record_id,
            ActivityReply.deleted_at.is_(None),
        )
        .order_by(ActivityReply.id.desc())
        .limit(MAX_THREAD)
    ).scalars()
    return list(reversed(list(rows)))


def reply(actor: Membership, object_key: str, record_id: int, body: Any) -> ActivityReply:
    """Add a reply to a record's thread; its owner and the earlier repliers are notified."""
    record = visible_record(actor, object_key, record_id)
    if not may_reply(actor, record):
        raise Forbidden(_("Only the record's owner and managers can reply here."))
    text = clean_body(body)
    row = ActivityReply(
        object_key=object_key, record_id=record.id, author_id=actor.user_id, body=text
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        "reply.created",
        "activity_reply",
        row.id,
        after={"object_key": object_key, "record_id": record.id, "body": text},
    )
    earlier = db.session.execute(
        select(ActivityReply.author_id)
        .where(
            ActivityReply.object_key == object_key,
            ActivityReply.record_id == record.id,
            ActivityReply.deleted_at.is_(None),
            ActivityReply.author_id.is_not(None),
        )
        .distinct()
    ).scalars()
    recipients = {record.owner_id, *earlier} - {None, actor.user_id}
    active = _member_ids()
    excerpt = text if len(text) <= 80 else text[:79] + "…"
    notifications.notify_many(
        {
            "user_id": user_id,
            "kind": "activity.reply",
            "object_key": object_key,
            "record_id": record.id,
            "params": {
                "actor": actor.user.display_name,
                "name": record.name or f"#{record.id}",
                "excerpt": excerpt,
            },
        }
        for user_id in sorted(recipients & active)
    )
    db.session.commit()
    return row


def get_reply(actor: Membership, reply_id: int) -> ActivityReply:
    """A reply on a record the actor sees (404 otherwise, deleted ones included)."""
    row = db.session.execute(
        select(ActivityReply).where(
            ActivityReply.id == reply_id, ActivityReply.deleted_at.is_(None)
        )
    ).scalar_one_or_none()
    if row is None:
        raise DomainError(_("There is no such reply."), status=404)
    try:
        visible_record(actor, row.object_key, row.record_id)
    except (RecordNotFound, DomainError):
        raise DomainError(_("There is no such reply."), status=404) from None
    return row


def delete_reply(actor: Membership, reply_id: int) -> None:
    """Delete one of one's own replies (from a record one still sees)."""
    row = get_reply(actor, reply_id)
    if row.author_id != actor.user_id:
        raise Forbidden(_("You can delete only your own replies."))
    row.deleted_at = func.now()
    audit.record(
        "reply.deleted",
        "activity_reply",
        row.id,
        before={"object_key": row.object_key, "record_id": row.record_id, "body": row.body},
    )
    db.session.commit()


def authors(rows: Iterable[ActivityReply]) -> dict[int, str]:
    """Author id → name, for showing a thread."""
    ids = {r.author_id for r in rows if r.author_id is not None}
    if not ids:
        return {}
    members = db.session.execute(select(Membership).where(Membership.user_id.in_(ids))).scalars()
    return {m.user_id: m.user.display_name for m in members}


# ---------------------------------------------------------------- logging and completing


def _clean_time(
    raw: Any, actor: Membership, key: str, errors: dict[str, list[str]], *, error_key: str = ""
) -> datetime | None:
    """A date-time from a form or the API (without an offset: in the person's time zone),
    cleaned as the activity's field ``key``; a problem is noted under ``error_key``."""
    from saas.records import services

    error_key = error_key or key
    info = _field("activity", key)
    if info is None:
        errors[error_key] = [_("There is no field “%(key)s”.", key=key)]
        return None
    ctx = replace(services.context(), timezone=_timezone(actor).key)
    try:
        return types.get("datetime").clean(raw, info.spec, ctx)
    except FieldValueError as exc:
        errors[error_key] = [exc.message]
        return None


def _clean_result(raw: Any, kind: Any, errors: dict[str, list[str]]) -> str | None:
    if raw is not None and not isinstance(raw, str):
        errors["result"] = [_("Enter the result as text.")]
        return None
    text = (raw or "").replace("\r\n", "\n").strip()
    if not text and kind in RESULT_REQUIRED_TYPES:
        errors["result"] = [_("Enter the result of the visit.")]
    return text or None


def _check_not_future(
    when: datetime | None, now: datetime, errors: dict[str, list[str]], *, key: str = "done_at"
) -> None:
    if when is not None and when > now + FUTURE_TOLERANCE and key not in errors:
        errors[key] = [_("A done activity cannot be dated in the future.")]


def complete(
    actor: Membership,
    activity_id: int,
    result: Any,
    done_at: Any = None,
    *,
    now: datetime | None = None,
) -> RecordColumns:
    """Mark a planned activity done with its result (required for visits), at ``done_at``
    (default: now; not ahead of the clock). Saved through the record service: field access
    applies, the change is audited and the customer's activity clock moves."""
    from saas.records import services

    _require_writer(actor)
    now = now or utcnow()
    activity = visible_record(actor, "activity", activity_id)
    data = activity.data or {}
    if data.get("status") == "done":
        raise DomainError(_("This activity is done already."), field="status", status=409)
    errors: dict[str, list[str]] = {}
    when = now if done_at in (None, "") else _clean_time(done_at, actor, "done_at", errors)
    _check_not_future(when, now, errors)
    text = _clean_result(result, data.get("type"), errors)
    if errors:
        raise ValidationFailed(errors)
    payload: dict[str, Any] = {"status": "done", "done_at": _iso(when or now)}
    if text is not None:
        payload["result"] = text
    return services.update_record(actor, "activity", activity.id, payload, activity.version)


def log_activity(
    actor: Membership,
    object_key: str,
    record_id: int,
    values: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> RecordColumns:
    """Create an activity linked to a customer, contact or opportunity (and, from a contact or
    an opportunity, to its customer as well). ``values``: ``type``, ``status`` (``done`` or
    ``planned``), ``at`` (when it was done, default now; when it is due, required), ``content``,
    ``result``, ``next_step`` and optionally ``name`` (default: the type and the record's
    name)."""
    from saas.records import services

    _require_writer(actor)
    if object_key not in LINKED:
        raise RecordNotFound(_("There is no such record."))
    record = visible_record(actor, object_key, record_id)
    now = now or utcnow()
    errors: dict[str, list[str]] = {}
    kind = values.get("type")
    known = {code for code, _label in type_choices("en")}
    if not isinstance(kind, str) or kind not in known:
        errors["type"] = [_("Choose the kind of follow-up.")]
    status = values.get("status") or "done"
    if status not in ("done", "planned"):
        errors["status"] = [_("Choose done or planned.")]
    at_raw = values.get("at")
    time_key = "done_at" if status == "done" else "due_at"
    when = None
    if at_raw not in (None, ""):
        when = _clean_time(at_raw, actor, time_key, errors, error_key="at")
    elif status == "planned":
        errors["at"] = [_("Choose when it is planned.")]
    if status == "done":
        when = when or now
        _check_not_future(when, now, errors, key="at")
    # A result is needed for a done visit; a planned one has none yet.
    result = _clean_result(values.get("result"), kind if status == "done" else None, errors)
    name = values.get("name")
    if name is not None and not isinstance(name, str):
        errors["name"] = [_("Enter a name of at most 255 characters.")]
    if errors:
        raise ValidationFailed(errors)
    locale = ui_locale()
    if not name or not name.strip():
        name = f"{choice_label('activity', 'type', kind, locale)} · {record.name or record.id}"
    payload: dict[str, Any] = {
        "name": name.strip()[:255],
        "type": kind,
        "status": status,
        object_key: record.id,
    }
    assert when is not None
    payload[time_key] = _iso(when)
    for key in ("content", "next_step"):
        value = values.get(key)
        if isinstance(value, str) and value.strip():
            payload[key] = value.replace("\r\n", "\n").strip()
        elif value not in (None, ""):
            payload[key] = value  # the record service names what is wrong with it
    if result:
        payload["result"] = result
    customer = (record.data or {}).get("account") if object_key != "account" else None
    if isinstance(customer, int) and not isinstance(customer, bool):
        payload["account"] = customer
    return services.create_record(actor, "activity", payload)


def ui_locale() -> str:
    """``zh_CN`` or ``en``: the language of the request (``en`` outside one)."""
    from flask import has_request_context
    from flask_babel import get_locale

    if not has_request_context():
        return "en"
    return "zh_CN" if str(get_locale() or "en").startswith("zh") else "en"


# ---------------------------------------------------------------- reminders


@dataclass(frozen=True)
class Item:
    """An activity as reminders and the calendar show it."""

    id: int
    name: str
    type: str | None
    type_label: str
    status: str | None
    at: datetime | None
    owner_id: int | None
    link: tuple[str, int] | None = None
    link_name: str | None = None
    overdue: bool = False

    @property
    def title(self) -> str:
        """The type and the linked record's name ("Visit · Huaxin Trading")."""
        subject = self.link_name or self.name
        return f"{self.type_label} · {subject}" if self.type_label else subject

    @property
    def minutes(self) -> int:
        return DURATIONS.get(self.type or "", DEFAULT_DURATION)

    @property
    def end(self) -> datetime | None:
        return self.at + timedelta(minutes=self.minutes) if self.at is not None else None


@dataclass(frozen=True)
class Reminders:
    """A person's planned activities due before the end of their day: how many are overdue,
    how many are still due today, and the first ones by due time."""

    overdue: int
    today: int
    items: list[Item]
    now: datetime

    @property
    def total(self) -> int:
        return self.overdue + self.today


def _when(data: Mapping[str, Any]) -> datetime | None:
    """When an activity happened (done) or is due (planned), as the calendar places it."""
    return _parse_stored(data.get("done_at") or data.get("due_at"))


def _items(actor: Membership, rows: Iterable[Activity], now: datetime) -> list[Item]:
    rows = list(rows)
    locale = ui_locale()
    links = {r.id: _link_of(r.data or {}) for r in rows}
    names = names_of(actor, [link for link in links.values() if link is not None])
    items = []
    for r in rows:
        data = r.data or {}
        at = _when(data)
        link = links[r.id]
        items.append(
            Item(
                id=r.id,
                name=r.name or f"#{r.id}",
                type=data.get("type"),
                type_label=choice_label("activity", "type", data.get("type"), locale),
                status=data.get("status"),
                at=at,
                owner_id=r.owner_id,
                link=link,
                link_name=names.get(link) if link is not None else None,
                overdue=(data.get("status") == "planned" and at is not None and at < now),
            )
        )
    return items


def end_of_day(actor: Membership, now: datetime) -> datetime:
    """Midnight after ``now`` in the person's time zone."""
    zone = _timezone(actor)
    local = now.astimezone(zone)
    return datetime.combine(local.date() + timedelta(days=1), time(), tzinfo=zone)


def reminders(
    actor: Membership, now: datetime | None = None, *, limit: int = REMINDER_LIMIT
) -> Reminders:
    """The person's own planned activities that are overdue (due before ``now``) or due later
    today (in their time zone), soonest first. Planned activities without a due time and done
    ones are not reminders."""
    now = now or utcnow()
    due = _stamp(Activity.data, "due_at")
    now_iso, end_iso = _iso(now), _iso(end_of_day(actor, now))
    mine = and_(_tenant(Activity), Activity.owner_id == actor.user_id, _planned(), due < end_iso)
    with _reading() as session:
        overdue, today = session.execute(
            select(func.count().filter(due < now_iso), func.count().filter(due >= now_iso)).where(
                mine
            )
        ).one()
        rows = list(
            session.execute(
                select(Activity).where(mine).order_by(due, Activity.id).limit(limit)
            ).scalars()
        )
    return Reminders(overdue, today, _items(actor, rows, now), now)


def reminder_count(actor: Membership, now: datetime | None = None) -> int:
    """How many reminders the person has (the navigation's badge)."""
    now = now or utcnow()
    due = _stamp(Activity.data, "due_at")
    stmt = select(func.count()).where(
        _tenant(Activity),
        Activity.owner_id == actor.user_id,
        _planned(),
        due < _iso(end_of_day(actor, now)),
    )
    with _reading() as session:
        return session.execute(stmt).scalar_one()


# ---------------------------------------------------------------- calendar


@dataclass(frozen=True)
class Calendar:
    """Activities in ``[start, end)`` of the people asked for; ``truncated`` when more than
    :data:`CALENDAR_LIMIT` matched."""

    start: datetime
    end: datetime
    items: list[Item]
    truncated: bool
    team_id: int | None = None
    people: list[int] = field(default_factory=list)


def parse_moment(raw: Any, zone: ZoneInfo, key: str) -> datetime:
    """A day (``YYYY-MM-DD``: its midnight) or a date-time (without an offset: in ``zone``)."""
    if isinstance(raw, datetime):
        moment = raw
    elif isinstance(raw, date):
        moment = datetime.combine(raw, time())
    elif isinstance(raw, str) and raw.strip():
        text = raw.strip().replace("Z", "+00:00")
        try:
            moment = (
                datetime.combine(date.fromisoformat(text), time())
                if len(text) == 10
                else datetime.fromisoformat(text)
            )
        except ValueError:
            raise ValidationFailed(
                {key: [_("Enter a date as YYYY-MM-DD or a date and time as YYYY-MM-DDTHH:MM.")]}
            ) from None
    else:
        raise ValidationFailed({key: [_("Enter a date as YYYY-MM-DD.")]})
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    if not 2 <= moment.year <= 9998:
        raise ValidationFailed({key: [_("Enter a date between the years 2 and 9998.")]})
    return moment.astimezone(UTC)


def visible_teams(actor: Membership) -> list[Any]:
    """The teams whose calendars ``actor`` may open (tree nodes with their paths): every team
    for a role that sees all records, the person's own team (and those below it) for a team
    scope, none for "own records only"."""
    from tenants import teams

    nodes = teams.list_teams()
    scope = permissions.object_scope(actor.role_key, "activity")
    if scope == DataScope.ALL:
        return nodes
    if scope == DataScope.OWN or actor.team_id is None:
        return []
    by_id = {n.id: n for n in nodes}
    own = by_id.get(actor.team_id)
    if own is None:
        return []
    if scope == DataScope.TEAM:
        return [own]
    below: list[Any] = []

    def walk(node: Any) -> None:
        below.append(node)
        for child in node.children:
            walk(child)

    walk(own)
    return below


def _team_people(actor: Membership, team_id: Any) -> list[int]:
    """Active members of a team the actor may see, and of its sub-teams the actor may see."""
    if isinstance(team_id, bool) or not isinstance(team_id, int):
        raise ValidationFailed({"team": [_("Choose a team.")]})
    nodes = {n.id: n for n in visible_teams(actor)}
    node = nodes.get(team_id)
    if node is None:
        raise ValidationFailed({"team": [_("Choose a team whose calendar you may see.")]})
    team_ids: set[int] = set()

    def walk(n: Any) -> None:
        if n.id in nodes:
            team_ids.add(n.id)
        for child in n.children:
            walk(child)

    walk(node)
    return list(
        db.session.execute(
            select(Membership.user_id).where(
                Membership.team_id.in_(team_ids), Membership.status == MembershipStatus.ACTIVE
            )
        ).scalars()
    )


def calendar(
    actor: Membership,
    start: Any,
    end: Any,
    *,
    team_id: int | None = None,
) -> Calendar:
    """The actor's activities (or, with ``team_id``, those of the people of a team they may
    see) that happen (done) or are due (planned) in ``[start, end)``, by time. ``start`` and
    ``end`` are days or date-times (in the person's time zone without an offset), at most
    :data:`MAX_CALENDAR_DAYS` apart."""
    zone = _timezone(actor)
    errors: dict[str, list[str]] = {}
    begin = finish = None
    for key, raw in (("start", start), ("end", end)):
        try:
            moment = parse_moment(raw, zone, key)
        except ValidationFailed as exc:
            errors.update(exc.errors)
            continue
        if key == "start":
            begin = moment
        else:
            finish = moment
    if begin is not None and finish is not None:
        if finish <= begin:
            errors["end"] = [_("The end must come after the start.")]
        elif finish - begin > timedelta(days=MAX_CALENDAR_DAYS):
            errors["end"] = [_("Ask for at most %(days)d days at a time.", days=MAX_CALENDAR_DAYS)]
    if errors:
        raise ValidationFailed(errors)
    assert begin is not None and finish is not None
    people = [actor.user_id] if team_id is None else _team_people(actor, team_id)
    at = _calendar_time()
    stmt = select(Activity).where(
        _tenant(Activity),
        Activity.deleted_at.is_(None),
        Activity.owner_id.in_(people),
        at >= _iso(begin),
        at < _iso(finish),
    )
    scope = scope_clause(Activity, actor, "activity")
    if scope is not None:
        stmt = stmt.where(scope)
    with _reading() as session:
        rows = list(
            session.execute(stmt.order_by(at, Activity.id).limit(CALENDAR_LIMIT + 1)).scalars()
        )
    truncated = len(rows) > CALENDAR_LIMIT
    items = _items(actor, rows[:CALENDAR_LIMIT], utcnow())
    return Calendar(begin, finish, items, truncated, team_id, people)


# ---------------------------------------------------------------- visit targets


def install_default_targets(connection: sa.Connection, tenant_id: int) -> None:
    """Give a new company the default targets, in the caller's transaction (signup)."""
    table = VisitTarget.__table__
    connection.execute(
        sa.insert(table),
        [{"tenant_id": tenant_id, "grade": g, "days": d} for g, d in DEFAULT_TARGETS.items()],
    )


def current_targets() -> dict[str, int]:
    """Grade code → days, for the company in context."""
    rows = db.session.execute(select(VisitTarget.grade, VisitTarget.days)).all()
    return {grade: days for grade, days in rows}


@dataclass(frozen=True)
class TargetRow:
    """One grade on the settings page: its code, label, target (``None``: none) and whether
    the grade is still offered."""

    grade: str
    label: str
    days: int | None
    active: bool


def grade_choices(locale: str) -> list[tuple[str, str, bool]]:
    """(code, label, active) of the customers' grades."""
    info = _field("account", "grade")
    if info is None:
        return [(code, code, True) for code in DEFAULT_TARGETS]
    return [(c.code, c.label(locale), c.active) for c in info.spec.choices]


def target_rows(locale: str) -> list[TargetRow]:
    """Every grade with its target, in the picklist's order (a target of a grade no longer in
    the picklist is listed last)."""
    targets = current_targets()
    rows = [
        TargetRow(code, label, targets.get(code), active)
        for code, label, active in grade_choices(locale)
    ]
    known = {r.grade for r in rows}
    rows += [TargetRow(g, g, d, False) for g, d in sorted(targets.items()) if g not in known]
    return rows


def set_visit_targets(actor: Membership, targets: Mapping[str, Any]) -> dict[str, int]:
    """Replace the company's targets (owners and admins): grade code → days from 1 to
    :data:`MAX_TARGET_DAYS`, or ``None`` for no target. A grade left out has no target.
    Errors name ``targets.<grade>``."""
    if actor.role_key not in ADMIN_ROLES:
        raise Forbidden(_("Only owners and administrators can do this."))
    known = {code for code, _label, _active in grade_choices("en")}
    errors: dict[str, list[str]] = {}
    wanted: dict[str, int] = {}
    for grade, days in targets.items():
        key = f"targets.{str(grade)[:40]}"
        if not isinstance(grade, str) or grade not in known:
            errors[key] = [_("There is no grade “%(code)s”.", code=str(grade)[:40])]
            continue
        if days is None:
            continue
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_TARGET_DAYS:
            errors[key] = [
                _("Enter a whole number of days from 1 to %(max)d.", max=MAX_TARGET_DAYS)
            ]
            continue
        wanted[grade] = days
    if errors:
        raise ValidationFailed(errors)
    stored = {t.grade: t for t in db.session.execute(select(VisitTarget)).scalars()}
    before = {g: t.days for g, t in stored.items()}
    for grade, row in stored.items():
        if grade not in wanted:
            db.session.delete(row)
        elif row.days != wanted[grade]:
            row.days = wanted[grade]
    for grade, days in wanted.items():
        if grade not in stored:
            db.session.add(VisitTarget(grade=grade, days=days))
    if before != wanted:
        audit.record(
            "visit_targets.changed", "tenant", current_tenant_id(), before=before, after=wanted
        )
    db.session.commit()
    return dict(sorted(wanted.items()))


# ---------------------------------------------------------------- behind target


@dataclass(frozen=True)
class BehindRow:
    """A customer behind its visit target: when it was last contacted (``None``: never), since
    when its owner has it, its target and how many days it is overdue."""

    account_id: int
    name: str
    owner_id: int | None
    grade: str
    target_days: int
    last_contact_at: datetime | None
    owned_since: datetime
    overdue_days: int

    @property
    def due_at(self) -> datetime:
        start = self.last_contact_at or self.owned_since
        return start + timedelta(days=self.target_days)


@dataclass(frozen=True)
class BehindPage:
    rows: list[BehindRow]
    next_cursor: str | None
    targets: dict[str, int]


def _cursor(raw: Any) -> int | None:
    if raw in (None, ""):
        return None
    text = str(raw)
    if not text.isdigit() or len(text) > 18 or int(text) < 1:
        raise ValidationFailed(
            {"cursor": [_("This cursor is not valid; start from the first page.")]}
        )
    return int(text)


def behind_target(
    actor: Membership,
    now: datetime | None = None,
    grade: str | None = None,
    *,
    cursor: Any = None,
    limit: int = BEHIND_PAGE,
) -> BehindPage:
    """Owned customers in the actor's data scope that are behind their grade's visit target
    (see the module's docstring), most recently added first, a page at a time (keyset on the
    customer's id: ``cursor`` is the ``next_cursor`` of the page before)."""
    now = now or utcnow()
    limit = max(1, min(int(limit), 200))
    before = _cursor(cursor)
    targets = current_targets()
    info = _field("account", "grade")
    if grade:
        if info is None or info.access_for(actor.role_key) == "hidden":
            raise ValidationFailed({"grade": [_("There is no field “%(key)s”.", key="grade")]})
        if grade not in {code for code, _label, _active in grade_choices("en")}:
            raise ValidationFailed({"grade": [_("There is no grade “%(code)s”.", code=grade[:40])]})
        chosen = {grade: targets[grade]} if grade in targets else {}
    else:
        chosen = targets
    if not chosen:
        return BehindPage([], None, targets)

    account_grade = _text(Account.data, "grade")
    done_at = _stamp(Activity.data, "done_at")
    last = (
        select(func.max(done_at).label("at"))
        .where(
            _tenant(Activity),
            _text(Activity.data, "account") == cast(Account.id, Text),
            _contact_done(),
        )
        .correlate(Account)
        .lateral("last_contact")
    )
    cutoff = {g: now - timedelta(days=d) for g, d in chosen.items()}
    contact_cutoff = case(
        *((account_grade == g, _iso(c)) for g, c in cutoff.items()), else_=None
    ).collate("C")
    owned_cutoff = case(
        *((account_grade == g, sa.literal(c, DateTime(timezone=True))) for g, c in cutoff.items()),
        else_=None,
    )
    owned_start = func.coalesce(Account.owned_since, Account.created_at)
    stmt = (
        select(
            Account.id,
            Account.name,
            Account.owner_id,
            account_grade.label("grade"),
            owned_start.label("owned_start"),
            last.c.at,
        )
        .select_from(Account)
        .join(last, true())
        .where(
            _tenant(Account),
            Account.owner_id.is_not(None),
            Account.deleted_at.is_(None),
            account_grade.in_(sorted(chosen)),
            or_(
                last.c.at < contact_cutoff,
                and_(last.c.at.is_(None), owned_start < owned_cutoff),
            ),
        )
        .order_by(Account.id.desc())
        .limit(limit + 1)
    )
    scope = scope_clause(Account, actor, "account")
    if scope is not None:
        stmt = stmt.where(scope)
    if before is not None:
        stmt = stmt.where(Account.id < before)
    with _reading() as session:
        found = session.execute(stmt).all()
    more = len(found) > limit
    rows = []
    for r in found[:limit]:
        days = chosen[r.grade]
        last_at = _parse_stored(r.at)
        start = last_at or r.owned_start
        rows.append(
            BehindRow(
                account_id=r.id,
                name=r.name or f"#{r.id}",
                owner_id=r.owner_id,
                grade=r.grade,
                target_days=days,
                last_contact_at=last_at,
                owned_since=r.owned_start,
                overdue_days=max(0, (now - (start + timedelta(days=days))).days),
            )
        )
    next_cursor = str(found[limit - 1].id) if more else None
    return BehindPage(rows, next_cursor, targets)


@dataclass(frozen=True)
class ContactStatus:
    """A customer's latest contact and its grade's target, for its record page."""

    last_contact_at: datetime | None
    target_days: int | None
    behind: bool


def contact_status(account: RecordColumns, now: datetime | None = None) -> ContactStatus:
    """When the customer was last contacted and whether it is behind its target."""
    now = now or utcnow()
    with _reading() as session:
        last_text = session.execute(
            select(func.max(_stamp(Activity.data, "done_at"))).where(
                _tenant(Activity),
                _text(Activity.data, "account") == str(account.id),
                _contact_done(),
            )
        ).scalar_one()
    last = _parse_stored(last_text)
    grade = (account.data or {}).get("grade")
    days = current_targets().get(grade) if isinstance(grade, str) else None
    behind = False
    if days is not None and account.owner_id is not None:
        start = last or getattr(account, "owned_since", None) or account.created_at
        behind = start is not None and start < now - timedelta(days=days)
    return ContactStatus(last, days, behind)
