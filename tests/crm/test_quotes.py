"""Quotes: stored totals equal saas.crm.money's (with a Hypothesis property through the
service), every allowed and refused status move, the discount threshold, who may approve,
notifications and audit, revisions and copies, optimistic concurrency, the generic record API
refusing totals, lines and quotes past draft, unique products (also under concurrency and on
import), the daily expiry, two tenants, and the web pages."""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from saas.crm import money, quotes
from saas.crm.approvals import Approval
from saas.errors import DomainError
from saas.extensions import db
from saas.records.models import Quote, QuoteLine
from tenants import services as tenant_services
from tenants.context import tenant_context
from tenants.models import AuditEvent
from tenants.notifications import Notification

D = Decimal
ACTIONS = ("submit", "approve", "reject", "send", "accept", "decline", "reopen")
#: The status each action leads to from the statuses it starts from (submit: no discount).
ALLOWED = {
    ("draft", "submit"): "approved",
    ("pending_approval", "approve"): "approved",
    ("pending_approval", "reject"): "rejected",
    ("approved", "send"): "sent",
    ("sent", "accept"): "accepted",
    ("sent", "decline"): "rejected",
    ("rejected", "reopen"): "draft",
}
STATUSES = ("draft", "pending_approval", "approved", "sent", "accepted", "rejected", "expired")


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
        self.owner_id = company.owner_id
        self.manager_id = add_member(company, "manager").id
        self.rep_id = add_member(company, "member").id
        self.manager = api(_token(app, company, self.manager_id))
        self.rep = api(_token(app, company, self.rep_id))

    def url(self, path: str) -> str:
        return f"/api/v1/t/{self.slug}{path}"

    def product(self, name: str, code: str, client=None, expect: int = 201, **fields) -> dict:
        response = (client or self.owner).post(
            self.url("/records/product"), json={"name": name, "code": code, **fields}
        )
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def quote(self, client=None, name: str = "Quote", **fields) -> dict:
        response = (client or self.rep).post(
            self.url("/records/quote"), json={"name": name, **fields}
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def get(self, quote_id: int, client=None) -> dict:
        response = (client or self.rep).get(self.url(f"/quotes/{quote_id}/lines"))
        assert response.status_code == 200, response.get_json()
        assert response.headers["ETag"] == f'"v{response.get_json()["quote"]["version"]}"'
        return response.get_json()

    def put(self, quote_id: int, lines, header=None, *, version=None, client=None, expect=200):
        client = client or self.rep
        if version is None:
            version = self.get(quote_id, client)["quote"]["version"]
        response = client.put(
            self.url(f"/quotes/{quote_id}/lines"),
            json={"lines": lines, "header": header or {}},
            headers={"If-Match": f'"v{version}"'},
        )
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def act(self, quote_id: int, action: str, client=None, expect: int = 200, **body) -> dict:
        response = (client or self.rep).post(self.url(f"/quotes/{quote_id}/{action}"), json=body)
        assert response.status_code == expect, (action, response.get_json())
        return response.get_json()

    def drafted(self, lines=None, header=None, client=None, **fields) -> int:
        quote = self.quote(client=client, **fields)
        self.put(
            quote["id"],
            lines or [{"name": "Item", "quantity": "1", "unit_price": "100"}],
            header,
            client=client,
        )
        return quote["id"]

    def threshold(self, value) -> None:
        response = self.owner.patch(self.url("/settings"), json={"quote_discount_threshold": value})
        assert response.status_code == 200, response.get_json()

    def force(self, quote_id: int, **values) -> None:
        """Put a quote in a state directly (the tests of every transition start anywhere)."""
        with self.app.app_context(), tenant_context(self.company.tenant_id, db.session):
            quote = db.session.execute(select(Quote).where(Quote.id == quote_id)).scalar_one()
            quote.data = {**quote.data, **values}
            db.session.commit()

    def audit(self, action: str) -> list[AuditEvent]:
        with self.app.app_context(), tenant_context(self.company.tenant_id, db.session):
            return list(
                db.session.execute(
                    select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
                ).scalars()
            )

    def notifications(self, user_id: int) -> list[Notification]:
        with self.app.app_context(), tenant_context(self.company.tenant_id, db.session):
            return list(
                db.session.execute(
                    select(Notification)
                    .where(Notification.user_id == user_id)
                    .order_by(Notification.id)
                ).scalars()
            )

    def approvals(self, quote_id: int) -> list[Approval]:
        with self.app.app_context(), tenant_context(self.company.tenant_id, db.session):
            return list(
                db.session.execute(
                    select(Approval).where(Approval.record_id == quote_id).order_by(Approval.id)
                ).scalars()
            )


@pytest.fixture
def shop(app, make_company, api, add_member) -> Shop:
    return Shop(app, make_company(), api, add_member)


def _money_of(lines, currency="CNY", mode="exclusive", header=None) -> money.QuoteResult:
    return money.calculate(
        money.Quote(
            currency=currency,
            tax_mode=money.TaxMode(mode),
            lines=tuple(
                money.Line(
                    quantity=line["quantity"],
                    unit_price=line["unit_price"],
                    discount_percent=line.get("discount", "0"),
                    tax_rate=line.get("tax_rate", "0"),
                )
                for line in lines
            ),
            header_discount=money.HeaderDiscount("percent", header) if header else None,
        )
    )


# ---- arithmetic -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["exclusive", "inclusive"])
def test_stored_totals_equal_money_calculate(shop, mode):
    widget = shop.product("Widget", "W-1", price="12.50", tax_rate="13")
    lines = [
        {"product": widget["id"], "quantity": "3"},  # price and tax rate from the product
        {
            "name": "Service",
            "quantity": "2.5",
            "unit_price": "99.99",
            "discount": "7.5",
            "tax_rate": "6",
        },
        {"name": "Screws", "quantity": "1000", "unit_price": "0.0125", "tax_rate": "13"},
    ]
    quote_id = shop.quote()["id"]
    body = shop.put(quote_id, lines, {"tax_mode": mode, "header_discount": "5"})
    expected = _money_of(
        [{**lines[0], "unit_price": "12.50", "tax_rate": "13"}, lines[1], lines[2]],
        mode=mode,
        header="5",
    )
    stored = body["quote"]
    assert (stored["subtotal"], stored["tax_total"], stored["total"]) == (
        str(expected.subtotal),
        str(expected.tax_total),
        str(expected.total),
    )
    assert [line["line_total"] for line in body["lines"]] == [
        str(line.subtotal) for line in expected.lines
    ]
    assert body["totals"] == expected.to_dict()
    assert [line["name"] for line in body["lines"]] == ["Widget", "Service", "Screws"]
    assert body["lines"][0]["unit_price"] == "12.50" and body["lines"][0]["tax_rate"] == "13"
    assert body["lines"][2]["unit_price"] == "0.0125"
    assert [line["position"] for line in body["lines"]] == [1, 2, 3]
    # The preview answers the same totals without saving.
    preview = shop.rep.post(
        shop.url("/quotes/preview"),
        json={"lines": lines, "header": {"tax_mode": mode, "header_discount": "5"}},
    )
    assert preview.status_code == 200, preview.get_json()
    assert preview.get_json()["total"] == str(expected.total)
    assert preview.get_json()["lines"][0]["unit_price"] == "12.5"
    effective = D(preview.get_json()["effective_discount_percent"])
    assert effective == money.effective_discount_percent(expected) > 10
    assert preview.get_json()["needs_approval"] is True and preview.get_json()["threshold"] == "10"


def test_lines_are_replaced_kept_by_id_and_reordered(shop):
    quote_id = shop.quote()["id"]
    first = shop.put(
        quote_id,
        [
            {"name": "A", "quantity": "1", "unit_price": "10"},
            {"name": "B", "quantity": "1", "unit_price": "20"},
        ],
    )
    a, b = first["lines"]
    second = shop.put(
        quote_id,
        [
            {"id": b["id"], "name": "B", "quantity": "2", "unit_price": "20"},
            {"name": "C", "quantity": "1", "unit_price": "5"},
        ],
    )
    assert [(line["id"], line["name"], line["position"]) for line in second["lines"]] == [
        (b["id"], "B", 1),
        (second["lines"][1]["id"], "C", 2),
    ]
    assert second["quote"]["subtotal"] == "45.00"
    with shop.app.app_context(), tenant_context(shop.company.tenant_id, db.session):
        gone = db.session.execute(select(QuoteLine).where(QuoteLine.id == a["id"])).scalar_one()
        assert gone.deleted_at is not None  # the line left goes to the recycle bin
    bad = shop.put(
        quote_id, [{"id": a["id"], "name": "A", "quantity": "1", "unit_price": "1"}], expect=400
    )
    assert list(bad["errors"]) == ["lines[0].id"]


def test_bad_lines_name_each_value(shop, make_company, api):
    other = make_company()
    foreign = (
        api(other.token)
        .post(f"/api/v1/t/{other.slug}/records/product", json={"name": "Theirs", "code": "T-1"})
        .get_json()
    )
    quote_id = shop.quote()["id"]
    body = shop.put(
        quote_id,
        [
            {"name": "ok", "quantity": "1", "unit_price": "1"},
            {"name": "zero", "quantity": "0", "unit_price": "1"},
            {"name": "neg", "quantity": "1", "unit_price": "-1"},
            {"product": foreign["id"], "quantity": "1"},
            {"quantity": "1", "unit_price": "1"},
            {"name": "rate", "quantity": "1", "unit_price": "1", "tax_rate": "101"},
            {"name": "float", "quantity": 1.5, "unit_price": 2.25, "discount": "x"},
        ],
        {"header_discount": "150", "tax_mode": "gross"},
        expect=400,
    )
    assert body["errors"] == {
        "lines[1].quantity": ["must be greater than 0"],
        "lines[2].unit_price": ["must be 0 or more"],
        "lines[3].product": ["There is no such product."],
        "lines[4].name": ["Enter a description or choose a product."],
        "lines[5].tax_rate": ["must be between 0 and 100"],
        "lines[6].discount": ["must be a number"],
        "header.header_discount": ["must be between 0 and 100"],
        "header.tax_mode": ["Choose tax exclusive or tax inclusive prices."],
    }
    assert shop.get(quote_id)["lines"] == []  # nothing was written


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(
        st.fixed_dictionaries(
            {
                "quantity": st.decimals(D("0.0001"), D("9999"), places=4),
                "unit_price": st.decimals(D("0"), D("99999"), places=6),
                "discount": st.decimals(D("0"), D("100"), places=2),
                "tax_rate": st.sampled_from([D(0), D(3), D(6), D(9), D(13)]),
            }
        ),
        min_size=1,
        max_size=8,
    ),
    header=st.one_of(st.none(), st.decimals(D("0"), D("100"), places=2)),
    mode=st.sampled_from(["exclusive", "inclusive"]),
    currency=st.sampled_from(["CNY", "JPY", "KWD"]),
)
def test_property_stored_totals_are_sums_of_stored_lines(
    app, hypothesis_quote, lines, header, mode, currency
):
    company, quote_id, member_id = hypothesis_quote
    sent = [
        {"name": f"L{i}", **{k: str(v) for k, v in line.items()}} for i, line in enumerate(lines)
    ]
    with app.test_request_context(), tenant_context(company.tenant_id, db.session, member_id):
        actor = tenant_services.membership(member_id)
        version = db.session.execute(select(Quote.version).where(Quote.id == quote_id)).scalar_one()
        header_in = {
            "tax_mode": mode,
            "currency": currency,
            "header_discount": None if header is None else str(header),
        }
        quotes.save_lines(actor, quote_id, sent, header_in, version)
        db.session.expire_all()
        quote = db.session.execute(select(Quote).where(Quote.id == quote_id)).scalar_one()
        stored = quotes.line_records(quote_id)
        step = D(1).scaleb(-money.minor_digits(currency))
        line_totals = [D(line.data["line_total"]["amount"]) for line in stored]
        assert len(stored) == len(lines)
        assert all(line.data["line_total"]["currency"] == currency for line in stored)
        assert all(total == total.quantize(step) for total in line_totals)
        assert D(quote.data["subtotal"]["amount"]) == sum(line_totals, D(0))
        expected = _money_of(sent, currency, mode, None if header is None else str(header))
        assert D(quote.data["total"]["amount"]) == expected.total
        assert D(quote.data["tax_total"]["amount"]) == expected.tax_total
        assert D(quote.data["total"]["amount"]) == sum((r.gross for r in expected.lines), D(0))


