"""Print templates in a real browser: an administrator edits the quote template with the field
picker, sees the live preview in the sandboxed frame, saves a new version, generates the PDF of
an approved quote from its page (a real RQ worker renders it) and downloads it."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_onboarding import log_in

pytestmark = pytest.mark.browser

NOTE = "Checked in the browser"


def test_edit_preview_and_download_the_pdf_of_an_approved_quote(
    page: Page, live_server, make_company, api, drain_jobs, tmp_path
):
    company = make_company(name="Print Flow Trading Co.")
    owner = api(company.token)
    base = f"/api/v1/t/{company.slug}"
    customer = owner.post(f"{base}/records/account", json={"name": "Hangzhou Buyer Ltd."})
    assert customer.status_code == 201, customer.get_json()
    quote = owner.post(
        f"{base}/records/quote",
        json={"name": "Q-BROWSER-1", "account": customer.get_json()["id"]},
    )
    quote_id = quote.get_json()["id"]
    lines = [{"name": "Industrial controller", "quantity": "2", "unit_price": "1000"}]
    response = owner.put(
        f"{base}/quotes/{quote_id}/lines", json={"lines": lines}, headers={"If-Match": '"v1"'}
    )
    assert response.status_code == 200, response.get_json()
    submitted = owner.post(f"{base}/quotes/{quote_id}/submit", json={})
    assert submitted.get_json()["quote"]["status"] == "approved"

    log_in(page, company.owner_email)
    page.goto(f"/t/{company.slug}/print-templates")
    page.get_by_role("link", name="Quotation (standard)").click()
    expect(page.get_by_test_id("template-version")).to_have_text("Version 1")
    page.wait_for_load_state("load")  # the picker and the live preview are script-driven

    # Add a line at the top of the template, with a variable from the picker.
    source = page.get_by_test_id("template-source")
    source.click()
    source.press("Control+Home")
    source.press_sequentially(f'<p class="browser-note">{NOTE}: ')
    page.get_by_test_id("variable-list").select_option("record.name")
    page.get_by_test_id("insert-variable").click()
    source.press_sequentially("</p>\n")
    expect(source).to_have_value(
        re.compile(
            rf"^<p class=\"browser-note\">{NOTE}: "
            r"\{\{ record\.name \}\}</p>\n"
        )
    )

    # The live preview shows the quote with the change, in the sandboxed frame.
    frame = page.frame_locator("iframe[name=preview-frame]")
    expect(frame.locator(".browser-note")).to_have_text(f"{NOTE}: Q-BROWSER-1", timeout=15_000)
    expect(frame.get_by_text("Industrial controller").first).to_be_visible()
    assert page.get_by_test_id("preview-frame").get_attribute("sandbox") == ""

    page.get_by_test_id("save-template").click()
    expect(page.get_by_test_id("template-version")).to_have_text("Version 2")
    expect(page.get_by_test_id("template-history").locator("tr[data-version]")).to_have_count(2)

    # The quote's page: the PDF button starts the job; a worker renders it; the link appears.
    page.goto(f"/t/{company.slug}/o/quote/{quote_id}")
    page.wait_for_load_state("load")
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith(f"/{quote_id}/pdf")
    ) as started:
        page.get_by_test_id("pdf-button").click()
    assert started.value.status == 202  # the job is queued: now a worker may run it
    expect(page.get_by_test_id("pdf-form").locator("[data-pdf-status]")).to_contain_text(
        "Making the PDF"
    )
    drain_jobs()
    link = page.get_by_test_id("pdf-download")
    expect(link).to_be_visible(timeout=15_000)
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename == "Q-BROWSER-1.pdf"
    saved = tmp_path / "quote.pdf"
    download.save_as(saved)
    data = saved.read_bytes()
    assert data.startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", str(saved), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert f"{NOTE}: Q-BROWSER-1" in text
        assert "DRAFT" not in text  # approved: no watermark

    # The record's documents list the new PDF.
    page.goto(f"/t/{company.slug}/o/quote/{quote_id}/documents")
    expect(page.get_by_test_id("record-documents")).to_contain_text("Q-BROWSER-1.pdf")
