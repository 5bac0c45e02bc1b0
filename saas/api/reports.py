"""Reports, dashboards and report schedules under ``/api/v1/t/<slug>``.

A report always runs as the caller: their permission on the object, data scope and field access
apply, whoever wrote it. A run too long for a request answers ``202`` with a background job
(``GET …/jobs/<id>`` gives its status and, once done, the result). Rules live in
:mod:`saas.reports.services` and :mod:`saas.reports.schedules`.
"""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request, url_for
from marshmallow import INCLUDE, Schema, fields, validate

from saas.api.blueprint import ApiBlueprint
from saas.api.schemas import StrictSchema
from saas.records.services import parse_version
from saas.reports import present, schedules, services
from saas.reports.files import xlsx_response
from saas.reports.models import VISIBILITIES, Dashboard, ReportDefinition, ReportSchedule
from tenants.resolution import attach_api_tenant

bp = ApiBlueprint(
    "api_reports", __name__, description="Reports, dashboards and scheduled report delivery"
)
attach_api_tenant(bp)
SECURITY = [{"bearerAuth": []}]
IF_MATCH = [{"in": "header", "name": "If-Match", "required": True, "schema": {"type": "string"}}]


# ---- schemas ----------------------------------------------------------------------------------


class ReportOut(Schema):
    id = fields.Integer()
    name = fields.String(metadata={"description": "In the caller's language for built-ins"})
    description = fields.String(allow_none=True)
    folder = fields.String(allow_none=True)
    object_key = fields.String()
    spec = fields.Dict(metadata={"description": "The definition (docs/reports.md)"})
    visibility = fields.String(metadata={"enum": list(VISIBILITIES)})
    shared_with = fields.List(fields.Raw())
    owner_id = fields.Integer(allow_none=True)
    builtin_key = fields.String(allow_none=True)
    can_edit = fields.Boolean()
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ReportIn(StrictSchema):
    # Values are checked by the service, so every problem shows at once with its field.
    name = fields.Raw(metadata={"type": "string", "description": "1–200 characters"})
    description = fields.Raw(allow_none=True, metadata={"type": "string"})
    folder = fields.Raw(allow_none=True, metadata={"type": "string", "description": "Optional"})
    visibility = fields.Raw(
        metadata={
            "type": "string",
            "enum": list(VISIBILITIES),
            "description": "private (default); others need an owner, admin or manager",
        }
    )
    shared_with = fields.Raw(
        metadata={"type": "array", "items": {}, "description": "Role keys or team ids"}
    )
    spec = fields.Raw(
        metadata={"type": "object", "description": "The report definition (docs/reports.md)"}
    )


class ReportListQuery(Schema):
    folder = fields.String(
        load_default="all",
        validate=validate.OneOf(("all", "builtin", "mine", "shared")),
        metadata={"description": "all, builtin, mine (owned by the caller) or shared"},
    )


class ResultQuery(Schema):
    timezone = fields.String(allow_none=True)
    cursor = fields.String(allow_none=True)


class ResultOut(Schema):
    """The engine's result; every group, cell and the total carry ``drill`` (a list filter)
    and ``drill_url`` (the list page of exactly those records)."""

    class Meta:
        unknown = INCLUDE

    type = fields.String()
    object = fields.String()
    timezone = fields.String()
    locale = fields.String()
    currency = fields.String()
    aggregates = fields.List(fields.Dict())
    total = fields.Dict()
    groups = fields.List(fields.Dict())
    rows = fields.List(fields.Dict())
    column_groups = fields.List(fields.Dict())
    columns = fields.List(fields.Dict())
    cells = fields.List(fields.Dict())
    records = fields.List(fields.Dict())
    next_cursor = fields.String(allow_none=True)
    chart = fields.Dict(allow_none=True)
    chart_data = fields.Dict(
        allow_none=True, metadata={"description": "What the pages draw, with drill-down URLs"}
    )


class CopyIn(StrictSchema):
    name = fields.String(validate=validate.Length(min=1, max=services.MAX_NAME))


