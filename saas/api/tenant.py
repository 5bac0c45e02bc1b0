"""Tenant API under ``/api/v1/t/<slug>/``: the caller, members, invitations, settings, objects,
audit trail. Every route needs a bearer token issued in that tenant."""

from __future__ import annotations

from flask import g
from flask_babel import gettext as _

from saas import tracked
from saas.api.blueprint import ApiBlueprint as Blueprint
from saas.api.schemas import (
    AuditOut,
    AuditQuery,
    InvitationIn,
    InvitationOut,
    JobOut,
    MemberOut,
    MemberPatch,
    MeOut,
    SettingsOut,
    SettingsPatch,
)
from saas.errors import DomainError
from saas.web.helpers import base_url
from tenants import services
from tenants.resolution import attach_api_tenant, require_admin
from tenants.teams import KEEP

bp = Blueprint("api_tenant", __name__, description="Tenant: members, invitations, settings")
attach_api_tenant(bp)
SECURITY = [{"bearerAuth": []}]


@bp.get("/me")
@bp.doc(security=SECURITY)
@bp.response(200, MeOut)
def me():
    """The token's user, tenant and role."""
    return {"user": g.membership.user, "tenant": g.tenant, "role": g.membership.role_key}


@bp.get("/users")
@bp.doc(security=SECURITY)
@bp.response(200, MemberOut(many=True))
def list_users():
    """Members of the tenant with their roles and status."""
    return services.members()


@bp.patch("/users/<int:user_id>")
@bp.doc(security=SECURITY)
@bp.arguments(MemberPatch)
@bp.response(200, MemberOut)
def patch_user(body: dict, user_id: int):
    """Change a member's role, team (``null``: none) and/or deactivate/reactivate them
    (owners and admins)."""
    active = None if "status" not in body else body["status"] == "active"
    return services.update_member(
        g.membership,
        user_id,
        role=body.get("role"),
        active=active,
        team_id=body.get("team_id", KEEP),
    )


@bp.get("/invitations")
@bp.doc(security=SECURITY)
@require_admin
@bp.response(200, InvitationOut(many=True))
def list_invitations():
    """Pending invitations."""
    return services.pending_invitations()


@bp.post("/invitations")
@bp.doc(security=SECURITY)
@bp.arguments(InvitationIn)
@bp.response(201, InvitationOut)
def create_invitation(body: dict):
    """Invite someone by email; the link goes out by mail."""
    return services.invite(g.membership, body["email"], body["role"], base_url())


@bp.delete("/invitations/<int:invitation_id>")
@bp.doc(security=SECURITY)
@bp.response(204)
def delete_invitation(invitation_id: int):
    """Withdraw a pending invitation."""
    services.revoke_invitation(g.membership, invitation_id)


@bp.get("/settings")
@bp.doc(security=SECURITY)
@bp.response(200, SettingsOut)
def get_settings():
    """Company name, default language, time zone, currency and duplicate policy."""
    return g.tenant


@bp.patch("/settings")
@bp.doc(security=SECURITY)
@bp.arguments(SettingsPatch)
@bp.response(200, SettingsOut)
def patch_settings(body: dict):
    """Change the company settings (owners and admins)."""
    return services.update_settings(g.membership, **body)


@bp.get("/audit")
@bp.doc(security=SECURITY)
@require_admin
@bp.arguments(AuditQuery, location="query")
@bp.response(200, AuditOut(many=True))
def list_audit(query: dict):
    """Audit events, newest first; page with ``before_id`` (owners and admins)."""
    return services.audit_before(query.get("before_id"), query["limit"])


@bp.get("/jobs/<job_id>")
@bp.doc(security=SECURITY)
@bp.response(200, JobOut)
def get_job(job_id: str):
    """Status and progress of a background job started in this tenant."""
    row = tracked.get_job(job_id)
    if row is None:
        raise DomainError(_("There is no such job."), status=404)
    return row
