"""Saved views API: ``/api/v1/t/<slug>/objects/<object_key>/views``.

Lists the built-in views (``all``, ``mine``, ``my_team``, ``recent``) and the saved views the
caller may see; creates, reads, changes and deletes saved views; sets the caller's default view.
Rules and validation live in :mod:`saas.records.views`.
"""

from __future__ import annotations

from flask import g
from marshmallow import INCLUDE, Schema, fields

from saas.api.blueprint import ApiBlueprint
from saas.records import views
from tenants.resolution import attach_api_tenant

bp = ApiBlueprint("api_views", __name__, description="Saved views of an object's records")
attach_api_tenant(bp)
SECURITY = [{"bearerAuth": []}]


class ViewIn(Schema):
    """A view's properties; on ``PATCH`` only those sent change."""

    class Meta:
        unknown = INCLUDE  # the service names unknown keys

    name = fields.Raw(metadata={"type": "string", "description": "1 to 100 characters"})
    visibility = fields.Raw(
        metadata={
            "type": "string",
            "enum": list(views.VISIBILITIES),
            "description": "Who sees it (default private); others than private need an owner, "
            "administrator or manager",
        }
    )
    shared_with = fields.Raw(
        metadata={
            "type": "array",
            "items": {},
            "description": "Role keys (visibility roles) or team ids (visibility teams)",
        }
    )
    columns = fields.Raw(
        metadata={
            "type": "array",
            "items": {},
            "description": 'Field keys or {"key", "width"} in display order (width 40–2000 px)',
        }
    )
    filter = fields.Raw(
        allow_none=True,
        metadata={"description": "A filter tree or numbered conditions with logic (docs/api.md)"},
    )
    sort = fields.Raw(
        metadata={
            "type": "array",
            "items": {},
            "description": 'Up to six [{"field", "dir": asc|desc, "nulls": first|last}]',
        }
    )
    page_size = fields.Raw(metadata={"type": "integer", "description": "10 to 200 (50)"})
    layout = fields.Raw(metadata={"type": "string", "enum": list(views.LAYOUTS)})
    group_by = fields.Raw(
        allow_none=True, metadata={"type": "string", "description": "A picklist field (kanban)"}
    )


class ViewOut(Schema):
    id = fields.Integer(allow_none=True, metadata={"description": "null for built-in views"})
    key = fields.String(
        metadata={"description": "The id as text, or all / mine / my_team / recent"}
    )
    name = fields.String()
    builtin = fields.Boolean()
    owner_id = fields.Integer(allow_none=True)
    visibility = fields.String()
    shared_with = fields.List(fields.Raw())
    columns = fields.List(fields.Dict())
    filter = fields.Raw(allow_none=True)
    sort = fields.List(fields.Dict())
    page_size = fields.Integer()
    layout = fields.String()
    group_by = fields.String(allow_none=True)
    can_edit = fields.Boolean()
    is_default = fields.Boolean()
    created_at = fields.String(allow_none=True)
    updated_at = fields.String(allow_none=True)


class DefaultIn(Schema):
    view = fields.Raw(
        required=True,
        metadata={"description": "all, mine, my_team, recent, or a saved view's id"},
    )


class DefaultOut(Schema):
    view = fields.String()


def _describe(view: views.ViewDef, object_key: str) -> dict:
    return views.describe(view, g.membership, views.default_view(g.membership, object_key))


@bp.get("/objects/<object_key>/views")
@bp.doc(security=SECURITY)
@bp.response(200, ViewOut(many=True))
def list_views(object_key: str):
    """The built-in views, then the saved views the caller may see (by name)."""
    default = views.default_view(g.membership, object_key)
    return [
        views.describe(v, g.membership, default) for v in views.list_views(g.membership, object_key)
    ]


@bp.post("/objects/<object_key>/views")
@bp.doc(security=SECURITY)
@bp.arguments(ViewIn)
@bp.response(201, ViewOut)
def create_view(body: dict, object_key: str):
    """Save a view (``name`` is required)."""
    view = views.create_view(g.membership, object_key, body)
    return _describe(views.find_view(g.membership, object_key, str(view.id)), object_key)


@bp.get("/objects/<object_key>/views/default")
@bp.doc(security=SECURITY)
@bp.response(200, DefaultOut)
def get_default(object_key: str):
    """The view that opens first for the caller (``all`` unless chosen)."""
    return {"view": views.default_view(g.membership, object_key)}


@bp.put("/objects/<object_key>/views/default")
@bp.doc(security=SECURITY)
@bp.arguments(DefaultIn)
@bp.response(200, DefaultOut)
def put_default(body: dict, object_key: str):
    """Choose the view that opens first for the caller."""
    return {"view": views.set_default(g.membership, object_key, body.get("view"))}


@bp.get("/objects/<object_key>/views/<int:view_id>")
@bp.doc(security=SECURITY)
@bp.response(200, ViewOut)
def get_view(object_key: str, view_id: int):
    """One saved view (404 when the caller may not see it)."""
    return _describe(views.find_view(g.membership, object_key, str(view_id)), object_key)


@bp.patch("/objects/<object_key>/views/<int:view_id>")
@bp.doc(security=SECURITY)
@bp.arguments(ViewIn)
@bp.response(200, ViewOut)
def update_view(body: dict, object_key: str, view_id: int):
    """Change some properties (private views: their owner; shared ones: owners, administrators
    and managers)."""
    views.update_view(g.membership, object_key, view_id, body)
    return _describe(views.find_view(g.membership, object_key, str(view_id)), object_key)


@bp.delete("/objects/<object_key>/views/<int:view_id>")
@bp.doc(security=SECURITY)
@bp.response(204)
def delete_view(object_key: str, view_id: int):
    """Delete a saved view (the records stay)."""
    views.delete_view(g.membership, object_key, view_id)
