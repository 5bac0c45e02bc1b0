"""The editor's preview: a template (saved or as typed) rendered against a chosen record, in the
web request but bounded.

Rendering runs in a forked child process (:mod:`print_templates.bounded`) that gets the
context and the company's assets as plain data and may grow its address space by
``PRINT_MEMORY_LIMIT_MB`` at most; the request waits at most ``PRINT_PREVIEW_SECONDS`` (10 s)
and then kills it. HTML previews are cheap (Jinja only). A PDF preview is offered too: a
one-page document renders in well under a second in a warm process; a template that is slow to
lay out hits the time limit with a clear message instead of holding the web worker.

The HTML is served to a ``sandbox``ed iframe with its own Content-Security-Policy (no scripts,
nothing fetched but ``data:`` images), and the company's assets are inlined as ``data:`` URLs.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import gettext as _

from print_templates import bounded
from print_templates import context as contexts
from print_templates import services as templates
from print_templates.jobs import company_assets, memory_limit_mb, render_plain, warm_renderer
from saas.errors import DomainError, ValidationFailed
from saas.records import services as records
from tenants.models import Membership

#: What the preview iframe's document may do: nothing but show itself and data: images.
PREVIEW_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox"
)
#: Largest preview answered, in bytes.
MAX_OUTPUT = 20 * 1024 * 1024


def preview_seconds() -> int:
    raw = current_app.config.get("PRINT_PREVIEW_SECONDS") or os.environ.get("PRINT_PREVIEW_SECONDS")
    try:
        value = int(raw) if raw is not None else 10
    except (TypeError, ValueError):
        value = 10
    return value if value > 0 else 10


@dataclass(frozen=True)
class Preview:
    """A rendered preview: ``html`` (a whole document) or ``pdf`` bytes."""

    kind: str
    body: bytes
    pages: int | None = None


def _inline_assets(html: str, assets: Mapping[str, tuple[bytes, str]]) -> str:
    for name, (data, mime) in assets.items():
        encoded = base64.b64encode(data).decode("ascii")
        html = html.replace(f"asset:{name}", f"data:{mime};base64,{encoded}")
    return html


def _document(html: str, css: str) -> str:
    """A whole HTML document with the template's CSS inline (``</`` cannot end the style)."""
    safe_css = css.replace("</", "<\\/")
    style = f"<style>{safe_css}</style>" if css.strip() else ""
    if "<html" in html[:2000].lower():
        head_end = html.lower().find("</head>")
        if head_end >= 0:
            return html[:head_end] + style + html[head_end:]
        return style + html
    return (
        f'<!doctype html><html><head><meta charset="utf-8">{style}</head><body>{html}</body></html>'
    )


def _render_html(
    source: str, css: str, context: dict, locale: str, assets: dict
) -> tuple[str, bytes, int | None]:
    from print_templates.render import render_html

    html = render_html(source, context, locale=locale)
    return "html", _inline_assets(_document(html, css), assets).encode("utf-8"), None


def _render_pdf(
    source: str, css: str, context: dict, locale: str, assets: dict
) -> tuple[str, bytes, int | None]:
    data, pages = render_plain(source, css, context, locale, assets)
    return "pdf", data, pages


def preview(actor: Membership, template_id: int, body: Mapping[str, Any]) -> Preview:
    """Render the template (``source``/``css`` as typed, else its current version) against
    ``record_id`` as ``html`` (default) or ``pdf`` (owners and administrators)."""
    templates._require_admin(actor)
    template = templates.get_template(template_id)
    errors: dict[str, list[str]] = {}
    record_id = body.get("record_id")
    if isinstance(record_id, bool) or not str(record_id or "").strip().isdigit():
        errors["record_id"] = [_("Choose a record to preview with.")]
    fmt = body.get("format") or "html"
    if fmt not in ("html", "pdf"):
        errors["format"] = [_("Choose html or pdf.")]
    if errors:
        raise ValidationFailed(errors)
    saved = templates.current(template)
    source = body.get("source")
    css = body.get("css")
    source, css = templates.check_source(
        saved.source if source is None else source, saved.css if css is None else css
    )
    record = records.get_record(template.object_key, int(record_id))
    context = contexts.build(actor, template.object_key, record, locale=template.locale)
    render = _render_html
    if fmt == "pdf":
        warm_renderer()  # once per process; each preview's child inherits it
        render = _render_pdf
    kind, data, pages = bounded.run(
        render,
        source,
        css,
        context,
        template.locale,
        company_assets(),
        seconds=preview_seconds(),
        memory_mb=memory_limit_mb(),
    )
    if len(data) > MAX_OUTPUT:
        raise DomainError(_("The preview is too large to show."), status=422)
    return Preview(kind, data, pages)