@pytest.fixture
def hypothesis_quote(app, make_company, api):
    company = make_company()
    rest = api(company.token)
    quote = rest.post(f"/api/v1/t/{company.slug}/records/quote", json={"name": "Property"})
    assert quote.status_code == 201
    return company, quote.get_json()["id"], company.owner_id


# ---- statuses -------------------------------------------------------------------------------


def test_every_allowed_and_refused_transition(shop):
    for status in STATUSES:
        for action in ACTIONS:
            quote_id = shop.drafted(name=f"{status} {action}")
            shop.force(quote_id, status=status)
            deciding = action in ("approve", "reject")
            client = shop.manager if deciding else shop.rep
            body = {"comment": "Because"} if action == "reject" else {}
            target = ALLOWED.get((status, action))
            if target is None:
                refused = shop.act(quote_id, action, client, expect=409, **body)
                assert refused["current_status"] == status, (status, action)
                assert shop.get(quote_id)["quote"]["status"] == status
            else:
                moved = shop.act(quote_id, action, client, **body)
                assert moved["quote"]["status"] == target, (status, action)
        quote_id = shop.drafted(name=f"{status} revise")
        shop.force(quote_id, status=status)
        revisable = status in ("approved", "sent", "rejected", "expired")
        response = shop.act(quote_id, "revise", expect=201 if revisable else 409)
        if revisable:
            assert response["quote"]["status"] == "draft"
        else:
            assert response["current_status"] == status


