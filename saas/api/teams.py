"""Teams and data scope under ``/api/v1/t/<slug>/``: the team tree, and which records each role
sees. Any member reads; owners and admins change."""

from __future__ import annotations

from flask import g
from flask_babel import get_locale
from marshmallow import Schema, fields, validate

from saas.api.blueprint import ApiBlueprint as Blueprint
from saas.api.schemas import StrictSchema
from tenants import teams
from tenants.models import DATA_SCOPE_LABELS, DataScope, Role
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