class DashboardOut(Schema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String(allow_none=True)
    visibility = fields.String(metadata={"enum": list(VISIBILITIES)})
    shared_with = fields.List(fields.Raw())
    owner_id = fields.Integer(allow_none=True)
    layout = fields.List(
        fields.Dict(),
        metadata={
            "description": "Widgets: {id, kind: report|kpi, report_id, x, y, w, h, chart, "
            "aggregate, title}"
        },
    )
    filters = fields.Dict(
        metadata={
            "description": "date_fields {object: field}, and default period, date_from, "
            "date_to, owner_id, team_id"
        }
    )
    can_edit = fields.Boolean()
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class DashboardIn(StrictSchema):
    name = fields.Raw(metadata={"type": "string"})
    description = fields.Raw(allow_none=True, metadata={"type": "string"})
    visibility = fields.Raw(metadata={"type": "string", "enum": list(VISIBILITIES)})
    shared_with = fields.Raw(metadata={"type": "array", "items": {}})
    layout = fields.Raw(metadata={"type": "array", "items": {}})
    filters = fields.Raw(metadata={"type": "object"})


class DashboardQuery(Schema):
    period = fields.String(
        allow_none=True, metadata={"enum": list(services.PERIODS), "description": "A period"}
    )
    date_from = fields.String(allow_none=True, metadata={"description": "YYYY-MM-DD"})
    date_to = fields.String(allow_none=True, metadata={"description": "YYYY-MM-DD (inclusive)"})
    owner_id = fields.String(allow_none=True, metadata={"description": "A member's user id"})
    team_id = fields.String(allow_none=True, metadata={"description": "A team's id"})


class WidgetOut(Schema):
    widget = fields.Dict()
    title = fields.String()
    report_id = fields.Integer(allow_none=True)
    result = fields.Dict(allow_none=True)
    chart_data = fields.Dict(allow_none=True)
    kpi = fields.Dict(allow_none=True)
    job = fields.Dict(allow_none=True, metadata={"description": "A run still computing"})
    error = fields.String(allow_none=True)


class DashboardDataOut(Schema):
    filters = fields.Dict(metadata={"description": "The filter values applied"})
    widgets = fields.List(fields.Nested(WidgetOut))


class ScheduleOut(Schema):
    id = fields.Integer()
    report_id = fields.Integer(allow_none=True)
    dashboard_id = fields.Integer(allow_none=True)
    owner_id = fields.Integer()
    frequency = fields.String(metadata={"enum": list(schedules.FREQUENCIES)})
    weekday = fields.Integer(allow_none=True, metadata={"description": "0 = Monday"})
    day = fields.Integer(allow_none=True, metadata={"description": "Day of the month"})
    time = fields.Function(lambda s: s.at_time.strftime("%H:%M"))
    recipients = fields.List(fields.Integer())
    format = fields.String()
    active = fields.Boolean()
    next_run_at = fields.DateTime(allow_none=True)
    last_run_at = fields.DateTime(allow_none=True)
    last_status = fields.String(allow_none=True)
    last_error = fields.String(allow_none=True)
    version = fields.Integer()


class ScheduleIn(StrictSchema):
    report_id = fields.Raw(allow_none=True, metadata={"type": "integer"})
    dashboard_id = fields.Raw(allow_none=True, metadata={"type": "integer"})
    frequency = fields.Raw(metadata={"type": "string", "enum": list(schedules.FREQUENCIES)})
    weekday = fields.Raw(allow_none=True, metadata={"type": "integer", "description": "0–6"})
    day = fields.Raw(allow_none=True, metadata={"type": "integer", "description": "1–31"})
    time = fields.Raw(metadata={"type": "string", "description": "HH:MM, the company's zone"})
    recipients = fields.Raw(
        metadata={"type": "array", "items": {"type": "integer"}, "description": "User ids"}
    )
    format = fields.Raw(metadata={"type": "string", "enum": list(schedules.FORMATS)})
    active = fields.Raw(metadata={"type": "boolean"})


class ScheduleQuery(Schema):
    report_id = fields.Integer(allow_none=True)
    dashboard_id = fields.Integer(allow_none=True)


# ---- helpers ----------------------------------------------------------------------------------


def _report_json(report: ReportDefinition) -> dict[str, Any]:
    return {
        "id": report.id,
        "name": services.display_name(report),
        "description": services.display_description(report),
        "folder": report.folder,
        "object_key": report.object_key,
        "spec": services.effective_spec(report),
        "visibility": report.visibility,
        "shared_with": report.shared_with,
        "owner_id": report.owner_id,
        "builtin_key": report.builtin_key,
        "can_edit": services.can_edit(report, g.membership),
        "version": report.version,
        "created_at": report.created_at,
        "updated_at": report.updated_at,
    }


def _dashboard_json(board: Dashboard) -> dict[str, Any]:
    return {
        "id": board.id,
        "name": board.name,
        "description": board.description,
        "visibility": board.visibility,
        "shared_with": board.shared_with,
        "owner_id": board.owner_id,
        "layout": board.layout,
        "filters": board.filters,
        "can_edit": services.can_edit(board, g.membership),
        "version": board.version,
        "created_at": board.created_at,
        "updated_at": board.updated_at,
    }


def _etag(body: dict[str, Any], status: int = 200):
    return body, status, {"ETag": f'"v{body["version"]}"'}


def _job_json(job: Any) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "error": job.error,
        "url": url_for("api_tenant.get_job", job_id=job.id),
    }


