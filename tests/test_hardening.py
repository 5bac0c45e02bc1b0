"""Regression tests for inputs and races that once lost data or answered 500."""

from __future__ import annotations

import time

import pytest


@pytest.fixture
def co(make_company, api):
    company = make_company()
    client = api(company.token)
    return company, client, f"/api/v1/t/{company.slug}"


def _field(client, base, **payload):
    response = client.post(f"{base}/objects/account/fields", json=payload)
    assert response.status_code == 201, response.get_json()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ({"type": "decimal"}, "1e30"),
        ({"type": "integer"}, "1e1000000"),
        ({"type": "url"}, "[abc"),
        ({"type": "datetime"}, "0001-01-01T00:00:00"),
        ({"type": "datetime"}, "9999-12-31T23:59:59-05:00"),
        ({"type": "currency"}, {"amount": "1", "currency": 5}),
        ({"type": "lookup", "target": "account"}, 2**64),
        ({"type": "text", "regex": "(a+)+b"}, "a" * 40),
    ],
)
def test_hostile_values_are_400_not_500(co, field, value):
    _, client, base = co
    _field(client, base, key="probe", label="Probe", **field)
    start = time.perf_counter()
    response = client.post(f"{base}/records/account", json={"name": "x", "probe": value})
    assert response.status_code == 400, response.get_json()
    assert "probe" in response.get_json()["errors"]
    assert time.perf_counter() - start < 2


def test_hostile_ids_are_400_or_404(co):
    _, client, base = co
    assert (
        client.post(f"{base}/records/account", json={"name": "x", "owner_id": 2**64}).status_code
        == 400
    )
    assert (
        client.post(f"{base}/records/account", json={"name": "x", "owner_id": True}).status_code
        == 400
    )
    assert client.get(f"{base}/records/account?cursor={2**64}").status_code == 400
    assert client.get(f"{base}/records/account/{2**64}").status_code == 404


def test_long_plural_and_unknown_object_properties_are_400(co):
    _, client, base = co
    assert (
        client.post(
            f"{base}/objects", json={"key": "thing", "label": "Thing", "plural": "x" * 101}
        ).status_code
        == 400
    )
    assert client.patch(f"{base}/objects/account", json={"lable": "typo"}).status_code == 400


def test_unique_fields_take_no_default(co):
    _, client, base = co
    response = client.post(
        f"{base}/objects/account/fields",
        json={"key": "code", "type": "text", "label": "Code", "unique": True, "default": "A"},
    )
    assert response.status_code == 400 and "default" in response.get_json()["errors"]


def test_defaults_are_checked_again_when_options_change(co):
    _, client, base = co
    _field(client, base, key="short", type="text", label="Short", default="abcdefghij")
    response = client.patch(f"{base}/objects/account/fields/short", json={"max_length": 3})
    assert response.status_code == 400 and "default" in response.get_json()["errors"]


def test_a_field_being_purged_cannot_be_restored(co, drain_jobs):
    _, client, base = co
    _field(client, base, key="gone", type="text", label="Gone")
    client.post(f"{base}/records/account", json={"name": "x", "gone": "v"})
    client.delete(f"{base}/objects/account/fields/gone")
    client.post(f"{base}/objects/account/fields/gone/purge")
    assert client.post(f"{base}/objects/account/fields/gone/restore").status_code == 409
    drain_jobs()
    assert client.get(f"{base}/objects/account/fields/gone").status_code == 404


def test_an_edit_that_read_before_a_purge_is_refused_not_written_back(app, co, drain_jobs):
    company, client, base = co
    _field(client, base, key="old", type="text", label="Old")
    _field(client, base, key="other", type="text", label="Other")
    record = client.post(f"{base}/records/account", json={"name": "x", "old": "secret"}).get_json()
    client.delete(f"{base}/objects/account/fields/old")
    client.post(f"{base}/objects/account/fields/old/purge")
    drain_jobs()
    stale = client.patch(
        f"{base}/records/account/{record['id']}",
        json={"other": "edited"},
        headers={"If-Match": '"v1"'},
    )
    assert stale.status_code == 412
    from sqlalchemy import select

    from saas.extensions import db
    from saas.records.models import Account
    from tenants.context import tenant_context

    with app.app_context(), tenant_context(company.tenant_id, db.session):
        data = db.session.execute(select(Account.data).where(Account.id == record["id"]))
        assert "old" not in data.scalar_one()


def test_conversion_keeps_unique_values_unique(co, drain_jobs):
    _, client, base = co
    _field(client, base, key="ref", type="text", label="Ref", unique=True)
    for value in ("007", "7"):
        client.post(f"{base}/records/account", json={"name": value, "ref": value})
    job = client.post(
        f"{base}/objects/account/fields/ref/conversion", json={"type": "integer"}
    ).get_json()
    drain_jobs()
    assert client.get(f"{base}/jobs/{job['id']}").get_json()["status"] == "failed"
    field = client.get(f"{base}/objects/account/fields/ref").get_json()
    assert field["type"] == "text"  # nothing changed
    values = sorted(r["ref"] for r in client.get(f"{base}/records/account").get_json()["data"])
    assert values == ["007", "7"]


