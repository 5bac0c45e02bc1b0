"""A company with one field of each filterable kind on accounts and a few records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

FIELDS = (
    {"key": "grade", "type": "picklist", "label": "Grade", "values": ["A", "B", "C"]},
    {"key": "regions", "type": "multi_picklist", "label": "Regions", "values": ["north", "south", "east"]},
    {"key": "revenue", "type": "currency", "label": "Revenue"},
    {"key": "staff", "type": "integer", "label": "Staff"},
    {"key": "score", "type": "decimal", "label": "Score", "scale": 2},
    {"key": "signed", "type": "date", "label": "Signed"},
    {"key": "met_at", "type": "datetime", "label": "Met at"},
    {"key": "city", "type": "text", "label": "City"},
    {"key": "vip", "type": "boolean", "label": "VIP"},
    {"key": "rep", "type": "lookup", "label": "Rep", "target": "user"},
    {"key": "mail", "type": "email", "label": "Mail"},
    {"key": "phone", "type": "phone", "label": "Phone"},
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
