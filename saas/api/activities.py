"""Visits and follow-ups under ``/api/v1/t/<slug>/``: reply threads on records (批复),
completing planned activities, the caller's reminders, the calendar feed, the company's visit
frequency targets and the customers behind them (``saas.crm.activities``)."""

from __future__ import annotations

from typing import Any

from flask import g, url_for
from flask_babel import gettext as _
from marshmallow import Schema, fields, validate

from saas.api.blueprint import ApiBlueprint
from saas.api.records import RECORD_DOC
from saas.api.schemas import StrictSchema
from saas.crm import activities
from saas.errors import ValidationFailed
from saas.records import services
from tenants.resolution import attach_api_tenant

bp = ApiBlueprint(
    "api_activities", __name__, description="Visits and follow-ups: replies, reminders, calendar"
)
attach_api_tenant(bp)
SECURITY = [{"bearerAuth": []}]


def _record_url(object_key: str, record_id: int) -> str:
    return url_for("records.detail", object_key=object_key, record_id=record_id)


# ---------------------------------------------------------------- schemas


class ReplyIn(StrictSchema):
    body = fields.String(
        required=True, metadata={"description": f"1 to {activities.MAX_REPLY} characters"}
    )


class ReplyOut(Schema):
    id = fields.Integer()
    object_key = fields.String()
    record_id = fields.Integer()
    author_id = fields.Integer(allow_none=True)
    author_name = fields.String(allow_none=True)
    body = fields.String()
    created_at = fields.DateTime()


class ThreadOut(Schema):
    data = fields.List(fields.Nested(ReplyOut), metadata={"description": "Oldest first"})
    can_reply = fields.Boolean(metadata={"description": "Whether the caller may reply here"})


class CompleteIn(StrictSchema):
    result = fields.String(
        allow_none=True,
        load_default=None,
        metadata={"description": "Required for visits"},
    )
    done_at = fields.String(
        allow_none=True,
        load_default=None,
        metadata={
            "description": "When it was done (ISO 8601; without an offset: in your time zone). "
            "Default: now. Not in the future."
        },
    )


class ItemOut(Schema):
    id = fields.Integer()
    name = fields.String()
    title = fields.String(metadata={"description": "The type and the linked record's name"})
    type = fields.String(allow_none=True)
    type_label = fields.String()
    status = fields.String(allow_none=True, metadata={"description": "planned | done"})
    start = fields.DateTime(
        attribute="at", allow_none=True, metadata={"description": "Done at, else due at"}
    )
    end = fields.DateTime(allow_none=True)
    duration_minutes = fields.Integer(attribute="minutes")
    owner_id = fields.Integer(allow_none=True)
    overdue = fields.Boolean(metadata={"description": "Planned and due before now"})
    record = fields.Method("_record", metadata={"description": "The customer, contact or deal"})
    url = fields.Method("_url", metadata={"description": "The activity's page"})

    def _record(self, item: activities.Item) -> dict[str, Any] | None:
        if item.link is None:
            return None
        return {"object_key": item.link[0], "id": item.link[1], "name": item.link_name}

    def _url(self, item: activities.Item) -> str:
        return _record_url("activity", item.id)


class RemindersOut(Schema):
    overdue = fields.Integer(metadata={"description": "Planned, due before now"})
    today = fields.Integer(metadata={"description": "Planned, due later today"})
    total = fields.Integer()
    data = fields.List(
        fields.Nested(ItemOut), attribute="items", metadata={"description": "Soonest first"}
    )


class CalendarQuery(Schema):
    start = fields.String(
        required=True,
        metadata={"description": "A day (YYYY-MM-DD) or date-time; in your time zone"},
    )
    end = fields.String(
        required=True,
        metadata={
            "description": f"Exclusive; at most {activities.MAX_CALENDAR_DAYS} days after start"
        },
    )
    team = fields.Integer(
        metadata={"description": "A team whose calendar you may see; default: your own"}
    )


class CalendarOut(Schema):
    start = fields.DateTime()
    end = fields.DateTime()
    team_id = fields.Integer(allow_none=True)
    truncated = fields.Boolean(
        metadata={"description": f"More than {activities.CALENDAR_LIMIT} activities matched"}
    )
    data = fields.List(fields.Nested(ItemOut), attribute="items")


class VisitTargetIn(StrictSchema):
    grade = fields.String(required=True, validate=validate.Length(min=1, max=60))
    days = fields.Integer(
        required=True,
        allow_none=True,
        strict=True,
        metadata={"description": f"1 to {activities.MAX_TARGET_DAYS}; null: no target"},
    )


class VisitTargetsIn(StrictSchema):
    targets = fields.List(
        fields.Nested(VisitTargetIn),
        required=True,
        validate=validate.Length(max=200),
        metadata={"description": "Replaces every target: a grade left out has none"},
    )


class VisitTargetOut(Schema):
    grade = fields.String()
    label = fields.String()
    days = fields.Integer(allow_none=True, metadata={"description": "null: no target"})
    active = fields.Boolean(metadata={"description": "Whether the grade is still offered"})


class VisitTargetsOut(Schema):
    targets = fields.List(fields.Nested(VisitTargetOut))


class BehindQuery(Schema):
    grade = fields.String(validate=validate.Length(max=60))
    cursor = fields.String(metadata={"description": "`next_cursor` of the previous page"})
    limit = fields.Integer(
        load_default=activities.BEHIND_PAGE, validate=validate.Range(min=1, max=200)
    )


