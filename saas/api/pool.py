"""Public pool and notifications API under ``/api/v1/t/<slug>/``: the pool list, claiming,
releasing and assigning customers, a customer's ownership history, and the caller's in-app
notifications."""

from __future__ import annotations

from typing import Any

from flask import g
from marshmallow import Schema, fields, validate

from saas.api.blueprint import ApiBlueprint
from saas.api.schemas import StrictSchema
from saas.crm import pool
from saas.records.models import Account
from tenants import notifications
from tenants.notifications import Notification
from tenants.resolution import attach_api_tenant

bp = ApiBlueprint("api_pool", __name__, description="Customer ownership, the public pool")
attach_api_tenant(bp)
SECURITY = [{"bearerAuth": []}]


class PoolQuery(Schema):
    limit = fields.Integer(
        load_default=50,
        validate=validate.Range(min=1, max=200),
        metadata={"description": "Customers per page, 1 to 200 (50)."},
    )
    cursor = fields.String(metadata={"description": "`next_cursor` of the previous page."})
    q = fields.String(
        validate=validate.Length(max=100),
        metadata={"description": "Quick search over name, phone, email, pinyin."},
    )
    grade = fields.String(validate=validate.Length(max=60))
    region = fields.String(validate=validate.Length(max=60))
    industry = fields.String(validate=validate.Length(max=60))
    lifecycle_stage = fields.String(validate=validate.Length(max=60))


class PoolAccountOut(Schema):
    id = fields.Integer()
    name = fields.String(allow_none=True)
    created_at = fields.DateTime()
    pool_since = fields.DateTime(allow_none=True, metadata={"description": "When it came back"})
    values = fields.Dict(
        metadata={
            "description": "grade, region, industry and lifecycle_stage codes (fields hidden "
            "from the caller's role are left out)"
        }
    )


class PoolPageOut(Schema):
    data = fields.List(fields.Nested(PoolAccountOut))
    next_cursor = fields.String(allow_none=True)
    count = fields.Integer(metadata={"description": "Customers in the pool, exact up to 10,000."})
    count_exact = fields.Boolean()


class PoolEventOut(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "claim | release | return | assign | transfer"})
    user_id = fields.Integer(allow_none=True, metadata={"description": "null: the scheduler"})
    from_owner_id = fields.Integer(allow_none=True)
    to_owner_id = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)
    created_at = fields.DateTime()


class OwnershipOut(Schema):
    id = fields.Integer()
    name = fields.String(allow_none=True)
    version = fields.Integer()
    owner_id = fields.Integer(allow_none=True, metadata={"description": "null: in the pool"})
    owned_since = fields.DateTime(allow_none=True)
    last_activity_at = fields.DateTime(allow_none=True)
    pool_since = fields.DateTime(allow_none=True)
    review_flagged_at = fields.DateTime(
        allow_none=True, metadata={"description": "Set when the development window ran out"}
    )


class OwnershipHistoryOut(OwnershipOut):
    events = fields.List(fields.Nested(PoolEventOut), metadata={"description": "Newest first"})


class ReleaseIn(StrictSchema):
    reason = fields.String(
        required=True, metadata={"description": "Why it goes back (1–500 characters)."}
    )


class AssignIn(StrictSchema):
    user_id = fields.Integer(required=True, strict=True)
    override_cap = fields.Boolean(
        load_default=False,
        metadata={"description": "Owners and admins: assign even above the company's cap."},
    )


class NotificationQuery(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))
    cursor = fields.Integer(
        validate=validate.Range(min=1, max=2**63 - 1),
        metadata={"description": "`next_cursor` of the previous page."},
    )
    unread = fields.Boolean(load_default=False, metadata={"description": "Only unread ones."})


class NotificationOut(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "pool.released, pool.returned, …"})
    message = fields.Method(
        "_message", metadata={"description": "The text, in the caller's language"}
    )
    object_key = fields.String(allow_none=True)
    record_id = fields.Integer(allow_none=True)
    params = fields.Dict()
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)

    def _message(self, row: Notification) -> str:
        return notifications.message(row)


