"""Dashboards: the merge of dashboard filters into a widget's report filter (every form of
report filter, nesting, empty teams), the data of every widget with the filters applied
(compared with a count of the rows), KPI tiles, sharing, layout validation, a widget whose
report the viewer may not open, and another company's ids."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from custom_fields.query.filters import parse_tree
from saas.extensions import db
from saas.reports.services import DashboardFilter, filter_conditions, merge_filter
from tenants import services as tenant_services
from tenants.context import tenant_context
from tests.reports.shop import ROWS, Shop, by_band


@pytest.fixture
def shop(app, make_company, api, add_member) -> Shop:
    return Shop(app, make_company(), api, add_member)


# ---- the merge ---------------------------------------------------------------------------------

EXTRA = [{"field": "owner_id", "op": "eq", "value": 7}]


@pytest.mark.parametrize(
    ("own", "merged"),
    [
        (None, {"field": "owner_id", "op": "eq", "value": 7}),
        (
            {"field": "band", "op": "eq", "value": "A"},
            {"and": [{"field": "band", "op": "eq", "value": "A"}, *EXTRA]},
        ),
        (
            {
                "and": [
                    {"field": "band", "op": "eq", "value": "A"},
                    {"field": "staff", "op": "gt", "value": 1},
                ]
            },
            {
                "and": [
                    {"field": "band", "op": "eq", "value": "A"},
                    {"field": "staff", "op": "gt", "value": 1},
                    *EXTRA,
                ]
            },
        ),
        (
            {
                "or": [
                    {"field": "band", "op": "eq", "value": "A"},
                    {"field": "band", "op": "eq", "value": "B"},
                ]
            },
            {
                "and": [
                    {
                        "or": [
                            {"field": "band", "op": "eq", "value": "A"},
                            {"field": "band", "op": "eq", "value": "B"},
                        ]
                    },
                    *EXTRA,
                ]
            },
        ),
        (
            {"not": {"field": "band", "op": "eq", "value": "A"}},
            {"and": [{"not": {"field": "band", "op": "eq", "value": "A"}}, *EXTRA]},
        ),
        (
            # Numbered conditions with logic: read as the tree they mean, then ANDed.
            {
                "conditions": [
                    {"field": "band", "op": "eq", "value": "A"},
                    {"field": "band", "op": "eq", "value": "B"},
                    {"field": "staff", "op": "gt", "value": 2},
                ],
                "logic": "(1 OR 2) AND 3",
            },
            {
                "and": [
                    {
                        "or": [
                            {"field": "band", "op": "eq", "value": "A"},
                            {"field": "band", "op": "eq", "value": "B"},
                        ]
                    },
                    {"field": "staff", "op": "gt", "value": 2},
                    *EXTRA,
                ]
            },
        ),
    ],
)
def test_merge_ands_the_dashboard_filter_into_every_form(app, own, merged):
    spec = by_band(filter=own) if own is not None else by_band()
    with app.app_context():
        out = merge_filter(spec, EXTRA)
    assert out["filter"] == merged
    assert spec.get("filter") == own  # the report's own definition is left alone
    assert {k: v for k, v in out.items() if k != "filter"} == {
        k: v for k, v in spec.items() if k != "filter"
    }
    parse_tree(out["filter"])  # still a valid filter
    with app.app_context():
        assert merge_filter(spec, []).get("filter") == spec.get("filter")


def test_conditions_of_the_filter_bar(app, make_company):
    company = make_company()
    settings = {"date_fields": {"account": "signed"}}
    with app.app_context(), tenant_context(company.tenant_id, db.session):
        values = DashboardFilter(period="this_month", owner_id=company.owner_id)
        assert filter_conditions(settings, values, "account") == [
            {"field": "signed", "op": "this_month"},
            {"field": "owner_id", "op": "eq", "value": company.owner_id},
        ]
        # Objects without a date field of their own filter on their creation date.
        assert filter_conditions(settings, values, "opportunity")[0] == {
            "field": "created_at",
            "op": "this_month",
        }
        ranged = DashboardFilter(date_from=dt.date(2026, 1, 1), date_to=dt.date(2026, 1, 31))
        assert filter_conditions(settings, ranged, "account") == [
            {"field": "signed", "op": "gte", "value": "2026-01-01"},
            {"field": "signed", "op": "lte", "value": "2026-01-31"},
        ]
        from tenants.teams import create_team

        team = create_team(tenant_services.membership(company.owner_id), "Empty team")
        nobody = filter_conditions(settings, DashboardFilter(team_id=team.id), "account")
        assert nobody == [
            {
                "and": [
                    {"field": "owner_id", "op": "is_empty"},
                    {"field": "owner_id", "op": "is_not_empty"},
                ]
            }
        ]


# ---- dashboards through the API ----------------------------------------------------------------


def _board(shop: Shop, person: str = "manager", expect: int = 201, **body) -> dict:
    response = shop[person].post(shop.url("/dashboards"), json=body)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def _data(shop: Shop, person: str, board_id: int, **query) -> dict:
    response = shop[person].get(shop.url(f"/dashboards/{board_id}/data"), query_string=query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _team(shop: Shop, name: str, *members: str) -> int:
    response = shop.owner.post(shop.url("/teams"), json={"name": name})
    assert response.status_code == 201, response.get_json()
    team_id = response.get_json()["id"]
    for member in members:
        response = shop.owner.patch(
            shop.url(f"/members/{shop.ids[member]}"), json={"team_id": team_id}
        )
        assert response.status_code == 200, response.get_json()
    return team_id


def _expected(rows, *, owner=None, start=None, end=None) -> int:
    def keep(row) -> bool:
        if owner is not None and row[5] != owner:
            return False
        signed = dt.date.fromisoformat(row[4]) if row[4] else None
        if (start or end) and signed is None:
            return False
        if start and signed < start:
            return False
        return not (end and signed > end)

    return sum(1 for r in rows if keep(r))


def test_dashboard_filters_apply_to_every_widget(shop):
    report = shop.create("manager", visibility="tenant")
    kpi_report = shop.create(
        "manager",
        name="Revenue",
        visibility="tenant",
        spec=by_band(aggregates=[{"fn": "count"}, {"fn": "sum", "field": "revenue"}]),
    )
    board = _board(
        shop,
        name="Sales board",
        visibility="tenant",
        layout=[
            {"kind": "report", "report_id": report["id"], "w": 8, "h": 4},
            {
                "kind": "kpi",
                "report_id": kpi_report["id"],
                "aggregate": "sum_revenue",
                "x": 8,
                "w": 4,
            },
        ],
        filters={"date_fields": {"account": "signed"}},
    )
    assert [w["id"] for w in board["layout"]] == ["w1", "w2"]
    everything = _data(shop, "manager", board["id"])
    chart, kpi = everything["widgets"]
    assert chart["result"]["total"]["count"] == len(ROWS)
    assert kpi["kpi"]["value"] == pytest.approx(float(sum(Decimal(r[3]) for r in ROWS if r[3])))
    cases = [
        ({"owner_id": shop.ids["ann"]}, {"owner": "ann"}),
        (
            {"date_from": "2026-01-10", "date_to": "2026-02-28"},
            {"start": dt.date(2026, 1, 10), "end": dt.date(2026, 2, 28)},
        ),
        (
            {"owner_id": shop.ids["bob"], "date_from": "2026-02-01"},
            {"owner": "bob", "start": dt.date(2026, 2, 1)},
        ),
    ]
    for query, expect in cases:
        body = _data(shop, "manager", board["id"], **query)
        count = _expected(ROWS, **expect)
        assert body["widgets"][0]["result"]["total"]["count"] == count, query
        # Every group's drill-down carries the dashboard filter too.
        for row in body["widgets"][0]["result"]["rows"]:
            drill = json.loads(parse_qs(urlsplit(row["drill_url"]).query)["filter"][0])
            listed = (
                shop["manager"]
                .post(shop.url("/records/account/query"), json={"filter": drill, "limit": 100})
                .get_json()
            )
            assert len(listed["data"]) == row["count"]
    # A team: its members' records (and those of the teams below it).
    team_id = _team(shop, "North", "ann")
    body = _data(shop, "manager", board["id"], team_id=team_id)
    assert body["widgets"][0]["result"]["total"]["count"] == _expected(ROWS, owner="ann")
    # A period is one of the relative ranges; a bad value is a 400 naming it.
    response = shop["manager"].get(
        shop.url(f"/dashboards/{board['id']}/data"), query_string={"period": "someday"}
    )
    assert response.status_code == 400 and "period" in response.get_json()["errors"]
    response = shop["manager"].get(
        shop.url(f"/dashboards/{board['id']}/data"),
        query_string={"date_from": "2026-03-01", "date_to": "2026-01-01"},
    )
    assert response.status_code == 400 and "date_to" in response.get_json()["errors"]


def test_saved_filter_values_are_the_default(shop):
    report = shop.create("manager", visibility="tenant")
    board = _board(
        shop,
        name="Bob's board",
        layout=[{"kind": "report", "report_id": report["id"]}],
        filters={"owner_id": shop.ids["bob"]},
    )
    assert _data(shop, "manager", board["id"])["widgets"][0]["result"]["total"]["count"] == (
        _expected(ROWS, owner="bob")
    )
    # Values in the request replace the saved ones.
    body = _data(shop, "manager", board["id"], owner_id=shop.ids["ann"])
    assert body["widgets"][0]["result"]["total"]["count"] == _expected(ROWS, owner="ann")


def test_a_salesperson_sees_her_own_figures_on_a_shared_dashboard(shop):
    report = shop.create("manager", visibility="tenant")
    board = _board(shop, name="Everyone", visibility="tenant", layout=[{"report_id": report["id"]}])
    shop.scope("member", "own")
    body = _data(shop, "ann", board["id"])
    assert body["widgets"][0]["result"]["total"]["count"] == _expected(ROWS, owner="ann")


def test_a_widget_of_a_report_the_viewer_cannot_open_says_so(shop):
    private = shop.create("manager", name="Manager's own")
    board = _board(
        shop, name="Shared board", visibility="tenant", layout=[{"report_id": private["id"]}]
    )
    widget = _data(shop, "ann", board["id"])["widgets"][0]
    assert widget["result"] is None and widget["error"]
    assert "Manager's own" not in json.dumps(widget)
    # Deleting the report leaves the widget saying it is gone.
    assert shop["manager"].delete(shop.url(f"/reports/{private['id']}")).status_code == 204
    widget = _data(shop, "manager", board["id"])["widgets"][0]
    assert widget["result"] is None and widget["error"]


def test_layout_and_filters_are_checked(shop):
    report = shop.create("ann", name="Ann's")
    cases = [
        ({"layout": [{"report_id": report["id"]}]}, "layout[0].report_id"),  # not the manager's
        ({"layout": [{"report_id": 10**12}]}, "layout[0].report_id"),
        ({"layout": "x"}, "layout"),
        ({"filters": {"date_fields": {"account": "band"}}}, "filters.date_fields.account"),
        ({"filters": {"date_fields": {"nothing": "x"}}}, "filters.date_fields.nothing"),
        ({"filters": {"period": "forever"}}, "filters.period"),
    ]
    for body, where in cases:
        response = shop["manager"].post(shop.url("/dashboards"), json={"name": "x", **body})
        assert response.status_code == 400, (body, response.get_json())
        assert where in response.get_json()["errors"], (where, response.get_json())
    own = shop.create("manager", name="Mine", visibility="tenant")
    response = shop["manager"].post(
        shop.url("/dashboards"),
        json={"name": "x", "layout": [{"report_id": own["id"], "x": 10, "w": 4}]},
    )
    assert response.status_code == 400 and "layout[0].w" in response.get_json()["errors"]
    # Sharing a dashboard takes a manager.
    _board(shop, "ann", expect=403, name="x", visibility="tenant")


def test_dashboards_crud_and_concurrency(shop):
    board = _board(shop, name="Board")
    url = shop.url(f"/dashboards/{board['id']}")
    assert shop["ann"].get(url).status_code == 404  # private to the manager
    response = shop["manager"].patch(url, json={"name": "Renamed"}, headers={"If-Match": '"v1"'})
    assert response.status_code == 200 and response.headers["ETag"] == '"v2"'
    stale = shop["manager"].patch(url, json={"name": "x"}, headers={"If-Match": '"v1"'})
    assert stale.status_code == 412
    listed = [d["name"] for d in shop["manager"].get(shop.url("/dashboards")).get_json()]
    assert listed == ["Renamed"]
    assert shop["manager"].delete(url).status_code == 204
    assert shop["manager"].get(url).status_code == 404


def test_another_companys_dashboards_are_unknown(shop, make_company, api):
    report = shop.create("manager", visibility="tenant")
    board = _board(shop, name="Secret board", layout=[{"report_id": report["id"]}])
    other = make_company()
    client = api(other.token)
    base = f"/api/v1/t/{other.slug}/dashboards/{board['id']}"
    assert client.get(base).status_code == 404
    assert client.get(f"{base}/data").status_code == 404
    assert client.patch(base, json={"name": "x"}, headers={"If-Match": '"v1"'}).status_code == 404
    # A's widget cannot point at B's report either.
    response = client.post(
        f"/api/v1/t/{other.slug}/dashboards",
        json={"name": "x", "layout": [{"report_id": report["id"]}]},
    )
    assert response.status_code == 400
    mine = shop["manager"].get(shop.url(f"/dashboards/{board['id']}")).get_json()
    assert (mine["name"], mine["version"]) == ("Secret board", 1)
