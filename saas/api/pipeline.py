"""Pipeline API under ``/api/v1/t/<slug>/``: the stage table and follow-up offsets, an
opportunity's stage history, and the pipeline summary."""

from __future__ import annotations

from flask import g
from flask_babel import get_locale
from marshmallow import Schema, fields, validate

from saas.api.blueprint import ApiBlueprint
from saas.api.schemas import StrictSchema
from saas.crm import pipeline
from tenants.resolution import attach_api_tenant

bp = ApiBlueprint("api_pipeline", __name__, description="Opportunity stages and the pipeline")
attach_api_tenant(bp)
SECURITY = [{"bearerAuth": []}]


def _locale() -> str:
    return "zh_CN" if str(get_locale() or "en").startswith("zh") else "en"


class StageIn(StrictSchema):
    code = fields.String(required=True, metadata={"description": "A code of the stage picklist"})
    probability = fields.Integer(
        required=True, strict=True, metadata={"description": "Win probability, 0 to 100"}
    )
    kind = fields.String(required=True, metadata={"description": "open, won or lost"})


class StagesIn(StrictSchema):
    stages = fields.List(
        fields.Nested(StageIn),
        load_default=list,
        metadata={"description": "Stages to change; the others keep their values"},
    )
    followup_offsets = fields.List(
        fields.String(),
        metadata={
            "description": "After-sale follow-ups of a won deal, as ISO 8601 durations after "
            "the day it was won (P7D, P2W, P1M, P1Y); [] for none"
        },
    )


class StageOut(Schema):
    code = fields.String()
    label = fields.String()
    colour = fields.String(allow_none=True)
    position = fields.Integer(metadata={"description": "The picklist's order"})
    active = fields.Boolean()
    probability = fields.Integer(allow_none=True)
    kind = fields.String(metadata={"description": "open, won or lost"})


class StagesOut(Schema):
    stages = fields.List(fields.Nested(StageOut))
    followup_offsets = fields.List(fields.String())


class HistoryRowOut(Schema):
    id = fields.Integer()
    from_stage = fields.String(allow_none=True, metadata={"description": "null: created"})
    to_stage = fields.String(allow_none=True)
    changed_by = fields.Integer(allow_none=True)
    changed_at = fields.DateTime()
    amount = fields.Decimal(as_string=True, allow_none=True)
    currency = fields.String(allow_none=True)
    left_at = fields.DateTime(allow_none=True, metadata={"description": "null: still there"})
    seconds_in_stage = fields.Integer(
        attribute="seconds", metadata={"description": "Until it left, or until now"}
    )
    current = fields.Boolean()


class HistoryOut(Schema):
    data = fields.List(fields.Nested(HistoryRowOut), metadata={"description": "Oldest first"})
    time_in_stage = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "Seconds spent in each stage in all"},
    )


class PipelineQuery(Schema):
    owner_id = fields.Integer(validate=validate.Range(min=1, max=2**63 - 1))
    team_id = fields.Integer(
        validate=validate.Range(min=1, max=2**63 - 1),
        metadata={"description": "Owners in this team or a team below it"},
    )
    period = fields.String(
        metadata={"description": "Expected close in this_month, next_quarter, this_year, …"}
    )
    close_from = fields.Date(metadata={"description": "Expected close on or after"})
    close_to = fields.Date(metadata={"description": "Expected close on or before"})


class MoneyOut(Schema):
    currency = fields.String()
    count = fields.Integer()
    amount = fields.String()
    weighted = fields.String()


class ColumnOut(Schema):
    code = fields.String(allow_none=True, metadata={"description": "null: without a stage"})
    label = fields.String(allow_none=True)
    kind = fields.String()
    probability = fields.Integer(allow_none=True)
    count = fields.Integer()
    amount = fields.String(metadata={"description": "In the company's currency"})
    weighted = fields.String(metadata={"description": "Amount × probability"})
    other_currencies = fields.List(fields.Nested(MoneyOut))


class SummaryOut(Schema):
    currency = fields.String()
    stages = fields.List(fields.Nested(ColumnOut))
    totals = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(MoneyOut),
        metadata={"description": "open, won and lost, in the company's currency"},
    )


def _stages_json(stages: list[pipeline.Stage], offsets: list[str]) -> dict:
    locale = _locale()
    return {"stages": [s.to_json(locale) for s in stages], "followup_offsets": offsets}


@bp.get("/settings/opportunity-stages")
@bp.doc(security=SECURITY)
@bp.response(200, StagesOut)
def get_stages():
    """The stages in the picklist's order with their probability and kind, and the after-sale
    follow-up offsets."""
    return _stages_json(pipeline.stages(), pipeline.followup_offsets())


@bp.put("/settings/opportunity-stages")
@bp.doc(security=SECURITY)
@bp.arguments(StagesIn)
@bp.response(200, StagesOut)
def put_stages(body: dict):
    """Set the probability and kind of stages and the follow-up offsets (owners and admins).
    Keep at least one won and one lost stage. Opportunities take a stage's probability when
    they move to it."""
    stages, offsets = pipeline.update_stages(
        g.membership, body["stages"], body.get("followup_offsets")
    )
    return _stages_json(stages, offsets)


@bp.get("/opportunities/<int:opportunity_id>/stage-history")
@bp.doc(security=SECURITY)
@bp.response(200, HistoryOut)
def stage_history(opportunity_id: int):
    """An opportunity's stage changes with the time spent in each stage."""
    rows = pipeline.history(g.membership, opportunity_id)
    return {"data": rows, "time_in_stage": pipeline.time_in_stages(rows)}


@bp.get("/pipeline")
@bp.doc(security=SECURITY)
@bp.arguments(PipelineQuery, location="query")
@bp.response(200, SummaryOut)
def summary(query: dict):
    """Per stage: how many opportunities, their amount and weighted amount, over the records
    the caller's data scope shows; optionally one owner, one team, an expected close period."""
    filters = pipeline.clean_filters(query)
    return pipeline.summary(g.membership, filters).to_json(_locale())
