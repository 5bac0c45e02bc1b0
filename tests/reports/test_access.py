"""Who sees which figures: data scope in every figure and drill-down, field access (a hidden
field cannot be grouped, aggregated or filtered on), the object's view permission, other
companies; and the errors a definition gets from the engine."""

from __future__ import annotations

from typing import Any

import pytest

from custom_fields.reports import engine
from custom_fields.reports.engine import Result
from saas.errors import DomainError, ValidationFailed
from tests.query.conftest import run_direct, run_sql, signup
from tests.reports.test_figures import check, summary
from tests.reports.world import walk

SPECS = [
    summary({"field": "band"}, {"field": "met_at", "granularity": "month"}),
    summary(
        {"field": "parent.band"},
        aggregates=[{"fn": "count"}, {"fn": "sum", "field": "revenue", "percent_of_total": True}],
    ),
    summary({"field": "owner_id"}, {"field": "rep"}),
    summary({"field": "city", "sort": "count", "dir": "desc", "top": 2}),
    {
        "object": "account",
        "type": "matrix",
        "groups": [{"field": "parent"}],
        "column_groups": [{"field": "vip"}],
        "aggregates": [{"fn": "count"}, {"fn": "max", "field": "staff"}],
    },
]


def _listed(world, person: str, drill: Any) -> list[dict[str, Any]]:
    body = {"filter": drill, "limit": 1000, "count": True}
    response = run_direct(world.app, world.tenant_id, world.people[person], "account", body=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]


@pytest.mark.parametrize("index", range(len(SPECS)))
def test_own_scope_never_shows_others_rows(scoped, index):
    world = scoped
    world.scope(member="own")
    spec = SPECS[index]
    own = world.people["sales"]
    if spec["groups"][0].get("top"):
        result = world.run(spec, "sales", timezone="Asia/Shanghai")
        assert result.total.count == len(world.visible("sales", scoped=True))
    else:
        result = check(world, spec, timezone="Asia/Shanghai", person="sales", scoped=True)
    assert 0 < result.total.count < len(world.visible())
    for _path, node in [((), result.total), *walk(result.rows)]:
        rows = _listed(world, "sales", node.drill)
        assert len(rows) == node.count
        assert {r["owner_id"] for r in rows} <= {own}
    # The parents' names outside their scope are not shown: a bare id, or the empty group.
    if spec["groups"][0]["field"] == "parent":
        names = {n.label for n in result.rows}
        others = {r["name"] for r in world.visible() if r["owner"] != own}
        assert not names & others


def test_full_scope_for_the_same_member_sees_everything(scoped):
    world = scoped
    result = world.run(SPECS[0], "sales", timezone="UTC")
    assert result.total.count == len(world.visible())


def test_hidden_field_cannot_be_grouped_aggregated_or_filtered(world):
    cases = {
        "groups[0].field": summary({"field": "secret"}),
        "aggregates[1].field": summary(
            {"field": "band"},
            aggregates=[{"fn": "count"}, {"fn": "count_distinct", "field": "secret"}],
        ),
        "filter": summary({"field": "band"}, filter={"field": "secret", "op": "eq", "value": "s1"}),
        "groups[1].field": summary({"field": "band"}, {"field": "parent.secret"}),
    }
    for key, spec in cases.items():
        refused = world.run(spec, "sales", timezone="UTC")
        assert isinstance(refused, ValidationFailed), (key, refused)
        assert refused.status == 400
        assert key in refused.errors, refused.errors
        assert "There is no field" in refused.errors[key][0] or "secret" in refused.errors[key][0]
        allowed = world.run(spec, "owner", timezone="UTC")
        assert isinstance(allowed, Result), key


def test_view_permission_is_required(world):
    run_sql(
        world.app,
        world.tenant_id,
        "INSERT INTO role_permissions (tenant_id, role_key, object_key, can_view, can_create,"
        " can_edit, can_delete, can_export) VALUES (:t, 'member', 'account', false, false,"
        " false, false, false)",
        t=world.tenant_id,
    )
    try:
        refused = world.run(SPECS[0], "sales", timezone="UTC")
        assert isinstance(refused, DomainError) and refused.status == 403
    finally:
        run_sql(
            world.app,
            world.tenant_id,
            "DELETE FROM role_permissions WHERE role_key = 'member'",
        )
    assert isinstance(world.run(SPECS[0], "sales", timezone="UTC"), Result)


