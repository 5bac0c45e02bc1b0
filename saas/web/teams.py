"""Teams, data scope and permission pages (``/t/<slug>/teams``, ``/t/<slug>/roles/<key>/
permissions``; owners and admins), and the team of each member on the users page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice

from saas.errors import DomainError, ValidationFailed
from saas.web.forms import ConfirmForm
from saas.web.helpers import attach_errors
from tenants import permissions, teams
from tenants.models import DATA_SCOPE_LABELS, DataScope
from tenants.resolution import attach_ui_tenant, require_admin

bp = Blueprint("teams", __name__, url_prefix="/t/<slug>")
attach_ui_tenant(bp)


class TeamForm(FlaskForm):
    """The team service checks the values, so that every problem shows at once."""

    name = StringField(_l("Team name"), render_kw={"maxlength": teams.MAX_NAME})
    parent_id = SelectField(_l("Parent team"), validate_choice=False)


def _team_id(raw: str | None, field: str) -> int | None:
    """A team id from a form ("" is none); anything else is refused, naming the field."""
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise DomainError(_("Choose a valid team."), field=field) from None


def _parent_choices(exclude: set[int] | None = None) -> list[SelectChoice]:
    choices = [SelectChoice("", _("— None (top level) —"))]
    for node in teams.list_teams():
        if exclude and node.id in exclude:
            continue
        choices.append(SelectChoice(str(node.id), node.path_label))
    return choices


def member_team_context() -> dict[str, Any]:
    """What the users page needs to show and change each member's team."""
    nodes = teams.list_teams()
    return {
        "team_names": {n.id: n.path_label for n in nodes},
        "team_choices": [SelectChoice(str(n.id), n.path_label) for n in nodes],
    }


def _scope_choices() -> list[SelectChoice]:
    return [SelectChoice(s.value, str(DATA_SCOPE_LABELS[s])) for s in DataScope]


def _index(form: TeamForm, status: int = 200, scope_errors: list[str] | None = None):
    zh = str(get_locale() or "en").startswith("zh")
    return render_template(
        "tenant/teams.html",
        tree=teams.team_tree(),
        form=form,
        roles=teams.list_roles(),
        role_name=(lambda r: r.name_zh if zh else r.name_en),
        scope_choices=_scope_choices(),
        scope_labels={s.value: str(label) for s, label in DATA_SCOPE_LABELS.items()},
        scope_editable=teams.scope_editable,
        scope_errors=scope_errors or [],
        confirm=ConfirmForm(),
        team_members=teams.members_by_team(),
    ), status


@bp.route("/teams", methods=["GET", "POST"])
@require_admin
def index():
    form = TeamForm()
    form.parent_id.choices = _parent_choices()
    if request.method == "POST":
        if not form.validate_on_submit():
            return _index(form, 400)
        try:
            parent = _team_id(form.parent_id.data, "parent_id")
            team = teams.create_team(g.membership, form.name.data, parent)
        except DomainError as err:
            attach_errors(form, err)
            return _index(form, err.status)
        flash(_("Team “%(name)s” created.", name=team.name), "success")
        return redirect(url_for("teams.index", _anchor=f"team-{team.id}"))
    return _index(form)


@bp.route("/teams/<int:team_id>", methods=["GET", "POST"])
@require_admin
def edit(team_id: int):
    team = teams.get_team(team_id)
    below = {n.id for n in teams.flatten([team])}
    form = TeamForm(
        data=None
        if request.method == "POST"
        else {"name": team.name, "parent_id": str(team.parent_id or "")}
    )
    form.parent_id.choices = _parent_choices(exclude=below)
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate_on_submit():
            try:
                parent = _team_id(form.parent_id.data, "parent_id")
                teams.update_team(g.membership, team_id, name=form.name.data, parent_id=parent)
            except DomainError as err:
                attach_errors(form, err)
                status = err.status
            else:
                flash(_("Team saved."), "success")
                return redirect(url_for("teams.index", _anchor=f"team-{team_id}"))
    return render_template("tenant/team_form.html", team=team, form=form), status


