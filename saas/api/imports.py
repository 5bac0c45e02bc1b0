"""Import API: ``/api/v1/t/<slug>/records/<object>/imports[/<id>…]``.

Upload a CSV or XLSX file, check the guessed mapping with a preview, run the import as a
background job, then read its counts and download the rows that failed (writers only).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, g, request, stream_with_context
from flask_babel import gettext as _
from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from saas.api.blueprint import ApiBlueprint
from saas.api.schemas import JobOut, StrictSchema
from saas.errors import DomainError
from saas.records import imports, services
from saas.records.export import content_disposition
from tenants.resolution import attach_api_tenant, require_right

bp = ApiBlueprint("api_imports", __name__, description="Importing records from CSV and XLSX files")
attach_api_tenant(bp)
SECURITY = [{"bearerAuth": []}]

#: What a multipart upload may add to the file itself (boundaries, headers).
_ENVELOPE = 64 * 1024


def limit_upload(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse a body larger than the import limit before reading it."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        limit = imports.MAX_BYTES + _ENVELOPE
        if (request.content_length or 0) > limit:
            raise DomainError(
                _(
                    "The file is larger than %(mb)d MB. Split it into smaller files.",
                    mb=imports.MAX_BYTES >> 20,
                ),
                field="file",
                status=413,
            )
        request.max_content_length = limit
        return view(*args, **kwargs)

    return wrapped


class UploadIn(Schema):
    file = Upload(
        required=True,
        metadata={"description": "A CSV (UTF-8, UTF-8 with BOM, GB18030) or XLSX file."},
    )


class TargetOut(Schema):
    key = fields.String(
        metadata={
            "description": "`name`, `owner_id`, `tags`, `id`, a field key, or "
            "`<currency field>.currency` for the currency code beside an amount"
        }
    )
    label = fields.String()
    match_only = fields.Boolean(
        metadata={"description": "Only finds existing records (choose it as `match_on`)."}
    )
    matchable = fields.Boolean(metadata={"description": "May be chosen as `match_on`."})


class ImportOut(Schema):
    id = fields.String()
    object_key = fields.String()
    filename = fields.String()
    format = fields.String(metadata={"description": "csv or xlsx"})
    rows = fields.Integer(metadata={"description": "Rows below the header."})
    columns = fields.List(fields.String(), metadata={"description": "Headers, in order."})
    mapping = fields.Dict(
        keys=fields.String(),
        values=fields.String(allow_none=True),
        allow_none=True,
        metadata={"description": "Column → target key (null: ignored); guessed at upload."},
    )
    match_on = fields.String(allow_none=True)
    policy = fields.String()
    status = fields.String(
        metadata={"description": "uploaded, queued, running, succeeded or failed"}
    )
    done = fields.Integer()
    total = fields.Integer(allow_none=True)
    result = fields.Dict(
        allow_none=True,
        metadata={"description": "`created`, `updated`, `skipped`, `failed` (rows)"},
    )
    error = fields.String(allow_none=True)
    job_id = fields.String(allow_none=True)
    targets = fields.List(fields.Nested(TargetOut))


class ChoicesIn(StrictSchema):
    mapping = fields.Dict(
        keys=fields.String(),
        values=fields.String(allow_none=True),
        metadata={"description": "Column header → target key, or null to ignore the column."},
    )
    match_on = fields.String(
        allow_none=True,
        metadata={"description": "`id`, `name` or a unique field; null: every row is new."},
    )
    policy = fields.String(
        validate=validate.OneOf(imports.POLICIES),
        metadata={"description": "What a row matching a record does: skip, update or create."},
    )


class PreviewRowOut(Schema):
    row = fields.Integer(metadata={"description": "Row number in the file (the header is 1)."})
    action = fields.String(metadata={"description": "create, update, skip or error"})
    note = fields.String()
    cells = fields.Dict(keys=fields.String(), values=fields.String())
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class PreviewOut(Schema):
    columns = fields.List(fields.String())
    rows = fields.List(fields.Nested(PreviewRowOut))
    warnings = fields.List(fields.String())
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    total = fields.Integer()
    match_on = fields.String(allow_none=True)
    policy = fields.String()


class RunOut(Schema):
    job = fields.Nested(JobOut)
    import_ = fields.Nested(ImportOut, data_key="import")


def _out(status: imports.Status) -> dict[str, Any]:
    body = status.to_json()
    st = services.store(status.state.object_key)
    found = imports.targets(st, g.membership, services.context().locale)
    body["targets"] = [
        {"key": t.key, "label": t.label, "match_only": t.match_only, "matchable": t.matchable}
        for t in found.values()
    ]
    return body


@bp.post("/records/<object_key>/imports")
@bp.doc(security=SECURITY)
@require_right("create")
@limit_upload
@bp.arguments(UploadIn, location="files")
@bp.response(201, ImportOut)
def upload(files: dict, object_key: str):
    """Upload a file (multipart `file`): answers its columns and the guessed mapping."""
    upload_file = files["file"]
    state = imports.upload(g.membership, object_key, upload_file.filename, upload_file.stream)
    return _out(imports.Status(state, None))


@bp.get("/records/<object_key>/imports/<import_id>")
@bp.doc(security=SECURITY)
@require_right("create")
@bp.response(200, ImportOut)
def get_import(object_key: str, import_id: str):
    """The import: its file, choices, status, progress and counts."""
    return _out(imports.status(g.membership, import_id, object_key))


@bp.post("/records/<object_key>/imports/<import_id>/preview")
@bp.doc(security=SECURITY)
@require_right("create")
@bp.arguments(ChoicesIn)
@bp.response(200, PreviewOut)
def preview(body: dict, object_key: str, import_id: str):
    """The first 20 rows as they would be stored, with each cell's errors (nothing is
    written); the choices are kept for the run."""
    result = imports.preview(
        g.membership,
        import_id,
        object_key,
        body.get("mapping", imports.SAVED),
        body.get("match_on", imports.SAVED),
        body.get("policy", imports.SAVED),
    )
    return {
        "columns": result.columns,
        "rows": [
            {
                "row": r.row,
                "action": r.action,
                "note": r.note,
                "cells": r.cells,
                "errors": r.errors,
            }
            for r in result.rows
        ],
        "warnings": result.warnings,
        "counts": result.counts,
        "total": result.total,
        "match_on": result.match_on,
        "policy": result.policy,
    }


@bp.post("/records/<object_key>/imports/<import_id>/run")
@bp.doc(security=SECURITY)
@require_right("create")
@bp.arguments(ChoicesIn)
@bp.response(202, RunOut)
def run(body: dict, object_key: str, import_id: str):
    """Start the import as a background job (once; `409` after). Without a body, the choices
    of the last preview apply. Follow it at `GET …/imports/<id>` or `GET /jobs/<job id>`."""
    job_row = imports.start(
        g.membership,
        import_id,
        object_key,
        body.get("mapping", imports.SAVED),
        body.get("match_on", imports.SAVED),
        body.get("policy", imports.SAVED),
    )
    return {"job": job_row, "import_": _out(imports.status(g.membership, import_id, object_key))}


@bp.get("/records/<object_key>/imports/<import_id>/errors.csv")
@bp.doc(security=SECURITY)
@require_right("create")
@bp.response(200, description="CSV: row, column, value, error (UTF-8 with BOM).")
def errors_csv(object_key: str, import_id: str):
    """The rows that failed, one line per error."""
    name, chunks = imports.error_report(g.membership, import_id, object_key)
    return Response(
        stream_with_context(chunks),
        mimetype="text/csv",
        headers={"Content-Disposition": content_disposition(name)},
    )
