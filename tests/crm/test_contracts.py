"""Contracts: the status machine (allowed and refused moves, approvals), a contract from a
quote, the payment plan's sum rule, payments with outstanding / overdue / overpaid amounts on a
moving clock, the receivables summary (SQL) agreeing with the rule (Python), the daily job,
permissions and data scope, concurrent payments, two tenants, and the web pages."""

from __future__ import annotations

import re
import threading
from datetime import date, timedelta
from decimal import Decimal

import hypothesis
import pytest
from hypothesis import strategies as st
from sqlalchemy import select

from saas.crm import contracts
from saas.crm.contracts import Instalment, Received, standing
from saas.crm.models import Payment, PaymentPlan
from saas.extensions import db
from saas.records.models import Contract, Quote
from tenants import services as tenant_services
from tenants.context import tenant_context
from tenants.models import AuditEvent
from tenants.notifications import Notification

D = Decimal


def _token(app, company, user_id: int) -> str:
    with app.app_context(), tenant_context(company.tenant_id, db.session, user_id):
        _, raw = tenant_services.create_token(tenant_services.membership(user_id), "test")
    return raw


class Desk:
    """A company with its owner, a manager, two salespeople and a read-only member."""

    def __init__(self, app, company, api, add_member):
        self.app = app
        self.company = company
        self.slug = company.slug
        self.tid = company.tenant_id
        self.owner = api(company.token)
        self.owner_id = company.owner_id
        self.manager_id = add_member(company, "manager").id
        self.alice_id = add_member(company, "member").id
        self.bob_id = add_member(company, "member").id
        viewer = add_member(company, "read_only")
        self.viewer_id, self.viewer_email = viewer.id, viewer.email
        self.manager = api(_token(app, company, self.manager_id))
        self.alice = api(_token(app, company, self.alice_id))
        self.bob = api(_token(app, company, self.bob_id))
        self.viewer = api(_token(app, company, self.viewer_id))

    def url(self, path: str) -> str:
        return f"/api/v1/t/{self.slug}{path}"

    def call(self, client, method: str, path: str, expect: int = 200, **kwargs) -> dict:
        response = getattr(client, method)(self.url(path), **kwargs)
        assert response.status_code == expect, (path, response.get_json())
        return response.get_json() if response.data else {}

    def contract(self, client=None, expect: int = 201, **values) -> dict:
        body = {
            "name": "Supply agreement",
            "amount": {"amount": "1000.00", "currency": "CNY"},
            "start_date": "2026-01-01",
            "end_date": "2026-12-31",
            **values,
        }
        return self.call(client or self.alice, "post", "/records/contract", expect, json=body)

    def act(self, client, contract_id: int, action: str, expect: int = 200, **body) -> dict:
        return self.call(client, "post", f"/contracts/{contract_id}/{action}", expect, json=body)

    def signed(self, client=None, **values) -> dict:
        """A contract taken through submit and approve."""
        record = self.contract(client, **values)
        self.act(client or self.alice, record["id"], "submit")
        return self.act(self.manager, record["id"], "approve")

    def plan(self, contract_id: int, rows: list, expect: int = 200, client=None) -> dict:
        return self.call(
            client or self.alice,
            "put",
            f"/contracts/{contract_id}/plan",
            expect,
            json={"instalments": rows},
        )

    def pay(self, contract_id: int, amount: str, on: str, expect: int = 201, client=None, **kw):
        body = {"amount": amount, "received_on": on, **kw}
        return self.call(
            client or self.alice, "post", f"/contracts/{contract_id}/payments", expect, json=body
        )

    def receivables(self, client=None, expect: int = 200, **query) -> dict:
        return self.call(client or self.owner, "get", "/receivables", expect, query_string=query)

    def notes(self, user_id: int) -> list[Notification]:
        with self.app.app_context(), tenant_context(self.tid, db.session):
            return list(
                db.session.execute(
                    select(Notification)
                    .where(Notification.user_id == user_id)
                    .order_by(Notification.id)
                ).scalars()
            )

    def actor(self, user_id: int):
        return tenant_services.membership(user_id)


@pytest.fixture
def desk(app, make_company, api, add_member) -> Desk:
    return Desk(app, make_company(), api, add_member)


# ---- the status machine ---------------------------------------------------------------------


