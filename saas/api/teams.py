"""Teams, data scope and module permissions under ``/api/v1/t/<slug>/``: the team tree, which
records each role sees, and what it may do with each object. Any member reads the teams and
roles; owners and admins change them and read the permission matrix."""

from __future__ import annotations

from flask import g
from flask_babel import get_locale
from flask_babel import gettext as _
from marshmallow import Schema, fields, validate

from saas.api.blueprint import ApiBlueprint as Blueprint
from saas.api.schemas import StrictSchema
from tenants import permissions, teams
from tenants.errors import Forbidden
from tenants.models import ADMIN_ROLES, DATA_SCOPE_LABELS, DataScope, Role
from tenants.resolution import attach_api_tenant

bp = Blueprint("api_teams", __name__, description="Teams and the data scope of roles")
attach_api_tenant(bp)
SECURITY = [{"bearerAuth": []}]
SCOPES = [s.value for s in DataScope]


class TeamOut(Schema):
    id = fields.Integer()
    name = fields.String()
    parent_id = fields.Integer(allow_none=True, metadata={"description": "null: a top team"})
    member_count = fields.Integer(metadata={"description": "Active members in this team"})
    created_at = fields.DateTime()


class TeamTreeOut(TeamOut):
    children = fields.List(
        fields.Nested(lambda: TeamTreeOut()), metadata={"description": "Sub-teams, by name"}
    )


class TeamIn(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(max=200))
    parent_id = fields.Integer(allow_none=True, load_default=None)


class TeamPatch(StrictSchema):
    name = fields.String(validate=validate.Length(max=200))
    parent_id = fields.Integer(
        allow_none=True, metadata={"description": "Move under this team; null: to the top"}
    )


class RoleOut(Schema):
    key = fields.String()
    name = fields.Method("_name", metadata={"description": "In the caller's language"})
    name_en = fields.String()
    name_zh = fields.String()
    builtin = fields.Boolean()
    data_scope = fields.String(metadata={"description": " | ".join(SCOPES)})
    data_scope_label = fields.Method("_scope_label")
    data_scope_editable = fields.Method(
        "_editable", metadata={"description": "false for owner and admin: they see all"}
    )

    def _name(self, role: Role) -> str:
        return role.name_zh if str(get_locale() or "en").startswith("zh") else role.name_en

    def _scope_label(self, role: Role) -> str:
        label = DATA_SCOPE_LABELS.get(role.data_scope)  # type: ignore[call-overload]
        return str(label) if label is not None else role.data_scope

    def _editable(self, role: Role) -> bool:
        return teams.scope_editable(role.key)


class MemberTeamPatch(StrictSchema):
    team_id = fields.Integer(
        allow_none=True, metadata={"description": "A team of the company; null: no team"}
    )
    position = fields.Raw(
        allow_none=True,
        metadata={"description": 'The member\'s position, 1–60 characters; null or "": none'},
    )


class MemberTeamOut(Schema):
    user_id = fields.Integer()
    team_id = fields.Integer(allow_none=True)
    position = fields.String(allow_none=True)


class RolePatch(StrictSchema):
    data_scope = fields.String(required=True, validate=validate.OneOf(SCOPES))


@bp.get("/teams")
@bp.doc(security=SECURITY)
@bp.response(200, TeamTreeOut(many=True))
def list_teams():
    """The team tree: top teams with their sub-teams (``children``), by name."""
    return teams.team_tree()


@bp.post("/teams")
@bp.doc(security=SECURITY)
@bp.arguments(TeamIn)
@bp.response(201, TeamOut)
def create_team(body: dict):
    """Create a team, under ``parent_id`` or at the top (owners and admins)."""
    return teams.create_team(g.membership, body["name"], body["parent_id"])


@bp.get("/teams/<int:team_id>")
@bp.doc(security=SECURITY)
@bp.response(200, TeamOut)
def get_team(team_id: int):
    """One team with its member count."""
    return teams.get_team(team_id)


@bp.patch("/teams/<int:team_id>")
@bp.doc(security=SECURITY)
@bp.arguments(TeamPatch)
@bp.response(200, TeamOut)
def patch_team(body: dict, team_id: int):
    """Rename and/or move a team; it cannot go under itself or its own sub-teams."""
    return teams.update_team(
        g.membership, team_id, name=body.get("name"), parent_id=body.get("parent_id", teams.KEEP)
    )


