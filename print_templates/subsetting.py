"""Fast subsetting of our prepared fonts when WeasyPrint has no HarfBuzz subsetter.

WeasyPrint subsets each embedded font with HarfBuzz's ``libharfbuzz-subset`` when the system has
it (a few milliseconds) and otherwise with fontTools, which decompiles and recompiles the whole
font: 60–150 ms for each face of *Kehu Sans SC* (~8,900 glyphs), twice for a document with bold
text — most of a quote's time budget. Debian installs the library with Chromium, not with
WeasyPrint's own dependencies, so a fresh server often lacks it.

Our prepared fonts are plain TrueType with simple glyphs only (no composites, no hinting, no
layout tables: :mod:`print_templates.fonts` makes them so), which makes subsetting a matter of
bytes: keep the ``glyf`` records of the glyphs used, empty the others (glyph ids stay as they
are, as WeasyPrint expects) and drop the character map, which a PDF's CID font does not use.
:func:`install` routes WeasyPrint's fontTools fallback to :func:`subset_glyphs` for our families
only; any other font, or any surprise in ours, takes WeasyPrint's own path.
"""

from __future__ import annotations

import contextlib
import logging
import struct
from collections.abc import Iterable, Iterator

LOGGER = logging.getLogger(__name__)

#: Tables copied as they are; everything else is dropped.
_KEPT = (b"OS/2", b"head", b"hhea", b"hmtx", b"maxp", b"name", b"post")


class NotSimple(ValueError):
    """The font is not one :func:`subset_glyphs` handles (composite glyphs, CFF outlines...)."""


def _checksum(data: bytes) -> int:
    padded = data + b"\0" * (-len(data) % 4)
    return sum(struct.unpack(f">{len(padded) // 4}I", padded)) & 0xFFFFFFFF


