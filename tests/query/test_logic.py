"""Filter trees and numbered conditions with logic text: precedence, nesting, limits, and errors
that say where in the text the problem is."""

from __future__ import annotations

from typing import Any

import pytest

from custom_fields.query.filters import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    Condition,
    Group,
    parse_numbered,
    parse_tree,
    parse_url,
    split_list,
)
from saas.errors import ValidationFailed
from tests.query.world import letters


@pytest.fixture(autouse=True)
def _request(app):
    with app.test_request_context():
        yield


def cond(n: int) -> dict[str, Any]:
    return {"field": f"f{n}", "op": "eq", "value": n}


def shape(node: Any) -> Any:
    """A parsed tree as nested tuples of condition numbers: ``("and", 1, ("or", 2, 3))``."""
    if isinstance(node, Condition):
        return int(node.field[1:])
    assert isinstance(node, Group)
    return (node.op, *(shape(c) for c in node.children))


def logic(text: str, n: int = 3) -> Any:
    return shape(parse_numbered([cond(i) for i in range(1, n + 1)], text))


def logic_error(text: str, n: int = 3) -> str:
    with pytest.raises(ValidationFailed) as caught:
        parse_numbered([cond(i) for i in range(1, n + 1)], text)
    assert list(caught.value.errors) == ["logic"]
    return caught.value.errors["logic"][0]


# ---- precedence --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("1 AND (2 OR NOT 3)", ("and", 1, ("or", 2, ("not", 3)))),
        ("1 OR 2 AND 3", ("or", 1, ("and", 2, 3))),  # AND binds tighter than OR
        ("1 AND 2 OR 3", ("or", ("and", 1, 2), 3)),
        ("(1 OR 2) AND 3", ("and", ("or", 1, 2), 3)),
        ("NOT 1 AND 2 OR 3", ("or", ("and", ("not", 1), 2), 3)),  # NOT binds tightest
        ("NOT (1 OR 2) AND 3", ("and", ("not", ("or", 1, 2)), 3)),
        ("NOT NOT 1 OR 2 OR 3", ("or", ("not", ("not", 1)), 2, 3)),
        ("1 and 2 or not 3", ("or", ("and", 1, 2), ("not", 3))),  # any case
        ("(1)AND(2)OR(3)", ("or", ("and", 1, 2), 3)),
        ("  1\tAND\n2 AND 3  ", ("and", 1, 2, 3)),
        ("((1 AND 2)) OR 3", ("or", ("and", 1, 2), 3)),
        ("1 OR 1 OR 2 AND 3", ("or", 1, 1, ("and", 2, 3))),  # a number may be used twice
        (None, ("and", 1, 2, 3)),  # no logic: all conditions hold
        ("", ("and", 1, 2, 3)),
        ("   ", ("and", 1, 2, 3)),
    ],
)
def test_logic_precedence(text, expected):
    assert logic(text) == expected


def test_no_conditions_is_no_filter():
    assert parse_numbered([], None) is None
    assert parse_tree({"conditions": []}) is None


# ---- errors with their position ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text,message",
    [
        ("1 AND 4", "There is no condition 4 (at character 7)"),
        ("0 OR 1 AND 2 AND 3", "There is no condition 0 (at character 1)"),
        ("1 AND (2 OR 3", "A “)” is missing (at character 14)"),
        ("(1 AND 2 OR 3", "A “)” is missing (at character 14)"),
        ("((1 AND 2) OR 3", "A “)” is missing (at character 16)"),
        ("(1 2) AND 3", "A “)” is missing (at character 4)"),
        ("1 AND 2) OR 3", "Unexpected “)” (at character 8)"),
        ("1 AND 2 OR 3)", "Unexpected “)” (at character 13)"),
        ("1 AND", "The logic ends too early (at character 6)"),
        ("1 AND 2 OR NOT", "The logic ends too early (at character 15)"),
        ("1 AND AND 2 OR 3", "Expected a condition number, “NOT” or “(” (at character 7)"),
        ("() OR 1 OR 2 OR 3", "Expected a condition number, “NOT” or “(” (at character 2)"),
        ("1 XOR 2 OR 3", "Unexpected “XOR 2 OR 3” (at character 3)"),
        ("1 & 2 & 3", "Unexpected “& 2 & 3” (at character 3)"),
        ("1 AND 2 3", "Unexpected “3” (at character 9)"),
        ("1 AND 2; DROP TABLE x", "Unexpected “; DROP TAB” (at character 8)"),
        ("1 ANDNOT 2", "Unexpected “ANDNOT 2” (at character 3)"),
        ("1 AND 2 OR 3 OR", "The logic ends too early (at character 16)"),
    ],
)
def test_logic_errors_point_at_the_character(text, message):
    assert logic_error(text) == message


