"""Record API for every object: ``/api/v1/t/<slug>/records/<object>[/<id>]``."""

from __future__ import annotations

from flask import g, request
from marshmallow import INCLUDE, RAISE, Schema, fields

from saas.api.blueprint import ApiBlueprint
from saas.api.duplicates import ALLOW_PARAMETER, check_from_request, with_duplicates
from saas.records import queries, services
from tenants.resolution import attach_api_tenant, require_right

bp = ApiBlueprint("api_records", __name__, description="Records of any object")
attach_api_tenant(bp)
SECURITY = [{"bearerAuth": []}]


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


class ListQuery(Schema):
    """The URL form of a query (see docs/api.md): filter conditions, logic, sort, paging."""

    class Meta:
        unknown = RAISE

    f = fields.List(
        fields.String(),
        metadata={"description": "A condition `field:op[:value]`; repeat for more (numbered 1…)."},
    )
    logic = fields.String(metadata={"description": "How the conditions combine: `1 AND (2 OR 3)`."})
    filter = fields.String(metadata={"description": "A JSON filter tree instead of `f`."})
    sort = fields.String(metadata={"description": "`-amount,name`: descending with a minus."})
    columns = fields.String(metadata={"description": "Comma-separated field keys to return."})
    limit = fields.Integer(metadata={"description": "Records per page, 1 to 1000 (50)."})
    cursor = fields.String(metadata={"description": "`next_cursor` or `prev_cursor` of a page."})
    q = fields.String(metadata={"description": "Quick search over name, phone, email, pinyin."})
    count = fields.String(metadata={"description": "`false` skips the count."})


class QueryBody(Schema):
    """A query: ``filter`` (tree or numbered conditions with ``logic``), ``sort``, ``columns``,
    ``limit``, ``cursor``, ``q`` and ``count``."""

    class Meta:
        unknown = INCLUDE  # checked by the query service, which names unknown keys

    filter = fields.Raw(allow_none=True)
    sort = fields.Raw()
    columns = fields.List(fields.String())
    limit = fields.Integer()
    cursor = fields.String(allow_none=True)
    q = fields.String(allow_none=True)
    count = fields.Boolean()


class RecordPage(Schema):
    data = fields.List(fields.Dict(), metadata={"description": RECORD_DOC})
    next_cursor = fields.String(allow_none=True)
    prev_cursor = fields.String(allow_none=True)
    count = fields.Integer(allow_none=True, metadata={"description": "Exact up to 10,000."})
    count_exact = fields.Boolean(metadata={"description": "False when there are more than 10,000."})


def _out(record, status: int = 200):
    st = services.store(request.view_args["object_key"])
    body = services.serialize(st, record, g.membership)
    return body, status, {"ETag": f'"v{record.version}"'}


@bp.get("/records/<object_key>")
@bp.doc(security=SECURITY)
@bp.arguments(ListQuery, location="query")
@bp.response(200, RecordPage)
@require_right("view")
def list_records(query: dict, object_key: str):
    """Records matching the URL form of a query, newest first unless sorted; pass
    ``next_cursor`` / ``prev_cursor`` back as ``cursor`` to page."""
    spec, columns = queries.from_args(request.args)
    st, page = queries.run(g.membership, object_key, spec, columns)
    return queries.page_json(st, page, g.membership, columns)


@bp.post("/records/<object_key>/query")
@bp.doc(security=SECURITY)
@bp.arguments(QueryBody)
@bp.response(200, RecordPage)
@require_right("view")
def query_records(body: dict, object_key: str):
    """Records matching a filter tree, sorted on up to six fields, a page at a time."""
    spec, columns = queries.from_body(request.get_json(silent=True) or {})
    st, page = queries.run(g.membership, object_key, spec, columns)
    return queries.page_json(st, page, g.membership, columns)


@bp.post("/records/<object_key>")
@bp.doc(security=SECURITY, parameters=[ALLOW_PARAMETER])
@require_right("create")
@bp.arguments(RecordIn)
@bp.response(201, description=RECORD_DOC)
def create_record(body: dict, object_key: str):
    """Create a record; the answer carries its ``ETag`` (and ``duplicates`` for a customer,
    contact or lead that may duplicate others; ``409`` when the company blocks them)."""
    check = check_from_request()
    record = services.create_record(g.membership, object_key, body, duplicate_check=check)
    return with_duplicates(_out(record, 201), check)


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
        {"in": "header", "name": "If-Match", "required": True, "schema": {"type": "string"}},
        ALLOW_PARAMETER,
    ],
)
@require_right("edit")
@bp.arguments(RecordIn)
@bp.response(200, description=RECORD_DOC)
def update_record(body: dict, object_key: str, record_id: int):
    """Change some values. ``412`` with the current record when it changed meanwhile."""
    version = services.parse_version(request.headers.get("If-Match"))
    check = check_from_request()
    record = services.update_record(
        g.membership, object_key, record_id, body, version, duplicate_check=check
    )
    return with_duplicates(_out(record), check)


@bp.delete("/records/<object_key>/<int:record_id>")
@bp.doc(security=SECURITY)
@require_right("delete")
@bp.response(204)
def delete_record(object_key: str, record_id: int):
    """Move the record to the recycle bin."""
    services.delete_record(g.membership, object_key, record_id)


@bp.post("/records/<object_key>/<int:record_id>/restore")
@bp.doc(security=SECURITY)
@require_right("delete")
@bp.response(200, description=RECORD_DOC)
def restore_record(object_key: str, record_id: int):
    """Bring a record back from the recycle bin."""
    return _out(services.restore_record(g.membership, object_key, record_id))
