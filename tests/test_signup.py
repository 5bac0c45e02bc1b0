"""Signup through the API and the web page."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from saas.extensions import db
from tenants.context import tenant_context
from tenants.models import ApiToken, AuditEvent, Membership, Role, Tenant
from tests.conftest import TEST_PASSWORD, build_app, unique


def _signup(client, **overrides):
    body = {
        "company": "测试有限公司",
        "slug": unique("s-"),
        "email": f"{unique('u')}@example.com",
        "password": TEST_PASSWORD,
    }
    body.update(overrides)
    return client.post("/api/v1/signup", json=body), body


def test_signup_creates_everything_at_once(app, client):
    response, body = _signup(client)
    assert response.status_code == 201
    data = response.get_json()
    assert data["tenant"]["slug"] == body["slug"]
    assert data["token"].startswith("kehu_")
    with app.app_context():
        tenant = db.session.execute(select(Tenant).where(Tenant.slug == body["slug"])).scalar_one()
        with tenant_context(tenant.id, db.session):
            roles = [r.key for r in db.session.execute(select(Role).order_by(Role.rank)).scalars()]
            assert roles == ["owner", "admin", "manager", "member", "read_only"]
            member = db.session.execute(select(Membership)).scalar_one()
            assert member.role_key == "owner"
            token = db.session.execute(select(ApiToken)).scalar_one()
            assert token.token_hash != data["token"] and data["token"] not in token.token_hash
            from custom_fields.models import ObjectDefinition

            keys = {o.key for o in db.session.execute(select(ObjectDefinition)).scalars()}
            assert {"account", "contact", "lead", "opportunity", "quote", "contract"} <= keys
            assert db.session.execute(select(AuditEvent.action)).scalars().all() == [
                "tenant.created"
            ]


@pytest.mark.parametrize(
    ("slug", "status"),
    [
        ("ab", 400),
        ("-abc", 400),
        ("abc-", 400),
        ("ABC def", 400),
        ("a--b", 400),
        ("admin", 400),
        ("api", 400),
        ("x" * 41, 400),
    ],
)
def test_slug_rules(client, slug, status):
    response, _ = _signup(client, slug=slug)
    assert response.status_code == status
    assert "slug" in response.get_json()["errors"]


def test_slug_taken_is_409_and_leaves_nothing_behind(app, client):
    first, body = _signup(client)
    assert first.status_code == 201
    email = f"{unique('u')}@example.com"
    second, _ = _signup(client, slug=body["slug"], email=email)
    assert second.status_code == 409
    assert second.get_json()["errors"]["slug"]
    with app.app_context():
        from saas.accounts.models import User

        assert db.session.execute(select(User).where(User.email == email)).first() is None


@pytest.mark.parametrize(
    "password",
    ["short", "password", "12345678", "iloveyou", "qwertyuiop", "x" * 129],
)
def test_weak_passwords_are_refused(client, password):
    response, _ = _signup(client, password=password)
    assert response.status_code == 400
    assert "password" in response.get_json()["errors"]


def test_long_passphrases_and_any_characters_are_allowed(client):
    response, _ = _signup(client, password="我的密码 is a long passphrase! " * 2 + "x" * 60)
    assert response.status_code == 201
    response, _ = _signup(client, password="e" * 64)
    assert response.status_code == 201


def test_password_is_argon2id(app, client):
    response, body = _signup(client)
    assert response.status_code == 201
    with app.app_context():
        from saas.accounts.models import User

        user = db.session.execute(select(User).where(User.email == body["email"])).scalar_one()
        assert user.password_hash.startswith("$argon2id$")


def test_unknown_and_missing_fields_are_400_naming_them(client):
    response = client.post(
        "/api/v1/signup",
        json={
            "company": "x",
            "slug": unique("s-"),
            "email": "a@example.com",
            "password": "p" * 9,
            "plan": "free",
        },
    )
    assert response.status_code == 400
    assert "plan" in response.get_json()["errors"]
    response = client.post("/api/v1/signup", json={"company": "x"})
    assert response.status_code == 400
    assert {"slug", "email", "password"} <= set(response.get_json()["errors"])
    response = client.post("/api/v1/signup", data="not json", content_type="application/json")
    assert response.status_code == 400


def test_bad_email_is_400(client):
    response, _ = _signup(client, email="not-an-email")
    assert response.status_code == 400
    assert "email" in response.get_json()["errors"]


def test_existing_email_is_not_revealed(app, client, make_company):
    company = make_company()
    wrong, _ = _signup(client, email=company.owner_email, password="another good passphrase")
    assert wrong.status_code == 400
    message = wrong.get_json()["message"].lower()
    assert "exist" not in message and "already" not in message and "registered" not in message
    # With the right password the same person simply gets a second company.
    right, body = _signup(client, email=company.owner_email, password=company.password)
    assert right.status_code == 201
    with app.app_context():
        from tenants.services import memberships_of

        slugs = {m.tenant.slug for m in memberships_of(company.owner_id)}
        assert slugs == {company.slug, body["slug"]}


def test_signup_is_rate_limited(settings):
    limited = build_app(settings, WTF_CSRF_ENABLED=False, RATELIMIT_KEY_PREFIX=unique("rl"))
    limited.config["KEHU_SETTINGS"] = type(settings)(
        **{**settings.__dict__, "signup_rate_limit": "2 per minute"}
    )
    client = limited.test_client()
    codes = [client.post("/api/v1/signup", json={}).status_code for _ in range(3)]
    assert codes == [400, 400, 429]
    limited_response = client.post("/api/v1/signup", json={})
    assert limited_response.headers["Retry-After"]
    assert "Too many attempts" in limited_response.get_json()["message"]
    assert client.get("/signup").status_code == 200  # the page itself is not limited


def test_web_signup_lands_in_the_tenant(app, client):
    slug = unique("w-")
    response = client.post(
        "/signup",
        data={
            "company": "网页公司",
            "slug": slug,
            "email": f"{unique('w')}@example.com",
            "password": TEST_PASSWORD,
            "locale": "zh_CN",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/t/{slug}/"
    home = client.get(f"/t/{slug}/")
    assert home.status_code == 200
    assert "网页公司" in home.get_data(as_text=True)


def test_web_signup_shows_errors_next_to_fields(client):
    response = client.post(
        "/signup",
        data={
            "company": "",
            "slug": "admin",
            "email": "bad",
            "password": "password",
            "locale": "en",
        },
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'data-field="slug"' in html and "is-invalid" in html


def test_concurrent_signups_for_one_slug_create_one_tenant(app):
    import threading

    slug = unique("race-")
    results: list[int] = []

    def attempt(i: int) -> None:
        response = app.test_client().post(
            "/api/v1/signup",
            json={
                "company": "Race",
                "slug": slug,
                "email": f"race{i}-{slug}@example.com",
                "password": TEST_PASSWORD,
            },
        )
        results.append(response.status_code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201, 409, 409, 409]
    with app.app_context():
        assert (
            db.session.execute(
                select(func.count()).select_from(Tenant).where(Tenant.slug == slug)
            ).scalar_one()
            == 1
        )


def test_production_hash_profile_is_rfc9106_argon2id():
    from saas.accounts.passwords import PROFILES

    hasher = PROFILES["rfc9106-low-memory"]
    assert (hasher.memory_cost, hasher.time_cost, hasher.parallelism) == (65536, 3, 4)
    assert hasher.hash("x" * 10).startswith("$argon2id$v=19$m=65536,t=3,p=4$")
