"""Rendering PDFs: right Chinese text and glyphs from the embedded subset of our own font (never a
system font), the header row repeated on every page, page x of y, the DRAFT watermark only until
approval, rare characters through the fallback face, sizes within target, and errors for the
author with their line."""

from __future__ import annotations

import re

import pytest

from print_templates import fonts, samples, starters
from print_templates.errors import TemplateError
from print_templates.render import Rendered, render_pdf
from tests.print_templates.pdf_reading import (
    embedded_fonts,
    glyph_mismatches,
    needs_poppler,
    page_texts,
    poppler_fonts,
    poppler_text,
)


@pytest.fixture(scope="module")
def font_dir():
    return fonts.ensure_fonts()


def starter_pdf(key: str, *, lines: int = 8, approved: bool = False, **extra) -> Rendered:
    starter = starters.load(key)
    context = samples.sample(
        starter.object_key, locale=starter.locale, lines=lines, approved=approved
    )
    context.update(extra)
    return render_pdf(
        starter.source,
        context,
        locale=starter.locale,
        assets=samples.demo_assets,
        css=starter.css,
    )


@pytest.fixture(scope="module")
def long_draft() -> Rendered:
    return starter_pdf("quote.zh_CN", lines=60)


@pytest.fixture(scope="module")
def long_approved() -> Rendered:
    return starter_pdf("quote.zh_CN", lines=60, approved=True)


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_chinese_text_comes_out_right(long_draft: Rendered) -> None:
    pages = page_texts(long_draft.pdf)
    first = squash(pages[0])
    for words in (
        "报价单",
        "上海客户信息科技有限公司",
        "北京鹏程万里贸易有限公司",
        "联想ThinkPad笔记本电脑",
    ):
        assert words in first
    everything = squash("".join(pages))
    assert "合计金额（大写）：人民币" in everything
    assert "本报价有效期为30天" in everything


def test_glyphs_are_the_fonts_own_for_each_character(long_draft: Rendered, font_dir) -> None:
    checked, problems = glyph_mismatches(long_draft.pdf, font_dir)
    assert checked > 150
    assert problems == []


def test_only_our_subset_fonts_are_embedded(long_draft: Rendered) -> None:
    found = embedded_fonts(long_draft.pdf)
    assert set(found) == {"Kehu-Sans-SC", "Kehu-Sans-SC-Bold"}
    for font in found.values():
        assert font.embedded and font.subset_tag
        # only the glyphs used carry outlines (the core font has over 8,000)
        assert 0 < font.drawn_glyphs < 600, font


@needs_poppler
def test_pdffonts_and_pdftotext_agree(long_draft: Rendered) -> None:
    listing = poppler_fonts(long_draft.pdf)
    rows = [line for line in listing.splitlines()[2:] if line.strip()]
    assert rows and all("Kehu-Sans-SC" in row for row in rows)
    assert all(re.search(r"\byes\s+yes\s+yes\b", row) for row in rows)  # emb sub uni
    assert "报价单" in squash(poppler_text(long_draft.pdf, first=1, last=1))


def test_the_header_row_repeats_on_every_page(long_draft: Rendered) -> None:
    pages = page_texts(long_draft.pdf)
    assert long_draft.pages == len(pages) >= 3
    header = "序号产品名称/规格型号单位数量单价折扣税率金额"
    table_pages = [squash(text) for text in pages if "联想" in text or "戴尔" in text]
    assert len(table_pages) >= 2
    assert all(header in text for text in table_pages)


def test_page_numbers_say_page_x_of_y(long_draft: Rendered) -> None:
    pages = page_texts(long_draft.pdf)
    total = len(pages)
    for number, text in enumerate(pages, start=1):
        assert f"第{number}页/共{total}页" in squash(text)
    english = page_texts(starter_pdf("quote.en", lines=30).pdf)
    assert "Page 1 of " + str(len(english)) in english[0]
    assert f"Page {len(english)} of {len(english)}" in english[-1]


