"""Tabular reports: the list's records with any column (one hop included), a page at a time,
with grand totals over every record the filter selects."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency

from custom_fields.reports.engine import Result
from saas.errors import ValidationFailed
from tests.reports.world import expected, same

COLUMNS = ["name", "band", "revenue", "staff", "met_at", "rep", "parent", "parent.band", "vip"]


def spec(**extra):
    return {
        "object": "account",
        "type": "tabular",
        "columns": COLUMNS,
        "sort": [{"field": "name"}],
        "limit": 50,
        "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "revenue"}],
        **extra,
    }


def test_pages_columns_and_totals(world):
    first = world.run(spec(), timezone="Asia/Shanghai", locale="en")
    assert isinstance(first, Result), first
    records = sorted(world.visible(), key=lambda r: r["name"])
    assert [r["id"] for r in first.records] == [r["id"] for r in records[:50]]
    by_id = world.by_id()
    for row in first.records:
        source = by_id[row["id"]]
        data = source["data"]
        values, labels = row["values"], row["labels"]
        assert values["name"] == source["name"]
        assert values["band"] == data.get("band") and labels["band"] == (data.get("band") or "")
        assert values["revenue"] == data.get("revenue")
        assert values["staff"] == data.get("staff")
        assert values["rep"] == data.get("rep")
        parent = by_id.get(data.get("parent"))
        live_parent = parent is not None and parent["id"] not in world.deleted
        assert values["parent"] == data.get("parent")
        if live_parent:
            assert labels["parent"] == parent["name"]
            assert values["parent.band"] == parent["data"].get("band")
        else:
            assert values["parent.band"] is None
        if data.get("rep") == world.people["sales"]:
            assert labels["rep"] == "Rep sales"
        if data.get("revenue"):
            amount, code = Decimal(data["revenue"]["amount"]), data["revenue"]["currency"]
            assert labels["revenue"] == format_currency(amount, code, locale="en")
        else:
            assert labels["revenue"] == ""
    want = expected(world, world.visible(), [], spec()["aggregates"], "UTC")[((), ())]
    assert first.total.count == len(world.visible())
    assert same(first.total.values["sum_revenue"], want["sum_revenue"])
    second = world.run(spec(), timezone="Asia/Shanghai", cursor=first.next_cursor)
    assert [r["id"] for r in second.records] == [r["id"] for r in records[50:100]]
    body = first.to_json()
    assert body["columns"][7]["label"] == "Parent › Band"
    assert body["next_cursor"] == first.next_cursor


def test_filter_and_scope_apply(scoped):
    world = scoped
    world.scope(member="own")
    result = world.run(spec(filter={"field": "band", "op": "eq", "value": "A"}), "sales")
    mine = [r for r in world.visible("sales", scoped=True) if r["data"].get("band") == "A"]
    assert result.total.count == len(mine)
    mine.sort(key=lambda r: r["name"])
    assert [r["id"] for r in result.records] == [r["id"] for r in mine[:50]]


def test_hidden_column_refused(world):
    refused = world.run({**spec(), "columns": ["name", "secret"]}, "sales")
    assert isinstance(refused, ValidationFailed)
    assert "columns[1]" in refused.errors
    assert isinstance(world.run({**spec(), "columns": ["secret"]}, "owner"), Result)


def test_decimal_totals_are_exact(world):
    result = world.run(
        {**spec(), "aggregates": [{"fn": "sum", "field": "score"}, {"fn": "avg", "field": "rate"}]}
    )
    scores = [Decimal(r["data"]["score"]) for r in world.visible() if "score" in r["data"]]
    assert result.total.values["sum_score"] == sum(scores, Decimal(0))
