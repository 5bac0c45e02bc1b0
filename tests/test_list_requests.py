"""What one API list request costs and the shortcuts that make it cheap: the tenant remembered by
slug, the token, member and role read in one statement, the count riding along with the page,
and the list reader's connection settings kept between lists. None may widen what a caller sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from saas.extensions import db
from tenants.context import tenant_context
from tenants.models import ApiToken, Membership, MembershipStatus

TENANT_IDS = "kehu_tenant_ids"


@contextmanager
def statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def _names(body: dict) -> list[str]:
    return [r["name"] for r in body["data"]]


def test_a_list_request_is_three_statements(make_company, api):
    company = make_company()
    caller = api(company.token)
    url = f"/api/v1/t/{company.slug}/records/account"
    assert caller.post(url, json={"name": "Acme"}).status_code == 201
    assert caller.get(url).status_code == 200  # this process now knows the slug
    with statements() as seen:
        body = caller.get(url).get_json()
    assert _names(body) == ["Acme"] and body["count"] == 1 and body["count_exact"]
    assert len(seen) == 3, seen
    assert seen[0].startswith("SELECT set_config('app.tenant_id'")
    assert "FROM api_tokens JOIN memberships" in seen[1] and "JOIN tenants" in seen[1]
    assert "FROM accounts" in seen[2] and "count(*)" in seen[2]


def test_a_remembered_slug_never_admits_another_companys_token(app, make_company, api):
    first, second = make_company(), make_company()
    for company, name in ((first, "Mine"), (second, "Theirs")):
        url = f"/api/v1/t/{company.slug}/records/account"
        assert api(company.token).post(url, json={"name": name}).status_code == 201
    # A wrong memory (as if the slug had changed hands): the first slug "is" the second tenant.
    app.extensions.setdefault(TENANT_IDS, {})[first.slug] = second.tenant_id
    url = f"/api/v1/t/{first.slug}/records/account"
    assert api(second.token).get(url).status_code == 401
    app.extensions[TENANT_IDS][first.slug] = second.tenant_id
    response = api(first.token).get(url)
    assert response.status_code == 200 and _names(response.get_json()) == ["Mine"]
    assert app.extensions[TENANT_IDS][first.slug] == first.tenant_id
    other = f"/api/v1/t/{second.slug}/records/account"
    assert api(first.token).get(other).status_code == 401
    assert _names(api(second.token).get(other).get_json()) == ["Theirs"]


def test_revoked_tokens_and_deactivated_members_are_refused_at_once(app, make_company, api):
    company = make_company()
    url = f"/api/v1/t/{company.slug}/records/account"
    assert api(company.token).get(url).status_code == 200
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        token = db.session.execute(select(ApiToken)).scalars().first()
        token.revoked_at = token.created_at
        db.session.commit()
    assert api(company.token).get(url).status_code == 401
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        token = db.session.execute(select(ApiToken)).scalars().first()
        token.revoked_at = None
        db.session.commit()
    assert api(company.token).get(url).status_code == 200
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        member = db.session.execute(select(Membership)).scalars().first()
        member.status = MembershipStatus.DEACTIVATED
        db.session.commit()
    assert api(company.token).get(url).status_code == 401


def test_the_count_is_right_on_an_empty_page_after_a_cursor(make_company, api):
    company = make_company()
    caller = api(company.token)
    url = f"/api/v1/t/{company.slug}/records/account"
    older = caller.post(url, json={"name": "Older"}).get_json()
    caller.post(url, json={"name": "Newer"})
    first = caller.get(f"{url}?limit=1").get_json()
    assert _names(first) == ["Newer"] and first["count"] == 2 and first["next_cursor"]
    deleted = caller.delete(f"{url}/{older['id']}")
    assert deleted.status_code == 204
    after = caller.get(f"{url}?limit=1&cursor={first['next_cursor']}").get_json()
    assert after["data"] == [] and after["count"] == 1
    assert caller.get(f"{url}?f=name:eq:Nobody").get_json()["count"] == 0


def test_each_list_speaks_its_companys_time_zone(make_company, api):
    east, west = make_company(), make_company()
    zones = {east.slug: ("Asia/Shanghai", "+08:00"), west.slug: ("America/Lima", "-05:00")}
    for company in (east, west):
        caller = api(company.token)
        base = f"/api/v1/t/{company.slug}"
        zone = zones[company.slug][0]
        assert caller.patch(f"{base}/settings", json={"timezone": zone}).status_code == 200
        assert caller.post(f"{base}/records/account", json={"name": "A"}).status_code == 201
    for _ in range(3):  # alternating: the reader's connection changes zone each time
        for company in (east, west):
            body = api(company.token).get(f"/api/v1/t/{company.slug}/records/account").get_json()
            assert body["data"][0]["created_at"].endswith(zones[company.slug][1]), body["data"]
