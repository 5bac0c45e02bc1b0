"""A report's chart as an SVG image, for PDFs (:mod:`saas.reports.pdf`) and print.

The browser draws charts with ECharts from :func:`saas.reports.present.chart`; a PDF has no
browser, so this module draws the same data — the same categories, series, points and
figures, nothing computed again — as a small SVG that WeasyPrint lays out as vectors:

* bar (vertical; horizontal when the category labels are too long for their slots), stacked
  bar (positive parts stacked up from zero, negative parts down, as ECharts does), line, pie,
  donut and funnel;
* a value axis with nice ticks (1, 2 or 5 × 10ⁿ, whole numbers when every figure is one),
  figures written as the report's table writes them (amounts with their currency, per locale),
  category labels cut with an ellipsis, a legend when there are several series, the colours of
  the page's ECharts palette;
* every text comes from user data (group labels are customer names, picklist labels…), so the
  document is built with :mod:`xml.etree.ElementTree`, which escapes text and attributes, after
  removing the characters XML cannot carry: a label ``<script>`` or ``]]>`` stays text;
* text uses the print renderer's fonts (:data:`print_templates.fonts.FONT_STACK`), so Chinese
  labels print with the PDF's own embedded glyphs.

Currencies: the chart draws one currency, the one :func:`present.chart` picks (the company's,
else the only one there is, as the page's chart does); :func:`for_result` adds a note naming the
currencies left out, whose amounts stay in the table.

A result without groups, or whose figures are all empty, has no chart (the table says so).
"""

from __future__ import annotations

import base64
import math
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _

from print_templates.fonts import FONT_STACK as PDF_FONTS

#: ECharts 6's default palette (saas/static/vendor/echarts.min.js), in its order.
PALETTE = (
    "#5070dd",
    "#b6d634",
    "#505372",
    "#ff994d",
    "#0ca8df",
    "#ffd10a",
    "#fb628b",
    "#785db0",
    "#3fbe95",
)
AXIS = "#6e7079"
GRID = "#e0e6f1"
TEXT = "#1f2328"
MUTED = "#6e7079"

WIDTH = 1000
HEIGHT = 320
FONT = 11
SMALL = 10

#: What one image draws at most; the table always has every group.
MAX_CATEGORIES = 60
MAX_SERIES = 20
MAX_ITEMS = 30

SVG_NS = "http://www.w3.org/2000/svg"
#: The PDF's own fonts (every other name resolves to them there), then a browser's, for the
#: print preview, where an image cannot use the page's fonts.
FONT_STACK = (
    f'{PDF_FONTS}, system-ui, "PingFang SC", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif'
)
# Characters XML 1.0 cannot hold (controls, lone surrogates, non-characters).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
ELLIPSIS = "…"


@dataclass
class Drawing:
    """An SVG chart and what a reader should know about it (groups or currencies left out)."""

    svg: str
    title: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def data_uri(self) -> str:
        return data_uri(self.svg)