@bp.route("/teams/<int:team_id>/delete", methods=["GET", "POST"])
@require_admin
def delete(team_id: int):
    impact = teams.delete_impact(team_id)
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        done = teams.delete_team(g.membership, team_id)
        flash(
            _(
                "Team “%(name)s” deleted. Members left without a team: %(members)d.",
                name=done.team.name,
                members=done.members,
            ),
            "info",
        )
        return redirect(url_for("teams.index"))
    return render_template("tenant/team_delete.html", impact=impact, confirm=form)


@bp.post("/teams/scopes")
@require_admin
def save_scopes():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    prefix = "scope-"
    scopes = {k[len(prefix) :]: v for k, v in request.form.items() if k.startswith(prefix)}
    editable = {r.key for r in teams.list_roles() if teams.scope_editable(r.key)}
    scopes = {k: v for k, v in scopes.items() if k in editable}
    try:
        teams.set_data_scopes(g.membership, scopes)
    except DomainError as err:
        return _index(_new_team_form(), err.status, [err.message])
    flash(_("Data scope saved."), "success")
    return redirect(url_for("teams.index", _anchor="data-scope"))


def _new_team_form() -> TeamForm:
    form = TeamForm(formdata=None)
    form.parent_id.choices = _parent_choices()
    return form


@bp.post("/users/<int:user_id>/team")
@require_admin
def set_member_team(user_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        team_id = _team_id(request.form.get("team_id"), "team_id")
        position = request.form.get("position", teams.KEEP)
        teams.set_member_team(g.membership, user_id, team_id, position=position)
    except DomainError as err:
        if err.status == 404:
            raise
        flash(err.message, "error")
        return redirect(url_for("tenant.users"))
    flash(_("Team changed."), "success")
    return redirect(url_for("tenant.users"))


# ---------------------------------------------------------------- module permissions

_ACTION_LABELS = {
    "view": _l("View"),
    "create": _l("Create"),
    "edit": _l("Edit"),
    "delete": _l("Delete"),
    "export": _l("Export"),
}


def _permissions_page(role_key: str, errors: dict[str, list[str]] | None = None, status=200):
    role = teams.get_role(role_key)
    zh = str(get_locale() or "en").startswith("zh")
    rows = permissions.matrix(role.key, locale="zh_CN" if zh else "en")
    return render_template(
        "tenant/permissions.html",
        role_key=role.key,
        role_name=role.name_zh if zh else role.name_en,
        role_scope=str(DATA_SCOPE_LABELS.get(role.data_scope, role.data_scope)),  # type: ignore[call-overload]
        locked=permissions.locked(role.key),
        rows=rows,
        labels={r.object_key: r.label for r in rows},
        actions=[(a, str(_ACTION_LABELS[a])) for a in permissions.ACTIONS],
        scope_choices=[(c.value, c.label) for c in _scope_choices()],
        errors=errors or {},
        confirm=ConfirmForm(),
    ), status


@bp.route("/roles/<role_key>/permissions", methods=["GET", "POST"])
@require_admin
def role_permissions(role_key: str):
    """The role's permission matrix: one row per object, a box per action, a data scope."""
    if request.method == "GET":
        return _permissions_page(role_key)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    entries = {
        row.object_key: {
            **{a: request.form.get(f"{row.object_key}.{a}") == "1" for a in permissions.ACTIONS},
            "data_scope": request.form.get(f"{row.object_key}.data_scope") or None,
        }
        for row in permissions.matrix(teams.get_role(role_key).key)
    }
    try:
        permissions.set_matrix(g.membership, role_key, entries)
    except DomainError as err:
        errors = err.errors if isinstance(err, ValidationFailed) else {"": [err.message]}
        return _permissions_page(role_key, errors, err.status)
    flash(_("Permissions saved."), "success")
    return redirect(url_for("teams.role_permissions", role_key=role_key))


@bp.post("/roles/<role_key>/permissions/reset")
@require_admin
def reset_permissions(role_key: str):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    permissions.reset(g.membership, role_key)
    flash(_("Permissions reset to the defaults."), "info")
    return redirect(url_for("teams.role_permissions", role_key=role_key))
