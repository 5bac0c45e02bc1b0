"""The built-in reports as stored reports: an adapter over the engine's catalogue
(:mod:`custom_fields.reports.builtins`).

A built-in report is stored once per company (``builtin_key``) so it lists, shares, sits on
dashboards and is scheduled like any report, but it is read-only and runs from the code's
current definition: the engine builds it for the company's stage table at the time it runs, so
a renamed or added stage is in the figures without touching the stored copy. One of them
(``receivables``) is a query of its own rather than a definition; dashboard filters do not
apply to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import force_locale

from custom_fields.reports import builtins as catalogue_module
from custom_fields.reports.engine import Result
from tenants.models import Membership

#: What a built-in report with its own query is stored as (its object and its grouping).
_OWN_QUERY_SPECS: dict[str, dict[str, Any]] = {
    "receivables": {
        "version": 1,
        "object": "contract",
        "type": "summary",
        "groups": [{"field": "owner_id"}],
        "aggregates": [{"fn": "count"}],
        "chart": {"type": "bar", "aggregate": "count"},
    }
}


@dataclass(frozen=True)
class Item:
    """A built-in report: key, title (translated on use), and how it runs."""

    key: str
    title: Any
    own_query: bool

    def name(self, locale: str) -> str:
        with force_locale("zh_CN" if locale.startswith("zh") else "en"):
            return str(self.title)

    @property
    def name_en(self) -> str:
        return self.name("en")

    def description(self, locale: str) -> str | None:
        return None

    @property
    def description_en(self) -> str | None:
        return None

    @property
    def spec(self) -> dict[str, Any]:
        """The definition as the company's tables make it now."""
        return spec_for(self.key)


def catalogue() -> list[Item]:
    return [Item(b.key, b.title, b.definition is None) for b in catalogue_module.BUILTINS.values()]


def by_key(key: str) -> Item | None:
    found = catalogue_module.BUILTINS.get(key)
    return Item(found.key, found.title, found.definition is None) if found else None


def spec_for(key: str) -> dict[str, Any]:
    """The current definition of a built-in report (what an own-query report is stored as)."""
    made = catalogue_module.definition(key)
    if made is None:
        return dict(_OWN_QUERY_SPECS.get(key) or _OWN_QUERY_SPECS["receivables"])
    return {"version": 1, **made}


def run_own(
    key: str, actor: Membership, *, timezone: str | None = None, locale: str | None = None
) -> Result:
    """Run a built-in report that is a query of its own."""
    return catalogue_module.run(key, actor, timezone=timezone, locale=locale)
