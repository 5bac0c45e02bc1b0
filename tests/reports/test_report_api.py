"""The reports API: built-in reports every company gets, saving and sharing reports, errors
keyed by their place in the definition, optimistic concurrency, running a stored report as the
viewer (a salesperson sees only her rows, drill-down included), long reports as jobs, the
Excel export (its figures equal the result's), and another company's ids."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saas.extensions import db
from saas.reports.models import ReportDefinition
from tenants.context import tenant_context
from tenants.models import AuditEvent
from tests.query.conftest import insert_records
from tests.reports.shop import Shop, band_by_month, by_band


@pytest.fixture
def shop(app, make_company, api, add_member) -> Shop:
    return Shop(app, make_company(), api, add_member)


def _rows_by_label(result: dict) -> dict:
    return {row["label"]: row for row in result["rows"]}


def test_every_company_gets_the_built_in_reports_and_they_run(shop):
    listed = shop.owner.get(shop.url("/reports?folder=builtin")).get_json()
    keys = {r["builtin_key"] for r in listed}
    assert keys == {
        "sales_funnel",
        "sales_ranking",
        "new_customers",
        "activities_by_salesperson",
        "pipeline_forecast",
        "receivables",
    }
    assert all(r["visibility"] == "tenant" and not r["can_edit"] for r in listed)
    for report in listed:
        body = shop.result("ann", report["id"])
        assert body["object"] == report["object_key"]
        assert "total" in body
    # Installing again adds nothing (idempotent by key), also for a company that lost them.
    with shop.app.app_context(), tenant_context(shop.tenant_id, db.session):
        from saas.reports.services import ensure_builtins

        assert ensure_builtins() == 0
        db.session.query(ReportDefinition).filter(
            ReportDefinition.builtin_key == "sales_funnel"
        ).delete()
        db.session.commit()
    again = shop.owner.get(shop.url("/reports?folder=builtin")).get_json()
    assert {r["builtin_key"] for r in again} == keys


def test_built_in_reports_are_read_only_but_can_be_copied(shop):
    funnel = next(
        r
        for r in shop.owner.get(shop.url("/reports")).get_json()
        if r["builtin_key"] == "sales_funnel"
    )
    url = shop.url(f"/reports/{funnel['id']}")
    response = shop.owner.delete(url)
    assert response.status_code == 409
    response = shop.owner.patch(url, json={"name": "x"}, headers={"If-Match": '"v1"'})
    assert response.status_code == 403
    copied = shop.owner.post(shop.url(f"/reports/{funnel['id']}/copy"), json={})
    assert copied.status_code == 201, copied.get_json()
    body = copied.get_json()
    assert body["builtin_key"] is None and body["visibility"] == "private"
    assert body["spec"]["groups"] == funnel["spec"]["groups"]
    assert body["can_edit"]


def test_crud_sharing_and_concurrency(shop):
    mine = shop.create("ann", name="Ann's report")
    assert mine["visibility"] == "private" and mine["owner_id"] == shop.ids["ann"]
    # A private report is its owner's (and the administrators').
    assert shop["bob"].get(shop.url(f"/reports/{mine['id']}")).status_code == 404
    assert shop["manager"].get(shop.url(f"/reports/{mine['id']}")).status_code == 404
    assert shop.owner.get(shop.url(f"/reports/{mine['id']}")).status_code == 200
    # Salespeople do not share; managers do.
    shop.create("ann", expect=403, visibility="tenant")
    shared = shop.create("manager", name="Team report", visibility="roles", shared_with=["member"])
    assert shop["bob"].get(shop.url(f"/reports/{shared['id']}")).status_code == 200
    assert (
        shop["bob"]
        .patch(
            shop.url(f"/reports/{shared['id']}"), json={"name": "x"}, headers={"If-Match": '"v1"'}
        )
        .status_code
        == 403
    )
    url = shop.url(f"/reports/{mine['id']}")
    # Updates need the version read; a stale one is refused.
    assert shop["ann"].patch(url, json={"name": "Renamed"}).status_code == 428
    response = shop["ann"].patch(url, json={"name": "Renamed"}, headers={"If-Match": '"v1"'})
    assert response.status_code == 200, response.get_json()
    assert response.headers["ETag"] == '"v2"'
    stale = shop["ann"].patch(url, json={"folder": "Q1"}, headers={"If-Match": '"v1"'})
    assert stale.status_code == 412
    mine_listed = shop["ann"].get(shop.url("/reports?folder=mine")).get_json()
    assert [r["name"] for r in mine_listed] == ["Renamed"]
    shared_listed = shop["ann"].get(shop.url("/reports?folder=shared")).get_json()
    assert [r["name"] for r in shared_listed] == ["Team report"]
    assert shop["ann"].delete(url).status_code == 204
    assert shop["ann"].get(url).status_code == 404
    with shop.app.app_context(), tenant_context(shop.tenant_id, db.session):
        actions = [
            e.action
            for e in db.session.query(AuditEvent)
            .filter(AuditEvent.target_type == "report", AuditEvent.target_id == str(mine["id"]))
            .order_by(AuditEvent.id)
        ]
    assert actions == ["report.created", "report.updated", "report.deleted"]


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        (by_band(groups=[{"field": "band", "granularity": "month"}]), "spec.groups[0].granularity"),
        (by_band(groups=[{"field": "nope"}]), "spec.groups[0].field"),
        (
            by_band(groups=[{"field": "band"}], aggregates=[{"fn": "sum"}]),
            "spec.aggregates[0].field",
        ),
        (by_band(type="pivot"), "spec.type"),
        (by_band(filter={"field": "band", "op": "gt", "value": "A"}), "spec.filter"),
        (by_band(chart={"type": "bar", "aggregate": "missing"}), "spec.chart.aggregate"),
    ],
)
def test_definition_errors_name_their_place(shop, spec, where):
    response = shop.owner.post(shop.url("/reports"), json={"name": "Bad", "spec": spec})
    assert response.status_code == 400, response.get_json()
    errors = response.get_json()["errors"]
    assert any(key.startswith(where) for key in errors), errors


def test_a_hidden_field_cannot_be_reported_on(shop):
    response = shop.owner.put(
        shop.url("/objects/account/fields/revenue/access"), json={"member": "hidden"}
    )
    assert response.status_code == 200, response.get_json()
    response = shop["ann"].post(shop.url("/reports"), json={"name": "x", "spec": by_band()})
    assert response.status_code == 400
    assert "spec.aggregates[1].field" in response.get_json()["errors"]


def test_a_salesperson_sees_only_her_rows_of_a_shared_report(shop):
    report = shop.create("manager", visibility="tenant", spec=by_band())
    full = shop.result("manager", report["id"])
    assert full["total"]["count"] == len(shop.visible())
    shop.scope("member", "own")
    for person in ("ann", "bob"):
        body = shop.result(person, report["id"])
        expected = shop.counts_by_band(person)
        assert body["total"]["count"] == sum(expected.values())
        rows = _rows_by_label(body)
        for band, count in expected.items():
            label = band or "(empty)"
            assert rows[label]["count"] == count
            # The drill-down URL opens the list of exactly these records, as the viewer.
            query = parse_qs(urlsplit(rows[label]["drill_url"]).query)
            assert query["view"] == ["all"]
            listed = (
                shop[person]
                .post(
                    shop.url("/records/account/query"),
                    json={"filter": json.loads(query["filter"][0]), "limit": 100},
                )
                .get_json()
            )
            names = {r["name"] for r in listed["data"]}
            assert names == {r[0] for r in shop.visible(person) if r[1] == band}
        revenue = shop.revenue_by_band(person)
        for band, amount in revenue.items():
            label = band or "(empty)"
            assert Decimal(rows[label]["values"]["sum_revenue"]["CNY"]) == amount
    # The chart carries the same figures and links.
    chart = shop.result("ann", report["id"])["chart_data"]
    assert chart["type"] == "bar"
    points = chart["series"][0]["data"]
    values = {c: p["value"] for c, p in zip(chart["categories"], points, strict=True)}
    assert values == {(b or "(empty)"): n for b, n in shop.counts_by_band("ann").items()}


def _sheet_rows(data: bytes) -> list[tuple]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book.worksheets[0]
    return [tuple(row) for row in sheet.iter_rows(values_only=True)]


def test_excel_export_keeps_groups_subtotals_and_figures(shop):
    report = shop.create(name="Bands by month", spec=band_by_month())
    result = shop.result("owner", report["id"])
    response = shop.owner.get(shop.url(f"/reports/{report['id']}/export.xlsx"))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    sheet = book.worksheets[0]
    rows = [tuple(r) for r in sheet.iter_rows(values_only=True)]
    header_at = next(i for i, r in enumerate(rows) if r[0] == "Band")
    header = rows[header_at]
    assert header[:2] == ("Band", "Signed")
    count_col = header.index("Record count")
    share_col = header.index("Record count, share of total")
    sum_col = header.index("Sum of Revenue (CNY)")
    avg_col = header.index("Average Staff")
    body = rows[header_at + 1 :]
    # Every group and sub-group in the result's order, with its figures.
    expected = []
    for group in result["rows"]:
        expected.append((group, 1))
        expected += [(child, 2) for child in group.get("children", [])]
    for offset, (node, level) in enumerate(expected):
        line = body[offset]
        excel_row = header_at + 2 + offset
        assert line[level - 1] == node["label"]
        assert line[count_col] == node["values"]["count"]
        assert Decimal(str(line[share_col])) == Decimal(node["percents"]["count"]) / 100
        amount = node["values"]["sum_revenue"].get("CNY")
        assert (Decimal(str(line[sum_col])) if line[sum_col] is not None else None) == (
            Decimal(amount) if amount is not None else None
        )
        average = node["values"]["avg_staff"]
        if average is None:
            assert line[avg_col] is None
        else:
            assert abs(Decimal(str(line[avg_col])) - Decimal(average)) < Decimal("1e-9")
        outline = sheet.row_dimensions[excel_row].outlineLevel or 0
        assert outline == level - 1
    total = body[len(expected)]
    assert total[0] == "Total"
    assert total[count_col] == len(shop.visible()) == result["total"]["count"]
    assert sheet.cell(row=header_at + 2, column=share_col + 1).number_format == "0.00%"
    assert "CNY" in sheet.cell(row=header_at + 2, column=sum_col + 1).number_format


def test_excel_export_of_a_matrix_is_a_pivot_table(shop):
    spec = by_band(
        type="matrix",
        column_groups=[{"field": "owner_id"}],
        aggregates=[{"fn": "count"}],
        chart={"type": "stacked_bar", "aggregate": "count"},
    )
    report = shop.create(name="Bands by owner", spec=spec)
    result = shop.result("owner", report["id"])
    rows = _sheet_rows(shop.owner.get(shop.url(f"/reports/{report['id']}/export.xlsx")).data)
    header_at = next(i for i, r in enumerate(rows) if r[0] == "Band")
    columns = [c["label"] for c in result["columns"]] + ["Total"]
    assert list(rows[header_at][1 : 1 + len(columns)]) == columns
    owners = {c["label"]: c["key"] for c in result["columns"]}
    for line in rows[header_at + 2 : header_at + 2 + len(result["rows"])]:
        band = next(r for r in result["rows"] if r["label"] == line[0])
        for i, label in enumerate(columns[:-1]):
            cell = next(
                (
                    c
                    for c in result["cells"]
                    if c["row"] == [band["key"]] and c["column"] == [owners[label]]
                ),
                None,
            )
            assert line[1 + i] == (cell["values"]["count"] if cell else None)
        assert line[len(columns)] == band["count"]
    # The chart is stacked by owner.
    chart = result["chart_data"]
    assert chart["stacked"] and {s["name"] for s in chart["series"]} == set(owners)


def test_export_needs_the_export_right(shop):
    report = shop.create("manager", visibility="tenant")
    rights = {"view": True, "create": True, "edit": True, "delete": False, "export": False}
    response = shop.owner.put(
        shop.url("/roles/member/permissions"), json={"objects": {"account": rights}}
    )
    assert response.status_code == 200, response.get_json()
    assert shop["ann"].get(shop.url(f"/reports/{report['id']}/export.xlsx")).status_code == 403
    assert shop["ann"].get(shop.url(f"/reports/{report['id']}/result")).status_code == 200


def test_a_report_too_slow_for_a_request_runs_as_a_job(shop, app, drain_jobs, monkeypatch):
    rows = [
        (f"Bulk {i}", {"band": "ABC"[i % 3], "staff": i % 50, "signed": f"2026-0{1 + i % 9}-01"})
        for i in range(30_000)
    ]
    insert_records(app, shop.tenant_id, shop.ids["ann"], rows)
    report = shop.create(spec=band_by_month())
    monkeypatch.setitem(app.config, "QUERY_TIMEOUT_MS", 1)
    response = shop.owner.get(shop.url(f"/reports/{report['id']}/result"))
    assert response.status_code == 202, response.get_json()
    job = response.get_json()["job"]
    assert response.headers["Location"].endswith(f"/jobs/{job['id']}")
    # Asking again while it waits gives the same job, not a second one.
    again = shop.owner.get(shop.url(f"/reports/{report['id']}/result"))
    assert again.status_code == 202 and again.get_json()["job"]["id"] == job["id"]
    drain_jobs()
    status = shop.owner.get(job["url"]).get_json()
    assert status["status"] == "succeeded", status
    computed = status["result"]["result"]
    assert computed["total"]["count"] == len(shop.visible()) + len(rows)
    # The page asks again: the finished job's result answers (still too slow in a request).
    body = shop.result("owner", report["id"])
    assert body["total"]["count"] == computed["total"]["count"]
    # Another person's run is their own (their scope), not this result.
    other = shop["manager"].get(shop.url(f"/reports/{report['id']}/result"))
    assert other.status_code == 404  # the owner's private report


def test_another_companys_reports_are_unknown(shop, make_company, api):
    report = shop.create()
    other = make_company()
    client = api(other.token)
    base = f"/api/v1/t/{other.slug}/reports/{report['id']}"
    assert client.get(base).status_code == 404
    assert client.get(f"{base}/result").status_code == 404
    assert client.get(f"{base}/export.xlsx").status_code == 404
    assert client.delete(base).status_code == 404
    names = {r["name"] for r in client.get(f"/api/v1/t/{other.slug}/reports").get_json()}
    assert "Customers by band" not in names


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(max_size=20),
    st.sampled_from(
        [
            "",
            "account",
            "band",
            "summary",
            "matrix",
            "month",
            "count",
            "sum",
            "private",
            "tenant",
            "roles",
            "daily",
            "weekly",
            "25:00",
            "08:00",
            "\u0000",
        ]
    ),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
REPORT_KEYS = ["name", "description", "folder", "visibility", "shared_with", "spec"]
SPEC_KEYS = ["object", "type", "groups", "aggregates", "filter", "chart", "columns", "version"]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.dictionaries(st.sampled_from(REPORT_KEYS), json_values, max_size=5),
    spec=st.dictionaries(st.sampled_from(SPEC_KEYS), json_values, max_size=6),
    board=st.dictionaries(
        st.sampled_from(["name", "layout", "filters", "visibility"]), json_values, max_size=4
    ),
    schedule=st.dictionaries(
        st.sampled_from(["report_id", "frequency", "weekday", "day", "time", "recipients"]),
        json_values,
        max_size=6,
    ),
)
def test_random_bodies_are_refused_cleanly(fuzz_shop, body, spec, board, schedule):
    client, base = fuzz_shop
    if "spec" not in body or not isinstance(body.get("spec"), dict):
        body = {**body, "spec": {"object": "account", "type": "summary", **spec}}
    for path, payload in (
        ("/reports", body),
        ("/dashboards", board),
        ("/report-schedules", schedule),
    ):
        response = client.post(f"{base}{path}", json=payload)
        assert response.status_code < 500, (path, payload, response.get_data(as_text=True))


@pytest.fixture(scope="module")
def fuzz_shop(app):
    from tests.query.conftest import TokenClient, signup

    _tenant_id, slug, _owner, token = signup(app, "Report fuzz")
    client = TokenClient(app, token)
    base = f"/api/v1/t/{slug}"
    field = {"key": "band", "type": "picklist", "label": "Band", "values": ["A", "B"]}
    assert client.post(f"{base}/objects/account/fields", json=field).status_code == 201
    return client, base
