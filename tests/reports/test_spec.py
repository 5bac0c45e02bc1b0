"""The definition format: what the schema accepts, the errors it names, and that a definition
dumps to JSON and loads back unchanged (what storing definitions will rely on)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custom_fields.reports import spec as specs
from saas.errors import ValidationFailed


def load(raw: Any) -> specs.ReportSpec:
    return specs.load(raw)


def errors(raw: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as caught:
        specs.load(raw)
    return caught.value.errors


def test_a_full_definition_loads(app):
    with app.test_request_context():
        loaded = load(
            {
                "object": "opportunity",
                "type": "summary",
                "filter": {"conditions": [{"field": "stage", "op": "ne", "value": "lost"}]},
                "groups": [
                    {"field": "stage", "sort": "sum_amount", "dir": "desc", "top": 3},
                    {"field": "account.industry"},
                    {"field": "expected_close", "granularity": "quarter"},
                ],
                "aggregates": [
                    {"fn": "count"},
                    {"fn": "sum", "field": "amount", "percent_of_total": True},
                    {"fn": "weighted_sum", "field": "amount", "weight": "probability"},
                    {"fn": "max", "field": "account.founded", "key": "newest"},
                ],
                "chart": {"type": "funnel", "aggregate": "sum_amount"},
            }
        )
    assert loaded.groups[0] == specs.Grouping("stage", None, "sum_amount", True, 3, True)
    assert [a.key for a in loaded.aggregates] == [
        "count",
        "sum_amount",
        "weighted_sum_amount_probability",
        "newest",
    ]
    assert loaded.aggregate("newest").field == "account.founded"
    assert loaded.chart == specs.Chart("funnel", "sum_amount")
    assert specs.load(specs.dump(loaded)) == loaded


def test_defaults(app):
    with app.test_request_context():
        loaded = load({"object": "account", "type": "summary", "groups": [{"field": "grade"}]})
    assert loaded.version == 1
    assert loaded.aggregates == (specs.Aggregate("count", key="count"),)
    assert loaded.groups[0] == specs.Grouping("grade")
    assert specs.dump(loaded) == {
        "version": 1,
        "object": "account",
        "type": "summary",
        "groups": [{"field": "grade"}],
        "aggregates": [{"fn": "count"}],
    }


@pytest.mark.parametrize(
    ("raw", "key", "text"),
    [
        ([], "spec", "object"),
        ({"type": "summary", "groups": [{"field": "a"}]}, "object", "Required"),
        ({"object": "a1", "type": "pivot"}, "type", "tabular"),
        (
            {"object": "a1", "type": "summary", "colour": 1, "groups": [{"field": "a"}]},
            "colour",
            "Unknown",
        ),
        ({"object": "a1", "type": "summary", "groups": []}, "groups", "From 1 to 3"),
        (
            {"object": "a1", "type": "summary", "groups": [{"field": "a"}] * 4},
            "groups",
            "From 1 to 3",
        ),
        (
            {"object": "a1", "type": "matrix", "groups": [{"field": "a"}]},
            "column_groups",
            "From 1 to 2",
        ),
        (
            {"object": "a1", "type": "summary", "groups": [{"field": "a"}, {"field": "B!"}]},
            "groups[1].field",
            "field",
        ),
        (
            {
                "object": "a1",
                "type": "summary",
                "groups": [{"field": "a", "granularity": "decade"}],
            },
            "groups[0].granularity",
            "month",
        ),
        (
            {"object": "a1", "type": "summary", "groups": [{"field": "a", "sort": "sum_x"}]},
            "groups[0].sort",
            "aggregate",
        ),
        (
            {
                "object": "a1",
                "type": "summary",
                "groups": [{"field": "a"}, {"field": "b", "sort": "count", "top": 2}],
            },
            "groups[1].top",
            "first row group",
        ),
        (
            {"object": "a1", "type": "summary", "groups": [{"field": "a", "top": 2}]},
            "groups[0].top",
            "aggregate",
        ),
        (
            {
                "object": "a1",
                "type": "summary",
                "groups": [{"field": "a", "top": 0, "sort": "count"}],
            },
            "groups[0].top",
            "From 1 to 100",
        ),
        (
            {
                "object": "a1",
                "type": "summary",
                "groups": [{"field": "a"}],
                "aggregates": [{"fn": "sum"}],
            },
            "aggregates[0].field",
            "Name the field",
        ),
        (
            {
                "object": "a1",
                "type": "summary",
                "groups": [{"field": "a"}],
                "aggregates": [{"fn": "avg", "field": "x", "percent_of_total": True}],
            },
            "aggregates[0].percent_of_total",
            "counts and sums",
        ),
        (
            {
                "object": "a1",
                "type": "summary",
                "groups": [{"field": "a"}],
                "aggregates": [{"fn": "weighted_sum", "field": "x"}],
            },
            "aggregates[0].weight",
            "weighs",
        ),
        (
            {
                "object": "a1",
                "type": "summary",
                "groups": [{"field": "a"}],
                "aggregates": [{"fn": "count"}, {"fn": "count"}],
            },
            "aggregates[1].key",
            "Another aggregate",
        ),
        (
            {
                "object": "a1",
                "type": "summary",
                "groups": [{"field": "a"}],
                "chart": {"type": "pie", "aggregate": "sum_x"},
            },
            "chart.aggregate",
            "aggregates",
        ),
        (
            {
                "object": "a1",
                "type": "summary",
                "groups": [{"field": "a"}],
                "chart": {"type": "radar"},
            },
            "chart.type",
            "funnel",
        ),
        ({"object": "a1", "type": "tabular"}, "columns", "at least one"),
        (
            {"object": "a1", "type": "tabular", "columns": ["a"], "groups": [{"field": "a"}]},
            "groups",
            "no groups",
        ),
        (
            {"object": "a1", "type": "tabular", "columns": ["a"], "sort": [{"field": 1}]},
            "sort",
            "sort[0]",
        ),
        (
            {
                "object": "a1",
                "type": "summary",
                "groups": [{"field": "a"}],
                "filter": {"conditions": [{"field": "a", "op": "eq"}], "logic": "1 OR"},
            },
            "filter.logic",
            "ends too early",
        ),
        (
            {"object": "a1", "type": "summary", "groups": [{"field": "a"}], "filter": {"and": 3}},
            "filter",
            "takes a list",
        ),
        (
            {"object": "a1", "type": "summary", "groups": [{"field": "a"}], "version": 2},
            "version",
            "1",
        ),
    ],
)
def test_errors_name_the_place(app, raw, key, text):
    with app.test_request_context():
        found = errors(raw)
    assert key in found, found
    assert any(text in message for message in found[key]), found


def test_an_unknown_key_inside_a_group_is_named(app):
    with app.test_request_context():
        found = errors({"object": "a1", "type": "summary", "groups": [{"field": "a", "x": 1}]})
    assert found == {"groups[0].x": ["Unknown key."]}


PATHS = st.sampled_from(["grade", "amount", "account.industry", "created_at", "owner_id"])
GROUPING = st.builds(
    lambda field, granularity, desc: {
        "field": field,
        **({"granularity": granularity} if granularity else {}),
        **({"dir": "desc"} if desc else {}),
    },
    PATHS,
    st.sampled_from([None, *specs.GRANULARITIES]),
    st.booleans(),
)
AGGREGATE = st.builds(
    lambda fn, field, share: {
        "fn": fn,
        **({"field": field} if fn != "count" or field != "grade" else {}),
        **({"weight": "probability"} if fn == "weighted_sum" else {}),
        **({"percent_of_total": True} if share and fn in specs.ADDITIVE else {}),
    },
    st.sampled_from(specs.FUNCTIONS),
    PATHS,
    st.booleans(),
)


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["summary", "matrix"]),
    groups=st.lists(GROUPING, min_size=1, max_size=2),
    columns=st.lists(GROUPING, min_size=1, max_size=2),
    aggregates=st.lists(AGGREGATE, min_size=1, max_size=4),
)
def test_every_valid_definition_round_trips(app, kind, groups, columns, aggregates):
    raw = {
        "object": "opportunity",
        "type": kind,
        "groups": groups,
        "aggregates": [{**a, "key": f"a{i}"} for i, a in enumerate(aggregates)],
    }
    if kind == "matrix":
        raw["column_groups"] = columns
    with app.test_request_context():
        loaded = specs.load(raw)
        assert specs.load(specs.dump(loaded)) == loaded
