"""Onboarding in a real browser: signup, login, invitations, language switch, confirmations."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import TRANSLATIONS
from tests.conftest import TEST_PASSWORD, Company, unique

pytestmark = pytest.mark.browser


@dataclass
class Owner:
    company: str
    slug: str
    email: str


def sign_up(page: Page) -> Owner:
    """Create a company through the /signup form; ends on the company's home page."""
    owner = Owner(f"Browser Co {unique()}", unique("br-"), f"{unique('owner')}@example.com")
    page.goto("/signup")
    page.get_by_label("Company name").fill(owner.company)
    page.get_by_label("Address").fill(owner.slug)
    page.get_by_label("Work email").fill(owner.email)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Create my company").click()
    expect(page).to_have_url(re.compile(rf"/t/{owner.slug}/$"))
    return owner


def log_in(page: Page, email: str, password: str = TEST_PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def member_row(page: Page, email: str):
    return page.get_by_test_id("members").get_by_role("row").filter(has_text=email)


def test_signup_lands_on_company_home(page: Page, live_server):
    owner = sign_up(page)

    assert page.url == f"{live_server}/t/{owner.slug}/"
    expect(page.get_by_test_id("home-title")).to_have_text(owner.company)
    expect(page.get_by_test_id("tenant-name")).to_have_text(owner.company)
    expect(page.get_by_role("status")).to_contain_text(f"Your company {owner.company} is ready")
    expect(page.get_by_test_id("account-link")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")


def test_logout_and_login_again(page: Page, live_server):
    owner = sign_up(page)

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{live_server}/login")
    expect(page.get_by_role("status")).to_have_text("You have logged out.")
    page.goto(f"/t/{owner.slug}/")
    expect(page).to_have_url(re.compile(r"/login\?next="))

    log_in(page, owner.email, "not the password")
    expect(page.get_by_text("Email or password is incorrect.")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)

    log_in(page, owner.email)
    # A person with a single company goes straight to it.
    expect(page).to_have_url(f"{live_server}/t/{owner.slug}/")
    expect(page.get_by_test_id("home-title")).to_have_text(owner.company)
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_invitation_is_mailed_and_accepted_by_a_new_person(
    page: Page, new_context, drain_jobs, live_server
):
    owner = sign_up(page)
    invitee = f"{unique('invitee')}@example.com"

    page.get_by_role("link", name="Users", exact=True).click()
    expect(page).to_have_url(f"{live_server}/t/{owner.slug}/users")
    invite_form = page.locator("form").filter(
        has=page.get_by_role("button", name="Send invitation")
    )
    invite_form.get_by_label("Email").fill(invitee)
    invite_form.get_by_label("Role").select_option(label="Administrator")
    invite_form.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("status")).to_have_text(f"Invitation sent to {invitee}.")
    pending = page.get_by_test_id("invitations").get_by_role("row").filter(has_text=invitee)
    expect(pending).to_have_count(1)

    drain_jobs()  # a real RQ worker delivers the mail into the outbox

    page.get_by_role("link", name="Outbox").click()
    message = page.get_by_test_id("outbox-message").filter(has_text=invitee)
    expect(message).to_have_count(1)
    expect(message).to_contain_text(f"You are invited to {owner.company} on Kehu")
    link = message.get_by_role("link").filter(has_text="/invite/")
    href = link.get_attribute("href")
    assert href is not None
    assert href.startswith(f"{live_server}/t/{owner.slug}/invite/"), href

    # Someone else, in a browser of their own, follows the link.
    other = new_context().new_page()
    other.goto(href)
    expect(other.get_by_role("heading", name=f"Join {owner.company}")).to_be_visible()
    expect(other.get_by_text(f"This invitation is for {invitee}.")).to_be_visible()
    other.get_by_label("Your name").fill("Ada Invitee")
    other.get_by_label("Choose a password").fill(TEST_PASSWORD)
    other.get_by_role("button", name="Accept the invitation").click()

    expect(other).to_have_url(f"{live_server}/t/{owner.slug}/")
    expect(other.get_by_role("status")).to_have_text(f"Welcome to {owner.company}!")
    expect(other.get_by_test_id("home-title")).to_have_text(owner.company)
    expect(other.get_by_test_id("account-link")).to_have_text("Ada Invitee")
    # Invited as an administrator: the admin pages are in the navbar.
    expect(other.get_by_role("link", name="Outbox")).to_be_visible()

    # The owner sees the new member, and the invitation is no longer pending.
    page.goto(f"/t/{owner.slug}/users")
    row = member_row(page, invitee)
    expect(row).to_contain_text("Ada Invitee")
    expect(row.get_by_text("Active", exact=True)).to_be_visible()
    expect(page.get_by_text("No pending invitations.")).to_be_visible()


def _zh(app, message: str) -> str:
    """``message`` as the app translates it for zh_CN (from the compiled catalogue)."""
    from flask_babel import force_locale, get_locale, gettext

    with app.test_request_context(), force_locale("zh_CN"):
        translated = gettext(message)
        locale = str(get_locale())
    if translated == message:
        pytest.fail(
            f"the app has no zh_CN translation of {message!r}: no compiled catalogue under "
            f"{TRANSLATIONS} for locale {locale!r} (see `pybabel compile -d saas/translations`)",
            pytrace=False,
        )
    return translated


def test_language_switch_to_chinese_and_back(page: Page, live_server, app):
    owner = sign_up(page)
    log_out_zh = _zh(app, "Log out")
    home = f"{live_server}/t/{owner.slug}/"
    switch = page.locator("#locale-switch")

    page.wait_for_load_state("load")  # the switch submits from a deferred script
    switch.select_option("zh_CN")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page).to_have_url(home)
    expect(page.get_by_role("button", name=log_out_zh)).to_be_visible()
    expect(switch).to_have_value("zh_CN")

    # The choice is kept (on the profile) for the next page.
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("button", name=log_out_zh)).to_be_visible()

    page.wait_for_load_state("load")
    switch.select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_url(home)
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(switch).to_have_value("en")


def test_deactivate_asks_for_confirmation(page: Page, live_server, app, add_member):
    owner = sign_up(page)
    with app.app_context():
        from tenants.services import tenant_by_slug

        tenant_id = tenant_by_slug(owner.slug).id
    member_email = f"{unique('member')}@example.com"
    company = Company(tenant_id, owner.slug, owner.company, 0, owner.email, TEST_PASSWORD, "")
    add_member(company, "member", email=member_email)
    page.goto(f"/t/{owner.slug}/users")
    row = member_row(page, member_email)
    expect(row.get_by_text("Active", exact=True)).to_be_visible()

    dialogs: list[str] = []

    def dismiss(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    row.get_by_role("button", name="Deactivate").click()
    assert dialogs == [f"Deactivate {member_email}? They will lose access at once."]
    page.reload()  # nothing was posted: the member is still active
    row = member_row(page, member_email)
    expect(row.get_by_text("Active", exact=True)).to_be_visible()
    expect(row.get_by_role("button", name="Deactivate")).to_be_visible()

    def accept(dialog):
        dialogs.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    row.get_by_role("button", name="Deactivate").click()
    expect(page.get_by_role("status")).to_have_text("The user has been deactivated.")
    assert len(dialogs) == 2
    row = member_row(page, member_email)
    expect(row.get_by_text("Deactivated", exact=True)).to_be_visible()
    expect(row.get_by_role("button", name="Reactivate")).to_be_visible()
