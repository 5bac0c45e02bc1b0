"""The built-in reports over CRM records made through the API, each figure against Python over
the records read back through the records API (and the receivables against the contracts'
own rule, ``contracts.contract_standing``); a salesperson with data scope "own" sees only
their own figures."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from custom_fields.reports import builtins
from custom_fields.reports.engine import Result
from saas.errors import DomainError
from tests.query.conftest import TokenClient, new_member, run_sql, signup
from tests.reports.world import percent, same, truncate, walk

ZONE = "Asia/Shanghai"
STAGES = ["qualification", "needs_analysis", "proposal", "negotiation", "won", "lost"]


class Sales:
    """A company with an owner, a manager and two salespeople, and their CRM records."""

    def __init__(self, app: Any, seed: int = 11):
        self.app = app
        self.tenant_id, self.slug, self.owner, token = signup(app, "Sales Co")
        self.base = f"/api/v1/t/{self.slug}"
        self.people = {"owner": self.owner}
        self.clients = {"owner": TokenClient(app, token)}
        for person, role in (("manager", "manager"), ("alice", "member"), ("bob", "member")):
            user_id, raw = new_member(app, self.tenant_id, role, name=person.title())
            self.people[person], self.clients[person] = user_id, TokenClient(app, raw)
        rng = random.Random(seed)
        sellers = ["owner", "alice", "bob"]
        for n in range(36):
            body: dict[str, Any] = {
                "name": f"deal-{n}",
                "owner_id": self.people[sellers[n % 3]],
                "stage": rng.choice(STAGES),
            }
            if rng.random() < 0.85:
                code = "USD" if rng.random() < 0.2 else "CNY"
                body["amount"] = {
                    "amount": f"{rng.randrange(100, 900000) / 100:.2f}",
                    "currency": code,
                }
            if rng.random() < 0.85:
                body["expected_close"] = (
                    dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(0, 500))
                ).isoformat()
            if body["stage"] == "lost":
                body["lost_reason"] = "price"
            self.post("owner", "/records/opportunity", body)
        for n in range(12):
            person = sellers[n % 3]
            self.post(person, "/records/account", {"name": f"customer-{n}"})
        for n in range(24):
            body = {
                "name": f"follow-up-{n}",
                "owner_id": self.people[sellers[n % 3]],
                "type": rng.choice(["call", "visit", "email", "meeting"]),
                "status": rng.choice(["done", "done", "planned"]),
            }
            if body["type"] == "visit" and body["status"] == "done":
                body["result"] = "met"
            self.post("owner", "/records/activity", body)
        self.contracts = []
        for person, amount, currency, paid in (
            ("alice", "1000.00", "CNY", "250.00"),
            ("alice", "800.00", "USD", None),
            ("bob", "1200.00", "CNY", "1200.00"),
            ("owner", "500.00", "CNY", "100.00"),
        ):
            record = self.post(
                person,
                "/records/contract",
                {
                    "name": f"contract-{person}-{amount}",
                    "amount": {"amount": amount, "currency": currency},
                    "start_date": "2026-01-01",
                    "end_date": "2027-12-31",
                },
            )
            self.post(person, f"/contracts/{record['id']}/submit", {}, expect=200)
            self.post("owner", f"/contracts/{record['id']}/approve", {}, expect=200)
            half = (Decimal(amount) / 2).quantize(Decimal("0.01"))
            response = self.clients[person].put(
                f"{self.base}/contracts/{record['id']}/plan",
                json={
                    "instalments": [
                        {"due_date": "2026-02-01", "amount": str(half)},
                        {"due_date": "2099-01-01", "amount": str(Decimal(amount) - half)},
                    ]
                },
            )
            assert response.status_code == 200, response.get_json()
            if paid:
                self.post(
                    person,
                    f"/contracts/{record['id']}/payments",
                    {"amount": paid, "received_on": "2026-01-15"},
                )
            self.contracts.append(record["id"])

    def post(self, person: str, path: str, body: dict, expect: int = 201) -> dict:
        response = self.clients[person].post(f"{self.base}{path}", json=body)
        assert response.status_code == expect, (path, response.get_json())
        return response.get_json()

    def records(self, object_key: str, person: str = "owner") -> list[dict[str, Any]]:
        """Every record ``person`` sees, through the records API."""
        found, cursor = [], None
        while True:
            body: dict[str, Any] = {"limit": 1000}
            if cursor:
                body["cursor"] = cursor
            response = self.clients[person].post(
                f"{self.base}/records/{object_key}/query", json=body
            )
            assert response.status_code == 200, response.get_json()
            page = response.get_json()
            found += page["data"]
            cursor = page["next_cursor"]
            if not cursor:
                return found

    def run(self, key: str, person: str = "owner", **options: Any) -> Any:
        from flask import g

        from saas.extensions import db
        from tenants import services
        from tenants.context import tenant_context
        from tenants.models import Tenant

        user_id = self.people[person]
        with self.app.test_request_context(), tenant_context(self.tenant_id, db.session, user_id):
            g.tenant = db.session.get(Tenant, self.tenant_id)
            g.membership = services.membership(user_id)
            try:
                return builtins.run(key, g.membership, timezone=ZONE, locale="en", **options)
            except DomainError as exc:
                return exc
            finally:
                db.session.rollback()

    def drill_count(self, object_key: str, drill: Any, person: str = "owner") -> int:
        response = self.clients[person].post(
            f"{self.base}/records/{object_key}/query",
            json={"filter": drill, "limit": 1, "count": True},
        )
        assert response.status_code == 200, (drill, response.get_json())
        return response.get_json()["count"]

    def scope(self, **scopes: str) -> None:
        for role in ("owner", "admin", "manager", "member", "read_only"):
            run_sql(
                self.app,
                self.tenant_id,
                "UPDATE roles SET data_scope = :s WHERE key = :k",
                s=scopes.get(role, "all"),
                k=role,
            )


@pytest.fixture(scope="module")
def sales(app) -> Sales:
    return Sales(app)


def money(records: list[dict[str, Any]]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    for record in records:
        if record.get("amount"):
            out[record["amount"]["currency"]] += Decimal(record["amount"]["amount"])
    return dict(out)


def by(records: list[dict[str, Any]], key) -> dict[Any, list[dict[str, Any]]]:
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        groups[key(record)].append(record)
    return groups


def test_sales_funnel(sales):
    result = sales.run("sales_funnel")
    assert isinstance(result, Result), result
    deals = [d for d in sales.records("opportunity") if d["stage"] != "lost"]
    groups = by(deals, lambda d: d["stage"])
    assert [n.key for n in result.rows] == [s for s in STAGES if s in groups]  # stage order
    for node in result.rows:
        assert node.count == len(groups[node.key])
        assert same(node.values["sum_amount"], money(groups[node.key]))
        assert node.percents["count"] == percent(node.count, len(deals))
        assert sales.drill_count("opportunity", node.drill) == node.count
    assert result.total.count == len(deals)
    assert result.to_json()["chart"] == {"type": "funnel", "aggregate": "count"}


def test_sales_ranking(sales):
    result = sales.run("sales_ranking")
    won = [d for d in sales.records("opportunity") if d["stage"] == "won"]
    groups = by(won, lambda d: d["owner_id"])
    assert {n.key for n in result.rows} == set(groups)
    for node in result.rows:
        assert same(node.values["sum_amount"], money(groups[node.key]))
        assert node.values["count"] == len(groups[node.key])
        assert sales.drill_count("opportunity", node.drill) == node.count
    cny = [n.values["sum_amount"].get("CNY") for n in result.rows]
    present = [v for v in cny if v is not None]
    assert present == sorted(present, reverse=True)
    assert {n.label for n in result.rows} <= {"Alice", "Bob", None} | {
        n.label for n in result.rows if n.key == sales.owner
    }


@pytest.mark.parametrize("granularity", ["day", "week", "month"])
def test_new_customers_per_salesperson(sales, granularity):
    result = sales.run("new_customers", options={"granularity": granularity})
    today = dt.datetime.now(ZoneInfo(ZONE)).date()
    window = builtins.NEW_CUSTOMER_WINDOWS[granularity]
    customers = [
        c
        for c in sales.records("account")
        if today - dt.timedelta(days=window - 1)
        <= dt.datetime.fromisoformat(c["created_at"]).astimezone(ZoneInfo(ZONE)).date()
        <= today
    ]
    want: dict[tuple[Any, ...], int] = defaultdict(int)
    for customer in customers:
        day = dt.datetime.fromisoformat(customer["created_at"]).astimezone(ZoneInfo(ZONE)).date()
        period = truncate(day, granularity)
        want[(customer["owner_id"],)] += 1
        want[(customer["owner_id"], period)] += 1
    got = {path: node.count for path, node in walk(result.rows)}
    assert got == dict(want)
    for _path, node in walk(result.rows):
        assert sales.drill_count("account", node.drill) == node.count


def test_activities_by_salesperson(sales):
    result = sales.run("activities_by_salesperson")
    done = [a for a in sales.records("activity") if a["status"] == "done"]
    for cell in result.cells:
        owner, kind = cell.row[0], cell.column[0]
        expected = [a for a in done if a["owner_id"] == owner and a["type"] == kind]
        assert cell.count == len(expected) > 0
        assert sales.drill_count("activity", cell.drill) == cell.count
    assert result.total.count == len(done)
    assert sum(c.count for c in result.cells) == len(done)


def test_pipeline_forecast(sales, app):
    result = sales.run("pipeline_forecast")
    open_deals = [d for d in sales.records("opportunity") if d["stage"] not in ("won", "lost")]
    assert result.total.count == len(open_deals)

    def month(deal):
        close = deal.get("expected_close")
        return dt.date.fromisoformat(close).replace(day=1) if close else None

    groups = by(open_deals, month)
    assert {n.key for n in result.rows} == set(groups)
    for node in result.rows:
        deals = groups[node.key]
        weighted: dict[str, Decimal] = defaultdict(Decimal)
        for deal in deals:
            if deal.get("amount") and deal.get("probability") is not None:
                amount = Decimal(deal["amount"]["amount"])
                weighted[deal["amount"]["currency"]] += amount * Decimal(deal["probability"]) / 100
        assert same(node.values["sum_amount"], money(deals))
        assert same(node.values["weighted"], dict(weighted))
        assert sales.drill_count("opportunity", node.drill) == node.count
    # The pipeline board's weighted amount of the open stages agrees (company currency).
    from flask import g

    from saas.crm import pipeline
    from saas.extensions import db
    from tenants import services
    from tenants.context import tenant_context

    with app.test_request_context(), tenant_context(sales.tenant_id, db.session, sales.owner):
        g.membership = services.membership(sales.owner)
        board = pipeline.summary(g.membership).totals("open")
        db.session.rollback()
    weighted = result.total.values["weighted"].get("CNY", Decimal(0))
    assert board.weighted == weighted.quantize(Decimal("0.01"))  # the board rounds to cents


def test_receivables_agree_with_the_contract_rule(sales, app):
    from saas.crm import contracts
    from saas.extensions import db
    from saas.records.models import Contract
    from tenants.context import tenant_context

    result = sales.run("receivables")
    assert isinstance(result, Result), result
    want: dict[Any, dict[str, dict[str, Decimal]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(Decimal))
    )
    counts: dict[Any, int] = defaultdict(int)
    with app.app_context(), tenant_context(sales.tenant_id, db.session):
        for contract_id in sales.contracts:
            contract = db.session.get(Contract, (sales.tenant_id, contract_id))
            figures = contracts.contract_standing(contract)
            amount, currency = contracts.amount_of(contract)
            for owner in (contract.owner_id, "total"):
                counts[owner] += 1
                for name, value in (
                    ("amount", amount),
                    ("received", figures.received),
                    ("outstanding", figures.outstanding),
                    ("overdue", figures.overdue),
                    ("due_to_date", figures.due_to_date),
                ):
                    want[owner][name][currency] += value
        db.session.rollback()
    assert result.total.count == counts["total"] == 4
    for node in [*result.rows, result.total]:
        owner = "total" if node.level == 0 else node.key
        assert node.count == counts[owner]
        for name in ("amount", "received", "outstanding", "overdue", "due_to_date"):
            assert same(node.values[name], dict(want[owner][name])), (owner, name)
        for code, rate in node.values["overdue_rate"].items():
            assert rate == contracts.rate_percent(
                want[owner]["overdue"][code], want[owner]["due_to_date"][code]
            )
        assert sales.drill_count("contract", node.drill) == node.count
    alice = next(n for n in result.rows if n.key == sales.people["alice"])
    assert set(alice.values["amount"]) == {"CNY", "USD"}


def test_a_salesperson_with_own_scope_sees_only_their_figures(sales):
    sales.scope(member="own")
    try:
        alice = sales.people["alice"]
        for key in ("sales_funnel", "sales_ranking", "pipeline_forecast", "receivables"):
            result = sales.run(key, "alice")
            assert isinstance(result, Result), (key, result)
            assert {n.key for n in result.rows if key in ("sales_ranking", "receivables")} <= {
                alice
            }
            for _path, node in [((), result.total), *walk(result.rows)]:
                object_key = "contract" if key == "receivables" else "opportunity"
                listed = sales.clients["alice"].post(
                    f"{sales.base}/records/{object_key}/query",
                    json={"filter": node.drill, "limit": 1000},
                )
                rows = listed.get_json()["data"]
                assert len(rows) == node.count
                assert {r["owner_id"] for r in rows} <= {alice}
        funnel = sales.run("sales_funnel", "alice")
        mine = [
            d
            for d in sales.records("opportunity", "owner")
            if d["owner_id"] == alice and d["stage"] != "lost"
        ]
        assert funnel.total.count == len(mine)
        assert same(funnel.total.values["sum_amount"], money(mine))
        receivables = sales.run("receivables", "alice")
        assert receivables.total.count == 2
    finally:
        sales.scope()


def test_unknown_builtin_and_options(sales):
    assert sales.run("nope").status == 400
    assert "granularity" in sales.run("new_customers", options={"granularity": "year"}).errors
    assert set(builtins.BUILTINS) == {
        "sales_funnel",
        "sales_ranking",
        "new_customers",
        "activities_by_salesperson",
        "pipeline_forecast",
        "receivables",
    }


def test_receivables_need_the_contract_amount(sales):
    """Every receivables figure derives from the contract's amount: a role that may not see
    that field gets a 403 from the built-in report and from the receivables API alike."""
    person = "alice"  # a member
    response = sales.clients["owner"].put(
        f"{sales.base}/objects/contract/fields/amount/access", json={"member": "hidden"}
    )
    assert response.status_code == 200, response.get_json()
    refused = sales.run("receivables", person)
    assert getattr(refused, "status", None) == 403, refused
    api = sales.clients[person].get(f"{sales.base}/receivables")
    assert api.status_code == 403
    assert isinstance(sales.run("receivables"), Result)  # the owner still sees them
