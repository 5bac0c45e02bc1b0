"""Login, logout, revocable sessions, password reset and change, CSRF, cookies."""

from __future__ import annotations

import re

from sqlalchemy import select

from saas.extensions import db
from tenants.context import tenant_context
from tenants.models import OutboxMessage
from tests.conftest import TEST_PASSWORD, build_app, unique


def test_login_wrong_password_and_unknown_email_say_the_same(client, make_company):
    company = make_company()
    wrong = client.post("/login", data={"email": company.owner_email, "password": "nope nope"})
    unknown = client.post("/login", data={"email": "nobody@example.com", "password": "nope nope"})
    assert wrong.status_code == unknown.status_code == 400
    message = "Email or password is incorrect."
    assert message in wrong.get_data(as_text=True)
    assert message in unknown.get_data(as_text=True)


def test_login_redirects_only_to_local_paths(client, make_company):
    company = make_company()
    response = client.post(
        "/login",
        data={
            "email": company.owner_email,
            "password": TEST_PASSWORD,
            "next": "https://evil.example/steal",
        },
    )
    assert response.headers["Location"] == "/tenants"
    client2 = type(client)(client.application)
    response = client2.post(
        "/login",
        data={
            "email": company.owner_email,
            "password": TEST_PASSWORD,
            "next": f"/t/{company.slug}/users",
        },
    )
    assert response.headers["Location"] == f"/t/{company.slug}/users"


def test_tenant_pages_need_login(client, make_company):
    company = make_company()
    response = client.get(f"/t/{company.slug}/users")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_logout_revokes_the_session_server_side(app, login, make_company):
    company = make_company()
    client = login(company.owner_email)
    stolen_cookie = client.get_cookie("kehu_session").value
    assert client.post("/logout").status_code == 302
    # Replaying the old cookie no longer works.
    replay = app.test_client()
    replay.set_cookie("kehu_session", stolen_cookie)
    assert replay.get(f"/t/{company.slug}/").status_code == 302


def test_password_change_ends_other_sessions(login, make_company):
    company = make_company()
    laptop, phone = login(company.owner_email), login(company.owner_email)
    response = laptop.post(
        "/account",
        data={
            "password-current_password": TEST_PASSWORD,
            "password-new_password": "a brand new passphrase",
            "password-submit": "1",
        },
    )
    assert response.status_code == 302
    assert laptop.get(f"/t/{company.slug}/").status_code == 200
    assert phone.get(f"/t/{company.slug}/").status_code == 302
    login(company.owner_email, "a brand new passphrase")


def test_password_change_checks_the_current_password(login, make_company):
    company = make_company()
    client = login(company.owner_email)
    response = client.post(
        "/account",
        data={
            "password-current_password": "wrong one",
            "password-new_password": "a brand new passphrase",
            "password-submit": "1",
        },
    )
    assert response.status_code == 400
    assert "current password is incorrect" in response.get_data(as_text=True)


def test_password_reset_by_emailed_link(app, client, make_company, drain_jobs, login):
    company = make_company()
    other_session = login(company.owner_email)
    response = client.post("/password/forgot", data={"email": company.owner_email})
    assert response.status_code == 302
    unknown = client.post("/password/forgot", data={"email": "nobody@example.com"})
    assert unknown.status_code == 302  # same answer whether the account exists or not
    drain_jobs()
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        message = db.session.execute(
            select(OutboxMessage).where(OutboxMessage.kind == "password_reset")
        ).scalar_one()
        assert message.to_address == company.owner_email
        link = re.search(r"http://kehu\.test(/password/reset/\S+)", message.body).group(1)
    fresh = app.test_client()
    assert fresh.get(link).status_code == 200
    weak = fresh.post(link, data={"password": "password"})
    assert weak.status_code == 400
    done = fresh.post(link, data={"password": "reset passphrase 2026"})
    assert done.status_code == 302
    # Single use, old sessions gone, new password works.
    assert app.test_client().get(link).status_code == 400
    assert other_session.get(f"/t/{company.slug}/").status_code == 302
    login(company.owner_email, "reset passphrase 2026")


def test_tampered_reset_link_is_refused(client):
    assert client.get("/password/reset/not-a-token").status_code == 400