@bp.delete("/teams/<int:team_id>")
@bp.doc(security=SECURITY)
@bp.response(204)
def delete_team(team_id: int):
    """Delete a team: its members are left without a team, its sub-teams move up to its
    parent (owners and admins)."""
    teams.delete_team(g.membership, team_id)


@bp.patch("/members/<int:user_id>")
@bp.doc(security=SECURITY)
@bp.arguments(MemberTeamPatch)
@bp.response(200, MemberTeamOut)
def patch_member(body: dict, user_id: int):
    """Set a member's team and/or position in it (owners and admins; audited)."""
    return teams.set_member_team(
        g.membership,
        user_id,
        body.get("team_id", teams.KEEP),
        position=body.get("position", teams.KEEP),
    )


@bp.get("/roles")
@bp.doc(security=SECURITY)
@bp.response(200, RoleOut(many=True))
def list_roles():
    """The company's roles with the data scope of each."""
    return teams.list_roles()


@bp.patch("/roles/<role_key>")
@bp.doc(security=SECURITY)
@bp.arguments(RolePatch)
@bp.response(200, RoleOut)
def patch_role(body: dict, role_key: str):
    """Set which records a role's members see (owners and admins; owner and admin stay
    ``all``)."""
    return teams.set_data_scope(g.membership, role_key, body["data_scope"])


# ---------------------------------------------------------------- module permissions


class GrantFields(Schema):
    view = fields.Boolean(required=True)
    create = fields.Boolean(required=True)
    edit = fields.Boolean(required=True)
    delete = fields.Boolean(required=True)
    export = fields.Boolean(required=True)
    data_scope = fields.String(
        allow_none=True,
        validate=validate.OneOf(SCOPES),
        metadata={"description": "null: the role's own data scope"},
    )


class GrantIn(GrantFields, StrictSchema):
    pass


class PermissionOut(GrantFields):
    object_key = fields.String()
    label = fields.String(metadata={"description": "The object's plural, in the caller's language"})
    configured = fields.Boolean(
        metadata={"description": "false: the role's defaults apply to this object"}
    )


class PermissionsOut(Schema):
    role = fields.String()
    locked = fields.Boolean(
        metadata={"description": "true for owner and admin: every right on every object"}
    )
    objects = fields.List(fields.Nested(PermissionOut))


class PermissionsIn(StrictSchema):
    objects = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(GrantIn),
        required=True,
        metadata={"description": "Object key → rights; objects not named keep theirs"},
    )


def _permissions(role_key: str) -> dict:
    locale = "zh_CN" if str(get_locale() or "en").startswith("zh") else "en"
    rows = permissions.matrix(role_key, locale=locale)
    return {
        "role": role_key,
        "locked": permissions.locked(role_key),
        "objects": [
            {"object_key": r.object_key, "label": r.label, "configured": r.configured}
            | r.grant.as_dict()
            for r in rows
        ],
    }


@bp.get("/roles/<role_key>/permissions")
@bp.doc(security=SECURITY)
@bp.response(200, PermissionsOut)
def get_permissions(role_key: str):
    """What the role may do with each object (view, create, edit, delete, export) and which
    records of it the role sees (owners and admins)."""
    if g.membership.role_key not in ADMIN_ROLES:
        raise Forbidden(_("Only owners and administrators can see permissions."))
    teams.get_role(role_key)
    return _permissions(role_key)


@bp.put("/roles/<role_key>/permissions")
@bp.doc(security=SECURITY)
@bp.arguments(PermissionsIn)
@bp.response(200, PermissionsOut)
def put_permissions(body: dict, role_key: str):
    """Set the role's rights on the objects named (all of them or none; audited). Writing
    needs viewing: a row that creates, edits, deletes or exports without view is refused."""
    permissions.set_matrix(g.membership, role_key, body["objects"])
    return _permissions(role_key)


@bp.delete("/roles/<role_key>/permissions")
@bp.doc(security=SECURITY)
@bp.response(200, PermissionsOut)
def reset_permissions(role_key: str):
    """Back to the role's defaults on every object (audited)."""
    permissions.reset(g.membership, role_key)
    return _permissions(role_key)
