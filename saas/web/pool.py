"""The public pool page (``/t/<slug>/pool``): customers without an owner, to claim or assign;
releasing a customer from its record page; and each person's notifications (the bell in the
header and ``/t/<slug>/notifications``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from sqlalchemy.exc import SQLAlchemyError
from wtforms import BooleanField, StringField, TextAreaField

from custom_fields.query.scope import restricted
from saas.crm import pool
from saas.errors import DomainError, ValidationFailed
from saas.web.forms import ConfirmForm
from saas.web.helpers import safe_next
from tenants import notifications
from tenants.models import ADMIN_ROLES, WRITE_ROLES
from tenants.resolution import attach_ui_tenant

bp = Blueprint("pool", __name__, url_prefix="/t/<slug>")
attach_ui_tenant(bp)


class ReleaseForm(FlaskForm):
    reason = TextAreaField()


class AssignForm(FlaskForm):
    user_id = StringField()
    override_cap = BooleanField()


def _locale() -> str:
    return "zh_CN" if str(get_locale() or "en").startswith("zh") else "en"


def _refused(err: DomainError) -> None:
    """Show a refusal as a flash message; an unknown customer stays a 404 (so another
    company's ids look like no ids at all)."""
    if err.status == 404:
        raise err
    if isinstance(err, ValidationFailed):
        for messages in err.errors.values():
            for message in messages:
                flash(message, "error")
    else:
        flash(err.message, "error")


def _back(default: str) -> Any:
    return redirect(safe_next(request.form.get("next"), default))


@bp.get("/pool")
def index():
    member = g.membership
    locale = _locale()
    filters = {k: request.args.get(k) or None for k in pool.POOL_FILTERS}
    search = (request.args.get("q") or "").strip()[:100] or None
    page = pool.pool_page(
        member,
        cursor=request.args.get("cursor") or None,
        limit=50,
        filters=filters,
        search=search,
    )
    return render_template(
        "pool/index.html",
        page=page,
        values={a.id: pool.pool_values(member, a, locale) for a in page.rows},
        choices=pool.filter_choices(member, locale),
        labels={k: pool.filter_label(k, locale) for k in pool.POOL_FILTERS},
        filters=filters,
        search=search or "",
        filtered=bool(search or any(filters.values())),
        rules=pool.current_rules(),
        can_claim=member.role_key in WRITE_ROLES,
        can_open=not restricted(member, "account"),
        members=pool.assignable_members(member),
        can_override=member.role_key in ADMIN_ROLES,
        owned=pool.owned_count(member.user_id),
        confirm=ConfirmForm(),
    )


@bp.post("/pool/<int:account_id>/claim")
def claim(account_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        account = pool.claim(g.membership, account_id)
    except DomainError as err:
        _refused(err)
        return _back(url_for("pool.index"))
    flash(_("“%(name)s” is yours now.", name=account.name or account.id), "success")
    return redirect(url_for("records.detail", object_key="account", record_id=account.id))


@bp.post("/pool/<int:account_id>/assign")
def assign(account_id: int):
    form = AssignForm()
    if not form.validate_on_submit():
        abort(400)
    raw = (form.user_id.data or "").strip()
    user_id: Any = int(raw) if raw.isdigit() and len(raw) < 19 else raw
    try:
        account = pool.assign(
            g.membership, account_id, user_id, override_cap=bool(form.override_cap.data)
        )
    except DomainError as err:
        _refused(err)
        return _back(url_for("pool.index"))
    names = dict(pool.assignable_members(g.membership))
    flash(
        _(
            "“%(name)s” now belongs to %(person)s.",
            name=account.name or account.id,
            person=names.get(account.owner_id, account.owner_id),
        ),
        "success",
    )
    return _back(url_for("pool.index"))


@bp.post("/pool/<int:account_id>/release")
def release(account_id: int):
    form = ReleaseForm()
    if not form.validate_on_submit():
        abort(400)
    record_page = url_for("records.detail", object_key="account", record_id=account_id)
    try:
        account = pool.release(g.membership, account_id, form.reason.data)
    except DomainError as err:
        _refused(err)
        return redirect(record_page)
    flash(_("“%(name)s” is back in the public pool.", name=account.name or account.id), "success")
    return redirect(url_for("pool.index"))


# ---------------------------------------------------------------- notifications


@bp.get("/notifications")
def notification_list():
    user_id = g.membership.user_id
    before = request.args.get("cursor", "")
    rows, next_cursor = notifications.page(
        user_id, before_id=int(before) if before.isdigit() and len(before) < 19 else None
    )
    return render_template(
        "pool/notifications.html",
        rows=rows,
        next_cursor=next_cursor,
        first_page=not before,
        unread=notifications.unread_count(user_id),
        message=notifications.message,
        confirm=ConfirmForm(),
    )


@bp.post("/notifications/<int:notification_id>/read")
def read_notification(notification_id: int):
    """Mark read, then follow the notification to what it is about."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    row = notifications.mark_read(g.membership.user_id, notification_id)
    if request.form.get("open"):
        target = notifications.link(row)
        if target:
            return redirect(target)
    return redirect(url_for("pool.notification_list"))


@bp.post("/notifications/read-all")
def read_all():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    marked = notifications.mark_all_read(g.membership.user_id)
    if marked:
        flash(_("All notifications are marked read."), "success")
    return redirect(url_for("pool.notification_list"))


@bp.app_context_processor
def _bell() -> dict[str, Any]:
    """``unread_notifications()`` for the header's bell: counted only on pages that show it."""

    def unread_notifications() -> int:
        member = g.get("membership")
        if member is None:
            return 0
        try:
            return notifications.unread_count(member.user_id)
        except (SQLAlchemyError, RuntimeError):  # an error page after a failed transaction
            return 0

    return {"unread_notifications": unread_notifications}