def test_csrf_is_enforced_on_forms(settings, make_company):
    app = build_app(settings)  # CSRF on
    company = make_company()
    client = app.test_client()
    response = client.post("/login", data={"email": company.owner_email, "password": TEST_PASSWORD})
    assert response.status_code == 400  # no token: refused, not logged in
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(
        "/login",
        data={"email": company.owner_email, "password": TEST_PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    # A logged-in state-changing POST without the token is refused too.
    assert client.post(f"/t/{company.slug}/tokens", data={"name": "x"}).status_code == 400


def test_session_cookie_flags(settings, make_company):
    app = build_app(settings, WTF_CSRF_ENABLED=False, SESSION_COOKIE_SECURE=True)
    company = make_company()
    response = app.test_client().post(
        "/login", data={"email": company.owner_email, "password": TEST_PASSWORD}
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_sessions_can_be_listed_and_revoked(app, login, make_company):
    company = make_company()
    laptop, phone = login(company.owner_email), login(company.owner_email)
    with app.app_context():
        from saas.accounts.services import active_sessions

        sessions = active_sessions(company.owner_id)
    assert len(sessions) == 2
    page = laptop.get("/account").get_data(as_text=True)
    ids = [s.id for s in sessions if f"/account/sessions/{s.id}/revoke" in page]
    assert len(ids) == 1  # the current session has no revoke button
    assert laptop.post(f"/account/sessions/{ids[0]}/revoke").status_code == 302
    assert phone.get(f"/t/{company.slug}/").status_code == 302
    assert laptop.post("/account/sessions/someone-elses/revoke").status_code == 404


def test_user_in_two_companies_switches_between_them(client, make_company, login):
    email = f"{unique('multi')}@example.com"
    first = make_company(email=email)
    second = make_company(email=email)
    client = login(email)
    listing = client.get("/tenants").get_data(as_text=True)
    assert first.name in listing and second.name in listing
    assert client.get(f"/t/{first.slug}/").status_code == 200
    assert client.get(f"/t/{second.slug}/").status_code == 200


def test_single_company_goes_straight_in(login, make_company):
    company = make_company()
    response = login(company.owner_email).get("/tenants")
    assert response.headers["Location"] == f"/t/{company.slug}/"


def test_locale_switch_is_remembered_per_user(app, login, make_company):
    company = make_company()
    client = login(company.owner_email)
    client.post("/locale", data={"locale": "en", "next": f"/t/{company.slug}/"})
    assert '<html lang="en">' in client.get(f"/t/{company.slug}/").get_data(as_text=True)
    client.post("/locale", data={"locale": "zh_CN", "next": f"/t/{company.slug}/"})
    other_device = login(company.owner_email)
    assert '<html lang="zh-CN">' in other_device.get(f"/t/{company.slug}/").get_data(as_text=True)
    assert client.post("/locale", data={"locale": "fr"}).status_code == 400


def test_sessions_expire_when_idle_or_too_old(app, login, make_company):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from saas.accounts.models import UserSession

    company = make_company()
    idle, old = login(company.owner_email), login(company.owner_email)
    with app.app_context():
        from saas.accounts.services import active_sessions

        first, second = sorted(active_sessions(company.owner_id), key=lambda s: s.created_at)
        now = datetime.now(UTC)
        db.session.execute(
            update(UserSession)
            .where(UserSession.id == first.id)
            .values(last_seen_at=now - timedelta(days=15))
        )
        db.session.execute(
            update(UserSession)
            .where(UserSession.id == second.id)
            .values(created_at=now - timedelta(days=31))
        )
        db.session.commit()
    assert idle.get(f"/t/{company.slug}/").status_code == 302
    assert old.get(f"/t/{company.slug}/").status_code == 302
    with app.app_context():
        assert active_sessions(company.owner_id) == []
    assert login(company.owner_email).get(f"/t/{company.slug}/").status_code == 200


def test_login_accepts_the_address_as_typed(client, make_company):
    company = make_company()
    response = client.post(
        "/login",
        data={"email": "  " + company.owner_email.upper() + " ", "password": TEST_PASSWORD},
    )
    assert response.status_code == 302