def test_a_full_life(shop):
    quote_id = shop.drafted(valid_until="2099-01-01")
    assert shop.get(quote_id)["actions"] == ["submit", "copy"]
    assert shop.act(quote_id, "submit")["quote"]["status"] == "approved"
    assert shop.act(quote_id, "send")["quote"]["status"] == "sent"
    assert shop.act(quote_id, "accept")["quote"]["status"] == "accepted"
    assert shop.get(quote_id)["actions"] == ["copy"]
    actions = [e.after["status"] for e in shop.audit("quote.submit") + shop.audit("quote.send")]
    assert actions == ["approved", "sent"]
    empty = shop.quote()["id"]
    assert shop.act(empty, "submit", expect=409)["errors"] == {
        "lines": ["Add at least one line before submitting."]
    }
    assert shop.act(quote_id, "submit", client=shop.manager, expect=409)["current_status"] == (
        "accepted"
    )


@pytest.mark.parametrize(
    ("discount", "status"),
    [("9.99", "approved"), ("10", "approved"), ("10.01", "pending_approval")],
)
def test_threshold_just_below_equal_and_above(shop, discount, status):
    quote_id = shop.drafted(
        [
            {
                "name": "X",
                "quantity": "1",
                "unit_price": "100",
                "discount": discount,
                "tax_rate": "13",
            }
        ]
    )
    assert shop.get(quote_id)["totals"]["effective_discount_percent"] == str(
        D(discount).quantize(D("0.01"))
    )
    assert shop.act(quote_id, "submit")["quote"]["status"] == status
    requests = shop.approvals(quote_id)
    assert len(requests) == (1 if status == "pending_approval" else 0)
    if requests:
        assert (requests[0].discount, requests[0].threshold) == (D("10.01"), D("10.00"))
        assert requests[0].decision == "pending" and requests[0].requested_by == shop.rep_id


def test_threshold_is_a_company_setting(shop, login):
    response = shop.owner.get(shop.url("/settings"))
    assert response.get_json()["quote_discount_threshold"] == "10.00"
    shop.threshold("2.5")
    quote_id = shop.drafted([{"name": "X", "quantity": "1", "unit_price": "100", "discount": "3"}])
    assert shop.act(quote_id, "submit")["quote"]["status"] == "pending_approval"
    for bad in ("101", "-1", "abc", "1.234"):
        response = shop.owner.patch(shop.url("/settings"), json={"quote_discount_threshold": bad})
        assert response.status_code == 400, bad
        assert list(response.get_json()["errors"]) == ["quote_discount_threshold"]
    assert (
        shop.rep.patch(shop.url("/settings"), json={"quote_discount_threshold": "50"}).status_code
        == 403
    )
    (event,) = [
        e
        for e in shop.audit("tenant.settings_changed")
        if e.after.get("quote_discount_threshold") == "2.50"
    ]
    assert event.before["quote_discount_threshold"] == "10.00"
    ui = login(shop.company.owner_email)
    page = ui.get(f"/t/{shop.slug}/settings").get_data(as_text=True)
    assert 'name="quote_discount_threshold"' in page and 'value="2.50"' in page
    form = {
        "name": shop.company.name,
        "default_locale": "en",
        "timezone": "Asia/Shanghai",
        "currency": "CNY",
        "quote_discount_threshold": "15",
    }
    assert ui.post(f"/t/{shop.slug}/settings", data=form).status_code == 302
    assert shop.owner.get(shop.url("/settings")).get_json()["quote_discount_threshold"] == "15.00"


# ---- approval --------------------------------------------------------------------------------


