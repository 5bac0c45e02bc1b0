"""Metadata API under ``/api/v1/t/<slug>/objects``: objects, their custom fields and page
layouts."""

from __future__ import annotations

from typing import Any

from flask import g
from marshmallow import EXCLUDE, INCLUDE, Schema, fields, validate

from custom_fields import layouts, maintenance, services
from custom_fields.models import FieldDefinition
from saas.api.blueprint import ApiBlueprint
from saas.api.schemas import JobOut, ObjectOut, StrictSchema
from tenants.resolution import attach_api_tenant, require_admin

bp = ApiBlueprint("api_metadata", __name__, description="Objects and custom fields")
attach_api_tenant(bp)
SECURITY = [{"bearerAuth": []}]


class FieldIn(Schema):
    """A field: the common properties below plus the options of its type (see docs/fields.md)."""

    class Meta:
        unknown = INCLUDE  # type options are checked by the field type, which names bad keys

    key = fields.String(metadata={"description": "Immutable key, e.g. budget_2024"})
    type = fields.String(metadata={"description": "text, long_text, integer, … formula"})
    label = fields.Raw(metadata={"description": 'One text, or {"en": …, "zh": …}'})
    label_en = fields.String()
    label_zh = fields.String()
    help = fields.Raw()
    required = fields.Raw(metadata={"type": "boolean"})
    unique = fields.Raw(metadata={"type": "boolean"})
    indexed = fields.Raw(metadata={"type": "boolean"})
    searchable = fields.Raw(metadata={"type": "boolean"})
    active = fields.Raw(metadata={"type": "boolean"})
    default = fields.Raw(allow_none=True)
    values = fields.Raw(metadata={"description": "Picklists: [{code, label, colour, active}]"})


class PicklistValueOut(Schema):
    code = fields.String()
    label_en = fields.String()
    label_zh = fields.String()
    colour = fields.String(allow_none=True)
    active = fields.Boolean()
    is_system = fields.Boolean(
        metadata={"description": "The CRM relies on this value: it cannot be deactivated"}
    )


class FieldOut(Schema):
    key = fields.String()
    type = fields.String()
    label_en = fields.String()
    label_zh = fields.String()
    help_en = fields.String()
    help_zh = fields.String()
    required = fields.Boolean()
    unique = fields.Boolean()
    indexed = fields.Boolean()
    searchable = fields.Boolean()
    active = fields.Boolean()
    position = fields.Integer()
    default = fields.Raw(allow_none=True)
    options = fields.Dict()
    values = fields.List(fields.Nested(PicklistValueOut), allow_none=True)
    access = fields.Dict(keys=fields.String(), values=fields.String())
    deleted_at = fields.String(allow_none=True)
    is_system = fields.Boolean(
        metadata={
            "description": "A field the CRM itself uses: it cannot be deleted, converted, "
            "re-keyed, deactivated or made (un)required (409 with error system_field)"
        }
    )
    index_state = fields.String(
        allow_none=True,
        metadata={
            "description": "The database index of an indexed field: building, ready or failed "
            "(null: none). Built in a background job after the field is saved."
        },
    )


def _field_json(field: FieldDefinition) -> dict[str, Any]:
    """A field as the API answers it: its description and the state of its index (which is not
    part of the description the audit trail keeps)."""
    return {**services.describe(field), "index_state": field.index_state}


class FieldListQuery(StrictSchema):
    deleted = fields.Boolean(
        load_default=False, metadata={"description": "List deleted (restorable) fields"}
    )


class OrderIn(StrictSchema):
    keys = fields.List(fields.String(), required=True, validate=validate.Length(max=1000))


class AccessIn(Schema):
    class Meta:
        unknown = INCLUDE


@bp.get("/objects")
@bp.doc(security=SECURITY)
@bp.response(200, ObjectOut(many=True))
def get_objects():
    """The objects of this tenant (standard and custom)."""
    return services.list_objects()


