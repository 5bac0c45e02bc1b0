"""Report and dashboard pages (``/t/<slug>/reports/…``, ``/t/<slug>/dashboards/…``).

* the report list: built-in reports, the person's own, those shared with them (and, for owners
  and administrators, others' private ones), by folder, with an empty state;
* the builder: a GET form whose URL is the whole draft (:mod:`saas.reports.builder`), with the
  list pages' filter builder (``list.js``, on the same ``f``/``logic`` parameters), a preview
  on the right, and a save form;
* a report: its chart (ECharts, ``reports.js``) and its table with subtotals (a matrix as a
  pivot table), every group, bar, slice and cell opening the list of exactly its records; Excel
  export, print preview, copy, delete, schedules, "add to dashboard"; a report too slow for the
  request is computed as a job the page waits for;
* dashboards: a grid of report widgets and KPI tiles with a filter bar (period or dates, owner,
  team), adding widgets from reports, editing the layout and the date field per object.

Views are thin: every rule is in :mod:`saas.reports.services` and :mod:`saas.reports.schedules`.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from custom_fields.definitions import schemas
from custom_fields.reports import engine
from saas import tracked
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.records import views as view_service
from saas.reports import builder, present, schedules, services
from saas.reports.files import xlsx_response
from saas.reports.models import Dashboard, ReportDefinition
from saas.web import lists
from saas.web.forms import ConfirmForm
from tenants import permissions
from tenants import services as tenant_services
from tenants.context import current_tenant_id
from tenants.models import Team
from tenants.resolution import attach_ui_tenant

bp = Blueprint("reports", __name__, url_prefix="/t/<slug>")
attach_ui_tenant(bp)

TYPE_LABELS = {
    "summary": _l("Summary (groups and subtotals)"),
    "matrix": _l("Matrix (rows × columns)"),
    "tabular": _l("Tabular (a list of records)"),
}
FUNCTION_LABELS = {
    "count": _l("Count of records"),
    "count_distinct": _l("Count of distinct values"),
    "sum": _l("Sum"),
    "avg": _l("Average"),
    "min": _l("Smallest"),
    "max": _l("Largest"),
    "weighted_sum": _l("Weighted sum (× a percent or number)"),
}
GRANULARITY_LABELS = {
    "day": _l("Day"),
    "week": _l("Week"),
    "month": _l("Month"),
    "quarter": _l("Quarter"),
    "year": _l("Year"),
}
CHART_LABELS = {
    "bar": _l("Bar"),
    "stacked_bar": _l("Stacked bar"),
    "line": _l("Line"),
    "pie": _l("Pie"),
    "donut": _l("Donut"),
    "funnel": _l("Funnel"),
}
PERIOD_LABELS = {
    "today": _l("Today"),
    "yesterday": _l("Yesterday"),
    "this_week": _l("This week"),
    "last_week": _l("Last week"),
    "this_month": _l("This month"),
    "last_month": _l("Last month"),
    "this_quarter": _l("This quarter"),
    "last_quarter": _l("Last quarter"),
    "this_year": _l("This year"),
    "last_year": _l("Last year"),
}
FREQUENCY_LABELS = {"daily": _l("Daily"), "weekly": _l("Weekly"), "monthly": _l("Monthly")}
WEEKDAY_LABELS = (
    _l("Monday"),
    _l("Tuesday"),
    _l("Wednesday"),
    _l("Thursday"),
    _l("Friday"),
    _l("Saturday"),
    _l("Sunday"),
)
#: Widget widths offered (of 12 grid columns).
WIDTHS = (3, 4, 6, 8, 12)


def _locale() -> str:
    return "zh_CN" if str(get_locale() or "en").startswith("zh") else "en"


def _messages(err: DomainError) -> dict[str, list[str]]:
    return err.errors if isinstance(err, ValidationFailed) else {err.field or "": [err.message]}


def _check_csrf() -> None:
    if not ConfirmForm().validate_on_submit():
        abort(400)


def _poll_url(outcome: services.Outcome) -> str | None:
    """Where a page waiting for a background run asks for its state."""
    if outcome.pending and outcome.job is not None:
        return url_for("reports.job_status", job_id=outcome.job.id)
    return None


def _record_url(object_key: str):
    return lambda record_id: url_for("records.detail", object_key=object_key, record_id=record_id)


# ---- fields for the builder ------------------------------------------------------------------


def _objects() -> list[tuple[str, str]]:
    from custom_fields.services import list_objects

    locale = _locale()
    return [
        (o.key, o.label_zh if locale == "zh_CN" else o.label_en)
        for o in list_objects()
        if permissions.allowed(g.membership, o.key, "view")
    ]


def _fields(object_key: str) -> dict[str, Any]:
    """The fields the member may use on ``object_key``: all of them (filters, columns,
    aggregates) and the groupable ones, with one hop through a lookup."""
    locale = _locale()
    known = schemas(current_tenant_id())
    if object_key not in known or not permissions.allowed(g.membership, object_key, "view"):
        return {"all": [], "groupable": [], "numbers": [], "meta": []}
    meta = view_service.query_fields(g.membership, object_key, locale)

    def groupable(item: dict[str, Any]) -> bool:
        return item["kind"] in engine.GROUPABLE and item["type"] not in engine.UNGROUPABLE_TYPES

    options = [(f["key"], f["label"], f["kind"]) for f in meta]
    groups = [(f["key"], f["label"], f["kind"]) for f in meta if groupable(f)]
    schema = known[object_key]
    for item in meta:
        if item["kind"] != "reference":
            continue
        info = schema.field(item["key"])
        target = info.spec.options.get("target") if info is not None else None
        if target not in known or not permissions.allowed(g.membership, target, "view"):
            continue
        for other in view_service.query_fields(g.membership, target, locale):
            if groupable(other) and other["kind"] != "reference":
                groups.append(
                    (
                        f"{item['key']}.{other['key']}",
                        f"{item['label']} › {other['label']}",
                        other["kind"],
                    )
                )
    numbers = [(k, label, kind) for k, label, kind in options if kind == "number"]
    return {"all": options, "groupable": groups, "numbers": numbers, "meta": meta}


def _members() -> list[tuple[int, str]]:
    return [(m.user_id, m.user.display_name) for m in tenant_services.members()]


# ---- the report list ---------------------------------------------------------------------------


@bp.get("/reports/")
def index():
    actor = g.membership
    every = services.list_reports(actor)
    found = every
    folder = request.args.get("folder") or ""
    if folder:
        found = [r for r in found if (r.folder or "") == folder]
    me = actor.user_id
    sections = [
        ("builtin", _("Built-in reports"), [r for r in found if r.builtin_key]),
        ("mine", _("My reports"), [r for r in found if not r.builtin_key and r.owner_id == me]),
        (
            "shared",
            _("Shared with me"),
            [
                r
                for r in found
                if not r.builtin_key and r.owner_id != me and r.visibility != "private"
            ],
        ),
    ]
    if services.is_admin(actor):
        others = [
            r for r in found if not r.builtin_key and r.owner_id != me and r.visibility == "private"
        ]
        sections.append(("others", _("Others' private reports"), others))
    folders = sorted({r.folder for r in every if r.folder}, key=str.lower)
    people = dict(_members())
    return render_template(
        "reports/index.html",
        sections=sections,
        folders=folders,
        folder=folder,
        people=people,
        name_of=services.display_name,
        description_of=services.display_description,
        object_labels=dict(_objects()),
        dashboards=services.list_dashboards(actor),
    )


# ---- the builder -------------------------------------------------------------------------------


def _preview(spec: dict[str, Any]) -> dict[str, Any]:
    """Run a draft for the preview: its result, chart and table, or why it cannot run."""
    try:
        services.check_spec(g.membership, spec)
        result = services.run_spec(g.membership, spec).to_json()
    except engine.ReportTooSlow:
        return {
            "message": _(
                "This report takes too long for a preview. Save it and open it: it is then "
                "computed in the background."
            )
        }
    except ValidationFailed as exc:
        # check_spec keys errors by their place in a body (spec.groups[0]); the form's are bare.
        return {
            "errors": {
                (k.removeprefix("spec.") if k != "spec" else "spec"): v
                for k, v in exc.errors.items()
            }
        }
    except DomainError as exc:
        if exc.status >= 500:
            raise
        return {"message": exc.message}
    present.decorate(result, g.tenant.slug)
    return {
        "result": result,
        "chart": present.chart(result),
        "table": present.table(result, _locale(), _record_url(result["object"])),
    }


def _builder_page(
    report: ReportDefinition | None,
    args: MultiDict,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
):
    objects = _objects()
    if not objects:
        abort(403)
    if not args.get("object"):
        args = MultiDict(args)
        args["object"] = (
            "opportunity" if any(k == "opportunity" for k, _l2 in objects) else objects[0][0]
        )
    draft = builder.spec_from_args(args)
    object_key = draft.spec["object"]
    fields = _fields(object_key)
    preview: dict[str, Any] = {}
    all_errors: dict[str, list[str]] = dict(draft.errors)
    if not draft.errors and (
        args.get("g0") or args.get("cols") or report is not None or args.get("preview")
    ):
        preview = _preview(draft.spec)
        if preview.get("errors"):
            draft.add_errors(preview["errors"])
            all_errors = dict(draft.errors)
    for key, messages in (errors or {}).items():
        if key.startswith("spec"):
            inner = key.removeprefix("spec").lstrip(".") or "spec"
            all_errors.setdefault(draft.field_for(inner), []).extend(messages)
        else:
            all_errors.setdefault(key, []).extend(messages)
    state = urlencode(list(builder.state_args(args).items(multi=True)))
    roles, teams = lists.share_choices()
    current = values or (
        {
            "name": report.name,
            "description": report.description or "",
            "folder": report.folder or "",
            "visibility": report.visibility,
            "shared_with": report.shared_with,
        }
        if report is not None
        else {
            "name": "",
            "description": "",
            "folder": "",
            "visibility": "private",
            "shared_with": [],
        }
    )
    index = url_for("reports.edit", report_id=report.id) if report else url_for("reports.new")
    meta = {
        "fields": fields["meta"],
        "members": [{"id": uid, "name": name} for uid, name in _members()],
        "filter": draft.spec.get("filter"),
        "sort": [],
        "columns": [],
        "maxSort": 1,
        "index": index,
        "csrf": generate_csrf(),
        "groupBy": None,
        "viewHasFilter": draft.spec.get("filter") is not None,
    }
    return render_template(
        "reports/builder.html",
        report=report,
        args=args,
        spec=draft.spec,
        objects=objects,
        fields=fields,
        preview=preview,
        errors=all_errors,
        state=state,
        values=current,
        roles=roles,
        teams=teams,
        can_share=services.is_manager(g.membership),
        meta=meta,
        type_labels=TYPE_LABELS,
        function_labels=FUNCTION_LABELS,
        granularity_labels=GRANULARITY_LABELS,
        chart_labels=CHART_LABELS,
        aggregate_keys=builder.aggregate_keys(draft.spec),
        rows=range(builder.ROW_GROUPS),
        column_rows=range(builder.COLUMN_GROUPS),
        aggregate_rows=range(builder.AGGREGATES),
        confirm=ConfirmForm(),
    ), status


def _save_values(form: MultiDict) -> dict[str, Any]:
    return {
        "name": form.get("name", ""),
        "description": form.get("description", ""),
        "folder": form.get("folder", ""),
        **lists.share_payload(form),
    }


def _state_from_form() -> MultiDict:
    from urllib.parse import parse_qsl

    return builder.state_args(
        MultiDict(parse_qsl(request.form.get("state", ""), keep_blank_values=True))
    )


@bp.route("/reports/new", methods=["GET", "POST"])
def new():
    if request.method == "GET":
        return _builder_page(None, request.args)
    return _save_report(None)


@bp.route("/reports/<int:report_id>/edit", methods=["GET", "POST"])
def edit(report_id: int):
    report = services.get_report(g.membership, report_id)
    if not services.can_edit(report, g.membership):
        abort(403)
    if request.method == "GET":
        args = (
            request.args
            if builder.state_args(request.args)
            else builder.args_from_spec(report.spec)
        )
        return _builder_page(report, args)
    return _save_report(report)


def _save_report(report: ReportDefinition | None):
    """The builder's save form: a new report (``report`` None) or a change of ``report``;
    problems show on the builder."""
    _check_csrf()
    args = _state_from_form()
    values = _save_values(request.form)
    draft = builder.spec_from_args(args)
    if draft.errors:
        return _builder_page(report, args, values=values, errors=draft.errors, status=400)
    body = {**values, "spec": draft.spec}
    try:
        if report is None:
            saved = services.create_report(g.membership, body)
        else:
            version = int(request.form.get("version", "0") or 0) or None
            saved = services.update_report(g.membership, report.id, body, version)
    except DomainError as err:
        if err.status in (403, 404):
            raise
        return _builder_page(report, args, values=values, errors=_messages(err), status=err.status)
    if report is None:
        flash(_("Report “%(name)s” saved.", name=saved.name), "success")
    else:
        flash(_("Report saved."), "success")
    return redirect(url_for("reports.view", report_id=saved.id))


# ---- a report ----------------------------------------------------------------------------------


def _report_context(report: ReportDefinition) -> dict[str, Any]:
    actor = g.membership
    outcome = services.run_report(actor, report, cursor=request.args.get("cursor") or None)
    result = outcome.result
    context: dict[str, Any] = {
        "report": report,
        "name": services.display_name(report),
        "description": services.display_description(report),
        "outcome": outcome,
        "result": result,
        "chart": None,
        "table": None,
        "can_edit": services.can_edit(report, actor),
        "can_export": permissions.allowed(actor, report.object_key, "export"),
        "object_label": dict(_objects()).get(report.object_key, report.object_key),
        "poll_url": _poll_url(outcome),
        "confirm": ConfirmForm(),
    }
    if result is not None:
        present.decorate(result, g.tenant.slug)
        context["chart"] = present.chart(result)
        context["table"] = present.table(result, _locale(), _record_url(result["object"]))
        if result.get("next_cursor"):
            context["next_url"] = url_for(
                "reports.view", report_id=report.id, cursor=result["next_cursor"]
            )
    return context


@bp.get("/reports/<int:report_id>")
def view(report_id: int):
    report = services.get_report(g.membership, report_id)
    context = _report_context(report)
    context["dashboards"] = [
        d for d in services.list_dashboards(g.membership) if services.can_edit(d, g.membership)
    ]
    context["schedules"] = schedules.list_schedules(g.membership, report_id=report.id)
    return render_template("reports/view.html", **context)


@bp.get("/reports/<int:report_id>/print")
def print_report(report_id: int):
    report = services.get_report(g.membership, report_id)
    context = _report_context(report)
    return render_template("reports/print.html", printed_at=dt.datetime.now(dt.UTC), **context)


@bp.get("/reports/<int:report_id>/export.xlsx")
def export(report_id: int):
    report = services.get_report(g.membership, report_id)
    data = services.export_report(g.membership, report)
    return xlsx_response(data, services.display_name(report))


@bp.post("/reports/<int:report_id>/copy")
def copy(report_id: int):
    _check_csrf()
    report = services.copy_report(g.membership, report_id)
    flash(_("This is your copy: change it and save."), "success")
    return redirect(url_for("reports.edit", report_id=report.id))


@bp.post("/reports/<int:report_id>/delete")
def delete(report_id: int):
    _check_csrf()
    report = services.get_report(g.membership, report_id)
    name = services.display_name(report)
    services.delete_report(g.membership, report_id)
    flash(_("Report “%(name)s” deleted.", name=name), "success")
    return redirect(url_for("reports.index"))


@bp.get("/reports/jobs/<job_id>")
def job_status(job_id: str):
    """A background run's state, for the page waiting for it (the person's own runs only)."""
    row = tracked.get_job(job_id)
    owner = ((row.params or {}).get("requester") or {}).get("user_id") if row else None
    if row is None or row.kind != services.RUN_JOB_KIND or owner != g.membership.user_id:
        abort(404)
    return jsonify({"status": row.status, "error": row.error})


# ---- schedules ---------------------------------------------------------------------------------


def _schedule_form(form: MultiDict) -> dict[str, Any]:
    body: dict[str, Any] = {
        "frequency": form.get("frequency", "daily"),
        "time": form.get("time", ""),
        "format": form.get("format", "xlsx"),
        "recipients": [r for r in form.getlist("recipients") if r],
    }
    if body["frequency"] == "weekly":
        body["weekday"] = form.get("weekday", "")
    if body["frequency"] == "monthly":
        body["day"] = form.get("day", "")
    if not body["recipients"]:
        body["recipients"] = [g.membership.user_id]
    return body


def _schedules_page(
    target: ReportDefinition | Dashboard, kind: str, errors=None, values=None, status=200
):
    actor = g.membership
    found = schedules.list_schedules(
        actor, **({"report_id": target.id} if kind == "report" else {"dashboard_id": target.id})
    )
    people = _members()
    return render_template(
        "reports/schedules.html",
        target=target,
        kind=kind,
        name=services.display_name(target) if kind == "report" else target.name,
        schedules=found,
        deliveries={s.id: schedules.deliveries(s.id, 5) for s in found},
        people=people,
        names=dict(people),
        can_send_to_others=services.is_manager(actor),
        errors=errors or {},
        values=values
        or {
            "format": "xlsx",
            "frequency": "daily",
            "time": "08:00",
            "weekday": "0",
            "day": "1",
            "recipients": [actor.user_id],
        },
        frequency_labels=FREQUENCY_LABELS,
        weekday_labels=WEEKDAY_LABELS,
        timezone=services.company_timezone(),
        confirm=ConfirmForm(),
    ), status


def _schedules(target: ReportDefinition | Dashboard, kind: str):
    """The schedules page of a report or a dashboard (``kind``), and its form adding one."""
    if request.method == "GET":
        return _schedules_page(target, kind)
    _check_csrf()
    body = _schedule_form(request.form)
    try:
        schedules.create_schedule(g.membership, {**body, f"{kind}_id": target.id})
    except DomainError as err:
        if err.status in (403, 404):
            raise
        values = {**body, "weekday": request.form.get("weekday"), "day": request.form.get("day")}
        return _schedules_page(target, kind, _messages(err), values, err.status)
    if kind == "report":
        flash(_("Schedule saved. The report is sent as you see it."), "success")
    else:
        flash(_("Schedule saved. The dashboard is sent as you see it."), "success")
    return redirect(_schedules_url(kind, target.id))


def _schedules_url(kind: str, target_id: int | None) -> str:
    if kind == "report":
        return url_for("reports.report_schedules", report_id=target_id)
    return url_for("reports.dashboard_schedules", dashboard_id=target_id)


@bp.route("/reports/<int:report_id>/schedules", methods=["GET", "POST"])
def report_schedules(report_id: int):
    return _schedules(services.get_report(g.membership, report_id), "report")


@bp.route("/dashboards/<int:dashboard_id>/schedules", methods=["GET", "POST"])
def dashboard_schedules(dashboard_id: int):
    return _schedules(services.get_dashboard(g.membership, dashboard_id), "dashboard")


@bp.post("/reports/schedules/<int:schedule_id>")
def change_schedule(schedule_id: int):
    """Pause, resume or delete a schedule (``action``)."""
    _check_csrf()
    schedule = schedules.get_schedule(g.membership, schedule_id)
    action = request.form.get("action")
    if action == "delete":
        schedules.delete_schedule(g.membership, schedule_id)
        flash(_("Schedule deleted."), "success")
    elif action in ("pause", "resume"):
        schedules.update_schedule(g.membership, schedule_id, {"active": action == "resume"})
        flash(_("Schedule paused.") if action == "pause" else _("Schedule resumed."), "success")
    else:
        abort(400)
    if schedule.report_id is not None:
        return redirect(_schedules_url("report", schedule.report_id))
    return redirect(_schedules_url("dashboard", schedule.dashboard_id))


# ---- dashboards --------------------------------------------------------------------------------


@bp.route("/dashboards/", methods=["GET", "POST"])
def dashboards():
    actor = g.membership
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {"name": "", "visibility": "private", "shared_with": []}
    status = 200
    if request.method == "POST":
        _check_csrf()
        values = {"name": request.form.get("name", ""), **lists.share_payload(request.form)}
        try:
            board = services.create_dashboard(actor, values)
        except DomainError as err:
            if err.status in (403, 404):
                raise
            errors, status = _messages(err), err.status
        else:
            flash(_("Dashboard “%(name)s” created. Add reports to it.", name=board.name), "success")
            return redirect(url_for("reports.dashboard", dashboard_id=board.id))
    roles, teams = lists.share_choices()
    people = dict(_members())
    return render_template(
        "reports/dashboards.html",
        boards=services.list_dashboards(actor),
        people=people,
        values=values,
        errors=errors,
        roles=roles,
        teams=teams,
        can_share=services.is_manager(actor),
        confirm=ConfirmForm(),
    ), status


def _widget_view(item: services.WidgetData) -> dict[str, Any]:
    widget = item.widget
    result = item.outcome.result
    view: dict[str, Any] = {
        "widget": widget,
        "title": item.title,
        "report": item.report,
        "error": item.outcome.error,
        "pending": item.outcome.pending,
        "poll_url": _poll_url(item.outcome),
        "chart": None,
        "table": None,
        "kpi": None,
    }
    if result is not None:
        present.decorate(result, g.tenant.slug)
        if widget["kind"] == "kpi":
            view["kpi"] = present.kpi(result, widget.get("aggregate"))
            if view["kpi"] is not None:
                from saas.reports import xlsx

                column = (
                    next(
                        (
                            c
                            for c in xlsx.figure_columns(result)
                            if c.key == widget.get("aggregate")
                        ),
                        None,
                    )
                    or (xlsx.figure_columns(result) or [None])[0]
                )
                value = column.value(result["total"]) if column is not None else None
                view["kpi"]["text"] = present.text(value, column, _locale()) if column else ""
        else:
            chart_type = widget.get("chart")
            if chart_type != "table":
                view["chart"] = present.chart(result, chart_type, widget.get("aggregate"))
            view["table"] = present.table(result, _locale(), _record_url(result["object"]))
    return view


@bp.get("/dashboards/<int:dashboard_id>")
def dashboard(dashboard_id: int):
    actor = g.membership
    board = services.get_dashboard(actor, dashboard_id)
    raw = {k: v for k, v in request.args.items() if k in services.FILTER_KEYS}
    errors: dict[str, list[str]] = {}
    try:
        values = services.effective_filter(board, raw)
    except ValidationFailed as exc:
        errors = exc.errors
        values = services.effective_filter(board, None)
    widgets = [_widget_view(w) for w in services.dashboard_data(actor, board, values)]
    people = _members()
    reports = services.list_reports(actor)
    return render_template(
        "reports/dashboard.html",
        board=board,
        values=values,
        errors=errors,
        widgets=widgets,
        people=people,
        teams=tenant_services_teams(),
        periods=PERIOD_LABELS,
        can_edit=services.can_edit(board, actor),
        reports=reports,
        name_of=services.display_name,
        widths=WIDTHS,
        confirm=ConfirmForm(),
    ), 400 if errors else 200


def tenant_services_teams() -> list[tuple[int, str]]:
    return [(t.id, t.name) for t in db.session.execute(select(Team).order_by(Team.name)).scalars()]


@bp.post("/dashboards/<int:dashboard_id>/widgets")
def add_widget(dashboard_id: int):
    """Add a report's chart or KPI tile to a dashboard (the dashboard's form)."""
    _check_csrf()
    try:
        report_id = int(request.form.get("report_id", ""))
    except ValueError:
        abort(400)
    return _add_widget(dashboard_id, report_id)


@bp.post("/reports/<int:report_id>/widget")
def add_to_dashboard(report_id: int):
    """Add this report to a dashboard chosen on the report's page."""
    _check_csrf()
    services.get_report(g.membership, report_id)  # 404 before anything else
    try:
        dashboard_id = int(request.form.get("dashboard_id", ""))
    except ValueError:
        abort(400)
    return _add_widget(dashboard_id, report_id)


