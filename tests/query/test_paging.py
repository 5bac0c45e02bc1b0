"""Sorting (up to six keys, formulas, picklist order, lookup and member names, nulls first or
last, ties) and keyset paging: every page forward, then back again to the same pages; cursors of
another query refused; counts exact up to 10,000; the limits of a query."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from custom_fields.query import engine
from tests.query.conftest import (
    TokenClient,
    insert_records,
    new_member,
    run_direct,
    run_sql,
    signup,
)

GRADES = ["hot", "warm", "cold"]  # the picklist's own order, not the alphabet's


class Shop:
    """43 accounts with many empty values and ties in every field."""

    def __init__(self, app: Any):
        self.app = app
        self.tenant_id, self.slug, self.owner, token = signup(app, "Paging")
        self.client = TokenClient(app, token)
        self.amy, _ = new_member(app, self.tenant_id, "member", name="amy")
        self.zed, _ = new_member(app, self.tenant_id, "member", name="zed")
        run_sql(app, self.tenant_id, "UPDATE users SET name = 'mia' WHERE id = :id", id=self.owner)
        fields = f"/api/v1/t/{self.slug}/objects/account/fields"
        for payload in (
            {"key": "band", "type": "picklist", "label": "Band", "values": GRADES},
            {"key": "staff", "type": "integer", "label": "Staff"},
            {"key": "city", "type": "text", "label": "City"},
            {"key": "met_at", "type": "datetime", "label": "Met"},
            {"key": "parent", "type": "lookup", "label": "Parent", "target": "account"},
            {"key": "rep", "type": "lookup", "label": "Rep", "target": "user"},
            {"key": "notes", "type": "long_text", "label": "Notes"},
            {"key": "regions", "type": "multi_picklist", "label": "R", "values": ["n", "s"]},
            {"key": "double", "type": "formula", "label": "2x", "expression": "staff * 2"},
        ):
            response = self.client.post(fields, json=payload)
            assert response.status_code == 201, response.get_json()
        parents = []
        for name in ("pa-zeta", "pa-alpha", "pa-mid"):
            response = self.client.post(
                f"/api/v1/t/{self.slug}/records/account", json={"name": name, "staff": 2}
            )
            parents.append(response.get_json()["id"])
        reps = [self.owner, self.amy, self.zed, None]
        rows = []
        for i in range(40):
            data: dict[str, Any] = {}
            if i % 4:
                data["staff"] = i % 5
            if i % 7:
                data["city"] = ["ant", "bee", "cat"][i % 3]
            if i % 5:
                data["band"] = GRADES[i % 3]
            if i % 3:
                data["met_at"] = f"2024-01-0{1 + i % 6}T10:00:00Z"
            if i % 4 != 1:
                data["parent"] = parents[i % 3]
            if reps[i % 4] is not None:
                data["rep"] = reps[i % 4]
            rows.append((f"r{i:02d}", data))
        insert_records(app, self.tenant_id, self.owner, rows)
        self.records = self.query(limit=1000, count=False).get_json()["data"]
        assert len(self.records) == 43

    def query(self, **body: Any) -> Any:
        return run_direct(self.app, self.tenant_id, self.owner, "account", body=body)


@pytest.fixture(scope="module")
def shop(app) -> Shop:
    return Shop(app)


def _value(shop: Shop, record: dict[str, Any], key: str) -> Any:
    names = {r["id"]: r["name"] for r in shop.records}
    users = {shop.owner: "mia", shop.amy: "amy", shop.zed: "zed"}
    if key == "band":
        return None if record["band"] is None else GRADES.index(record["band"])
    if key == "parent":
        return names.get(record["parent"])
    if key in ("rep", "owner_id"):
        return users.get(record[key])
    if key == "double":
        return None if record["staff"] is None else record["staff"] * 2
    return record[key]


def expected(shop: Shop, sort: list[dict[str, Any]], records=None) -> list[str]:
    """The order computed in Python: empty values smallest unless told, ties by id."""

    def compare(a: dict[str, Any], b: dict[str, Any]) -> int:
        for key in sort:
            desc = key.get("dir") == "desc"
            nulls_first = {"first": True, "last": False}.get(key.get("nulls"), not desc)
            x, y = _value(shop, a, key["field"]), _value(shop, b, key["field"])
            if x == y:
                continue
            if x is None or y is None:
                return (-1 if x is None else 1) * (1 if nulls_first else -1)
            return (-1 if x < y else 1) * (-1 if desc else 1)
        if not any(k["field"] == "id" for k in sort):
            return -1 if a["id"] < b["id"] else 1
        return 0

    return [r["name"] for r in sorted(records or shop.records, key=functools.cmp_to_key(compare))]


def pages(shop: Shop, limit: int, **body: Any) -> list[list[str]]:
    """Every page forward, then every page back from the last: both must agree."""
    forward, cursor, first = [], None, True
    while True:
        response = shop.query(limit=limit, cursor=cursor, count=False, **body)
        page = response.get_json()
        assert response.status_code == 200, page
        forward.append([r["name"] for r in page["data"]])
        assert (page["prev_cursor"] is None) == first
        first = False
        if page["next_cursor"] is None:
            break
        assert len(page["data"]) == limit
        cursor = page["next_cursor"]
    back = [forward[-1]]
    cursor = page["prev_cursor"]
    while cursor is not None:
        response = shop.query(limit=limit, cursor=cursor, count=False, **body)
        page = response.get_json()
        assert response.status_code == 200, page
        back.append([r["name"] for r in page["data"]])
        assert page["next_cursor"] is not None
        cursor = page["prev_cursor"]
    assert back[::-1] == forward, "going back gives other pages"
    return forward


SORTS = [
    [],  # newest first
    [{"field": "staff"}],  # empties first going up
    [{"field": "staff", "dir": "desc"}],  # empties last going down
    [{"field": "staff", "nulls": "last"}],
    [{"field": "staff", "dir": "desc", "nulls": "first"}],
    [{"field": "city", "dir": "desc"}, {"field": "name", "dir": "desc"}],
    [{"field": "band"}],  # picklist order: hot, warm, cold
    [{"field": "band", "dir": "desc", "nulls": "first"}, {"field": "city"}],
    [{"field": "double", "dir": "desc"}, {"field": "name"}],  # a formula
    [{"field": "parent"}, {"field": "met_at", "dir": "desc", "nulls": "first"}],  # lookup name
    [{"field": "rep", "dir": "desc"}, {"field": "staff", "nulls": "last"}],  # member name
    [
        {"field": "rep"},
        {"field": "band", "dir": "desc"},
        {"field": "city", "nulls": "last"},
        {"field": "staff", "dir": "desc"},
        {"field": "met_at"},
        {"field": "double", "dir": "desc", "nulls": "first"},
    ],  # six keys
    [{"field": "met_at", "nulls": "last"}, {"field": "id", "dir": "desc"}],
    [{"field": "id", "dir": "desc"}, {"field": "staff"}],
    [{"field": "owner_id"}, {"field": "name", "dir": "desc"}],
]


@pytest.mark.parametrize("sort", SORTS, ids=[str(i) for i in range(len(SORTS))])
def test_sort_order_and_paging_both_ways(shop, sort):
    order = expected(shop, sort) if sort else expected(shop, [{"field": "id", "dir": "desc"}])
    response = shop.query(sort=sort, limit=1000, count=False)
    assert [r["name"] for r in response.get_json()["data"]] == order
    limit = 10 if len(sort) % 2 else 7  # pages ending full and part-full
    assert [name for page in pages(shop, limit, sort=sort) for name in page] == order


SORTABLE = [
    "name",
    "city",
    "staff",
    "score",
    "revenue",
    "rate",
    "signed",
    "met_at",
    "vip",
    "band",
    "mail",
    "tel",
    "site",
    "rep",
    "parent",
    "code",
    "double_staff",
    "upper_city",
    "big",
    "day_after",
    "met_copy",
    "owner_id",
    "created_at",
    "updated_by",
]


@pytest.mark.parametrize("field", SORTABLE)
def test_every_sortable_type_pages_like_one_page(world, field):
    """Each field type's sort value makes a cursor that continues exactly where it stopped."""
    for direction in ("asc", "desc"):
        sort = [{"field": field, "dir": direction}]
        whole = world.run(body={"sort": sort, "limit": 100, "count": False}).get_json()["data"]
        seen, cursor = [], None
        while True:
            body = {"sort": sort, "limit": 4, "cursor": cursor, "count": False}
            page = world.run(body=body).get_json()
            seen += page["data"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert [r["id"] for r in seen] == [r["id"] for r in whole], (field, direction)
    values = [r[field] for r in whole]  # descending: empty values last
    assert values[-1] is None or all(v is not None for v in values)


def test_paging_one_at_a_time_with_a_filter(shop):
    sort = [{"field": "city", "nulls": "last"}, {"field": "staff", "dir": "desc"}]
    where = {"field": "band", "op": "eq", "value": "hot"}
    records = [r for r in shop.records if r["band"] == "hot"]
    walked = [name for page in pages(shop, 1, sort=sort, filter=where) for name in page]
    assert walked == expected(shop, sort, records)


def test_paging_over_http_both_forms(shop):
    base = f"/api/v1/t/{shop.slug}/records/account"
    order = expected(shop, [{"field": "staff", "dir": "desc"}, {"field": "city"}])
    seen, cursor = [], None
    while True:
        args = {"sort": "-staff,city", "limit": 10, **({"cursor": cursor} if cursor else {})}
        page = shop.client.get(base, query_string=args).get_json()
        seen += [r["name"] for r in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == order
    body = {"sort": [{"field": "staff", "dir": "desc"}, {"field": "city"}], "limit": 10}
    page = shop.client.post(f"{base}/query", json=body).get_json()
    assert [r["name"] for r in page["data"]] == order[:10] and page["count"] == 43
    second = shop.client.post(f"{base}/query", json={**body, "cursor": page["next_cursor"]})
    assert [r["name"] for r in second.get_json()["data"]] == order[10:20]


def test_url_sort_with_nulls(shop):
    def names(sort: str) -> list[str]:
        args = [("sort", sort), ("limit", "1000"), ("count", "false")]
        response = run_direct(shop.app, shop.tenant_id, shop.owner, "account", args=args)
        assert response.status_code == 200, response.get_json()
        return [r["name"] for r in response.get_json()["data"]]

    assert names("-staff:nulls_first,name") == expected(
        shop, [{"field": "staff", "dir": "desc", "nulls": "first"}, {"field": "name"}]
    )
    assert names("staff:nulls_last") == expected(shop, [{"field": "staff", "nulls": "last"}])
    assert names(" band , -city ") == expected(
        shop, [{"field": "band"}, {"field": "city", "dir": "desc"}]
    )


# ---- cursors that do not fit -------------------------------------------------------------------


def test_cursor_of_another_query_is_refused(shop):
    sort = [{"field": "staff"}]
    first = shop.query(sort=sort, limit=5).get_json()
    cursor = first["next_cursor"]
    assert shop.query(sort=sort, limit=5, cursor=cursor).status_code == 200
    assert shop.query(sort=sort, limit=9, cursor=cursor).status_code == 200  # another page size
    for other in (
        {"sort": sort, "filter": {"field": "staff", "op": "gt", "value": 1}},
        {"sort": [{"field": "staff", "dir": "desc"}]},
        {"sort": [{"field": "staff", "nulls": "last"}]},
        {"sort": [{"field": "city"}]},
        {"sort": sort, "q": "r0"},
    ):
        response = shop.query(limit=5, cursor=cursor, **other)
        assert response.status_code == 400, other
        assert list(response.get_json()["errors"]) == ["cursor"]
    contacts = run_direct(
        shop.app, shop.tenant_id, shop.owner, "contact", body={"sort": sort, "cursor": cursor}
    )
    assert contacts.status_code == 400  # staff is no contact field; and the cursor is not its


@pytest.mark.parametrize(
    "cursor",
    ["x", "eyJmIjoiYSJ9", "a.b", "\u00e9\u00e9", "..", "0" * 300, "eyJ9.Zm9v.YmFy"],
)
def test_garbage_cursors_are_400(shop, cursor):
    response = shop.query(cursor=cursor)
    assert response.status_code == 400
    assert list(response.get_json()["errors"]) == ["cursor"]


def test_tampered_cursor_is_400(shop):
    cursor = shop.query(limit=5).get_json()["next_cursor"]
    payload, _dot, signature = cursor.rpartition(".")
    for tampered in (
        payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + signature,
        payload + "." + signature[::-1],
        cursor + "x",
        cursor[1:],
    ):
        response = shop.query(limit=5, cursor=tampered)
        assert response.status_code == 400, tampered
        assert list(response.get_json()["errors"]) == ["cursor"]
    response = shop.client.get(
        f"/api/v1/t/{shop.slug}/records/account", query_string={"cursor": cursor + "x"}
    )
    assert response.status_code == 400 and "cursor" in response.get_json()["errors"]


def test_well_signed_but_wrong_cursors_are_400(app, shop):
    """Cursors we signed ourselves but with a wrong shape (defence in depth)."""
    from saas.errors import DomainError

    with app.test_request_context():
        serializer = engine._serializer()
        for payload in (
            {"f": "x", "d": "n", "v": []},
            [],
            "text",
            {"f": None, "d": "n"},
        ):
            token = serializer.dumps(payload)
            with pytest.raises(DomainError):
                engine._read_cursor(token, "x", 1)
        for values in ([["n", "abc"]], [["t", "yesterday"]], [["?", 1]], [[1]], [["i"]], [5]):
            token = serializer.dumps({"f": "x", "d": "n", "v": values})
            with pytest.raises(DomainError) as caught:
                engine._read_cursor(token, "x", 1)
            assert caught.value.errors == {
                "cursor": ["This cursor is not valid; start from the first page."]
            }


# ---- counts ------------------------------------------------------------------------------------


def test_count_is_exact_and_can_be_skipped(shop):
    body = shop.query(limit=5).get_json()
    assert (body["count"], body["count_exact"]) == (43, True)
    where = {"field": "staff", "op": "is_empty"}
    body = shop.query(limit=5, filter=where).get_json()
    assert body["count"] == sum(1 for r in shop.records if r["staff"] is None)
    body = shop.query(limit=5, count=False).get_json()
    assert body["count"] is None
    response = run_direct(
        shop.app, shop.tenant_id, shop.owner, "account", args=[("count", "false")]
    )
    assert response.get_json()["count"] is None


@pytest.fixture(scope="module")
def big(app):
    """A company with 10,001 accounts, made in one statement."""
    tenant_id, slug, owner, token = signup(app, "Big")
    run_sql(
        app,
        tenant_id,
        "INSERT INTO accounts (tenant_id, name, owner_id, created_by, updated_by, version, data)"
        " SELECT :tenant, 'n' || g, :owner, :owner, :owner, 1,"
        " jsonb_build_object('staff', g % 100)"
        " FROM generate_series(1, 10001) AS g",
        tenant=tenant_id,
        owner=owner,
    )
    client = TokenClient(app, token)
    response = client.post(
        f"/api/v1/t/{slug}/objects/account/fields",
        json={"key": "staff", "type": "integer", "label": "Staff"},
    )
    assert response.status_code == 201
    return slug, client


def test_count_is_capped_beyond_ten_thousand(big):
    slug, client = big
    body = client.post(f"/api/v1/t/{slug}/records/account/query", json={"limit": 3}).get_json()
    assert (body["count"], body["count_exact"]) == (10_000, False)
    assert [r["name"] for r in body["data"]] == ["n10001", "n10000", "n9999"]
    body = client.get(f"/api/v1/t/{slug}/records/account", query_string={"limit": 1}).get_json()
    assert (body["count"], body["count_exact"]) == (10_000, False)
    where = {"field": "staff", "op": "lt", "value": 3}  # 3 in every 100: 301
    body = client.post(
        f"/api/v1/t/{slug}/records/account/query", json={"limit": 1, "filter": where}
    ).get_json()
    assert (body["count"], body["count_exact"]) == (301, True)


def test_statement_timeout_is_a_clear_422(app, big, monkeypatch):
    slug, client = big
    monkeypatch.setitem(app.config, "QUERY_TIMEOUT_MS", 1)
    body = {
        "sort": [{"field": "staff", "dir": "desc"}, {"field": "name"}],
        "filter": {"field": "name", "op": "contains", "value": "1"},
    }
    response = client.post(f"/api/v1/t/{slug}/records/account/query", json=body)
    assert response.status_code == 422, response.get_json()
    assert "too long" in response.get_json()["message"]
    monkeypatch.setitem(app.config, "QUERY_TIMEOUT_MS", 10_000)
    response = client.post(f"/api/v1/t/{slug}/records/account/query", json=body)
    assert response.status_code == 200  # the next request is fine


# ---- limits: 400 naming what is too big ----------------------------------------------------------


def _error(response: Any) -> str:
    body = response.get_json()
    assert response.status_code == 400, body
    (key,) = body["errors"]
    return key


def test_limits_over_http(shop):
    base = f"/api/v1/t/{shop.slug}/records/account"

    def post(**body: Any) -> Any:
        return shop.client.post(f"{base}/query", json=body)

    assert post(limit=1000).status_code == 200
    assert _error(post(limit=1001)) == "limit"
    assert _error(post(limit=0)) == "limit"
    assert _error(post(limit=-5)) == "limit"
    assert _error(shop.client.get(base, query_string={"limit": 1001})) == "limit"
    assert _error(shop.client.get(base, query_string={"limit": "many"})) == "limit"
    assert shop.client.get(base, query_string={"limit": 1000}).status_code == 200
    seven = [{"field": f} for f in ("name", "staff", "city", "band", "met_at", "rep", "parent")]
    assert post(sort=seven[:6]).status_code == 200
    assert _error(post(sort=seven)) == "sort"
    assert (
        _error(shop.client.get(base, query_string={"sort": "name,staff,city,band,met_at,rep,id"}))
        == "sort"
    )
    assert _error(post(sort=[{"field": "staff"}, {"field": "staff", "dir": "desc"}])) == "sort"
    assert _error(post(sort=[{"field": "staff", "dir": "up"}])) == "sort"
    assert _error(post(sort=[{"field": "staff", "nulls": "middle"}])) == "sort"
    assert _error(post(sort=[{"field": "staff", "order": "asc"}])) == "sort"
    assert _error(post(sort={"field": "staff"})) == "sort"
    assert _error(post(sort=[["staff", "desc"]])) == "sort"
    assert _error(post(sort="staff:nulls_middle")) == "sort"
    by_text = post(sort="-staff:nulls_first,name", limit=1000).get_json()["data"]
    by_list = post(
        sort=[{"field": "staff", "dir": "desc", "nulls": "first"}, {"field": "name"}], limit=1000
    ).get_json()["data"]
    assert by_text == by_list  # the text form is accepted in JSON too
    assert _error(post(sort=[{"field": "nope"}])) == "sort"
    for unsortable in ("notes", "regions", "tags"):
        response = post(sort=[{"field": unsortable}])
        assert _error(response) == "sort"
        assert unsortable in response.get_json()["message"]
    in_list = {"field": "staff", "op": "in", "value": list(range(501))}
    response = post(filter=in_list)
    assert _error(response) == "filter" and "staff" in response.get_json()["message"]
    assert post(filter={**in_list, "value": list(range(500))}).status_code == 200
    deep: Any = {"field": "staff", "op": "eq", "value": 1}
    for _level in range(7):
        deep = {"not": deep}
    assert _error(post(filter=deep)) == "filter"
    many = {"or": [{"field": "staff", "op": "eq", "value": i} for i in range(51)]}
    assert _error(post(filter=many)) == "filter"
    items = [("f", f"staff:eq:{i}") for i in range(51)]
    assert _error(shop.client.get(base, query_string=items)) == "filter"
    assert _error(post(unknown=1)) == "unknown"
    assert _error(post(count="yes")) in ("count",)
    assert _error(post(q="x" * 101)) == "q"
    assert _error(post(q="nul\u0000")) == "q"
    assert _error(shop.client.get(base, query_string={"q": "a\u0000"})) == "q"
