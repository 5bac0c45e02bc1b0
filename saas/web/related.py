"""The 360° sections of record pages (``saas.crm.related``): the customer's summary strip and
tabs of related lists with their counts, each list loaded when its tab opens.

``records/detail.html`` includes ``related/_panel.html``, which asks :func:`record_panel` for what
to show. A list is a server-rendered fragment (``…/related/<kind>?cursor=``), fetched by
``related.js`` with the header ``X-Fragment: 1``; without the header the same list is a page of
its own, so every "Show more" link works without scripts too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, g, render_template, request
from flask_babel import gettext as _

from saas.crm import related
from saas.records import services
from saas.records.models import RecordColumns
from tenants.resolution import attach_ui_tenant

bp = Blueprint("related", __name__, url_prefix="/t/<slug>/o/<object_key>/<int:record_id>/related")
attach_ui_tenant(bp)


def tab_labels() -> dict[str, str]:
    return {
        "contacts": _("Contacts"),
        "activities": _("Activities"),
        "opportunities": _("Opportunities"),
        "quotes": _("Quotes"),
        "contracts": _("Contracts"),
        "payments": _("Payments"),
        "files": _("Files"),
    }


def new_labels() -> dict[str, str]:
    return {
        "contacts": _("New contact"),
        "activities": _("New activity"),
        "opportunities": _("New opportunity"),
        "quotes": _("New quote"),
        "contracts": _("New contract"),
        "payments": "",
        "files": _("Upload a file"),
    }


@dataclass
class Tab:
    key: str
    label: str
    count: int


@dataclass
class Panel:
    """What the record page shows: the summary (customers only) and the tabs."""

    summary: related.Summary | None
    tabs: list[Tab]


def record_panel(object_key: str, record: RecordColumns) -> Panel | None:
    """The 360° sections of a customer, contact or opportunity page (``None`` for others)."""
    actor = g.get("membership")
    if actor is None or not related.kinds_for(actor, object_key):
        return None
    found = related.counts(actor, object_key, record.id)
    labels = tab_labels()
    tabs = [Tab(key, labels[key], count) for key, count in found.items()]
    summary = related.summary(actor, record.id) if object_key == "account" else None
    return Panel(summary, tabs)


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {"related_panel": record_panel, "related_sums": related.format_sums}


@bp.get("/<kind>")
def section(object_key: str, record_id: int, kind: str):
    """One page of a related list: a fragment for ``related.js``, else a page of its own."""
    page = related.related(
        g.membership,
        object_key,
        record_id,
        kind,
        cursor=request.args.get("cursor") or None,
        limit=request.args.get("limit"),
    )
    parent = services.get_record(object_key, record_id)
    fragment = request.headers.get("X-Fragment") == "1"
    return render_template(
        "related/section.html",
        page=page,
        parent=parent,
        parent_key=object_key,
        schema=services.store(object_key).schema,
        fragment=fragment,
        label=tab_labels().get(page.kind, page.kind),
        new_label=new_labels().get(page.kind, ""),
        more_only=fragment and bool(request.args.get("cursor")),
    )
