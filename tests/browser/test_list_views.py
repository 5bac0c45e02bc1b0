"""The list page in a real browser: build a filter with a group in the filter builder, sort on
three levels with Shift-click, save the view, switch to another view and back (same rows, same
order), then export the view to Excel and read the file back."""

from __future__ import annotations

import re

import openpyxl
import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_onboarding import log_in

pytestmark = pytest.mark.browser

FIELDS = (
    {"key": "band", "type": "picklist", "label": "Band", "values": ["A", "B", "C"]},
    {"key": "revenue", "type": "integer", "label": "Revenue"},
    {"key": "city", "type": "text", "label": "City"},
)
RECORDS = (
    ("Acme", "A", 500, "Shanghai"),
    ("Bolt", "B", 300, "Beijing"),
    ("Cobalt", "A", 300, "Beijing"),
    ("Dyna", "C", 900, "Shanghai"),
    ("Echo", "A", 50, "Shanghai"),
    ("Flux", "B", 300, "Shanghai"),
    ("Gear", "A", 300, "Beijing"),
    ("Helix", "A", 700, "Beijing"),
)
OWN_COLUMNS = "name,owner_id,band,revenue,city,updated_at"
# revenue ≥ 100 AND (band A OR band B), by band, city, then revenue going down (ties: id).
EXPECTED = ["Helix", "Cobalt", "Gear", "Acme", "Bolt", "Flux"]


def name_cells(page: Page):
    return page.get_by_test_id("records").locator("tbody td[data-field='name']")


def shift_click(page: Page, locator) -> None:
    """Shift-click once the page's script runs (before that, Chromium opens a new window)."""
    page.wait_for_load_state("load")
    locator.click(modifiers=["Shift"])