def test_the_status_machine_allows_its_moves_and_refuses_the_others(desk):
    record = desk.contract(start_date=None, end_date=None)
    cid = record["id"]
    assert record["status"] == "draft"
    assert record["number"].startswith("HT-")

    refused = desk.act(desk.manager, cid, "approve", 409)
    assert refused["current_status"] == "draft"
    assert "Draft" in refused["message"]
    desk.act(desk.alice, cid, "activate", 409)
    desk.act(desk.manager, cid, "terminate", 409, reason="no")

    # Submitting needs the period.
    missing = desk.act(desk.alice, cid, "submit", 400)
    assert set(missing["errors"]) == {"start_date", "end_date"}
    record = desk.call(desk.alice, "get", f"/records/contract/{cid}")
    desk.call(
        desk.alice,
        "patch",
        f"/records/contract/{cid}",
        json={"start_date": "2026-02-01", "end_date": "2026-01-01"},
        headers={"If-Match": f'"v{record["version"]}"'},
    )
    assert "end_date" in desk.act(desk.alice, cid, "submit", 400)["errors"]
    record = desk.call(desk.alice, "get", f"/records/contract/{cid}")
    desk.call(
        desk.alice,
        "patch",
        f"/records/contract/{cid}",
        json={"end_date": "2026-12-31"},
        headers={"If-Match": f'"v{record["version"]}"'},
    )

    body = desk.act(desk.alice, cid, "submit", comment="Please approve")
    assert body["status"] == "in_approval"
    assert body["actions"] == []  # a salesperson cannot decide
    assert desk.act(desk.alice, cid, "submit", 409)["current_status"] == "in_approval"
    assert "comment" in desk.act(desk.manager, cid, "reject", 400)["errors"]
    assert "comment" in desk.act(desk.manager, cid, "reject", 400, comment="  ")["errors"]
    body = desk.act(desk.manager, cid, "reject", comment="Wrong price")
    assert body["status"] == "draft"
    [rejected] = desk.notes(desk.alice_id)
    assert rejected.kind == "contract.rejected" and rejected.params["comment"] == "Wrong price"

    desk.act(desk.alice, cid, "submit")
    body = desk.act(desk.manager, cid, "approve", comment="OK")
    assert body["status"] == "signed"
    assert body["signed_on"] is not None
    assert [a["decision"] for a in body["approvals"]] == ["rejected", "approved"]
    assert [n.kind for n in desk.notes(desk.alice_id)] == ["contract.rejected", "contract.approved"]
    assert set(desk.call(desk.manager, "get", f"/contracts/{cid}")["actions"]) == {
        "activate",
        "terminate",
    }
    assert desk.call(desk.alice, "get", f"/contracts/{cid}")["actions"] == ["activate"]

    assert desk.act(desk.alice, cid, "activate")["status"] == "active"
    desk.act(desk.alice, cid, "activate", 409)
    desk.act(desk.alice, cid, "terminate", 403, reason="x")  # managers terminate
    assert "reason" in desk.act(desk.manager, cid, "terminate", 400)["errors"]
    body = desk.act(desk.manager, cid, "terminate", reason="Customer went bankrupt")
    assert body["status"] == "terminated"
    assert desk.notes(desk.alice_id)[-1].params["reason"] == "Customer went bankrupt"
    for action, body in (
        ("submit", {}),
        ("approve", {}),
        ("activate", {}),
        ("terminate", {"reason": "r"}),
    ):
        refused = desk.act(desk.manager, cid, action, 409, **body)
        assert refused["current_status"] == "terminated"

    with desk.app.app_context(), tenant_context(desk.tid, db.session):
        actions = list(
            db.session.execute(
                select(AuditEvent.action)
                .where(
                    AuditEvent.target_type == "contract",
                    AuditEvent.target_id == str(cid),
                    AuditEvent.action.like("contract.%"),
                )
                .order_by(AuditEvent.id)
            ).scalars()
        )
    assert actions == [
        "contract.submitted",
        "contract.rejected",
        "contract.submitted",
        "contract.approved",
        "contract.activated",
        "contract.terminated",
    ]


def test_the_status_and_a_signed_amount_cannot_be_typed_into_the_record(desk):
    refused = desk.contract(expect=400, status="active")
    assert "status" in refused["errors"]
    record = desk.signed()
    cid = record["id"]
    current = desk.call(desk.alice, "get", f"/records/contract/{cid}")
    headers = {"If-Match": f'"v{current["version"]}"'}
    for change, key in (
        ({"status": "draft"}, "status"),
        ({"amount": {"amount": "2000", "currency": "CNY"}}, "amount"),
    ):
        body = desk.call(
            desk.alice, "patch", f"/records/contract/{cid}", 400, json=change, headers=headers
        )
        assert key in body["errors"]
    # The same amount written differently is no change; other fields stay editable.
    desk.call(
        desk.alice,
        "patch",
        f"/records/contract/{cid}",
        json={"amount": {"amount": "1000", "currency": "CNY"}, "end_date": "2027-06-30"},
        headers=headers,
    )