def _add_widget(dashboard_id: int, report_id: int):
    kind = request.form.get("kind", "report")
    try:
        width = int(request.form.get("w") or (6 if kind == "report" else 3))
    except ValueError:
        abort(400)
    widget = {
        "kind": kind,
        "report_id": report_id,
        "w": width,
        "h": 4 if kind == "report" else 1,
    }
    try:
        board = services.add_widget(g.membership, dashboard_id, widget)
    except ValidationFailed as err:
        flash(" ".join(m for ms in err.errors.values() for m in ms), "error")
        return redirect(url_for("reports.dashboard", dashboard_id=dashboard_id))
    flash(_("Widget added to “%(name)s”.", name=board.name), "success")
    return redirect(url_for("reports.dashboard", dashboard_id=dashboard_id))


def _board_reports(board: Dashboard) -> dict[int, ReportDefinition]:
    """The reports the dashboard's widgets name, by id."""
    return {
        r.id: r
        for r in db.session.execute(
            select(ReportDefinition).where(
                ReportDefinition.id.in_({w["report_id"] for w in board.layout or []} or {0})
            )
        ).scalars()
    }


def _date_fields(board: Dashboard) -> list[dict[str, Any]]:
    """Per object on the dashboard: its date fields and the one the filter uses."""
    reports = _board_reports(board)
    objects = dict(_objects())
    chosen = (board.filters or {}).get("date_fields") or {}
    out = []
    for object_key in sorted({r.object_key for r in reports.values()}):
        if object_key not in objects:
            continue
        dates = [
            (f["key"], f["label"])
            for f in _fields(object_key)["meta"]
            if f["kind"] in ("date", "datetime")
        ]
        out.append(
            {
                "object": object_key,
                "label": objects[object_key],
                "fields": dates,
                "chosen": chosen.get(object_key, "created_at"),
            }
        )
    return out


