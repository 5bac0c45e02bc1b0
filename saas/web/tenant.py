"""Pages inside a tenant (``/t/<slug>/…``): home, members, invitations, API tokens, settings,
outbox and audit trail."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from custom_fields.services import list_objects
from saas.crm import activities, pool, transfer
from saas.errors import DomainError
from saas.web.forms import (
    AcceptInviteForm,
    ConfirmForm,
    InviteForm,
    RoleForm,
    SettingsForm,
    TokenForm,
)
from saas.web.helpers import attach_errors, base_url, start_browser_session
from saas.web.teams import member_team_context
from tenants import services
from tenants.models import ADMIN_ROLES, RoleKey
from tenants.resolution import attach_ui_tenant, require_admin

bp = Blueprint("tenant", __name__, url_prefix="/t/<slug>")
attach_ui_tenant(bp, public_endpoints=frozenset({"tenant.accept_invite"}))


def _role_choices() -> list[SelectChoice]:
    zh = str(get_locale()).startswith("zh")
    return [SelectChoice(r.key, r.name_zh if zh else r.name_en) for r in services.roles()]


@bp.get("/")
def home():
    return render_template(
        "tenant/home.html",
        objects=list_objects(),
        member_count=len(services.members()),
        reminders=activities.reminders(g.membership),  # shown first after login
    )


@bp.get("/users")
def users():
    invite_form = InviteForm()
    invite_form.role.choices = _role_choices()
    invite_form.role.data = RoleKey.MEMBER
    return render_template(
        "tenant/users.html",
        members=services.members(),
        invitations=services.pending_invitations() if g.membership.role_key in ADMIN_ROLES else [],
        invite_form=invite_form,
        role_choices=_role_choices(),
        confirm=ConfirmForm(),
        **member_team_context(),
    )


@bp.post("/users/invite")
@require_admin
def invite():
    form = InviteForm()
    form.role.choices = _role_choices()
    if form.validate_on_submit():
        try:
            services.invite(g.membership, form.email.data, form.role.data, base_url())
        except DomainError as err:
            attach_errors(form, err)
        else:
            flash(_("Invitation sent to %(email)s.", email=form.email.data), "success")
            return redirect(url_for("tenant.users"))
    return render_template(
        "tenant/users.html",
        members=services.members(),
        invitations=services.pending_invitations(),
        invite_form=form,
        role_choices=_role_choices(),
        confirm=ConfirmForm(),
        **member_team_context(),
    ), 400


@bp.post("/users/<int:user_id>/role")
@require_admin
def change_role(user_id: int):
    form = RoleForm()
    form.role.choices = _role_choices()
    if not form.validate_on_submit():
        abort(400)
    services.change_role(g.membership, user_id, form.role.data)
    flash(_("Role changed."), "success")
    return redirect(url_for("tenant.users"))


@bp.post("/users/<int:user_id>/deactivate")
@require_admin
def deactivate(user_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.set_member_status(g.membership, user_id, active=False)
    flash(_("The user has been deactivated."), "info")
    owned = sum(transfer.owned_counts(g.membership, user_id).values())
    if owned:  # offer to hand their records over to a colleague straight away
        flash(
            ngettext(
                "They still own %(num)d record: transfer it to a colleague.",
                "They still own %(num)d records: transfer them to a colleague.",
                owned,
            ),
            "warning",
        )
        return redirect(url_for("tenant.transfer_records", user_id=user_id))
    return redirect(url_for("tenant.users"))


@bp.post("/users/<int:user_id>/reactivate")
@require_admin
def reactivate(user_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.set_member_status(g.membership, user_id, active=True)
    flash(_("The user has been reactivated."), "success")
    return redirect(url_for("tenant.users"))


@bp.route("/users/<int:user_id>/transfer", methods=["GET", "POST"])
@require_admin
def transfer_records(user_id: int):
    """Transfer a member's records: choose the receiver and objects (with counts), confirm,
    then move them (a job above 200 records)."""
    source = services.membership(user_id)
    if source is None:
        abort(404)
    counts = transfer.owned_counts(g.membership, user_id)
    locale = str(get_locale() or "en")
    labels = {s.key: s.plural(locale) for s in transfer.objects()}
    receivers = [m for m in services.members() if m.is_active and m.user_id != user_id]
    form = ConfirmForm()
    chosen = request.form.getlist("objects") if request.method == "POST" else []
    to_raw = request.form.get("to_user_id", "")
    errors: list[str] = []
    stage = "choose"
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        try:
            to_user_id = int(to_raw)
        except ValueError:
            to_user_id = 0
        keys = [k for k in chosen if k in labels]
        try:
            if request.form.get("confirmed") == "1":
                result = transfer.transfer_all(g.membership, user_id, to_user_id, keys or None)
                if isinstance(result, dict):
                    flash(
                        ngettext(
                            "%(num)d record transferred.",
                            "%(num)d records transferred.",
                            result["total"],
                        ),
                        "success",
                    )
                else:
                    flash(_("The transfer is running: you can follow it on this page."), "info")
                    return redirect(
                        url_for("tenant.transfer_records", user_id=user_id, job=result.id)
                    )
                return redirect(url_for("tenant.users"))
            transfer.transfer_preview(g.membership, user_id, to_user_id, keys or None)
            stage = "confirm"
        except DomainError as err:
            messages = getattr(err, "errors", None) or {"": [err.message]}
            errors = [m for ms in messages.values() for m in ms]
    job = None
    if request.args.get("job"):
        try:
            job = transfer.transfer_job(g.membership, request.args["job"])
        except DomainError:
            job = None
    return render_template(
        "tenant/transfer.html",
        source=source,
        counts=counts,
        labels=labels,
        receivers=receivers,
        chosen=chosen or [k for k, n in counts.items() if n],
        to_user_id=to_raw,
        stage=stage,
        errors=errors,
        form=form,
        job=job,
    ), (400 if errors else 200)


@bp.post("/invitations/<int:invitation_id>/revoke")
@require_admin
def revoke_invitation(invitation_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.revoke_invitation(g.membership, invitation_id)
    flash(_("The invitation has been withdrawn."), "info")
    return redirect(url_for("tenant.users"))


@bp.route("/invite/<token>", methods=["GET", "POST"])
def accept_invite(token: str):
    invitation = services.find_invitation(token)
    form = AcceptInviteForm()
    status = 200
    if form.validate_on_submit():
        user = current_user if current_user.is_authenticated else None
        try:
            joined = services.accept_invitation(
                token, user, password=form.password.data, name=form.name.data or ""
            )
        except DomainError as err:
            attach_errors(form, err)
            status = err.status
        else:
            if user is None:
                start_browser_session(joined)
            flash(_("Welcome to %(company)s!", company=g.tenant.name), "success")
            return redirect(url_for("tenant.home"))
    return render_template("tenant/accept_invite.html", invitation=invitation, form=form), status


@bp.route("/tokens", methods=["GET", "POST"])
def tokens():
    form = TokenForm()
    new_token = None
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                _, new_token = services.create_token(g.membership, form.name.data)
            except DomainError as err:
                attach_errors(form, err)
                status = 400
            else:
                form = TokenForm(formdata=None)
        else:
            status = 400
    return render_template(
        "tenant/tokens.html",
        form=form,
        new_token=new_token,
        tokens=services.tokens_visible_to(g.membership),
        confirm=ConfirmForm(),
    ), status


@bp.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.revoke_token(g.membership, token_id)
    flash(_("The token has been revoked."), "info")
    return redirect(url_for("tenant.tokens"))


@bp.route("/settings", methods=["GET", "POST"])
@require_admin
def settings():
    form = SettingsForm(obj=g.tenant if request.method == "GET" else None)
    form.currency.choices = [SelectChoice(c, c) for c in services.SUPPORTED_CURRENCIES]
    form.pool_exempt_stages.choices = pool.stage_choices(str(get_locale() or "en"))
    if form.validate_on_submit():
        try:
            services.update_settings(
                g.membership,
                name=form.name.data,
                default_locale=form.default_locale.data,
                timezone=form.timezone.data,
                currency=form.currency.data,
                duplicate_policy=form.duplicate_policy.data or None,
                pool_return_days=form.pool_return_days.data,
                pool_owner_cap=form.pool_owner_cap.data,
                pool_review_days=form.pool_review_days.data,
                pool_exempt_stages=form.pool_exempt_stages.data if form.pool_fields.data else None,
                pool_reclaim_days=form.pool_reclaim_days.data,
                quote_discount_threshold=form.quote_discount_threshold.data,
                recycle_days=form.recycle_days.data,
            )
        except DomainError as err:
            attach_errors(form, err)
        else:
            flash(_("Settings saved."), "success")
            return redirect(url_for("tenant.settings"))
    status = 400 if request.method == "POST" else 200
    return render_template("tenant/settings.html", form=form), status


def _page() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


@bp.get("/outbox")
@require_admin
def outbox():
    return render_template("tenant/outbox.html", listing=services.outbox_page(_page()))


@bp.get("/audit")
@require_admin
def audit_log():
    return render_template("tenant/audit.html", listing=services.audit_page(_page()))
