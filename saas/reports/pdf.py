"""A report result (or a dashboard's) as a PDF, through the print renderer
(:func:`print_templates.render.render_pdf`: sandboxed template, plain data, embedded CJK
fonts). The layout is fixed here: a title, then per report its table with the groups indented,
subtotals and the total in bold, as the report page shows it (no chart)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _

from saas.reports import present

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
"""


def document(
    title: str,
    sheets: list[tuple[str, Mapping[str, Any] | None, str | None]],
    locale: str,
    note: str = "",
) -> bytes:
    """The PDF of one or more results (``(title, result, error)`` each) in ``locale``."""
    from print_templates.render import render_pdf

    locale = "zh_CN" if locale.startswith("zh") else "en"
    with force_locale(locale):
        parts = [
            {
                "title": name,
                "error": error if result is None else None,
                "table": present.table(result, locale) if result is not None else None,
            }
            for name, result, error in sheets
        ]
        context = {
            "title": title,
            "note": note or _("Figures as of this delivery."),
            "sheets": parts,
        }
        return render_pdf(SOURCE.read_text(encoding="utf-8"), context, locale=locale, css=CSS).pdf
