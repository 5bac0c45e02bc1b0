"""Scheduled delivery of a report or a dashboard by email, as an Excel workbook or a PDF.

A schedule is daily, weekly (a weekday) or monthly (a day of the month; the last day in a
shorter month) at a time of day in the company's time zone. ``next_run_at`` is the next such
moment in UTC (:func:`next_run`): computed with the zone's rules on the local calendar, so it
stays at 08:00 local across daylight saving changes; a local time that does not exist that day
(skipped by the clock) moves forward by the gap, a repeated one takes its first occurrence.

The worker's scheduler runs :func:`schedule_deliveries` hourly: for every company it queues
:func:`deliver` for each active schedule whose ``next_run_at`` has passed. ``deliver`` runs the
report as the schedule's owner (their data scope and field access), mails the attachment to each
recipient and moves ``next_run_at`` to the next moment after now, all in one transaction with a
:class:`ReportDelivery` row keyed by schedule and period: a period goes out once, however many
workers or schedulers try, and after downtime a schedule delivers once and then keeps to its
rhythm (missed periods are not sent one by one).

Anyone may schedule what they can open to themselves; owners, administrators and managers may
send to other members (who then receive the figures the owner sees).
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from saas import mail
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.jobs import enqueue_after_commit, job
from saas.reports import services
from saas.reports.files import XLSX
from saas.reports.models import ReportDelivery, ReportSchedule
from tenants.context import current_tenant_id, tenant_context
from tenants.errors import Forbidden
from tenants.models import Membership, Tenant

FREQUENCIES = ("daily", "weekly", "monthly")
FORMATS = ("xlsx", "pdf")
CONTENT_TYPES = {"xlsx": XLSX, "pdf": "application/pdf"}
MAX_RECIPIENTS = 50
SCHEDULE_KEYS = {
    "report_id",
    "dashboard_id",
    "frequency",
    "weekday",
    "day",
    "time",
    "recipients",
    "format",
    "active",
}
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_log = logging.getLogger("kehu.reports")


class ScheduleNotFound(DomainError):
    status = 404


# ---- when -------------------------------------------------------------------------------------


def _matches(day: dt.date, frequency: str, weekday: int | None, month_day: int | None) -> bool:
    if frequency == "daily":
        return True
    if frequency == "weekly":
        return day.weekday() == weekday
    last = calendar.monthrange(day.year, day.month)[1]
    return day.day == min(month_day or 1, last)


def next_run(
    frequency: str,
    weekday: int | None,
    day: int | None,
    at_time: dt.time,
    timezone: str,
    after: dt.datetime,
) -> dt.datetime:
    """The first moment after ``after`` (aware) when the schedule is due, in UTC."""
    zone = ZoneInfo(timezone)
    local_day = after.astimezone(zone).date()
    for _offset in range(400):
        if _matches(local_day, frequency, weekday, day):
            # fold=0: a repeated local time is its first occurrence; a skipped one converts
            # with the offset before the change, i.e. moves forward by the gap.
            moment = dt.datetime.combine(local_day, at_time, tzinfo=zone).astimezone(dt.UTC)
            if moment > after:
                return moment
        local_day += dt.timedelta(days=1)
    raise AssertionError("no due day within 400 days")  # pragma: no cover


def period_of(moment: dt.datetime) -> str:
    """A due moment as the period key of a delivery (UTC, ISO 8601)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _company_zone() -> str:
    return db.session.get(Tenant, current_tenant_id()).timezone


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def schedule_next(schedule: ReportSchedule, after: dt.datetime) -> dt.datetime:
    return next_run(
        schedule.frequency,
        schedule.weekday,
        schedule.day,
        schedule.at_time,
        _company_zone(),
        after,
    )


# ---- commands ---------------------------------------------------------------------------------


def _state(schedule: ReportSchedule) -> dict[str, Any]:
    return {
        "report_id": schedule.report_id,
        "dashboard_id": schedule.dashboard_id,
        "frequency": schedule.frequency,
        "weekday": schedule.weekday,
        "day": schedule.day,
        "time": schedule.at_time.strftime("%H:%M") if schedule.at_time else None,
        "recipients": list(schedule.recipients or []),
        "format": schedule.format,
        "active": schedule.active,
    }


def _int(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw.strip())
    return None


