"""Export and bulk actions through the API (prefix ``/api/v1/t/<slug>``):

* ``POST /records/<object_key>/export``: the view's records as CSV or XLSX, or ``202`` with the
  export job when there are more than 5,000 (or ``"background": true``);
* ``GET /exports/<job_id>/download``: the file of a finished export job;
* ``POST /records/<object_key>/bulk``: a bulk action on chosen records or on every record
  matching a query; ``409`` with ``count`` when the confirmed ``expected_count`` no longer holds.
"""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, url_for
from flask_babel import gettext as _
from marshmallow import RAISE, Schema, fields

from saas import tracked
from saas.api.blueprint import ApiBlueprint
from saas.errors import ValidationFailed
from saas.records import bulk as bulk_service
from saas.records import export as export_service
from saas.records import queries, services
from saas.web.list_actions import download_response, file_response
from tenants.models import WRITE_ROLES
from tenants.resolution import attach_api_tenant, require_roles

bp = ApiBlueprint("api_list_actions", __name__, description="Export and bulk actions on lists")
attach_api_tenant(bp)
SECURITY = [{"bearerAuth": []}]
require_writer = require_roles(WRITE_ROLES)


class ExportIn(Schema):
    """A view to export: ``format``, ``filter``, ``sort``, ``columns``, ``q``, ``background``."""

    class Meta:
        unknown = RAISE

    format = fields.String(metadata={"description": "`csv` (default) or `xlsx`."})
    filter = fields.Raw(allow_none=True, metadata={"description": "A filter tree (docs/api.md)."})
    sort = fields.Raw(allow_none=True, metadata={"description": '`[{"field", "dir"}]`.'})
    columns = fields.List(
        fields.String(),
        allow_none=True,
        metadata={"description": "Field keys; default: name and every visible field."},
    )
    q = fields.String(allow_none=True, metadata={"description": "Quick search."})
    background = fields.Boolean(metadata={"description": "Always run as a job."})


class BulkQuery(Schema):
    class Meta:
        unknown = RAISE

    filter = fields.Raw(allow_none=True)
    q = fields.String(allow_none=True)


class BulkIn(Schema):
    """``action``: update (``field``, ``value``), owner (``owner_id``), tag / untag (``tag``),
    delete; on ``ids`` or on every record matching ``query`` (then ``expected_count``)."""

    class Meta:
        unknown = RAISE

    action = fields.String(required=True)
    ids = fields.List(fields.Integer(), allow_none=True)
    query = fields.Nested(BulkQuery, allow_none=True)
    field = fields.String(allow_none=True)
    value = fields.Raw(allow_none=True)
    owner_id = fields.Raw(allow_none=True)
    tag = fields.String(allow_none=True)
    expected_count = fields.Integer(allow_none=True)


def _job_body(row: tracked.TrackedJob, **links: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "status": row.status,
        "total": row.total,
        "status_url": url_for("api_tenant.get_job", job_id=row.id, slug=g.tenant_slug),
        **links,
    }


@bp.post("/records/<object_key>/export")
@bp.doc(
    security=SECURITY,
    responses={
        "200": {"description": "The file (`text/csv` with a BOM, or XLSX)."},
        "202": {"description": "An export job: `id`, `status_url`, `download_url`."},
    },
)
@bp.arguments(ExportIn)
def export(body: dict[str, Any], object_key: str):
    """Export the records matching a query to CSV or XLSX."""
    view = {k: body[k] for k in ("filter", "sort", "columns", "q") if body.get(k) is not None}
    spec, columns = queries.from_body(view)
    result = export_service.export(
        g.membership,
        object_key,
        body.get("format", "csv"),
        spec,
        columns,
        background=bool(body.get("background")),
    )
    if isinstance(result, tracked.TrackedJob):
        download = url_for(".download", job_id=result.id, slug=g.tenant_slug)
        return jsonify(_job_body(result, download_url=download)), 202
    return download_response(result)


@bp.get("/exports/<job_id>/download")
@bp.doc(security=SECURITY, responses={"200": {"description": "The exported file."}})
def download(job_id: str):
    """The file of a finished export job (its requester or an admin; ``410`` once expired)."""
    return file_response(job_id)


def _ids(raw: list[int] | None) -> tuple[int, ...] | None:
    if raw is None:
        return None
    if not raw:
        raise ValidationFailed({"ids": [_("Choose at least one record.")]})
    if len(raw) > bulk_service.MAX_RECORDS or any(not 0 < i < 2**63 for i in raw):
        raise ValidationFailed(
            {
                "ids": [
                    _("Send at most %(n)s positive record ids.", n=f"{bulk_service.MAX_RECORDS:,}")
                ]
            }
        )
    return tuple(dict.fromkeys(raw))


@bp.post("/records/<object_key>/bulk")
@bp.doc(
    security=SECURITY,
    responses={
        "200": {"description": "Done: `matched`, `updated`, `unchanged`, `failed`, `failures`."},
        "202": {"description": "A bulk job (more than 200 records): `id`, `status_url`."},
        "409": {"description": "`count`: the number that matches now; confirm it again."},
    },
)
@require_writer
@bp.arguments(BulkIn)
def bulk(body: dict[str, Any], object_key: str):
    """Change many records at once; each goes through the same checks as a single change."""
    services.store(object_key)  # 404 for an unknown object before anything else
    query = None
    if body.get("query") is not None:
        query = queries.from_body({k: v for k, v in body["query"].items() if v is not None})[0]
    ids = _ids(body.get("ids"))
    if ids is not None and query is not None:
        raise ValidationFailed({"ids": [_("Send either ids or a query, not both.")]})
    req = bulk_service.BulkRequest(
        action=body["action"],
        ids=ids,
        query=query,
        field=body.get("field"),
        value=body.get("value"),
        owner_id=body.get("owner_id"),
        tag=body.get("tag"),
        expected_count=body.get("expected_count"),
    )
    result = bulk_service.run(g.membership, object_key, req)
    if isinstance(result, tracked.TrackedJob):
        return jsonify(_job_body(result)), 202
    return jsonify(result.to_json())
