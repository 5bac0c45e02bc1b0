"""The 360° view of a record under ``/api/v1/t/<slug>/records/<object_key>/<id>/``: its related
lists a page at a time (``related/<kind>``) and a customer's summary (``summary``), as the
caller's data scope and field access allow (``saas.crm.related``)."""

from __future__ import annotations

from typing import Any

from flask import g
from flask_babel import gettext as _
from marshmallow import Schema, fields, validate

from saas.api.blueprint import ApiBlueprint
from saas.crm import related
from tenants.resolution import attach_api_tenant

bp = ApiBlueprint("api_related", __name__, description="The 360° customer page")
attach_api_tenant(bp)
SECURITY = [{"bearerAuth": []}]


class RelatedQuery(Schema):
    limit = fields.Integer(
        load_default=related.DEFAULT_LIMIT,
        validate=validate.Range(min=1, max=related.MAX_LIMIT),
        metadata={"description": f"Records per page, 1 to {related.MAX_LIMIT} (10)."},
    )
    cursor = fields.String(
        validate=validate.Length(max=2000),
        metadata={"description": "`next_cursor` of the previous page."},
    )


class RowOut(Schema):
    id = fields.Integer()
    name = fields.String()
    owner_id = fields.Integer(allow_none=True)
    owner = fields.String(allow_none=True)
    values = fields.Dict(metadata={"description": "The visible columns, API form"})
    extra = fields.Dict(
        metadata={
            "description": "Contracts: received, outstanding, overdue, currency; activities: icon"
        }
    )


class RelatedOut(Schema):
    kind = fields.String()
    object_key = fields.String(
        metadata={"description": "The related object (payment for payments)"}
    )
    columns = fields.List(fields.String(), metadata={"description": "Visible column keys"})
    data = fields.List(fields.Nested(RowOut))
    next_cursor = fields.String(allow_none=True)
    count = fields.Integer(metadata={"description": "Records the caller sees (up to 10,000)"})
    hidden = fields.Integer(metadata={"description": "More linked records the caller cannot open"})
    new_url = fields.String(
        allow_none=True, metadata={"description": "The prefilled form for a new one"}
    )


def _page(page: related.RelatedPage) -> dict[str, Any]:
    return {
        "kind": page.kind,
        "object_key": page.object_key,
        "columns": [key for key, _label in page.columns],
        "data": [
            {
                "id": row.id,
                "name": row.name,
                "owner_id": row.owner_id,
                "owner": row.owner or None,
                "values": row.values,
                "extra": row.extra,
            }
            for row in page.rows
        ],
        "next_cursor": page.next_cursor,
        "count": page.count,
        "hidden": page.hidden,
        "new_url": page.new_url,
    }


@bp.get("/records/<object_key>/<int:record_id>/related/<kind>")
@bp.doc(security=SECURITY)
@bp.arguments(RelatedQuery, location="query")
@bp.response(200, RelatedOut)
def related_list(args: dict, object_key: str, record_id: int, kind: str):
    """A page of the record's related ``kind``: for a customer contacts, activities,
    opportunities, quotes, contracts, payments; for a contact activities; for an opportunity
    activities and quotes. Newest first (contacts: the primary first)."""
    page = related.related(
        g.membership, object_key, record_id, kind, args.get("cursor"), args["limit"]
    )
    return _page(page)


@bp.get("/records/<object_key>/<int:record_id>/summary")
@bp.doc(security=SECURITY)
@bp.response(200)
def related_summary(object_key: str, record_id: int):
    """A customer's summary: owner, grade, lifecycle stage, last contact, open opportunities
    (count and amount per currency), won this year, contracts' outstanding and overdue. A
    figure the caller may not see (a hidden field) is ``null``."""
    if object_key != "account":
        from custom_fields.errors import NotFound

        raise NotFound(_("There is a summary for customers only."))
    return related.summary(g.membership, record_id).to_dict()
