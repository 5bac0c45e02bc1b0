"""Invitations, roles, deactivation and API tokens, through the UI and the API."""

from __future__ import annotations

import re

from sqlalchemy import select

from saas.extensions import db
from tenants.context import tenant_context
from tenants.models import ApiToken, AuditEvent, OutboxMessage
from tests.conftest import TEST_PASSWORD, unique


def _outbox(app, company, kind):
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        return (
            db.session.execute(
                select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
            )
            .scalars()
            .all()
        )


def _audit_actions(app, company):
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        return db.session.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars().all()


def _invite_link(app, company) -> str:
    body = _outbox(app, company, "invitation")[-1].body
    return re.search(r"http://kehu\.test(/t/\S+/invite/\S+)", body).group(1)


def test_invite_new_person_who_sets_a_password(app, login, make_company, drain_jobs):
    company = make_company()
    owner = login(company.owner_email)
    email = f"{unique('new')}@example.com"
    response = owner.post(
        f"/t/{company.slug}/users/invite", data={"email": email, "role": "manager"}
    )
    assert response.status_code == 302
    assert email in owner.get(f"/t/{company.slug}/users").get_data(as_text=True)
    assert _outbox(app, company, "invitation") == []  # delivered only by the worker
    drain_jobs()
    (message,) = _outbox(app, company, "invitation")
    assert message.to_address == email
    link = _invite_link(app, company)
    newcomer = app.test_client()
    assert company.name in newcomer.get(link).get_data(as_text=True)
    weak = newcomer.post(link, data={"name": "New Person", "password": "123456"})
    assert weak.status_code == 400
    joined = newcomer.post(link, data={"name": "New Person", "password": TEST_PASSWORD})
    assert joined.status_code == 302
    assert "New Person" in newcomer.get(f"/t/{company.slug}/users").get_data(as_text=True)
    assert newcomer.get(link).status_code == 404  # used up
    assert "membership.joined" in _audit_actions(app, company)


def test_invitation_for_an_existing_account_needs_that_login(app, login, make_company, drain_jobs):
    company, other = make_company(), make_company()
    login(company.owner_email).post(
        f"/t/{company.slug}/users/invite", data={"email": other.owner_email, "role": "member"}
    )
    drain_jobs()
    link = _invite_link(app, company)
    assert app.test_client().post(link, data={"password": TEST_PASSWORD}).status_code == 403
    assert login(company.owner_email).post(link).status_code in (400, 403)
    invited = login(other.owner_email)
    assert invited.post(link).status_code == 302
    assert invited.get(f"/t/{company.slug}/").status_code == 200


def test_invitation_can_be_withdrawn(app, login, make_company, drain_jobs):
    company = make_company()
    owner = login(company.owner_email)
    owner.post(
        f"/t/{company.slug}/users/invite",
        data={"email": f"{unique('w')}@example.com", "role": "member"},
    )
    drain_jobs()
    link = _invite_link(app, company)
    api_list = owner.get(f"/t/{company.slug}/users").get_data(as_text=True)
    invitation_id = re.search(r"/invitations/(\d+)/revoke", api_list).group(1)
    assert owner.post(f"/t/{company.slug}/invitations/{invitation_id}/revoke").status_code == 302
    assert app.test_client().get(link).status_code == 404


def test_invite_validation(login, make_company):
    company = make_company()
    owner = login(company.owner_email)
    bad = owner.post(f"/t/{company.slug}/users/invite", data={"email": "nope", "role": "member"})
    assert bad.status_code == 400
    already = owner.post(
        f"/t/{company.slug}/users/invite", data={"email": company.owner_email, "role": "member"}
    )
    assert already.status_code == 400
    assert "already a member" in already.get_data(as_text=True)


def test_members_cannot_administer(login, make_company, add_member):
    company = make_company()
    member = login(add_member(company, "member").email)
    for path in ("settings", "outbox", "audit"):
        assert member.get(f"/t/{company.slug}/{path}").status_code == 403
    assert (
        member.post(
            f"/t/{company.slug}/users/invite", data={"email": "x@example.com", "role": "member"}
        ).status_code
        == 403
    )
    assert (
        member.post(
            f"/t/{company.slug}/users/{company.owner_id}/role", data={"role": "member"}
        ).status_code
        == 403
    )
    assert member.post(f"/t/{company.slug}/users/{company.owner_id}/deactivate").status_code == 403
    assert member.get(f"/t/{company.slug}/users").status_code == 200