def _clean(
    actor: Membership, payload: Mapping[str, Any], current: ReportSchedule | None
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    for key in sorted(set(payload) - SCHEDULE_KEYS, key=str):
        errors[str(key)[:40]] = [_("Unknown key “%(key)s”.", key=str(key)[:40])]
    state = _state(current) if current is not None else {}
    merged = {**state, **payload}
    values: dict[str, Any] = {}
    if current is None:
        report_id, dashboard_id = _int(merged.get("report_id")), _int(merged.get("dashboard_id"))
        if (report_id is None) == (dashboard_id is None):
            errors["report_id"] = [_("Choose a report or a dashboard.")]
        elif report_id is not None:
            try:
                values["report_id"] = services.get_report(actor, report_id).id
            except services.ReportNotFound:
                errors["report_id"] = [_("Choose a report you may open.")]
        else:
            try:
                values["dashboard_id"] = services.get_dashboard(actor, dashboard_id or 0).id
            except services.DashboardNotFound:
                errors["dashboard_id"] = [_("Choose a dashboard you may open.")]
    elif {"report_id", "dashboard_id"} & set(payload):
        errors["report_id"] = [_("A schedule keeps its report; make a new one instead.")]
    frequency = merged.get("frequency")
    if frequency not in FREQUENCIES:
        errors["frequency"] = [_("Choose daily, weekly or monthly.")]
    values["frequency"] = frequency
    values["weekday"] = values["day"] = None
    if frequency == "weekly":
        weekday = _int(merged.get("weekday"))
        if weekday is None or not 0 <= weekday <= 6:
            errors["weekday"] = [_("Choose a day of the week (0 = Monday … 6 = Sunday).")]
        values["weekday"] = weekday
    elif frequency == "monthly":
        day = _int(merged.get("day"))
        if day is None or not 1 <= day <= 31:
            errors["day"] = [_("Choose a day of the month from 1 to 31.")]
        values["day"] = day
    raw_time = merged.get("time")
    found = _TIME.match(raw_time.strip()) if isinstance(raw_time, str) else None
    if found is None:
        errors["time"] = [_("Enter a time as HH:MM (the company's time zone).")]
    else:
        values["at_time"] = dt.time(int(found.group(1)), int(found.group(2)))
    recipients = merged.get("recipients")
    if recipients is None and current is None:
        recipients = [actor.user_id]
    ids = [_int(r) for r in recipients] if isinstance(recipients, list) else None
    if not ids or None in ids or len(ids) > MAX_RECIPIENTS:
        errors["recipients"] = [
            _("List 1 to %(n)d members to send it to (their user ids).", n=MAX_RECIPIENTS)
        ]
    else:
        unique = sorted(set(ids))  # type: ignore[arg-type]
        active = set(
            db.session.execute(
                select(Membership.user_id).where(
                    Membership.user_id.in_(unique), Membership.status == "active"
                )
            ).scalars()
        )
        if set(unique) - active:
            errors["recipients"] = [_("Send it to active members of this company only.")]
        elif unique != [actor.user_id] and not services.is_manager(actor):
            errors["recipients"] = [
                _("Only owners, administrators and managers send reports to others.")
            ]
        values["recipients"] = unique
    fmt = merged.get("format") or "xlsx"
    if fmt not in FORMATS:
        errors["format"] = [_("Choose xlsx or pdf.")]
    values["format"] = fmt
    active = merged.get("active", True)
    if not isinstance(active, bool):
        errors["active"] = [_("Enter true or false.")]
    values["active"] = active is True
    if errors:
        raise ValidationFailed(errors)
    return values


def _visible(actor: Membership) -> Any:
    stmt = select(ReportSchedule)
    if not services.is_admin(actor):
        stmt = stmt.where(ReportSchedule.owner_id == actor.user_id)
    return stmt


def list_schedules(
    actor: Membership, *, report_id: int | None = None, dashboard_id: int | None = None
) -> list[ReportSchedule]:
    """The actor's schedules (every schedule for owners and administrators)."""
    stmt = _visible(actor)
    if report_id is not None:
        stmt = stmt.where(ReportSchedule.report_id == report_id)
    if dashboard_id is not None:
        stmt = stmt.where(ReportSchedule.dashboard_id == dashboard_id)
    return list(db.session.execute(stmt.order_by(ReportSchedule.id)).scalars())


def get_schedule(actor: Membership, schedule_id: int) -> ReportSchedule:
    found = None
    if 0 < schedule_id < 2**63:
        found = db.session.execute(
            _visible(actor).where(ReportSchedule.id == schedule_id)
        ).scalar_one_or_none()
    if found is None:
        raise ScheduleNotFound(_("There is no such schedule."))
    return found


def create_schedule(actor: Membership, payload: Mapping[str, Any]) -> ReportSchedule:
    values = _clean(actor, payload, None)
    schedule = ReportSchedule(
        owner_id=actor.user_id, created_by=actor.user_id, updated_by=actor.user_id, **values
    )
    schedule.next_run_at = schedule_next(schedule, _now()) if schedule.active else None
    services.add_item(schedule, "report_schedule", _state)
    return schedule


def update_schedule(
    actor: Membership,
    schedule_id: int,
    payload: Mapping[str, Any],
    expected_version: int | None = None,
) -> ReportSchedule:
    schedule = get_schedule(actor, schedule_id)
    services.require_version(schedule, expected_version)
    values = _clean(actor, payload, schedule)
    if services.apply_changes(actor, schedule, "report_schedule", _state, values):
        schedule.next_run_at = schedule_next(schedule, _now()) if schedule.active else None
    services.commit_versioned()
    return schedule


def delete_schedule(actor: Membership, schedule_id: int) -> None:
    schedule = get_schedule(actor, schedule_id)
    if schedule.owner_id != actor.user_id and not services.is_admin(actor):
        raise Forbidden(_("You may not delete this schedule."))
    services.delete_item(schedule, "report_schedule", _state)


def deliveries(schedule_id: int, limit: int = 20) -> list[ReportDelivery]:
    return list(
        db.session.execute(
            select(ReportDelivery)
            .where(ReportDelivery.schedule_id == schedule_id)
            .order_by(ReportDelivery.period.desc())
            .limit(limit)
        ).scalars()
    )


# ---- running ----------------------------------------------------------------------------------


def _job_id(schedule_id: int, period: str) -> str:
    compact = re.sub(r"[^0-9A-Za-z]", "", period)
    return f"report-delivery-t{current_tenant_id()}-{schedule_id}-{compact}"


def queue_due(now: dt.datetime | None = None) -> int:
    """Queue a delivery for every due schedule of the company in context (the caller
    commits). Answers how many were queued."""
    now = now or _now()
    due = db.session.execute(
        select(ReportSchedule.id, ReportSchedule.next_run_at).where(
            ReportSchedule.active.is_(True),
            ReportSchedule.next_run_at.is_not(None),
            ReportSchedule.next_run_at <= now,
        )
    ).all()
    for schedule_id, moment in due:
        period = period_of(moment)
        enqueue_after_commit(
            deliver,
            schedule_id,
            period,
            now.isoformat(),
            job_id=_job_id(schedule_id, period),
            timeout=services.BACKGROUND_TIMEOUT_MS // 1000 + 120,
        )
    return len(due)


@job
def schedule_deliveries(now: str | dt.datetime | None = None, batch: int = 500) -> int:
    """The hourly entry of :data:`saas.jobs.PERIODIC`: every company's due deliveries.

    One short query per company in its own tenant context (row-level security needs it);
    only due schedules become jobs. ``now`` moves the clock (tests)."""
    if isinstance(now, str):
        now = dt.datetime.fromisoformat(now)
    moment = now or _now()
    queued, last_id = 0, 0
    while True:
        ids = list(
            db.session.execute(
                select(Tenant.id).where(Tenant.id > last_id).order_by(Tenant.id).limit(batch)
            ).scalars()
        )
        db.session.commit()
        if not ids:
            return queued
        last_id = ids[-1]
        for tenant_id in ids:
            with tenant_context(tenant_id, db.session):
                queued += queue_due(moment)
                db.session.commit()


def _recipients(ids: list[int]) -> list[tuple[int, str, str]]:
    """(user id, email, language) of the schedule's recipients who are still active."""
    rows = db.session.execute(
        select(Membership).where(Membership.user_id.in_(ids), Membership.status == "active")
    ).scalars()
    tenant = db.session.get(Tenant, current_tenant_id())
    return [(m.user_id, m.user.email, m.user.locale or tenant.default_locale or "en") for m in rows]


def _content(schedule: ReportSchedule, member: Membership) -> tuple[str, bytes, set[str]]:
    """The attachment of the schedule's report or dashboard, computed as ``member``, and the
    objects whose figures it holds."""
    from saas.reports import pdf, xlsx

    sheets: list[tuple[str, Any, str | None]] = []
    widgets: list[dict[str, Any]] = []  # a dashboard's: the chart each widget shows
    objects: set[str] = set()
    if schedule.report_id is not None:
        report = services.get_report(member, schedule.report_id)
        title = services.display_name(report)
        permissions_check(member, report.object_key)
        objects.add(report.object_key)
        sheets.append((title, services.result_json(member, report), None))
    else:
        board = services.get_dashboard(member, schedule.dashboard_id or 0)
        title = board.name
        values = services.effective_filter(board, None)
        for item in services.dashboard_data(member, board, values):
            result = item.outcome.result
            if item.report is not None:
                objects.add(item.report.object_key)
            if result is None and item.report is not None and item.outcome.job is not None:
                extra = services.filter_conditions(
                    board.filters or {}, values, item.report.object_key
                )
                result = services.result_json(member, item.report, extra=extra)
            sheets.append((item.title, result, None if result else item.outcome.error or ""))
            widgets.append(item.widget)
    if schedule.format == "pdf":
        document = pdf.document(title, sheets, services._locale(), widgets=widgets or None)
        return title, document, objects
    errors = {i: error for i, (_t, _r, error) in enumerate(sheets) if error is not None}
    workbook = xlsx.workbook([(name, result) for name, result, _e in sheets], errors)
    return title, workbook, objects


def _allowed_recipients(
    schedule: ReportSchedule, owner: Membership, objects: set[str]
) -> list[tuple[int, str, str]]:
    """The recipients who may have the figures today, not only when the schedule was saved:
    the owner alone once they are no longer a manager; each other recipient only while their
    role views every object the attachment covers."""
    from tenants import permissions

    wanted = list(schedule.recipients or [])
    if not services.is_manager(owner):
        wanted = [owner.user_id] if owner.user_id in wanted else []
    members = {
        m.user_id: m
        for m in db.session.execute(
            select(Membership).where(Membership.user_id.in_(wanted), Membership.status == "active")
        ).scalars()
    }
    allowed = [
        uid
        for uid, m in members.items()
        if uid == owner.user_id or all(permissions.allowed(m, key, "view") for key in objects)
    ]
    return _recipients(allowed)


def permissions_check(member: Membership, object_key: str) -> None:
    from tenants import permissions

    permissions.require(member, object_key, "export")


def _filename(title: str, moment: dt.datetime, fmt: str = "xlsx") -> str:
    safe = re.sub(r'[\\/:*?"<>|\r\n]+', " ", title).strip()[:80] or "report"
    return f"{safe} {moment.astimezone(ZoneInfo(_company_zone())).date().isoformat()}.{fmt}"


@job
def deliver(schedule_id: int, period: str, now: str | None = None) -> str:
    """Worker side: send one period of one schedule (once), then move it to its next moment.
    Answers what happened: ``sent``, ``failed``, or why nothing was done."""
    from saas.records.requester import NoLongerMember, Requester, acting_as

    moment = dt.datetime.fromisoformat(now) if now else _now()
    schedule = db.session.execute(
        select(ReportSchedule).where(ReportSchedule.id == schedule_id).with_for_update()
    ).scalar_one_or_none()
    if schedule is None or not schedule.active or schedule.next_run_at is None:
        return "inactive"
    if period_of(schedule.next_run_at) != period:
        return "moved"  # delivered (or rescheduled) meanwhile
    claimed = db.session.execute(
        pg_insert(ReportDelivery)
        .values(
            tenant_id=current_tenant_id(),
            schedule_id=schedule_id,
            period=period,
            status="sent",
            recipients=list(schedule.recipients or []),
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "schedule_id", "period"])
        .returning(ReportDelivery.period)
    ).first()
    if claimed is None:
        return "done"
    delivery = db.session.get(ReportDelivery, (current_tenant_id(), schedule_id, period))
    status, error = "sent", None
    try:
        with acting_as(Requester(schedule.owner_id)) as member:
            title, data, objects = _content(schedule, member)
            to = _allowed_recipients(schedule, member, objects)
    except (DomainError, NoLongerMember) as exc:
        status, error = "failed", exc.message
    if status == "sent":
        filename = _filename(title, schedule.next_run_at, schedule.format)
        attachment = mail.attachment(filename, CONTENT_TYPES[schedule.format], data)
        base = current_app.config["KEHU_SETTINGS"].base_url.rstrip("/")
        tenant = db.session.get(Tenant, current_tenant_id())
        if schedule.report_id is not None:
            link = f"{base}/t/{tenant.slug}/reports/{schedule.report_id}"
        else:
            link = f"{base}/t/{tenant.slug}/dashboards/{schedule.dashboard_id}"
        for _user_id, email, locale in to:
            with force_locale(locale):
                mail.send(
                    to=email,
                    subject=_("Scheduled report: %(name)s", name=title),
                    body=_(
                        "The attachment holds “%(name)s” as of %(when)s.\n\n"
                        "Open it in Kehu: %(link)s\n\n"
                        "You receive this because a colleague scheduled it for you; they can "
                        "change or stop the schedule on the report's page.",
                        name=title,
                        when=filename.rsplit(" ", 1)[-1].rsplit(".", 1)[0],
                        link=link,
                    ),
                    kind="report.scheduled",
                    attachments=[attachment],
                )
        delivery.filename, delivery.size = filename, len(data)
        delivery.recipients = [user_id for user_id, _email, _locale in to]
    else:
        _log.warning(
            "scheduled report not delivered",
            extra={"schedule_id": schedule_id, "period": period, "error": error},
        )
        delivery.status, delivery.error = "failed", error
    schedule.last_run_at = moment
    schedule.last_status, schedule.last_error = status, error
    schedule.next_run_at = schedule_next(schedule, max(moment, schedule.next_run_at))
    return status
