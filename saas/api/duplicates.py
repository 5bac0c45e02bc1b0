"""Duplicate check API under ``/api/v1/t/<slug>/``: which customers, contacts and leads a record
may duplicate, and the rebuild of a company's duplicate keys."""

from __future__ import annotations

from typing import Any

from flask import g, request
from marshmallow import Schema, fields, validate

from saas.api.blueprint import ApiBlueprint
from saas.api.schemas import JobOut, StrictSchema
from saas.crm import duplicates
from tenants.resolution import attach_api_tenant

bp = ApiBlueprint("api_duplicates", __name__, description="Duplicate customers, contacts, leads")
attach_api_tenant(bp)
SECURITY = [{"bearerAuth": []}]
#: ``?allow_duplicate=1`` on a create or update: an owner's or admin's override of ``block``.
ALLOW_PARAMETER = {
    "in": "query",
    "name": "allow_duplicate",
    "required": False,
    "schema": {"type": "string", "enum": ["1"]},
    "description": "Owners and admins: save even when the company blocks duplicates.",
}


class CheckIn(StrictSchema):
    values = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(allow_none=True),
        required=True,
        metadata={"description": "`name` and field keys with the values as typed."},
    )
    exclude = fields.Integer(
        allow_none=True,
        strict=True,
        validate=validate.Range(min=1, max=2**63 - 1),
        metadata={"description": "The id of the record being edited (of this object)."},
    )


class CandidateOut(Schema):
    object = fields.String(metadata={"description": "account, contact or lead"})
    id = fields.Integer()
    name = fields.String(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    owner = fields.String(allow_none=True, metadata={"description": "The owner's name."})
    matched = fields.List(
        fields.String(),
        metadata={"description": "Which values matched: name, company, phone, email"},
    )


class CheckOut(Schema):
    data = fields.List(fields.Nested(CandidateOut))
    hidden = fields.Integer(
        metadata={"description": "How many more matching records the caller may not open."}
    )


@bp.post("/records/<object_key>/duplicates")
@bp.doc(security=SECURITY)
@bp.arguments(CheckIn)
@bp.response(200, CheckOut)
def check(body: dict, object_key: str):
    """Customers, contacts and leads with the same name, company, phone or email as these
    values: those the caller may open (at most 20) and how many more they may not."""
    found = duplicates.find_duplicates(
        object_key, body["values"], body.get("exclude"), g.membership
    )
    return found.to_json()


@bp.post("/duplicates/rebuild")
@bp.doc(security=SECURITY)
@bp.response(202, JobOut)
def rebuild():
    """Recompute every duplicate key of the company in a background job (owners and admins);
    follow it at ``/jobs/<id>``."""
    return duplicates.start_rebuild(g.membership)


def check_from_request() -> duplicates.Check:
    """The duplicate check of an API create or update (``?allow_duplicate=1`` overrides)."""
    return duplicates.Check(allow=request.args.get("allow_duplicate") in ("1", "true"))


def with_duplicates(response: tuple[dict[str, Any], int, dict[str, str]], check: duplicates.Check):
    """The record's answer, with the possible duplicates the save found (when there are)."""
    body, status, headers = response
    if check.found:
        body["duplicates"] = [c.to_json() for c in check.found.candidates]
        body["duplicates_hidden"] = check.found.hidden
    return body, status, headers