def data_uri(svg: str) -> str:
    """The SVG as a ``data:`` URL, the only kind of URL the print renderer fetches."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


# ---- text -----------------------------------------------------------------------------------


def clean(text: Any) -> str:
    """A label as text XML can carry (``None`` is empty)."""
    return _NOT_XML.sub("", "" if text is None else str(text))


def text_width(text: str, size: float = FONT) -> float:
    """An estimate of the width of ``text`` in Kehu Sans SC at ``size`` (no font metrics here):
    wide (CJK, full-width) characters are one em, the others a little over half of one."""
    width = 0.0
    for char in text:
        if unicodedata.east_asian_width(char) in ("W", "F"):
            width += 1.0
        elif unicodedata.combining(char):
            continue
        elif char.isupper() or char.isdigit():
            width += 0.62
        elif char in " .,:;'|!il":
            width += 0.3
        else:
            width += 0.54
    return width * size


def truncate(text: str, width: float, size: float = FONT) -> str:
    """``text`` cut to fit ``width``, with an ellipsis when it is cut (empty if nothing fits)."""
    text = clean(text)
    if text_width(text, size) <= width:
        return text
    room = width - text_width(ELLIPSIS, size)
    out = ""
    for char in text:
        if text_width(out + char, size) > room:
            break
        out += char
    return out.rstrip() + ELLIPSIS if out.strip() else ""


# ---- figures --------------------------------------------------------------------------------


class Figures:
    """How the chart writes its figures: like the report's table (amounts with their currency,
    numbers per locale), and shorter on the axis."""

    def __init__(self, locale: str, currency: str | None, whole: bool):
        self.locale = locale
        self.currency = currency
        self.whole = whole

    def value(self, value: float | None) -> str:
        from babel.numbers import format_currency, format_decimal

        if value is None:
            return ""
        if self.currency:
            return format_currency(value, self.currency, locale=self.locale)
        if self.whole:
            return format_decimal(round(value), locale=self.locale)
        return format_decimal(round(value, 4), locale=self.locale)

    def tick(self, value: float, largest: float) -> str:
        from babel.numbers import format_compact_decimal, format_decimal

        if largest >= 10_000:
            return format_compact_decimal(value, locale=self.locale, fraction_digits=2)
        return format_decimal(round(value, 10), locale=self.locale)

    def percent(self, share: float) -> str:
        from babel.numbers import format_percent

        return format_percent(share, "#,##0.0%", locale=self.locale)


def nice_step(span: float, count: int = 5, whole: bool = False) -> float:
    """The tick step for ``span`` in about ``count`` steps: 1, 2 or 5 × 10ⁿ (at least 1 for
    whole numbers)."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw * (1 - 1e-9))
    return max(step, 1.0) if whole else step


def axis(low: float, high: float, whole: bool = False) -> tuple[float, float, list[float]]:
    """The value axis covering ``low``–``high`` and zero: (start, end, ticks)."""
    low, high = min(low, 0.0), max(high, 0.0)
    if low == high:
        high = 1.0
    step = nice_step(high - low, 5, whole)
    start = math.floor(low / step + 1e-9) * step
    end = math.ceil(high / step - 1e-9) * step
    if end <= start:
        end = start + step
    n = round((end - start) / step)
    ticks = [round(start + i * step, 10) for i in range(n + 1)]
    return ticks[0], ticks[-1], ticks


# ---- the SVG document ---------------------------------------------------------------------------