def test_another_company_is_never_counted(app, world):
    tenant_id, _slug, owner, _token = signup(app, "Other Co")
    run_sql(
        app,
        tenant_id,
        "INSERT INTO accounts (tenant_id, name, owner_id, created_by, updated_by, version, data)"
        " SELECT :t, 'x' || n, :o, :o, :o, 1, jsonb_build_object('band', 'A')"
        " FROM generate_series(1, 50) n",
        t=tenant_id,
        o=owner,
    )
    result = world.run(summary({"field": "band"}), timezone="UTC")
    assert result.total.count == len(world.visible())
    assert result.find("A").count == sum(1 for r in world.visible() if r["data"].get("band") == "A")


@pytest.mark.parametrize(
    ("spec", "key", "text"),
    [
        (summary({"field": "band"}, {"field": "nope"}), "groups[1].field", "There is no field"),
        (summary({"field": "band", "granularity": "month"}), "groups[0].granularity", "period"),
        (summary({"field": "tags_pick"}), "groups[0].field", "cannot be grouped"),
        (summary({"field": "notes"}), "groups[0].field", "cannot be grouped"),
        (summary({"field": "revenue"}), "groups[0].field", "cannot be grouped"),
        (summary({"field": "tags"}), "groups[0].field", "cannot be grouped"),
        (
            summary({"field": "band"}, aggregates=[{"fn": "sum", "field": "city"}]),
            "aggregates[0].field",
            "does not apply",
        ),
        (
            summary({"field": "band"}, aggregates=[{"fn": "avg", "field": "met_at"}]),
            "aggregates[0].field",
            "does not apply",
        ),
        (
            summary({"field": "met_at", "sort": "count", "top": 3}),
            "groups[0].top",
            "periods",
        ),
        (
            summary({"field": "band"}, aggregates=[{"fn": "sum", "field": "parent.revenue"}]),
            "aggregates[0].field",
            "lookup",
        ),
        (
            summary(
                {"field": "band"},
                aggregates=[{"fn": "weighted_sum", "field": "revenue", "weight": "city"}],
            ),
            "aggregates[0].weight",
            "Weigh",
        ),
        (
            summary({"field": "band"}, filter={"field": "band", "op": "gt", "value": 1}),
            "filter",
            "does not apply",
        ),
        ({"object": "nothing", "type": "summary", "groups": [{"field": "x"}]}, "object", "object"),
    ],
)
def test_definition_errors_name_their_place(world, spec, key, text):
    refused = world.run(spec, timezone="UTC")
    assert isinstance(refused, ValidationFailed), refused
    assert key in refused.errors, refused.errors
    assert any(text in message for message in refused.errors[key]), refused.errors


def test_several_errors_come_back_together(world):
    spec = summary(
        {"field": "nope"},
        {"field": "band", "granularity": "year"},
        aggregates=[{"fn": "sum", "field": "name"}],
    )
    refused = world.run(spec, timezone="UTC")
    assert set(refused.errors) == {
        "groups[0].field",
        "groups[1].granularity",
        "aggregates[0].field",
    }


def test_a_slow_report_answers_422(world, monkeypatch):
    from sqlalchemy import func

    real = engine._records

    def slow(plan, *, extra=()):
        return real(plan, extra=[func.pg_sleep(0.02).label("slow")])

    monkeypatch.setattr(engine, "_records", slow)
    refused = world.run(summary({"field": "band"}), timezone="UTC", timeout_ms=200)
    assert isinstance(refused, engine.ReportTooSlow), refused
    assert refused.status == 422 and "too long" in refused.message
    monkeypatch.setattr(engine, "_records", real)
    assert isinstance(world.run(summary({"field": "band"}), timezone="UTC"), Result)


def test_too_many_groups_answers_422(world, monkeypatch):
    monkeypatch.setattr(engine, "MAX_ROWS", 5)
    refused = world.run(summary({"field": "met_at", "granularity": "day"}), timezone="UTC")
    assert isinstance(refused, DomainError) and refused.status == 422
    assert "more than 5 groups" in refused.message


def test_unknown_time_zone(world):
    refused = world.run(summary({"field": "band"}), timezone="Mars/Olympus")
    assert isinstance(refused, ValidationFailed) and "timezone" in refused.errors
