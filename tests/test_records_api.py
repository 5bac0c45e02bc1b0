"""Generic records API: validation per field, ETag/If-Match, unique, auto-number, lookups,
field access, recycle bin, custom objects."""

from __future__ import annotations

import re
import threading

import pytest


@pytest.fixture
def crm(make_company, api):
    company = make_company()
    client = api(company.token)
    fields = f"/api/v1/t/{company.slug}/objects/account/fields"
    for payload in (
        {
            "key": "budget",
            "type": "currency",
            "label": {"en": "Budget", "zh": "预算"},
            "required": True,
        },
        {"key": "tax_no", "type": "text", "label": "Tax number", "unique": True},
        {
            "key": "tier",
            "type": "picklist",
            "label": "Tier",
            "values": ["A", "B", "C"],
            "default": "C",
        },
        {"key": "customer_no", "type": "auto_number", "label": "No.", "pattern": "C-{YYYY}-{0000}"},
        {"key": "mobile", "type": "phone", "label": "Mobile"},
        {"key": "parent", "type": "lookup", "label": "Parent", "target": "account"},
    ):
        assert client.post(fields, json=payload).status_code == 201, payload
    return company, client, f"/api/v1/t/{company.slug}/records/account"


def test_create_read_and_etag(crm):
    company, client, base = crm
    response = client.post(
        base,
        json={
            "name": "上海示例贸易有限公司",
            "budget": {"amount": "1000000", "currency": "CNY"},
            "mobile": "138 1234 5678",
        },
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert response.headers["ETag"] == '"v1"'
    assert body["version"] == 1 and body["id"]
    assert body["budget"] == {"amount": "1000000.00", "currency": "CNY"}
    assert body["tier"] == "C"  # the default
    assert re.fullmatch(r"C-\d{4}-0001", body["customer_no"])
    assert body["mobile"] == "+8613812345678"
    assert body["owner_id"] == company.owner_id
    fetched = client.get(f"{base}/{body['id']}")
    assert fetched.get_json() == body and fetched.headers["ETag"] == '"v1"'


def test_validation_names_each_field(crm):
    _, client, base = crm
    response = client.post(
        base, json={"budget": "lots", "tier": "Z", "colour": "red", "id": 5, "customer_no": "C-1"}
    )
    assert response.status_code == 400
    errors = response.get_json()["errors"]
    assert set(errors) == {"name", "budget", "tier", "colour", "id", "customer_no"}
    assert errors["budget"] == ["Budget: Enter a number."]
    missing = client.post(base, json={"name": "No budget"})
    assert missing.get_json()["errors"]["budget"] == ["Budget: A value is required."]


def test_messages_follow_the_users_language(crm, app):
    company, client, base = crm
    from sqlalchemy import update

    from saas.accounts.models import User
    from saas.extensions import db

    with app.app_context():
        db.session.execute(update(User).where(User.id == company.owner_id).values(locale="zh_CN"))
        db.session.commit()
    response = client.post(base, json={"name": "x", "budget": "lots"})
    assert response.get_json()["errors"]["budget"] == ["预算：请输入数字。"]


def test_update_needs_the_version_read(crm):
    _, client, base = crm
    record = client.post(base, json={"name": "A Co", "budget": "10"}).get_json()
    url = f"{base}/{record['id']}"
    assert client.patch(url, json={"budget": "20"}).status_code == 428
    assert (
        client.patch(
            url, json={"budget": "20"}, headers={**client.headers, "If-Match": "garbage"}
        ).status_code
        == 400
    )
    first = client.patch(url, json={"budget": "20"}, headers={**client.headers, "If-Match": '"v1"'})
    assert first.status_code == 200 and first.headers["ETag"] == '"v2"'
    stale = client.patch(url, json={"budget": "30"}, headers={**client.headers, "If-Match": '"v1"'})
    assert stale.status_code == 412
    assert stale.get_json()["current"]["budget"]["amount"] == "20.00"  # the other change, shown
    assert client.get(url).get_json()["budget"]["amount"] == "20.00"  # nothing overwritten


def test_concurrent_updates_with_the_same_version_let_one_win(crm, app):
    _, client, base = crm
    record = client.post(base, json={"name": "Race", "budget": "1"}).get_json()
    url = f"{base}/{record['id']}"
    statuses: list[int] = []

    def attempt(amount: str) -> None:
        response = client.patch(
            url, json={"budget": amount}, headers={**client.headers, "If-Match": '"v1"'}
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=attempt, args=(str(i),)) for i in range(2, 6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 412, 412, 412]
    assert client.get(url).get_json()["version"] == 2


def test_unique_values_are_enforced_under_concurrency(crm):
    _, client, base = crm
    statuses: list[int] = []

    def attempt(i: int) -> None:
        response = client.post(base, json={"name": f"T{i}", "budget": "1", "tax_no": "91310000X"})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201, 409, 409, 409]
    # Case does not make a different value; changing the holder frees the value.
    assert (
        client.post(base, json={"name": "x", "budget": "1", "tax_no": "91310000x"}).status_code
        == 409
    )