class ObjectIn(Schema):
    class Meta:
        unknown = INCLUDE  # the service names unknown properties

    key = fields.String()
    label = fields.Raw(metadata={"description": 'One text, or {"en": …, "zh": …}'})
    plural = fields.Raw()
    icon = fields.String()


@bp.post("/objects")
@bp.doc(security=SECURITY)
@bp.arguments(ObjectIn)
@bp.response(201, ObjectOut)
def create_object(body: dict):
    """Create a custom object (owners and admins)."""
    return services.create_object(g.membership, body)


@bp.patch("/objects/<object_key>")
@bp.doc(security=SECURITY)
@bp.arguments(ObjectIn)
@bp.response(200, ObjectOut)
def update_object(body: dict, object_key: str):
    """Rename an object or change its icon."""
    return services.update_object(g.membership, object_key, body)


@bp.get("/objects/<object_key>")
@bp.doc(security=SECURITY)
@bp.response(200, ObjectOut)
def get_object(object_key: str):
    """One object."""
    return services.get_object(object_key)


@bp.get("/objects/<object_key>/fields")
@bp.doc(security=SECURITY)
@bp.arguments(FieldListQuery, location="query")
@bp.response(200, FieldOut(many=True))
def list_fields(query: dict, object_key: str):
    """The object's custom fields in display order."""
    return [_field_json(f) for f in services.list_fields(object_key, deleted=query["deleted"])]


@bp.post("/objects/<object_key>/fields")
@bp.doc(security=SECURITY)
@bp.arguments(FieldIn)
@bp.response(201, FieldOut)
def create_field(body: dict, object_key: str):
    """Add a custom field (owners and admins)."""
    return _field_json(services.create_field(g.membership, object_key, body))


@bp.get("/objects/<object_key>/fields/<field_key>")
@bp.doc(security=SECURITY)
@bp.response(200, FieldOut)
def get_field(object_key: str, field_key: str):
    """One field, deleted ones included."""
    return _field_json(services.get_field(object_key, field_key))


@bp.patch("/objects/<object_key>/fields/<field_key>")
@bp.doc(security=SECURITY)
@bp.arguments(FieldIn)
@bp.response(200, FieldOut)
def update_field(body: dict, object_key: str, field_key: str):
    """Change labels, help, flags, options, default or picklist values."""
    return _field_json(services.update_field(g.membership, object_key, field_key, body))


@bp.delete("/objects/<object_key>/fields/<field_key>")
@bp.doc(security=SECURITY)
@bp.response(204)
def delete_field(object_key: str, field_key: str):
    """Delete a field; its values are kept and it can be restored."""
    services.delete_field(g.membership, object_key, field_key)


@bp.post("/objects/<object_key>/fields/<field_key>/restore")
@bp.doc(security=SECURITY)
@bp.response(200, FieldOut)
def restore_field(object_key: str, field_key: str):
    """Bring a deleted field back with its values."""
    return _field_json(services.restore_field(g.membership, object_key, field_key))


@bp.put("/objects/<object_key>/fields/order")
@bp.doc(security=SECURITY)
@bp.arguments(OrderIn)
@bp.response(200, FieldOut(many=True))
def reorder_fields(body: dict, object_key: str):
    """Set the display order: every field key exactly once."""
    return [_field_json(f) for f in services.reorder_fields(g.membership, object_key, body["keys"])]


@bp.put("/objects/<object_key>/fields/<field_key>/access")
@bp.doc(security=SECURITY)
@bp.arguments(AccessIn)
@bp.response(200, FieldOut)
def set_access(body: dict, object_key: str, field_key: str):
    """Per role: ``{"member": "read_only", "read_only": "hidden"}``; answers the whole field."""
    services.set_field_access(g.membership, object_key, field_key, body)
    return _field_json(services.get_field(object_key, field_key))


class ConversionIn(Schema):
    """The new ``type`` and its options; picklists also ``values``."""

    class Meta:
        unknown = INCLUDE

    type = fields.String(required=True)
    clear_failures = fields.Boolean(load_default=False)