def _pending(shop, client=None) -> int:
    quote_id = shop.drafted(
        [{"name": "Big deal", "quantity": "1", "unit_price": "1000", "discount": "25"}],
        client=client,
    )
    shop.act(quote_id, "submit", client, comment="Key customer")
    return quote_id


def test_approve_reject_notify_and_audit(shop):
    quote_id = _pending(shop)
    assert shop.get(quote_id)["quote"]["status"] == "pending_approval"
    (asked,) = [
        n for n in shop.notifications(shop.manager_id) if n.kind == "quote.approval_requested"
    ]
    assert asked.record_id == quote_id and asked.params["discount"] == "25.00"
    assert {n.kind for n in shop.notifications(shop.owner_id)} >= {"quote.approval_requested"}
    # The owner of the quote (a salesperson) cannot decide, and neither can read-only people.
    assert shop.act(quote_id, "approve", shop.rep, expect=403)
    # Rejecting needs a comment.
    missing = shop.act(quote_id, "reject", shop.manager, expect=400)
    assert list(missing["errors"]) == ["comment"]
    rejected = shop.act(quote_id, "reject", shop.manager, comment="Too cheap")
    assert rejected["quote"]["status"] == "rejected"
    (request,) = shop.approvals(quote_id)
    assert (request.decision, request.decided_by, request.comment) == (
        "rejected",
        shop.manager_id,
        "Too cheap",
    )
    assert request.request_comment == "Key customer" and request.decided_at is not None
    (told,) = [n for n in shop.notifications(shop.rep_id) if n.kind == "quote.rejected"]
    assert told.params["comment"] == "Too cheap" and told.record_id == quote_id
    (event,) = shop.audit("quote.reject")
    assert (event.target_id, event.actor_user_id, event.after["comment"]) == (
        str(quote_id),
        shop.manager_id,
        "Too cheap",
    )
    # Back to draft, cheaper, submitted again and approved.
    shop.act(quote_id, "reopen")
    shop.put(
        quote_id, [{"name": "Big deal", "quantity": "1", "unit_price": "1000", "discount": "15"}]
    )
    shop.act(quote_id, "submit")
    approved = shop.act(quote_id, "approve", shop.owner, comment="OK this time")
    assert approved["quote"]["status"] == "approved"
    decisions = [(a.decision, a.decided_by) for a in shop.approvals(quote_id)]
    assert decisions == [("rejected", shop.manager_id), ("approved", shop.owner_id)]
    assert [n.kind for n in shop.notifications(shop.rep_id)][-1] == "quote.approved"
    assert len(shop.audit("quote.approve")) == 1
    # The record page shows the history.
    page = shop.get(quote_id, shop.manager)
    assert page["actions"] == ["send", "revise", "copy"]


def test_the_owner_never_approves_their_own_quote(shop, add_member, app, api):
    other_manager = add_member(shop.company, "manager").id
    quote_id = _pending(shop, client=shop.manager)  # a manager's own quote
    refused = shop.act(quote_id, "approve", shop.manager, expect=403)
    assert "your own quote" in refused["message"]
    asked_by_other = api(_token(app, shop.company, other_manager))
    assert shop.act(quote_id, "approve", asked_by_other)["quote"]["status"] == "approved"


def test_a_pending_quote_can_be_withdrawn_by_its_owner(shop, add_member, app, api):
    """A manager whose company has no other approver takes her own pending quote back to
    draft; the request is closed as withdrawn, the inbox is empty, another member cannot."""
    quote_id = _pending(shop, client=shop.manager)
    other = api(_token(app, shop.company, add_member(shop.company, "member").id))
    refused = shop.act(quote_id, "withdraw", other, expect=403)
    assert "withdraw" in refused["message"]
    shop.act(quote_id, "withdraw", shop.rep, expect=403)
    body = shop.act(quote_id, "withdraw", shop.manager, comment="fix the discount")
    assert body["quote"]["status"] == "draft"
    assert shop.owner.get(shop.url("/approvals")).get_json()["data"] == []
    withdrawn = shop.owner.get(shop.url("/approvals?status=withdrawn")).get_json()["data"]
    assert [(r["quote"]["id"], r["decision"]) for r in withdrawn] == [(quote_id, "withdrawn")]
    [event] = shop.audit("quote.withdraw")
    assert event.before == {"status": "pending_approval"}
    assert event.after["status"] == "draft" and event.after["comment"] == "fix the discount"
    again = shop.act(quote_id, "withdraw", shop.manager, expect=409)
    assert "pending approval" in again["message"]


def test_a_manager_of_another_team_is_out_of_scope(shop, add_member, app, api):
    owner = shop.owner
    assert owner.patch(shop.url("/roles/manager"), json={"data_scope": "team"}).status_code == 200
    east = owner.post(shop.url("/teams"), json={"name": "East"}).get_json()["id"]
    west = owner.post(shop.url("/teams"), json={"name": "West"}).get_json()["id"]
    west_manager = add_member(shop.company, "manager").id
    for user_id, team in ((shop.rep_id, east), (shop.manager_id, east), (west_manager, west)):
        response = owner.patch(shop.url(f"/users/{user_id}"), json={"team_id": team})
        assert response.status_code == 200, response.get_json()
    quote_id = _pending(shop)
    west_api = api(_token(app, shop.company, west_manager))
    assert west_api.post(shop.url(f"/quotes/{quote_id}/approve"), json={}).status_code == 404
    inbox = west_api.get(shop.url("/approvals")).get_json()
    assert inbox["data"] == []
    assert not [n for n in shop.notifications(west_manager) if n.kind.startswith("quote.")]
    east_inbox = shop.manager.get(shop.url("/approvals?status=pending")).get_json()["data"]
    assert [(r["quote"]["id"], r["can_decide"], r["discount"]) for r in east_inbox] == [
        (quote_id, True, "25.00")
    ]
    rep_inbox = shop.rep.get(shop.url("/approvals")).get_json()["data"]
    assert [(r["quote"]["id"], r["can_decide"]) for r in rep_inbox] == [(quote_id, False)]
    assert shop.act(quote_id, "approve", shop.manager)["quote"]["status"] == "approved"
    assert shop.manager.get(shop.url("/approvals")).get_json()["data"] == []
    decided = shop.manager.get(shop.url("/approvals?status=approved")).get_json()["data"]
    assert [r["decision"] for r in decided] == ["approved"]
    assert shop.manager.get(shop.url("/approvals?status=nope")).status_code == 400


