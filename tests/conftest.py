"""Test fixtures: one database server per session, a fresh database migrated once, real Redis.

Tests isolate by data, as tenants do in production: every test signs up its own companies with
unique slugs and emails, so nothing has to be rolled back or truncated between tests.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from psycopg import sql
from sqlalchemy.engine import make_url

from saas.config import Settings
from saas.devstack import ensure_services

TEST_PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def server_urls() -> Iterator[tuple[str, str]]:
    """The database server and Redis of this run (from the environment or embedded)."""
    services = ensure_services(database_name="postgres")
    yield services.database_url, services.redis_url
    services.stop()


@pytest.fixture(scope="session")
def settings(server_urls) -> Iterator[Settings]:
    """A fresh database on the shared server, migrated once for the whole session."""
    admin_url, redis_url = server_urls
    run_id = secrets.token_hex(4)
    name = f"kehu_test_{run_id}"
    libpq_admin = (
        make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    with psycopg.connect(libpq_admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    database_url = make_url(libpq_admin).set(database=name).render_as_string(hide_password=False)
    settings = Settings.from_env(
        database_url=database_url,
        redis_url=redis_url,
        secret_key="test-" + run_id,
        queue_prefix=f"kehutest{run_id}",
        signup_rate_limit="10000 per minute",
        login_rate_limit="10000 per minute",
        log_json=True,
        password_hash_profile="test",
        base_url="http://kehu.test",
    )
    from saas.database import migrate

    migrate(settings)
    os.environ["KEHU_TEST_DATABASE_URL"] = database_url
    yield settings
    from saas.extensions import db

    _dispose_engines(db)
    with psycopg.connect(libpq_admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _dispose_engines(db) -> None:
    from custom_fields.query import reader

    for app in list(_APPS):
        with app.app_context():
            db.engine.dispose()
            reader.dispose(app)


_APPS: list[Flask] = []


def build_app(settings: Settings, **overrides) -> Flask:
    from saas.app import create_app

    app = create_app(settings, TESTING=True, **overrides)
    _APPS.append(app)
    return app


@pytest.fixture(scope="session")
def app(settings) -> Flask:
    """The app with CSRF off (tests of CSRF build their own app)."""
    return build_app(settings, WTF_CSRF_ENABLED=False)


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


@pytest.fixture(autouse=True)
def _clean_context(app) -> Iterator[None]:
    from saas.extensions import db
    from tenants.context import clear

    yield
    clear()
    with app.app_context():
        db.session.remove()


def unique(prefix: str = "t") -> str:
    return f"{prefix}{secrets.token_hex(5)}"


@dataclass
class Company:
    """A signed-up tenant with its owner, for tests."""

    tenant_id: int
    slug: str
    name: str
    owner_id: int
    owner_email: str
    password: str
    token: str


@pytest.fixture
def make_company(app):
    """Sign up a company through the real API; returns a :class:`Company`."""

    def factory(name: str | None = None, email: str | None = None, locale: str = "en") -> Company:
        slug = unique("co-")
        email = email or f"{unique('owner')}@example.com"
        name = name or f"Company {slug}"
        response = app.test_client().post(
            "/api/v1/signup",
            json={
                "company": name,
                "slug": slug,
                "email": email,
                "password": TEST_PASSWORD,
                "locale": locale,
            },
        )
        assert response.status_code == 201, response.get_json()
        with app.app_context():
            from tenants import services

            tenant = services.tenant_by_slug(slug)
            from sqlalchemy import select

            from saas.accounts.models import User
            from saas.extensions import db

            owner = db.session.execute(select(User).where(User.email == email)).scalar_one()
            return Company(
                tenant.id, slug, name, owner.id, email, TEST_PASSWORD, response.get_json()["token"]
            )

    return factory


@pytest.fixture
def login(app):
    """A test client logged in as ``email``."""

    def do_login(email: str, password: str = TEST_PASSWORD) -> FlaskClient:
        client = app.test_client()
        response = client.post("/login", data={"email": email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return client

    return do_login


@pytest.fixture
def add_member(app):
    """Add a new user to a company with a role (directly, as an accepted invitation would)."""

    def factory(company: Company, role: str = "member", email: str | None = None) -> Member:
        from saas.accounts.models import User
        from saas.accounts.passwords import hash_password
        from saas.extensions import db
        from tenants.context import tenant_context
        from tenants.models import Membership

        email = email or f"{unique('user')}@example.com"
        with app.app_context(), tenant_context(company.tenant_id):
            user = User(email=email, password_hash=hash_password(TEST_PASSWORD))
            db.session.add(user)
            db.session.flush()
            db.session.add(Membership(user_id=user.id, role_key=role))
            db.session.commit()
            return Member(user.id, email)

    return factory


@dataclass
class Member:
    id: int
    email: str


@pytest.fixture
def drain_jobs(app):
    """Run a real RQ worker over this session's queues until they are empty."""

    def drain() -> None:
        from rq import SimpleWorker

        from saas.jobs import queue, redis_connection

        with app.app_context():
            queues = [queue("default"), queue("mail")]
            SimpleWorker(queues, connection=redis_connection()).work(burst=True)

    return drain


@pytest.fixture
def api(app):
    """Call the API with a bearer token."""

    class Api:
        def __init__(self, token: str):
            self.client = app.test_client()
            self.headers = {"Authorization": f"Bearer {token}"}

        def __getattr__(self, method: str):
            def call(path: str, **kwargs):
                headers = {**self.headers, **kwargs.pop("headers", {})}
                return getattr(self.client, method)(path, headers=headers, **kwargs)

            return call

    return Api