def test_a_manager_decides_on_others_contracts_only(desk):
    own = desk.contract(client=desk.manager)
    desk.act(desk.manager, own["id"], "submit")
    assert desk.call(desk.manager, "get", f"/contracts/{own['id']}")["actions"] == []
    desk.act(desk.manager, own["id"], "approve", 403)
    assert desk.act(desk.owner, own["id"], "approve")["status"] == "signed"  # the owner may
    other = desk.contract()
    desk.act(desk.alice, other["id"], "submit")
    desk.act(desk.bob, other["id"], "approve", 403)  # salespeople never
    desk.act(desk.viewer, other["id"], "approve", 403)
    desk.act(desk.viewer, desk.contract()["id"], "submit", 403)


# ---- from a quote ---------------------------------------------------------------------------


def _quote(desk, status: str, total: str | None = "1130.00", owner_id: int | None = None) -> int:
    """A quote in ``status`` with a total, written directly (the quote workflow is tested
    elsewhere)."""
    account = desk.call(desk.alice, "post", "/records/account", 201, json={"name": "Buyer Ltd"})
    quote = desk.call(desk.alice, "post", "/records/quote", 201, json={"name": "Offer 7"})
    with desk.app.app_context(), tenant_context(desk.tid, db.session):
        row = db.session.execute(select(Quote).where(Quote.id == quote["id"])).scalar_one()
        data = {**row.data, "status": status, "account": account["id"]}
        if total is not None:
            data["total"] = {"amount": total, "currency": "CNY"}
        row.data = data
        if owner_id is not None:
            row.owner_id = owner_id
        db.session.commit()
    return quote["id"]


def test_a_contract_is_made_from_an_accepted_quote_once(desk):
    sent = _quote(desk, "sent")
    refused = desk.call(desk.alice, "post", f"/contracts/from-quote/{sent}", 409)
    assert refused["current_status"] == "sent" and "Sent" in refused["message"]
    desk.call(desk.alice, "post", f"/contracts/from-quote/{_quote(desk, 'approved')}", 409)
    assert "total" in desk.call(
        desk.alice, "post", f"/contracts/from-quote/{_quote(desk, 'accepted', None)}", 409
    ).get("errors", {})

    quote_id = _quote(desk, "accepted", "1130.00")
    body = desk.call(desk.alice, "post", f"/contracts/from-quote/{quote_id}", 201)
    assert (body["status"], body["amount"], body["currency"], body["quote"]) == (
        "draft",
        "1130.00",
        "CNY",
        quote_id,
    )
    assert body["account"] is not None and body["name"] == "Offer 7"
    assert re.fullmatch(r"HT-\d{4}-\d{4}", body["number"])
    again = desk.call(desk.alice, "post", f"/contracts/from-quote/{quote_id}", 409)
    assert "already" in again["message"]
    desk.call(desk.viewer, "post", f"/contracts/from-quote/{_quote(desk, 'accepted')}", 403)
    desk.call(desk.alice, "post", "/contracts/from-quote/999999999", 404)


# ---- the payment plan -----------------------------------------------------------------------


def test_the_plan_must_add_up_to_the_amount_to_the_cent(desk):
    cid = desk.contract()["id"]
    short = desk.plan(
        cid,
        [{"due_date": "2026-03-31", "amount": "300"}, {"due_date": "2026-06-30", "amount": 600}],
        400,
    )
    assert (short["difference"], short["plan_total"], short["contract_amount"]) == (
        "-100.00",
        "900.00",
        "1000.00",
    )
    assert "100.00 less" in short["errors"]["instalments"][0]
    over = desk.plan(
        cid,
        [
            {"due_date": "2026-03-31", "amount": "500.01"},
            {"due_date": "2026-06-30", "amount": "500"},
        ],
        400,
    )
    assert over["difference"] == "0.01" and "more" in over["errors"]["instalments"][0]
    bad = desk.plan(
        cid,
        [
            {"due_date": "2026-03-31", "amount": "1,000.001"},
            {"due_date": "2026-06-30", "amount": "-5"},
            {"due_date": "2026-07-30", "amount": "abc"},
        ],
        400,
    )
    assert set(bad["errors"]) == {
        "instalments[0].amount",
        "instalments[1].amount",
        "instalments[2].amount",
    }
    assert "due_date" in str(desk.plan(cid, [{"due_date": "soon", "amount": "1"}], 400)["errors"])

    body = desk.plan(
        cid,
        [
            {"due_date": "2025-12-15", "amount": "¥300"},  # before the start: a warning
            {"due_date": "2026-06-30", "amount": "３００．００"},
            {"due_date": "2026-12-31", "amount": "400", "note": "On acceptance"},
        ],
    )
    assert [i["amount"] for i in body["instalments"]] == ["300.00", "300.00", "400.00"]
    assert [w["field"] for w in body["warnings"]] == ["instalments[0].due_date"]
    assert body["standing"]["plan_total"] == "1000.00"
    cleared = desk.plan(cid, [])
    assert cleared["instalments"] == []
    desk.plan(cid, [{"due_date": "2026-03-31", "amount": "1000"}], client=desk.viewer, expect=403)


