"""A company with one field of each filterable kind on accounts and a few records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

FIELDS = (
    {"key": "band", "type": "picklist", "label": "Band", "values": ["A", "B", "C"]},
    {
        "key": "regions",
        "type": "multi_picklist",
        "label": "Regions",
        "values": ["north", "south", "east"],
    },
    {"key": "revenue", "type": "currency", "label": "Revenue"},
    {"key": "staff", "type": "integer", "label": "Staff"},
    {"key": "score", "type": "decimal", "label": "Score", "scale": 2},
    {"key": "signed", "type": "date", "label": "Signed"},
    {"key": "met_at", "type": "datetime", "label": "Met at"},
    {"key": "city", "type": "text", "label": "City"},
    {"key": "vip", "type": "boolean", "label": "VIP"},
    {"key": "rep", "type": "lookup", "label": "Rep", "target": "user"},
    {"key": "mail", "type": "email", "label": "Mail"},
    {"key": "tel", "type": "phone", "label": "Phone"},
    {"key": "double_staff", "type": "formula", "label": "Double staff", "expression": "staff * 2"},
)


@dataclass
class Crm:
    company: Any
    client: Any
    slug: str

    @property
    def base(self) -> str:
        return f"/api/v1/t/{self.slug}/records/account"

    def add(self, **values: Any) -> dict[str, Any]:
        response = self.client.post(self.base, json=values)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def query(self, expect: int = 200, **body: Any) -> Any:
        response = self.client.post(f"{self.base}/query", json=body)
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def names(self, **body: Any) -> list[str]:
        body.setdefault("sort", [{"field": "name"}])
        return [r["name"] for r in self.query(**body)["data"]]

    def where(self, field: str, op: str, value: Any = None, **body: Any) -> list[str]:
        cond: dict[str, Any] = {"field": field, "op": op}
        if value is not None:
            cond["value"] = value
        return self.names(filter=cond, **body)


@pytest.fixture
def crm(make_company, api) -> Crm:
    company = make_company()
    client = api(company.token)
    fields = f"/api/v1/t/{company.slug}/objects/account/fields"
    for payload in FIELDS:
        response = client.post(fields, json=payload)
        assert response.status_code == 201, (payload, response.get_json())
    return Crm(company, client, company.slug)


# ---- shared helpers of the query tests -------------------------------------------------------


class TokenClient:
    """Calls the API with a bearer token (usable from module-scoped fixtures)."""

    def __init__(self, app: Any, token: str):
        self.client = app.test_client()
        self.headers = {"Authorization": f"Bearer {token}"}

    def __getattr__(self, method: str):
        def call(path: str, **kwargs: Any):
            headers = {**self.headers, **kwargs.pop("headers", {})}
            return getattr(self.client, method)(path, headers=headers, **kwargs)

        return call


def signup(app: Any, name: str = "Query Co") -> tuple[int, str, int, str]:
    """A new company through the API: (tenant id, slug, owner id, owner token)."""
    import secrets

    from sqlalchemy import select

    from saas.accounts.models import User
    from saas.extensions import db
    from tenants import services
    from tests.conftest import TEST_PASSWORD

    slug = f"q-{secrets.token_hex(5)}"
    email = f"{slug}@example.com"
    response = app.test_client().post(
        "/api/v1/signup",
        json={
            "company": name,
            "slug": slug,
            "email": email,
            "password": TEST_PASSWORD,
            "locale": "en",
        },
    )
    assert response.status_code == 201, response.get_json()
    with app.app_context():
        tenant = services.tenant_by_slug(slug)
        owner = db.session.execute(select(User).where(User.email == email)).scalar_one()
        return tenant.id, slug, owner.id, response.get_json()["token"]


def run_sql(app: Any, tenant_id: int, statement: str, **params: Any) -> list[Any] | None:
    """Raw SQL as the app role inside the tenant (row-level security applies), committed."""
    from sqlalchemy import text

    from saas.extensions import db
    from tenants.context import tenant_context

    with app.app_context(), tenant_context(tenant_id, db.session):
        result = db.session.execute(text(statement), params)
        rows = list(result.all()) if result.returns_rows else None
        db.session.commit()
        return rows


def new_member(app: Any, tenant_id: int, role: str = "member", **user: Any) -> tuple[int, str]:
    """A member with ``role`` and an API token of theirs: (user id, raw token)."""
    import secrets

    from saas.accounts.models import User
    from saas.accounts.passwords import hash_password
    from saas.extensions import db
    from tenants.context import tenant_context
    from tenants.models import Membership
    from tenants.services import _new_api_token
    from tests.conftest import TEST_PASSWORD

    with app.app_context(), tenant_context(tenant_id, db.session):
        person = User(
            email=f"m{secrets.token_hex(5)}@example.com",
            password_hash=hash_password(TEST_PASSWORD),
            **user,
        )
        db.session.add(person)
        db.session.flush()
        db.session.add(Membership(user_id=person.id, role_key=role))
        db.session.flush()
        token, raw = _new_api_token(tenant_id, person.id, "tests")
        db.session.add(token)
        db.session.commit()
        return person.id, raw


@pytest.fixture
def sql(app):
    """``sql(tenant_id, statement, **params)``: raw SQL inside a tenant."""
    return lambda tenant_id, statement, **params: run_sql(app, tenant_id, statement, **params)


@pytest.fixture
def member(app):
    """``member(tenant_id, role, **user columns)`` → (user id, TokenClient)."""

    def make(tenant_id: int, role: str = "member", **user: Any) -> tuple[int, TokenClient]:
        user_id, raw = new_member(app, tenant_id, role, **user)
        return user_id, TokenClient(app, raw)

    return make


def names(response: Any) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [r["name"] for r in response.get_json()["data"]]


def error_of(response: Any, status: int = 400) -> tuple[str, str]:
    """(the field the error names, its message) of an error answer."""
    body = response.get_json()
    assert response.status_code == status, body
    (key, messages), *_rest = body["errors"].items()
    return key, messages[0]


class Direct:
    """What :func:`run_direct` answers, shaped like a test response."""

    def __init__(self, status_code: int, body: dict[str, Any]):
        self.status_code = status_code
        self._body = body

    def get_json(self) -> dict[str, Any]:
        return self._body


def run_direct(
    app: Any,
    tenant_id: int,
    user_id: int,
    object_key: str,
    *,
    body: dict[str, Any] | None = None,
    args: list[tuple[str, str]] | None = None,
) -> Direct:
    """The query service exactly as the API calls it (``queries.from_body``/``from_args``,
    ``run``, ``page_json``) inside a request of ``user_id``, without HTTP and token checks:
    the big operator tables run in milliseconds per case."""
    from flask import g
    from werkzeug.datastructures import MultiDict

    from saas.errors import DomainError
    from saas.extensions import db
    from saas.records import queries
    from tenants import services
    from tenants.context import tenant_context
    from tenants.models import Tenant

    with app.test_request_context(), tenant_context(tenant_id, db.session, user_id):
        g.tenant = db.session.get(Tenant, tenant_id)
        g.membership = services.membership(user_id)
        try:
            if body is not None:
                spec, columns = queries.from_body(body)
            else:
                spec, columns = queries.from_args(MultiDict(args or []))
            st, page = queries.run(g.membership, object_key, spec, columns)
            return Direct(200, queries.page_json(st, page, g.membership, columns))
        except DomainError as exc:
            return Direct(exc.status, exc.to_dict())
        finally:
            db.session.rollback()


@pytest.fixture(scope="session")
def world(app):
    """The shared read-only company of :mod:`tests.query.world` (tests that add records remove
    them again)."""
    from tests.query.world import World

    return World(app)


def insert_records(
    app: Any, tenant_id: int, owner_id: int, rows: list[tuple[str, dict[str, Any]]]
) -> None:
    """Many account records at once, straight into the table: (name, stored data) each."""
    import json

    run_sql(
        app,
        tenant_id,
        "INSERT INTO accounts (tenant_id, name, owner_id, created_by, updated_by, version, data)"
        " SELECT :tenant, r->>0, :owner, :owner, :owner, 1, r->1"
        " FROM jsonb_array_elements(CAST(:rows AS jsonb)) AS r",
        tenant=tenant_id,
        owner=owner_id,
        rows=json.dumps(rows),
    )