# ---- versions and copies -----------------------------------------------------------------------


def test_revise_freezes_the_old_version_and_copies_its_lines(shop):
    lines = [
        {"name": "A", "quantity": "2", "unit_price": "10", "tax_rate": "13"},
        {"name": "B", "quantity": "1", "unit_price": "5"},
    ]
    quote_id = shop.drafted(lines, {"header_discount": "2"}, valid_until="2099-12-31")
    shop.act(quote_id, "submit")
    shop.act(quote_id, "send")
    old = shop.get(quote_id)
    new = shop.act(quote_id, "revise", expect=201)
    assert new["quote"]["revision"] == 2 and new["quote"]["status"] == "draft"
    assert new["quote"]["previous_quote"] == quote_id
    assert new["quote"]["total"] == old["quote"]["total"]
    assert new["quote"]["header_discount"] == "2" and new["quote"]["valid_until"] == "2099-12-31"
    assert [(x["name"], x["quantity"], x["line_total"]) for x in new["lines"]] == [
        (x["name"], x["quantity"], x["line_total"]) for x in old["lines"]
    ]
    assert {x["id"] for x in new["lines"]}.isdisjoint({x["id"] for x in old["lines"]})
    frozen = shop.get(quote_id)
    assert frozen["quote"]["status"] == "sent"  # kept
    assert frozen["quote"]["superseded_by"] == new["quote"]["id"]
    assert frozen["actions"] == ["copy"]
    for action in ("accept", "decline", "revise"):
        refused = shop.act(quote_id, action, expect=409)
        assert refused["current_status"] == "sent"
        assert "replaced" in refused["message"]
    shop.put(quote_id, lines, expect=409)
    patch = shop.rep.patch(
        shop.url(f"/records/quote/{quote_id}"),
        json={"name": "x"},
        headers={"If-Match": f'"v{frozen["quote"]["version"]}"'},
    )
    assert patch.status_code == 409 and list(patch.get_json()["errors"]) == ["name"]
    # The new version is a draft like any other.
    shop.put(new["quote"]["id"], lines[:1])
    assert shop.get(new["quote"]["id"])["quote"]["subtotal"] == "22.60"
    assert len(shop.audit("quote.revise")) == 1
    # Deleting the new draft frees the old one; restoring it freezes the old one again.
    assert shop.rep.delete(shop.url(f"/records/quote/{new['quote']['id']}")).status_code == 204
    assert shop.get(quote_id)["quote"]["superseded_by"] is None
    restored = shop.rep.post(shop.url(f"/records/quote/{new['quote']['id']}/restore"))
    assert restored.status_code == 200, restored.get_json()
    assert shop.get(quote_id)["quote"]["superseded_by"] == new["quote"]["id"]


def test_copy_is_a_new_draft(shop):
    quote_id = shop.drafted([{"name": "A", "quantity": "3", "unit_price": "7"}])
    shop.act(quote_id, "submit")
    copied = shop.act(quote_id, "copy", shop.manager, expect=201)
    assert copied["quote"]["status"] == "draft" and copied["quote"]["revision"] == 1
    assert copied["quote"]["previous_quote"] is None
    assert copied["quote"]["owner_id"] == shop.manager_id
    assert copied["quote"]["name"] == "Quote (copy)"
    assert [(x["name"], x["quantity"]) for x in copied["lines"]] == [("A", "3")]
    original = shop.get(quote_id)
    assert original["quote"]["status"] == "approved" and original["quote"]["superseded_by"] is None
    (event,) = shop.audit("quote.copy")
    assert event.after == {"copy": copied["quote"]["id"]}


# ---- concurrency and the generic record API ----------------------------------------------------


def test_stale_version_is_412_with_the_current_quote(shop):
    quote_id = shop.quote()["id"]
    shop.put(quote_id, [{"name": "A", "quantity": "1", "unit_price": "1"}], version=1)
    stale = shop.put(
        quote_id, [{"name": "B", "quantity": "1", "unit_price": "1"}], version=1, expect=412
    )
    assert stale["current"]["quote"]["version"] == 2
    assert [x["name"] for x in stale["current"]["lines"]] == ["A"]
    missing = shop.rep.put(shop.url(f"/quotes/{quote_id}/lines"), json={"lines": []})
    assert missing.status_code == 428
    # A generic edit of the quote (its valid date) bumps the version the editor must send.
    current = shop.get(quote_id)["quote"]["version"]
    shop.rep.patch(
        shop.url(f"/records/quote/{quote_id}"),
        json={"valid_until": "2099-01-01"},
        headers={"If-Match": f'"v{current}"'},
    )
    shop.put(quote_id, [], version=current, expect=412)