def test_replacing_the_plan_keeps_or_unmatches_payments(desk):
    cid = desk.signed()["id"]
    first = desk.plan(
        cid,
        [{"due_date": "2026-03-31", "amount": "500"}, {"due_date": "2026-06-30", "amount": "500"}],
    )["instalments"]
    one, two = first[0]["id"], first[1]["id"]
    desk.pay(cid, "500", "2026-01-10", plan_id=two)
    desk.pay(cid, "100", "2026-01-11", plan_id=one)
    body = desk.plan(
        cid,
        [
            {"id": two, "due_date": "2026-02-28", "amount": "400"},
            {"due_date": "2026-09-30", "amount": "600"},
        ],
    )
    assert body["unmatched_payments"] == 1
    assert body["instalments"][0]["id"] == two
    payments = desk.call(desk.alice, "get", f"/contracts/{cid}/payments")["data"]
    assert sorted((p["plan_id"] or 0) for p in payments) == [0, two]
    assert (
        "instalments[0].id"
        in desk.plan(cid, [{"id": one, "due_date": "2026-02-28", "amount": "1000"}], 400)["errors"]
    )


# ---- payments and standing on a moving clock ------------------------------------------------


def _standing(desk, cid: int, day: str) -> dict:
    with desk.app.test_request_context(), tenant_context(desk.tid, db.session, desk.owner_id):
        view = contracts.overview(desk.actor(desk.owner_id), cid, date.fromisoformat(day))
        result = view.standing.to_dict()
        result["statuses"] = [row.status for row in view.standing.instalments]
    rows = desk.receivables(as_of=day)["data"]
    [row] = [r for r in rows if r["id"] == cid]
    for key in ("received", "outstanding", "overdue", "due_to_date", "overdue_rate"):
        assert row[key] == result[key], (key, row, result)  # SQL and Python agree
    return result


def test_outstanding_overdue_and_overpaid_follow_the_clock(desk):
    cid = desk.signed()["id"]
    desk.pay(cid, "1", "2026-01-02")  # signed: payments are welcome
    plan = desk.plan(
        cid,
        [
            {"due_date": "2026-01-31", "amount": "300"},
            {"due_date": "2026-02-28", "amount": "300"},
            {"due_date": "2026-03-31", "amount": "400"},
        ],
    )["instalments"]
    third = plan[2]["id"]
    first_payment = desk.call(desk.alice, "get", f"/contracts/{cid}/payments")["data"][0]
    desk.call(desk.alice, "patch", f"/payments/{first_payment['id']}", json={"amount": "200"})

    day = _standing(desk, cid, "2026-01-15")
    assert (day["due_to_date"], day["overdue"], day["overdue_rate"]) == ("0.00", "0.00", None)
    assert day["outstanding"] == "800.00" and day["statuses"] == ["partly_paid", "open", "open"]
    assert _standing(desk, cid, "2026-01-31")["overdue"] == "0.00"  # due today is not late

    day = _standing(desk, cid, "2026-02-01")
    assert (day["due_to_date"], day["overdue"], day["overdue_rate"]) == (
        "300.00",
        "100.00",
        "33.33",
    )

    desk.pay(cid, "300", "2026-02-10", plan_id=third)  # matched to the third instalment
    day = _standing(desk, cid, "2026-03-01")
    # The third is paid 300 of 400 by its match; the unmatched 200 goes to the first.
    assert (day["due_to_date"], day["overdue"], day["overdue_rate"]) == (
        "600.00",
        "400.00",
        "66.67",
    )
    assert day["statuses"] == ["overdue", "overdue", "partly_paid"]

    day = _standing(desk, cid, "2026-04-01")
    assert (day["outstanding"], day["overdue"], day["overdue_rate"]) == (
        "500.00",
        "500.00",
        "50.00",
    )

    extra = desk.pay(cid, "600", "2026-03-15", method="cash", reference="R-1")
    day = _standing(desk, cid, "2026-04-01")
    assert (day["received"], day["outstanding"], day["overpaid"], day["overdue"]) == (
        "1100.00",
        "-100.00",
        "100.00",
        "0.00",
    )
    assert day["statuses"] == ["paid", "paid", "paid"]

    desk.call(desk.alice, "delete", f"/payments/{extra['id']}", 204)
    listed = desk.call(desk.alice, "get", f"/contracts/{cid}/payments")
    assert [p["id"] for p in listed["deleted"]] == [extra["id"]]
    assert _standing(desk, cid, "2026-04-01")["outstanding"] == "500.00"
    desk.call(desk.alice, "post", f"/payments/{extra['id']}/restore")
    assert _standing(desk, cid, "2026-04-01")["outstanding"] == "-100.00"

    totals = desk.receivables(as_of="2026-04-01")["totals"]
    assert totals[0]["currency"] == "CNY" and totals[0]["contracts"] == 1


