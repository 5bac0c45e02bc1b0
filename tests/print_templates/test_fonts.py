"""Font preparation: the core and fallback faces split the source's characters between them,
carry their own names and the licence, build once (a second run only reads the manifest), and
Fontconfig sees our folder only."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fontTools import subset
from fontTools.ttLib import TTFont

from print_templates import fonts


@pytest.fixture(scope="module")
def ready() -> Path:
    return fonts.ensure_fonts()


def test_core_characters_cover_what_a_crm_prints() -> None:
    core = fonts.core_characters()
    wanted = (
        "客户报价单合同壹贰叁肆伍陆柒捌玖拾佰仟万亿元角分整"
        + "¥￥€$%‰℃№×÷±—…“”（）：；，。、《》①ⅫＡａ０"
    )
    for char in wanted:
        assert ord(char) in core, char
    assert all(ord(char) in core for char in "喆堃昇珺")  # names beyond GB 2312
    assert len(core) > 7000


def test_prepared_faces_split_the_source_between_them(ready: Path) -> None:
    source = TTFont(fonts.source_dir() / fonts.FACES[0][1], lazy=True)
    source_chars = set(source.getBestCmap())
    core = TTFont(ready / "KehuSansSC-Regular.ttf")
    extra = TTFont(ready / "KehuSansSCExtra-Regular.ttf")
    core_chars, extra_chars = set(core.getBestCmap()), set(extra.getBestCmap())
    assert core_chars.isdisjoint(extra_chars)
    assert core_chars | extra_chars == source_chars
    assert core_chars == fonts.core_characters() & source_chars
    for font, family in ((core, fonts.FAMILY), (extra, fonts.FALLBACK_FAMILY)):
        assert font["name"].getDebugName(1) == family
        assert "Noto" not in font["name"].getDebugName(4)
        assert "OFL" in font["name"].getDebugName(13) or "Open Font" in font["name"].getDebugName(
            13
        )
        assert not {"GSUB", "GPOS", "fpgm", "prep"} & set(font.keys())
    assert TTFont(ready / "KehuSansSC-Bold.ttf")["OS/2"].usWeightClass == 700
    assert "SIL OPEN FONT LICENSE" in (ready / "OFL.txt").read_text()
    assert core["maxp"].numGlyphs < 9000


def test_fontconfig_file_knows_our_folder_only(ready: Path) -> None:
    text = (ready / fonts.FONTCONFIG_FILE).read_text()
    dirs = [line.strip() for line in text.splitlines() if "<dir" in line]
    assert dirs == [f"<dir>{ready}</dir>"]
    assert "<include" not in text  # no system configuration, so no system fonts


def test_a_second_run_only_checks(ready: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in ready.glob("*.ttf")}
    started = time.monotonic()
    assert fonts.ensure_fonts() == ready
    assert time.monotonic() - started < 0.5
    assert {p.name: p.stat().st_mtime_ns for p in ready.glob("*.ttf")} == before
    assert fonts.main(["--check"]) == 0


def _tiny_source(tmp_path: Path) -> Path:
    """A small stand-in for the npm package: the real font cut down to a few characters."""
    package = tmp_path / "package"
    text = "客户报价单ABC123合同喆䶮龑"
    for _name, rel, *_rest in fonts.FACES:
        target = package / rel
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        font = TTFont(fonts.source_dir() / rel)
        options = subset.Options()
        options.name_IDs = ["*"]
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=text)
        subsetter.subset(font)
        font.save(target)
    (package / "package.json").write_text(json.dumps({"version": "9.9.9"}))
    (package / "LICENSE_FONT").write_text("SIL OPEN FONT LICENSE Version 1.1")
    return package


def test_building_from_the_package(tmp_path: Path, monkeypatch) -> None:
    package = _tiny_source(tmp_path)
    out = tmp_path / "fonts"
    monkeypatch.setenv("KEHU_FONT_SOURCE", str(package))
    monkeypatch.setenv("KEHU_FONT_DIR", str(out))
    assert fonts.main(["--check"]) == 1
    assert fonts.ensure_fonts() == out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["version"] == "9.9.9" and manifest["recipe"] == fonts.RECIPE
    core = set(TTFont(out / "KehuSansSC-Regular.ttf").getBestCmap())
    extra = set(TTFont(out / "KehuSansSCExtra-Regular.ttf").getBestCmap())
    assert {ord(c) for c in "客户报价单ABC喆"} <= core
    assert extra == {ord("䶮"), ord("龑")}
    # a new package version rebuilds; the same one does not
    stamp = (out / "KehuSansSC-Regular.ttf").stat().st_mtime_ns
    fonts.ensure_fonts()
    assert (out / "KehuSansSC-Regular.ttf").stat().st_mtime_ns == stamp
    (package / "package.json").write_text(json.dumps({"version": "9.9.10"}))
    fonts.ensure_fonts()
    assert json.loads((out / "manifest.json").read_text())["version"] == "9.9.10"


def test_missing_package_and_fonts_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KEHU_FONT_SOURCE", str(tmp_path / "nowhere"))
    monkeypatch.setenv("KEHU_FONT_DIR", str(tmp_path / "fonts"))
    with pytest.raises(fonts.FontsUnavailable, match=r"\./dev setup"):
        fonts.ensure_fonts()
    assert fonts.main([]) == 1


def test_fast_subsetting_keeps_the_glyphs_used_and_empties_the_rest(ready: Path) -> None:
    import io

    from print_templates.subsetting import NotSimple, subset_glyphs

    data = (ready / "KehuSansSC-Regular.ttf").read_bytes()
    source = TTFont(io.BytesIO(data))
    order = source.getGlyphOrder()
    cmap = source.getBestCmap()
    used = [order.index(cmap[ord(c)]) for c in "客户报价单¥1"]
    cut = TTFont(io.BytesIO(subset_glyphs(data, used)))
    assert cut["maxp"].numGlyphs == source["maxp"].numGlyphs  # glyph ids are kept
    assert "cmap" not in cut
    glyf, original = cut["glyf"], source["glyf"]
    cut_order = cut.getGlyphOrder()  # names differ without a cmap: compare by glyph id
    for gid in used:
        mine, theirs = glyf[cut_order[gid]], original[order[gid]]
        assert mine.getCoordinates(glyf)[0] == theirs.getCoordinates(original)[0]
    drawn = [name for name in cut.getGlyphOrder() if glyf[name].numberOfContours != 0]
    assert len(drawn) == len(set(used)) + 1  # and .notdef
    assert len(subset_glyphs(data, used)) < 120_000
    with pytest.raises(NotSimple):
        subset_glyphs(b"OTTO" + data[4:], used)


def test_pdfs_without_harfbuzz_use_the_fast_path(monkeypatch, ready: Path) -> None:
    import weasyprint.pdf.fonts as pdf_fonts

    from print_templates import samples, starters
    from print_templates.render import render_pdf
    from print_templates.subsetting import subset_glyphs
    from tests.print_templates.pdf_reading import embedded_fonts, glyph_mismatches

    calls = []
    monkeypatch.setattr(pdf_fonts, "harfbuzz_subset", None)
    monkeypatch.setattr(
        "print_templates.subsetting.subset_glyphs",
        lambda font, gids: calls.append(1) or subset_glyphs(font, gids),
    )
    starter = starters.load("quote.zh_CN")
    rendered = render_pdf(
        starter.source + "<p>罕见字：䶮龑</p>",
        samples.sample("quote", lines=20),
        assets=samples.demo_assets,
        css=starter.css,
    )
    assert len(calls) == 3  # regular, bold, and the fallback face
    checked, problems = glyph_mismatches(rendered.pdf, ready)
    assert checked > 200 and problems == []
    assert set(embedded_fonts(rendered.pdf)) == {
        "Kehu-Sans-SC",
        "Kehu-Sans-SC-Bold",
        "Kehu-Sans-SC-Extra",
    }
    assert len(rendered.pdf) < 300 * 1024
