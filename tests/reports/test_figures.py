"""Every figure of a report against an independent computation over the same records (the
generated values, grouped in Python with zoneinfo), and every group's drill-down against the
list: the list with the drill filter counts exactly the group's records."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from custom_fields.reports.engine import OTHERS, Result
from tests.reports.world import ZONES, World, expected, percent, same, walk

ALL_AGGREGATES = [
    {"fn": "count"},
    {"fn": "count", "field": "staff"},
    {"fn": "count_distinct", "field": "city", "percent_of_total": True},
    {"fn": "sum", "field": "revenue", "percent_of_total": True},
    {"fn": "sum", "field": "staff", "percent_of_total": True},
    {"fn": "avg", "field": "score"},
    {"fn": "avg", "field": "revenue"},
    {"fn": "min", "field": "staff"},
    {"fn": "max", "field": "score"},
    {"fn": "min", "field": "met_at"},
    {"fn": "max", "field": "signed"},
    {"fn": "max", "field": "revenue"},
    {"fn": "weighted_sum", "field": "revenue", "weight": "rate"},
]


def key_of(aggregate: dict[str, Any]) -> str:
    parts = [aggregate["fn"], *(p for p in (aggregate.get("field"), aggregate.get("weight")) if p)]
    return aggregate.get("key") or "_".join(parts).replace(".", "__")


def collected(result: Result) -> dict[tuple[tuple[Any, ...], tuple[Any, ...]], Any]:
    got: dict[tuple[tuple[Any, ...], tuple[Any, ...]], Any] = {((), ()): result.total}
    for path, node in walk(result.rows):
        got[(path, ())] = node
    for path, node in walk(result.columns):
        got[((), path)] = node
    for cell in result.cells:
        got[(cell.row, cell.column)] = cell
    return got


def check(
    world: World,
    spec: dict[str, Any],
    *,
    timezone: str,
    person: str = "owner",
    scoped: bool = False,
    drill: bool = True,
) -> Result:
    """Run ``spec`` and compare every group, subtotal, cell and the total with Python."""
    result = world.run(spec, person, timezone=timezone)
    assert isinstance(result, Result), getattr(result, "errors", result)
    records = world.visible(person, scoped)
    aggregates = spec.get("aggregates") or [{"fn": "count"}]
    want = expected(
        world,
        records,
        spec["groups"],
        aggregates,
        timezone,
        spec.get("column_groups"),
        person=person,
        scoped=scoped,
    )
    got = collected(result)
    assert set(got) == set(want), set(got) ^ set(want)
    total = want[((), ())]
    for key, node in got.items():
        figures = want[key]
        assert node.count == figures["_n"], key
        for aggregate in aggregates:
            name = key_of(aggregate)
            assert same(node.values[name], figures[name]), (key, name, node.values[name])
            if aggregate.get("percent_of_total"):
                if isinstance(figures[name], dict):
                    share = {c: percent(v, total[name].get(c)) for c, v in figures[name].items()}
                else:
                    share = percent(figures[name], total[name])
                assert same(node.percents[name], share), (key, name)
        if drill:
            assert world.drill_count(node.drill, person) == node.count, (key, node.drill)
    return result


def summary(*levels: dict[str, Any], aggregates=None, **extra: Any) -> dict[str, Any]:
    body = {"object": "account", "type": "summary", "groups": list(levels), **extra}
    if aggregates is not None:
        body["aggregates"] = aggregates
    return body


# ---- one level of every groupable kind --------------------------------------------------------

PLAIN_LEVELS = [
    {"field": "band"},
    {"field": "city"},
    {"field": "staff"},
    {"field": "score"},
    {"field": "rate"},
    {"field": "vip"},
    {"field": "rep"},
    {"field": "owner_id"},
    {"field": "parent"},
    {"field": "parent.band"},
    {"field": "parent.city"},
]


@pytest.mark.parametrize("level", PLAIN_LEVELS, ids=lambda level: level["field"])
def test_one_level_of_each_kind(world, level):
    aggregates = [{"fn": "count"}, {"fn": "sum", "field": "revenue", "percent_of_total": True}]
    check(world, summary(level, aggregates=aggregates), timezone="UTC")


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("granularity", ["day", "week", "month", "quarter", "year"])
def test_moments_by_period_in_each_time_zone(world, zone, granularity):
    spec = summary(
        {"field": "met_at", "granularity": granularity},
        aggregates=[{"fn": "count", "percent_of_total": True}, {"fn": "sum", "field": "staff"}],
    )
    result = check(world, spec, timezone=zone)
    assert all(isinstance(node.key, (dt.date, type(None))) for node in result.rows)


@pytest.mark.parametrize("granularity", ["day", "week", "month", "quarter", "year"])
def test_dates_by_period(world, granularity):
    # A date is a calendar day: the zone does not move it.
    spec = summary({"field": "signed", "granularity": granularity})
    first = check(world, spec, timezone="Asia/Shanghai")
    second = world.run(spec, timezone="America/Los_Angeles")
    assert [(n.key, n.count) for n in first.rows] == [(n.key, n.count) for n in second.rows]


def test_zones_move_records_across_days_months_quarters_and_years(world):
    # The edges were chosen so that the zone changes the answer: the test would catch UTC.
    by_zone = {
        zone: {
            n.key: n.count
            for n in world.run(
                summary({"field": "met_at", "granularity": "quarter"}), timezone=zone
            ).rows
        }
        for zone in ZONES
    }
    assert len({tuple(sorted(counts.items(), key=str)) for counts in by_zone.values()}) == 3
    # 2026-03-31T16:00Z is April 1 (Q2) in Shanghai but March 31 (Q1) in UTC and LA.
    spec = summary({"field": "met_at", "granularity": "day"})
    shanghai = world.run(spec, timezone="Asia/Shanghai")
    assert shanghai.find(dt.date(2026, 4, 1)) is not None


def test_daylight_saving_days_in_los_angeles(world):
    spec = summary({"field": "met_at", "granularity": "day"})
    result = check(world, spec, timezone="America/Los_Angeles")
    # The 25-hour day: 01:30 PDT and 01:30 PST are both November 1.
    nov1 = result.find(dt.date(2026, 11, 1))
    assert nov1 is not None
    edge = [
        r
        for r in world.visible()
        if r["data"].get("met_at") in ("2026-11-01T08:30:00Z", "2026-11-01T09:30:00Z")
    ]
    assert nov1.count >= len(edge) > 0
    assert nov1.drill["and"][0]["value"] == "2026-11-01T00:00:00-07:00"
    assert nov1.drill["and"][1]["value"] == "2026-11-02T00:00:00-08:00"


def test_created_at_by_month(world):
    check(world, summary({"field": "created_at", "granularity": "month"}), timezone="Asia/Shanghai")


# ---- aggregates ---------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/Los_Angeles"])
def test_every_aggregate_per_group_with_shares(world, zone):
    spec = summary({"field": "band"}, {"field": "vip"}, aggregates=ALL_AGGREGATES)
    result = check(world, spec, timezone=zone)
    # Amounts in CNY and USD are summed apart, never added together.
    assert set(result.total.values["sum_revenue"]) == {"CNY", "USD"}
    assert set(result.total.percents["sum_revenue"]) == {"CNY", "USD"}
    assert "count" not in result.total.percents  # no share asked for the plain count
    assert result.total.percents["sum_staff"] == Decimal("100.00")


def test_three_levels(world):
    spec = summary(
        {"field": "band"},
        {"field": "met_at", "granularity": "quarter"},
        {"field": "vip"},
        aggregates=[{"fn": "count"}, {"fn": "avg", "field": "staff"}],
    )
    result = check(world, spec, timezone="America/Los_Angeles")
    assert all(len(path) <= 3 for path, _node in walk(result.rows))
    assert any(len(path) == 3 for path, _node in walk(result.rows))


def test_lookup_hop_grouped_twice(world):
    spec = summary(
        {"field": "parent.band"},
        {"field": "parent.met_at", "granularity": "month"},
        aggregates=[{"fn": "count"}, {"fn": "sum", "field": "staff"}],
    )
    check(world, spec, timezone="Asia/Shanghai")


def test_filtered_report_counts_what_the_list_shows(world):
    where = {
        "conditions": [
            {"field": "band", "op": "in", "value": ["A", "B"]},
            {"field": "staff", "op": "gte", "value": 1},
            {"field": "city", "op": "is_empty"},
        ],
        "logic": "1 AND (2 OR 3)",
    }
    spec = summary({"field": "band"}, {"field": "city"}, filter=where)
    result = world.run(spec, timezone="UTC")
    assert result.total.count == world.drill_count(result.total.drill)
    chosen = [
        r
        for r in world.visible()
        if r["data"].get("band") in ("A", "B")
        and (r["data"].get("staff", -99) >= 1 or r["data"].get("city") is None)
    ]
    assert result.total.count == len(chosen) > 0
    for _path, node in walk(result.rows):
        assert world.drill_count(node.drill) == node.count
        # the drill keeps the numbered logic's meaning, written as a tree
        assert node.drill["and"][0] == {"field": "band", "op": "in", "value": ["A", "B"]}


# ---- empty values -------------------------------------------------------------------------------


def test_empty_values_form_their_own_group_apart_from_zero(world):
    result = check(world, summary({"field": "staff"}), timezone="UTC")
    zero, empty = result.find(0), result.find(None)
    assert zero is not None and empty is not None
    assert zero.label == "0" and empty.label == "(empty)"
    assert zero.drill == {"field": "staff", "op": "eq", "value": 0}
    assert empty.drill == {"field": "staff", "op": "is_empty"}
    assert [n.key for n in result.rows][-1] is None  # the empty group comes last


def test_no_records(world):
    spec = summary(
        {"field": "band"},
        filter={"field": "name", "op": "eq", "value": "nobody"},
        aggregates=[
            {"fn": "count"},
            {"fn": "sum", "field": "revenue"},
            {"fn": "avg", "field": "staff"},
        ],
    )
    result = world.run(spec, timezone="UTC")
    assert result.rows == []
    assert result.total.count == 0
    assert result.total.values == {"count": 0, "sum_revenue": {}, "avg_staff": None}


# ---- matrix -------------------------------------------------------------------------------------


def test_matrix_cells_and_totals(world):
    spec = {
        "object": "account",
        "type": "matrix",
        "groups": [{"field": "band"}],
        "column_groups": [{"field": "met_at", "granularity": "quarter"}],
        "aggregates": [
            {"fn": "count", "percent_of_total": True},
            {"fn": "sum", "field": "revenue", "percent_of_total": True},
        ],
    }
    result = check(world, spec, timezone="Asia/Shanghai")
    for row in result.rows:  # a row's total is the sum of its cells
        assert row.count == sum(c.count for c in result.cells if c.row == (row.key,))
    for column in result.columns:
        assert column.count == sum(c.count for c in result.cells if c.column == (column.key,))


def test_matrix_two_by_two(world):
    spec = {
        "object": "account",
        "type": "matrix",
        "groups": [{"field": "band"}, {"field": "vip"}],
        "column_groups": [{"field": "owner_id"}, {"field": "signed", "granularity": "year"}],
        "aggregates": [{"fn": "count"}, {"fn": "max", "field": "staff"}],
    }
    result = check(world, spec, timezone="UTC")
    assert any(len(c.row) == 1 and len(c.column) == 2 for c in result.cells)  # subtotal cells


# ---- sorting and top N --------------------------------------------------------------------------


def test_sort_by_key_follows_the_picklist_order(world):
    ascending = world.run(summary({"field": "band"}), timezone="UTC")
    assert [n.key for n in ascending.rows] == ["A", "B", "C", None]
    descending = world.run(summary({"field": "band", "dir": "desc"}), timezone="UTC")
    assert [n.key for n in descending.rows] == ["C", "B", "A", None]


def test_sort_by_an_aggregate(world):
    spec = summary(
        {"field": "city", "sort": "sum_staff", "dir": "desc"},
        aggregates=[{"fn": "count"}, {"fn": "sum", "field": "staff"}],
    )
    result = check(world, spec, timezone="UTC")
    sums = [n.values["sum_staff"] for n in result.rows if n.values["sum_staff"] is not None]
    assert sums == sorted(sums, reverse=True) and len(sums) > 2


def test_sort_by_a_currency_aggregate_uses_the_company_currency(world):
    spec = summary(
        {"field": "city", "sort": "sum_revenue"}, aggregates=[{"fn": "sum", "field": "revenue"}]
    )
    result = world.run(spec, timezone="UTC")
    cny = [n.values["sum_revenue"].get("CNY") for n in result.rows]
    present = [v for v in cny if v is not None]
    assert present == sorted(present)
    assert cny[: len(present)] == present  # groups without CNY come after


@pytest.mark.parametrize("others", [True, False])
def test_top_n_with_or_without_others(world, others):
    aggregates = [{"fn": "count"}, {"fn": "sum", "field": "revenue", "percent_of_total": True}]
    spec = summary(
        {"field": "city", "sort": "count", "dir": "desc", "top": 2, "others": others},
        {"field": "band"},
        aggregates=aggregates,
    )
    result = world.run(spec, timezone="UTC")
    records = world.visible()
    want = expected(world, records, spec["groups"], aggregates, "UTC")
    ranked = sorted(
        ((k[0][0], f["_n"]) for k, f in want.items() if len(k[0]) == 1),
        key=lambda item: (-item[1], (item[0] is None, item[0] or "")),
    )
    tops = [key for key, _n in ranked[:2]]
    assert [n.key for n in result.rows if not n.others] == tops
    assert result.total.count == len(records)  # totals always cover every record
    rest = [
        r
        for r in records
        if (r["data"]["city"].lower() if "city" in r["data"] else None) not in tops
    ]
    other = result.find(OTHERS)
    if not others:
        assert other is None
        return
    assert other.label == "Others" and other.count == len(rest)
    assert world.drill_count(other.drill) == other.count
    inside = expected(world, rest, [{"field": "band"}], aggregates, "UTC")
    assert same(other.values["sum_revenue"], inside[((), ())]["sum_revenue"])
    for child in other.children:
        assert child.count == inside[((child.key,), ())]["_n"]
        assert world.drill_count(child.drill) == child.count


def test_top_n_may_hold_the_empty_group(world):
    spec = summary({"field": "vip", "sort": "count", "dir": "asc", "top": 1})
    result = world.run(spec, timezone="UTC")
    counts = {}
    for record in world.visible():
        key = record["data"].get("vip")
        counts[key] = counts.get(key, 0) + 1
    smallest = min(counts, key=lambda k: (counts[k], k is None, k))
    assert result.rows[0].key == smallest
    other = result.find(OTHERS)
    assert other.count == len(world.visible()) - counts[smallest]
    assert world.drill_count(other.drill) == other.count


# ---- labels -------------------------------------------------------------------------------------


def test_labels_in_english_and_chinese(world):
    spec = summary({"field": "met_at", "granularity": "quarter"}, {"field": "vip"})
    english = world.run(spec, timezone="UTC", locale="en")
    chinese = world.run(spec, timezone="UTC", locale="zh_CN")
    assert english.find(dt.date(2026, 10, 1)).label == "2026 Q4"
    assert chinese.find(dt.date(2026, 10, 1)).label == "2026年第4季度"
    assert chinese.find(dt.date(2026, 10, 1), True).label == "是"
    months = world.run(summary({"field": "met_at", "granularity": "month"}), locale="zh_CN")
    assert months.find(dt.date(2026, 11, 1)).label == "2026年11月"
    weeks = world.run(summary({"field": "signed", "granularity": "week"}), locale="en")
    assert weeks.find(dt.date(2026, 6, 29)).label == "2026-W27"
    assert weeks.find(dt.date(2025, 12, 29)).label == "2026-W01"  # the ISO year
    people = world.run(summary({"field": "owner_id"}))
    assert {n.label for n in people.rows} >= {"Rep sales", "Rep sales2"}
    bands = world.run(summary({"field": "band"}), locale="en")
    assert bands.find(None).label == "(empty)"
    json_form = bands.to_json()
    assert json_form["groups"][0]["label"] == "Band"
    assert json_form["rows"][0]["key"] == "A"