def test_draft_watermark_until_approved(long_draft: Rendered, long_approved: Rendered) -> None:
    draft = page_texts(long_draft.pdf)
    assert all("草稿DRAFT" in squash(text) for text in draft)
    approved = page_texts(long_approved.pdf)
    assert not any("DRAFT" in text or "草稿" in text for text in approved)
    english = page_texts(starter_pdf("contract.en", lines=4).pdf)
    assert all("DRAFT" in text for text in english)


def test_seal_prints_once_approved() -> None:
    assert "合同专用章" not in "".join(page_texts(starter_pdf("contract.zh_CN").pdf))
    assert "合同专用章" in "".join(page_texts(starter_pdf("contract.zh_CN", approved=True).pdf))


@pytest.mark.parametrize("key", starters.KEYS)
def test_every_starter_renders_with_its_sample(key: str) -> None:
    rendered = starter_pdf(key, lines=5, approved=True)
    text = squash("".join(page_texts(rendered.pdf)))
    assert rendered.refused == ()
    assert ("报价单" if key == "quote.zh_CN" else "QUOTATION" if key == "quote.en" else "") in text
    if key.startswith("contract"):
        assert ("HT-2025-0007") in text
        assert ("预付款" if key.endswith("zh_CN") else "Downpayment") in text
    # the amount in Chinese capitals for a CNY document, in both languages
    assert re.search("人民币[零壹贰叁肆伍陆柒捌玖拾佰仟万亿元角分整]+", text)


def test_no_capital_amount_for_other_currencies() -> None:
    starter = starters.load("quote.en")
    context = samples.sample("quote", locale="en", currency="USD")
    text = "".join(
        page_texts(render_pdf(starter.source, context, locale="en", css=starter.css).pdf)
    )
    assert "人民币" not in text and "$" in text


def test_rare_characters_print_through_the_fallback_face(font_dir) -> None:
    rare = "䶮龑堃犇靐"  # beyond GB 2312, some beyond the name list too
    rendered = render_pdf(f"<p>客户：{rare}</p>", {})
    assert rare in squash(page_texts(rendered.pdf)[0])
    found = embedded_fonts(rendered.pdf)
    assert "Kehu-Sans-SC-Extra" in found and "Kehu-Sans-SC" in found
    checked, problems = glyph_mismatches(rendered.pdf, font_dir)
    assert checked >= 7 and problems == []


def test_no_system_font_is_ever_used() -> None:
    source = (
        '<p style="font-family: serif">宋体 serif</p><p style="font-family: monospace">mono</p>'
        "<p style=\"font-family: 'Noto Sans CJK SC', DejaVu Sans, Arial\">黑体 Arial</p>"
        "<p>emoji 😀 한국어 Ελληνικά</p>"
    )
    css = '@font-face { font-family: "Kehu Sans SC"; src: url(data:font/ttf;base64,AAAA); }'
    found = embedded_fonts(render_pdf(source, {}, css=css).pdf)
    assert found and all(name.startswith("Kehu-Sans-SC") for name in found)


def test_same_input_same_bytes() -> None:
    first = starter_pdf("quote.zh_CN", lines=3)
    assert starter_pdf("quote.zh_CN", lines=3).pdf == first.pdf


def test_sizes_stay_small() -> None:
    twenty = starter_pdf("quote.zh_CN", lines=20)
    assert twenty.pdf.startswith(b"%PDF-")
    assert len(twenty.pdf) <= 300 * 1024
    assert starter_pdf("quote.zh_CN", lines=200).pages >= 10


def test_template_errors_reach_the_caller_with_their_line() -> None:
    with pytest.raises(TemplateError) as caught:
        render_pdf("<h1>{{ company.name }}</h1>\n<p>{{ compnay.name }}</p>", {"company": {}})
    assert caught.value.line == 2 and caught.value.status == 422
    assert caught.value.to_dict()["line"] == 2
    with pytest.raises(TemplateError):
        render_pdf("<p>x</p>", {}, css="x" * 300_000)
    with pytest.raises(TemplateError):
        render_pdf("<p>x</p>", {}, locale="fr")


def test_bad_css_is_skipped_not_fatal() -> None:
    rendered = render_pdf("<p>内容</p>", {}, css="p { color: ; } @page { size: nonsense } }}}{")
    assert "内容" in page_texts(rendered.pdf)[0]
