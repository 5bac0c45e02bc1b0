"""Reports in a real browser: build a summary report with a bar chart in the builder (the list
pages' filter builder included), save it, add it to a new dashboard, click a bar of the
dashboard's chart and land on the list of exactly that bar's records."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_onboarding import log_in

pytestmark = pytest.mark.browser

FIELDS = (
    {"key": "band", "type": "picklist", "label": "Band", "values": ["A", "B", "C"]},
    {"key": "staff", "type": "integer", "label": "Staff"},
)
RECORDS = (
    ("Acme", "A", 10),
    ("Bolt", "A", 4),
    ("Cobalt", "B", 7),
    ("Dyna", "A", 30),
    ("Echo", "C", 2),
    ("Flux", "B", 1),
    ("Gear", "A", 8),
)


def _bar_point(page: Page, box, category: str) -> tuple[float, float]:
    """Where on the page the middle of a bar of the chart in ``box`` is (from ECharts)."""
    page.wait_for_function("(el) => el.dataset.ready === '1'", arg=box.element_handle())
    x, y = box.evaluate(
        """(el, category) => {
            const chart = window.echarts.getInstanceByDom(el);
            const option = chart.getOption();
            const index = option.xAxis[0].data.indexOf(category);
            const value = option.series[0].data[index].value;
            return chart.convertToPixel({ seriesIndex: 0 }, [index, value / 2]);
        }""",
        category,
    )
    bounds = box.bounding_box()
    return bounds["x"] + x, bounds["y"] + y


def test_build_report_add_to_dashboard_and_drill_into_a_bar(page: Page, make_company, api):
    company = make_company()
    rest = api(company.token)
    for payload in FIELDS:
        response = rest.post(f"/api/v1/t/{company.slug}/objects/account/fields", json=payload)
        assert response.status_code == 201, response.get_json()
    for name, band, staff in RECORDS:
        response = rest.post(
            f"/api/v1/t/{company.slug}/records/account",
            json={"name": name, "band": band, "staff": staff},
        )
        assert response.status_code == 201, response.get_json()
    log_in(page, company.owner_email)

    # The builder: customers grouped by band, counted, as a bar chart, staff ≥ 2.
    page.goto(f"/t/{company.slug}/reports/new")
    page.wait_for_load_state("load")
    with page.expect_navigation():
        page.get_by_test_id("report-object").select_option(label="Customer")
    page.wait_for_load_state("load")
    page.get_by_label("Group by 1").select_option(label="Band")
    page.get_by_label("Figure 1", exact=True).select_option(value="count")
    page.get_by_test_id("report-chart-type").select_option(value="bar")
    builder = page.get_by_test_id("filter-builder")
    builder.get_by_test_id("add-condition").click()
    builder.get_by_label("Field 1").select_option(label="Staff")
    builder.get_by_label("Operator 1").select_option(label="is at least")
    builder.get_by_label("Value 1").fill("2")
    with page.expect_navigation():
        builder.get_by_test_id("apply-filter").click()
    page.wait_for_load_state("load")
    # The filter and the rest of the draft survived the filter builder's navigation.
    expect(page.get_by_label("Group by 1")).to_have_value("band")
    preview = page.get_by_test_id("report-preview")
    expect(preview.get_by_test_id("report-chart")).to_be_visible()
    expect(preview.get_by_test_id("total-row")).to_contain_text("6")
    page.get_by_test_id("report-name").fill("Customers by band")
    with page.expect_navigation():
        page.get_by_test_id("save-report-button").click()
    expect(page.get_by_test_id("report-title")).to_have_text("Customers by band")
    report_url = page.url

    # A dashboard, and the report on it.
    page.goto(f"/t/{company.slug}/dashboards/")
    page.get_by_test_id("dashboard-name").fill("Sales board")
    with page.expect_navigation():
        page.get_by_test_id("create-dashboard").click()
    expect(page.get_by_test_id("dashboard-empty")).to_be_visible()
    page.goto(report_url)
    page.get_by_test_id("widget-dashboard").select_option(label="Sales board")
    with page.expect_navigation():
        page.get_by_test_id("add-widget").click()
    expect(page.get_by_test_id("dashboard-title")).to_have_text("Sales board")
    page.wait_for_load_state("load")
    widget = page.get_by_test_id("widget").first
    box = widget.get_by_test_id("report-chart")
    expect(box).to_be_visible()

    # Click the bar of band A: the list of exactly those customers opens.
    expected = sum(1 for _n, band, staff in RECORDS if band == "A" and staff >= 2)
    x, y = _bar_point(page, box, "A")
    with page.expect_navigation():
        page.mouse.click(x, y)
    page.wait_for_load_state("load")
    assert re.search(rf"/t/{company.slug}/o/account/\?", page.url)
    expect(page.get_by_test_id("count")).to_have_text(f"{expected} records")
    names = page.get_by_test_id("records").locator("tbody td[data-field='name']")
    expect(names).to_have_count(expected)
    shown = set(names.all_inner_texts())
    assert shown == {n for n, band, staff in RECORDS if band == "A" and staff >= 2}
