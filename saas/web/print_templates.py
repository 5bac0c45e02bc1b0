"""Print pages (blueprint ``print_templates``, prefix ``/t/<slug>``).

For owners and administrators, the templates:

* ``GET/POST /print-templates``: templates per object, and a new one;
* ``GET/POST /print-templates/<id>``: the editor (HTML and CSS, a field picker, a live preview
  against a chosen record in a sandboxed iframe, the version history); saving adds a version;
* ``POST /print-templates/<id>/preview``: the preview itself (HTML for the iframe, or a PDF);
* ``POST /print-templates/<id>/versions/<n>/restore``, ``GET …/versions/<n>``,
  ``POST /print-templates/<id>/state`` (default mark, archive).

For every member who can see the record:

* ``POST /o/<object_key>/<id>/pdf``: start the record's PDF (JSON for the page's script, else a
  redirect to the job page); ``POST /o/<object_key>/print-batch``: print selected records into a
  zip; ``GET /print/jobs/<job>``: progress and the download link (``?format=json`` for scripts);
* ``GET /documents/<id>``: download; ``GET /o/<object_key>/<id>/documents``: a record's PDFs;
* ``GET /o/<object_key>/<id>/print``: the record as a printable HTML page (print CSS).
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from print_templates import context as contexts
from print_templates import jobs as print_jobs
from print_templates import preview as previews
from print_templates import services as templates
from print_templates.models import LOCALES
from saas import tracked
from saas.api.print_templates import document_response, field_variables, preview_response
from saas.errors import DomainError, ValidationFailed
from saas.records import services as records
from saas.web.forms import ConfirmForm
from tenants import services as tenant_services
from tenants.models import ADMIN_ROLES
from tenants.resolution import attach_ui_tenant, require_admin

bp = Blueprint("print_templates", __name__, url_prefix="/t/<slug>")
attach_ui_tenant(bp)

#: Records offered to preview a template with.
PREVIEW_CHOICES = 50
_TRUE = ("1", "true", "on", "yes")


def _messages(err: DomainError) -> dict[str, list[str]]:
    return err.errors if isinstance(err, ValidationFailed) else {err.field or "": [err.message]}


def _check_csrf() -> None:
    if not ConfirmForm().validate_on_submit():
        abort(400)


def _wants_json() -> bool:
    return request.args.get("format") == "json" or request.accept_mimetypes.best == (
        "application/json"
    )


def _flash_errors(err: ValidationFailed) -> None:
    for messages in err.errors.values():
        for message in messages:
            flash(message, "error")


def _chosen_template() -> int | None:
    """The template a print form names (none: the object's default)."""
    raw = request.form.get("template_id", "")
    return int(raw) if raw.isdigit() else None


# ---------------------------------------------------------------- helpers for record pages


@bp.app_template_global()
def print_templates_of(object_key: str) -> list[Any]:
    """Active templates of an object, for the record page's PDF menu."""
    if not g.get("membership"):
        return []
    return templates.list_templates(object_key)


@bp.app_template_global()
def print_documents_of(object_key: str, record_id: int) -> list[Any]:
    """The record's latest PDFs the member may read, for the record page."""
    if not g.get("membership"):
        return []
    try:
        return print_jobs.record_documents(g.membership, object_key, record_id)[:5]
    except DomainError:
        return []


@bp.app_template_filter("print_money")
def print_money(amount: Any, currency: str) -> str:
    """An amount with its currency in the page's language."""
    from flask_babel import format_currency

    return "" if amount is None else format_currency(amount, currency)


# ---------------------------------------------------------------- templates (admins)


def _objects() -> list[Any]:
    locale = _ui_locale()
    return sorted(templates.company_objects(), key=lambda s: (not s.is_standard, s.label(locale)))


def _ui_locale() -> str:
    return print_jobs.request_locale()


def _index(values: dict[str, Any] | None = None, errors: dict | None = None, status: int = 200):
    archived = request.args.get("archived", "").lower() in _TRUE
    found = templates.list_templates(archived=archived)
    by_object: dict[str, list[Any]] = {}
    for template in found:
        by_object.setdefault(template.object_key, []).append(template)
    return render_template(
        "print_templates/index.html",
        objects=_objects(),
        by_object=by_object,
        archived=archived,
        values=values or {"locale": _ui_locale(), "object_key": request.args.get("object", "")},
        errors=errors or {},
        locales=LOCALES,
        confirm=ConfirmForm(),
    ), status


@bp.route("/print-templates", methods=["GET", "POST"])
@require_admin
def index():
    if request.method == "GET":
        return _index()
    _check_csrf()
    values = {
        "object_key": request.form.get("object_key", ""),
        "name": request.form.get("name", ""),
        "locale": request.form.get("locale", ""),
        "is_default": request.form.get("is_default") == "on",
    }
    try:
        template = templates.create_template(g.membership, values)
    except DomainError as err:
        if err.status in (403, 404):
            raise
        return _index(values, _messages(err), err.status)
    flash(_("Template “%(name)s” created.", name=template.name), "success")
    return redirect(url_for(".editor", template_id=template.id))


def _preview_records(object_key: str) -> list[tuple[int, str]]:
    rows, _cursor = records.list_records(object_key, limit=PREVIEW_CHOICES)
    return [(r.id, r.name or f"#{r.id}") for r in rows]


def _editor(
    template: Any,
    *,
    source: str | None = None,
    css: str | None = None,
    base_version: int | None = None,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
):
    saved = templates.current(template)
    schema = templates.object_schema(template.object_key)
    choices = _preview_records(template.object_key)
    wanted = request.values.get("record_id", "")
    return render_template(
        "print_templates/editor.html",
        template=template,
        schema=schema,
        source=saved.source if source is None else source,
        css=saved.css if css is None else css,
        base_version=base_version or template.current_version,
        versions=templates.history(template.id),
        variables=field_variables(template.object_key, _ui_locale()),
        record_choices=choices,
        record_id=int(wanted) if wanted.isdigit() else (choices[0][0] if choices else None),
        names=_member_names(),
        errors=errors or {},
        confirm=ConfirmForm(),
    ), status


def _member_names() -> dict[int, str]:
    return {m.user_id: m.user.display_name for m in tenant_services.members()}


@bp.route("/print-templates/<int:template_id>", methods=["GET", "POST"])
@require_admin
def editor(template_id: int):
    template = templates.get_template(template_id)
    if request.method == "GET":
        return _editor(template)
    _check_csrf()
    form = request.form
    body = {
        "name": form.get("name", ""),
        "source": form.get("source", ""),
        "css": form.get("css", ""),
        "base_version": form.get("base_version") or None,
    }
    try:
        template = templates.update_template(g.membership, template_id, body)
    except DomainError as err:
        if err.status in (403, 404):
            raise
        return _editor(
            template,
            source=body["source"],
            css=body["css"],
            base_version=int(body["base_version"] or 0) or None,
            errors=_messages(err),
            status=err.status,
        )
    flash(
        _("Saved as version %(n)d.", n=template.current_version),
        "success",
    )
    return redirect(url_for(".editor", template_id=template.id))


@bp.post("/print-templates/<int:template_id>/state")
@require_admin
def set_state(template_id: int):
    """The default mark and archiving, one button each."""
    _check_csrf()
    change: dict[str, Any] = {}
    if "is_default" in request.form:
        change["is_default"] = request.form["is_default"] in _TRUE
    if "active" in request.form:
        change["active"] = request.form["active"] in _TRUE
    try:
        template = templates.update_template(g.membership, template_id, change)
    except ValidationFailed as err:
        _flash_errors(err)
        return redirect(url_for(".editor", template_id=template_id))
    if change.get("active") is False:
        flash(_("Template “%(name)s” archived.", name=template.name), "success")
        return redirect(url_for(".index"))
    flash(_("Template “%(name)s” saved.", name=template.name), "success")
    return redirect(url_for(".editor", template_id=template_id))


@bp.post("/print-templates/<int:template_id>/preview")
@require_admin
def preview(template_id: int):
    """The preview for the editor's iframe (HTML) or a new tab (PDF); errors as a small page in
    the same place."""
    _check_csrf()
    form = request.form
    body = {
        "record_id": form.get("record_id", ""),
        "source": form.get("source"),
        "css": form.get("css"),
        "format": form.get("format", "html"),
    }
    try:
        result = previews.preview(g.membership, template_id, body)
    except DomainError as err:
        if err.status in (403, 404) and err.field is None:
            raise
        page = render_template("print_templates/preview_error.html", errors=_messages(err))
        response = preview_response(previews.Preview("html", page.encode("utf-8")))
        response.status_code = err.status
        return response
    return preview_response(result)


@bp.get("/print-templates/<int:template_id>/versions/<int:version>")
@require_admin
def version(template_id: int, version: int):
    template = templates.get_template(template_id)
    found = templates.get_version(template_id, version)
    return render_template(
        "print_templates/version.html",
        template=template,
        version=found,
        names=_member_names(),
        confirm=ConfirmForm(),
    )


@bp.post("/print-templates/<int:template_id>/versions/<int:version>/restore")
@require_admin
def restore(template_id: int, version: int):
    _check_csrf()
    template = templates.restore_version(g.membership, template_id, version)
    flash(
        _(
            "Version %(old)d restored as version %(new)d.",
            old=version,
            new=template.current_version,
        ),
        "success",
    )
    return redirect(url_for(".editor", template_id=template_id))


# ---------------------------------------------------------------- documents (members)


@bp.post("/o/<object_key>/<int:record_id>/pdf")
def create_pdf(object_key: str, record_id: int):
    _check_csrf()
    try:
        row = print_jobs.request_pdf(
            g.membership,
            object_key,
            record_id,
            template_id=_chosen_template(),
            request_key=request.form.get("request_key") or None,
        )
    except DomainError as err:
        if _wants_json():
            return jsonify(err.to_dict()), err.status
        raise
    if _wants_json():
        return jsonify(_job_json(row)), 202
    return redirect(url_for(".job", job_id=row.id), 303)


@bp.post("/o/<object_key>/print-batch")
def print_batch(object_key: str):
    """Print the records chosen on the list (``ids``) into one zip."""
    _check_csrf()
    if request.form.get("all", "").lower() in _TRUE:
        flash(
            _("Choose the records to print on the page (at most %(n)d).", n=print_jobs.MAX_BATCH),
            "error",
        )
        return redirect(url_for("records.index", object_key=object_key))
    ids = [v for v in request.form.getlist("ids") if v.strip()]
    try:
        row = print_jobs.request_batch(
            g.membership,
            object_key,
            ids,
            template_id=_chosen_template(),
        )
    except ValidationFailed as err:
        _flash_errors(err)
        return redirect(url_for("records.index", object_key=object_key))
    return redirect(url_for(".job", job_id=row.id), 303)


def _job_json(row: tracked.TrackedJob) -> dict[str, Any]:
    result = row.result or {}
    status = row.status
    if status in tracked.ACTIVE and not tracked.is_active(row.id):
        status = "failed"  # its worker died past the retries: nothing will finish it
    body: dict[str, Any] = {
        "id": row.id,
        "kind": row.kind,
        "status": status,
        "done": row.done,
        "total": row.total,
        "percent": row.percent,
        "error": row.error if status == "failed" else None,
        "status_url": url_for(".job", job_id=row.id, format="json"),
        "page_url": url_for(".job", job_id=row.id),
    }
    if status == "succeeded" and isinstance(result.get("document_id"), int):
        body["document_url"] = url_for(".download", document_id=result["document_id"])
        body["filename"] = result.get("filename")
        body["document_status"] = result.get("status")
    return body


@bp.get("/print/jobs/<job_id>")
def job(job_id: str):
    row = print_jobs.get_print_job(g.membership, job_id)
    body = _job_json(row)
    if _wants_json():
        return jsonify(body)
    object_key = (row.params or {}).get("object_key")
    schema = None
    if object_key:
        try:
            schema = templates.object_schema(object_key)
        except DomainError:
            schema = None
    return render_template("print_templates/job.html", job=row, info=body, schema=schema)


@bp.get("/documents/<int:document_id>")
def download(document_id: int):
    document, data = print_jobs.content(g.membership, document_id)
    return document_response(document, data)


@bp.get("/o/<object_key>/<int:record_id>/documents")
def documents(object_key: str, record_id: int):
    before = request.args.get("before", "")
    record = records.get_record(object_key, record_id)
    found = print_jobs.record_documents(
        g.membership, object_key, record_id, before=int(before) if before.isdigit() else None
    )
    return render_template(
        "print_templates/documents.html",
        schema=templates.object_schema(object_key),
        record=record,
        documents=found,
        more=len(found) == print_jobs.PAGE,
        names=_member_names(),
        templates_by_id={t.id: t for t in templates.list_templates(object_key)},
        confirm=ConfirmForm(),
    )


@bp.get("/o/<object_key>/<int:record_id>/print")
def print_record(object_key: str, record_id: int):
    """The record's fields as a printable page (the browser's print dialog)."""
    records.require_permission(g.membership, object_key, "view")
    record = records.get_record(object_key, record_id)
    locale = _ui_locale()
    context = contexts.build(g.membership, object_key, record, locale=locale)
    return render_template(
        "print_templates/print_record.html",
        context=context,
        schema=templates.object_schema(object_key),
        record=record,
        is_admin_role=g.membership.role_key in ADMIN_ROLES,
    )
