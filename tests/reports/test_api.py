"""``POST /api/v1/t/<slug>/reports/run``: a definition in, the figures as JSON out, as the
token's member; errors name their place; other companies' tokens get nothing."""

from __future__ import annotations

from tests.query.conftest import TokenClient, signup

SPEC = {
    "object": "account",
    "type": "summary",
    "groups": [{"field": "band"}, {"field": "met_at", "granularity": "quarter"}],
    "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "revenue", "percent_of_total": True}],
    "chart": {"type": "bar", "aggregate": "count"},
}


def url(world, query: str = "") -> str:
    return f"{world.base}/reports/run{query}"


def test_a_summary_as_json(world):
    response = world.client.post(url(world, "?timezone=America/Los_Angeles"), json=SPEC)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["type"] == "summary" and body["timezone"] == "America/Los_Angeles"
    assert body["total"]["count"] == len(world.visible())
    assert [g["field"] for g in body["groups"]] == ["band", "met_at"]
    assert body["chart"] == {"type": "bar", "aggregate": "count"}
    first = body["rows"][0]
    assert first["key"] == "A" and first["label"] == "A"
    assert set(first["values"]["sum_revenue"]) <= {"CNY", "USD"}
    assert isinstance(first["values"]["sum_revenue"]["CNY"], str)
    assert first["children"][0]["key"].count("-") == 2  # a date as ISO text
    # the same figures as the engine's own result
    engine_result = world.run(SPEC, timezone="America/Los_Angeles")
    assert engine_result.to_json() == body
    drill = first["children"][0]["drill"]
    listed = world.client.post(
        f"{world.base}/records/account/query", json={"filter": drill, "limit": 1}
    ).get_json()
    assert listed["count"] == first["children"][0]["count"]


def test_matrix_and_tabular(world):
    matrix = world.client.post(
        url(world),
        json={
            "object": "account",
            "type": "matrix",
            "groups": [{"field": "band"}],
            "column_groups": [{"field": "vip"}],
        },
    ).get_json()
    assert {"columns", "cells", "column_groups"} <= set(matrix)
    assert sum(c["count"] for c in matrix["cells"]) == matrix["total"]["count"]
    tabular = {
        "object": "account",
        "type": "tabular",
        "columns": ["name", "band", "parent.band"],
        "sort": [{"field": "name"}],
        "limit": 10,
    }
    page = world.client.post(url(world), json=tabular).get_json()
    assert len(page["records"]) == 10 and page["next_cursor"]
    after = world.client.post(url(world, f"?cursor={page['next_cursor']}"), json=tabular)
    assert after.status_code == 200
    names = [r["values"]["name"] for r in page["records"] + after.get_json()["records"]]
    assert names == sorted(names) and len(set(names)) == 20


def test_errors(world):
    bad = world.client.post(
        url(world),
        json={**SPEC, "groups": [{"field": "band", "granularity": "decade"}]},
    )
    assert bad.status_code == 400
    assert "groups[0].granularity" in bad.get_json()["errors"]
    unknown = world.client.post(url(world), json={**SPEC, "groups": [{"field": "nope"}]})
    assert unknown.status_code == 400 and "groups[0].field" in unknown.get_json()["errors"]
    empty = world.client.post(url(world))
    assert empty.status_code == 400
    zone = world.client.post(url(world, "?timezone=Nowhere/City"), json=SPEC)
    assert zone.status_code == 400 and "timezone" in zone.get_json()["errors"]
    hidden = world.clients["sales"].post(url(world), json={**SPEC, "groups": [{"field": "secret"}]})
    assert hidden.status_code == 400 and "There is no field" in str(hidden.get_json())
    assert world.client.get(url(world)).status_code == 405


def test_other_companies(app, world):
    _tenant, slug, _owner, token = signup(app, "Elsewhere")
    other = TokenClient(app, token)
    assert other.post(url(world), json=SPEC).status_code == 401
    assert world.client.post(f"/api/v1/t/{slug}/reports/run", json=SPEC).status_code == 401
    by_owner = {"object": "account", "type": "summary", "groups": [{"field": "owner_id"}]}
    mine = other.post(f"/api/v1/t/{slug}/reports/run", json=by_owner)
    assert mine.status_code == 200 and mine.get_json()["total"]["count"] == 0


def test_documented_in_openapi(world):
    document = world.client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/t/{slug}/reports/run" in document["paths"]
