"""Rendering print templates: tenant-written HTML + CSS with Jinja syntax → PDF.

The three steps, each in its own module:

1. :mod:`print_templates.sandbox` fills the template in with plain data, bounded and escaped;
2. WeasyPrint lays the HTML out with the base stylesheet (:data:`BASE_CSS`: fonts, A4 page),
   then the template's own CSS, fetching resources only through
   :class:`print_templates.fetcher.PrintFetcher` (``data:`` and ``asset:<name>``), with no
   base URL (so no relative path can point into the file system);
3. the fonts of :mod:`print_templates.fonts` are embedded, subset to the characters used.

Call these from an RQ job (or a bounded preview): a render takes a few hundred milliseconds for a
typical quote, WeasyPrint is not made for threads, so renders in one process take turns.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _

from print_templates import fonts, sandbox
from print_templates.errors import TemplateError, TemplateLimitError
from print_templates.fetcher import AssetLoader, PrintFetcher

__all__ = [
    "BASE_CSS",
    "AssetLoader",
    "Rendered",
    "TemplateError",
    "TemplateLimitError",
    "render_html",
    "render_pdf",
    "template_errors",
]

LOGGER = logging.getLogger(__name__)

LOCALES = ("zh_CN", "en")
#: Longest stylesheet a template may bring, in characters.
MAX_CSS = 200_000

#: Applied before the template's CSS, which may override any of it (page size and margins too).
BASE_CSS = f"""
@page {{
  size: A4;
  margin: 18mm 16mm 20mm 16mm;
}}
html {{
  font-family: {fonts.FONT_STACK};
  font-size: 10pt;
  line-height: 1.5;
  color: #1f2328;
}}
img {{ max-width: 100%; }}
table {{ border-collapse: collapse; }}
thead {{ display: table-header-group; }}
tr, img {{ break-inside: avoid; }}
"""


@dataclass(frozen=True)
class Rendered:
    """A rendered PDF: its bytes and number of pages (and the URLs that were refused)."""

    pdf: bytes
    pages: int
    refused: tuple[str, ...] = ()


_render_lock = threading.Lock()


def _new_lock_in_child() -> None:
    # A process forked while another thread renders (a bounded preview) must not inherit a
    # held lock.
    global _render_lock
    _render_lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_in_child)


def _locale(locale: str) -> str:
    if locale not in LOCALES:
        raise TemplateError(_("Unknown document language: %(locale)s.", locale=str(locale)[:20]))
    return locale


def render_html(source: str, context: Mapping[str, Any], *, locale: str = "zh_CN") -> str:
    """The template filled in with ``context`` (plain data, see :mod:`print_templates.variables`).

    Raises :class:`TemplateError` (422) for anything the template's author should fix, and
    ``TypeError``/``ValueError`` when the context is not plain data (the caller's bug)."""
    return sandbox.render_template(source, context, locale=_locale(locale))


def render_pdf(
    source: str,
    context: Mapping[str, Any],
    *,
    locale: str = "zh_CN",
    assets: AssetLoader | None = None,
    css: str = "",
) -> Rendered:
    """The PDF of the template filled in with ``context``, with the template's ``css``.

    ``assets`` answers ``asset:<name>`` URLs (the company's logo, seal…); nothing else outside
    the document is ever read. A resource that cannot be had prints as missing."""
    from rq.timeouts import BaseTimeoutException
    from weasyprint import CSS, HTML
    from weasyprint.urls import FatalURLFetchingError

    if not isinstance(css, str):
        raise TemplateError(_("The stylesheet must be text."), field="css")
    if len(css) > MAX_CSS:
        raise TemplateError(
            _("The stylesheet may be at most %(n)s characters long.", n=f"{MAX_CSS:,}"),
            field="css",
        )
    html = render_html(source, context, locale=locale)
    fetcher = PrintFetcher(assets)
    font_config = fonts.font_config()
    with _render_lock:
        try:
            stylesheets = [
                CSS(string=BASE_CSS, font_config=font_config, url_fetcher=fetcher),
                CSS(string=css or "", font_config=font_config, url_fetcher=fetcher),
            ]
            document = HTML(string=html, base_url=None, url_fetcher=fetcher).render(
                stylesheets=stylesheets,
                font_config=font_config,
                presentational_hints=True,
            )
            pdf = document.write_pdf(dpi=300)
        except FatalURLFetchingError:
            if fetcher.loader_error is not None:
                raise fetcher.loader_error from None
            raise TemplateError(_("A resource of the document could not be loaded.")) from None
        except TemplateError:
            raise
        except RecursionError:
            raise TemplateLimitError(_("The document nests its elements too deeply.")) from None
        except MemoryError:
            raise TemplateLimitError(_("The document needs too much memory.")) from None
        except BaseTimeoutException:
            raise  # the job's time limit: the job reports it, not the template
        except Exception as exc:
            # WeasyPrint is lenient with HTML and CSS; what still fails is the template's to fix.
            LOGGER.warning("laying out a print template failed", exc_info=True)
            raise TemplateError(
                _("The document could not be laid out: %(detail)s", detail=str(exc)[:200])
            ) from None
    return Rendered(pdf=pdf, pages=len(document.pages), refused=tuple(fetcher.refused))


def template_errors(source: str) -> list[str]:
    """What keeps ``source`` from compiling, as messages with line numbers (empty when it
    compiles). No rendering: unknown variables only show when the template is filled in."""
    return sandbox.syntax_errors(source)
