"""Record API for every object: ``/api/v1/t/<slug>/records/<object>[/<id>]``."""

from __future__ import annotations

from flask import g, request
from marshmallow import INCLUDE, Schema, fields, validate

from saas.api.blueprint import ApiBlueprint
from saas.api.schemas import StrictSchema
from saas.records import services
from tenants.models import WRITE_ROLES
from tenants.resolution import attach_api_tenant, require_roles

bp = ApiBlueprint("api_records", __name__, description="Records of any object")
attach_api_tenant(bp)
SECURITY = [{"bearerAuth": []}]
require_writer = require_roles(WRITE_ROLES)


class RecordIn(Schema):
    """Field keys to values; ``name`` and ``owner_id`` are the system fields you may set."""

    class Meta:
        unknown = INCLUDE  # field keys: the service names unknown ones


#: Records have the object's own fields, so responses pass through without a fixed schema.
RECORD_DOC = (
    "A record: `id`, `version`, `name`, `owner_id`, `created_at`, `updated_at`, `created_by`, "
    "`updated_by`, then one key per field the caller may see (see docs/fields.md for each "
    "type's JSON form). The `ETag` header carries the version."
)


class ListQuery(StrictSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=services.MAX_PAGE))
    cursor = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**63 - 1))


class RecordPage(Schema):
    data = fields.List(fields.Dict(), metadata={"description": RECORD_DOC})
    next_cursor = fields.Integer(allow_none=True)


def _out(record, status: int = 200):
    st = services.store(request.view_args["object_key"])
    body = services.serialize(st, record, g.membership)
    return body, status, {"ETag": f'"v{record.version}"'}


@bp.get("/records/<object_key>")
@bp.doc(security=SECURITY)
@bp.arguments(ListQuery, location="query")
@bp.response(200, RecordPage)
def list_records(query: dict, object_key: str):
    """Records newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""
    rows, next_cursor = services.list_records(
        object_key, limit=query["limit"], before_id=query["cursor"]
    )
    st = services.store(object_key)
    return {
        "data": [services.serialize(st, r, g.membership) for r in rows],
        "next_cursor": next_cursor,
    }


@bp.post("/records/<object_key>")
@bp.doc(security=SECURITY)
@require_writer
@bp.arguments(RecordIn)
@bp.response(201, description=RECORD_DOC)
def create_record(body: dict, object_key: str):
    """Create a record; the answer carries its ``ETag``."""
    return _out(services.create_record(g.membership, object_key, body), 201)


@bp.get("/records/<object_key>/<int:record_id>")
@bp.doc(security=SECURITY)
@bp.response(200, description=RECORD_DOC)
def get_record(object_key: str, record_id: int):
    """One record with its ``ETag`` (send it back as ``If-Match`` to update)."""
    return _out(services.get_record(object_key, record_id))


@bp.patch("/records/<object_key>/<int:record_id>")
@bp.doc(
    security=SECURITY,
    parameters=[
        {"in": "header", "name": "If-Match", "required": True, "schema": {"type": "string"}}
    ],
)
@require_writer
@bp.arguments(RecordIn)
@bp.response(200, description=RECORD_DOC)
def update_record(body: dict, object_key: str, record_id: int):
    """Change some values. ``412`` with the current record when it changed meanwhile."""
    version = services.parse_version(request.headers.get("If-Match"))
    return _out(services.update_record(g.membership, object_key, record_id, body, version))


@bp.delete("/records/<object_key>/<int:record_id>")
@bp.doc(security=SECURITY)
@require_writer
@bp.response(204)
def delete_record(object_key: str, record_id: int):
    """Move the record to the recycle bin."""
    services.delete_record(g.membership, object_key, record_id)


@bp.post("/records/<object_key>/<int:record_id>/restore")
@bp.doc(security=SECURITY)
@require_writer
@bp.response(200, description=RECORD_DOC)
def restore_record(object_key: str, record_id: int):
    """Bring a record back from the recycle bin."""
    return _out(services.restore_record(g.membership, object_key, record_id))
