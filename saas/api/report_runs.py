"""Running an ad-hoc report: ``POST /api/v1/t/<slug>/reports/run`` with a report definition
(docs/reports.md) as the body. The report runs as the token's member: their view permission,
data scope and field access apply to every figure and drill-down."""

from __future__ import annotations

from flask import g, request
from marshmallow import INCLUDE, RAISE, Schema, fields

from custom_fields.reports import engine
from saas.api.blueprint import ApiBlueprint
from tenants.resolution import attach_api_tenant

bp = ApiBlueprint("api_report_runs", __name__, description="Running reports")
attach_api_tenant(bp)
SECURITY = [{"bearerAuth": []}]


class ReportDefinitionIn(Schema):
    """A report definition (docs/reports.md); checked by the report engine, whose errors name
    the place, e.g. ``groups[1].granularity``."""

    class Meta:
        unknown = INCLUDE  # the engine's schema names unknown keys

    version = fields.Integer(metadata={"description": "1"})
    object = fields.String(metadata={"description": "The source object's key"})
    type = fields.String(metadata={"description": "tabular, summary or matrix"})
    filter = fields.Raw(allow_none=True, metadata={"description": "A list filter (docs/api.md)"})
    columns = fields.List(fields.String(), metadata={"description": "Tabular: field paths"})
    sort = fields.Raw(allow_none=True, metadata={"description": "Tabular: the list sort"})
    limit = fields.Integer(metadata={"description": "Tabular: rows per page, 1–1000 (200)"})
    groups = fields.List(
        fields.Dict(),
        metadata={
            "description": "Row groups: {field, granularity, sort, dir, top, others} "
            "(summary 1–3, matrix 1–2)"
        },
    )
    column_groups = fields.List(fields.Dict(), metadata={"description": "Matrix: 1–2 groups"})
    aggregates = fields.List(
        fields.Dict(),
        metadata={"description": "{fn, field, weight, percent_of_total, key}; default a count"},
    )
    chart = fields.Dict(allow_none=True, metadata={"description": "{type, aggregate}"})


class ReportRunQuery(Schema):
    class Meta:
        unknown = RAISE

    timezone = fields.String(
        metadata={"description": "IANA zone for periods; default the member's, else the company's"}
    )
    cursor = fields.String(metadata={"description": "Tabular: `next_cursor` of the last page"})


class ReportResultOut(Schema):
    """What a report answers (docs/reports.md, "The result")."""

    type = fields.String()
    object = fields.String()
    timezone = fields.String()
    locale = fields.String()
    currency = fields.String(metadata={"description": "The company's currency"})
    groups = fields.List(fields.Dict(), metadata={"description": "The row levels"})
    column_groups = fields.List(fields.Dict(), metadata={"description": "Matrix: column levels"})
    aggregates = fields.List(fields.Dict())
    total = fields.Dict(metadata={"description": "The grand total with its drill-down filter"})
    rows = fields.List(
        fields.Dict(),
        metadata={
            "description": "Groups: key, label, count, values, percents, drill (a list filter "
            "selecting exactly the group's records), children; others: true for “Others”"
        },
    )
    columns = fields.List(fields.Dict(), metadata={"description": "Matrix: the column groups"})
    cells = fields.List(fields.Dict(), metadata={"description": "Matrix: row × column cells"})
    records = fields.List(fields.Dict(), metadata={"description": "Tabular: the page's records"})
    next_cursor = fields.String(allow_none=True)
    chart = fields.Dict()


@bp.post("/reports/run")
@bp.doc(security=SECURITY)
@bp.arguments(ReportDefinitionIn)
@bp.arguments(ReportRunQuery, location="query")
@bp.response(200, ReportResultOut)
def run_report(_body: dict, query: dict):
    """Run a report definition without storing it. A report that takes longer than a list
    may answers 422 (narrow the filter); invalid definitions answer 400 naming each place."""
    definition = request.get_json(silent=True)
    result = engine.run(
        definition if definition is not None else {},
        g.membership,
        timezone=query.get("timezone"),
        cursor=query.get("cursor"),
    )
    return result.to_json()
