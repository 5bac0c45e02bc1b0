"""Leads API under ``/api/v1/t/<slug>/``: assigning and converting a lead, and the company's
assignment rule and scoring rules."""

from __future__ import annotations

from typing import Any

from flask import g
from marshmallow import INCLUDE, Schema, fields

from saas.api.blueprint import ApiBlueprint
from saas.api.records import RECORD_DOC
from saas.api.schemas import JobOut, StrictSchema
from saas.crm import leads
from saas.records import services
from saas.records.models import RecordColumns
from tenants.resolution import attach_api_tenant

bp = ApiBlueprint("api_leads", __name__, description="Leads: assignment, scoring, conversion")
attach_api_tenant(bp)
SECURITY = [{"bearerAuth": []}]


class LeadAssignIn(StrictSchema):
    user_id = fields.Integer(required=True, strict=True, metadata={"description": "The new owner"})


class Values(Schema):
    """Field keys to values, as for creating a record."""

    class Meta:
        unknown = INCLUDE  # field keys: the record service names unknown ones


class ConvertIn(StrictSchema):
    account_id = fields.Integer(
        strict=True,
        metadata={"description": "An existing customer (such as a duplicate) instead of a new one"},
    )
    account = fields.Nested(
        Values,
        metadata={
            "description": "The new customer's values; by default its name is the lead's "
            "company, with the lead's source and region"
        },
    )
    contact = fields.Nested(
        Values,
        metadata={
            "description": "The new contact's values; by default the lead's name, mobile "
            "and email (it is linked to the customer)"
        },
    )
    opportunity = fields.Nested(
        Values,
        allow_none=True,
        metadata={
            "description": "Values of an opportunity to create at the customer ({}: named "
            "after the company); left out or null: none"
        },
    )


class ConvertOut(Schema):
    lead = fields.Dict(metadata={"description": RECORD_DOC})
    account = fields.Dict()
    account_created = fields.Boolean(metadata={"description": "False: an existing customer"})
    contact = fields.Dict()
    opportunity = fields.Dict(allow_none=True)
    activities = fields.List(
        fields.Integer(),
        metadata={"description": "Follow-ups of the lead linked to the new records"},
    )


class RegionTarget(StrictSchema):
    user_id = fields.Integer(strict=True)
    team_id = fields.Integer(strict=True)


class AssignmentIn(StrictSchema):
    mode = fields.String(
        required=True, metadata={"description": "manual, round_robin or by_region"}
    )
    members = fields.List(
        fields.Raw(), metadata={"description": "User ids that take new leads in turn, in order"}
    )
    regions = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        metadata={
            "description": 'Lead region code → {"user_id": n} or {"team_id": n} (the team\'s '
            "member with the fewest open leads); other regions go round the members"
        },
    )


class AssignmentOut(Schema):
    mode = fields.String()
    members = fields.List(fields.Integer())
    regions = fields.Dict()
    next_member_id = fields.Integer(
        allow_none=True, metadata={"description": "Who takes the next lead in turn"}
    )


class RuleIn(StrictSchema):
    condition = fields.Raw(
        required=True,
        metadata={
            "description": "`field:op:value` (the URL form of a filter) or a JSON filter tree"
        },
    )
    points = fields.Integer(required=True, strict=True, metadata={"description": "−100 to 100"})
    active = fields.Boolean(load_default=True)


class ScoringIn(StrictSchema):
    rules = fields.List(fields.Nested(RuleIn), required=True)


class RuleOut(Schema):
    id = fields.Integer()
    position = fields.Integer()
    condition = fields.Dict(metadata={"description": "The filter, as JSON"})
    text = fields.Method("_text", metadata={"description": "The filter as it is written"})
    points = fields.Integer()
    active = fields.Boolean()

    def _text(self, rule: leads.LeadScoreRule) -> str:
        return leads.condition_text(rule.condition)


class ScoringOut(Schema):
    rules = fields.List(fields.Nested(RuleOut))


class ScoringJobOut(ScoringOut):
    job = fields.Nested(JobOut, metadata={"description": "The rescore of every lead"})


def _record(object_key: str, record: RecordColumns | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return services.serialize(services.store(object_key), record, g.membership)


@bp.post("/leads/<int:lead_id>/assign")
@bp.doc(security=SECURITY)
@bp.arguments(LeadAssignIn)
@bp.response(200, description=RECORD_DOC)
def assign(body: dict, lead_id: int):
    """Give a lead to a member (managers within their data scope, owners, admins); the new
    owner is notified."""
    lead = leads.assign(g.membership, lead_id, body["user_id"])
    return _record("lead", lead), 200, {"ETag": f'"v{lead.version}"'}


@bp.post("/leads/<int:lead_id>/convert")
@bp.doc(security=SECURITY)
@bp.arguments(ConvertIn)
@bp.response(201, ConvertOut)
def convert(body: dict, lead_id: int):
    """Convert a lead into a customer (new, or ``account_id``), a contact and optionally an
    opportunity, in one transaction; errors name the part (``account.name``). ``409`` when it
    was converted already."""
    done = leads.convert(
        g.membership,
        lead_id,
        account=body.get("account"),
        account_id=body.get("account_id"),
        contact=body.get("contact"),
        opportunity=body.get("opportunity"),
    )
    return {
        "lead": _record("lead", done.lead),
        "account": _record("account", done.account),
        "account_created": done.account_created,
        "contact": _record("contact", done.contact),
        "opportunity": _record("opportunity", done.opportunity),
        "activities": done.activities,
    }


@bp.get("/settings/lead-assignment")
@bp.doc(security=SECURITY)
@bp.response(200, AssignmentOut)
def get_assignment():
    """How new leads get an owner."""
    return leads.assignment_settings().to_json()


@bp.put("/settings/lead-assignment")
@bp.doc(security=SECURITY)
@bp.arguments(AssignmentIn)
@bp.response(200, AssignmentOut)
def put_assignment(body: dict):
    """Set how new leads get an owner (owners and admins). A lead created without
    ``owner_id`` (or with ``"auto"``) takes the rule's member."""
    return leads.update_assignment(
        g.membership,
        mode=body["mode"],
        members=body.get("members"),
        regions=body.get("regions"),
    ).to_json()


@bp.get("/settings/lead-scoring")
@bp.doc(security=SECURITY)
@bp.response(200, ScoringOut)
def get_scoring():
    """The scoring rules, in order."""
    return {"rules": leads.list_rules()}


@bp.put("/settings/lead-scoring")
@bp.doc(security=SECURITY)
@bp.arguments(ScoringIn)
@bp.response(202, ScoringJobOut)
def put_scoring(body: dict):
    """Replace the scoring rules (owners and admins) and rescore every lead in a background job
    (follow it at ``/jobs/<id>``). Errors are keyed ``rules[i].condition``."""
    rules, job = leads.replace_rules(g.membership, body["rules"])
    return {"rules": rules, "job": job}


@bp.post("/settings/lead-scoring/rescore")
@bp.doc(security=SECURITY)
@bp.response(202, JobOut)
def rescore():
    """Recompute every lead's score in a background job (owners and admins)."""
    return leads.start_rescore(g.membership)