def test_payments_are_checked(desk):
    draft = desk.contract()["id"]
    assert desk.pay(draft, "10", "2026-01-02", 409)["current_status"] == "draft"
    cid = desk.signed()["id"]
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    assert "received_on" in desk.pay(cid, "10", tomorrow, 400)["errors"]
    assert "amount" in desk.pay(cid, "0", "2026-01-02", 400)["errors"]
    assert "amount" in desk.pay(cid, "10.001", "2026-01-02", 400)["errors"]
    assert "currency" in desk.pay(cid, "10", "2026-01-02", 400, currency="USD")["errors"]
    assert "method" in desk.pay(cid, "10", "2026-01-02", 400, method="barter")["errors"]
    assert "plan_id" in desk.pay(cid, "10", "2026-01-02", 400, plan_id=123456789)["errors"]
    ok = desk.pay(cid, "1,234.50", "2026-01-02", currency="cny")
    assert (ok["amount"], ok["method"], ok["plan_id"]) == ("1234.50", "bank_transfer", None)
    patched = desk.call(
        desk.alice, "patch", f"/payments/{ok['id']}", json={"note": "fixed", "method": "cheque"}
    )
    assert (patched["note"], patched["method"], patched["amount"]) == ("fixed", "cheque", "1234.50")
    desk.call(desk.alice, "patch", f"/payments/{ok['id']}", 400, json={"amount": "-1"})
    with desk.app.app_context(), tenant_context(desk.tid, db.session):
        events = list(
            db.session.execute(
                select(AuditEvent.action, AuditEvent.before, AuditEvent.after)
                .where(AuditEvent.target_type == "payment", AuditEvent.target_id == str(ok["id"]))
                .order_by(AuditEvent.id)
            )
        )
    assert [e.action for e in events] == ["payment.recorded", "payment.corrected"]
    assert events[1].before == {"method": "bank_transfer", "note": None}


# ---- permissions and scope ------------------------------------------------------------------


def test_read_only_members_read_and_own_scope_hides_others_contracts(desk):
    cid = desk.signed()["id"]
    desk.call(desk.viewer, "get", f"/contracts/{cid}/plan")
    desk.pay(cid, "10", "2026-01-02", 403, client=desk.viewer)
    paid = desk.pay(cid, "10", "2026-01-02")
    desk.call(desk.viewer, "patch", f"/payments/{paid['id']}", 403, json={"note": "x"})
    desk.call(desk.viewer, "delete", f"/payments/{paid['id']}", 403)

    desk.call(desk.owner, "patch", "/roles/member", json={"data_scope": "own"})
    bobs = desk.signed(client=desk.bob)["id"]
    for path in (f"/contracts/{cid}", f"/contracts/{cid}/plan", f"/contracts/{cid}/payments"):
        desk.call(desk.bob, "get", path, 404)
    desk.pay(cid, "10", "2026-01-02", 404, client=desk.bob)
    desk.call(desk.bob, "patch", f"/payments/{paid['id']}", 404, json={"note": "x"})
    desk.act(desk.bob, cid, "activate", 404)
    assert [r["id"] for r in desk.receivables(client=desk.bob)["data"]] == [bobs]
    everyone = {r["id"] for r in desk.receivables()["data"]}
    assert {cid, bobs} <= everyone
    mine = desk.receivables(owner_id=desk.bob_id)
    assert [r["id"] for r in mine["data"]] == [bobs]
    assert [o["owner_id"] for o in mine["owners"]] == [desk.bob_id]


# ---- concurrency ----------------------------------------------------------------------------


