"""Record pages in a real browser: an admin adds fields, arranges the page layout in two
sections, then creates a customer through the form (after a validation error), edits it and
finds the values on the record page in the sections chosen."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_customize import fill_value
from tests.browser.test_onboarding import sign_up

pytestmark = pytest.mark.browser


def add_field(page: Page, type_link: str, key: str, zh: str, en: str) -> None:
    page.get_by_role("link", name="Add a field").first.click()
    page.get_by_test_id("field-types").get_by_role("link", name=re.compile(f"^{type_link}")).click()
    page.locator("#key").fill(key)
    page.locator("#label_zh").fill(zh)
    page.locator("#label_en").fill(en)


def test_layout_then_create_edit_and_view_a_customer(page: Page, live_server):
    owner = sign_up(page)
    page.locator("#nav").get_by_role("link", name="Customize").click()
    page.get_by_role("link", name="Fields · Customer").click()

    # Two fields of the company's own (after the system fields): money and a picklist.
    page.get_by_role("link", name="Add a field").click()
    page.get_by_test_id("field-types").get_by_role("link", name=re.compile("^Money")).click()
    page.locator("#key").fill("budget")
    page.locator("#label_zh").fill("预算")
    page.locator("#label_en").fill("Budget")
    page.get_by_role("button", name="Add the field").click()
    expect(page.get_by_role("status")).to_have_text("The field “Budget” was added.")
    add_field(page, "Picklist", "tier", "级别", "Tier")
    fill_value(page, 0, "gold", "金", "Gold")
    fill_value(page, 1, "silver", "银", "Silver")
    page.get_by_role("button", name="Add the field").click()
    expect(page.get_by_role("status")).to_have_text("The field “Tier” was added.")

    # The layout: "Money" keeps the budget, a new section "Grading" gets the tier.
    page.get_by_role("link", name="Page layout").click()
    expect(page).to_have_url(f"{live_server}/t/{owner.slug}/admin/objects/account/layout")
    expect(page.get_by_test_id("default-layout")).to_be_visible()
    page.locator("#section-0-title_zh").fill("金额")
    page.locator("#section-0-title_en").fill("Money")
    page.get_by_role("button", name="Add a section").click()
    expect(page.get_by_test_id("layout-section")).to_have_count(2)
    expect(page.locator("#section-0-title_en")).to_have_value("Money")  # kept, not saved yet
    page.locator("#section-1-title_zh").fill("分级")
    page.locator("#section-1-title_en").fill("Grading")
    page.locator("#section-1-columns").select_option("2")
    page.locator("#place-tier").select_option("1")
    # The script moves the row into the chosen section at once.
    second = page.locator("[data-layout-list][data-section='1']")
    expect(second.locator("[data-layout-field]")).to_have_count(1)
    expect(second.locator("[data-layout-field][data-key='tier']")).to_be_visible()
    page.get_by_role("button", name="Save the layout").click()
    expect(page.get_by_role("status")).to_have_text("The page layout was saved.")
    expect(page.locator("#place-tier")).to_have_value("1")
    expect(page.locator("#place-budget")).to_have_value("0")

    # Home → Customers → New.
    page.locator("#nav").get_by_role("link", name="Home").click()
    page.get_by_test_id("object-card").get_by_role("link", name="Customers").click()
    expect(page).to_have_url(f"{live_server}/t/{owner.slug}/o/account/")
    expect(page.get_by_test_id("no-records")).to_be_visible()
    page.get_by_test_id("no-records").get_by_role("link", name="New Customer").click()
    form = page.get_by_test_id("record-form")
    expect(form.locator("legend")).to_have_text(["Money", "Grading"])
    expect(page.locator("#field-budget-currency")).to_have_value("CNY")

    # Without a name: the error shows next to the name, and what was typed is kept.
    page.get_by_label("Budget", exact=True).fill("5000")
    page.get_by_label("Tier").select_option("gold")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#name")).to_have_class(re.compile("is-invalid"))
    expect(page.locator("[data-field='name']")).to_have_text("Enter a name.")
    expect(page.get_by_label("Budget", exact=True)).to_have_value("5000")
    expect(page.get_by_label("Tier")).to_have_value("gold")
    expect(page.locator("#name")).to_be_focused()
    page.locator("#name").fill("上海示例贸易有限公司")
    page.get_by_role("button", name="Create").click()

    expect(page.get_by_role("status")).to_have_text("“上海示例贸易有限公司” was created.")
    expect(page.get_by_test_id("record-name")).to_have_text("上海示例贸易有限公司")
    sections = page.get_by_test_id("record-section")
    expect(sections.locator("h2")).to_have_text(["Money", "Grading"])
    money, grading = sections.nth(0), sections.nth(1)
    expect(money.locator("[data-field='budget']")).to_contain_text("5,000.00")
    expect(grading.locator("[data-field='tier']")).to_have_text("Gold")
    expect(page.get_by_test_id("record-version")).to_have_text("Version 1")

    # Edit: another amount and currency, another tier.
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_label("Budget", exact=True)).to_have_value("5000.00")
    page.get_by_label("Budget", exact=True).fill("7500")
    page.locator("#field-budget-currency").select_option("USD")
    page.get_by_label("Tier").select_option("silver")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("status")).to_have_text("“上海示例贸易有限公司” was saved.")
    expect(money.locator("[data-field='budget']")).to_have_text("$7,500.00")
    expect(grading.locator("[data-field='tier']")).to_have_text("Silver")
    expect(page.get_by_test_id("record-version")).to_have_text("Version 2")

    # The list shows it, linked.
    page.get_by_role("link", name="Customers").click()
    row = page.get_by_test_id("records").locator("tbody tr")
    expect(row).to_have_count(1)
    # The default columns start with the system fields, filled with their defaults.
    expect(row).to_contain_text("C — normal")
    expect(row).to_contain_text("Potential")
    expect(row.get_by_role("link", name="上海示例贸易有限公司")).to_be_visible()
    page.goto(f"{live_server}/t/{owner.slug}/o/account/?columns=name,budget,tier")
    expect(row).to_contain_text("$7,500.00")
    expect(row).to_contain_text("Silver")