@bp.route("/dashboards/<int:dashboard_id>/edit", methods=["GET", "POST"])
def edit_dashboard(dashboard_id: int):
    actor = g.membership
    board = services.get_dashboard(actor, dashboard_id)
    if not services.can_edit(board, actor):
        abort(403)
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        _check_csrf()
        form = request.form
        layout = []
        for widget in board.layout or []:
            wid = widget["id"]
            if form.get(f"remove-{wid}"):
                continue
            try:
                order = int(form.get(f"order-{wid}", "0") or 0)
                width = int(form.get(f"w-{wid}", widget["w"]))
                height = int(form.get(f"h-{wid}", widget["h"]))
            except ValueError:
                abort(400)
            layout.append(
                (
                    order,
                    {
                        **widget,
                        "w": width,
                        "h": height,
                        "x": 0,
                        "chart": form.get(f"chart-{wid}") or None,
                        "title": form.get(f"title-{wid}") or None,
                    },
                )
            )
        layout.sort(key=lambda pair: pair[0])
        placed = _place([w for _o, w in layout])
        filters = dict(board.filters or {})
        filters["date_fields"] = {
            key.removeprefix("date-"): value
            for key, value in form.items()
            if key.startswith("date-") and value
        }
        payload = {
            "name": form.get("name", ""),
            "description": form.get("description", ""),
            **lists.share_payload(form),
            "layout": placed,
            "filters": filters,
        }
        try:
            version = int(form.get("version", "0") or 0) or None
            services.update_dashboard(actor, dashboard_id, payload, version)
        except DomainError as err:
            if err.status in (403, 404):
                raise
            errors, status = _messages(err), err.status
        else:
            flash(_("Dashboard saved."), "success")
            return redirect(url_for("reports.dashboard", dashboard_id=dashboard_id))
    roles, teams = lists.share_choices()
    reports = _board_reports(board)
    return render_template(
        "reports/dashboard_edit.html",
        board=board,
        errors=errors,
        roles=roles,
        teams=teams,
        can_share=services.is_manager(actor),
        date_fields=_date_fields(board),
        reports=reports,
        name_of=services.display_name,
        chart_labels=CHART_LABELS,
        widths=WIDTHS,
        confirm=ConfirmForm(),
    ), status


def _place(widgets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flow widgets into rows of 12 columns in their order (x, y from the widths)."""
    x = y = row_height = 0
    out = []
    for widget in widgets:
        w = max(1, min(services.GRID_COLUMNS, widget["w"]))
        if x + w > services.GRID_COLUMNS:
            x, y, row_height = 0, y + row_height, 0
        out.append({**widget, "x": x, "y": y, "w": w})
        x += w
        row_height = max(row_height, widget["h"])
    return out


@bp.post("/dashboards/<int:dashboard_id>/delete")
def delete_dashboard(dashboard_id: int):
    _check_csrf()
    board = services.get_dashboard(g.membership, dashboard_id)
    name = board.name
    services.delete_dashboard(g.membership, dashboard_id)
    flash(_("Dashboard “%(name)s” deleted.", name=name), "success")
    return redirect(url_for("reports.dashboards"))


def chart_json(chart: dict[str, Any] | None) -> str:
    return json.dumps(chart, ensure_ascii=False) if chart else ""
