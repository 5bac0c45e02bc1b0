"""The list reader: record lists read through a role without row-level security, which may only
SELECT record tables and users' names, and still sees only its tenant's records."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.engine import make_url


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def test_reader_is_used_and_limited(app, settings):
    from custom_fields.query import reader

    with app.app_context():
        assert reader.available()
    with psycopg.connect(_libpq(settings.reader_runtime_url), autocommit=True) as conn:
        bypass = conn.execute("SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert bypass.fetchone()[0] is True
        conn.execute("SELECT count(*) FROM accounts")
        conn.execute("SELECT id, name, email FROM users LIMIT 1")
        for statement in (
            "SELECT * FROM memberships",
            "SELECT password_hash FROM users",
            "SELECT * FROM api_tokens",
            "INSERT INTO accounts (tenant_id, name) VALUES (1, 'x')",
            "UPDATE accounts SET name = 'x'",
            "DELETE FROM custom_records",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def test_lists_read_only_their_tenant_through_the_reader(make_company, api):
    first, second = make_company(), make_company()
    for company, name in ((first, "Mine"), (second, "Theirs")):
        response = api(company.token).post(
            f"/api/v1/t/{company.slug}/records/account", json={"name": name}
        )
        assert response.status_code == 201
    body = api(first.token).get(f"/api/v1/t/{first.slug}/records/account?sort=name").get_json()
    assert [r["name"] for r in body["data"]] == ["Mine"] and body["count"] == 1


def test_reader_refuses_cross_tenant_reads(app, make_company):
    from sqlalchemy import select

    from custom_fields.query import reader
    from saas.records.models import Account
    from tenants.context import CROSS_TENANT_OPTION, tenant_context

    company = make_company()
    with (
        app.app_context(),
        tenant_context(company.tenant_id),
        reader.reading() as session,
        pytest.raises(RuntimeError),
    ):
        session.execute(select(Account).execution_options(**{CROSS_TENANT_OPTION: True}))


def test_without_a_reader_lists_read_as_the_app_role(settings, make_company, api):
    from tests.conftest import build_app

    company = make_company()
    api(company.token).post(f"/api/v1/t/{company.slug}/records/account", json={"name": "A"})
    plain = build_app(settings, KEHU_LIST_READER=False)
    with plain.app_context():
        from custom_fields.query import reader

        assert not reader.available()
    client = plain.test_client()
    response = client.get(
        f"/api/v1/t/{company.slug}/records/account",
        headers={"Authorization": f"Bearer {company.token}"},
    )
    assert response.status_code == 200 and [r["name"] for r in response.get_json()["data"]] == ["A"]