class BehindOut(Schema):
    account_id = fields.Integer()
    name = fields.String()
    owner_id = fields.Integer(allow_none=True)
    grade = fields.String()
    target_days = fields.Integer()
    last_contact_at = fields.DateTime(allow_none=True, metadata={"description": "null: never"})
    owned_since = fields.DateTime()
    due_at = fields.DateTime(metadata={"description": "When the next contact was due"})
    overdue_days = fields.Integer()
    url = fields.Method("_url")

    def _url(self, row: activities.BehindRow) -> str:
        return _record_url("account", row.account_id)


class BehindPageOut(Schema):
    data = fields.List(fields.Nested(BehindOut), attribute="rows")
    next_cursor = fields.String(allow_none=True)


# ---------------------------------------------------------------- replies


def _replies(rows: list[activities.ActivityReply]) -> list[dict[str, Any]]:
    names = activities.authors(rows)
    return [
        {
            "id": r.id,
            "object_key": r.object_key,
            "record_id": r.record_id,
            "author_id": r.author_id,
            "author_name": names.get(r.author_id) if r.author_id is not None else None,
            "body": r.body,
            "created_at": r.created_at,
        }
        for r in rows
    ]


def _thread(object_key: str, record_id: int) -> dict[str, Any]:
    rows = activities.replies(g.membership, object_key, record_id)
    record = services.get_record(object_key, record_id)
    return {"data": _replies(rows), "can_reply": activities.may_reply(g.membership, record)}


@bp.get("/replies/<object_key>/<int:record_id>")
@bp.doc(security=SECURITY)
@bp.response(200, ThreadOut)
def list_replies(object_key: str, record_id: int):
    """The reply thread (批复) of a record you see, oldest first."""
    return _thread(object_key, record_id)


@bp.post("/replies/<object_key>/<int:record_id>")
@bp.doc(security=SECURITY)
@bp.arguments(ReplyIn)
@bp.response(201, ReplyOut)
def create_reply(body: dict, object_key: str, record_id: int):
    """Reply on a record: its owner, or a manager or administrator over it. The owner and
    the earlier repliers are notified."""
    row = activities.reply(g.membership, object_key, record_id, body["body"])
    return _replies([row])[0]


@bp.delete("/replies/<int:reply_id>")
@bp.doc(security=SECURITY)
@bp.response(204)
def delete_reply(reply_id: int):
    """Delete one of your own replies."""
    activities.delete_reply(g.membership, reply_id)


# ---------------------------------------------------------------- activities


@bp.post("/activities/<int:activity_id>/complete")
@bp.doc(security=SECURITY)
@bp.arguments(CompleteIn)
@bp.response(200, description=RECORD_DOC)
def complete_activity(body: dict, activity_id: int):
    """Mark a planned activity done with its result; ``409`` when it is done already."""
    record = activities.complete(g.membership, activity_id, body["result"], body["done_at"])
    st = services.store("activity")
    return (
        services.serialize(st, record, g.membership),
        200,
        {"ETag": f'"v{record.version}"'},
    )


@bp.get("/reminders")
@bp.doc(security=SECURITY)
@bp.response(200, RemindersOut)
def get_reminders():
    """Your planned activities that are overdue or due later today (in your time zone):
    the counts and the first 20, soonest first."""
    return activities.reminders(g.membership)


@bp.get("/calendar")
@bp.doc(security=SECURITY)
@bp.arguments(CalendarQuery, location="query")
@bp.response(200, CalendarOut)
def get_calendar(query: dict):
    """Activities in ``[start, end)``: yours, or with ``team`` those of a team whose records
    you see. Done activities are placed when they were done, planned ones when they are
    due."""
    return activities.calendar(
        g.membership, query["start"], query["end"], team_id=query.get("team")
    )


# ---------------------------------------------------------------- visit targets


def _targets() -> dict[str, Any]:
    return {"targets": activities.target_rows(activities.ui_locale())}


@bp.get("/settings/visit-targets")
@bp.doc(security=SECURITY)
@bp.response(200, VisitTargetsOut)
def get_visit_targets():
    """Every customer grade with its visit frequency target (days between contacts)."""
    return _targets()


@bp.put("/settings/visit-targets")
@bp.doc(security=SECURITY)
@bp.arguments(VisitTargetsIn)
@bp.response(200, VisitTargetsOut)
def put_visit_targets(body: dict):
    """Replace the visit frequency targets (owners and admins)."""
    wanted: dict[str, int | None] = {}
    for item in body["targets"]:
        if item["grade"] in wanted:
            raise ValidationFailed({f"targets.{item['grade']}": [_("This grade is listed twice.")]})
        wanted[item["grade"]] = item["days"]
    activities.set_visit_targets(g.membership, wanted)
    return _targets()


@bp.get("/visit-targets/behind")
@bp.doc(security=SECURITY)
@bp.arguments(BehindQuery, location="query")
@bp.response(200, BehindPageOut)
def behind_target(query: dict):
    """Customers you see that are behind their grade's visit target, most recently added
    first; pass ``next_cursor`` back as ``cursor`` for the next page."""
    return activities.behind_target(
        g.membership,
        grade=query.get("grade") or None,
        cursor=query.get("cursor"),
        limit=query["limit"],
    )
