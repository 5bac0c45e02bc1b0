"""A report result (or a dashboard's) as a PDF, through the print renderer
(:func:`print_templates.render.render_pdf`: sandboxed template, plain data, embedded CJK
fonts). The layout is fixed here: a title, then per report its chart — the page's chart drawn
as an SVG image by :mod:`saas.reports.chart_svg`, the width of the page — and its table with
the groups indented, subtotals and the total in bold, as the report page shows it. A dashboard
gives each widget the chart it shows (its own chart type and figure; none for a table or a KPI
tile)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _

from saas.reports import chart_svg, present

#: The fixed layout, rendered by the print renderer's sandbox with plain data only.
SOURCE = Path(__file__).resolve().parents[1] / "templates" / "reports" / "pdf_document.html"

CSS = """
@page { size: A4 landscape; margin: 1.2cm; }
body { font-size: 9pt; }
h1 { font-size: 15pt; margin: 0 0 .2cm; }
h2 { font-size: 12pt; margin: .5cm 0 .2cm; }
.note { color: #555; margin: 0 0 .3cm; }
table { width: 100%; margin-bottom: .3cm; }
th, td { border: 1px solid #999; padding: 2px 4px; text-align: left; vertical-align: top; }
th { background: #eee; }
.n { text-align: right; }
.d2 { padding-left: 14px; } .d3 { padding-left: 28px; }
tr.sub td, tr.total td { font-weight: bold; }
tr.total td { border-top: 2px solid #000; }
table.totals { width: auto; }
img.chart { display: block; width: 100%; height: auto; margin: 0 0 .3cm; }
p.chart-note { color: #555; font-size: 8pt; margin: -.2cm 0 .3cm; }
"""


def document(
    title: str,
    sheets: list[tuple[str, Mapping[str, Any] | None, str | None]],
    locale: str,
    note: str = "",
    widgets: Sequence[Mapping[str, Any] | None] | None = None,
) -> bytes:
    """The PDF of one or more results (``(title, result, error)`` each) in ``locale``.

    ``widgets`` (a dashboard's, one per sheet) choose each sheet's chart as the dashboard
    shows it: ``chart`` (a chart type, or ``"table"`` for none) and ``aggregate``; a KPI tile
    has no chart. Without them every report has its own chart."""
    from print_templates.render import render_pdf

    locale = "zh_CN" if locale.startswith("zh") else "en"
    chosen = list(widgets or [])
    with force_locale(locale):
        parts = [
            {
                "title": name,
                "error": error if result is None else None,
                "chart": _chart(result, chosen[i] if i < len(chosen) else None, locale),
                "table": present.table(result, locale) if result is not None else None,
            }
            for i, (name, result, error) in enumerate(sheets)
        ]
        context = {
            "title": title,
            "note": note or _("Figures as of this delivery."),
            "sheets": parts,
        }
        return render_pdf(SOURCE.read_text(encoding="utf-8"), context, locale=locale, css=CSS).pdf


def _chart(
    result: Mapping[str, Any] | None, widget: Mapping[str, Any] | None, locale: str
) -> dict[str, Any] | None:
    """The image of a sheet's chart (a ``data:`` URL, which the print renderer fetches) and
    its notes, or ``None`` when the sheet has no chart."""
    if result is None:
        return None
    chart_type = aggregate = None
    if widget is not None:
        if widget.get("kind") == "kpi" or widget.get("chart") == "table":
            return None
        chart_type, aggregate = widget.get("chart") or None, widget.get("aggregate") or None
    return chart_svg.image(result, locale, chart_type, aggregate)