def test_conversion_carries_the_default_and_dates(co, drain_jobs):
    _, client, base = co
    _field(client, base, key="seats", type="text", label="Seats", default="12")
    _field(client, base, key="met_at", type="datetime", label="Met")
    record = client.post(
        f"{base}/records/account", json={"name": "x", "met_at": "2026-03-05T23:30:00+08:00"}
    ).get_json()
    for key, target in (("seats", "integer"), ("met_at", "date")):
        job = client.post(
            f"{base}/objects/account/fields/{key}/conversion", json={"type": target}
        ).get_json()
        drain_jobs()
        assert client.get(f"{base}/jobs/{job['id']}").get_json()["status"] == "succeeded", key
    assert client.get(f"{base}/objects/account/fields/seats").get_json()["default"] == 12
    fresh = client.post(f"{base}/records/account", json={"name": "y"}).get_json()
    assert fresh["seats"] == 12
    # The instant was on 5 March in the company's time zone (Asia/Shanghai).
    assert client.get(f"{base}/records/account/{record['id']}").get_json()["met_at"] == (
        "2026-03-05"
    )


def test_pending_jobs_survive_a_rolled_back_savepoint(app, make_company):
    from saas.extensions import db
    from saas.jobs import _PENDING_KEY
    from saas.mail import send
    from tenants.context import tenant_context

    company = make_company()
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        send(to="a@example.com", subject="s", body="b", kind="test")
        savepoint = db.session.begin_nested()
        savepoint.rollback()
        assert len(db.session.info.get(_PENDING_KEY, [])) == 1
        db.session.rollback()


def test_the_widest_decimal_is_stored_exactly(co):
    _, client, base = co
    _field(client, base, key="wide", type="decimal", label="Wide", precision=30, scale=2)
    value = "9" * 28 + ".99"
    response = client.post(f"{base}/records/account", json={"name": "x", "wide": value})
    assert response.status_code == 201 and response.get_json()["wide"] == value
    too_wide = client.post(f"{base}/records/account", json={"name": "x", "wide": "1" + value})
    assert too_wide.status_code == 400


def test_auto_numbers_cannot_be_made_to_repeat(co):
    _, client, base = co
    bad = client.post(
        f"{base}/objects/account/fields",
        json={
            "key": "no",
            "type": "auto_number",
            "label": "No",
            "pattern": "C-{0000}",
            "reset": "yearly",
        },
    )
    assert bad.status_code == 400 and "reset" in bad.get_json()["errors"]
    _field(client, base, key="no", type="auto_number", label="No", pattern="C-{0000}")
    for change in ({"reset": "yearly", "pattern": "C-{YYYY}-{0000}"}, {"start": 50}):
        response = client.patch(f"{base}/objects/account/fields/no", json=change)
        assert response.status_code == 400, change
    assert (
        client.patch(
            f"{base}/objects/account/fields/no", json={"pattern": "CUS-{00000}"}
        ).status_code
        == 200
    )


def test_dependent_picklists_are_checked(co):
    _, client, base = co
    _field(client, base, key="zone", type="picklist", label="Region", values=["north", "south"])
    bad = client.post(
        f"{base}/objects/account/fields",
        json={
            "key": "city",
            "type": "picklist",
            "label": "City",
            "values": ["bj", "gz"],
            "controlling_field": "zone",
            "dependencies": {"east": ["bj"]},
        },
    )
    assert bad.status_code == 400 and "dependencies" in bad.get_json()["errors"]
    _field(
        client,
        base,
        key="city",
        type="picklist",
        label="City",
        values=["bj", "gz"],
        controlling_field="zone",
        dependencies={"north": ["bj"], "south": ["gz"]},
    )
    wrong = client.post(
        f"{base}/records/account", json={"name": "x", "zone": "south", "city": "bj"}
    )
    assert wrong.status_code == 400
    assert "Region" in wrong.get_json()["errors"]["city"][0]
    assert (
        client.post(
            f"{base}/records/account", json={"name": "x", "zone": "north", "city": "bj"}
        ).status_code
        == 201
    )


def test_fields_used_by_formulas_cannot_be_switched_off_or_converted(co):
    _, client, base = co
    _field(client, base, key="qty", type="text", label="Qty")
    _field(client, base, key="twice", type="formula", label="Twice", expression="qty & qty")
    assert (
        client.patch(f"{base}/objects/account/fields/qty", json={"active": False}).status_code
        == 409
    )
    assert (
        client.post(
            f"{base}/objects/account/fields/qty/conversion", json={"type": "integer"}
        ).status_code
        == 409
    )


def test_a_json_body_nested_too_deeply_is_400(co, app, login):
    """Python's JSON parser recurses per level: a body of 100,000 nested arrays must be refused
    as malformed, by the API (webargs) and by the pages' own JSON endpoints alike."""
    company, client, base = co
    body = "[" * 100_000 + "]" * 100_000
    response = client.post(f"{base}/records/account", data=body, content_type="application/json")
    assert response.status_code == 400
    response = client.post("/api/v1/signup", data=body, content_type="application/json")
    assert response.status_code == 400
    page = login(company.owner_email)
    record = client.post(f"{base}/records/account", json={"name": "Deep"}).get_json()
    response = page.patch(
        f"/t/{company.slug}/o/account/{record['id']}",
        data=body,
        content_type="application/json",
        headers={"If-Match": f'"v{record["version"]}"'},
    )
    assert response.status_code == 400


def test_values_the_database_refuses_are_400(co):
    """Ids past BIGINT and NUL bytes reach PostgreSQL through some services: it refuses them,
    and the answer is a 400 naming no internals, with nothing written."""
    _company, client, base = co
    record = client.post(f"{base}/records/account", json={"name": "Shared"}).get_json()
    response = client.post(f"{base}/records/account/{record['id']}/shares", json={"user_id": 2**70})
    assert response.status_code == 400
    assert "psycopg" not in response.get_data(as_text=True)
    body = {"object_key": "account", "name": "nul\x00byte", "locale": "en", "source": "<p></p>"}
    response = client.post(f"{base}/print-templates", json=body)
    assert response.status_code == 400, response.get_json()
    assert client.get(f"{base}/records/account/{record['id']}").status_code == 200