class ConversionPreviewOut(Schema):
    type = fields.String()
    total = fields.Integer()
    scanned = fields.Integer()
    converts = fields.Integer()
    fails = fields.Integer()
    samples = fields.List(fields.Dict())


@bp.post("/objects/<object_key>/fields/<field_key>/conversion/preview")
@bp.doc(security=SECURITY)
@require_admin
@bp.arguments(ConversionIn)
@bp.response(200, ConversionPreviewOut)
def preview_conversion(body: dict, object_key: str, field_key: str):
    """How many values would convert to the new type and samples of those that would not."""
    return maintenance.preview_conversion(object_key, field_key, body)


@bp.post("/objects/<object_key>/fields/<field_key>/conversion")
@bp.doc(security=SECURITY)
@bp.arguments(ConversionIn)
@bp.response(202, JobOut)
def convert_field(body: dict, object_key: str, field_key: str):
    """Convert every value in a background job; follow it at ``/jobs/<id>``."""
    return maintenance.start_conversion(g.membership, object_key, field_key, body)


@bp.post("/objects/<object_key>/fields/<field_key>/purge")
@bp.doc(security=SECURITY)
@bp.response(202, JobOut)
def purge_field(object_key: str, field_key: str):
    """Remove a deleted field and its values for good, in a background job."""
    return maintenance.purge_field(g.membership, object_key, field_key)


class LayoutSection(Schema):
    title_en = fields.String(metadata={"description": "At most 100 characters"})
    title_zh = fields.String(metadata={"description": "At most 100 characters"})
    columns = fields.Integer(metadata={"description": "1 or 2"})
    keys = fields.List(
        fields.String(),
        data_key="fields",
        attribute="fields",
        metadata={"description": "Field keys, in order"},
    )


class LayoutIn(Schema):
    """The sections, each with at most 100-character titles, 1 or 2 columns and field keys.

    Keys of the answer other than ``sections`` are ignored, so a layout read can be sent back."""

    class Meta:
        unknown = EXCLUDE

    sections = fields.Raw(
        required=True,
        metadata={
            "type": "array",
            "items": {"type": "object"},
            "description": "At most 20 sections; each live field at most once",
        },
    )


class LayoutOut(Schema):
    object = fields.String()
    default = fields.Boolean(metadata={"description": "No layout is saved: this is the default"})
    sections = fields.List(fields.Nested(LayoutSection))
    unplaced = fields.List(
        fields.String(),
        metadata={"description": 'Live fields no section places: pages show them under "Other"'},
    )


@bp.get("/objects/<object_key>/layout")
@bp.doc(security=SECURITY)
@bp.response(200, LayoutOut)
def get_layout(object_key: str):
    """The record page layout of the object (the default one when none is saved)."""
    return layouts.get_layout(object_key).as_dict()


@bp.put("/objects/<object_key>/layout")
@bp.doc(security=SECURITY)
@bp.arguments(LayoutIn)
@bp.response(200, LayoutOut)
def put_layout(body: dict, object_key: str):
    """Replace the layout (owners and admins): sections of one or two columns of field keys."""
    return layouts.save_layout(g.membership, object_key, body["sections"]).as_dict()


@bp.post("/objects/<object_key>/fields/<field_key>/backfill")
@bp.doc(security=SECURITY)
@bp.response(202, JobOut)
def backfill_default(object_key: str, field_key: str):
    """Give the field's default to existing records without a value, in a background job."""
    return maintenance.backfill_default(g.membership, object_key, field_key)


@bp.post("/objects/<object_key>/fields/<field_key>/unique")
@bp.doc(security=SECURITY)
@bp.response(202, JobOut)
def make_unique(object_key: str, field_key: str):
    """Make a field unique over many records: existing values are checked in a background job."""
    return maintenance.make_unique(g.membership, object_key, field_key)
