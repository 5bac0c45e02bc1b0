"""A small company for the stored-report tests: an owner, a manager and two salespeople
(role member, each with an API token and a browser login), customers with a picklist
(``band``), a whole number (``staff``), an amount (``revenue``) and a date (``signed``), owned
by the salespeople, and helpers to call the API."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from typing import Any

from saas.extensions import db
from tenants import services as tenant_services
from tenants.context import tenant_context

FIELDS = (
    {"key": "band", "type": "picklist", "label": "Band", "values": ["A", "B", "C"]},
    {"key": "staff", "type": "integer", "label": "Staff"},
    {"key": "revenue", "type": "currency", "label": "Revenue"},
    {"key": "signed", "type": "date", "label": "Signed"},
)
#: (name, band, staff, revenue in CNY, signed, owner: "ann" or "bob")
ROWS = (
    ("Acme", "A", 10, "100.50", "2026-01-05", "ann"),
    ("Bolt", "A", 5, "200.00", "2026-01-20", "bob"),
    ("Cobalt", "B", 7, "300.25", "2026-02-03", "ann"),
    ("Dyna", "B", None, "50.00", "2026-02-28", "bob"),
    ("Echo", "C", 1, None, "2026-03-01", "ann"),
    ("Flux", None, 3, "10.00", "2026-03-15", "bob"),
    ("Gear", "A", 2, "5.75", None, "ann"),
)


def token_for(app: Any, tenant_id: int, user_id: int) -> str:
    with app.app_context(), tenant_context(tenant_id, db.session, user_id):
        _, raw = tenant_services.create_token(tenant_services.membership(user_id), "test")
    return raw


class Shop:
    """The company, its people (``owner``, ``manager``, ``ann``, ``bob``: API clients) and the
    expected figures of its customers."""

    def __init__(self, app: Any, company: Any, api: Any, add_member: Any):
        self.app = app
        self.company = company
        self.slug = company.slug
        self.tenant_id = company.tenant_id
        self.owner = api(company.token)
        self.ids = {"owner": company.owner_id}
        self.emails = {"owner": company.owner_email}
        clients = {"owner": self.owner}
        for name, role in (("manager", "manager"), ("ann", "member"), ("bob", "member")):
            person = add_member(company, role)
            self.ids[name], self.emails[name] = person.id, person.email
            clients[name] = api(token_for(app, company.tenant_id, person.id))
        self.clients = clients
        for payload in FIELDS:
            response = self.owner.post(self.url("/objects/account/fields"), json=payload)
            assert response.status_code == 201, response.get_json()
        self.records: dict[str, int] = {}
        for name, band, staff, revenue, signed, owner in ROWS:
            body: dict[str, Any] = {"name": name, "owner_id": self.ids[owner]}
            if band:
                body["band"] = band
            if staff is not None:
                body["staff"] = staff
            if revenue:
                body["revenue"] = {"amount": revenue, "currency": "CNY"}
            if signed:
                body["signed"] = signed
            response = self.owner.post(self.url("/records/account"), json=body)
            assert response.status_code == 201, response.get_json()
            self.records[name] = response.get_json()["id"]

    def url(self, path: str) -> str:
        return f"/api/v1/t/{self.slug}{path}"

    def __getitem__(self, person: str) -> Any:
        return self.clients[person]

    def scope(self, role: str, scope: str) -> None:
        response = self.owner.patch(self.url(f"/roles/{role}"), json={"data_scope": scope})
        assert response.status_code == 200, response.get_json()

    def create(self, person: str = "owner", expect: int = 201, **body: Any) -> dict[str, Any]:
        body.setdefault("name", "Customers by band")
        body.setdefault("spec", by_band())
        response = self[person].post(self.url("/reports"), json=body)
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def result(self, person: str, report_id: int, expect: int = 200, **query: Any) -> dict:
        response = self[person].get(self.url(f"/reports/{report_id}/result"), query_string=query)
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    # ---- the expected figures, computed from ROWS ----

    def visible(self, person: str | None = None) -> list[tuple]:
        return [r for r in ROWS if person is None or r[5] == person]

    def counts_by_band(self, person: str | None = None) -> Counter:
        return Counter(r[1] for r in self.visible(person))

    def revenue_by_band(self, person: str | None = None) -> dict[Any, Decimal]:
        sums: dict[Any, Decimal] = {}
        for row in self.visible(person):
            if row[3] is not None:
                sums[row[1]] = sums.get(row[1], Decimal(0)) + Decimal(row[3])
        return sums


def by_band(**extra: Any) -> dict[str, Any]:
    spec = {
        "object": "account",
        "type": "summary",
        "groups": [{"field": "band"}],
        "aggregates": [
            {"fn": "count", "percent_of_total": True},
            {"fn": "sum", "field": "revenue"},
        ],
        "chart": {"type": "bar", "aggregate": "count"},
    }
    spec.update(extra)
    return spec


def band_by_month() -> dict[str, Any]:
    return by_band(
        groups=[{"field": "band"}, {"field": "signed", "granularity": "month"}],
        aggregates=[
            {"fn": "count", "percent_of_total": True},
            {"fn": "sum", "field": "revenue", "percent_of_total": True},
            {"fn": "avg", "field": "staff"},
        ],
    )


def today() -> dt.date:
    return dt.date.today()
