"""What a record list offers besides browsing (blueprint ``list_actions``, prefix ``/t/<slug>``):

* ``GET  /o/<object_key>/export?format=csv|xlsx&<view>`` (``list_actions.export``): the view's
  records as a file, or a redirect to the export job page when there are many;
* ``GET  /o/<object_key>/print?<view>`` (``list_actions.print_list``): a printable table;
* ``POST /o/<object_key>/bulk`` (``list_actions.bulk``): a bulk action on chosen records or on
  every record of the view; ``GET /o/<object_key>/bulk/<job_id>`` (``list_actions.bulk_job``)
  shows a bulk job's progress and outcome;
* ``GET  /exports/<job_id>`` (``list_actions.export_job``) and ``…/download``
  (``list_actions.export_download``): an export job and its file.

``<view>`` is the list's URL form of a query: ``filter`` (JSON tree) or ``f``/``logic``,
``sort``, ``q`` and ``columns``. Exports need the export right on the object and print what the
member can see; bulk actions need the edit right (delete: the delete right).
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from custom_fields.errors import NotFound
from saas import tracked
from saas.errors import ValidationFailed
from saas.extensions import db
from saas.records import bulk as bulk_service
from saas.records import export as export_service
from saas.records import queries, services
from saas.web.helpers import safe_next
from tenants.resolution import attach_ui_tenant, require_right

bp = Blueprint("list_actions", __name__, url_prefix="/t/<slug>")
attach_ui_tenant(bp)

_TRUE = ("1", "true", "on", "yes")


def download_response(download: export_service.Download) -> Response:
    """A file answered as it is produced (the request context stays for the generator)."""
    response = Response(stream_with_context(download.chunks), mimetype=download.mimetype)
    response.headers["Content-Disposition"] = export_service.content_disposition(
        download.filename, download.object_key
    )
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Record-Count"] = str(download.count)
    return response


def file_response(job_id: str) -> Response:
    path, name, mimetype, object_key = export_service.export_file(g.membership, job_id)
    response = send_file(path, mimetype=mimetype, as_attachment=True, download_name=name, max_age=0)
    response.headers["Content-Disposition"] = export_service.content_disposition(name, object_key)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/o/<object_key>/export")
def export(object_key: str):
    spec, columns = queries.from_args(request.args)
    result = export_service.export(
        g.membership,
        object_key,
        request.args.get("format", "csv"),
        spec,
        columns,
        background=request.args.get("background", "").lower() in _TRUE,
    )
    if isinstance(result, tracked.TrackedJob):
        return redirect(url_for(".export_job", job_id=result.id), 303)
    return download_response(result)


@bp.get("/exports/<job_id>")
def export_job(job_id: str):
    status = export_service.export_status(g.membership, job_id)
    schema = None
    if status.object_key:
        try:
            schema = services.store(status.object_key).schema
        except NotFound:
            schema = None
    return render_template("records/export_job.html", status=status, job=status.job, schema=schema)


@bp.get("/exports/<job_id>/download")
def export_download(job_id: str):
    return file_response(job_id)


@bp.get("/o/<object_key>/print")
def print_list(object_key: str):
    spec, columns = queries.from_args(request.args)
    view = export_service.print_view(g.membership, object_key, spec, columns)
    back = url_for("records.index", object_key=object_key, **_view_args(request.args))
    return render_template("records/print.html", view=view, object_key=object_key, back=back)


def _view_args(args: MultiDict) -> dict[str, Any]:
    """The query part of the URL, to go back to the same list."""
    keep = ("filter", "f", "logic", "sort", "q", "columns")
    return {k: args.getlist(k) for k in keep if args.getlist(k)}


# ---- bulk actions -----------------------------------------------------------------------------


def _ids(form: MultiDict) -> tuple[int, ...]:
    raw = [v for v in form.getlist("ids") if v.strip()]
    if not raw:
        raise ValidationFailed({"ids": [_("Choose records, or all records of the view.")]})
    if len(raw) > bulk_service.MAX_RECORDS:
        raise ValidationFailed({"ids": [_("Choose fewer records.")]})
    try:
        ids = tuple(int(v) for v in raw)
    except ValueError:
        raise ValidationFailed({"ids": [_("Choose records by their ids.")]}) from None
    if any(not 0 < i < 2**63 for i in ids):
        raise ValidationFailed({"ids": [_("Choose records by their ids.")]})
    return tuple(dict.fromkeys(ids))


def _expected(form: MultiDict) -> int | None:
    raw = form.get("expected_count", "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed({"expected_count": [_("Enter a whole number.")]}) from None
    if value < 0:
        raise ValidationFailed({"expected_count": [_("Enter a whole number.")]})
    return value


def _form_value(st: services.Store, key: str | None, form: MultiDict) -> Any:
    """The value of an update as the record form would send it (empty clears the field)."""
    info = st.schema.field(key) if key else None
    if info is not None and info.type == "multi_picklist":
        return [v for v in form.getlist("value") if v] or None
    raw = form.get("value", "")
    if info is None or info.type != "long_text":
        raw = raw.strip()
    if not raw.strip():
        return None
    currency = form.get("currency", "").strip().upper()
    if info is not None and info.type == "currency" and currency:
        return {"amount": raw, "currency": currency}
    return raw


def bulk_request(st: services.Store, form: MultiDict) -> bulk_service.BulkRequest:
    """The form of the list page: ``action``, ``ids`` (repeated) or ``all=1`` with the view's
    ``filter``/``f``/``logic``/``q``, ``field`` and ``value``, ``owner_id``, ``tag`` and
    ``expected_count``."""
    every = form.get("all", "").lower() in _TRUE
    query = queries.from_args(form)[0] if every else None
    return bulk_service.BulkRequest(
        action=form.get("action", "").strip(),
        ids=None if every else _ids(form),
        query=query,
        field=form.get("field", "").strip() or None,
        value=_form_value(st, form.get("field", "").strip(), form),
        owner_id=form.get("owner_id", "").strip() or None,
        tag=form.get("tag"),
        expected_count=_expected(form),
    )


@bp.post("/o/<object_key>/bulk")
@require_right("view")  # the action's own right is checked by the bulk service
def bulk(object_key: str):
    st = services.store(object_key)
    req = bulk_request(st, request.form)
    back = safe_next(request.form.get("next"), url_for("records.index", object_key=object_key))
    try:
        result = bulk_service.run(g.membership, object_key, req)
    except bulk_service.CountChanged as err:
        db.session.rollback()
        fields = [
            (k, v)
            for k, v in request.form.items(multi=True)
            if k not in ("csrf_token", "expected_count")
        ]
        return render_template(
            "records/bulk_confirm.html",
            schema=st.schema,
            error=err,
            fields=fields,
            back=back,
        ), 409
    if isinstance(result, tracked.TrackedJob):
        return redirect(url_for(".bulk_job", object_key=object_key, job_id=result.id), 303)
    outcome = result.to_json()
    if not result.failed:
        flash(bulk_service.summary(outcome), "success")
        return redirect(back)
    return render_template(
        "records/bulk_result.html",
        schema=st.schema,
        job=None,
        result=outcome,
        summary=bulk_service.summary(outcome),
        back=back,
    )


@bp.get("/o/<object_key>/bulk/<job_id>")
def bulk_job(object_key: str, job_id: str):
    st = services.store(object_key)
    row = bulk_service.bulk_job(g.membership, object_key, job_id)
    result = row.result if row.status == "succeeded" else None
    return render_template(
        "records/bulk_result.html",
        schema=st.schema,
        job=row,
        result=result,
        summary=bulk_service.summary(result) if result else "",
        back=url_for("records.index", object_key=object_key),
    )