def test_unused_condition_is_named():
    assert logic_error("1 AND 3") == "Condition 2 is not used in the logic."
    assert logic_error("1", n=3) == "Condition 2 is not used in the logic."


def test_logic_limits():
    assert "too long" in logic_error("1 AND " * 200 + "1", n=1)
    assert "nested too deeply" in logic_error("(" * 20 + "1" + ")" * 20, n=1)
    assert "nested too deeply" in logic_error("NOT " * 20 + "1", n=1)
    assert logic("(" * 5 + "1" + ")" * 5, n=1) == 1
    with pytest.raises(ValidationFailed) as caught:
        parse_numbered([cond(1)], ["1"])
    assert list(caught.value.errors) == ["logic"]


# ---- JSON trees ----------------------------------------------------------------------------------


def tree_error(raw: Any) -> tuple[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        parse_tree(raw)
    (key, messages), *_ = caught.value.errors.items()
    return key, messages[0]


def test_tree_shapes():
    one, two, three = cond(1), cond(2), cond(3)
    assert parse_tree(None) is None
    assert shape(parse_tree(one)) == 1
    assert shape(parse_tree({"and": [one, {"or": [two, {"not": three}]}]})) == (
        "and",
        1,
        ("or", 2, ("not", 3)),
    )
    assert shape(parse_tree({"or": []})) == ("or",)
    where = parse_tree({"and": [one, {"or": [two, three]}]}).children[1].children[1].where
    assert where == "filter.and[1].or[1]"


@pytest.mark.parametrize(
    "raw,message",
    [
        ("text", "filter: expected a condition or a group."),
        ([cond(1)], "filter: expected a condition or a group."),
        ({"and": cond(1)}, "filter: “and” takes a list."),
        ({"or": "x"}, "filter: “or” takes a list."),
        ({"xor": [cond(1)]}, "filter: unknown key “xor”."),
        ({"and": [cond(1)], "or": []}, "filter: unknown key “and”."),
        ({"field": "a"}, "filter: name an operator."),
        ({"op": "eq"}, "filter: name a field."),
        ({"field": 1, "op": "eq"}, "filter: name a field."),
        ({"field": "a", "op": ""}, "filter: name an operator."),
        ({"field": "a", "op": "eq", "values": 1}, "filter: unknown key “values”."),
        ({"not": [cond(1)]}, "filter.not: expected a condition or a group."),
        (
            {"and": [{"conditions": [cond(1)]}]},
            "filter.and[0]: numbered conditions only at the top.",
        ),
        ({"conditions": "x"}, "“conditions” must be a list."),
        ({"conditions": [cond(1)], "logic": "1", "x": 1}, "Unknown key “x” beside the conditions."),
    ],
)
def test_tree_errors(raw, message):
    assert tree_error(raw) == ("filter", message)


def test_tree_limits():
    node: Any = cond(1)
    for _level in range(MAX_DEPTH):
        node = {"and": [node]}
    assert shape(parse_tree(node)) is not None  # as deep as allowed
    assert tree_error({"not": node}) == (
        "filter",
        f"Filters may be nested at most {MAX_DEPTH} levels deep.",
    )
    deep: Any = cond(1)
    for _level in range(5000):  # far beyond: refused before Python's recursion limit
        deep = {"or": [deep]}
    assert tree_error(deep)[0] == "filter"
    many = {"and": [cond(i) for i in range(MAX_CONDITIONS)]}
    assert len(parse_tree(many).children) == MAX_CONDITIONS
    too_many = {"and": [cond(1), {"or": [cond(i) for i in range(MAX_CONDITIONS)]}]}
    message = f"A filter may have at most {MAX_CONDITIONS} conditions."
    assert tree_error(too_many) == ("filter", message)
    assert tree_error({"conditions": [cond(i) for i in range(MAX_CONDITIONS + 1)]})[0] == "filter"
    # groups count too: many empty groups, or one huge list of them
    assert tree_error({"and": [{"or": []}] * 100})[0] == "filter"
    assert tree_error({"or": [{"and": [{"not": {"and": []}}] * 20}] * 3})[0] == "filter"
    assert tree_error({"and": [{"and": []}] * 100_000})[0] == "filter"
    assert shape(parse_tree({"and": [{"or": [cond(1)]}] * 40})) is not None


# ---- the URL form ------------------------------------------------------------------------------


def test_url_form_parsing():
    parsed = parse_url(["met_at:gte:2024-01-15T10:00:00+08:00", "city:in:a\\,b,c"], "1 OR 2")
    first, second = parsed.children
    assert (first.field, first.op, first.value) == ("met_at", "gte", "2024-01-15T10:00:00+08:00")
    assert second.value == ["a,b", "c"]
    assert parse_url(["city:is_empty"], None).children[0].value is None
    assert parse_url(["city:eq:"], None).children[0].value == ""
    assert split_list("a\\\\,b") == ["a\\", "b"]
    assert split_list("a\\b") == ["a\\b"]
    assert split_list("a\\") == ["a\\"]
    assert split_list(",") == ["", ""]
    assert split_list("x:y,z:w") == ["x:y", "z:w"]
    assert parse_url([], None) is None
    with pytest.raises(ValidationFailed) as caught:
        parse_url(["city"], None)
    assert caught.value.errors == {"filter": ["Filter 1: write field:operator:value."]}
    with pytest.raises(ValidationFailed):
        parse_url(["city:eq:x"] * (MAX_CONDITIONS + 1), None)


# ---- through the API, on real records ----------------------------------------------------------


def test_logic_selects_the_right_records(world):
    c1 = {"field": "city", "op": "contains", "value": "shanghai"}  # A B
    c2 = {"field": "band", "op": "eq", "value": "B"}  # B
    c3 = {"field": "vip", "op": "eq", "value": True}  # A (D, E, F have no value)
    c4 = {"field": "staff", "op": "gt", "value": 0}  # A B E (F has no value)

    def run(text: str | None, *conditions: dict[str, Any]) -> str:
        body = {"filter": {"conditions": list(conditions), "logic": text}, "count": False}
        return letters(world.run(body=body))

    assert run("1 AND (2 OR NOT 3) AND 4", c1, c2, c3, c4) == "B"
    assert run("1 AND 2 OR 3 AND 4", c1, c2, c3, c4) == "AB"
    assert run(None, c1, c2, c3, c4) == ""  # all four at once
    assert run(None, c1, c4) == "AB"
    # NOT is the complement: records whose value is empty are "not VIP" too
    assert run("NOT 1", c3) == "BCDEF"
    assert run("NOT 1 AND 2", c1, c4) == "E"
    assert run("NOT (1 OR 2) AND NOT 3", c1, c4, c3) == "CDF"
    assert run("NOT (1 AND 2)", c3, c4) == "BCDEF"
    assert run("NOT NOT 1", c3) == "A"
    assert run("NOT 1 OR 2", c4, c3) == "ACDF"


def test_tree_groups_select_the_right_records(world):
    c1 = {"field": "city", "op": "contains", "value": "shanghai"}  # A B
    c3 = {"field": "vip", "op": "eq", "value": True}  # A
    c4 = {"field": "staff", "op": "gt", "value": 0}  # A B E

    def run(tree: Any) -> str:
        return letters(world.run(body={"filter": tree, "count": False}))

    assert run({"or": [{"and": [c1, {"not": c3}]}, c4]}) == "ABE"
    assert run({"and": [c4, {"not": c3}]}) == "BE"
    assert run({"not": c4}) == "CDF"
    assert run({"not": {"or": [c1, c4]}}) == "CDF"
    assert run({"and": [{"or": [c1, c3]}, {"or": [c3, c4]}]}) == "AB"
    # empty groups are ignored, wherever they are
    assert run({"and": []}) == "ABCDEF"
    assert run({"or": [{"and": []}, {"not": {"or": []}}]}) == "ABCDEF"
    assert run({"and": [c3, {"or": []}]}) == "A"


def test_logic_in_the_url_form(world):
    def get(logic_text: str | None, *items: str) -> Any:
        args = [("f", item) for item in items]
        if logic_text is not None:
            args.append(("logic", logic_text))
        return world.run(args=args)

    items = ("city:contains:shanghai", "band:eq:B", "vip:eq:true")
    assert letters(get("1 AND (2 OR NOT 3)", *items)) == "B"
    assert letters(get("1 OR 2", "city:contains:shanghai", "staff:gt:5")) == "ABE"
    assert letters(get(None, *items)) == ""
    assert letters(get("NOT 1 AND 2", "city:is_empty", "staff:lt:5")) == "BCD"
    response = get("1 AND (2 OR 3", *items)
    assert response.status_code == 400
    assert response.get_json()["errors"] == {"logic": ["A “)” is missing (at character 14)"]}
    response = get("1 AND 2", *items)
    assert response.get_json()["errors"] == {"logic": ["Condition 3 is not used in the logic."]}
    response = get("1 OR 2")  # logic without conditions
    assert response.status_code == 400
    assert "There is no condition 1" in response.get_json()["errors"]["logic"][0]


def test_documented_error_messages(world):
    bad_code = {"and": [cond_of("city", "eq", "x"), cond_of("band", "eq", "Z")]}
    body = world.run(body={"filter": bad_code}).get_json()
    assert body["errors"] == {
        "filter": ["filter.and[1] (band): “Z” is not one of the listed values."]
    }
    numbered = {"conditions": [cond_of("city", "eq", "x"), cond_of("revenue", "contains", "1")]}
    body = world.run(body={"filter": numbered}).get_json()
    assert body["errors"] == {
        "filter": [
            "2 (revenue): “contains” does not apply to “revenue”; use one of eq, ne, lt, lte,"
            " gt, gte, between, in, not_in, is_empty, is_not_empty."
        ]
    }
    body = world.run(body={"sort": [{"field": "notes"}]}).get_json()
    assert body["errors"] == {"sort": ["Records cannot be sorted by “notes”."]}


def cond_of(field: str, op: str, value: Any) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


def test_errors_over_http(world):
    base = f"/api/v1/t/{world.slug}/records/account"
    condition = {"field": "city", "op": "eq", "value": "x"}
    body = {"filter": {"conditions": [condition], "logic": "1 OR"}}
    response = world.client.post(f"{base}/query", json=body)
    assert response.status_code == 400
    assert response.get_json()["errors"] == {"logic": ["The logic ends too early (at character 5)"]}
    response = world.client.get(base, query_string={"f": "city:eq:x", "logic": "2"})
    assert response.status_code == 400
    assert response.get_json()["errors"] == {"logic": ["There is no condition 2 (at character 1)"]}
    response = world.client.get(base, query_string={"filter": "{not json"})
    assert response.status_code == 400 and "filter" in response.get_json()["errors"]
    response = world.client.get(base, query_string={"filter": "[" * 100_000})
    assert response.status_code == 400 and "filter" in response.get_json()["errors"]
