"""One company shared by the read-only query tests: a field of every type on accounts (formulas
of every result type among them) and six records, some of them empty.

Records are named so that their first letter identifies them (``A``lpha … ``F``ox, the empty
one); tests write expected results as those letters (see :func:`letters`).
"""

from __future__ import annotations

from typing import Any

from tests.query.conftest import TokenClient, new_member, run_direct, signup

FIELDS = (
    {"key": "city", "type": "text", "label": "City"},
    {"key": "notes", "type": "long_text", "label": "Notes"},
    {"key": "staff", "type": "integer", "label": "Staff"},
    {"key": "score", "type": "decimal", "label": "Score", "scale": 2},
    {"key": "revenue", "type": "currency", "label": "Revenue"},
    {"key": "rate", "type": "percent", "label": "Rate"},
    {"key": "signed", "type": "date", "label": "Signed"},
    {"key": "met_at", "type": "datetime", "label": "Met at"},
    {"key": "vip", "type": "boolean", "label": "VIP"},
    {"key": "band", "type": "picklist", "label": "Band", "values": ["A", "B", "C"]},
    {
        "key": "regions",
        "type": "multi_picklist",
        "label": "Regions",
        "values": ["north", "south", "east"],
    },
    {"key": "mail", "type": "email", "label": "Mail"},
    {"key": "tel", "type": "phone", "label": "Phone"},
    {"key": "site", "type": "url", "label": "Site"},
    {"key": "rep", "type": "lookup", "label": "Rep", "target": "user"},
    {"key": "parent", "type": "lookup", "label": "Parent", "target": "account"},
    {"key": "code", "type": "auto_number", "label": "Code", "pattern": "AC-{0000}"},
    {"key": "double_staff", "type": "formula", "label": "2×", "expression": "staff * 2"},
    {"key": "upper_city", "type": "formula", "label": "CITY", "expression": "UPPER(city)"},
    {"key": "big", "type": "formula", "label": "Big", "expression": "staff > 5"},
    {"key": "day_after", "type": "formula", "label": "D+1", "expression": "ADD_DAYS(signed, 1)"},
    {"key": "met_copy", "type": "formula", "label": "Met", "expression": "COALESCE(met_at)"},
)


class World:
    def __init__(self, app: Any):
        self.app = app
        self.tenant_id, self.slug, self.owner, token = signup(app, "Operators")
        self.client = TokenClient(app, token)
        self.other, _token = new_member(app, self.tenant_id, "member")
        for payload in FIELDS:
            response = self.client.post(
                f"/api/v1/t/{self.slug}/objects/account/fields", json=payload
            )
            assert response.status_code == 201, (payload, response.get_json())
        self.ids: dict[str, int] = {}
        self.add(
            "Alpha",
            city="Shanghai",
            notes="Big 100% deal",
            staff=10,
            score="1.50",
            revenue={"amount": "100", "currency": "CNY"},
            rate="12.5",
            signed="2024-01-15",
            met_at="2024-01-15T10:00:00Z",  # 18:00 in Shanghai
            vip=True,
            band="A",
            regions=["north", "south"],
            mail="Alpha@Example.com",
            tel="+8613812345678",
            site="alpha.example.com",
            rep=self.owner,
            tags=["key", "hot"],
        )
        self.add(
            "Beta",
            city="shanghai pudong",
            notes="under_score here",
            staff=2,
            score="-3.25",
            revenue="250.50",
            rate="0",
            signed="2024-03-01",
            met_at="2024-02-29T16:30:00Z",  # 1 March 00:30 in Shanghai
            vip=False,
            band="B",
            regions=["south"],
            mail="beta@example.com",
            rep=self.other,
            tags=["hot"],
            parent=self.ids["A"],
        )
        self.add(
            "Cee 100%",
            city="Bei%jing",
            notes="back\\slash",
            staff=0,
            score="0",
            revenue="0",
            signed="2023-12-31",
            met_at="2023-12-31T15:59:59Z",  # 23:59:59 on 31 December in Shanghai
            vip=False,
            band="C",
            regions=["east"],
            parent=self.ids["A"],
        )
        self.add(
            "Delta_x",
            city="a_b",
            notes="plain",
            staff=-5,
            score="99.99",
            signed="2024-01-16",
            met_at="2024-01-16T00:00:00+08:00",  # Shanghai midnight
            band="A",
            regions=["north", "south", "east"],
            tags=["Key"],
            parent=self.ids["B"],
        )
        self.add("Eps\\ilon", city="A\\B", staff=7)
        self.add("Fox", owner_id=self.other)

    def add(self, name: str, **values: Any) -> None:
        response = self.client.post(
            f"/api/v1/t/{self.slug}/records/account", json={"name": name, **values}
        )
        assert response.status_code == 201, response.get_json()
        self.ids[name[0]] = response.get_json()["id"]

    def run(self, *, body: dict[str, Any] | None = None, args: list[tuple[str, str]] | None = None):
        """The query service as the API calls it, without HTTP (fast): a response stand-in."""
        return run_direct(self.app, self.tenant_id, self.owner, "account", body=body, args=args)

    def post(self, field: str, op: str, value: Any) -> Any:
        condition: dict[str, Any] = {"field": field, "op": op}
        if value is not None:
            condition["value"] = value
        return self.run(body={"filter": condition, "limit": 100, "count": False})

    def get(self, field: str, op: str, value: Any) -> Any:
        return self.run(
            args=[("f", url_item(field, op, value)), ("limit", "100"), ("count", "false")]
        )

    def http_post(self, field: str, op: str, value: Any) -> Any:
        condition: dict[str, Any] = {"field": field, "op": op}
        if value is not None:
            condition["value"] = value
        return self.client.post(
            f"/api/v1/t/{self.slug}/records/account/query",
            json={"filter": condition, "limit": 100},
        )

    def http_get(self, field: str, op: str, value: Any) -> Any:
        return self.client.get(
            f"/api/v1/t/{self.slug}/records/account",
            query_string={"f": url_item(field, op, value), "limit": 100},
        )


def url_item(field: str, op: str, value: Any) -> str:
    if value is None:
        return f"{field}:{op}"
    parts = value if isinstance(value, list) else [value]
    return f"{field}:{op}:" + ",".join(_url_text(p) for p in parts)


def _url_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).replace("\\", "\\\\").replace(",", "\\,")


def letters(response: Any) -> str:
    body = response.get_json()
    assert response.status_code == 200, body
    return "".join(sorted(r["name"][0] for r in body["data"]))


OWNER, OTHER, REC = "<owner>", "<other>", "<id:"


def resolve(world: World, value: Any) -> Any:
    if isinstance(value, list):
        return [resolve(world, v) for v in value]
    if value == OWNER:
        return world.owner
    if value == OTHER:
        return world.other
    if isinstance(value, str) and value.startswith(REC):
        return world.ids[value[len(REC)]]
    return value
