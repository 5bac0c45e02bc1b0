"""The report and dashboard pages without a browser: the list with its sections and empty
state, the builder (its URL is the draft; errors land on their controls; saving), a report
with its chart data, table and drill-down links, the Excel download, print preview, copy and
confirmed delete, schedules, dashboards with their filter bar, widgets and layout editing."""

from __future__ import annotations

import io
import json
import re
from urllib.parse import parse_qs, urlencode, urlsplit

import openpyxl
import pytest

from tests.reports.shop import ROWS, Shop, by_band


@pytest.fixture
def shop(app, make_company, api, add_member) -> Shop:
    return Shop(app, make_company(), api, add_member)


@pytest.fixture
def browser_of(shop, login):
    return lambda person: login(shop.emails[person])


def _page(shop: Shop, path: str) -> str:
    return f"/t/{shop.slug}{path}"


def _chart(html: str, box: str) -> dict:
    found = re.search(rf'<script type="application/json" id="{box}">(.*?)</script>', html, re.S)
    assert found, f"no chart {box}"
    return json.loads(found.group(1))


def test_report_list_sections_and_empty_state(shop, browser_of):
    client = browser_of("ann")
    html = client.get(_page(shop, "/reports/")).get_data(as_text=True)
    assert 'data-testid="reports-builtin"' in html
    assert "Sales funnel" in html and "Pipeline forecast" in html
    assert 'data-testid="reports-empty"' in html
    shop.create("ann", name="Ann's bands", folder="Q1")
    shop.create("manager", name="Team bands", visibility="tenant")
    html = client.get(_page(shop, "/reports/")).get_data(as_text=True)
    assert 'data-testid="reports-empty"' not in html
    assert "Ann&#39;s bands" in html and "Team bands" in html
    in_folder = client.get(_page(shop, "/reports/?folder=Q1")).get_data(as_text=True)
    assert "Ann&#39;s bands" in in_folder and "Team bands" not in in_folder
    # Navigation links.
    assert 'data-testid="reports-link"' in html and 'data-testid="dashboards-link"' in html


