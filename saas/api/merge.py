"""Merging duplicates API under ``/api/v1/t/<slug>/``: preview and merge customers, contacts and
leads (``saas/crm/merge.py``)."""

from __future__ import annotations

from flask import g
from marshmallow import Schema, fields, validate

from saas.api.blueprint import ApiBlueprint
from saas.api.schemas import StrictSchema
from saas.crm import merge
from saas.records import services
from tenants.resolution import attach_api_tenant

bp = ApiBlueprint("api_merge", __name__, description="Merging duplicates")
attach_api_tenant(bp)
SECURITY = [{"bearerAuth": []}]
_ID = fields.Integer(strict=True, validate=validate.Range(min=1, max=2**63 - 1))


class MergePreviewIn(StrictSchema):
    survivor = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=2**63 - 1),
        metadata={"description": "The id of the record that stays."},
    )
    others = fields.List(
        _ID,
        required=True,
        validate=validate.Length(min=1, max=merge.MAX_OTHERS),
        metadata={"description": "1 to 4 ids of records merged into it."},
    )


class MergeRunIn(MergePreviewIn):
    choices = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(strict=True),
        load_default=dict,
        metadata={
            "description": "`name` or a field key → the id of the record whose value to keep "
            "(the survivor's when left out). Tags are always the union."
        },
    )
    expected_versions = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(strict=True),
        required=True,
        metadata={"description": "Record id → the version read (each record's ETag number)."},
    )


class MergeRecordOut(Schema):
    id = fields.Integer()
    name = fields.String(allow_none=True)
    version = fields.Integer()
    owner_id = fields.Integer(allow_none=True)
    owner = fields.String(allow_none=True)
    tags = fields.List(fields.String())


class MergeFieldOut(Schema):
    key = fields.String()
    label = fields.String()
    values = fields.Dict(metadata={"description": "Record id → the value as text."})
    choosable = fields.Boolean(metadata={"description": "Whether another value may be chosen."})
    differs = fields.Boolean()
    default = fields.Integer(metadata={"description": "The survivor's id."})


class MergeMoveOut(Schema):
    key = fields.String(
        metadata={"description": "`object.field` of a lookup, or replies, notifications, …"}
    )
    label = fields.String()
    count = fields.Integer()


class MergePreviewOut(Schema):
    object = fields.String()
    survivor = fields.Integer()
    records = fields.List(
        fields.Nested(MergeRecordOut), metadata={"description": "Survivor first."}
    )
    fields_ = fields.List(fields.Nested(MergeFieldOut), data_key="fields")
    moves = fields.List(fields.Nested(MergeMoveOut))
    tags = fields.List(fields.String(), metadata={"description": "The survivor's tags after."})
    needs_manager = fields.Boolean(
        metadata={"description": "Different owners: a manager or administrator merges."}
    )


@bp.post("/records/<object_key>/merge/preview")
@bp.doc(security=SECURITY)
@bp.arguments(MergePreviewIn)
@bp.response(200, MergePreviewOut)
def preview(body: dict, object_key: str):
    """The records side by side and the counts of what would move to the survivor."""
    found = merge.preview(g.membership, object_key, body["survivor"], body["others"])
    out = found.to_json()
    out["fields_"] = out.pop("fields")
    return out


@bp.post("/records/<object_key>/merge")
@bp.doc(security=SECURITY)
@bp.arguments(MergeRunIn)
@bp.response(200)
def merge_records(body: dict, object_key: str):
    """Merge the others into the survivor in one transaction; answers the survivor with its
    ``ETag``. A stale version is a 409 naming ``expected_versions``."""
    record = merge.merge(
        g.membership,
        object_key,
        body["survivor"],
        body["others"],
        body["choices"],
        body["expected_versions"],
    )
    st = services.store(object_key)
    return services.serialize(st, record, g.membership), 200, {"ETag": f'"v{record.version}"'}