def test_roles_and_the_last_owner(app, login, make_company, add_member, api):
    company = make_company()
    admin = add_member(company, "admin")
    owner = login(company.owner_email)
    base = f"/api/v1/t/{company.slug}"
    # An admin may not grant the owner role nor demote an owner.
    admin_client = login(admin.email)
    assert (
        admin_client.post(
            f"/t/{company.slug}/users/{admin.id}/role", data={"role": "owner"}
        ).status_code
        == 403
    )
    # The only owner cannot stop being one.
    response = api(company.token).patch(f"{base}/users/{company.owner_id}", json={"role": "admin"})
    assert response.status_code == 409
    assert response.get_json()["errors"]["role"]
    # Promote the admin, then the first owner may step down.
    assert (
        owner.post(f"/t/{company.slug}/users/{admin.id}/role", data={"role": "owner"}).status_code
        == 302
    )
    response = api(company.token).patch(f"{base}/users/{company.owner_id}", json={"role": "admin"})
    assert response.status_code == 200
    assert response.get_json()["role"] == "admin"
    assert (
        api(company.token).patch(f"{base}/users/{admin.id}", json={"role": "wizard"}).status_code
        == 400
    )
    assert "membership.role_changed" in _audit_actions(app, company)


def test_deactivation_cuts_access_and_tokens(app, login, make_company, add_member, api):
    company = make_company()
    person = add_member(company, "member")
    client = login(person.email)
    created = client.post(f"/t/{company.slug}/tokens", data={"name": "laptop script"})
    raw = re.search(r'data-testid="new-token">([^<]+)<', created.get_data(as_text=True)).group(1)
    assert api(raw).get(f"/api/v1/t/{company.slug}/me").status_code == 200
    owner = login(company.owner_email)
    assert owner.post(f"/t/{company.slug}/users/{person.id}/deactivate").status_code == 302
    assert client.get(f"/t/{company.slug}/").status_code == 404
    assert api(raw).get(f"/api/v1/t/{company.slug}/me").status_code == 401
    assert owner.post(f"/t/{company.slug}/users/{company.owner_id}/deactivate").status_code == 400
    assert owner.post(f"/t/{company.slug}/users/{person.id}/reactivate").status_code == 302
    assert client.get(f"/t/{company.slug}/").status_code == 200
    assert api(raw).get(f"/api/v1/t/{company.slug}/me").status_code == 401  # stays revoked


def test_tokens_are_shown_once_stored_hashed_and_revocable(app, login, make_company, api):
    company = make_company()
    owner = login(company.owner_email)
    page = owner.post(f"/t/{company.slug}/tokens", data={"name": "CI export"})
    raw = re.search(r'data-testid="new-token">([^<]+)<', page.get_data(as_text=True)).group(1)
    listing = owner.get(f"/t/{company.slug}/tokens").get_data(as_text=True)
    assert raw not in listing and raw[:12] in listing
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        stored = db.session.execute(
            select(ApiToken).where(ApiToken.name == "CI export")
        ).scalar_one()
        assert raw not in stored.token_hash and len(stored.token_hash) == 64
        token_id = stored.id
    assert api(raw).get(f"/api/v1/t/{company.slug}/me").status_code == 200
    assert owner.post(f"/t/{company.slug}/tokens", data={"name": ""}).status_code == 400
    assert owner.post(f"/t/{company.slug}/tokens/{token_id}/revoke").status_code == 302
    assert api(raw).get(f"/api/v1/t/{company.slug}/me").status_code == 401
    assert "api_token.revoked" in _audit_actions(app, company)


def test_token_carries_the_role(make_company, add_member, login, api):
    company = make_company()
    reader = login(add_member(company, "read_only").email)
    page = reader.post(f"/t/{company.slug}/tokens", data={"name": "reader"})
    raw = re.search(r'data-testid="new-token">([^<]+)<', page.get_data(as_text=True)).group(1)
    base = f"/api/v1/t/{company.slug}"
    assert api(raw).get(f"{base}/me").get_json()["role"] == "read_only"
    assert api(raw).patch(f"{base}/settings", json={"name": "x"}).status_code == 403
    assert api(raw).post(f"{base}/invitations", json={"email": "y@example.com"}).status_code == 403
    assert api(raw).get(f"{base}/audit").status_code == 403
    assert api(raw).get(f"{base}/users").status_code == 200


def test_member_patch_is_all_or_nothing(make_company, add_member, login, api):
    company = make_company()
    second_owner = add_member(company, "owner")
    base = f"/api/v1/t/{company.slug}"
    # Role change would succeed, self-deactivation must fail: neither is applied.
    response = api(company.token).patch(
        f"{base}/users/{company.owner_id}", json={"role": "admin", "status": "deactivated"}
    )
    assert response.status_code == 400
    users = {u["user"]["id"]: u for u in api(company.token).get(f"{base}/users").get_json()}
    assert users[company.owner_id]["role"] == "owner"
    assert users[company.owner_id]["status"] == "active"
    response = api(company.token).patch(
        f"{base}/users/{second_owner.id}", json={"role": "member", "status": "deactivated"}
    )
    assert response.status_code == 200
    assert (response.get_json()["role"], response.get_json()["status"]) == ("member", "deactivated")