def test_auto_numbers_never_repeat_under_concurrency(crm):
    _, client, base = crm
    numbers: list[str] = []

    def attempt(i: int) -> None:
        response = client.post(base, json={"name": f"N{i}", "budget": "1"})
        numbers.append(response.get_json()["customer_no"])

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(numbers)) == 6
    assert sorted(int(n[-4:]) for n in numbers) == [1, 2, 3, 4, 5, 6]


def test_lookups_must_point_at_an_existing_record_of_this_tenant(crm, make_company, api):
    _, client, base = crm
    parent = client.post(base, json={"name": "Parent", "budget": "1"}).get_json()
    child = client.post(base, json={"name": "Child", "budget": "1", "parent": parent["id"]})
    assert child.status_code == 201 and child.get_json()["parent"] == parent["id"]
    assert (
        client.post(base, json={"name": "Orphan", "budget": "1", "parent": 999999}).status_code
        == 400
    )
    # Another company's record id is no better.
    other = make_company()
    other_client = api(other.token)
    other_client.post(
        f"/api/v1/t/{other.slug}/objects/account/fields",
        json={"key": "x", "type": "text", "label": "x"},
    )
    foreign = other_client.post(
        f"/api/v1/t/{other.slug}/records/account", json={"name": "Foreign"}
    ).get_json()
    assert (
        client.post(
            base, json={"name": "Cross", "budget": "1", "parent": foreign["id"]}
        ).status_code
        == 400
    )


def test_recycle_bin(crm):
    _, client, base = crm
    record = client.post(base, json={"name": "Bin me", "budget": "1"}).get_json()
    url = f"{base}/{record['id']}"
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404
    assert record["id"] not in [r["id"] for r in client.get(base).get_json()["data"]]
    assert client.post(f"{url}/restore").status_code == 200
    assert client.get(url).status_code == 200


def test_paging_with_a_cursor(crm):
    _, client, base = crm
    ids = [
        client.post(base, json={"name": f"P{i}", "budget": "1"}).get_json()["id"] for i in range(5)
    ]
    first = client.get(f"{base}?limit=2").get_json()
    assert [r["id"] for r in first["data"]] == ids[::-1][:2]
    second = client.get(f"{base}?limit=2&cursor={first['next_cursor']}").get_json()
    assert [r["id"] for r in second["data"]] == ids[::-1][2:4]
    assert client.get(f"{base}?limit=5000").status_code == 400


def test_field_access_hides_and_protects(crm, add_member, login, api):
    company, client, base = crm
    client.put(
        f"/api/v1/t/{company.slug}/objects/account/fields/tax_no/access",
        json={"member": "read_only", "read_only": "hidden"},
    )
    record = client.post(
        base, json={"name": "Guarded", "budget": "5", "tax_no": "SECRET-1"}
    ).get_json()

    def token_for(role: str) -> str:
        person = login(add_member(company, role).email)
        page = person.post(f"/t/{company.slug}/tokens", data={"name": role})
        return re.search(r'data-testid="new-token">([^<]+)<', page.get_data(as_text=True)).group(1)

    member, reader = api(token_for("member")), api(token_for("read_only"))
    url = f"{base}/{record['id']}"
    assert member.get(url).get_json()["tax_no"] == "SECRET-1"
    denied = member.patch(url, json={"tax_no": "X"}, headers={**member.headers, "If-Match": '"v1"'})
    assert denied.status_code == 400 and "tax_no" in denied.get_json()["errors"]
    assert "tax_no" not in reader.get(url).get_json()
    assert reader.post(base, json={"name": "x", "budget": "1"}).status_code == 403


