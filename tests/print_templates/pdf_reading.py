"""Reading PDFs in tests: text per page and embedded fonts, in Python (pypdf, always) and with
poppler's tools (pdftotext/pdffonts, when installed)."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont
from pypdf import PdfReader

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdffonts") is None,
    reason="poppler-utils (pdftotext, pdffonts) is not installed; the pypdf checks still run",
)


def page_texts(pdf: bytes) -> list[str]:
    """The text of each page, extracted by pypdf."""
    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages]


@dataclass(frozen=True)
class EmbeddedFont:
    """A font of the PDF: its name, whether its file is embedded, and that file's glyphs."""

    name: str
    embedded: bool
    subset_tag: bool
    glyphs: int
    drawn_glyphs: int


def embedded_fonts(pdf: bytes) -> dict[str, EmbeddedFont]:
    """Every font used on any page, by base name (``Kehu-Sans-SC``), read from the PDF."""
    fonts: dict[str, EmbeddedFont] = {}
    for page in PdfReader(io.BytesIO(pdf)).pages:
        resources = page.get("/Resources") or {}
        for ref in (resources.get("/Font") or {}).values():
            font = ref.get_object()
            base = str(font["/BaseFont"]).lstrip("/")
            tag, _, name = base.partition("+")
            if not name:
                tag, name = "", base
            descendant = (
                font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font
            )
            descriptor = descendant["/FontDescriptor"].get_object()
            stream = None
            for key in ("/FontFile2", "/FontFile3", "/FontFile"):
                if key in descriptor:
                    stream = descriptor[key].get_object().get_data()
            glyphs = drawn = 0
            if stream is not None:
                tt = TTFont(io.BytesIO(stream))
                glyphs = tt["maxp"].numGlyphs
                if "glyf" in tt:
                    table = tt["glyf"]
                    drawn = sum(1 for g in tt.getGlyphOrder() if table[g].numberOfContours != 0)
            fonts[name] = EmbeddedFont(
                name=name,
                embedded=stream is not None,
                subset_tag=len(tag) == 6 and tag.isupper(),
                glyphs=glyphs,
                drawn_glyphs=drawn,
            )
    return fonts


def _poppler(tool: list[str], pdf: bytes) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "document.pdf"
        path.write_bytes(pdf)
        return subprocess.run(
            [*tool, str(path), *(["-"] if tool[0] == "pdftotext" else [])],
            capture_output=True,
            text=True,
            check=True,
        ).stdout


def poppler_text(pdf: bytes, *, first: int | None = None, last: int | None = None) -> str:
    pages = [*(["-f", str(first)] if first else []), *(["-l", str(last)] if last else [])]
    return _poppler(["pdftotext", "-layout", *pages], pdf)


def poppler_fonts(pdf: bytes) -> str:
    return _poppler(["pdffonts"], pdf)


_BFCHAR = re.compile(r"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>")


def _prepared_file(name: str, font_dir: Path) -> Path:
    extra = "Extra" in name
    bold = name.endswith("Bold")
    stem = "KehuSansSCExtra" if extra else "KehuSansSC"
    return font_dir / f"{stem}-{'Bold' if bold else 'Regular'}.ttf"


def glyph_mismatches(pdf: bytes, font_dir: Path) -> tuple[int, list[str]]:
    """Check every character drawn with a Kehu font against the prepared font file: the glyph
    the PDF draws for it must be that character's glyph (same id, same outline). Returns how
    many characters were checked and the mismatches."""
    checked = 0
    problems: list[str] = []
    seen: set[str] = set()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for ref in ((page.get("/Resources") or {}).get("/Font") or {}).values():
            font = ref.get_object()
            name = str(font["/BaseFont"]).lstrip("/").partition("+")[2]
            if name in seen or not name.startswith("Kehu-Sans-SC"):
                continue
            seen.add(name)
            descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
            embedded = TTFont(io.BytesIO(descriptor["/FontFile2"].get_object().get_data()))
            prepared = TTFont(_prepared_file(name, font_dir))
            cmap = prepared.getBestCmap()
            order = prepared.getGlyphOrder()
            cmap_text = font["/ToUnicode"].get_object().get_data().decode("latin-1")
            for gid_hex, text_hex in _BFCHAR.findall(cmap_text):
                if len(text_hex) != 4:
                    continue  # ligatures and surrogates: not single characters
                gid, char = int(gid_hex, 16), chr(int(text_hex, 16))
                if char.isspace() or (gid == 0 and char == "\uffff"):
                    continue  # WeasyPrint maps .notdef to U+FFFF
                checked += 1
                expected = cmap.get(ord(char))
                if expected is None or order.index(expected) != gid:
                    problems.append(f"{name}: {char!r} drawn with glyph {gid}, not {expected}")
                    continue
                mine = embedded["glyf"][embedded.getGlyphOrder()[gid]]
                theirs = prepared["glyf"][expected]
                if _outline(mine, embedded) != _outline(theirs, prepared):
                    problems.append(f"{name}: {char!r} outline differs from the font's")
    return checked, problems


def _outline(glyph, font) -> tuple:
    if glyph.numberOfContours == 0:
        return ()
    coordinates, ends, _flags = glyph.getCoordinates(font["glyf"])
    return tuple(coordinates), tuple(ends)