class NotificationPageOut(Schema):
    data = fields.List(fields.Nested(NotificationOut))
    next_cursor = fields.Integer(allow_none=True)
    unread = fields.Integer(metadata={"description": "How many are unread in all."})


class MarkedOut(Schema):
    marked = fields.Integer()


@bp.get("/pool")
@bp.doc(security=SECURITY)
@bp.arguments(PoolQuery, location="query")
@bp.response(200, PoolPageOut)
def list_pool(query: dict):
    """Customers in the public pool, newest first; every member sees the pool. Filter by the
    picklist codes of ``grade``, ``region``, ``industry``, ``lifecycle_stage``."""
    page = pool.pool_page(
        g.membership,
        cursor=query.get("cursor"),
        limit=query["limit"],
        filters={k: query.get(k) for k in pool.POOL_FILTERS},
        search=query.get("q"),
    )

    def one(account: Account) -> dict[str, Any]:
        return {
            "id": account.id,
            "name": account.name,
            "created_at": account.created_at,
            "pool_since": account.pool_since,
            "values": pool.pool_codes(g.membership, account),
        }

    return {
        "data": [one(a) for a in page.rows],
        "next_cursor": page.next_cursor,
        "count": page.count,
        "count_exact": page.count_exact,
    }


@bp.post("/pool/<int:account_id>/claim")
@bp.doc(security=SECURITY)
@bp.response(200, OwnershipOut)
def claim(account_id: int):
    """Take a customer from the pool. ``409`` when someone else took it first, when the caller
    owns as many customers as the company allows (``pool_owner_cap``), or gave it up too
    recently (``pool_reclaim_days``)."""
    return pool.claim(g.membership, account_id)


@bp.post("/pool/<int:account_id>/assign")
@bp.doc(security=SECURITY)
@bp.arguments(AssignIn)
@bp.response(200, OwnershipOut)
def assign(body: dict, account_id: int):
    """Give a pool customer to a member (managers and admins; a manager within their data
    scope). The cap applies unless an owner or admin sends ``override_cap``."""
    return pool.assign(g.membership, account_id, body["user_id"], override_cap=body["override_cap"])


@bp.post("/accounts/<int:account_id>/release")
@bp.doc(security=SECURITY)
@bp.arguments(ReleaseIn)
@bp.response(200, OwnershipOut)
def release(body: dict, account_id: int):
    """Put a customer back into the pool with a reason: its owner, or a manager or admin over
    the owner's data. The owner is notified when someone else releases it."""
    return pool.release(g.membership, account_id, body["reason"])


@bp.get("/accounts/<int:account_id>/ownership")
@bp.doc(security=SECURITY)
@bp.response(200, OwnershipHistoryOut)
def ownership(account_id: int):
    """A customer's owner, ownership dates and latest 50 pool events."""
    account, events = pool.ownership(g.membership, account_id)
    return {**{k: getattr(account, k) for k in OwnershipOut().fields}, "events": events}


@bp.get("/notifications")
@bp.doc(security=SECURITY)
@bp.arguments(NotificationQuery, location="query")
@bp.response(200, NotificationPageOut)
def list_notifications(query: dict):
    """The caller's notifications, newest first."""
    user_id = g.membership.user_id
    rows, next_cursor = notifications.page(
        user_id, before_id=query.get("cursor"), limit=query["limit"], unread_only=query["unread"]
    )
    return {
        "data": rows,
        "next_cursor": next_cursor,
        "unread": notifications.unread_count(user_id),
    }


@bp.post("/notifications/<int:notification_id>/read")
@bp.doc(security=SECURITY)
@bp.response(200, NotificationOut)
def read_notification(notification_id: int):
    """Mark one of the caller's notifications read (another person's is ``404``)."""
    return notifications.mark_read(g.membership.user_id, notification_id)


@bp.post("/notifications/read-all")
@bp.doc(security=SECURITY)
@bp.response(200, MarkedOut)
def read_all():
    """Mark all the caller's notifications read."""
    return {"marked": notifications.mark_all_read(g.membership.user_id)}