def test_custom_object_records(make_company, api):
    company = make_company()
    client = api(company.token)
    created = client.post(
        f"/api/v1/t/{company.slug}/objects",
        json={
            "key": "vehicle",
            "label": {"en": "Vehicle", "zh": "车辆"},
            "plural": {"en": "Vehicles", "zh": "车辆"},
            "icon": "truck",
        },
    )
    assert created.status_code == 201, created.get_json()
    client.post(
        f"/api/v1/t/{company.slug}/objects/vehicle/fields",
        json={"key": "plate", "type": "text", "label": "Plate", "required": True},
    )
    client.post(
        f"/api/v1/t/{company.slug}/objects/account/fields",
        json={"key": "fleet_car", "type": "lookup", "label": "Car", "target": "vehicle"},
    )
    base = f"/api/v1/t/{company.slug}/records/vehicle"
    car = client.post(base, json={"name": "Van 1", "plate": "沪A12345"})
    assert car.status_code == 201 and car.get_json()["plate"] == "沪A12345"
    account = client.post(
        f"/api/v1/t/{company.slug}/records/account",
        json={"name": "Fleet Co", "fleet_car": car.get_json()["id"]},
    )
    assert account.status_code == 201
    assert [r["name"] for r in client.get(base).get_json()["data"]] == ["Van 1"]
    assert (
        client.get(f"/api/v1/t/{company.slug}/records/account").get_json()["data"][0]["name"]
        == "Fleet Co"
    )
    # The two objects' records never mix, although custom objects share a table.
    client.post(f"/api/v1/t/{company.slug}/objects", json={"key": "site", "label": "Site"})
    assert client.get(f"/api/v1/t/{company.slug}/records/site").get_json()["data"] == []


def test_custom_object_with_numbered_names(make_company, api):
    company = make_company()
    client = api(company.token)
    response = client.post(
        f"/api/v1/t/{company.slug}/objects",
        json={"key": "ticket", "label": "Ticket", "name_pattern": "T-{0000}"},
    )
    assert response.status_code == 201, response.get_json()
    base = f"/api/v1/t/{company.slug}/records/ticket"
    names = [client.post(base, json={}).get_json()["name"] for _ in range(3)]
    assert names == ["T-0001", "T-0002", "T-0003"]
    assert client.post(base, json={"name": "mine"}).status_code == 400


def test_unknown_object_and_foreign_record_are_404(crm):
    _, client, base = crm
    assert client.get(base.replace("account", "spaceship")).status_code == 404
    assert client.get(f"{base}/999999").status_code == 404


def test_record_changes_are_audited(crm, app):
    company, client, base = crm
    record = client.post(base, json={"name": "Audited", "budget": "1"}).get_json()
    client.patch(
        f"{base}/{record['id']}",
        json={"budget": "2", "name": "Audited 2"},
        headers={**client.headers, "If-Match": '"v1"'},
    )
    events = client.get(f"/api/v1/t/{company.slug}/audit").get_json()
    update = next(e for e in events if e["action"] == "record.updated")
    assert update["target_type"] == "account" and update["target_id"] == str(record["id"])
    assert update["before"] == {"budget": {"amount": "1.00", "currency": "CNY"}, "name": "Audited"}
    assert update["after"]["name"] == "Audited 2"


