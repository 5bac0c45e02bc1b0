"""Random payloads against the field and record APIs: always a 2xx or a 4xx, never a 500."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custom_fields.types import TYPE_NAMES

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "1e400",
            "NaN",
            "-0",
            "2024-02-30",
            "2024-02-29T25:00",
            "0001-01-01T00:00:00",
            "+86 138",
            "javascript:x",
            "[",
            "{0000}",
            "(a+)+$",
            "A",
            "B",
            "x" * 300,
            "客户",
            "\u0000",
        ]
    ),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=8,
)

FIELDS = [
    {"key": "f_text", "type": "text", "label": "T", "max_length": 20, "regex": "[A-Z].*"},
    {"key": "f_long", "type": "long_text", "label": "L"},
    {"key": "f_int", "type": "integer", "label": "I", "min": -5, "max": 5},
    {"key": "f_dec", "type": "decimal", "label": "D", "precision": 8, "scale": 3},
    {"key": "f_cur", "type": "currency", "label": "C"},
    {"key": "f_pct", "type": "percent", "label": "P"},
    {"key": "f_date", "type": "date", "label": "Da"},
    {"key": "f_dt", "type": "datetime", "label": "Dt"},
    {"key": "f_bool", "type": "boolean", "label": "B"},
    {"key": "f_pick", "type": "picklist", "label": "Pk", "values": ["A", "B"]},
    {"key": "f_multi", "type": "multi_picklist", "label": "M", "values": ["A", "B"]},
    {"key": "f_mail", "type": "email", "label": "E"},
    {"key": "f_phone", "type": "phone", "label": "Ph"},
    {"key": "f_url", "type": "url", "label": "U"},
    {"key": "f_look", "type": "lookup", "label": "Lk", "target": "account"},
    {"key": "f_uniq", "type": "text", "label": "Q", "unique": True},
]


@pytest.fixture(scope="module")
def fuzz_company(app):
    import secrets

    from tests.conftest import TEST_PASSWORD

    slug = f"fuzz-{secrets.token_hex(4)}"
    client = app.test_client()
    token = client.post(
        "/api/v1/signup",
        json={
            "company": "Fuzz",
            "slug": slug,
            "email": f"{slug}@example.com",
            "password": TEST_PASSWORD,
            "locale": "en",
        },
    ).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    for field in FIELDS:
        response = client.post(
            f"/api/v1/t/{slug}/objects/account/fields", json=field, headers=headers
        )
        assert response.status_code == 201, response.get_json()
    return client, slug, headers


NO_500 = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@NO_500
@given(
    body=st.dictionaries(
        st.sampled_from([f["key"] for f in FIELDS] + ["name", "owner_id", "id", "zzz"]),
        json_values,
        max_size=6,
    )
)
def test_random_records_never_500(fuzz_company, body):
    client, slug, headers = fuzz_company
    response = client.post(f"/api/v1/t/{slug}/records/account", json=body, headers=headers)
    assert response.status_code in (201, 400, 409), (body, response.get_json())
    if response.status_code != 201:
        assert response.get_json()["errors"]


@NO_500
@given(
    body=st.fixed_dictionaries(
        {
            "key": st.one_of(st.text(max_size=12), st.sampled_from(["ok_key", "f_text", "id"])),
            "type": st.one_of(st.sampled_from(TYPE_NAMES), st.text(max_size=8)),
        },
        optional={
            "label": json_values,
            "required": json_values,
            "unique": json_values,
            "default": json_values,
            "values": json_values,
            "max_length": json_values,
            "precision": json_values,
            "scale": json_values,
            "target": json_values,
            "pattern": json_values,
            "expression": json_values,
            "currency": json_values,
            "region": json_values,
            "controlling_field": json_values,
        },
    )
)
def test_random_field_definitions_never_500(fuzz_company, body):
    client, slug, headers = fuzz_company
    response = client.post(f"/api/v1/t/{slug}/objects/account/fields", json=body, headers=headers)
    assert response.status_code in (201, 400, 409), (body, response.get_json())
    if response.status_code == 201:  # keep the object small: remove what was added
        key = response.get_json()["key"]
        client.delete(f"/api/v1/t/{slug}/objects/account/fields/{key}", headers=headers)


HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)


@NO_500
@given(
    body=json_values,
    if_match=st.one_of(st.none(), HEADER_TEXT, st.just('"v1"')),
    cursor=st.one_of(st.none(), st.text(max_size=25)),
)
def test_random_updates_and_cursors_never_500(fuzz_company, body, if_match, cursor):
    client, slug, headers = fuzz_company
    base = f"/api/v1/t/{slug}/records/account"
    record = client.post(base, json={"name": "Target"}, headers=headers).get_json()
    extra = {} if if_match is None else {"If-Match": if_match}
    response = client.patch(f"{base}/{record['id']}", json=body, headers={**headers, **extra})
    assert response.status_code in (200, 400, 409, 412, 428), (body, response.get_json())
    listing = client.get(
        base, query_string={} if cursor is None else {"cursor": cursor}, headers=headers
    )
    assert listing.status_code in (200, 400)
