"""Sharing a record beyond the data scope: ``/api/v1/t/<slug>/records/<object>/<id>/shares``."""

from __future__ import annotations

from flask import g
from marshmallow import Schema, fields, validate

from saas.api.blueprint import ApiBlueprint
from saas.api.schemas import StrictSchema
from saas.records import sharing
from tenants.resolution import attach_api_tenant

bp = ApiBlueprint("api_sharing", __name__, description="Records shared with a member or team")
attach_api_tenant(bp)
SECURITY = [{"bearerAuth": []}]


class ShareOut(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "user | team"})
    target_id = fields.Integer(metadata={"description": "The member's user id or the team's id"})
    target_name = fields.String()
    access = fields.String(metadata={"description": "read | edit"})
    created_by = fields.String(allow_none=True)
    created_at = fields.DateTime()


class ShareIn(StrictSchema):
    user_id = fields.Integer(allow_none=True, load_default=None)
    team_id = fields.Integer(
        allow_none=True,
        load_default=None,
        metadata={"description": "A team: its members and those of the teams below it"},
    )
    access = fields.String(load_default="read", validate=validate.OneOf(sharing.ACCESS))


@bp.get("/records/<object_key>/<int:record_id>/shares")
@bp.doc(security=SECURITY)
@bp.response(200, ShareOut(many=True))
def list_shares(object_key: str, record_id: int):
    """Who the record is shared with (to the owner, their managers and administrators)."""
    return sharing.list_shares(g.membership, object_key, record_id)


@bp.post("/records/<object_key>/<int:record_id>/shares")
@bp.doc(security=SECURITY)
@bp.arguments(ShareIn)
@bp.response(201, ShareOut)
def create_share(body: dict, object_key: str, record_id: int):
    """Share the record with one member (``user_id``) or one team (``team_id``) to ``read`` or
    ``edit``; sharing again with the same member or team changes the access. Audited; the
    member is notified."""
    return sharing.share(
        g.membership,
        object_key,
        record_id,
        user_id=body["user_id"],
        team_id=body["team_id"],
        access=body["access"],
    )


@bp.delete("/records/<object_key>/<int:record_id>/shares/<int:share_id>")
@bp.doc(security=SECURITY)
@bp.response(204)
def delete_share(object_key: str, record_id: int, share_id: int):
    """Stop sharing (audited)."""
    sharing.unshare(g.membership, object_key, record_id, share_id)
