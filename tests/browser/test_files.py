"""Files in a real browser: a customer's Files panel (an empty file refused before sending, an
upload by keyboard, a thumbnail shown inline, a confirmed delete), the customer's 360° Files
tab, and the company assets page with previews of a PNG logo and an SVG seal."""

from __future__ import annotations

import base64
import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_onboarding import sign_up

pytestmark = pytest.mark.browser

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40">'
    b'<circle cx="20" cy="20" r="18" fill="red"/></svg>'
)


def _flash(page: Page):
    """The page's flash message (other live regions on the page say other things)."""
    return page.locator(".alert[role=status]")


def _loaded(page: Page, selector: str) -> bool:
    """Whether the image the selector finds was fetched and decoded."""
    return page.eval_on_selector(selector, "img => img.complete && img.naturalWidth > 0")


def test_files_panel_tab_and_company_assets(page: Page, live_server):
    owner = sign_up(page)
    page.goto(f"/t/{owner.slug}/o/account/new")
    page.locator("#name").fill("文件测试客户")
    page.get_by_role("button", name=re.compile("^(Create|Save)$")).first.click()
    expect(page.get_by_test_id("record-name")).to_have_text("文件测试客户")
    page.wait_for_load_state("load")
    panel = page.get_by_test_id("files-panel")
    expect(panel.get_by_test_id("files-empty")).to_be_visible()
    expect(panel).to_contain_text("Up to 20 MB per file.")

    # An empty file is flagged before anything is sent.
    file_input = panel.get_by_label("Add a file")
    file_input.set_input_files({"name": "empty.txt", "mimeType": "text/plain", "buffer": b""})
    assert file_input.evaluate("el => el.validationMessage") == "The file is empty."

    # A PDF with a Chinese name, uploaded with the keyboard.
    file_input.set_input_files({"name": "报价单.pdf", "mimeType": "application/pdf", "buffer": PDF})
    panel.get_by_test_id("files-upload-submit").focus()
    page.keyboard.press("Enter")
    expect(_flash(page)).to_contain_text("“报价单.pdf” was uploaded.")
    page.wait_for_load_state("load")
    panel = page.get_by_test_id("files-panel")
    panel.get_by_label("Add a file").set_input_files(
        {"name": "photo.png", "mimeType": "image/png", "buffer": PNG}
    )
    panel.get_by_test_id("files-upload-submit").click()
    expect(_flash(page)).to_contain_text("“photo.png” was uploaded.")
    page.wait_for_load_state("load")
    rows = page.get_by_test_id("files-panel").get_by_test_id("file-row")
    expect(rows).to_have_count(2)
    expect(page.get_by_test_id("files-count")).to_have_text("2")
    thumb = "[data-testid=files-panel] img.kehu-file-thumb"
    page.wait_for_function(
        "sel => { const i = document.querySelector(sel); return i && i.complete; }", arg=thumb
    )
    assert _loaded(page, thumb)

    # The 360° tab lists both, with the count in the tab.
    tab = page.get_by_role("tab", name=re.compile("^Files"))
    expect(tab.get_by_test_id("related-tab-count")).to_have_text("2")
    tab.click()
    pane = page.locator("#related-pane-files")
    expect(pane.get_by_test_id("related-row")).to_have_count(2)
    expect(pane).to_contain_text("报价单.pdf")

    # Delete the PDF after confirming.
    dialogs: list[str] = []

    def accept(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    pdf_row = (
        page.get_by_test_id("files-panel").get_by_test_id("file-row").filter(has_text="报价单.pdf")
    )
    pdf_row.get_by_role("button", name="Delete 报价单.pdf").click()
    expect(_flash(page)).to_contain_text("“报价单.pdf” was deleted.")
    assert dialogs == ["Delete “报价单.pdf”? It cannot be restored."]
    expect(page.get_by_test_id("files-panel").get_by_test_id("file-row")).to_have_count(1)

    # Company assets: a PNG logo and an SVG seal, both previewed.
    page.locator("#nav").get_by_role("link", name="Company assets").click()
    expect(page.get_by_test_id("asset-empty")).to_have_count(2)
    logo = page.locator("[data-testid=asset][data-name=logo]")
    logo.get_by_label("Choose an image").set_input_files(
        {"name": "logo.png", "mimeType": "image/png", "buffer": PNG}
    )
    logo.get_by_role("button", name="Upload").click()
    expect(_flash(page)).to_contain_text("Logo was uploaded.")
    seal = page.locator("[data-testid=asset][data-name=seal]")
    seal.get_by_label("Choose an image").set_input_files(
        {"name": "seal.svg", "mimeType": "image/svg+xml", "buffer": SVG}
    )
    seal.get_by_role("button", name="Upload").click()
    expect(_flash(page)).to_contain_text("Seal (company stamp) was uploaded.")
    page.wait_for_load_state("load")
    for name in ("logo", "seal"):
        selector = f"[data-testid=asset][data-name={name}] img"
        page.wait_for_function(
            "sel => { const i = document.querySelector(sel); return i && i.complete; }",
            arg=selector,
        )
        assert _loaded(page, selector), f"the {name} preview did not load"
