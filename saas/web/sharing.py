"""The sharing page of a record (``/t/<slug>/o/<object_key>/<id>/sharing``): who it is shared
with, share with a member or a team, stop sharing. The service decides who may."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from saas.errors import DomainError, ValidationFailed
from saas.records import services, sharing
from saas.web.forms import ConfirmForm
from tenants import services as tenant_services
from tenants import teams
from tenants.resolution import attach_ui_tenant, require_right

bp = Blueprint("sharing", __name__, url_prefix="/t/<slug>/o/<object_key>/<int:record_id>/sharing")
attach_ui_tenant(bp)


def _page(object_key: str, record_id: int, errors: dict[str, list[str]] | None = None, status=200):
    st = services.store(object_key)
    record = services.get_record(object_key, record_id)
    members = [
        (m.user_id, m.user.display_name)
        for m in tenant_services.members()
        if m.is_active and m.user_id != record.owner_id
    ]
    return render_template(
        "records/sharing.html",
        schema=st.schema,
        record=record,
        shares=sharing.list_shares(g.membership, object_key, record_id),
        members=members,
        teams=teams.list_teams(),
        errors=errors or {},
        form=request.form if status != 200 else {},
        confirm=ConfirmForm(),
    ), status


def _target(raw: str | None) -> tuple[int | None, int | None]:
    """``user:12`` or ``team:3`` from the form's one select."""
    kind, _sep, value = (raw or "").partition(":")
    try:
        number = int(value)
    except ValueError:
        raise ValidationFailed({"target": [_("Choose a member or a team.")]}) from None
    if kind == "user":
        return number, None
    if kind == "team":
        return None, number
    raise ValidationFailed({"target": [_("Choose a member or a team.")]})


@bp.route("", methods=["GET", "POST"])
@require_right("view")
def index(object_key: str, record_id: int):
    if request.method == "GET":
        return _page(object_key, record_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        user_id, team_id = _target(request.form.get("target"))
        done = sharing.share(
            g.membership,
            object_key,
            record_id,
            user_id=user_id,
            team_id=team_id,
            access=request.form.get("access", "read"),
        )
    except DomainError as err:
        errors = err.errors if isinstance(err, ValidationFailed) else {"": [err.message]}
        return _page(object_key, record_id, errors, err.status)
    flash(_("Shared with %(name)s.", name=done.target_name), "success")
    return redirect(url_for("sharing.index", object_key=object_key, record_id=record_id))


@bp.post("/<int:share_id>/delete")
@require_right("view")
def remove(object_key: str, record_id: int, share_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    sharing.unshare(g.membership, object_key, record_id, share_id)
    flash(_("No longer shared."), "info")
    return redirect(url_for("sharing.index", object_key=object_key, record_id=record_id))
