"""Visits and follow-ups in the web UI (``/t/<slug>/…``): the person's reminders, the calendar
(month and week), customers behind their visit target, completing a planned activity, logging a
follow-up from a record, the reply thread (批复) on every record page, and the visit targets in
the settings (owners and admins).

The record page (``records/detail.html``) includes ``activities/_record_panel.html``, which asks
:func:`record_panel` for what to show; the navigation shows :func:`reminder_badge`.
"""

from __future__ import annotations

import calendar as month_calendar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from babel.dates import format_date, format_skeleton
from flask import (
    Blueprint,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy.exc import SQLAlchemyError

from saas.crm import activities
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.records.errors import RecordNotFound
from saas.records.models import RecordColumns
from saas.web.forms import ConfirmForm
from tenants import services as tenant_services
from tenants.models import ADMIN_ROLES, WRITE_ROLES
from tenants.resolution import attach_ui_tenant, require_admin

bp = Blueprint("activities", __name__, url_prefix="/t/<slug>")
attach_ui_tenant(bp)

#: What the follow-up form posts (besides the CSRF token).
LOG_FIELDS = ("type", "status", "at", "content", "result", "next_step")


def _locale() -> str:
    return activities.ui_locale()


def _errors(err: DomainError) -> dict[str, list[str]]:
    if isinstance(err, ValidationFailed):
        return err.errors
    return {err.field or "": [err.message]}


def _flash(err: DomainError) -> None:
    for messages in _errors(err).values():
        for message in messages:
            flash(message, "error")


def _member_names() -> dict[int, str]:
    return {m.user_id: m.user.display_name for m in tenant_services.members()}


def _local_input(moment: datetime | None) -> str:
    """A moment as a ``datetime-local`` input shows it, in the person's time zone."""
    if moment is None:
        return ""
    zone = activities.person_zone(g.membership)
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def _record_page(object_key: str, record_id: int, anchor: str | None = None) -> str:
    return url_for("records.detail", object_key=object_key, record_id=record_id, _anchor=anchor)


# ---------------------------------------------------------------- the record page panel


@dataclass
class RecordPanel:
    """What the record page shows of follow-ups: the reply thread and whether the person may
    write in it, the follow-up form (customers, contacts, deals), the completion form (planned
    activities) and a customer's latest contact."""

    object_key: str
    record: RecordColumns
    thread: list[activities.ActivityReply]
    authors: dict[int, str]
    can_reply: bool
    can_log: bool
    can_complete: bool
    type_choices: list[tuple[str, str]] = field(default_factory=list)
    now_input: str = ""
    contact: activities.ContactStatus | None = None


def record_panel(object_key: str, record: RecordColumns) -> RecordPanel | None:
    """The panel of a record page (``None`` outside a tenant page)."""
    member = g.get("membership")
    if member is None:
        return None
    thread = activities.replies(member, object_key, record.id)
    writer = member.role_key in WRITE_ROLES
    data = record.data or {}
    return RecordPanel(
        object_key=object_key,
        record=record,
        thread=thread,
        authors=activities.authors(thread),
        can_reply=activities.may_reply(member, record),
        can_log=writer and object_key in activities.LINKED,
        can_complete=writer and object_key == "activity" and data.get("status") == "planned",
        type_choices=activities.type_choices(_locale()),
        now_input=_local_input(activities.utcnow()),
        contact=activities.contact_status(record) if object_key == "account" else None,
    )


def reminder_badge() -> int:
    """The navigation's count of the person's due and overdue activities."""
    member = g.get("membership")
    if member is None:
        return 0
    try:
        return activities.reminder_count(member)
    except (SQLAlchemyError, RuntimeError):  # an error page after a failed transaction
        return 0


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {
        "activity_panel": record_panel,
        "activity_reminder_count": reminder_badge,
        "activity_choice_label": activities.choice_label,
    }


# ---------------------------------------------------------------- replies


@bp.post("/replies/<object_key>/<int:record_id>")
def post_reply(object_key: str, record_id: int):
    activities.visible_record(g.membership, object_key, record_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        activities.reply(g.membership, object_key, record_id, request.form.get("body", ""))
    except RecordNotFound:
        raise
    except DomainError as err:
        db.session.rollback()
        _flash(err)
    else:
        flash(_("Your reply was added."), "success")
    return redirect(_record_page(object_key, record_id, "replies"))


@bp.post("/replies/<int:reply_id>/delete")
def delete_reply(reply_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    row = activities.get_reply(g.membership, reply_id)
    try:
        activities.delete_reply(g.membership, reply_id)
    except DomainError as err:
        if err.status == 404:
            raise
        db.session.rollback()
        _flash(err)
    else:
        flash(_("Your reply was deleted."), "info")
    return redirect(_record_page(row.object_key, row.record_id, "replies"))


# ---------------------------------------------------------------- logging a follow-up


def _log_page(
    record: RecordColumns,
    object_key: str,
    values: dict[str, str],
    errors: dict[str, list[str]],
    status: int = 200,
):
    general = [m for key, messages in errors.items() if key not in LOG_FIELDS for m in messages]
    return render_template(
        "activities/log.html",
        record=record,
        object_key=object_key,
        object_label=activities.object_label(object_key, _locale()),
        values=values,
        errors=errors,
        general_errors=general,
        type_choices=activities.type_choices(_locale()),
        confirm=ConfirmForm(),
    ), status


@bp.route("/activities/log/<object_key>/<int:record_id>", methods=["GET", "POST"])
def log(object_key: str, record_id: int):
    """Log a follow-up done (or plan one) for a customer, contact or opportunity."""
    record = activities.loggable_record(g.membership, object_key, record_id)
    if request.method == "GET":
        values = {
            "type": request.args.get("type", "visit"),
            "status": "done",
            "at": _local_input(activities.utcnow()),
        }
        return _log_page(record, object_key, values, {})
    if not ConfirmForm().validate_on_submit():
        abort(400)
    values = {key: request.form.get(key, "") for key in LOG_FIELDS}
    try:
        activity = activities.log_activity(g.membership, object_key, record_id, values)
    except RecordNotFound:
        raise
    except DomainError as err:
        db.session.rollback()
        return _log_page(record, object_key, values, _errors(err), err.status)
    if (activity.data or {}).get("status") == "planned":
        flash(_("“%(name)s” is planned.", name=activity.name), "success")
    else:
        flash(_("“%(name)s” was logged.", name=activity.name), "success")
    return redirect(_record_page(object_key, record_id))


# ---------------------------------------------------------------- completing


def _complete_page(activity: RecordColumns, values: dict[str, str], errors, status: int = 200):
    data = activity.data or {}
    return render_template(
        "activities/complete.html",
        activity=activity,
        type_label=activities.choice_label("activity", "type", data.get("type"), _locale()),
        result_required=data.get("type") in activities.RESULT_REQUIRED_TYPES,
        values=values,
        errors=errors,
        general_errors=[
            m for key, ms in errors.items() if key not in ("result", "done_at") for m in ms
        ],
        confirm=ConfirmForm(),
    ), status


@bp.route("/activities/<int:activity_id>/complete", methods=["GET", "POST"])
def complete(activity_id: int):
    """Mark a planned activity done with its result."""
    activity = activities.visible_record(g.membership, "activity", activity_id)
    if request.method == "GET":
        values = {"result": "", "done_at": _local_input(activities.utcnow())}
        return _complete_page(activity, values, {})
    if not ConfirmForm().validate_on_submit():
        abort(400)
    values = {key: request.form.get(key, "") for key in ("result", "done_at")}
    try:
        done = activities.complete(
            g.membership, activity_id, values["result"], values["done_at"] or None
        )
    except RecordNotFound:
        raise
    except DomainError as err:
        db.session.rollback()
        activity = activities.visible_record(g.membership, "activity", activity_id)
        return _complete_page(activity, values, _errors(err), err.status)
    flash(_("“%(name)s” is done.", name=done.name), "success")
    return redirect(_record_page("activity", activity_id))


# ---------------------------------------------------------------- reminders


@bp.get("/activities/")
def index():
    """The person's due and overdue activities, with the ways to the calendar and the
    customers behind their visit target."""
    return render_template(
        "activities/index.html",
        reminders=activities.reminders(g.membership),
        list_url=url_for("records.index", object_key="activity"),
    )


def home_reminders() -> activities.Reminders | None:
    """The reminders panel of the company's home page (``tenant.home``)."""
    member = g.get("membership")
    return activities.reminders(member) if member is not None else None


# ---------------------------------------------------------------- calendar


@dataclass(frozen=True)
class Day:
    day: date
    in_range: bool
    today: bool
    items: list[activities.Item]


def _week_start(day: date) -> date:
    first = get_locale().first_week_day if get_locale() is not None else 0
    return day - timedelta(days=(day.weekday() - first) % 7)


def _parse_day(raw: str | None, today: date) -> date:
    if not raw:
        return today
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed({"date": [_("Enter a date as YYYY-MM-DD.")]}) from None


def _team_arg(raw: str | None) -> int | None:
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise ValidationFailed({"team": [_("Choose a team.")]})
    return int(raw)


@bp.get("/activities/calendar")
def calendar_page():
    """A month (or, with ``view=week``, a week) of the person's activities, or a team's."""
    member = g.membership
    zone = activities.person_zone(member)
    today = activities.utcnow().astimezone(zone).date()
    view = "week" if request.args.get("view") == "week" else "month"
    try:
        anchor = _parse_day(request.args.get("date"), today)
        team_id = _team_arg(request.args.get("team"))
        if view == "week":
            first = _week_start(anchor)
            start, end = first, first + timedelta(days=7)
            prev, nxt = anchor - timedelta(days=7), anchor + timedelta(days=7)
            in_month = None
        else:
            month_start = anchor.replace(day=1)
            days_in_month = month_calendar.monthrange(anchor.year, anchor.month)[1]
            month_end = month_start + timedelta(days=days_in_month)
            start = _week_start(month_start)
            end = month_end + timedelta(days=(7 - (month_end - start).days % 7) % 7)
            prev = (month_start - timedelta(days=1)).replace(day=1)
            nxt = month_end
            in_month = anchor.month
        feed = activities.calendar(member, start.isoformat(), end.isoformat(), team_id=team_id)
    except ValidationFailed as err:
        _flash(err)
        return redirect(url_for(".calendar_page", view=view))
    by_day: dict[date, list[activities.Item]] = {}
    for item in feed.items:
        if item.at is not None:
            by_day.setdefault(item.at.astimezone(zone).date(), []).append(item)
    days = [
        Day(
            start + timedelta(days=n),
            in_month is None or (start + timedelta(days=n)).month == in_month,
            start + timedelta(days=n) == today,
            by_day.get(start + timedelta(days=n), []),
        )
        for n in range((end - start).days)
    ]
    weeks = [days[i : i + 7] for i in range(0, len(days), 7)]
    locale = get_locale() or "en"
    if view == "week":
        title = f"{format_date(start, 'medium', locale=locale)} – " + format_date(
            end - timedelta(days=1), "medium", locale=locale
        )
    else:
        title = format_skeleton("yMMMM", anchor, locale=locale)
    return render_template(
        "activities/calendar.html",
        view=view,
        anchor=anchor,
        title=title,
        weeks=weeks,
        weekdays=[d.day for d in weeks[0]] if weeks else [],
        prev=prev,
        next=nxt,
        today=today,
        team_id=team_id,
        teams=activities.visible_teams(member),
        truncated=feed.truncated,
        owners=_member_names() if team_id is not None else {},
        zone=zone,
    )


# ---------------------------------------------------------------- behind target


@bp.get("/activities/behind")
def behind():
    """Customers behind their grade's visit target, with a grade filter."""
    member = g.membership
    grade = (request.args.get("grade") or "").strip()[:60] or None
    cursor = request.args.get("cursor") or None
    try:
        page = activities.behind_target(member, grade=grade, cursor=cursor)
    except ValidationFailed as err:
        _flash(err)
        return redirect(url_for(".behind"))
    labels = {code: label for code, label, _active in activities.grade_choices(_locale())}
    return render_template(
        "activities/behind.html",
        page=page,
        grade=grade,
        first_page=cursor is None,
        grades=[(code, labels.get(code, code), days) for code, days in page.targets.items()],
        labels=labels,
        owners=_member_names(),
        is_admin=member.role_key in ADMIN_ROLES,
    )


# ---------------------------------------------------------------- visit targets (settings)


@bp.route("/settings/visit-targets", methods=["GET", "POST"])
@require_admin
def visit_targets():
    """The company's visit frequency targets: days between contacts, per customer grade."""
    rows = activities.target_rows(_locale())
    errors: dict[str, list[str]] = {}
    posted: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        if not ConfirmForm().validate_on_submit():
            abort(400)
        wanted: dict[str, Any] = {}
        for row in rows:
            name = f"days-{row.grade}"
            if name not in request.form:
                abort(400)  # a form without every grade's input would drop targets
            raw = request.form[name].strip()
            posted[row.grade] = raw
            if not raw:
                wanted[row.grade] = None
            elif raw.isdigit() and len(raw) < 6:
                wanted[row.grade] = int(raw)
            else:
                wanted[row.grade] = raw  # refused by the service, naming the grade
        try:
            activities.set_visit_targets(g.membership, wanted)
        except DomainError as err:
            db.session.rollback()
            errors = _errors(err)
            status = err.status
        else:
            flash(_("The visit targets were saved."), "success")
            return redirect(url_for(".visit_targets"))
    return render_template(
        "activities/targets.html",
        rows=rows,
        posted=posted,
        errors=errors,
        max_days=activities.MAX_TARGET_DAYS,
        confirm=ConfirmForm(),
    ), status
