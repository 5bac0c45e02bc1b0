"""Data safety API under ``/api/v1/t/<slug>/``: a record's history, removing a record from the
recycle bin for good, and transferring a member's records to a colleague.

* ``GET /records/<object_key>/<record_id>/history?cursor=``: newest first, 50 a page.
* ``POST /records/<object_key>/<record_id>/purge``: owners and admins; the record must be in
  the recycle bin.
* ``GET /members/<user_id>/owned``: live records the member owns, by object.
* ``POST /members/<user_id>/transfer`` ``{"to_user_id": 7, "objects": ["account"]}``: ``200``
  with the counts, or ``202`` with the job when more than 200 records move.
"""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, url_for
from marshmallow import RAISE, Schema, fields, validate

from saas import tracked
from saas.api.blueprint import ApiBlueprint
from saas.crm import transfer
from saas.records import history as history_service
from saas.records import retention
from tenants.resolution import attach_api_tenant

bp = ApiBlueprint("api_history", __name__, description="Record history, purge, transfers")
attach_api_tenant(bp)
SECURITY = [{"bearerAuth": []}]


class HistoryQuery(Schema):
    class Meta:
        unknown = RAISE

    cursor = fields.Integer(
        validate=validate.Range(min=1, max=2**63 - 1),
        metadata={"description": "`next_cursor` of the previous page."},
    )


class TransferIn(Schema):
    class Meta:
        unknown = RAISE

    to_user_id = fields.Raw(required=True, metadata={"description": "The receiving member."})
    objects = fields.Raw(
        allow_none=True,
        metadata={"description": "Object keys to move (default: every object)."},
    )


@bp.get("/records/<object_key>/<int:record_id>/history")
@bp.doc(security=SECURITY)
@bp.arguments(HistoryQuery, location="query")
def record_history(query: dict[str, Any], object_key: str, record_id: int):
    """The record's history: who changed which field from what to what, newest first."""
    entries, next_cursor = history_service.history(
        g.membership, object_key, record_id, query.get("cursor")
    )
    return jsonify({"entries": [e.to_json() for e in entries], "next_cursor": next_cursor})


@bp.post("/records/<object_key>/<int:record_id>/purge")
@bp.doc(security=SECURITY, responses={"204": {"description": "Removed for good."}})
def purge_record(object_key: str, record_id: int):
    """Remove a record from the recycle bin for good (owners and admins)."""
    retention.purge_record(g.membership, object_key, record_id)
    return "", 204


@bp.get("/members/<int:user_id>/owned")
@bp.doc(security=SECURITY)
def owned(user_id: int):
    """How many live records of each object the member owns (owners and admins)."""
    counts = transfer.owned_counts(g.membership, user_id)
    return jsonify({"user_id": user_id, "counts": counts, "total": sum(counts.values())})


@bp.post("/members/<int:user_id>/transfer")
@bp.doc(
    security=SECURITY,
    responses={
        "200": {"description": "Done: `counts` by object and `total`."},
        "202": {"description": "A transfer job (more than 200 records): `id`, `status_url`."},
    },
)
@bp.arguments(TransferIn)
def transfer_records(body: dict[str, Any], user_id: int):
    """Give every live record of the chosen objects the member owns to another member."""
    result = transfer.transfer_all(g.membership, user_id, body["to_user_id"], body.get("objects"))
    if isinstance(result, tracked.TrackedJob):
        status_url = url_for("api_tenant.get_job", job_id=result.id, slug=g.tenant_slug)
        body = {
            "id": result.id,
            "kind": result.kind,
            "status": result.status,
            "total": result.total,
            "status_url": status_url,
        }
        return jsonify(body), 202
    return jsonify(result)
