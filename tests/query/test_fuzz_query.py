"""Random queries against the query API and the URL form: random filter trees (any nesting,
known and unknown fields, right and wrong operators, values of every JSON type), numbered
conditions with random logic, random sorts, cursors, limits and columns. The answer is always
200, or a 400/422 that says what is wrong; never a 500."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custom_fields.query.operators import OPERATORS
from tests.query.world import FIELDS

NO_500 = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

SPECIAL = [
    "",
    " ",
    "A",
    "north",
    "hot",
    "shanghai",
    "%",
    "_",
    "\\",
    "a,b",
    "a\\,b",
    "1",
    "-1",
    "1.5",
    "1e400",
    "1e-99999",
    "99999999999999999999999",
    "NaN",
    "true",
    "2024-01-15",
    "2024-02-30",
    "9999-12-31",
    "0001-01-01",
    "2024-01-15T10:00:00Z",
    "2024-01-15T25:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-12:00",
    "客户",
    "\u0000",
    "\ud800",
    "x" * 600,
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(SPECIAL),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
FIELD_KEYS = [f["key"] for f in FIELDS] + [
    "id",
    "name",
    "owner_id",
    "created_by",
    "updated_by",
    "created_at",
    "updated_at",
    "tags",
    "parent.band",
    "parent.city",
    "parent.staff",
    "parent.owner_id",
    "parent.regions",
    "parent.parent.name",
    "rep.name",
    "zzz",
    "",
    ".",
    "parent.",
]
field_names = st.one_of(st.sampled_from(FIELD_KEYS), st.text(max_size=12))
op_names = st.one_of(st.sampled_from([*sorted(OPERATORS), "like", "EQ", ""]), st.text(max_size=8))
conditions = st.one_of(
    st.fixed_dictionaries(
        {"field": field_names, "op": op_names},
        optional={"value": values, "extra": values},
    ),
    values,  # anything at all where a condition belongs
)
trees = st.recursive(
    conditions,
    lambda children: st.one_of(
        st.builds(lambda c: {"and": c}, st.lists(children, max_size=4)),
        st.builds(lambda c: {"or": c}, st.lists(children, max_size=4)),
        st.builds(lambda c: {"not": c}, children),
    ),
    max_leaves=12,
)
logic_text = st.one_of(
    st.none(),
    st.text(alphabet="0123456789 ()ANDORNOTandx&|", max_size=30),
    st.text(max_size=15),
    st.sampled_from(["1", "1 AND 2", "1 OR (2 AND NOT 3)", "(1", "1)", "NOT", "4"]),
)
numbered = st.fixed_dictionaries(
    {"conditions": st.lists(conditions, max_size=4)}, optional={"logic": logic_text}
)
sort_keys = st.fixed_dictionaries(
    {"field": field_names},
    optional={
        "dir": st.one_of(st.sampled_from(["asc", "desc"]), values),
        "nulls": st.one_of(st.sampled_from(["first", "last"]), values),
    },
)
sorts = st.one_of(
    st.none(),
    st.lists(sort_keys, max_size=7),
    st.text(alphabet="-+,:_abcdefghijklmnopqrstuvwxyz .", max_size=30),
    values,
)
limits = st.one_of(st.integers(min_value=-5, max_value=1200), values)
#: A URL cannot carry a lone surrogate (the test client could not even encode one).
url_text = st.one_of(st.text(max_size=30), st.sampled_from([t for t in SPECIAL if t != "\ud800"]))


def _ok(response: Any, payload: Any) -> None:
    body = response.get_json()
    assert response.status_code in (200, 400, 422), (payload, response.status_code, body)
    if response.status_code != 200:
        assert body.get("errors") or body.get("message"), (payload, body)
    else:
        assert isinstance(body["data"], list)


@NO_500
@given(
    body=st.fixed_dictionaries(
        {},
        optional={
            "filter": st.one_of(trees, numbered, values),
            "sort": sorts,
            "limit": limits,
            "cursor": st.one_of(st.none(), st.text(max_size=40), values),
            "columns": st.one_of(st.lists(field_names, max_size=4), values),
            "q": st.one_of(st.none(), url_text, values),
            "count": values,
            "unknown": values,
        },
    )
)
def test_random_query_bodies_never_500(world, body):
    response = world.client.post(f"/api/v1/t/{world.slug}/records/account/query", json=body)
    _ok(response, body)


@NO_500
@given(
    items=st.lists(
        st.one_of(
            st.builds(
                lambda f, o, v: f"{f}:{o}" + ("" if v is None else f":{v}"),
                field_names,
                op_names,
                st.one_of(st.none(), url_text, st.lists(url_text, max_size=3).map(",".join)),
            ),
            url_text,
        ),
        max_size=5,
    ),
    extra=st.fixed_dictionaries(
        {},
        optional={
            "logic": logic_text.filter(lambda t: t is not None),
            "sort": st.one_of(st.sampled_from(FIELD_KEYS).map(lambda k: f"-{k}"), url_text),
            "limit": st.one_of(st.integers(min_value=-5, max_value=1200).map(str), url_text),
            "cursor": url_text,
            "columns": url_text,
            "q": url_text,
            "count": url_text,
            "filter": st.one_of(trees.map(json.dumps), url_text),
        },
    ),
)
def test_random_url_forms_never_500(world, items, extra):
    args = [("f", item) for item in items] + list(extra.items())
    response = world.client.get(f"/api/v1/t/{world.slug}/records/account", query_string=args)
    _ok(response, args)


def test_undecodable_url_bytes(world):
    base = f"/api/v1/t/{world.slug}/records/account"
    for raw in ("f=city:eq:%ff%fe", "f=%c3:eq:x", "q=%ed%a0%80", "sort=%ff", "cursor=%00"):
        response = world.client.get(f"{base}?{raw}")
        _ok(response, raw)


@settings(NO_500, max_examples=25)
@given(
    sort=st.lists(
        st.fixed_dictionaries(
            {
                "field": st.sampled_from(
                    ["name", "staff", "band", "city", "met_at", "double_staff", "rep", "parent"]
                ),
                "dir": st.sampled_from(["asc", "desc"]),
                "nulls": st.sampled_from(["first", "last"]),
            }
        ),
        min_size=1,
        max_size=3,
        unique_by=lambda k: k["field"],
    ),
    limit=st.integers(min_value=1, max_value=4),
    cut=st.integers(min_value=0, max_value=60),
    flip=st.integers(min_value=0, max_value=255),
)
def test_random_cursors_page_or_refuse(world, sort, limit, cut, flip):
    """Real cursors page on; real cursors with a byte changed, cut short or used with another
    sort are refused with 400."""
    url = f"/api/v1/t/{world.slug}/records/account/query"
    first = world.client.post(url, json={"sort": sort, "limit": limit}).get_json()
    cursor = first["next_cursor"]
    if cursor is None:
        return
    page = world.client.post(url, json={"sort": sort, "limit": limit, "cursor": cursor})
    assert page.status_code == 200
    assert not {r["id"] for r in page.get_json()["data"]} & {r["id"] for r in first["data"]}
    broken = cursor[: cut % len(cursor)] + chr(33 + flip % 90) + cursor[cut % len(cursor) + 1 :]
    if broken != cursor:
        response = world.client.post(url, json={"sort": sort, "limit": limit, "cursor": broken})
        assert response.status_code == 400, broken
        assert "cursor" in response.get_json()["errors"]
    other = [{**sort[0], "dir": "desc" if sort[0]["dir"] == "asc" else "asc"}, *sort[1:]]
    response = world.client.post(url, json={"sort": other, "limit": limit, "cursor": cursor})
    assert response.status_code == 400
