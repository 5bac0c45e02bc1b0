"""File pages (``/t/<slug>/…``): the "Files" panel of every record page, a record's full file
list, upload, download and a confirmed delete; and the company's assets (logo, seal) in the
settings area, which owners and administrators change and every member may read.

``records/detail.html`` includes ``files/_panel.html``, which asks :func:`record_files` for what
to show. Rules and limits live in ``saas.files.services``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import RequestEntityTooLarge

from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.files import services
from saas.files.responses import file_response
from saas.records import services as records
from saas.records.models import RecordColumns
from saas.web.forms import ConfirmForm
from saas.web.helpers import safe_next
from tenants.resolution import attach_ui_tenant, require_admin

bp = Blueprint("files", __name__, url_prefix="/t/<slug>")
attach_ui_tenant(bp)

#: Files shown in a record page's panel (the rest on the record's file page).
PANEL_SIZE = 10
PAGE_SIZE = 50
#: What a multipart form may add to the file itself (boundaries, the CSRF token).
ENVELOPE = 64 * 1024


def _messages(err: DomainError) -> list[str]:
    if isinstance(err, ValidationFailed):
        return [m for ms in err.errors.values() for m in ms]
    return [err.message]


def _record_page(object_key: str, record_id: int) -> str:
    return url_for("records.detail", object_key=object_key, record_id=record_id, _anchor="files")


def record_files(object_key: str, record: RecordColumns) -> services.FilePage | None:
    """The panel of a record page: its newest files (``None`` outside a tenant page)."""
    member = g.get("membership")
    if member is None:
        return None
    try:
        return services.list_files(member, object_key, record.id, limit=PANEL_SIZE)
    except DomainError:
        return None


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {
        "files_panel": record_files,
        "file_size": services.size_label,
        "files_max_bytes": services.max_bytes,
        "file_inline_types": services.INLINE_TYPES,
        "file_may_delete": services.may_delete,
    }


# ---------------------------------------------------------------- a record's files


def _list_page(
    object_key: str,
    record_id: int,
    *,
    errors: list[str] | None = None,
    status: int = 200,
):
    record = services.visible_record(g.membership, object_key, record_id)
    page = services.list_files(
        g.membership,
        object_key,
        record_id,
        cursor=request.args.get("cursor") if request.method == "GET" else None,
        limit=PAGE_SIZE,
    )
    return render_template(
        "files/list.html",
        schema=records.store(object_key).schema,
        record=record,
        page=page,
        errors=errors or [],
        confirm=ConfirmForm(),
    ), status


@bp.get("/o/<object_key>/<int:record_id>/files")
def record_list(object_key: str, record_id: int):
    """All of a record's files, a page at a time, with the upload form."""
    return _list_page(object_key, record_id)


def _too_large_page(object_key: str, record_id: int):
    db.session.rollback()
    return _list_page(object_key, record_id, errors=_messages(services.too_large()), status=413)


@bp.post("/o/<object_key>/<int:record_id>/files")
def upload(object_key: str, record_id: int):
    limit = services.max_bytes() + ENVELOPE
    if (request.content_length or 0) > limit:
        return _too_large_page(object_key, record_id)
    request.max_content_length = limit
    try:
        valid = ConfirmForm().validate_on_submit()
        upload_file = request.files.get("file")
    except RequestEntityTooLarge:
        return _too_large_page(object_key, record_id)
    if not valid:
        abort(400)
    back = safe_next(request.form.get("next"), _record_page(object_key, record_id))
    if upload_file is None or not upload_file.filename:
        return _list_page(object_key, record_id, errors=[_("Choose a file.")], status=400)
    try:
        stored = services.upload(
            g.membership, object_key, record_id, upload_file.filename, upload_file.stream
        )
    except DomainError as err:
        if err.status in (403, 404):
            raise
        return _list_page(object_key, record_id, errors=_messages(err), status=err.status)
    flash(_("“%(name)s” was uploaded.", name=stored.filename), "success")
    return redirect(back)


@bp.get("/o/<object_key>/<int:record_id>/files/<int:file_id>")
def download(object_key: str, record_id: int, file_id: int):
    stored, content = services.download(g.membership, object_key, record_id, file_id)
    return file_response(stored, content, request, inline=request.args.get("inline") == "1")


@bp.post("/o/<object_key>/<int:record_id>/files/<int:file_id>/delete")
def delete(object_key: str, record_id: int, file_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    back = safe_next(request.form.get("next"), _record_page(object_key, record_id))
    stored = services.get_file(g.membership, object_key, record_id, file_id)
    name = stored.filename
    services.delete_file(g.membership, object_key, record_id, file_id)
    flash(_("“%(name)s” was deleted.", name=name), "info")
    return redirect(back)


# ---------------------------------------------------------------- company assets


def _assets_page(errors: dict[str, list[str]] | None = None, status: int = 200, values=None):
    found = {a.name: a for a in services.list_assets()}
    names = [*services.STANDARD_ASSETS, *(n for n in found if n not in services.STANDARD_ASSETS)]
    return render_template(
        "files/assets.html",
        names=names,
        assets=found,
        uploaders=services.uploader_names([a.created_by for a in found.values()]),
        labels=asset_labels(),
        errors=errors or {},
        values=values or {},
        confirm=ConfirmForm(),
    ), status


def asset_labels() -> dict[str, str]:
    return {"logo": _("Logo"), "seal": _("Seal (company stamp)")}


@bp.get("/admin/assets")
@require_admin
def assets():
    """The company's assets with previews (owners and administrators)."""
    return _assets_page()


@bp.post("/admin/assets")
@require_admin
def put_asset():
    limit = services.max_bytes() + ENVELOPE
    too_large = {"file": _messages(services.too_large())}
    if (request.content_length or 0) > limit:
        return _assets_page(too_large, 413)
    request.max_content_length = limit
    try:
        valid = ConfirmForm().validate_on_submit()
        upload_file = request.files.get("file")
        name = request.form.get("name", "")
    except RequestEntityTooLarge:
        db.session.rollback()
        return _assets_page(too_large, 413)
    if not valid:
        abort(400)
    values = {"name": name}
    if upload_file is None or not upload_file.filename:
        return _assets_page({"file": [_("Choose an image.")]}, 400, values)
    try:
        stored, created = services.put_asset(
            g.membership, name, upload_file.filename, upload_file.stream
        )
    except DomainError as err:
        if err.status in (403, 404):
            raise
        errors = (
            err.errors
            if isinstance(err, ValidationFailed)
            else {err.field or "file": [err.message]}
        )
        return _assets_page(errors, err.status, values)
    label = asset_labels().get(stored.name or "", stored.name)
    if created:
        flash(_("%(name)s was uploaded.", name=label), "success")
    else:
        flash(_("%(name)s was replaced.", name=label), "success")
    return redirect(url_for("files.assets", _anchor=f"asset-{stored.name}"))


@bp.post("/admin/assets/<name>/delete")
@require_admin
def delete_asset(name: str):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.delete_asset(g.membership, name)
    flash(_("%(name)s was deleted.", name=asset_labels().get(name, name)), "info")
    return redirect(url_for("files.assets"))


@bp.get("/assets/<name>")
def asset(name: str):
    """An asset's bytes (every member; raster images may be shown inline)."""
    stored, content = services.asset_download(name)
    return file_response(stored, content, request, inline=request.args.get("inline") == "1")
