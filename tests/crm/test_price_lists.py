"""Price lists: CRUD and validation through the API, quantity breaks and validity dates in the
price lookup (with a Hypothesis property), one default list per currency (also in the
database), a quote priced from a list, permissions, audit, two tenants, and the web pages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from saas.crm import price_lists
from saas.crm.price_lists import PriceList
from saas.extensions import db
from tenants import services as tenant_services
from tenants.context import tenant_context
from tenants.models import AuditEvent

D = Decimal
TODAY = dt.date.today()


def _token(app, company, user_id: int) -> str:
    with app.app_context(), tenant_context(company.tenant_id, db.session, user_id):
        _, raw = tenant_services.create_token(tenant_services.membership(user_id), "test")
    return raw


class Shop:
    """A company with its owner, a manager and a salesperson (each with a token)."""

    def __init__(self, app, company, api, add_member):
        self.app = app
        self.company = company
        self.slug = company.slug
        self.owner = api(company.token)
        self.manager_id = add_member(company, "manager").id
        self.rep_id = add_member(company, "member").id
        self.manager = api(_token(app, company, self.manager_id))
        self.rep = api(_token(app, company, self.rep_id))
        self.currency = self.owner.get(self.url("/settings")).get_json()["currency"]

    def url(self, path: str) -> str:
        return f"/api/v1/t/{self.slug}{path}"

    def product(self, name: str, code: str, **fields) -> int:
        response = self.owner.post(
            self.url("/records/product"), json={"name": name, "code": code, **fields}
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    def create(self, client=None, expect: int = 201, **body) -> dict:
        body.setdefault("name", "Wholesale")
        response = (client or self.manager).post(self.url("/price-lists"), json=body)
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def items(self, list_id: int, items, client=None, expect: int = 200) -> dict:
        response = (client or self.manager).put(
            self.url(f"/price-lists/{list_id}/items"), json={"items": items}
        )
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def price(self, list_id: int, product: int, quantity="1", **query) -> dict:
        response = self.rep.get(
            self.url(f"/price-lists/{list_id}/price"),
            query_string={"product": product, "quantity": quantity, **query},
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def audit(self, action: str) -> list[AuditEvent]:
        with self.app.app_context(), tenant_context(self.company.tenant_id, db.session):
            return list(
                db.session.execute(
                    select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
                ).scalars()
            )


@pytest.fixture
def shop(app, make_company, api, add_member) -> Shop:
    return Shop(app, make_company(), api, add_member)


def test_crud_and_audit(shop):
    created = shop.create(name="  Dealers   2027 ", currency="cny", valid_from="2027-01-01")
    assert created["name"] == "Dealers 2027"
    assert created["currency"] == "CNY"
    assert created["active"] is True and created["is_default"] is False
    assert created["valid_from"] == "2027-01-01" and created["valid_to"] is None
    assert created["items"] == []
    list_id = created["id"]

    listed = shop.rep.get(shop.url("/price-lists")).get_json()
    assert [p["id"] for p in listed] == [list_id]

    response = shop.manager.patch(
        shop.url(f"/price-lists/{list_id}"), json={"valid_to": "2027-12-31", "active": False}
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["valid_to"] == "2027-12-31"
    assert response.get_json()["active"] is False

    widget = shop.product("Widget", "W-1")
    saved = shop.items(
        list_id,
        [
            {"product": widget, "unit_price": "100"},
            {"product": widget, "unit_price": "¥90.5", "min_quantity": "10"},
        ],
    )["items"]
    assert [(i["min_quantity"], i["unit_price"]) for i in saved] == [("1", "100"), ("10", "90.5")]
    assert saved[0]["product_name"] == "Widget" and saved[0]["product_code"] == "W-1"
    # Replacing drops the rows left out.
    saved = shop.items(list_id, [{"product": widget, "unit_price": "80", "min_quantity": 5}])
    assert [(i["min_quantity"], i["unit_price"]) for i in saved["items"]] == [("5", "80")]
    detail = shop.rep.get(shop.url(f"/price-lists/{list_id}")).get_json()
    assert len(detail["items"]) == 1

    assert shop.manager.delete(shop.url(f"/price-lists/{list_id}")).status_code == 204
    assert shop.rep.get(shop.url(f"/price-lists/{list_id}")).status_code == 404
    with shop.app.app_context(), tenant_context(shop.company.tenant_id, db.session):
        assert not db.session.execute(select(price_lists.PriceListItem)).first()

    created_events = shop.audit("price_list.created")
    assert created_events[0].after["name"] == "Dealers 2027"
    updated = shop.audit("price_list.updated")
    assert updated[0].before == {"active": True, "valid_to": None}
    assert updated[0].after == {"active": False, "valid_to": "2027-12-31"}
    replaced = shop.audit("price_list.items_replaced")
    assert [(e.before, e.after) for e in replaced] == [
        ({"items": 0}, {"items": 2}),
        ({"items": 2}, {"items": 1}),
    ]
    assert shop.audit("price_list.deleted")[0].before["items"] == 1


def test_validation_names_fields(shop):
    body = shop.create(expect=400, name=" ", currency="ZZZ", valid_from="tomorrow", active="yes")
    assert set(body["errors"]) == {"name", "currency", "valid_from", "active"}
    assert "extra" in shop.create(expect=400, extra=1)["errors"]
    body = shop.create(expect=400, name="A" * 101)
    assert "name" in body["errors"]
    body = shop.create(expect=400, valid_from="2027-05-01", valid_to="2027-04-30")
    assert "valid_to" in body["errors"]

    list_id = shop.create(currency="CNY")["id"]
    widget = shop.product("Widget", "W-1")
    body = shop.items(
        list_id,
        [
            {"product": widget, "unit_price": "1.005"},  # CNY has 2 decimals
            {"product": 999999999, "unit_price": "1"},
            {"product": widget, "unit_price": "abc", "min_quantity": "0"},
            {"product": widget, "unit_price": "-1", "min_quantity": "2"},
            {"product": widget, "unit_price": "3", "min_quantity": "7"},
            {"product": widget, "unit_price": "4", "min_quantity": "7.00"},
            {"product": "x", "unit_price": "1", "note": "?"},
            "nonsense",
        ],
        expect=400,
    )
    errors = body["errors"]
    assert "decimal places" in errors["items[0].unit_price"][0]
    assert "items[1].product" in errors
    assert {"items[2].unit_price", "items[2].min_quantity", "items[3].unit_price"} <= set(errors)
    assert "items[5].min_quantity" in errors  # 7 and 7.00 are the same break
    assert {"items[6].product", "items[6].note", "items[7]"} <= set(errors)
    assert "items[4].min_quantity" not in errors
    # Nothing was saved.
    assert shop.rep.get(shop.url(f"/price-lists/{list_id}")).get_json()["items"] == []
    response = shop.rep.get(
        shop.url(f"/price-lists/{list_id}/price"), query_string={"product": widget, "quantity": "x"}
    )
    assert response.status_code == 400 and "quantity" in response.get_json()["errors"]


def test_price_lookup_breaks_and_dates(shop):
    widget = shop.product("Widget", "W-1", price="120")
    bolt = shop.product("Bolt", "B-1")
    plist = shop.create(currency=shop.currency, valid_from="2027-01-01", valid_to="2027-06-30")
    shop.items(
        plist["id"],
        [
            {"product": widget, "unit_price": "100"},
            {"product": widget, "unit_price": "90", "min_quantity": "10"},
            {"product": widget, "unit_price": "80", "min_quantity": "100"},
            {"product": bolt, "unit_price": "2", "min_quantity": "50"},
        ],
    )
    on = {"date": "2027-03-01"}
    cases = [("1", "100", "1"), ("9.99", "100", "1"), ("10", "90", "10"), ("5000", "80", "100")]
    for quantity, price, minimum in cases:
        found = shop.price(plist["id"], widget, quantity, **on)
        assert (found["unit_price"], found["source"], found["min_quantity"]) == (
            price,
            "price_list",
            minimum,
        ), quantity
    # Below every break: the product's own price, or none.
    assert shop.price(plist["id"], bolt, "49", **on)["source"] is None
    assert shop.price(plist["id"], bolt, "50", **on)["unit_price"] == "2"
    # Outside its dates, or inactive: the product's price.
    for day in ("2026-12-31", "2027-07-01"):
        found = shop.price(plist["id"], widget, "10", date=day)
        assert (found["unit_price"], found["source"]) == ("120", "product")
    assert shop.price(plist["id"], widget, "10", date="2027-06-30")["unit_price"] == "90"
    shop.manager.patch(shop.url(f"/price-lists/{plist['id']}"), json={"active": False})
    assert shop.price(plist["id"], widget, "10", **on)["source"] == "product"


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    breaks=st.dictionaries(
        st.integers(min_value=1, max_value=1000), st.integers(min_value=0, max_value=10**6)
    ),
    quantity=st.integers(min_value=1, max_value=2000),
)
def test_pick_is_highest_break_not_above(breaks, quantity):
    rows = [(D(k), D(v)) for k, v in breaks.items()]
    chosen = price_lists.pick(rows, D(quantity))
    eligible = [k for k in breaks if k <= quantity]
    if not eligible:
        assert chosen is None
    else:
        assert chosen == (D(max(eligible)), D(breaks[max(eligible)]))


def test_one_default_per_currency(shop):
    first = shop.create(name="A", currency="CNY", is_default=True)
    usd = shop.create(name="U", currency="USD", is_default=True)
    second = shop.create(name="B", currency="CNY", is_default=True)
    lists = {p["id"]: p for p in shop.rep.get(shop.url("/price-lists")).get_json()}
    assert lists[second["id"]]["is_default"] and lists[usd["id"]]["is_default"]
    assert not lists[first["id"]]["is_default"]
    response = shop.manager.patch(
        shop.url(f"/price-lists/{first['id']}"), json={"is_default": True}
    )
    assert response.status_code == 200
    lists = {p["id"]: p for p in shop.rep.get(shop.url("/price-lists")).get_json()}
    assert lists[first["id"]]["is_default"] and not lists[second["id"]]["is_default"]
    moved = [e for e in shop.audit("price_list.updated") if e.target_id == str(second["id"])]
    assert moved and moved[-1].after == {"is_default": False}
    # The database refuses a second default whatever the code does.
    with shop.app.app_context(), tenant_context(shop.company.tenant_id, db.session):
        db.session.add(
            PriceList(name="X", currency="CNY", valid_from=TODAY, is_default=True, active=True)
        )
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()


def test_quote_priced_from_list(shop):
    widget = shop.product("Widget", "W-1", price="120", tax_rate="0")
    gadget = shop.product("Gadget", "G-1", price="50", tax_rate="0")
    named = shop.create(name="Dealers", currency=shop.currency)
    shop.items(
        named["id"],
        [
            {"product": widget, "unit_price": "100"},
            {"product": widget, "unit_price": "90", "min_quantity": "10"},
        ],
    )
    quote = shop.rep.post(shop.url("/records/quote"), json={"name": "Q"}).get_json()

    def put(lines, header):
        version = shop.rep.get(shop.url(f"/quotes/{quote['id']}/lines")).get_json()["quote"]
        response = shop.rep.put(
            shop.url(f"/quotes/{quote['id']}/lines"),
            json={"lines": lines, "header": header},
            headers={"If-Match": f'"v{version["version"]}"'},
        )
        return response

    lines = [
        {"product": widget, "quantity": "12"},
        {"product": widget, "quantity": "2", "unit_price": "115"},  # typed: wins
        {"product": gadget, "quantity": "1"},  # not in the list: its own price
    ]
    response = put(lines, {"price_list": named["id"]})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["quote"]["price_list"] == named["id"]
    assert [D(line["unit_price"]) for line in body["lines"]] == [D(90), D(115), D(50)]
    assert D(body["quote"]["total"]) == D(1080 + 230 + 50)
    # Left out of the header, the quote keeps its list.
    response = put([{"product": widget, "quantity": "1"}], {})
    assert D(response.get_json()["lines"][0]["unit_price"]) == 100
    # A default list prices a quote that names none.
    default = shop.create(name="Default", currency=shop.currency, is_default=True)
    shop.items(default["id"], [{"product": widget, "unit_price": "70"}])
    response = put([{"product": widget, "quantity": "1"}], {"price_list": None})
    assert response.get_json()["quote"]["price_list"] is None
    assert D(response.get_json()["lines"][0]["unit_price"]) == 70
    # A list in another currency, an inactive list, or none at all are refused by name.
    other = "USD" if shop.currency != "USD" else "EUR"
    foreign = shop.create(name="Foreign", currency=other)
    ended = shop.create(name="Old", currency=shop.currency, active=False)
    for header in ({"price_list": foreign["id"]}, {"price_list": ended["id"]}, {"price_list": 0}):
        response = put(lines, header)
        assert response.status_code == 400, header
        assert "header.price_list" in response.get_json()["errors"]
    # Preview uses the list too.
    response = shop.rep.post(
        shop.url("/quotes/preview"),
        json={
            "lines": [{"product": widget, "quantity": "10"}],
            "header": {"price_list": named["id"]},
        },
    )
    assert response.status_code == 200, response.get_json()
    assert D(response.get_json()["lines"][0]["unit_price"]) == 90


def test_permissions(shop):
    plist = shop.create()
    widget = shop.product("Widget", "W-1")
    for method, path, body in (
        ("post", "/price-lists", {"name": "X"}),
        ("patch", f"/price-lists/{plist['id']}", {"name": "Y"}),
        ("put", f"/price-lists/{plist['id']}/items", {"items": []}),
        ("delete", f"/price-lists/{plist['id']}", None),
    ):
        response = getattr(shop.rep, method)(shop.url(path), json=body)
        assert response.status_code == 403, (method, path)
    assert shop.rep.get(shop.url(f"/price-lists/{plist['id']}")).status_code == 200
    assert shop.price(plist["id"], widget)["source"] is None
    # Owners change lists too.
    assert (
        shop.owner.patch(shop.url(f"/price-lists/{plist['id']}"), json={"name": "Z"}).status_code
        == 200
    )


def test_two_tenants(app, make_company, api, add_member, shop):
    other = Shop(app, make_company(), api, add_member)
    mine = shop.create(name="Mine")
    theirs_product = other.product("Theirs", "T-1")
    for method, path, body in (
        ("get", f"/price-lists/{mine['id']}", None),
        ("patch", f"/price-lists/{mine['id']}", {"name": "Hacked"}),
        ("put", f"/price-lists/{mine['id']}/items", {"items": []}),
        ("delete", f"/price-lists/{mine['id']}", None),
        ("get", f"/price-lists/{mine['id']}/price?product=1", None),
    ):
        response = getattr(other.manager, method)(other.url(path), json=body)
        assert response.status_code == 404, (method, path)
    assert other.rep.get(other.url("/price-lists")).get_json() == []
    # Another company's product is no product here.
    body = shop.items(mine["id"], [{"product": theirs_product, "unit_price": "1"}], expect=400)
    assert "items[0].product" in body["errors"]
    assert shop.rep.get(shop.url(f"/price-lists/{mine['id']}")).get_json()["name"] == "Mine"


def test_pages(app, shop, login):
    client = login(shop.company.owner_email)
    base = f"/t/{shop.slug}/price-lists"
    page = client.get(base)
    assert page.status_code == 200
    assert 'data-testid="price-lists-empty"' in page.get_data(as_text=True)

    response = client.post(base, data={"name": "", "currency": "CNY", "active": "on"})
    assert response.status_code == 400
    assert 'data-field="name"' in response.get_data(as_text=True)
    response = client.post(base, data={"name": "Web list", "currency": "CNY"})
    assert response.status_code == 302
    detail = response.headers["Location"]
    widget = shop.product("Widget", "W-1")
    response = client.post(
        f"{detail}/items",
        data={
            "product": [str(widget), "", str(widget)],
            "product_name": ["Widget", "", "Widget"],
            "min_quantity": ["1", "", "5"],
            "unit_price": ["10", "", "oops"],
        },
    )
    assert response.status_code == 400
    assert 'data-testid="price-list-items"' in response.get_data(as_text=True)
    assert "is-invalid" in response.get_data(as_text=True)
    response = client.post(
        f"{detail}/items",
        data={
            "product": [str(widget), "", str(widget)],
            "min_quantity": ["1", "", "5"],
            "unit_price": ["10", "", "9"],
        },
    )
    assert response.status_code == 302
    html = client.get(detail).get_data(as_text=True)
    assert "Web list" in html and 'value="9"' in html
    confirm = client.get(f"{detail}/delete")
    assert confirm.status_code == 200 and "2 items" in confirm.get_data(as_text=True)
    response = client.post(f"{detail}/delete", data={})
    assert response.status_code == 302
    assert client.get(detail).status_code == 404
    # A salesperson reads but does not change.
    rep = login(_email(app, shop, shop.rep_id))
    assert rep.get(base).status_code == 200
    assert "New price list" not in rep.get(base).get_data(as_text=True)


def _email(app, shop, user_id: int) -> str:
    from saas.accounts.models import User

    with app.app_context():
        return db.session.get(User, user_id).email


def test_quote_editor_page_names_a_price_list(app, shop, login):
    """The quote editor offers today's lists; saving the form with one prices from it, and a
    list of another currency is refused next to the select."""
    widget = shop.product("Widget", "W-1", price="120", tax_rate="0")
    named = shop.create(name="Dealers", currency=shop.currency)
    shop.items(named["id"], [{"product": widget, "unit_price": "100"}])
    other = "USD" if shop.currency != "USD" else "EUR"
    foreign = shop.create(name="Foreign", currency=other)
    quote = shop.rep.post(shop.url("/records/quote"), json={"name": "Q"}).get_json()
    client = login(_email(app, shop, shop.rep_id))
    page = client.get(f"/t/{shop.slug}/o/quote/{quote['id']}").get_data(as_text=True)
    assert 'data-testid="quote-price-list"' in page
    assert f'value="{named["id"]}" data-currency="{shop.currency}"' in page

    def post(list_id: int, version: int):
        return client.post(
            f"/t/{shop.slug}/quotes/{quote['id']}/lines",
            data={
                "version": str(version),
                "tax_mode": "exclusive",
                "currency": shop.currency,
                "price_list": str(list_id),
                "line-0-product": str(widget),
                "line-0-quantity": "2",
            },
        )

    refused = post(foreign["id"], quote["version"])
    assert refused.status_code == 400
    assert 'data-error="price_list"' in refused.get_data(as_text=True)
    saved = post(named["id"], quote["version"])
    assert saved.status_code == 302, saved.get_data(as_text=True)[:300]
    body = shop.rep.get(shop.url(f"/quotes/{quote['id']}/lines")).get_json()
    assert body["quote"]["price_list"] == named["id"]
    assert [D(line["unit_price"]) for line in body["lines"]] == [D(100)]