def test_the_record_api_cannot_write_totals_lines_or_past_draft(shop):
    quote = shop.quote()
    quote_id = quote["id"]
    body = shop.put(quote_id, [{"name": "A", "quantity": "1", "unit_price": "10"}])
    line = body["lines"][0]

    def patch(object_key, record_id, expect, **values):
        current = shop.rep.get(shop.url(f"/records/{object_key}/{record_id}")).get_json()
        response = shop.rep.patch(
            shop.url(f"/records/{object_key}/{record_id}"),
            json=values,
            headers={"If-Match": f'"v{current["version"]}"'},
        )
        assert response.status_code == expect, (values, response.get_json())
        return response.get_json()

    total = {"amount": "1.00", "currency": "CNY"}
    assert list(patch("quote", quote_id, 400, total=total)["errors"]) == ["total"]
    assert list(patch("quote", quote_id, 400, status="approved")["errors"]) == ["status"]
    assert list(patch("quote", quote_id, 400, header_discount="50")["errors"]) == [
        "header_discount"
    ]
    assert list(patch("quote", quote_id, 400, revision=7)["errors"]) == ["revision"]
    unchanged = {"amount": "10.00", "currency": "CNY"}  # sending the same total is no change
    assert patch("quote", quote_id, 200, name="Renamed", total=unchanged)["name"] == "Renamed"
    created = shop.rep.post(shop.url("/records/quote"), json={"name": "Q", "status": "sent"})
    assert created.status_code == 400 and list(created.get_json()["errors"]) == ["status"]
    created = shop.rep.post(shop.url("/records/quote"), json={"name": "Q", "subtotal": total})
    assert created.status_code == 400
    defaults = shop.rep.post(
        shop.url("/records/quote"),
        json={
            "name": "Q",
            "status": "draft",
            "revision": 1,
            "tax_mode": "inclusive",
            "header_discount": "3",
        },
    )
    assert defaults.status_code == 201, defaults.get_json()
    new_line = shop.rep.post(
        shop.url("/records/quote_line"), json={"name": "X", "quote": quote_id, "quantity": "1"}
    )
    assert new_line.status_code == 400 and list(new_line.get_json()["errors"]) == ["quote"]
    assert list(patch("quote_line", line["id"], 400, quantity="9")["errors"]) == ["quantity"]
    assert list(patch("quote_line", line["id"], 400, line_total=total)["errors"]) == ["line_total"]
    assert shop.rep.delete(shop.url(f"/records/quote_line/{line['id']}")).status_code == 409
    # Past draft: nothing but the owner and tags changes.
    shop.act(quote_id, "submit")
    locked = patch("quote", quote_id, 409, valid_until="2099-01-01")
    assert "draft" in locked["errors"]["valid_until"][0]
    assert patch("quote", quote_id, 200, owner_id=shop.manager_id)["owner_id"] == shop.manager_id
    assert list(patch("quote_line", line["id"], 409, name="Renamed")["errors"]) == ["name"]
    assert shop.owner.delete(shop.url(f"/records/quote/{quote_id}")).status_code == 409
    assert shop.get(quote_id, shop.owner)["quote"]["total"] == "10.00"


# ---- products --------------------------------------------------------------------------------


def test_products_are_unique_by_code_name_and_specification(shop):
    first = shop.product("Bolt", "B-1", specification="M8 x 40")
    for name, code, spec in (
        ("bolt", "b-1", "m8 x 40"),
        ("ＢＯＬＴ", "Ｂ－1", "M8  x 40 "),
        (" Bolt ", "B-1", "M8 x 40"),
    ):
        dup = shop.product(name, code, specification=spec, expect=409)
        assert set(dup["errors"]) == {"code", "name", "specification"}
        assert dup["existing"] == {"id": first["id"], "name": "Bolt", "in_recycle_bin": False}
    shop.product("Bolt", "B-1", specification="M8 x 50")  # another specification
    other = shop.product("Bolt", "B-2", specification="M8 x 40")
    update = shop.owner.patch(
        shop.url(f"/records/product/{other['id']}"),
        json={"code": "B-1"},
        headers={"If-Match": f'"v{other["version"]}"'},
    )
    assert update.status_code == 409 and set(update.get_json()["errors"]) == {
        "code",
        "name",
        "specification",
    }
    same = shop.owner.patch(
        shop.url(f"/records/product/{first['id']}"),
        json={"unit": "pcs"},
        headers={"If-Match": f'"v{first["version"]}"'},
    )
    assert same.status_code == 200, same.get_json()  # unrelated edits of a product pass
    assert shop.owner.delete(shop.url(f"/records/product/{first['id']}")).status_code == 204
    binned = shop.product("Bolt", "B-1", specification="M8 x 40", expect=409)
    assert binned["existing"]["in_recycle_bin"] is True
    assert "recycle bin" in binned["message"]


def test_the_database_refuses_a_duplicate_product_whoever_writes_it(shop):
    shop.product("Nut", "N-1", specification="M8")
    with shop.app.app_context(), tenant_context(shop.company.tenant_id, db.session):
        with pytest.raises(IntegrityError, match="uq_products_product_key"):
            db.session.execute(
                text(
                    "INSERT INTO products (tenant_id, name, data, version) VALUES "
                    '(:t, \'ｎｕｔ\', \'{"code": "n-1", "specification": " m8"}\', 1)'
                ),
                {"t": shop.company.tenant_id},
            )
        db.session.rollback()


def test_two_people_saving_the_same_product_at_once(shop, app):
    from saas.records import services as records

    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def save(user_id: int) -> None:
        with (
            app.test_request_context(),
            tenant_context(shop.company.tenant_id, db.session, user_id),
        ):
            actor = tenant_services.membership(user_id)
            barrier.wait()
            try:
                records.create_record(
                    actor, "product", {"name": "Gear", "code": "G-1", "specification": "Z20"}
                )
                outcomes.append("created")
            except DomainError as exc:
                outcomes.append(exc.status)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=save, args=(u,)) for u in (shop.owner_id, shop.rep_id)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes, key=str) == [409, "created"]


