"""The 360° customer page: related lists of two customers without leaks between them, data scope
counts ("1 more you cannot open"), field access, keyset paging, the summary figures, the
prefilled "New contact" form, the lookup indexes read through the list reader, the page's tabs
and fragments, and two companies."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import text

from saas.extensions import db
from tests.crm.test_activities import Crm


@pytest.fixture
def crm(app, make_company, add_member, api) -> Crm:
    return Crm(app, make_company, add_member, api)


def _money(amount: str) -> dict:
    return {"amount": amount, "currency": "CNY"}


def _related(crm: Crm, who: str, account_id: int, kind: str, expect: int = 200, **query):
    args = "&".join(f"{k}={v}" for k, v in query.items())
    path = f"/records/account/{account_id}/related/{kind}" + (f"?{args}" if args else "")
    return crm.call(who, "get", path, expect).get_json()


def _customer_with_everything(crm: Crm, name: str) -> dict[str, list[int] | int]:
    account = crm.create("owner", "account", name=name)["id"]
    ids: dict = {"account": account}
    ids["contacts"] = [
        crm.create("owner", "contact", name=f"{name} contact 1", account=account)["id"],
        crm.create("owner", "contact", name=f"{name} boss", account=account, is_primary=True)["id"],
    ]
    ids["activities"] = [
        crm.create(
            "owner",
            "activity",
            name=f"{name} call {i}",
            account=account,
            type="call",
            status="planned",
            content=f"{name} content {i}",
        )["id"]
        for i in range(3)
    ]
    ids["opportunities"] = [
        crm.create(
            "owner", "opportunity", name=f"{name} deal", account=account, amount=_money("500")
        )["id"]
    ]
    ids["quotes"] = [crm.create("owner", "quote", name=f"{name} quote", account=account)["id"]]
    ids["contracts"] = [
        crm.create("owner", "contract", name=f"{name} contract", account=account)["id"]
    ]
    return ids


def test_each_list_holds_its_customer_only(crm):
    first = _customer_with_everything(crm, "Alpha")
    second = _customer_with_everything(crm, "Beta")
    for ids, other in ((first, second), (second, first)):
        for kind in ("contacts", "activities", "opportunities", "quotes", "contracts"):
            page = _related(crm, "owner", ids["account"], kind)
            got = [row["id"] for row in page["data"]]
            assert sorted(got) == sorted(ids[kind]), kind
            assert not set(got) & set(other[kind])
            assert page["count"] == len(ids[kind]) and page["hidden"] == 0
            assert f"account={ids['account']}" in page["new_url"]
    contacts = _related(crm, "owner", first["account"], "contacts")
    assert contacts["data"][0]["id"] == first["contacts"][1]  # the primary contact first
    timeline = _related(crm, "owner", first["account"], "activities")["data"]
    assert [row["id"] for row in timeline] == sorted(first["activities"], reverse=True)
    assert timeline[0]["values"]["content"] == "Alpha content 2"
    assert timeline[0]["extra"]["icon"]
    # A contact's and an opportunity's own lists.
    contact = first["contacts"][0]
    crm.create(
        "owner",
        "activity",
        name="About the contact",
        account=first["account"],
        contact=contact,
        type="visit",
        status="planned",
    )
    page = crm.call("owner", "get", f"/records/contact/{contact}/related/activities", 200)
    assert [r["name"] for r in page.get_json()["data"]] == ["About the contact"]
    deal = first["opportunities"][0]
    crm.create("owner", "quote", name="Deal quote", account=first["account"], opportunity=deal)
    quotes = crm.call("owner", "get", f"/records/opportunity/{deal}/related/quotes", 200)
    assert [r["name"] for r in quotes.get_json()["data"]] == ["Deal quote"]
    # Lists that do not exist for an object.
    crm.call("owner", "get", f"/records/contact/{contact}/related/contracts", 404)
    crm.call("owner", "get", f"/records/account/{first['account']}/related/nope", 404)


def test_scope_counts_what_cannot_be_opened(crm, login):
    crm.scope("member", "own")
    account = crm.create("owner", "account", name="Shared customer", owner_id=crm.people["sales1"])
    crm.create(
        "owner", "opportunity", name="Mine", account=account["id"], owner_id=crm.people["sales1"]
    )
    crm.create(
        "owner",
        "opportunity",
        name="Colleague's deal",
        account=account["id"],
        owner_id=crm.people["sales2"],
    )
    page = _related(crm, "sales1", account["id"], "opportunities")
    assert [r["name"] for r in page["data"]] == ["Mine"]
    assert page["count"] == 1 and page["hidden"] == 1
    assert _related(crm, "owner", account["id"], "opportunities")["hidden"] == 0
    # The colleague cannot open the customer at all.
    _related(crm, "sales2", account["id"], "opportunities", expect=404)
    # The page says so in words.
    client = login(crm.emails["sales1"])
    fragment = client.get(
        f"/t/{crm.slug}/o/account/{account['id']}/related/opportunities",
        headers={"X-Fragment": "1"},
    ).get_data(as_text=True)
    assert "1 more you cannot open" in fragment and "Colleague" not in fragment


def test_hidden_amount_is_not_shown(crm):
    account = crm.create("owner", "account", name="Secretive", owner_id=crm.people["sales1"])
    crm.create(
        "owner",
        "opportunity",
        name="Big deal",
        account=account["id"],
        amount=_money("123456"),
        owner_id=crm.people["sales1"],
    )
    crm.create(
        "owner",
        "contract",
        name="Big contract",
        account=account["id"],
        amount=_money("999"),
        owner_id=crm.people["sales1"],
    )
    for object_key in ("opportunity", "contract"):
        crm.call(
            "owner",
            "put",
            f"/objects/{object_key}/fields/amount/access",
            200,
            json={"member": "hidden"},
        )
    page = _related(crm, "sales1", account["id"], "opportunities")
    assert "amount" not in page["columns"]
    assert "amount" not in page["data"][0]["values"]
    assert "123456" not in str(page)
    contracts_page = _related(crm, "sales1", account["id"], "contracts")
    assert "outstanding" not in contracts_page["data"][0]["extra"]
    summary = crm.call("sales1", "get", f"/records/account/{account['id']}/summary", 200)
    body = summary.get_json()
    assert body["open_opportunities"]["amount"] is None and body["outstanding"] is None
    owner_view = _related(crm, "owner", account["id"], "opportunities")
    assert owner_view["data"][0]["values"]["amount"]["amount"].startswith("123456")


def test_keyset_paging(crm):
    account = crm.create("owner", "account", name="Busy")["id"]
    made = [
        crm.create(
            "owner", "activity", name=f"Touch {i}", account=account, type="call", status="planned"
        )["id"]
        for i in range(23)
    ]
    seen, cursor = [], None
    for _page in range(3):
        query = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        page = _related(crm, "owner", account, "activities", **query)
        seen += [r["id"] for r in page["data"]]
        cursor = page["next_cursor"]
        assert page["count"] == 23
    assert cursor is None
    assert seen == sorted(made, reverse=True)
    bad = _related(crm, "owner", account, "activities", expect=400, limit=500)
    assert "limit" in str(bad)
    bad = _related(crm, "owner", account, "activities", expect=400, cursor="forged")
    assert "cursor" in str(bad)
    other = crm.create("owner", "account", name="Other")["id"]
    first = _related(crm, "owner", account, "activities", limit=5)
    # A cursor of another customer's list is refused.
    _related(crm, "owner", other, "activities", expect=400, cursor=first["next_cursor"])


def test_summary_figures(crm, app):
    from saas.crm import contracts
    from tenants import services as tenant_services
    from tenants.context import tenant_context

    account = crm.create("owner", "account", name="Summed", grade="A")["id"]
    crm.create("owner", "opportunity", name="Open 1", account=account, amount=_money("100"))
    crm.create("owner", "opportunity", name="Open 2", account=account, amount=_money("250"))
    crm.create(
        "owner", "opportunity", name="Won", account=account, amount=_money("700"), stage="won"
    )
    crm.create(
        "owner",
        "opportunity",
        name="Lost",
        account=account,
        amount=_money("50"),
        stage="lost",
        lost_reason="price",
    )
    crm.create(
        "owner",
        "activity",
        name="Visit",
        account=account,
        type="visit",
        status="done",
        result="fine",
        done_at="2024-05-01T08:00:00Z",
    )
    contract = crm.create(
        "owner", "contract", name="Running", account=account, amount=_money("1000")
    )["id"]
    with (
        app.test_request_context(),
        tenant_context(crm.company.tenant_id, db.session, crm.company.owner_id),
    ):
        db.session.execute(
            text('UPDATE contracts SET data = data || \'{"status": "active"}\' WHERE id = :i'),
            {"i": contract},
        )
        db.session.commit()
        actor = tenant_services.membership(crm.company.owner_id)
        today = contracts.tenant_today()
        contracts.set_plan(
            actor,
            contract,
            [
                {"due_date": (today - timedelta(days=10)).isoformat(), "amount": "600"},
                {"due_date": (today + timedelta(days=30)).isoformat(), "amount": "400"},
            ],
        )
        contracts.record_payment(
            actor, contract, {"received_on": today.isoformat(), "amount": "300"}
        )
    body = crm.call("owner", "get", f"/records/account/{account}/summary", 200).get_json()
    assert body["grade"] == "A" or body["grade"].startswith("A")
    assert body["owner_id"] == crm.company.owner_id
    assert body["last_contact_at"].startswith("2024-05-01")
    assert body["open_opportunities"] == {
        "count": 2,
        "amount": [{"currency": "CNY", "amount": "350.00"}],
    }
    assert body["won_this_year"]["count"] == 1
    assert body["won_this_year"]["amount"] == [{"currency": "CNY", "amount": "700.00"}]
    assert body["outstanding"] == [{"currency": "CNY", "amount": "700.00"}]
    assert body["overdue"] == [{"currency": "CNY", "amount": "300.00"}]
    payments = _related(crm, "owner", account, "payments")
    assert payments["count"] == 1 and payments["data"][0]["values"]["amount"]["amount"]
    contracts_page = _related(crm, "owner", account, "contracts")
    assert contracts_page["data"][0]["extra"]["outstanding"] == "700.00"
    crm.call("owner", "get", f"/records/contact/{account}/summary", 404)


def test_prefilled_new_contact_form(crm, login):
    account = crm.create("owner", "account", name="Prefill Co")["id"]
    client = login(crm.company.owner_email)
    page = client.get(f"/t/{crm.slug}/o/contact/new?account={account}").get_data(as_text=True)
    assert re.search(f'<option value="{account}"[^>]*selected', page)
    bogus = client.get(f"/t/{crm.slug}/o/contact/new?account=abc")
    assert (
        bogus.status_code == 200
        and "selected"
        not in bogus.get_data(as_text=True).split('name="field-account"')[1].split("</select>")[0]
    )
    other = crm.create("owner", "account", name="Other Co")["id"]
    detail = client.get(f"/t/{crm.slug}/o/account/{other}").get_data(as_text=True)
    assert 'data-testid="related-tabs"' in detail and 'data-testid="related-summary"' in detail
    fragment = client.get(
        f"/t/{crm.slug}/o/account/{other}/related/contacts", headers={"X-Fragment": "1"}
    ).get_data(as_text=True)
    assert 'data-testid="related-empty"' in fragment and f"account={other}" in fragment
    assert "<html" not in fragment
    full = client.get(f"/t/{crm.slug}/o/account/{other}/related/contacts").get_data(as_text=True)
    assert "<html" in full


def test_the_lookup_index_serves_the_list(crm, app):
    from custom_fields.definitions import schemas
    from custom_fields.query import engine, reader
    from saas.crm import related
    from tenants import services as tenant_services
    from tenants.context import tenant_context

    account = crm.create("owner", "account", name="Indexed")["id"]
    crm.create("owner", "activity", name="One", account=account, type="call", status="planned")
    with (
        app.test_request_context(),
        tenant_context(crm.company.tenant_id, db.session, crm.company.owner_id),
    ):
        actor = tenant_services.membership(crm.company.owner_id)
        schema = schemas(crm.company.tenant_id)["activity"]
        kind = related.RELATIONS["account"][1]
        stmt, resolver = engine.base_query(
            schema,
            actor,
            engine.QuerySpec(filter=related._link_condition(kind, account)),
            "UTC",
        )
        keys = engine._ordered(list(kind.sort), resolver)
        stmt = stmt.order_by(*engine._order_by(keys)).limit(10)
        with reader.reading() as session:
            session.execute(text("SET enable_seqscan = off"))
            compiled = stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
            plan = "\n".join(
                row[0]
                for row in session.execute(text("EXPLAIN " + str(compiled).replace("%%", "%")))
            )
            session.execute(text("RESET enable_seqscan"))
    assert "ix_activities_by_account" in plan, plan


def test_two_companies(crm, make_company, api):
    theirs = make_company()
    their_api = api(theirs.token)
    other = their_api.post(
        f"/api/v1/t/{theirs.slug}/records/account", json={"name": "Their secret"}
    ).get_json()["id"]
    their_api.post(
        f"/api/v1/t/{theirs.slug}/records/contact",
        json={"name": "Their secret contact", "account": other},
    )
    response = crm.call("owner", "get", f"/records/account/{other}/related/contacts")
    assert response.status_code == 404
    assert "Their secret" not in response.get_data(as_text=True)
    crm.call("owner", "get", f"/records/account/{other}/summary", 404)