def _outcome(outcome: services.Outcome):
    """200 with the result, 202 with the job still computing it, 4xx for a refusal."""
    from saas.errors import DomainError, ValidationFailed

    if outcome.result is not None:
        body = present.decorate(outcome.result, g.tenant.slug)
        body["chart_data"] = present.chart(body)
        return body
    if outcome.job is not None and outcome.job.status != "failed":
        response = jsonify({"status": "computing", "job": _job_json(outcome.job)})
        response.status_code = 202
        response.headers["Location"] = url_for("api_tenant.get_job", job_id=outcome.job.id)
        return response
    if outcome.errors:
        raise ValidationFailed(outcome.errors)
    message = outcome.error or (outcome.job.error if outcome.job is not None else "")
    raise DomainError(message or "", status=400)


# ---- reports ----------------------------------------------------------------------------------


@bp.get("/reports")
@bp.doc(security=SECURITY)
@bp.arguments(ReportListQuery, location="query")
@bp.response(200, ReportOut(many=True))
def list_reports(query: dict):
    """The reports the caller may open: built-in ones first, then by name."""
    found = services.list_reports(g.membership)
    folder = query["folder"]
    me = g.membership.user_id
    if folder == "builtin":
        found = [r for r in found if r.builtin_key]
    elif folder == "mine":
        found = [r for r in found if r.owner_id == me]
    elif folder == "shared":
        found = [r for r in found if not r.builtin_key and r.owner_id != me]
    return [_report_json(r) for r in found]


@bp.post("/reports")
@bp.doc(security=SECURITY)
@bp.arguments(ReportIn)
@bp.response(201, ReportOut)
def create_report(body: dict):
    """Save a report (errors in the definition are keyed by their place: ``spec.groups[0]``)."""
    return _etag(_report_json(services.create_report(g.membership, body)), 201)


@bp.get("/reports/<int:report_id>")
@bp.doc(security=SECURITY)
@bp.response(200, ReportOut)
def get_report(report_id: int):
    """A report with its ``ETag``."""
    return _etag(_report_json(services.get_report(g.membership, report_id)))


@bp.patch("/reports/<int:report_id>")
@bp.doc(security=SECURITY, parameters=IF_MATCH)
@bp.arguments(ReportIn)
@bp.response(200, ReportOut)
def patch_report(body: dict, report_id: int):
    """Change a report; needs ``If-Match`` with its ``ETag`` (412 when it changed since)."""
    version = parse_version(request.headers.get("If-Match"))
    return _etag(_report_json(services.update_report(g.membership, report_id, body, version)))


@bp.delete("/reports/<int:report_id>")
@bp.doc(security=SECURITY)
@bp.response(204)
def delete_report(report_id: int):
    """Delete a report (and its schedules). Built-in reports cannot be deleted."""
    services.delete_report(g.membership, report_id)


@bp.post("/reports/<int:report_id>/copy")
@bp.doc(security=SECURITY)
@bp.arguments(CopyIn)
@bp.response(201, ReportOut)
def copy_report(body: dict, report_id: int):
    """A private copy of a report (how a built-in report is changed)."""
    return _etag(_report_json(services.copy_report(g.membership, report_id, body.get("name"))), 201)


@bp.get("/reports/<int:report_id>/result")
@bp.doc(security=SECURITY)
@bp.arguments(ResultQuery, location="query")
@bp.response(200, ResultOut)
@bp.alt_response(202, description="Too long for a request: computing as a job")
def report_result(query: dict, report_id: int):
    """Run a stored report as the caller."""
    report = services.get_report(g.membership, report_id)
    return _outcome(
        services.run_report(
            g.membership, report, timezone=query.get("timezone"), cursor=query.get("cursor")
        )
    )


@bp.get("/reports/<int:report_id>/export.xlsx")
@bp.doc(
    security=SECURITY,
    responses={
        "200": {
            "description": "An Excel workbook",
            "content": {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}},
        }
    },
)
def export_report(report_id: int):
    """The report as an Excel workbook: groups with their subtotals (outlined), totals, number
    formats. Needs the export right on the report's object."""
    report = services.get_report(g.membership, report_id)
    data = services.export_report(g.membership, report)
    return xlsx_response(data, services.display_name(report))


# ---- dashboards -------------------------------------------------------------------------------


@bp.get("/dashboards")
@bp.doc(security=SECURITY)
@bp.response(200, DashboardOut(many=True))
def list_dashboards():
    """The dashboards the caller may open."""
    return [_dashboard_json(d) for d in services.list_dashboards(g.membership)]


