"""The "Files" tab of the 360° customer page (``saas.crm.related``): the files of the customer
and of the records on it the person may open (contacts, activities, opportunities, quotes,
contracts), newest first, with the record each one is attached to.

Files on related records the person may not open are not listed, only counted (``hidden``), as
the other tabs do. Related records are read as the other tabs read them (at most
``SUMMARY_CAP`` of each kind, the newest).
"""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask_babel import format_datetime
from flask_babel import gettext as _

from saas.files import services
from saas.files.models import StoredFile
from tenants.models import Membership

#: Kinds of the 360° page that are not records with files of their own.
_NOT_RECORDS = frozenset({"payments", "files"})


def _targets(actor: Membership, object_key: str, record_id: int, *, scoped: bool):
    """object key → ids: the record itself and its related records (``scoped``: those the
    person may open)."""
    from saas.crm import related

    found: dict[str, list[int]] = {object_key: [record_id]}
    for kind in related.kinds_for(actor, object_key):
        if kind.key in _NOT_RECORDS:
            continue
        ids = related._linked_ids(actor, kind, record_id, scoped=scoped)
        found.setdefault(kind.child, []).extend(ids)
    return found


def _restricted(actor: Membership, object_key: str) -> bool:
    from saas.crm import related

    return any(
        related.restricted(actor, kind.child)
        for kind in related.kinds_for(actor, object_key)
        if kind.key not in _NOT_RECORDS
    )


def count(actor: Membership, object_key: str, record_id: int) -> int:
    """How many files the person sees on the tab."""
    return services.count_on(_targets(actor, object_key, record_id, scoped=True))


def page(actor: Membership, object_key: str, record_id: int, cursor: str | None, limit: int) -> Any:
    """One page of the tab, as a :class:`saas.crm.related.RelatedPage` of kind ``files``."""
    from saas.crm import activities, related

    visible = _targets(actor, object_key, record_id, scoped=True)
    files, next_cursor = services.files_on(visible, cursor=cursor, limit=limit)
    total = services.count_on(visible)
    hidden = 0
    if _restricted(actor, object_key):
        every = _targets(actor, object_key, record_id, scoped=False)
        hidden = max(0, services.count_on(every) - total)
    names = activities.names_of(actor, [(f.object_key, f.record_id) for f in files])
    uploaders = services.uploader_names([f.created_by for f in files])
    locale = related._locale()
    rows = [_row(f, names, uploaders, locale) for f in files]
    record = services.visible_record(actor, object_key, record_id)
    new_url = None
    if services.may_upload(actor, object_key, record):
        new_url = url_for(
            "records.detail", object_key=object_key, record_id=record_id, _anchor="files"
        )
    return related.RelatedPage(
        kind="files",
        object_key="file",
        columns=[
            ("attached_to", _("Attached to")),
            ("size", _("Size")),
            ("created_at", _("Uploaded")),
        ],
        rows=rows,
        next_cursor=str(next_cursor) if next_cursor else None,
        count=total,
        hidden=hidden,
        new_url=new_url,
    )


def _row(
    stored: StoredFile,
    names: dict[tuple[str, int], str],
    uploaders: dict[int, str],
    locale: str,
) -> Any:
    from saas.crm import activities, related

    key, rid = stored.object_key or "", stored.record_id or 0
    record_name = names.get((key, rid), f"#{rid}")
    attached = f"{activities.object_label(key, locale)} · {record_name}"
    return related.Row(
        id=stored.id,
        name=stored.filename,
        url=url_for("files.download", object_key=key, record_id=rid, file_id=stored.id),
        owner_id=stored.created_by,
        owner=uploaders.get(stored.created_by, "") if stored.created_by else "",
        values={
            "object_key": key,
            "record_id": rid,
            "content_type": stored.content_type,
            "size": stored.size,
            "sha256": stored.sha256,
            "created_at": stored.created_at.isoformat(),
        },
        display={
            "attached_to": attached,
            "size": services.size_label(stored.size),
            "created_at": format_datetime(stored.created_at, "short"),
        },
        extra={
            "record_url": url_for("records.detail", object_key=key, record_id=rid),
            "api_url": url_for(
                "api_files.download", object_key=key, record_id=rid, file_id=stored.id
            ),
        },
    )