def test_formula_values_are_computed_on_read(make_company, api):
    from decimal import Decimal

    company = make_company()
    client = api(company.token)
    fields = f"/api/v1/t/{company.slug}/objects/account/fields"
    for payload in (
        {"key": "qty", "type": "integer", "label": "Qty"},
        {"key": "price", "type": "decimal", "label": "Price"},
        {"key": "total", "type": "formula", "label": "Total", "expression": "qty * price"},
        {
            "key": "label_text",
            "type": "formula",
            "label": "Label",
            "expression": 'IF(qty > 10, "bulk", "small")',
        },
    ):
        assert client.post(fields, json=payload).status_code == 201, payload
    base = f"/api/v1/t/{company.slug}/records/account"
    record = client.post(base, json={"name": "F", "qty": 12, "price": "2.50"}).get_json()
    assert Decimal(record["total"]) == Decimal("30")
    assert record["label_text"] == "bulk"
    empty = client.post(base, json={"name": "G"}).get_json()
    assert empty["total"] is None and empty["label_text"] == "small"
    assert client.post(base, json={"name": "H", "total": 5}).status_code == 400


def test_making_a_field_unique_checks_and_claims_existing_values(make_company, api):
    company = make_company()
    client = api(company.token)
    fields = f"/api/v1/t/{company.slug}/objects/account/fields"
    client.post(fields, json={"key": "code", "type": "text", "label": "Code"})
    base = f"/api/v1/t/{company.slug}/records/account"
    first = client.post(base, json={"name": "A", "code": "X-1"}).get_json()
    client.post(base, json={"name": "B", "code": "x-1"})
    refused = client.patch(f"{fields}/code", json={"unique": True})
    assert refused.status_code == 400 and "x-1" in refused.get_json()["errors"]["unique"][0]
    assert client.get(f"{fields}/code").get_json()["unique"] is False
    second = client.get(base).get_json()["data"][0]
    client.patch(
        f"{base}/{second['id']}",
        json={"code": "Y-2"},
        headers={"If-Match": f'"v{second["version"]}"'},
    )
    assert client.patch(f"{fields}/code", json={"unique": True}).status_code == 200
    # Existing values are claimed: a new record cannot take one, the holder keeps it.
    assert client.post(base, json={"name": "C", "code": "x-1"}).status_code == 409
    assert (
        client.patch(
            f"{base}/{first['id']}", json={"name": "A2"}, headers={"If-Match": '"v1"'}
        ).status_code
        == 200
    )
    # Turning unique off releases the claims.
    client.patch(f"{fields}/code", json={"unique": False})
    assert client.post(base, json={"name": "D", "code": "X-1"}).status_code == 201


def test_formulas_may_use_other_formulas(make_company, api):
    from decimal import Decimal

    company = make_company()
    client = api(company.token)
    fields = f"/api/v1/t/{company.slug}/objects/account/fields"
    for payload in (
        {"key": "qty", "type": "integer", "label": "Qty"},
        {"key": "net", "type": "formula", "label": "Net", "expression": "qty * 10"},
        {"key": "with_tax", "type": "formula", "label": "With tax", "expression": "net * 1.13"},
    ):
        assert client.post(fields, json=payload).status_code == 201, payload
    # Shown before the formula it uses, it is still computed after it.
    client.put(f"{fields}/order", json={"keys": ["with_tax", "qty", "net"]})
    record = client.post(
        f"/api/v1/t/{company.slug}/records/account", json={"name": "N", "qty": 3}
    ).get_json()
    assert Decimal(record["net"]) == 30
    assert Decimal(record["with_tax"]) == Decimal("33.90")


def test_formula_results_are_shown_in_the_users_language(app, make_company, api, login):
    company = make_company()
    client = api(company.token)
    fields = f"/api/v1/t/{company.slug}/objects/account/fields"
    client.post(fields, json={"key": "qty", "type": "integer", "label": "Qty"})
    client.post(
        fields, json={"key": "big", "type": "formula", "label": "Big", "expression": "qty * 1000.5"}
    )
    record = client.post(
        f"/api/v1/t/{company.slug}/records/account", json={"name": "Shown", "qty": 2000}
    ).get_json()
    page = login(company.owner_email).get(f"/t/{company.slug}/o/account/{record['id']}")
    assert 'data-field="big">2,001,000<' in page.get_data(as_text=True)
