"""The report services directly: who sees and changes a report (every visibility against
every role, teams above a member's team), built-in reports at signup and idempotent installs,
built-ins made for the company's current stage table, the builder's URL state read back into
the same definition, and figures computed as the viewer, never as the author."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from saas.extensions import db
from saas.reports import builder, services
from saas.reports.models import ReportDefinition
from tenants import services as tenant_services
from tenants.context import tenant_context
from tenants.teams import create_team, set_member_team
from tests.reports.shop import Shop, band_by_month, by_band


@pytest.fixture
def shop(app, make_company, api, add_member) -> Shop:
    return Shop(app, make_company(), api, add_member)


def _member(shop: Shop, person: str):
    return tenant_services.membership(shop.ids[person])


def test_who_sees_and_changes_a_report(app, shop):
    with app.test_request_context(), tenant_context(shop.tenant_id, db.session):
        owner, manager = _member(shop, "owner"), _member(shop, "manager")
        ann, bob = _member(shop, "ann"), _member(shop, "bob")
        north = create_team(owner, "North")
        city = create_team(owner, "North city", parent_id=north.id)
        set_member_team(owner, ann.user_id, city.id)
        db.session.commit()
        ann = _member(shop, "ann")

        def report(visibility: str, shared: list, by=manager) -> ReportDefinition:
            return ReportDefinition(
                name="r",
                object_key="account",
                spec=by_band(),
                visibility=visibility,
                shared_with=shared,
                owner_id=by.user_id,
            )

        cases = {
            ("private", ()): {"owner": True, "manager": True, "ann": False, "bob": False},
            ("tenant", ()): {"owner": True, "manager": True, "ann": True, "bob": True},
            ("roles", ("member",)): {"owner": True, "manager": True, "ann": True, "bob": True},
            ("roles", ("read_only",)): {"owner": True, "manager": True, "ann": False, "bob": False},
            # Shared with a region: its cities' members see it too.
            ("teams", (north.id,)): {"owner": True, "manager": True, "ann": True, "bob": False},
        }
        people = {"owner": owner, "manager": manager, "ann": ann, "bob": bob}
        for (visibility, shared), expected in cases.items():
            item = report(visibility, list(shared))
            seen = {name: services.can_see(item, who) for name, who in people.items()}
            assert seen == expected, (visibility, shared)
            # The author (a manager) and the administrators change it; nobody else.
            edit = {name: services.can_edit(item, who) for name, who in people.items()}
            assert edit == {"owner": True, "manager": True, "ann": False, "bob": False}
        # A salesperson's private report: hers and the administrators'.
        own = report("private", [], by=ann)
        assert services.can_edit(own, ann) and services.can_see(own, owner)
        assert not services.can_see(own, manager)
        # Built-in reports: everyone sees, nobody changes.
        builtin = report("tenant", [])
        builtin.builtin_key, builtin.owner_id = "sales_funnel", None
        assert all(services.can_see(builtin, who) for who in people.values())
        assert not any(services.can_edit(builtin, who) for who in people.values())


def test_builtins_at_signup_and_for_existing_companies(app, shop):
    with app.test_request_context(), tenant_context(shop.tenant_id, db.session):
        keys = set(
            db.session.execute(
                select(ReportDefinition.builtin_key).where(
                    ReportDefinition.builtin_key.is_not(None)
                )
            ).scalars()
        )
        assert len(keys) == 6
        # A company from before the reports: removed, then given back on the first listing.
        db.session.execute(
            ReportDefinition.__table__.delete().where(
                ReportDefinition.__table__.c.tenant_id == shop.tenant_id,
                ReportDefinition.__table__.c.builtin_key.is_not(None),
            )
        )
        db.session.commit()
        listed = services.list_reports(_member(shop, "ann"))
        assert {r.builtin_key for r in listed if r.builtin_key} == keys
        assert services.ensure_builtins() == 0  # idempotent
        db.session.rollback()


def test_builtins_follow_the_current_stage_table(app, shop):
    """The funnel leaves out the company's lost stages as they are when it runs."""
    with app.test_request_context(), tenant_context(shop.tenant_id, db.session):
        funnel = db.session.execute(
            select(ReportDefinition).where(ReportDefinition.builtin_key == "sales_funnel")
        ).scalar_one()
        from saas.crm import pipeline

        lost = [s.code for s in pipeline.stages() if s.kind == "lost"]
        spec = services.effective_spec(funnel)
        assert spec["object"] == "opportunity"
        assert spec.get("filter") == (
            {"field": "stage", "op": "not_in", "value": lost} if lost else None
        )


@pytest.mark.parametrize(
    "spec",
    [
        by_band(),
        band_by_month(),
        by_band(
            groups=[{"field": "band", "sort": "count", "dir": "desc", "top": 2, "others": False}],
            filter={
                "or": [
                    {"field": "staff", "op": "gt", "value": 2},
                    {"field": "band", "op": "eq", "value": "A"},
                ]
            },
        ),
        by_band(type="matrix", column_groups=[{"field": "signed", "granularity": "quarter"}]),
        {
            "object": "account",
            "type": "tabular",
            "columns": ["name", "band", "revenue"],
            "limit": 50,
            "aggregates": [{"fn": "sum", "field": "revenue"}],
        },
    ],
)
def test_builder_state_reads_back_into_the_same_definition(app, spec):
    with app.app_context():
        args = builder.args_from_spec(spec)
        draft = builder.spec_from_args(MultiDict(args))
    assert not draft.errors
    expected = {"version": 1, **spec}
    if spec["type"] != "tabular":
        expected.pop("limit", None)
    assert draft.spec == expected


def test_builder_maps_engine_errors_to_their_controls(app):
    args = MultiDict(
        [
            ("object", "account"),
            ("type", "summary"),
            ("g1", "band"),  # the first row left empty: groups[0] is g1
            ("a2_fn", "sum"),  # aggregates[0] is a2
        ]
    )
    with app.app_context():
        draft = builder.spec_from_args(args)
    assert draft.field_for("groups[0].granularity") == "g1_gran"
    assert draft.field_for("groups[0].field") == "g1"
    assert draft.field_for("aggregates[0].field") == "a2_field"
    assert draft.field_for("filter.and[1]") == "filter"
    assert draft.field_for("chart.aggregate") == "chart_agg"


def test_a_shared_report_runs_as_the_viewer(app, shop):
    report = shop.create("manager", visibility="tenant", spec=by_band())
    shop.scope("member", "own")
    with app.test_request_context(), tenant_context(shop.tenant_id, db.session):
        stored = services.get_report(_member(shop, "ann"), report["id"])
        for person in ("ann", "bob", "manager"):
            outcome = services.run_report(_member(shop, person), stored)
            expected = len(shop.visible(None if person == "manager" else person))
            assert outcome.result["total"]["count"] == expected
        # Filters added by a dashboard narrow it further, never widen it.
        extra = [{"field": "owner_id", "op": "eq", "value": shop.ids["bob"]}]
        narrowed = services.run_report(_member(shop, "ann"), stored, extra=extra)
        assert narrowed.result["total"]["count"] == 0
