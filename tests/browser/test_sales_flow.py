"""The sales workflow in a real browser: a salesperson registers a customer, logs a visit,
creates an opportunity and a quote whose discount is over the company's threshold; the manager
approves the quote from the approvals inbox; a second salesperson cannot open the customer until
the daily sweep returns it to the public pool, then claims it."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_onboarding import log_in

pytestmark = pytest.mark.browser


def _save(page: Page) -> None:
    page.get_by_role("button", name=re.compile("^(Create|Save)$")).first.click()


def test_register_visit_quote_approval_and_pool(
    new_context, live_server, app, make_company, add_member, api
):
    company = make_company()
    owner = api(company.token)
    manager = add_member(company, "manager")
    first = add_member(company, "member")
    second = add_member(company, "member")
    base = f"/api/v1/t/{company.slug}"
    # Salespeople see only their own records; the product comes from the catalogue.
    assert owner.patch(f"{base}/roles/member", json={"data_scope": "own"}).status_code == 200
    product = owner.post(
        f"{base}/records/product",
        json={
            "name": "工业控制器",
            "code": "KC-500",
            "price": {"amount": "1000", "currency": "CNY"},
            "tax_rate": "13",
        },
    )
    assert product.status_code == 201, product.get_json()

    # 1. The first salesperson registers a customer: it is theirs.
    page = new_context().new_page()
    log_in(page, first.email)
    page.goto(f"/t/{company.slug}/o/account/new")
    page.locator("#name").fill("杭州浏览器测试科技有限公司")
    _save(page)
    expect(page.get_by_test_id("record-name")).to_have_text("杭州浏览器测试科技有限公司")
    customer_url = page.url
    customer_id = int(re.search(r"/(\d+)$", customer_url.rstrip("/")).group(1))

    # 2. …logs a visit on the customer's page.
    expect(page.get_by_test_id("last-contact")).to_contain_text("No visit, call or meeting yet.")
    page.get_by_test_id("log-panel").locator("summary").click()
    page.locator("#log-type").select_option("visit")
    page.locator("#log-content").fill("上门演示控制器方案")
    page.locator("#log-result").fill("客户有意向，需要报价")
    page.get_by_test_id("log-submit").click()
    expect(page.get_by_test_id("last-contact")).to_contain_text("Last visit, call or meeting:")

    # 3. …creates an opportunity.
    page.goto(f"/t/{company.slug}/o/opportunity/new")
    page.locator("#name").fill("控制器改造项目")
    page.get_by_label("Amount", exact=True).fill("200000")
    _save(page)
    expect(page.get_by_test_id("record-name")).to_have_text("控制器改造项目")

    # 4. …and a quote with a 15 % line discount: over the 10 % threshold.
    page.goto(f"/t/{company.slug}/o/quote/new")
    page.locator("#name").fill("控制器改造报价")
    _save(page)
    expect(page.get_by_test_id("quote-editor")).to_be_visible()
    page.wait_for_load_state("load")  # the editor's script searches products as one types
    row = page.locator("tr[data-line]").first
    search = row.locator("[data-field='product_name']")
    search.fill("控制器")
    expect(row.get_by_role("option").first).to_have_text("工业控制器")
    search.press("ArrowDown")
    search.press("Enter")
    row.locator("[data-field='quantity']").fill("10")
    row.locator("[data-field='discount']").fill("15")
    expect(page.locator("[data-needs-approval]")).to_be_visible()
    page.get_by_test_id("save-lines").click()
    # The saved quote (not the live preview): version 2, with its line.
    expect(page.get_by_test_id("record-version")).to_have_text("Version 2")
    # 10 × 1,000 less 15 % = 8,500 net, 13 % tax: 9,605.00.
    expect(page.get_by_test_id("quote-total")).to_contain_text("9,605.00")
    page.get_by_test_id("quote-submit").click()
    expect(page.get_by_test_id("quote-submit-form")).to_be_visible()
    page.get_by_test_id("quote-submit-submit").click()
    status = page.get_by_test_id("quote-status")
    expect(status).to_have_attribute("data-status", "pending_approval")
    quote_url = page.url

    # 5. The manager approves it from the inbox.
    boss = new_context().new_page()
    log_in(boss, manager.email)
    boss.goto(f"/t/{company.slug}/quotes/approvals")
    boss.wait_for_load_state("load")  # the confirmation comes from the page's script
    boss.once("dialog", lambda dialog: dialog.accept())
    boss.locator("[data-testid^='approve-']").first.click()
    expect(boss.locator("[data-testid^='approve-']")).to_have_count(0)  # nothing left waiting
    boss.goto(quote_url)
    expect(boss.get_by_test_id("quote-status")).to_have_attribute("data-status", "approved")
    page.reload()
    expect(page.get_by_test_id("quote-status")).to_have_attribute("data-status", "approved")

    # 6. The second salesperson cannot open the customer…
    other = new_context().new_page()
    log_in(other, second.email)
    response = other.goto(customer_url)
    assert response is not None and response.status == 404

    # …until 61 days without activity return it to the pool (the daily sweep, clock moved on).
    with app.app_context():
        from saas.crm import pool

        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=61)
        assert pool.sweep(company.tenant_id, later).returned == 1

    other.goto(f"/t/{company.slug}/pool")
    listed = other.get_by_role("row").filter(has_text="杭州浏览器测试科技有限公司")
    expect(listed).to_have_count(1)
    listed.get_by_test_id("claim").click()
    expect(other.get_by_role("status").first).to_contain_text("杭州浏览器测试科技有限公司")
    response = other.goto(customer_url)
    assert response is not None and response.status == 200
    expect(other.get_by_test_id("record-name")).to_have_text("杭州浏览器测试科技有限公司")
    with app.app_context():
        from tenants.context import tenant_context

        with tenant_context(company.tenant_id):
            from saas.extensions import db
            from saas.records.models import Account

            assert db.session.get(Account, (company.tenant_id, customer_id)).owner_id == second.id
    # …and the first salesperson has lost it.
    response = page.goto(customer_url)
    assert response is not None and response.status == 404