def subset_glyphs(font: bytes, gids: Iterable[int]) -> bytes:
    """A copy of the TrueType ``font`` whose glyphs other than ``gids`` (and .notdef) are empty.

    Glyph ids are kept; ``cmap`` and hinting tables are dropped. Raises :class:`NotSimple` when a
    kept glyph is a composite (its components would be needed too)."""
    if font[:4] not in (b"\x00\x01\x00\x00", b"true"):
        raise NotSimple("not a TrueType font")
    (count,) = struct.unpack(">H", font[4:6])
    tables: dict[bytes, bytes] = {}
    for index in range(count):
        tag, _check, offset, length = struct.unpack(
            ">4sIII", font[12 + 16 * index : 28 + 16 * index]
        )
        tables[tag] = font[offset : offset + length]
    if b"glyf" not in tables or b"loca" not in tables or b"CFF " in tables:
        raise NotSimple("no glyf outlines")
    head = bytearray(tables[b"head"])
    long_loca = struct.unpack(">h", head[50:52])[0] == 1
    (glyph_count,) = struct.unpack(">H", tables[b"maxp"][4:6])
    loca_raw = tables[b"loca"]
    if long_loca:
        offsets = struct.unpack(f">{glyph_count + 1}I", loca_raw[: 4 * (glyph_count + 1)])
    else:
        offsets = [
            2 * x for x in struct.unpack(f">{glyph_count + 1}H", loca_raw[: 2 * (glyph_count + 1)])
        ]
    glyf = tables[b"glyf"]
    keep = {0, *(gid for gid in gids if 0 <= gid < glyph_count)}

    new_glyf = bytearray()
    new_offsets = [0] * (glyph_count + 1)
    position = 0
    for gid in range(glyph_count):
        new_offsets[gid] = position
        if gid in keep:
            record = glyf[offsets[gid] : offsets[gid + 1]]
            if len(record) >= 2 and struct.unpack(">h", record[:2])[0] < 0:
                raise NotSimple(f"glyph {gid} is a composite")
            new_glyf += record
            new_glyf += b"\0" * (-len(record) % 4)
            position = len(new_glyf)
    new_offsets[glyph_count] = position
    if position < 0x20000:
        loca = struct.pack(f">{glyph_count + 1}H", *(x // 2 for x in new_offsets))
        struct.pack_into(">h", head, 50, 0)
    else:
        loca = struct.pack(f">{glyph_count + 1}I", *new_offsets)
        struct.pack_into(">h", head, 50, 1)
    struct.pack_into(">I", head, 8, 0)  # checkSumAdjustment, set below

    out_tables = {tag: tables[tag] for tag in _KEPT if tag in tables}
    out_tables[b"hmtx"] = _blank_metrics(tables, keep, glyph_count)
    out_tables[b"head"] = bytes(head)
    out_tables[b"loca"] = loca
    out_tables[b"glyf"] = bytes(new_glyf)
    return _assemble(out_tables)


def _blank_metrics(tables: dict[bytes, bytes], keep: set[int], glyph_count: int) -> bytes:
    """``hmtx`` with the metrics of dropped glyphs zeroed: the PDF takes widths from its own
    /W array, and zeros compress to almost nothing."""
    (long_metrics,) = struct.unpack(">H", tables[b"hhea"][34:36])
    hmtx = bytearray(tables[b"hmtx"])
    for gid in range(glyph_count):
        if gid in keep:
            continue
        if gid < long_metrics:
            hmtx[4 * gid : 4 * gid + 4] = b"\0\0\0\0"
        else:
            at = 4 * long_metrics + 2 * (gid - long_metrics)
            hmtx[at : at + 2] = b"\0\0"
    return bytes(hmtx)


def _assemble(tables: dict[bytes, bytes]) -> bytes:
    tags = sorted(tables)
    count = len(tags)
    power = 1
    while power * 2 <= count:
        power *= 2
    header = struct.pack(
        ">IHHHH", 0x00010000, count, power * 16, power.bit_length() - 1, count * 16 - power * 16
    )
    offset = 12 + 16 * count
    directory = bytearray()
    body = bytearray()
    head_at = 0
    for tag in tags:
        data = tables[tag]
        if tag == b"head":
            head_at = offset + len(body)
        directory += struct.pack(">4sIII", tag, _checksum(data), offset + len(body), len(data))
        body += data + b"\0" * (-len(data) % 4)
    font = bytearray(header + directory + body)
    adjustment = (0xB1B0AFBA - _checksum(bytes(font))) & 0xFFFFFFFF
    struct.pack_into(">I", font, head_at + 8, adjustment)
    return bytes(font)


_installed = False
_original = None


def install(families: Iterable[str]) -> None:
    """Route WeasyPrint's fontTools fallback to :func:`subset_glyphs` for ``families``."""
    global _installed, _original
    if _installed:
        return
    try:
        from weasyprint.pdf import fonts as pdf_fonts

        original = pdf_fonts.Font._fonttools_subset
    except (ImportError, AttributeError):  # another WeasyPrint: keep its own subsetting
        return
    ours = frozenset(families)

    def _fonttools_subset(self, to_unicode, hinting):
        if self.family in ours and not self.missing:
            try:
                self.file_content = subset_glyphs(self.file_content, to_unicode)
                return
            except NotSimple as exc:
                LOGGER.info("fast subsetting skipped for %s: %s", self.family, exc)
        return original(self, to_unicode, hinting)

    pdf_fonts.Font._fonttools_subset = _fonttools_subset
    _original = original
    _installed = True


@contextlib.contextmanager
def stock() -> Iterator[None]:
    """WeasyPrint's own fontTools subsetting for the duration (the benchmark compares)."""
    from weasyprint.pdf import fonts as pdf_fonts

    patched = pdf_fonts.Font._fonttools_subset
    if _original is not None:
        pdf_fonts.Font._fonttools_subset = _original
    try:
        yield
    finally:
        pdf_fonts.Font._fonttools_subset = patched