def test_builder_previews_the_url_draft_and_saves_it(shop, browser_of):
    client = browser_of("owner")
    blank = client.get(_page(shop, "/reports/new?object=account"))
    assert blank.status_code == 200
    html = blank.get_data(as_text=True)
    assert 'id="filter-builder"' in html and "list.js" in html and "echarts.min.js" in html
    meta = json.loads(re.search(r'id="list-meta">(.*?)</script>', html, re.S).group(1))
    assert meta["index"] == f"/t/{shop.slug}/reports/new"
    assert any(f["key"] == "band" for f in meta["fields"])
    draft = [
        ("object", "account"),
        ("type", "summary"),
        ("g0", "band"),
        ("a0_fn", "count"),
        ("a1_fn", "sum"),
        ("a1_field", "revenue"),
        ("chart", "bar"),
        ("f", "staff:gt:1"),
    ]
    preview = client.get(_page(shop, "/reports/new?" + urlencode(draft)))
    assert preview.status_code == 200
    html = preview.get_data(as_text=True)
    chart = _chart(html, "preview-chart")
    expected = {}
    for _name, band, staff, _rev, _signed, _owner in ROWS:
        if staff is not None and staff > 1:
            expected[band or "(empty)"] = expected.get(band or "(empty)", 0) + 1
    assert (
        dict(
            zip(chart["categories"], [p["value"] for p in chart["series"][0]["data"]], strict=True)
        )
        == expected
    )
    # The group row links to exactly its records, the report's filter included.
    link = chart["series"][0]["data"][0]["url"]
    drill = json.loads(parse_qs(urlsplit(link).query)["filter"][0])
    assert {"field": "staff", "op": "gt", "value": "1"} in drill["and"]
    # A definition error is shown at its control.
    bad = client.get(
        _page(shop, "/reports/new?" + urlencode([*draft[:3], ("g0_gran", "month")]))
    ).get_data(as_text=True)
    assert 'data-error="g0_gran"' in bad
    # Saving: the form carries the draft as its state.
    state = urlencode(draft)
    response = client.post(
        _page(shop, "/reports/new"),
        data={"state": state, "name": "Bands over one", "visibility": "private"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    report_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    stored = shop.owner.get(shop.url(f"/reports/{report_id}")).get_json()
    assert stored["spec"]["groups"] == [{"field": "band"}]
    assert stored["spec"]["filter"] == {"field": "staff", "op": "gt", "value": "1"}
    # Editing opens the same draft; a missing name is refused on the page.
    edit = client.get(_page(shop, f"/reports/{report_id}/edit")).get_data(as_text=True)
    assert 'value="Bands over one"' in edit and 'data-testid="report-chart"' in edit
    refused = client.post(
        _page(shop, f"/reports/{report_id}/edit"),
        data={"state": state, "name": "", "version": "1", "visibility": "private"},
    )
    assert refused.status_code == 400
    assert 'data-error="name"' in refused.get_data(as_text=True)


def test_report_page_chart_table_export_print_copy_delete(shop, browser_of):
    report = shop.create("manager", visibility="tenant", spec=by_band())
    shop.scope("member", "own")
    client = browser_of("ann")
    html = client.get(_page(shop, f"/reports/{report['id']}")).get_data(as_text=True)
    chart = _chart(html, "report-chart-data")
    ann = {}
    for row in shop.visible("ann"):
        ann[row[1] or "(empty)"] = ann.get(row[1] or "(empty)", 0) + 1
    assert (
        dict(
            zip(chart["categories"], [p["value"] for p in chart["series"][0]["data"]], strict=True)
        )
        == ann
    )
    assert html.count('data-testid="group-link"') == len(ann)
    assert 'data-testid="delete-report"' not in html  # the manager's report
    # The Excel download holds Ann's figures.
    response = client.get(_page(shop, f"/reports/{report['id']}/export.xlsx"))
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    total = next(r for r in rows if r[0] == "Total")
    assert total[1] == sum(ann.values())
    printed = client.get(_page(shop, f"/reports/{report['id']}/print")).get_data(as_text=True)
    assert "print.css" in printed and 'id="print-chart"' in printed
    # Copy: Ann's own private copy, which she may delete (after confirming).
    response = client.post(_page(shop, f"/reports/{report['id']}/copy"))
    assert response.status_code == 302
    copy_id = int(response.headers["Location"].split("/reports/")[1].split("/")[0])
    mine = client.get(_page(shop, f"/reports/{copy_id}")).get_data(as_text=True)
    assert 'data-confirm="Delete the report' in mine
    assert client.post(_page(shop, f"/reports/{copy_id}/delete")).status_code == 302
    assert client.get(_page(shop, f"/reports/{copy_id}")).status_code == 404
    # Another person's private report and another company's are not found.
    private = shop.create("manager", name="Private")
    assert client.get(_page(shop, f"/reports/{private['id']}")).status_code == 404


def test_schedules_page(shop, browser_of):
    report = shop.create("manager", visibility="tenant")
    client = browser_of("manager")
    page = _page(shop, f"/reports/{report['id']}/schedules")
    assert 'data-testid="schedules-empty"' in client.get(page).get_data(as_text=True)
    response = client.post(
        page,
        data={
            "frequency": "weekly",
            "weekday": "4",
            "time": "17:30",
            "recipients": [str(shop.ids["manager"]), str(shop.ids["ann"])],
        },
    )
    assert response.status_code == 302
    html = client.get(page).get_data(as_text=True)
    assert "Friday" in html and "17:30" in html
    bad = client.post(page, data={"frequency": "daily", "time": "7pm"})
    assert bad.status_code == 400 and 'data-error="time"' in bad.get_data(as_text=True)
    schedule_id = int(re.search(r'data-schedule-id="(\d+)"', html).group(1))
    change = _page(shop, f"/reports/schedules/{schedule_id}")
    assert client.post(change, data={"action": "pause"}).status_code == 302
    assert "Paused" in client.get(page).get_data(as_text=True)
    assert client.post(change, data={"action": "delete"}).status_code == 302
    assert 'data-testid="schedules-empty"' in client.get(page).get_data(as_text=True)


def test_dashboard_pages(shop, browser_of):
    report = shop.create("manager", visibility="tenant", spec=by_band())
    client = browser_of("manager")
    listing = client.get(_page(shop, "/dashboards/")).get_data(as_text=True)
    assert 'data-testid="dashboards-empty"' in listing
    response = client.post(
        _page(shop, "/dashboards/"), data={"name": "Weekly", "visibility": "tenant"}
    )
    assert response.status_code == 302
    board_url = response.headers["Location"]
    board_id = int(board_url.rstrip("/").rsplit("/", 1)[-1])
    assert 'data-testid="dashboard-empty"' in client.get(board_url).get_data(as_text=True)
    # Add the report from its page, as a chart and as a KPI tile.
    for kind in ("report", "kpi"):
        response = client.post(
            _page(shop, f"/reports/{report['id']}/widget"),
            data={"dashboard_id": str(board_id), "kind": kind},
        )
        assert response.status_code == 302
    html = client.get(board_url).get_data(as_text=True)
    assert html.count('data-testid="widget"') == 2
    chart = _chart(html, "widget-chart-w1")
    assert sum(p["value"] for p in chart["series"][0]["data"]) == len(ROWS)
    assert 'data-testid="kpi-value"' in html
    # The filter bar: Bob's records only.
    filtered = client.get(f"{board_url}?owner_id={shop.ids['bob']}").get_data(as_text=True)
    chart = _chart(filtered, "widget-chart-w1")
    assert sum(p["value"] for p in chart["series"][0]["data"]) == len(shop.visible("bob"))
    bad = client.get(f"{board_url}?date_from=2026-02-01&date_to=2026-01-01")
    assert bad.status_code == 400
    # Edit the layout: narrow the chart, remove the KPI, use "signed" as the date field.
    edit_url = _page(shop, f"/dashboards/{board_id}/edit")
    assert client.get(edit_url).status_code == 200
    response = client.post(
        edit_url,
        data={
            "name": "Weekly",
            "visibility": "tenant",
            "version": "3",
            "order-w1": "1",
            "w-w1": "8",
            "h-w1": "4",
            "chart-w1": "pie",
            "order-w2": "2",
            "w-w2": "3",
            "h-w2": "1",
            "remove-w2": "1",
            "date-account": "signed",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    stored = shop["manager"].get(shop.url(f"/dashboards/{board_id}")).get_json()
    assert [(w["id"], w["w"], w["chart"]) for w in stored["layout"]] == [("w1", 8, "pie")]
    assert stored["filters"]["date_fields"] == {"account": "signed"}
    html = client.get(f"{board_url}?date_from=2026-02-01").get_data(as_text=True)
    chart = _chart(html, "widget-chart-w1")
    assert chart["type"] == "pie"
    signed_since = sum(1 for r in ROWS if r[4] and r[4] >= "2026-02-01")
    assert sum(p["value"] for p in chart["data"]) == signed_since
    # Delete (a confirmed form).
    assert 'data-confirm="Delete the dashboard' in html
    assert client.post(_page(shop, f"/dashboards/{board_id}/delete")).status_code == 302
    assert client.get(board_url).status_code == 404


def test_every_built_in_report_page_renders(shop, browser_of):
    client = browser_of("ann")
    for report in shop.owner.get(shop.url("/reports?folder=builtin")).get_json():
        response = client.get(_page(shop, f"/reports/{report['id']}"))
        assert response.status_code == 200, report["builtin_key"]
        html = response.get_data(as_text=True)
        assert 'data-testid="report-table"' in html, report["builtin_key"]
        assert 'data-testid="edit-report"' not in html
        export = client.get(_page(shop, f"/reports/{report['id']}/export.xlsx"))
        assert export.status_code == 200, report["builtin_key"]


def test_builder_keeps_a_filter_with_quotes_inside_its_hidden_input(shop, browser_of):
    """The draft's filter JSON goes into an attribute: its quotes must not end the attribute
    (a value like ``x" onmouseover="…`` would otherwise add attributes), and it must read back
    as the same JSON so the report can be saved again."""
    from html.parser import HTMLParser

    client = browser_of("owner")
    nasty = 'x" onmouseover="alert(1)'
    draft = [("object", "account"), ("type", "summary"), ("g0", "band"), ("a0_fn", "count")]
    tree = {"field": "name", "op": "eq", "value": nasty}
    page = client.get(
        _page(shop, "/reports/new?" + urlencode([*draft, ("filter", json.dumps(tree))]))
    )
    assert page.status_code == 200

    class Inputs(HTMLParser):
        found: list[dict] = []

        def handle_starttag(self, tag, attrs):
            if tag == "input" and ("data-builder-filter", None) in attrs:
                self.found.append(dict(attrs))

    parser = Inputs()
    parser.feed(page.get_data(as_text=True))
    (hidden,) = parser.found
    assert "onmouseover" not in hidden
    assert json.loads(hidden["value"]) == tree