@bp.post("/dashboards")
@bp.doc(security=SECURITY)
@bp.arguments(DashboardIn)
@bp.response(201, DashboardOut)
def create_dashboard(body: dict):
    """Create a dashboard (widgets name reports the caller may open)."""
    return _etag(_dashboard_json(services.create_dashboard(g.membership, body)), 201)


@bp.get("/dashboards/<int:dashboard_id>")
@bp.doc(security=SECURITY)
@bp.response(200, DashboardOut)
def get_dashboard(dashboard_id: int):
    return _etag(_dashboard_json(services.get_dashboard(g.membership, dashboard_id)))


@bp.patch("/dashboards/<int:dashboard_id>")
@bp.doc(security=SECURITY, parameters=IF_MATCH)
@bp.arguments(DashboardIn)
@bp.response(200, DashboardOut)
def patch_dashboard(body: dict, dashboard_id: int):
    """Change a dashboard (the whole ``layout`` when sent); needs ``If-Match``."""
    version = parse_version(request.headers.get("If-Match"))
    board = services.update_dashboard(g.membership, dashboard_id, body, version)
    return _etag(_dashboard_json(board))


@bp.delete("/dashboards/<int:dashboard_id>")
@bp.doc(security=SECURITY)
@bp.response(204)
def delete_dashboard(dashboard_id: int):
    services.delete_dashboard(g.membership, dashboard_id)


@bp.get("/dashboards/<int:dashboard_id>/data")
@bp.doc(security=SECURITY)
@bp.arguments(DashboardQuery, location="query")
@bp.response(200, DashboardDataOut)
def dashboard_data(query: dict, dashboard_id: int):
    """Every widget's result as the caller sees it, with the dashboard's filters (these
    query values, else the dashboard's saved ones) ANDed into each widget's report."""
    board = services.get_dashboard(g.membership, dashboard_id)
    values = services.effective_filter(board, query)
    widgets = []
    for item in services.dashboard_data(g.membership, board, values):
        result = item.outcome.result
        if result is not None:
            present.decorate(result, g.tenant.slug)
        widget = item.widget
        widgets.append(
            {
                "widget": widget,
                "title": item.title,
                "report_id": item.report.id if item.report is not None else None,
                "result": result,
                "chart_data": present.chart(result, widget.get("chart"), widget.get("aggregate"))
                if result is not None and widget["kind"] == "report"
                else None,
                "kpi": present.kpi(result, widget.get("aggregate"))
                if result is not None and widget["kind"] == "kpi"
                else None,
                "job": _job_json(item.outcome.job)
                if item.outcome.pending and item.outcome.job is not None
                else None,
                "error": item.outcome.error,
            }
        )
    return {"filters": values.to_json(), "widgets": widgets}


# ---- schedules --------------------------------------------------------------------------------


@bp.get("/report-schedules")
@bp.doc(security=SECURITY)
@bp.arguments(ScheduleQuery, location="query")
@bp.response(200, ScheduleOut(many=True))
def list_schedules(query: dict):
    """The caller's schedules (every schedule for owners and administrators)."""
    return schedules.list_schedules(
        g.membership, report_id=query.get("report_id"), dashboard_id=query.get("dashboard_id")
    )


@bp.post("/report-schedules")
@bp.doc(security=SECURITY)
@bp.arguments(ScheduleIn)
@bp.response(201, ScheduleOut)
def create_schedule(body: dict):
    """Schedule a report or a dashboard by email; it runs as the caller."""
    return schedules.create_schedule(g.membership, body)


@bp.get("/report-schedules/<int:schedule_id>")
@bp.doc(security=SECURITY)
@bp.response(200, ScheduleOut)
def get_schedule(schedule_id: int):
    return schedules.get_schedule(g.membership, schedule_id)


@bp.patch("/report-schedules/<int:schedule_id>")
@bp.doc(security=SECURITY)
@bp.arguments(ScheduleIn)
@bp.response(200, ScheduleOut)
def patch_schedule(body: dict, schedule_id: int):
    """Change a schedule (``If-Match`` optional); its next run is computed again."""
    raw = request.headers.get("If-Match")
    version = parse_version(raw) if raw else None
    return schedules.update_schedule(g.membership, schedule_id, body, version)


@bp.delete("/report-schedules/<int:schedule_id>")
@bp.doc(security=SECURITY)
@bp.response(204)
def delete_schedule(schedule_id: int):
    schedules.delete_schedule(g.membership, schedule_id)


__all__ = ["ReportSchedule", "bp"]