def _n(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") or "0"


class Canvas:
    """An SVG document built as elements (never as strings of labels)."""

    def __init__(self, width: float, height: float, title: str):
        self.width, self.height = width, height
        self.root = ET.Element(
            "svg",
            {
                "xmlns": SVG_NS,
                "viewBox": f"0 0 {_n(width)} {_n(height)}",
                "width": _n(width),
                "height": _n(height),
                "font-family": FONT_STACK,
                "font-size": str(FONT),
            },
        )
        ET.SubElement(self.root, "title").text = clean(title)
        ET.SubElement(
            self.root,
            "rect",
            {"x": "0", "y": "0", "width": _n(width), "height": _n(height), "fill": "#ffffff"},
        )

    def add(self, tag: str, parent: ET.Element | None = None, **attrs: Any) -> ET.Element:
        values = {
            k.rstrip("_").replace("_", "-"): (_n(v) if isinstance(v, float | int) else clean(v))
            for k, v in attrs.items()
            if v is not None
        }
        return ET.SubElement(self.root if parent is None else parent, tag, values)

    def text(
        self,
        x: float,
        y: float,
        text: str,
        *,
        anchor: str = "start",
        size: float = FONT,
        fill: str = TEXT,
        parent: ET.Element | None = None,
        **attrs: Any,
    ) -> ET.Element | None:
        text = clean(text)
        if not text:
            return None
        node = self.add(
            "text",
            parent,
            x=x,
            y=y,
            text_anchor=anchor if anchor != "start" else None,
            font_size=size if size != FONT else None,
            fill=fill,
            **attrs,
        )
        node.text = text
        return node

    def to_string(self) -> str:
        return ET.tostring(self.root, encoding="unicode")


# ---- charts -----------------------------------------------------------------------------------


def render(
    chart: Mapping[str, Any] | None,
    *,
    locale: str = "en",
    width: float = WIDTH,
    height: float = HEIGHT,
) -> Drawing | None:
    """The SVG of :func:`saas.reports.present.chart`'s data, or ``None`` when there is nothing
    to draw (no chart, no groups, every figure empty)."""
    if not chart:
        return None
    kind = chart.get("type")
    if kind in ("pie", "donut", "funnel"):
        items = [{**p, "value": _finite(p.get("value"))} for p in chart.get("data") or []]
        if not items or all(p.get("value") is None for p in items):
            return None
        # Slices are shares of every positive figure, also of the items not drawn.
        total = sum(float(p["value"]) for p in items if (p.get("value") or 0) > 0)
        notes = _cut_note(len(items), MAX_ITEMS)
        items = items[:MAX_ITEMS]
        whole = _whole(p.get("value") for p in items)
        figures = Figures(locale, chart.get("currency"), whole)
        canvas = Canvas(width, height, chart.get("title") or "")
        if kind == "funnel":
            _funnel(canvas, items, figures)
        else:
            if total <= 0:
                return None
            _pie(canvas, items, figures, total, donut=kind == "donut")
        return Drawing(canvas.to_string(), clean(chart.get("title")), notes)
    categories = list(chart.get("categories") or [])
    series = list(chart.get("series") or [])
    if not categories or not series:
        return None
    notes = _cut_note(len(categories), MAX_CATEGORIES)
    if len(series) > MAX_SERIES:
        notes.append(
            _(
                "The chart shows the first %(shown)d of %(all)d series; the table has them all.",
                shown=MAX_SERIES,
                all=len(series),
            )
        )
    categories = categories[:MAX_CATEGORIES]
    series = [
        {
            "name": s.get("name"),
            "data": [
                {**p, "value": _finite(p.get("value"))}
                for p in list(s.get("data") or [])[:MAX_CATEGORIES]
            ],
        }
        for s in series[:MAX_SERIES]
    ]
    if all(p["value"] is None for s in series for p in s["data"]):
        return None
    whole = _whole(p.get("value") for s in series for p in s["data"])
    figures = Figures(locale, chart.get("currency"), whole)
    canvas = Canvas(width, height, chart.get("title") or "")
    _cartesian(canvas, chart, categories, series, figures, kind or "bar")
    return Drawing(canvas.to_string(), clean(chart.get("title")), notes)


def for_result(
    result: Mapping[str, Any] | None,
    chart_type: str | None = None,
    aggregate_key: str | None = None,
    *,
    locale: str = "en",
    width: float = WIDTH,
    height: float = HEIGHT,
) -> Drawing | None:
    """The chart of a report result as the page draws it (``chart_type`` and
    ``aggregate_key`` as a dashboard widget chooses them, else the report's own), with a note
    for the currencies the chart leaves out."""
    from saas.reports import present, xlsx

    if not result or not result.get("rows"):
        return None
    chart = present.chart(result, chart_type, aggregate_key)
    drawing = render(chart, locale=locale, width=width, height=height)
    if drawing is None or chart is None:
        return drawing
    aggregate = present._aggregate(
        result, aggregate_key or (result.get("chart") or {}).get("aggregate")
    )
    if aggregate is not None and aggregate.get("currency"):
        codes = {
            c.currency
            for c in xlsx.figure_columns(result)
            if c.key == aggregate["key"] and not c.share and c.currency
        }
        others = sorted(codes - {chart.get("currency")})
        if others:
            drawing.notes.append(
                _(
                    "The chart shows the amounts in %(currency)s only; the amounts in "
                    "%(others)s are in the table.",
                    currency=chart.get("currency") or "",
                    others=", ".join(others),
                )
            )
    return drawing


def image(
    result: Mapping[str, Any] | None,
    locale: str = "en",
    chart_type: str | None = None,
    aggregate_key: str | None = None,
    *,
    width: float = WIDTH,
    height: float = HEIGHT,
) -> dict[str, Any] | None:
    """What a page or a PDF needs to show the chart of ``result``: ``src`` (a ``data:`` URL),
    ``alt`` (the chart's title) and ``notes``; ``None`` when the result has no chart. The
    image scales to its box: ``width`` sets how large its text is next to the whole."""
    locale = "zh_CN" if str(locale).startswith("zh") else "en"
    drawing = for_result(
        result, chart_type, aggregate_key, locale=locale, width=width, height=height
    )
    if drawing is None:
        return None
    return {"src": drawing.data_uri, "alt": drawing.title, "notes": list(drawing.notes)}


def _cut_note(count: int, most: int) -> list[str]:
    if count <= most:
        return []
    return [
        _(
            "The chart shows the first %(shown)d of %(all)d groups; the table has them all.",
            shown=most,
            all=count,
        )
    ]


def _finite(value: Any) -> float | None:
    """A figure as a number to draw (``None``: nothing to draw)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _whole(values: Any) -> bool:
    return all(v is None or float(v).is_integer() for v in values)


def _color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _legend(
    canvas: Canvas, names: Sequence[str], left: float, right: float, bottom: float
) -> float:
    """Series names with their colours in rows from ``bottom`` up; the height it takes."""
    swatch, gap, row = 10.0, 16.0, 16.0
    widest = (right - left) / 2
    entries = [(i, truncate(name, widest, SMALL) or ELLIPSIS) for i, name in enumerate(names)]
    rows: list[list[tuple[int, str, float]]] = [[]]
    used = 0.0
    for i, label in entries:
        w = swatch + 4 + text_width(label, SMALL)
        if rows[-1] and used + w > right - left:
            rows.append([])
            used = 0.0
        rows[-1].append((i, label, w))
        used += w + gap
    # Three rows at most; how many more there are ends the last one.
    more = sum(len(r) for r in rows[3:])
    rows = rows[:3]
    more_text = f"+{more}" if more else ""
    group = canvas.add("g", class_="legend")
    top = bottom - row * len(rows)
    for r, entries_row in enumerate(rows):
        total = sum(w for _i, _l, w in entries_row) + gap * (len(entries_row) - 1)
        if more_text and r == len(rows) - 1:
            while entries_row and total + gap + text_width(more_text, SMALL) > right - left:
                total -= entries_row.pop()[2] + gap
                more += 1
                more_text = f"+{more}"
            total += gap + text_width(more_text, SMALL)
        x = left + max(0.0, (right - left - total) / 2)
        y = top + r * row + row / 2
        for i, label, w in entries_row:
            canvas.add(
                "rect",
                group,
                x=x,
                y=y - swatch / 2,
                width=swatch,
                height=swatch,
                rx=2,
                fill=_color(i),
            )
            canvas.text(x + swatch + 4, y + SMALL * 0.35, label, size=SMALL, parent=group)
            x += w + gap
        if more_text and r == len(rows) - 1:
            canvas.text(x, y + SMALL * 0.35, more_text, size=SMALL, fill=MUTED, parent=group)
    return row * len(rows)


def _cartesian(
    canvas: Canvas,
    chart: Mapping[str, Any],
    categories: list[Any],
    series: list[dict[str, Any]],
    figures: Figures,
    kind: str,
) -> None:
    width, height = canvas.width, canvas.height
    line = kind == "line"
    stacked = bool(chart.get("stacked")) and not line
    labels = [clean(c) for c in categories]
    n = len(labels)
    values = [[_value(s["data"], i) for i in range(n)] for s in series]

    if stacked:
        ups = [sum(v[i] for v in values if v[i] is not None and v[i] > 0) for i in range(n)]
        downs = [sum(v[i] for v in values if v[i] is not None and v[i] < 0) for i in range(n)]
        low, high = min(downs, default=0.0), max(ups, default=0.0)
    else:
        seen = [x for v in values for x in v if x is not None]
        low, high = min(seen, default=0.0), max(seen, default=0.0)
    start, end, ticks = axis(low, high, figures.whole)
    largest = max(abs(start), abs(end))
    tick_texts = [figures.tick(t, largest) for t in ticks]

    top = 26.0
    canvas.text(8, 14, chart.get("title") or "", size=SMALL, fill=MUTED, class_="chart-title")
    bottom = height - 6
    if len(series) > 1:
        bottom -= _legend(canvas, [clean(s["name"]) for s in series], 8, width - 8, bottom) + 4

    longest = max(text_width(label) for label in labels)
    horizontal = False
    if not line:
        slot = (width - 80) / n
        horizontal = longest > slot - 6 and n <= 20

    if horizontal:
        left = 8 + min(longest, width * 0.28) + 8
        right = width - 16
        plot_bottom = bottom - 18
        scale = (right - left) / (end - start)

        def at(v: float) -> float:
            return left + (v - start) * scale

        _grid(canvas, ticks, tick_texts, at, vertical=True, lo=top, hi=plot_bottom)
        band = (plot_bottom - top) / n
        for i, label in enumerate(labels):
            canvas.text(
                left - 8,
                top + band * (i + 0.5) + FONT * 0.35,
                truncate(label, left - 16),
                anchor="end",
                fill=AXIS,
                class_="category",
            )
        canvas.add("line", x1=at(0), y1=top, x2=at(0), y2=plot_bottom, stroke=AXIS)
        _bars(
            canvas,
            values,
            series,
            labels,
            figures,
            stacked,
            horizontal=True,
            band=band,
            origin=top,
            at=at,
            limit=(left, right),
        )
        return

    left = 8 + max(text_width(t, SMALL) for t in tick_texts) + 8
    right = width - 16
    slot = (right - left) / n
    rotate = longest > slot - 4
    label_room = min(110.0, longest) if rotate else float(FONT)
    if rotate:
        # The first label, slanted down to the left, must stay on the image.
        left = max(left, label_room * 0.77 + 4 - slot / 2)
        slot = (right - left) / n
    plot_bottom = bottom - 8 - (label_room * 0.64 + FONT if rotate else FONT + 4)
    scale = (plot_bottom - top) / (end - start)

    def at(v: float) -> float:
        return plot_bottom - (v - start) * scale

    _grid(canvas, ticks, tick_texts, at, vertical=False, lo=left, hi=right)
    for i, label in enumerate(labels):
        x = left + slot * (i + 0.5)
        if rotate:
            canvas.text(
                x,
                plot_bottom + 12,
                truncate(label, label_room),
                anchor="end",
                fill=AXIS,
                transform=f"rotate(-40 {_n(x)} {_n(plot_bottom + 12)})",
                class_="category",
            )
        else:
            canvas.text(
                x,
                plot_bottom + FONT + 4,
                truncate(label, slot - 4),
                anchor="middle",
                fill=AXIS,
                class_="category",
            )
    canvas.add("line", x1=left, y1=at(0), x2=right, y2=at(0), stroke=AXIS)
    if line:
        _lines(canvas, values, series, labels, figures, left, slot, at)
    else:
        _bars(
            canvas,
            values,
            series,
            labels,
            figures,
            stacked,
            horizontal=False,
            band=slot,
            origin=left,
            at=at,
            limit=(top, plot_bottom),
        )


def _value(data: Sequence[Mapping[str, Any]], i: int) -> float | None:
    if i >= len(data):
        return None
    return data[i].get("value")


def _grid(canvas, ticks, texts, at, *, vertical: bool, lo: float, hi: float) -> None:
    group = canvas.add("g", class_="axis")
    for tick, label in zip(ticks, texts, strict=True):
        p = at(tick)
        if vertical:
            canvas.add("line", group, x1=p, y1=lo, x2=p, y2=hi, stroke=GRID)
            canvas.text(
                p,
                hi + SMALL + 4,
                label,
                anchor="middle",
                size=SMALL,
                fill=AXIS,
                parent=group,
                class_="tick",
            )
        else:
            canvas.add("line", group, x1=lo, y1=p, x2=hi, y2=p, stroke=GRID)
            canvas.text(
                lo - 8,
                p + SMALL * 0.35,
                label,
                anchor="end",
                size=SMALL,
                fill=AXIS,
                parent=group,
                class_="tick",
            )


def _bars(
    canvas, values, series, labels, figures, stacked, *, horizontal, band, origin, at, limit
) -> None:
    """Bars side by side (or stacked) within each category's band, from zero to the value."""
    group = canvas.add("g", class_="bars")
    count = len(series)
    inner = band * 0.7
    thick = inner if stacked or count == 1 else inner / count
    thick = min(thick, 60.0)
    for i in range(len(labels)):
        up = down = 0.0
        for s, row in enumerate(values):
            value = row[i]
            if value is None:
                continue
            if stacked:
                base = up if value >= 0 else down
                if value >= 0:
                    up += value
                else:
                    down += value
                offset = (band - thick) / 2
            else:
                base = 0.0
                offset = (band - thick * (1 if count == 1 else count)) / 2 + (
                    0 if count == 1 else s * thick
                )
            a, b = at(base), at(base + value)
            lo, length = min(a, b), abs(b - a)
            pos = origin + band * i + offset
            attrs = {
                "class_": "bar",
                "fill": _color(s),
                "data_series": s,
                "data_category": i,
                "data_value": _n(value) if value != int(value) else str(int(value)),
            }
            if horizontal:
                canvas.add("rect", group, x=lo, y=pos, width=length, height=thick, **attrs)
            else:
                canvas.add("rect", group, x=pos, y=lo, width=thick, height=length, **attrs)
            text = figures.value(value)
            size = SMALL
            tw = text_width(text, size)
            if stacked:
                # Inside the segment, when it has room.
                if horizontal and length >= tw + 6 and thick >= size + 2:
                    canvas.text(
                        lo + length / 2,
                        pos + thick / 2 + size * 0.35,
                        text,
                        anchor="middle",
                        size=size,
                        fill="#ffffff",
                        parent=group,
                        class_="value",
                    )
                elif not horizontal and length >= size + 4 and thick >= tw + 4:
                    canvas.text(
                        pos + thick / 2,
                        lo + length / 2 + size * 0.35,
                        text,
                        anchor="middle",
                        size=size,
                        fill="#ffffff",
                        parent=group,
                        class_="value",
                    )
                continue
            if horizontal:
                colour = TEXT
                if value >= 0 and b + tw + 4 <= limit[1]:
                    x, anchor = b + 4, "start"
                elif value < 0 and b - tw - 4 >= limit[0]:
                    x, anchor = b - 4, "end"
                elif length >= tw + 8:
                    # No room past the bar's end: inside it, in white.
                    x, anchor, colour = (
                        (b - 4, "end", "#ffffff") if value >= 0 else (b + 4, "start", "#ffffff")
                    )
                else:
                    continue
                canvas.text(
                    x,
                    pos + thick / 2 + size * 0.35,
                    text,
                    anchor=anchor,
                    size=size,
                    fill=colour,
                    parent=group,
                    class_="value",
                )
            elif thick + (band - inner) * 0.8 >= tw:
                y = b - 4 if value >= 0 else b + size + 2
                if limit[0] - 12 <= y <= limit[1] + size + 4:
                    canvas.text(
                        pos + thick / 2,
                        y,
                        text,
                        anchor="middle",
                        size=size,
                        parent=group,
                        class_="value",
                    )


def _lines(canvas, values, series, labels, figures, left, slot, at) -> None:
    """One polyline per series (broken where a figure is empty) and a marker per point."""
    group = canvas.add("g", class_="lines")
    show_values = len(series) == 1 and len(labels) <= 24
    for s, row in enumerate(values):
        color = _color(s)
        segments: list[list[tuple[float, float]]] = [[]]
        for i, value in enumerate(row):
            if value is None:
                if segments[-1]:
                    segments.append([])
                continue
            segments[-1].append((left + slot * (i + 0.5), at(value)))
        for points in segments:
            if len(points) > 1:
                d = "M" + " L".join(f"{_n(x)} {_n(y)}" for x, y in points)
                canvas.add(
                    "path",
                    group,
                    d=d,
                    fill="none",
                    stroke=color,
                    stroke_width=2,
                    class_="line",
                    data_series=s,
                )
        for i, value in enumerate(row):
            if value is None:
                continue
            x, y = left + slot * (i + 0.5), at(value)
            canvas.add(
                "circle",
                group,
                cx=x,
                cy=y,
                r=3,
                fill="#ffffff",
                stroke=color,
                stroke_width=1.5,
                class_="point",
                data_series=s,
                data_category=i,
                data_value=_n(value),
            )
            if show_values:
                text = figures.value(value)
                if text_width(text, SMALL) <= slot + 8:
                    canvas.text(
                        x, y - 7, text, anchor="middle", size=SMALL, parent=group, class_="value"
                    )


def _pie(
    canvas: Canvas, items: list[Mapping[str, Any]], figures: Figures, total: float, *, donut: bool
) -> None:
    """Slices clockwise from twelve o'clock, proportional to the positive figures (of
    ``total``; the part of the items not drawn is left grey); zero, negative and empty figures
    get no slice but stay in the legend with their value."""
    width, height = canvas.width, canvas.height
    canvas.text(
        8, 14, canvas.root.findtext("title") or "", size=SMALL, fill=MUTED, class_="chart-title"
    )
    radius = (height - 40) / 2
    cx, cy = 16 + radius, 22 + radius
    inner = radius * 0.57 if donut else 0.0
    group = canvas.add("g", class_="slices")
    angle = 0.0
    for i, point in enumerate(items):
        value = point.get("value")
        if value is None or value <= 0:
            continue
        sweep = 2 * math.pi * float(value) / total
        canvas.add(
            "path",
            group,
            d=_slice(cx, cy, radius, inner, angle, angle + sweep),
            fill=_color(i),
            stroke="#ffffff",
            stroke_width=1,
            fill_rule="evenodd",
            class_="slice",
            data_index=i,
            data_value=_n(float(value)),
            data_start=_n(math.degrees(angle)),
            data_end=_n(math.degrees(angle + sweep)),
        )
        angle += sweep
    if angle < 2 * math.pi - 1e-6:
        canvas.add(
            "path",
            group,
            d=_slice(cx, cy, radius, inner, angle, 2 * math.pi),
            fill=GRID,
            stroke="#ffffff",
            stroke_width=1,
            fill_rule="evenodd",
            class_="rest",
        )
    # The legend: a colour, the label, the figure and its share of the pie.
    legend = canvas.add("g", class_="legend")
    x0 = cx + radius + 40
    columns = 2 if len(items) > 15 else 1
    col_width = min((width - x0 - 8) / columns, 380.0)
    per_column = math.ceil(len(items) / columns)
    row = min(18.0, (height - 30) / max(per_column, 1))
    top = cy - row * per_column / 2
    for i, point in enumerate(items):
        c, r = divmod(i, per_column)
        x, y = x0 + c * col_width, top + r * row + row / 2
        value = point.get("value")
        figure = figures.value(value)
        if value is not None and value > 0:
            figure += f" ({figures.percent(float(value) / total)})"
        canvas.add(
            "rect",
            legend,
            x=x,
            y=y - 5,
            width=10,
            height=10,
            rx=2,
            fill=_color(i) if value is not None and value > 0 else GRID,
        )
        room = col_width - 20 - text_width(figure, SMALL) - 12
        canvas.text(
            x + 14,
            y + SMALL * 0.35,
            truncate(point.get("label"), max(room, 30), SMALL),
            size=SMALL,
            parent=legend,
            class_="label",
        )
        canvas.text(
            x + col_width - 12,
            y + SMALL * 0.35,
            figure,
            anchor="end",
            size=SMALL,
            fill=MUTED,
            parent=legend,
            class_="value",
        )


def _slice(cx: float, cy: float, outer: float, inner: float, a: float, b: float) -> str:
    """The path of a slice (or a ring's piece) between angles ``a`` and ``b`` (radians,
    clockwise from twelve o'clock); a whole circle is drawn as two halves."""

    def at(r: float, t: float) -> str:
        return f"{_n(cx + r * math.sin(t))} {_n(cy - r * math.cos(t))}"

    if b - a >= 2 * math.pi - 1e-9:
        mid = a + math.pi
        d = (
            f"M{at(outer, a)} A{_n(outer)} {_n(outer)} 0 1 1 {at(outer, mid)} "
            f"A{_n(outer)} {_n(outer)} 0 1 1 {at(outer, a)} Z"
        )
        if inner:
            d += (
                f" M{at(inner, a)} A{_n(inner)} {_n(inner)} 0 1 0 {at(inner, mid)} "
                f"A{_n(inner)} {_n(inner)} 0 1 0 {at(inner, a)} Z"
            )
        return d
    large = 1 if b - a > math.pi else 0
    if inner:
        return (
            f"M{at(outer, a)} A{_n(outer)} {_n(outer)} 0 {large} 1 {at(outer, b)} "
            f"L{at(inner, b)} A{_n(inner)} {_n(inner)} 0 {large} 0 {at(inner, a)} Z"
        )
    return (
        f"M{_n(cx)} {_n(cy)} L{at(outer, a)} A{_n(outer)} {_n(outer)} 0 {large} 1 {at(outer, b)} Z"
    )


def _funnel(canvas: Canvas, items: list[Mapping[str, Any]], figures: Figures) -> None:
    """Stages top to bottom in the result's order (as the page's ``sort: none``); each stage's
    top edge is as wide as its figure relative to the largest, narrowing to the next stage's."""
    width, height = canvas.width, canvas.height
    canvas.text(
        8, 14, canvas.root.findtext("title") or "", size=SMALL, fill=MUTED, class_="chart-title"
    )
    left, right = width * 0.1, width * 0.72
    top, bottom = 26.0, height - 8
    centre, full = (left + right) / 2, right - left
    largest = max((float(p["value"]) for p in items if (p.get("value") or 0) > 0), default=0.0)
    gap = 2.0
    step = (bottom - top) / len(items)

    def span(point: Mapping[str, Any]) -> float:
        value = point.get("value")
        if value is None or value <= 0 or largest <= 0:
            return 0.0
        return full * float(value) / largest

    group = canvas.add("g", class_="stages")
    for i, point in enumerate(items):
        w_top = span(point)
        w_bottom = span(items[i + 1]) if i + 1 < len(items) else w_top * 0.6
        w_bottom = min(w_bottom, w_top)
        y0, y1 = top + step * i, top + step * (i + 1) - gap
        d = (
            f"M{_n(centre - w_top / 2)} {_n(y0)} L{_n(centre + w_top / 2)} {_n(y0)} "
            f"L{_n(centre + w_bottom / 2)} {_n(y1)} L{_n(centre - w_bottom / 2)} {_n(y1)} Z"
        )
        value = point.get("value")
        canvas.add(
            "path",
            group,
            d=d,
            fill=_color(i),
            stroke=_color(i),
            stroke_width=0.5 if w_top else 1,
            class_="stage",
            data_index=i,
            data_value=_n(float(value)) if value is not None else "",
            data_width=_n(w_top),
        )
        label = clean(point.get("label"))
        text = f"{label} {figures.value(value)}".strip()
        middle = (y0 + y1) / 2 + FONT * 0.35
        if text_width(text) + 12 <= (w_top + w_bottom) / 2:
            canvas.text(
                centre, middle, text, anchor="middle", fill="#ffffff", parent=group, class_="label"
            )
        else:
            x = centre + max(w_top, w_bottom) / 2 + 8
            canvas.text(x, middle, truncate(text, width - x - 8), parent=group, class_="label")
