"""Health probes, jobs carrying the tenant, structured logs, the OpenAPI document, errors."""

from __future__ import annotations

import json
import logging

from sqlalchemy import select

from saas.extensions import db
from saas.jobs import enqueue_after_commit
from tenants.context import tenant_context
from tenants.models import OutboxMessage


def test_healthz_and_readyz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"postgres": "ok", "redis": "ok"}


def test_readyz_reports_a_dead_redis(app, monkeypatch):
    from redis import Redis

    monkeypatch.setitem(app.extensions, "kehu_redis", Redis.from_url("redis://127.0.0.1:1/0"))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["postgres"] == "ok"
    assert response.get_json()["checks"]["redis"].startswith("error")


def test_jobs_run_in_the_tenant_that_queued_them(app, make_company, drain_jobs):
    from saas import mail

    a, b = make_company(), make_company()
    with app.app_context():
        with tenant_context(a.tenant_id, db.session):
            mail.send(to="a@example.com", subject="for A", body="x", kind="test")
            db.session.commit()
        with tenant_context(b.tenant_id, db.session):
            mail.send(to="b@example.com", subject="for B", body="y", kind="test")
            db.session.rollback()  # rolled back: must never be sent
    drain_jobs()
    with app.app_context():
        with tenant_context(a.tenant_id, db.session):
            subjects = (
                db.session.execute(
                    select(OutboxMessage.subject).where(OutboxMessage.kind == "test")
                )
                .scalars()
                .all()
            )
            assert subjects == ["for A"]
        with tenant_context(b.tenant_id, db.session):
            assert (
                db.session.execute(
                    select(OutboxMessage).where(OutboxMessage.kind == "test")
                ).first()
                is None
            )


def test_a_job_cannot_run_arbitrary_functions(app):
    import pytest

    from saas.jobs import run_tenant_job

    with app.app_context():
        for name in ("os.system", "saas.database.migrate", "saas.mail.send"):
            with pytest.raises(ValueError, match="not a Kehu job"):
                run_tenant_job(None, name, ("true",), {})
        with pytest.raises(ValueError, match="not registered"):
            enqueue_after_commit(print, "x")


def test_redis_outage_after_commit_does_not_fail_the_request(app, make_company, login, monkeypatch):
    from redis import Redis

    company = make_company()
    client = login(company.owner_email)
    monkeypatch.setitem(app.extensions, "kehu_redis", Redis.from_url("redis://127.0.0.1:1/0"))
    response = client.post(
        f"/t/{company.slug}/users/invite", data={"email": "later@example.com", "role": "member"}
    )
    assert response.status_code == 302  # the invitation is saved; the mail job is logged
    monkeypatch.undo()
    assert "later@example.com" in client.get(f"/t/{company.slug}/users").get_data(as_text=True)


def test_enqueue_after_commit_survives_nothing_on_rollback(app, make_company):
    from saas.jobs import queue

    company = make_company()
    with app.app_context():
        before = queue("default").count
        with tenant_context(company.tenant_id, db.session):
            from saas.mail import deliver

            enqueue_after_commit(deliver, "x@example.com", "never", "never", "test")
            db.session.rollback()
            db.session.commit()
        assert queue("default").count == before


def test_logs_are_json_with_request_id_and_tenant(app, login, make_company):
    import io

    from saas.logging import JsonFormatter

    company = make_company()
    client = login(company.owner_email)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    access_logger = logging.getLogger("kehu.access")
    access_logger.addHandler(handler)
    try:
        response = client.get(f"/t/{company.slug}/users", headers={"X-Request-Id": "req-abc-123"})
    finally:
        access_logger.removeHandler(handler)
    assert response.headers["X-Request-Id"] == "req-abc-123"
    (entry,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert entry["request_id"] == "req-abc-123"
    assert entry["tenant_id"] == company.tenant_id
    assert entry["status"] == 200
    assert entry["path"] == f"/t/{company.slug}/users"


def test_json_formatter_handles_plain_records():
    from saas.logging import JsonFormatter

    record = logging.makeLogRecord({"msg": "hello %s", "args": ("world",), "levelname": "INFO"})
    assert json.loads(JsonFormatter().format(record))["msg"] == "hello world"


def test_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["info"]["title"] == "Kehu API"
    assert "/api/v1/signup" in spec["paths"]
    assert "/api/v1/t/{slug}/me" in spec["paths"]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    signup = spec["paths"]["/api/v1/signup"]["post"]
    assert "201" in signup["responses"] and "400" in signup["responses"]


def test_api_errors_name_the_field(make_company, api):
    company = make_company()
    response = api(company.token).patch(
        f"/api/v1/t/{company.slug}/settings", json={"timezone": "Mars/Olympus"}
    )
    assert response.status_code == 400
    body = response.get_json()
    assert body["errors"]["timezone"] and body["message"]
    response = api(company.token).patch(
        f"/api/v1/t/{company.slug}/settings", json={"colour": "red"}
    )
    assert response.status_code == 400
    assert "colour" in response.get_json()["errors"]


def test_api_needs_a_bearer_token(client, make_company):
    company = make_company()
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer kehu_nope"}):
        response = client.get(f"/api/v1/t/{company.slug}/me", headers=headers)
        assert response.status_code == 401
        assert response.get_json()["message"]
    assert (
        client.get(
            "/api/v1/t/no-such-company/me", headers={"Authorization": f"Bearer {company.token}"}
        ).status_code
        == 401
    )


def test_settings_round_trip_and_audit(app, make_company, api):
    company = make_company()
    base = f"/api/v1/t/{company.slug}"
    response = api(company.token).patch(
        f"{base}/settings",
        json={
            "name": "新名字",
            "default_locale": "en",
            "timezone": "Europe/Berlin",
            "currency": "EUR",
        },
    )
    assert response.status_code == 200
    settings = api(company.token).get(f"{base}/settings").get_json()
    expected = {
        "slug": company.slug,
        "name": "新名字",
        "default_locale": "en",
        "timezone": "Europe/Berlin",
        "currency": "EUR",
        "duplicate_policy": "warn",
    }
    # Settings of the CRM workflows (pool, quotes, …) are for their own tests.
    assert {key: settings.get(key) for key in expected} == expected
    events = api(company.token).get(f"{base}/audit").get_json()
    assert events[0]["action"] == "tenant.settings_changed"
    assert events[0]["before"]["currency"] == "CNY" and events[0]["after"]["currency"] == "EUR"
    assert events[0]["actor_token_id"] is not None


def test_objects_listed_for_the_tenant(make_company, api):
    company = make_company()
    objects = api(company.token).get(f"/api/v1/t/{company.slug}/objects").get_json()
    assert [o["key"] for o in objects][:3] == ["account", "contact", "lead"]
    assert objects[0]["label_zh"] == "客户"


def test_unknown_pages_are_clean_404s(client):
    assert client.get("/nope").status_code == 404
    response = client.get("/api/v1/nope")
    assert response.status_code == 404 and response.get_json()["code"] == 404


def test_security_headers(client):
    response = client.get("/login")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_pages_render_in_chinese_and_english(client):
    chinese = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    html = chinese.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html and "忘记密码" in html
    english = client.get("/login", headers={"Accept-Language": "en-US"})
    assert "Forgot your password?" in english.get_data(as_text=True)
