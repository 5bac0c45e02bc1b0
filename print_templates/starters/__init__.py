"""Starter templates a company installs and then edits: quote and contract, in Chinese and
English (``quote.zh_CN`` …).

Each starter is an HTML template (``<object>.<locale>.html``) and a stylesheet made of the shared
``common.css`` and the language's page footer (``page.<locale>.css``: 第 x 页 / 共 y 页, or
Page x of y). They use the variables of :mod:`print_templates.variables` and show: a letterhead
with ``asset:logo``, the parties, the line items (their header row repeats on every page), the
totals with the amount in Chinese capitals for CNY, the terms, signature blocks with
``asset:seal`` (printed once the document is approved) and a DRAFT watermark until it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

OBJECTS = ("quote", "contract")
LOCALES = ("zh_CN", "en")
#: Every starter key, e.g. ``quote.zh_CN``.
KEYS = tuple(f"{obj}.{locale}" for obj in OBJECTS for locale in LOCALES)

_NAMES = {
    "quote.zh_CN": "报价单（标准）",
    "quote.en": "Quotation (standard)",
    "contract.zh_CN": "销售合同（标准）",
    "contract.en": "Sales contract (standard)",
}


@dataclass(frozen=True)
class Starter:
    """A built-in template: what a company's copy starts from."""

    key: str
    object_key: str
    locale: str
    name: str
    source: str
    css: str


def _read(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


@cache
def load(key: str) -> Starter:
    """The starter ``key`` (``quote.zh_CN``, ``quote.en``, ``contract.zh_CN``, ``contract.en``)."""
    if key not in KEYS:
        raise KeyError(key)
    object_key, locale = key.split(".", 1)
    css = _read("common.css") + "\n" + _read(f"page.{locale}.css")
    return Starter(
        key=key,
        object_key=object_key,
        locale=locale,
        name=_NAMES[key],
        source=_read(f"{key}.html"),
        css=css,
    )


def for_object(object_key: str) -> list[Starter]:
    """The starters of an object (none for objects without one)."""
    return [load(key) for key in KEYS if key.startswith(object_key + ".")]