def test_an_import_names_the_existing_product(shop, drain_jobs, app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "IMPORT_DIR", str(tmp_path / "imports"))
    shop.product("Washer", "W-9", specification="8mm")
    buffer = io.StringIO()
    csv.writer(buffer).writerows(
        [
            ["Name", "Product code", "Specification"],
            ["ｗａｓｈｅｒ", "w-9", "8MM"],
            ["Spring", "S-1", "big"],
        ]
    )
    base = shop.url("/records/product/imports")
    upload = shop.owner.post(
        base,
        data={"file": (io.BytesIO(buffer.getvalue().encode()), "p.csv")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 201, upload.get_json()
    body = upload.get_json()
    preview = shop.owner.post(
        f"{base}/{body['id']}/preview",
        json={"mapping": body["mapping"], "match_on": None, "policy": "create"},
    )
    assert preview.status_code == 200, preview.get_json()
    rows = {r["row"]: r for r in preview.get_json()["rows"]}
    assert rows[2]["action"] == "error"
    assert set(rows[2]["errors"]) == {"Name", "Product code", "Specification"}
    assert rows[3]["action"] == "create"
    run = shop.owner.post(f"{base}/{body['id']}/run", json={})
    assert run.status_code == 202
    drain_jobs()
    result = shop.owner.get(f"{base}/{body['id']}").get_json()
    assert result["result"]["created"] == 1 and result["result"]["failed"] == 1


# ---- expiry ----------------------------------------------------------------------------------


def test_the_daily_job_expires_quotes_past_their_date(shop, app, drain_jobs):
    today = dt.date(2030, 6, 15)
    cases = {
        "approved yesterday": ("approved", "2030-06-14", "expired"),
        "sent yesterday": ("sent", "2030-06-14", "expired"),
        "sent today": ("sent", "2030-06-15", "sent"),
        "draft yesterday": ("draft", "2030-06-14", "draft"),
        "accepted yesterday": ("accepted", "2030-06-14", "accepted"),
        "no date": ("sent", None, "sent"),
    }
    ids = {}
    for name, (status, until, _after) in cases.items():
        ids[name] = shop.drafted(name=name)
        shop.force(ids[name], status=status, **({"valid_until": until} if until else {}))
    frozen = shop.drafted(name="superseded")
    shop.force(frozen, status="sent", valid_until="2030-01-01", superseded_by=ids["no date"])
    with app.app_context(), tenant_context(shop.company.tenant_id, db.session):
        assert quotes.expire_due(today, batch=1) == 2
        assert quotes.expire_due(today) == 0
    for name, (_status, _until, after) in cases.items():
        assert shop.get(ids[name])["quote"]["status"] == after, name
    assert shop.get(frozen)["quote"]["status"] == "sent"
    told = [n.record_id for n in shop.notifications(shop.rep_id) if n.kind == "quote.expired"]
    assert sorted(told) == sorted([ids["approved yesterday"], ids["sent yesterday"]])
    assert len(shop.audit("quote.expire")) == 2
    with app.app_context():
        day = f"test-{shop.slug}"
        assert quotes.schedule_expiry(day) >= 1
        assert quotes.schedule_expiry(day) == 0
    drain_jobs()


# ---- tenants -----------------------------------------------------------------------------------


def test_another_tenants_quotes_are_not_found(shop, make_company, api):
    other = make_company()
    other_api = api(other.token)
    theirs = other_api.post(f"/api/v1/t/{other.slug}/records/quote", json={"name": "Secret Q"})
    their_id = theirs.get_json()["id"]
    other_api.put(
        f"/api/v1/t/{other.slug}/quotes/{their_id}/lines",
        json={"lines": [{"name": "x", "quantity": "1", "unit_price": "999", "discount": "50"}]},
        headers={"If-Match": '"v1"'},
    )
    assert (
        other_api.post(f"/api/v1/t/{other.slug}/quotes/{their_id}/submit", json={}).status_code
        == 200
    )
    assert shop.owner.get(shop.url(f"/quotes/{their_id}/lines")).status_code == 404
    assert (
        shop.owner.put(
            shop.url(f"/quotes/{their_id}/lines"), json={"lines": []}, headers={"If-Match": '"v1"'}
        ).status_code
        == 404
    )
    for action in (*ACTIONS, "revise", "copy"):
        response = shop.owner.post(shop.url(f"/quotes/{their_id}/{action}"), json={"comment": "x"})
        assert response.status_code == 404, action
    assert shop.owner.get(shop.url("/approvals?status=all")).get_json()["data"] == []
    # The same product may exist in both companies.
    shop.product("Shared", "S-1")
    shared = other_api.post(
        f"/api/v1/t/{other.slug}/records/product", json={"name": "Shared", "code": "S-1"}
    )
    assert shared.status_code == 201
    assert (
        other_api.get(f"/api/v1/t/{other.slug}/quotes/{their_id}/lines").get_json()["quote"][
            "status"
        ]
        == "pending_approval"
    )


# ---- web pages -------------------------------------------------------------------------------


def test_record_page_editor_actions_and_approvals_page(shop, login, add_member):
    rep = login(_email(shop, shop.rep_id))
    product = shop.product("Laptop", "L-1", price="5000", tax_rate="13")
    quote_id = shop.quote(name="Web quote")["id"]
    page = rep.get(f"/t/{shop.slug}/o/quote/{quote_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'data-testid="quote-editor"' in html and 'data-status="draft"' in html
    assert "quotes.js" in html and 'data-testid="quote-submit"' in html
    version = shop.get(quote_id)["quote"]["version"]
    form = {
        "version": str(version),
        "tax_mode": "exclusive",
        "header_discount": "",
        "currency": "CNY",
        "line-0-id": "",
        "line-0-product": str(product["id"]),
        "line-0-name": "",
        "line-0-quantity": "2",
        "line-0-unit_price": "",
        "line-0-discount": "30",
        "line-0-tax_rate": "",
        "line-1-id": "",
        "line-1-product": "",
        "line-1-name": "",
        "line-1-quantity": "",
        "line-1-unit_price": "",
        "line-1-discount": "",
        "line-1-tax_rate": "",
    }
    saved = rep.post(f"/t/{shop.slug}/quotes/{quote_id}/lines", data=form)
    assert saved.status_code == 302, saved.get_data(as_text=True)[:2000]
    body = shop.get(quote_id)
    assert [(x["name"], x["unit_price"]) for x in body["lines"]] == [("Laptop", "5000.00")]
    bad = rep.post(
        f"/t/{shop.slug}/quotes/{quote_id}/lines",
        data={**form, "version": str(body["quote"]["version"]), "line-0-quantity": "0"},
    )
    assert bad.status_code == 400
    assert "must be greater than 0" in bad.get_data(as_text=True)
    as_json = rep.post(
        f"/t/{shop.slug}/quotes/{quote_id}/lines",
        data={**form, "version": "1"},
        headers={"Accept": "application/json"},
    )
    assert as_json.status_code == 412
    preview = rep.post(
        f"/t/{shop.slug}/quotes/preview",
        json={"lines": [{"product": product["id"], "quantity": "1"}]},
        headers={"Accept": "application/json"},
    )
    assert preview.status_code == 200 and preview.get_json()["total"] == "5650.00"
    # Submit from the page: above the threshold, so it waits for a manager.
    submitted = rep.post(
        f"/t/{shop.slug}/quotes/{quote_id}/actions", data={"action": "submit", "comment": "Please"}
    )
    assert submitted.status_code == 302
    page = rep.get(f"/t/{shop.slug}/o/quote/{quote_id}").get_data(as_text=True)
    assert 'data-status="pending_approval"' in page and 'data-testid="quote-editor"' not in page
    assert 'data-testid="quote-approve"' not in page  # the owner cannot decide
    manager = login(_email(shop, shop.manager_id))
    seen = manager.get(f"/t/{shop.slug}/o/quote/{quote_id}").get_data(as_text=True)
    assert 'data-testid="quote-approve"' in seen and 'data-testid="approvals-link"' in seen
    inbox = manager.get(f"/t/{shop.slug}/quotes/approvals").get_data(as_text=True)
    assert "Web quote" in inbox and f'data-testid="approve-{quote_id}"' in inbox
    assert "30%" in inbox and "/ 10%" in inbox
    refused = manager.post(
        f"/t/{shop.slug}/quotes/{quote_id}/actions",
        data={"action": "reject", "comment": "", "back": "approvals"},
        follow_redirects=True,
    )
    assert "a comment is required" in refused.get_data(as_text=True)
    approved = manager.post(
        f"/t/{shop.slug}/quotes/{quote_id}/actions", data={"action": "approve", "back": "approvals"}
    )
    assert approved.status_code == 302 and approved.headers["Location"].endswith("/approvals")
    page = rep.get(f"/t/{shop.slug}/o/quote/{quote_id}").get_data(as_text=True)
    assert 'data-status="approved"' in page and 'data-testid="quote-approvals"' in page
    assert 'data-testid="quote-send"' in page
    revised = rep.post(f"/t/{shop.slug}/quotes/{quote_id}/actions", data={"action": "revise"})
    new_id = int(revised.headers["Location"].rstrip("/").split("/")[-1])
    page = rep.get(f"/t/{shop.slug}/o/quote/{new_id}").get_data(as_text=True)
    assert 'data-testid="quote-versions"' in page and "Revision 2" in page
    old_page = rep.get(f"/t/{shop.slug}/o/quote/{quote_id}").get_data(as_text=True)
    assert 'data-testid="quote-superseded"' in old_page
    assert rep.get(f"/t/{shop.slug}/quotes/{quote_id}/lines").status_code == 200
    assert (
        rep.post(
            f"/t/{shop.slug}/quotes/{quote_id}/actions", data={"action": "explode"}
        ).status_code
        == 400
    )


def test_chinese_pages(shop, login, app):
    with app.app_context():
        from saas.accounts.models import User

        user = db.session.get(User, shop.rep_id)
        user.locale = "zh_CN"
        db.session.commit()
    rep = login(_email(shop, shop.rep_id))
    quote_id = shop.drafted(name="报价")
    page = rep.get(f"/t/{shop.slug}/o/quote/{quote_id}").get_data(as_text=True)
    assert "草稿" in page  # the status's Chinese label from the picklist
    assert rep.get(f"/t/{shop.slug}/quotes/approvals").status_code == 200


def _email(shop, user_id: int) -> str:
    with shop.app.app_context():
        from saas.accounts.models import User

        return db.session.get(User, user_id).email


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["", "1e400", "NaN", "-0", "0.00001", "１２", "1,000", "Infinity"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
_line = st.dictionaries(
    st.sampled_from(
        ["id", "product", "name", "quantity", "unit_price", "discount", "tax_rate", "other"]
    ),
    _values,
    max_size=7,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.one_of(st.lists(st.one_of(_line, _values), max_size=4), _values),
    header=st.one_of(
        st.dictionaries(
            st.sampled_from(["tax_mode", "header_discount", "currency", "x"]), _values, max_size=4
        ),
        _values,
    ),
)
def test_random_lines_are_never_a_500(app, api, fuzz_quote, lines, header):
    company, quote_id = fuzz_quote
    rest = api(company.token)
    base = f"/api/v1/t/{company.slug}/quotes"
    for response in (
        rest.post(f"{base}/preview", json={"lines": lines, "header": header}),
        rest.put(
            f"{base}/{quote_id}/lines",
            json={"lines": lines, "header": header},
            headers={"If-Match": '"v1"'},
        ),
    ):
        assert response.status_code < 500, response.get_json()
        if response.status_code == 400:
            assert response.get_json()["errors"]


@pytest.fixture
def fuzz_quote(make_company, api):
    company = make_company()
    quote = api(company.token).post(
        f"/api/v1/t/{company.slug}/records/quote", json={"name": "Fuzz"}
    )
    return company, quote.get_json()["id"]


def test_openapi_documents_the_quote_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"get", "put"} <= set(paths["/api/v1/t/{slug}/quotes/{quote_id}/lines"])
    for action in (*ACTIONS, "revise", "copy"):
        assert "post" in paths[f"/api/v1/t/{{slug}}/quotes/{{quote_id}}/{action}"], action
    assert "post" in paths["/api/v1/t/{slug}/quotes/preview"]
    assert "get" in paths["/api/v1/t/{slug}/approvals"]