def test_two_payments_at_once_both_count(app, desk):
    cid = desk.signed()["id"]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def pay(amount: str) -> None:
        with app.test_request_context(), tenant_context(desk.tid, db.session, desk.alice_id):
            try:
                actor = desk.actor(desk.alice_id)
                barrier.wait(timeout=10)
                contracts.record_payment(
                    actor, cid, {"amount": amount, "received_on": "2026-01-05"}
                )
            except BaseException as exc:
                errors.append(exc)
            finally:
                db.session.remove()  # this thread's session, while its app context is current

    threads = [threading.Thread(target=pay, args=(a,)) for a in ("123.45", "200.00")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert _standing(desk, cid, "2026-01-06")["received"] == "323.45"


# ---- the daily job --------------------------------------------------------------------------


def test_the_daily_job_activates_expires_and_reminds_once(desk):
    starting = desk.signed(start_date="2026-03-01", end_date="2026-12-31")["id"]
    ending = desk.signed(start_date="2025-01-01", end_date="2026-02-28")["id"]
    desk.act(desk.alice, ending, "activate")
    waiting = desk.signed(start_date="2026-06-01", end_date="2026-12-31")["id"]
    desk.plan(
        starting,
        [
            {"due_date": "2026-03-05", "amount": "400"},  # due within 7 days
            {"due_date": "2026-02-20", "amount": "100"},  # overdue
            {"due_date": "2026-02-25", "amount": "200"},  # overdue but paid
            {"due_date": "2026-04-30", "amount": "300"},  # later
        ],
    )
    desk.pay(starting, "300", "2026-01-02")  # covers the 100 and the 200, first due first

    def run(day: str) -> contracts.DailyResult:
        with desk.app.test_request_context():
            return contracts.run_daily(desk.tid, date.fromisoformat(day))

    result = run("2026-03-01")
    assert (result.activated, result.expired) == (1, 1)
    assert (result.due_reminders, result.overdue_reminders) == (1, 0)
    statuses = {
        cid: desk.call(desk.owner, "get", f"/contracts/{cid}")["status"]
        for cid in (starting, ending, waiting)
    }
    assert statuses == {starting: "active", ending: "expired", waiting: "signed"}
    kinds = [
        (n.kind, n.record_id) for n in desk.notes(desk.alice_id) if n.kind != "contract.approved"
    ]
    assert kinds == [("contract.expired", ending), ("contract.instalment_due", starting)]
    due = next(n for n in desk.notes(desk.alice_id) if n.kind == "contract.instalment_due")
    assert (due.params["sequence"], due.params["amount"], due.params["date"]) == (
        1,
        "400.00",
        "2026-03-05",
    )

    again = run("2026-03-01")
    assert (again.activated, again.expired, again.due_reminders, again.overdue_reminders) == (
        0,
        0,
        0,
        0,
    )
    later = run("2026-03-06")  # the 400 is overdue now, once
    assert (later.due_reminders, later.overdue_reminders) == (0, 1)
    assert run("2026-03-07").overdue_reminders == 0
    overdue = [n for n in desk.notes(desk.alice_id) if n.kind == "contract.instalment_overdue"]
    assert [n.params["sequence"] for n in overdue] == [1]

    with desk.app.app_context(), tenant_context(desk.tid, db.session):
        by = db.session.execute(
            select(AuditEvent.after).where(
                AuditEvent.action == "contract.expired", AuditEvent.target_id == str(ending)
            )
        ).scalar_one()
    assert by["by"] == "schedule"


def test_the_schedule_queues_the_daily_job(app, desk, drain_jobs):
    from saas import jobs

    assert ("saas.crm.contracts.schedule_daily", 3600) in jobs.PERIODIC
    cid = desk.signed(start_date="2020-01-01", end_date="2099-12-31")["id"]
    day = "2100-01-01"  # a day no other test has queued
    with app.app_context():
        assert contracts.schedule_daily(day) >= 1
        db.session.remove()
    drain_jobs()
    with app.app_context():
        assert contracts.schedule_daily(day) == 0  # once a day per company
        db.session.remove()
    # The job ran with the company's real date: the contract started long ago.
    assert desk.call(desk.owner, "get", f"/contracts/{cid}")["status"] == "active"


# ---- two tenants ----------------------------------------------------------------------------


def test_another_company_sees_nothing(desk, make_company, api):
    cid = desk.signed()["id"]
    plan = desk.plan(cid, [{"due_date": "2026-03-05", "amount": "1000"}])["instalments"]
    paid = desk.pay(cid, "10", "2026-01-02", plan_id=plan[0]["id"])
    other = make_company()
    rest = api(other.token)
    base = f"/api/v1/t/{other.slug}"
    for method, path, body in (
        ("get", f"/contracts/{cid}", None),
        ("get", f"/contracts/{cid}/plan", None),
        ("put", f"/contracts/{cid}/plan", {"instalments": []}),
        ("get", f"/contracts/{cid}/payments", None),
        ("post", f"/contracts/{cid}/payments", {"amount": "1", "received_on": "2026-01-02"}),
        ("post", f"/contracts/{cid}/activate", None),
        ("patch", f"/payments/{paid['id']}", {"note": "x"}),
        ("delete", f"/payments/{paid['id']}", None),
        ("post", f"/payments/{paid['id']}/restore", None),
    ):
        kwargs = {"json": body} if body is not None else {}
        assert getattr(rest, method)(base + path, **kwargs).status_code == 404, path
    assert rest.get(f"{base}/receivables").get_json()["data"] == []
    # A's token on B's slug: refused outright.
    assert desk.owner.get(f"{base}/receivables").status_code == 401
    assert desk.call(desk.alice, "get", f"/contracts/{cid}/payments")["data"][0]["note"] is None


# ---- the arithmetic: properties -------------------------------------------------------------

_amounts = st.integers(min_value=1, max_value=500_000).map(lambda cents: D(cents) / 100)
_days = st.integers(min_value=0, max_value=400).map(lambda n: date(2026, 1, 1) + timedelta(n))


@st.composite
def _cases(draw):
    parts = draw(st.lists(_amounts, min_size=0, max_size=6))
    instalments = [Instalment(i + 1, i + 1, draw(_days), amount) for i, amount in enumerate(parts)]
    amount = sum(parts, D(0)) if parts else draw(_amounts)
    ids = [i.id for i in instalments] + [None, 999]  # 999: an instalment that is gone
    payments = draw(
        st.lists(
            st.builds(Received, _amounts, st.sampled_from(ids)),
            max_size=8,
        )
    )
    return amount, instalments, payments, draw(_days)


@hypothesis.given(_cases())
@hypothesis.settings(max_examples=300, deadline=None)
def test_outstanding_is_amount_less_payments_and_overdue_stays_within_it(case):
    amount, instalments, payments, today = case
    result = standing(amount, "CNY", instalments, payments, today)
    received = sum((p.amount for p in payments), D(0))
    assert result.received == received
    assert result.outstanding == amount - received
    assert result.overpaid == max(received - amount, D(0))
    assert D(0) <= result.overdue <= result.due_to_date
    if result.outstanding >= 0:
        assert result.overdue <= result.outstanding
    else:
        assert result.overdue == 0
    assert sum((row.paid for row in result.instalments), D(0)) == min(received, result.plan_total)
    for row in result.instalments:
        assert row.paid + row.remaining == row.instalment.amount
        assert row.remaining >= 0
    if result.due_to_date:
        assert 0 <= result.overdue_rate <= 100
    else:
        assert result.overdue_rate is None


@pytest.fixture
def scratch(app, make_company):
    company = make_company()
    with app.test_request_context(), tenant_context(company.tenant_id, db.session):
        yield company
        db.session.rollback()


@hypothesis.given(case=_cases(), dropped=st.lists(st.booleans(), max_size=8))
@hypothesis.settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
def test_the_receivables_query_agrees_with_the_rule(scratch, case, dropped):
    """The same random plans and payments, stored, give the same figures in SQL; payments in
    the recycle bin do not count."""
    amount, instalments, payments, today = case
    contract = Contract(
        name="Random",
        data={"status": "active", "amount": {"amount": str(amount), "currency": "CNY"}},
    )
    db.session.add(contract)
    db.session.flush()
    ids = {}
    for item in instalments:
        row = PaymentPlan(
            contract_id=contract.id,
            sequence=item.sequence,
            due_date=item.due_date,
            amount=item.amount,
            currency="CNY",
        )
        db.session.add(row)
        db.session.flush()
        ids[item.id] = row.id
    live = []
    for index, payment in enumerate(payments):
        gone = index < len(dropped) and dropped[index]
        plan_id = ids.get(payment.plan_id)
        db.session.add(
            Payment(
                contract_id=contract.id,
                plan_id=plan_id,
                received_on=date(2026, 1, 1),
                amount=payment.amount,
                currency="CNY",
                method="cash",
                deleted_at=db.func.now() if gone else None,
            )
        )
        if not gone:
            live.append(Received(payment.amount, plan_id))
    db.session.flush()
    stored = [Instalment(ids[i.id], i.sequence, i.due_date, i.amount) for i in instalments]
    expected = standing(amount, "CNY", stored, live, today)
    page = contracts.receivables(None, today=today, limit=200)
    [row] = [r for r in page.rows if r.id == contract.id]
    assert (row.received, row.outstanding, row.overdue, row.due_to_date, row.overdue_rate) == (
        expected.received,
        expected.outstanding,
        expected.overdue,
        expected.due_to_date,
        expected.overdue_rate,
    )
    contract.deleted_at = db.func.now()
    db.session.flush()


def test_receivables_sort_and_page_by_keyset(desk):
    ids = []
    for amount in ("100", "300", "200", "300"):
        ids.append(desk.signed(amount={"amount": amount, "currency": "CNY"})["id"])
    seen, cursor = [], None
    while True:
        query = {"sort": "amount", "order": "asc", "limit": 3}
        if cursor:
            query["cursor"] = cursor
        page = desk.receivables(**query)
        seen += [(r["amount"], r["id"]) for r in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(seen, key=lambda pair: (D(pair[0]), pair[1]))
    assert {i for _a, i in seen} == set(ids)
    assert desk.receivables(sort="amount", order="asc", limit=3)["count"] == 4
    assert "cursor" in desk.receivables(expect=400, sort="amount", cursor="!!")["errors"]
    assert "sort" in desk.receivables(expect=400, sort="colour")["errors"]


# ---- web pages ------------------------------------------------------------------------------


def test_the_contract_page_plan_editor_payments_and_receivables(app, desk, login):
    web = login(desk.company.owner_email)
    empty = web.get(f"/t/{desk.slug}/receivables")
    assert empty.status_code == 200 and 'data-testid="receivables-empty"' in empty.text
    cid = desk.contract()["id"]
    page = web.get(f"/t/{desk.slug}/o/contract/{cid}")
    assert 'data-status="draft"' in page.text and 'data-testid="action-submit"' in page.text

    response = web.post(
        f"/t/{desk.slug}/contracts/{cid}/status", data={"action": "submit", "text": ""}
    )
    assert response.status_code == 302
    response = web.post(
        f"/t/{desk.slug}/contracts/{cid}/status", data={"action": "approve"}, follow_redirects=True
    )
    assert 'data-status="signed"' in response.text

    editor = web.get(f"/t/{desk.slug}/contracts/{cid}/plan")
    assert 'data-testid="plan-form"' in editor.text
    form = {
        "rows": "3",
        "due_date-0": "2026-02-01",
        "amount-0": "600",
        "due_date-1": "2026-05-01",
        "amount-1": "300",
    }
    wrong = web.post(f"/t/{desk.slug}/contracts/{cid}/plan", data=form)
    assert wrong.status_code == 400 and "less than the contract amount" in wrong.text
    form["amount-1"] = "400"
    saved = web.post(f"/t/{desk.slug}/contracts/{cid}/plan", data=form, follow_redirects=True)
    assert saved.status_code == 200 and 'data-sequence="2"' in saved.text

    paid = web.post(
        f"/t/{desk.slug}/contracts/{cid}/payments",
        data={"received_on": "2026-01-03", "amount": "700", "method": "cash"},
        follow_redirects=True,
    )
    assert 'data-payment="' in paid.text
    payment_id = int(re.search(r'data-payment="(\d+)"', paid.text).group(1))
    edit = web.post(
        f"/t/{desk.slug}/payments/{payment_id}/edit",
        data={"received_on": "2026-01-03", "amount": "1200", "method": "cash"},
        follow_redirects=True,
    )
    assert 'data-value="overpaid"' in edit.text
    listing = web.get(f"/t/{desk.slug}/receivables?sort=outstanding&order=asc")
    assert f'data-id="{cid}"' in listing.text and "Overpaid" in listing.text
    web.post(f"/t/{desk.slug}/payments/{payment_id}/delete")
    page = web.get(f"/t/{desk.slug}/o/contract/{cid}")
    assert 'data-testid="payments-bin"' in page.text and 'data-testid="no-payments"' in page.text

    quote_id = _quote(desk, "accepted", "880.00")
    quote_page = web.get(f"/t/{desk.slug}/o/quote/{quote_id}")
    assert 'data-testid="create-contract"' in quote_page.text
    made = web.post(f"/t/{desk.slug}/contracts/from-quote/{quote_id}")
    assert made.status_code == 302 and "/o/contract/" in made.headers["Location"]
    assert (
        "A contract was made from this quote" in web.get(f"/t/{desk.slug}/o/quote/{quote_id}").text
    )


def test_a_read_only_member_sees_no_actions(desk, login):
    cid = desk.signed()["id"]
    web = login(desk.viewer_email)
    page = web.get(f"/t/{desk.slug}/o/contract/{cid}")
    assert 'data-testid="contract-panel"' in page.text
    assert 'data-testid="contract-actions"' not in page.text
    assert 'data-testid="payment-form"' not in page.text
    refused = web.post(
        f"/t/{desk.slug}/contracts/{cid}/payments",
        data={"received_on": "2026-01-03", "amount": "1"},
    )
    assert refused.status_code == 302  # back to the page with the refusal
    assert desk.call(desk.owner, "get", f"/contracts/{cid}/payments")["data"] == []
