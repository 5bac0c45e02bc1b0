"""Import pages of every object (``/t/<slug>/o/<object_key>/import…``), writers only:
upload → map the columns → preview → run → progress → result with the error report.

The pages are plain forms (no script needed); the progress page reloads itself every two
seconds until the job ends.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    g,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.exceptions import RequestEntityTooLarge

from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.records import imports, services
from saas.records.export import content_disposition
from saas.web.forms import ConfirmForm
from tenants.resolution import attach_ui_tenant, require_right

bp = Blueprint("imports", __name__, url_prefix="/t/<slug>/o/<object_key>/import")
attach_ui_tenant(bp)

#: The steps shown at the top of every page: (key, label).
STEPS = ("upload", "map", "preview", "run")


def _steps() -> list[tuple[str, str]]:
    return [
        ("upload", _("Upload")),
        ("map", _("Map columns")),
        ("preview", _("Preview")),
        ("run", _("Import")),
    ]


def _render(template: str, st: services.Store, step: str, status: int = 200, **context: Any):
    return (
        render_template(
            template,
            schema=st.schema,
            steps=_steps(),
            step=step,
            confirm=ConfirmForm(),
            max_mb=imports.MAX_BYTES >> 20,
            max_rows=imports.MAX_ROWS,
            **context,
        ),
        status,
    )


def _check_csrf() -> None:
    if not ConfirmForm().validate_on_submit():
        abort(400)


@bp.get("")
@require_right("create")
def index(object_key: str):
    st = services.store(object_key)
    return _render("records/import_upload.html", st, "upload")


@bp.post("")
@require_right("create")
def upload(object_key: str):
    st = services.store(object_key)
    limit = imports.MAX_BYTES + 64 * 1024
    errors: list[str] = []
    if (request.content_length or 0) > limit:
        errors.append(
            _(
                "The file is larger than %(mb)d MB. Split it into smaller files.",
                mb=imports.MAX_BYTES >> 20,
            )
        )
        return _render("records/import_upload.html", st, "upload", 413, errors=errors)
    request.max_content_length = limit
    try:
        _check_csrf()
        upload_file = request.files.get("file")
    except RequestEntityTooLarge:
        errors.append(
            _(
                "The file is larger than %(mb)d MB. Split it into smaller files.",
                mb=imports.MAX_BYTES >> 20,
            )
        )
        return _render("records/import_upload.html", st, "upload", 413, errors=errors)
    if upload_file is None or not upload_file.filename:
        errors.append(_("Choose a CSV or XLSX file."))
        return _render("records/import_upload.html", st, "upload", 400, errors=errors)
    try:
        state = imports.upload(g.membership, object_key, upload_file.filename, upload_file.stream)
    except ValidationFailed as err:
        messages = [m for ms in err.errors.values() for m in ms]
        return _render("records/import_upload.html", st, "upload", err.status, errors=messages)
    except DomainError as err:
        if err.status == 404:
            raise
        return _render("records/import_upload.html", st, "upload", err.status, errors=[err.message])
    return redirect(url_for(".mapping", object_key=object_key, import_id=state.id))


@bp.get("/template.csv")
@require_right("create")
def template(object_key: str):
    name, body = imports.template_csv(g.membership, object_key)
    return Response(
        body, mimetype="text/csv", headers={"Content-Disposition": content_disposition(name)}
    )


def _mapping_page(
    st: services.Store,
    state: imports.ImportFile,
    *,
    mapping: dict[str, str | None],
    match_on: str | None,
    policy: str,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
):
    found = imports.targets(st, g.membership, services.context().locale)
    samples: dict[str, list[str]] = {column: [] for column in state.columns}
    for _row, cells in imports.read_rows(state, 0, 3):
        for column, cell in zip(state.columns, cells, strict=False):
            if cell.strip():
                samples[column].append(cell.strip())
    errors = errors or {}
    general = [m for key, ms in errors.items() if not key.startswith("mapping.") for m in ms]
    return _render(
        "records/import_map.html",
        st,
        "map",
        status,
        state=state,
        targets=list(found.values()),
        match_keys=[t for t in found.values() if t.matchable],
        mapping=mapping,
        match_on=match_on,
        policy=policy,
        samples=samples,
        column_errors={
            key.removeprefix("mapping."): ms for key, ms in errors.items() if "." in key
        },
        general_errors=general,
    )


def _load(object_key: str, import_id: str) -> tuple[services.Store, imports.Status]:
    st = services.store(object_key)
    return st, imports.status(g.membership, import_id, object_key)


@bp.get("/<import_id>")
@require_right("create")
def mapping(object_key: str, import_id: str):
    st, current = _load(object_key, import_id)
    if current.job is not None:
        return redirect(url_for(".progress", object_key=object_key, import_id=import_id))
    state = current.state
    return _mapping_page(
        st,
        state,
        mapping=dict(state.mapping or {}),
        match_on=state.match_on,
        policy=state.policy,
    )


def _posted_choices(state: imports.ImportFile) -> tuple[dict[str, str | None], str | None, str]:
    mapping = {
        column: request.form.get(f"map-{i}", "").strip() or None
        for i, column in enumerate(state.columns)
    }
    match_on = request.form.get("match_on", "").strip() or None
    policy = request.form.get("policy", "").strip() or "skip"
    return mapping, match_on, policy


@bp.post("/<import_id>/preview")
@require_right("create")
def preview(object_key: str, import_id: str):
    st, current = _load(object_key, import_id)
    _check_csrf()
    if current.job is not None:
        return redirect(url_for(".progress", object_key=object_key, import_id=import_id))
    state = current.state
    chosen, match_on, policy = _posted_choices(state)
    try:
        result = imports.preview(g.membership, import_id, object_key, chosen, match_on, policy)
    except ValidationFailed as err:
        return _mapping_page(
            st,
            state,
            mapping=chosen,
            match_on=match_on,
            policy=policy,
            errors=err.errors,
            status=err.status,
        )
    found = imports.targets(st, g.membership, services.context().locale)
    return _render(
        "records/import_preview.html",
        st,
        "preview",
        state=imports.load(import_id),
        preview=result,
        match_label=found[result.match_on].label if result.match_on in found else None,
    )


@bp.post("/<import_id>/run")
@require_right("create")
def run(object_key: str, import_id: str):
    st, current = _load(object_key, import_id)
    _check_csrf()
    if current.job is None:
        try:
            imports.start(g.membership, import_id, object_key)
        except imports.AlreadyRun:
            db.session.rollback()
        except ValidationFailed as err:
            db.session.rollback()
            state = current.state
            return _mapping_page(
                st,
                state,
                mapping=dict(state.mapping or {}),
                match_on=state.match_on,
                policy=state.policy,
                errors=err.errors,
                status=err.status,
            )
    return redirect(url_for(".progress", object_key=object_key, import_id=import_id))


@bp.get("/<import_id>/progress")
@require_right("create")
def progress(object_key: str, import_id: str):
    st, current = _load(object_key, import_id)
    if current.job is None:
        return redirect(url_for(".mapping", object_key=object_key, import_id=import_id))
    if not current.finished:
        return _render("records/import_progress.html", st, "run", current=current)
    counts = current.counts or {"created": 0, "updated": 0, "skipped": 0, "failed": 0}
    return _render(
        "records/import_result.html",
        st,
        "run",
        current=current,
        counts=counts,
        summary=imports.summary(counts),
    )


@bp.get("/<import_id>/errors.csv")
@require_right("create")
def errors_csv(object_key: str, import_id: str):
    services.store(object_key)
    name, chunks = imports.error_report(g.membership, import_id, object_key)
    return Response(
        stream_with_context(chunks),
        mimetype="text/csv",
        headers={"Content-Disposition": content_disposition(name)},
    )