def test_filter_sort_save_reopen_and_export(page: Page, live_server, make_company, api, tmp_path):
    company = make_company()
    rest = api(company.token)
    for payload in FIELDS:
        response = rest.post(f"/api/v1/t/{company.slug}/objects/account/fields", json=payload)
        assert response.status_code == 201, response.get_json()
    for name, band, revenue, city in RECORDS:
        response = rest.post(
            f"/api/v1/t/{company.slug}/records/account",
            json={"name": name, "band": band, "revenue": revenue, "city": city},
        )
        assert response.status_code == 201, response.get_json()

    log_in(page, company.owner_email)
    # The default columns start with the system fields: show this company's own instead.
    page.goto(f"/t/{company.slug}/o/account/?columns={OWN_COLUMNS}")
    expect(page.get_by_test_id("count")).to_have_text("8 records")

    # The filter builder: revenue ≥ 100, and a group "band A or band B".
    page.get_by_test_id("filter-toggle").click()
    builder = page.get_by_test_id("filter-builder")
    builder.get_by_test_id("add-condition").click()
    builder.get_by_label("Field 1").select_option(label="Revenue")
    builder.get_by_label("Operator 1").select_option(label="is at least")
    builder.get_by_label("Value 1").fill("100")
    builder.get_by_test_id("add-group").click()
    builder.get_by_label("Field 2").select_option(label="Band")
    builder.get_by_label("Value 2").select_option(label="A")
    builder.get_by_test_id("add-condition-in-group").click()
    builder.get_by_label("Field 3").select_option(label="Band")
    builder.get_by_label("Value 3").select_option(label="B")
    expect(builder.get_by_test_id("filter-logic")).to_have_value("1 AND (2 OR 3)")
    builder.get_by_test_id("apply-filter").click()

    expect(page.get_by_test_id("count")).to_have_text("6 records")
    expect(page.get_by_test_id("chip")).to_have_count(3)
    expect(page.get_by_test_id("logic")).to_contain_text("1 AND (2 OR 3)")
    assert "logic=1+AND+%282+OR+3%29" in page.url

    # Sort: Band, then Shift-click City and Revenue (twice: going down).
    header = lambda key: page.locator(f"th[data-key='{key}'] a.sort-link")  # noqa: E731
    header("band").click()
    expect(page).to_have_url(re.compile(r"sort=band(&|$)"))
    shift_click(page, header("city"))
    expect(page).to_have_url(re.compile(r"sort=band%2Ccity(&|$)"))
    shift_click(page, header("revenue"))
    expect(page).to_have_url(re.compile(r"sort=band%2Ccity%2Crevenue(&|$)"))
    shift_click(page, header("revenue"))
    expect(page).to_have_url(re.compile(r"sort=band%2Ccity%2C-revenue(&|$)"))
    levels = page.get_by_test_id("sort-level")
    expect(levels).to_have_text(["↑1", "↓3", "↑2"])  # in column order: band, revenue, city
    expect(page.locator("th[data-key='revenue']")).to_have_attribute("aria-sort", "descending")
    expect(name_cells(page)).to_have_text(EXPECTED)

    # Save it as a view.
    page.get_by_test_id("save-as").click()
    page.locator("#save-as-name").fill("Top A and B")
    page.get_by_test_id("save-as-submit").click()
    expect(page.get_by_text("The view “Top A and B” was saved.")).to_be_visible()
    expect(page.get_by_test_id("view-name")).to_have_text("Top A and B")
    expect(page).to_have_url(re.compile(r"\?view=\d+$"))
    saved_url = page.url
    expect(name_cells(page)).to_have_text(EXPECTED)

    # Another view, then back to the saved one.
    page.get_by_test_id("view-switcher").click()
    page.get_by_test_id("view-menu").get_by_role("link", name="All records").click()
    expect(page.get_by_test_id("view-name")).to_have_text("All records")
    expect(page.get_by_test_id("count")).to_have_text("8 records")
    expect(name_cells(page)).to_have_count(8)
    page.get_by_test_id("view-switcher").click()
    page.get_by_test_id("view-menu").get_by_role("link", name="Top A and B").click()
    expect(page.get_by_test_id("view-name")).to_have_text("Top A and B")
    assert page.url == saved_url
    expect(page.get_by_test_id("count")).to_have_text("6 records")
    expect(page.get_by_test_id("chip")).to_have_count(3)
    expect(page.get_by_test_id("sort-level")).to_have_text(["↑1", "↓3", "↑2"])
    expect(name_cells(page)).to_have_text(EXPECTED)

    # Export the view to Excel: the same rows in the same order.
    page.get_by_test_id("export-menu").click()
    with page.expect_download() as download_info:
        page.get_by_test_id("export-xlsx").click()
    download = download_info.value
    target = tmp_path / "view.xlsx"
    download.save_as(target)
    sheet = openpyxl.load_workbook(target, read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "Name"
    assert [r[0] for r in rows[1:]] == EXPECTED
    headers = list(rows[0])
    band = headers.index("Band")
    revenue = headers.index("Revenue")
    assert [(r[band], r[revenue]) for r in rows[1:]] == [
        ("A", 700),
        ("A", 300),
        ("A", 300),
        ("A", 500),
        ("B", 300),
        ("B", 300),
    ]


def test_kanban_moves_a_card_and_reports_a_conflict(page: Page, live_server, make_company, api):
    company = make_company()
    rest = api(company.token)
    base = f"/api/v1/t/{company.slug}"
    rest.post(f"{base}/objects/account/fields", json=FIELDS[0])
    ids = {}
    for name, band in (("Acme", "A"), ("Bolt", "B")):
        ids[name] = rest.post(
            f"{base}/records/account", json={"name": name, "band": band}
        ).get_json()["id"]
    log_in(page, company.owner_email)
    page.goto(f"/t/{company.slug}/o/account/")
    page.get_by_test_id("layout-kanban").click()
    # The board groups by the first picklist (the system field "grade"): choose the band, once
    # the page's script (which submits the choice) runs.
    page.wait_for_load_state("load")
    page.get_by_test_id("group-by").select_option(label="Band")
    expect(page).to_have_url(re.compile(r"group_by=band(&|$)"))
    column = lambda code: page.locator(f"[data-testid=kanban-column][data-code='{code}']")  # noqa: E731
    expect(column("A").get_by_test_id("card")).to_have_text([re.compile("Acme")])

    # Drag Acme to C: saved with its version.
    page.wait_for_load_state("load")
    column("A").get_by_test_id("card").first.drag_to(column("C").locator("[data-dropzone]"))
    expect(page.get_by_test_id("list-notice")).to_have_text("“Acme” moved to C.")
    expect(column("C").get_by_test_id("kanban-count")).to_have_text("1")
    assert rest.get(f"{base}/records/account/{ids['Acme']}").get_json()["band"] == "C"

    # Someone else moves Bolt meanwhile; moving the stale card (with the keyboard) is refused.
    response = rest.patch(
        f"{base}/records/account/{ids['Bolt']}", json={"band": "A"}, headers={"If-Match": '"v1"'}
    )
    assert response.status_code == 200
    column("B").get_by_label("Move “Bolt” to").select_option(label="No value")
    expect(page.get_by_test_id("list-notice")).to_contain_text("Someone else changed “Bolt”")
    expect(column("A").get_by_test_id("card")).to_have_text([re.compile("Bolt")])  # reloaded
    expect(column("").get_by_test_id("card")).to_have_count(0)
    assert rest.get(f"{base}/records/account/{ids['Bolt']}").get_json()["band"] == "A"


def test_columns_chooser_and_widths_are_kept_in_the_view(
    page: Page, live_server, make_company, api
):
    company = make_company()
    rest = api(company.token)
    base = f"/api/v1/t/{company.slug}"
    for payload in FIELDS:
        rest.post(f"{base}/objects/account/fields", json=payload)
    rest.post(f"{base}/records/account", json={"name": "Acme", "band": "A", "city": "Shanghai"})
    log_in(page, company.owner_email)
    page.goto(f"/t/{company.slug}/o/account/?columns={OWN_COLUMNS}")
    headers = page.locator("th[data-key]")
    expect(headers).to_have_count(6)

    page.get_by_test_id("columns-button").click()
    chooser = page.get_by_test_id("column-list")
    chooser.get_by_label("Show Owner", exact=True).uncheck()
    chooser.get_by_label("Show Last modified", exact=True).uncheck()
    chooser.get_by_role("button", name="Move City up").click()
    chooser.get_by_role("button", name="Move City up").click()
    chooser.get_by_label("Show Created", exact=True).check()
    page.get_by_test_id("columns-apply").click()
    expect(page).to_have_url(re.compile(r"columns=name%2Ccity%2Cband%2Crevenue%2Ccreated_at"))
    expect(headers).to_have_count(5)
    assert [h.get_attribute("data-key") for h in headers.all()] == [
        "name",
        "city",
        "band",
        "revenue",
        "created_at",
    ]

    # Widen the city column with the keyboard; the URL and the save form keep the width.
    handle = page.locator("th[data-key='city'] .col-resize")
    handle.focus()
    before = page.locator("th[data-key='city']").bounding_box()["width"]
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    width = int(page.locator("th[data-key='city']").get_attribute("data-width"))
    assert width >= before + 40
    expect(page).to_have_url(re.compile(rf"city%3A{width}"))
    page.get_by_test_id("save-as").click()
    page.locator("#save-as-name").fill("Cities")
    page.get_by_test_id("save-as-submit").click()
    expect(page.get_by_test_id("view-name")).to_have_text("Cities")
    expect(page.locator("th[data-key='city']")).to_have_attribute("data-width", str(width))
    saved = rest.get(f"{base}/objects/account/views").get_json()[-1]
    assert saved["columns"][1] == {"key": "city", "width": width}


def test_bulk_change_confirms_the_count(page: Page, live_server, make_company, api):
    company = make_company()
    rest = api(company.token)
    base = f"/api/v1/t/{company.slug}"
    rest.post(f"{base}/objects/account/fields", json=FIELDS[0])
    for name in ("Acme", "Bolt", "Cobalt"):
        rest.post(f"{base}/records/account", json={"name": name, "band": "A"})
    log_in(page, company.owner_email)
    page.goto(f"/t/{company.slug}/o/account/?sort=name&limit=10")
    bar = page.get_by_test_id("bulk-bar")
    expect(bar).to_be_hidden()
    page.get_by_label("Select “Acme”").check()
    page.get_by_label("Select “Cobalt”").check()
    expect(bar).to_be_visible()
    expect(bar).to_contain_text("2 selected")
    bar.get_by_label("Field").select_option(label="Band")
    bar.get_by_label("Value").select_option(label="C")
    page.get_by_test_id("bulk-apply").click()
    expect(page.get_by_test_id("bulk-summary")).to_have_text("Set “Band” to “C” on 2 records?")
    page.get_by_test_id("bulk-confirm").click()
    expect(page).to_have_url(re.compile(r"/o/account/\?sort=name&limit=10$"))
    grades = {r["name"]: r["band"] for r in rest.get(f"{base}/records/account").get_json()["data"]}
    assert grades == {"Acme": "C", "Bolt": "A", "Cobalt": "C"}
