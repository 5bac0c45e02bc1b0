"""Print templates and generated documents under ``/api/v1/t/<slug>``.

* ``POST /records/<object_key>/<id>/pdf`` → 202 with the job making the record's PDF;
  ``POST /records/<object_key>/pdf-batch`` → 202 with the job making a zip of many;
  ``GET /jobs/<job>`` tells how far it got and links the document;
* ``GET /documents/<id>``: a document's file; ``GET /records/<object_key>/<id>/documents``: the
  record's PDFs, newest first;
* ``/print-templates``: templates (any member reads; owners and administrators change), their
  versions, restoring one, the variables a template of an object may use, and a bounded
  preview against a record.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Response, g, jsonify, send_file, url_for
from marshmallow import Schema, fields, validate

from print_templates import jobs as print_jobs
from print_templates import preview as previews
from print_templates import services as templates
from print_templates.models import LOCALES, MAX_REQUEST_KEY
from print_templates.variables import variables_for
from saas import tracked
from saas.api.blueprint import ApiBlueprint
from saas.api.schemas import StrictSchema
from saas.records.export import content_disposition
from tenants.resolution import attach_api_tenant

bp = ApiBlueprint(
    "api_print", __name__, description="Print templates, PDF documents and batch printing"
)
attach_api_tenant(bp)
SECURITY = [{"bearerAuth": []}]


# ---------------------------------------------------------------- schemas


class PdfIn(StrictSchema):
    template_id = fields.Integer(
        allow_none=True,
        strict=True,
        metadata={
            "description": "An active template of the object; default: the object's "
            "default template in the document's language, else the generic one."
        },
    )
    request_key = fields.String(
        allow_none=True,
        validate=validate.Length(max=MAX_REQUEST_KEY),
        metadata={
            "description": "Idempotency key (1–100 of `A–Z a–z 0–9 . _ : -`): the same key "
            "gives the same job and one document. Default: derived from the record's version "
            "and the template version."
        },
    )
    locale = fields.String(
        allow_none=True,
        validate=validate.OneOf(LOCALES),
        metadata={"description": "Language of the document (zh_CN or en); default: yours."},
    )


class BatchIn(PdfIn):
    ids = fields.List(
        fields.Integer(strict=True),
        required=True,
        validate=validate.Length(min=1, max=print_jobs.MAX_BATCH),
        metadata={"description": "The records to print (at most 500)."},
    )


class PrintJobOut(Schema):
    id = fields.String()
    kind = fields.String(metadata={"description": "print.pdf or print.batch"})
    status = fields.String(metadata={"description": "queued, running, succeeded or failed"})
    done = fields.Integer()
    total = fields.Integer(allow_none=True)
    status_url = fields.String()
    document_url = fields.String(
        allow_none=True, metadata={"description": "Once succeeded: the file to download."}
    )


class DocumentOut(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "pdf, or zip (a batch)"})
    object_key = fields.String()
    record_id = fields.Integer(allow_none=True)
    record_version = fields.Integer(allow_none=True)
    template_id = fields.Integer(
        allow_none=True, metadata={"description": "null: the generic template"}
    )
    template_version = fields.Integer(allow_none=True)
    locale = fields.String()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    pages = fields.Integer(allow_none=True)
    count = fields.Integer(allow_none=True, metadata={"description": "PDFs in a zip"})
    sha256 = fields.String()
    status = fields.String(metadata={"description": "ready, or partial (a zip lacking some)"})
    error = fields.String(allow_none=True)
    created_by = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    download_url = fields.Method("_download")

    def _download(self, document: Any) -> str:
        return url_for("api_print.download_document", slug=g.tenant_slug, document_id=document.id)


class DocumentsQuery(StrictSchema):
    before = fields.Integer(
        validate=validate.Range(min=1, max=2**63 - 1),
        metadata={"description": "Only documents older than this id (the next page)."},
    )


class TemplateOut(Schema):
    id = fields.Integer()
    object_key = fields.String()
    name = fields.String()
    locale = fields.String()
    is_default = fields.Boolean()
    active = fields.Boolean(metadata={"description": "false: archived"})
    current_version = fields.Integer()
    starter = fields.String(allow_none=True)
    created_by = fields.Integer(allow_none=True)
    updated_by = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class TemplateDetailOut(TemplateOut):
    source = fields.Method("_source")
    css = fields.Method("_css")

    def _source(self, template: Any) -> str:
        return templates.current(template).source

    def _css(self, template: Any) -> str:
        return templates.current(template).css


class TemplatesQuery(StrictSchema):
    object_key = fields.String(validate=validate.Length(max=60))
    archived = fields.Boolean(load_default=False, metadata={"description": "List archived ones"})


class TemplateIn(StrictSchema):
    # Values are checked by the service, so every problem shows at once with its field.
    object_key = fields.Raw(required=True, metadata={"description": "Any object, custom too"})
    name = fields.Raw(required=True, metadata={"description": "1–100 characters"})
    locale = fields.Raw(metadata={"description": "zh_CN (default) or en"})
    source = fields.Raw(
        allow_none=True,
        metadata={
            "description": "HTML with template syntax (docs/templates.md); default: "
            "the generic template (every field in a table)"
        },
    )
    css = fields.Raw(allow_none=True, metadata={"description": "Style sheet"})
    is_default = fields.Raw(metadata={"description": "Make it the object's default"})


class TemplatePatch(StrictSchema):
    name = fields.Raw()
    source = fields.Raw(metadata={"description": "New source: saved as a new version"})
    css = fields.Raw(metadata={"description": "New style sheet: saved as a new version"})
    is_default = fields.Raw()
    active = fields.Raw(metadata={"description": "false archives the template"})
    base_version = fields.Integer(
        metadata={"description": "The version you edited: 409 when another was saved since"}
    )


class VersionOut(Schema):
    template_id = fields.Integer()
    version = fields.Integer()
    note = fields.String(allow_none=True)
    created_by = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class VersionDetailOut(VersionOut):
    source = fields.String()
    css = fields.String()


class VersionsQuery(StrictSchema):
    before = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))


class VariableOut(Schema):
    name = fields.String()
    description = fields.String()


class PreviewIn(StrictSchema):
    record_id = fields.Integer(required=True, strict=True)
    source = fields.String(allow_none=True, metadata={"description": "Default: the saved one"})
    css = fields.String(allow_none=True)
    format = fields.String(
        load_default="html",
        validate=validate.OneOf(["html", "pdf"]),
        metadata={"description": "html (default) or pdf; both bounded in time and memory"},
    )


# ---------------------------------------------------------------- documents and jobs


def _job_body(row: tracked.TrackedJob) -> dict[str, Any]:
    links = print_jobs.result_links(row) or {}
    return {
        "id": row.id,
        "kind": row.kind,
        "status": row.status,
        "done": row.done,
        "total": row.total,
        "status_url": url_for("api_tenant.get_job", job_id=row.id, slug=g.tenant_slug),
        "document_url": links.get("document") if row.status == "succeeded" else None,
    }


def _accepted(row: tracked.TrackedJob) -> Response:
    response = jsonify(PrintJobOut().dump(_job_body(row)))
    response.status_code = 202
    response.headers["Location"] = response.json["status_url"]
    return response


@bp.post("/records/<object_key>/<int:record_id>/pdf")
@bp.doc(security=SECURITY, responses={"202": {"description": "The job (`PrintJobOut`)."}})
@bp.arguments(PdfIn)
def create_pdf(body: dict[str, Any], object_key: str, record_id: int):
    """Generate the record's PDF in the background (needs view access to the record)."""
    row = print_jobs.request_pdf(
        g.membership,
        object_key,
        record_id,
        template_id=body.get("template_id"),
        request_key=body.get("request_key"),
        locale=body.get("locale"),
    )
    return _accepted(row)


@bp.post("/records/<object_key>/pdf-batch")
@bp.doc(security=SECURITY, responses={"202": {"description": "The job (`PrintJobOut`)."}})
@bp.arguments(BatchIn)
def create_batch(body: dict[str, Any], object_key: str):
    """Print up to 500 records into one zip of PDFs in the background (progress in the job)."""
    row = print_jobs.request_batch(
        g.membership,
        object_key,
        body["ids"],
        template_id=body.get("template_id"),
        request_key=body.get("request_key"),
        locale=body.get("locale"),
    )
    return _accepted(row)


def document_response(document: Any, data: bytes) -> Response:
    """A stored document as a download."""
    response = send_file(
        io.BytesIO(data),
        mimetype=document.content_type,
        as_attachment=True,
        download_name=document.filename,
        max_age=0,
        etag=document.sha256,
    )
    response.headers["Content-Disposition"] = content_disposition(
        document.filename, document.object_key
    )
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/documents/<int:document_id>")
@bp.doc(security=SECURITY, responses={"200": {"description": "The PDF or zip."}})
def download_document(document_id: int):
    """A generated document's file (the record must still be visible to you)."""
    document, data = print_jobs.content(g.membership, document_id)
    return document_response(document, data)


@bp.get("/records/<object_key>/<int:record_id>/documents")
@bp.doc(security=SECURITY)
@bp.arguments(DocumentsQuery, location="query")
@bp.response(200, DocumentOut(many=True))
def record_documents(query: dict[str, Any], object_key: str, record_id: int):
    """The record's generated PDFs, newest first (50 a page; ``before`` for the next)."""
    return print_jobs.record_documents(
        g.membership, object_key, record_id, before=query.get("before")
    )


# ---------------------------------------------------------------- templates


@bp.get("/print-templates")
@bp.doc(security=SECURITY)
@bp.arguments(TemplatesQuery, location="query")
@bp.response(200, TemplateOut(many=True))
def list_templates(query: dict[str, Any]):
    """The company's print templates (of one object with ``object_key``)."""
    return templates.list_templates(query.get("object_key"), archived=query["archived"])


@bp.post("/print-templates")
@bp.doc(security=SECURITY)
@bp.arguments(TemplateIn)
@bp.response(201, TemplateDetailOut)
def create_template(body: dict[str, Any]):
    """Create a template (owners and administrators); a source that does not compile is 422."""
    return templates.create_template(g.membership, body)


@bp.get("/print-templates/<int:template_id>")
@bp.doc(security=SECURITY)
@bp.response(200, TemplateDetailOut)
def get_template(template_id: int):
    """A template with its current source and CSS."""
    return templates.get_template(template_id)


@bp.patch("/print-templates/<int:template_id>")
@bp.doc(security=SECURITY)
@bp.arguments(TemplatePatch)
@bp.response(200, TemplateDetailOut)
def patch_template(body: dict[str, Any], template_id: int):
    """Rename, make default, archive, or save new source/CSS as a new version."""
    return templates.update_template(g.membership, template_id, body)


@bp.get("/print-templates/<int:template_id>/versions")
@bp.doc(security=SECURITY)
@bp.arguments(VersionsQuery, location="query")
@bp.response(200, VersionOut(many=True))
def list_versions(query: dict[str, Any], template_id: int):
    """The template's versions, newest first (50 a page; ``before`` for the next)."""
    templates.get_template(template_id)
    return templates.history(template_id, before=query.get("before"))


@bp.get("/print-templates/<int:template_id>/versions/<int:version>")
@bp.doc(security=SECURITY)
@bp.response(200, VersionDetailOut)
def get_version(template_id: int, version: int):
    """One version with its source and CSS."""
    templates.get_template(template_id)
    return templates.get_version(template_id, version)


@bp.post("/print-templates/<int:template_id>/versions/<int:version>/restore")
@bp.doc(security=SECURITY)
@bp.response(200, TemplateDetailOut)
def restore_version(template_id: int, version: int):
    """Make an old version current again (saved as a new version)."""
    return templates.restore_version(g.membership, template_id, version)


@bp.get("/print-templates/variables/<object_key>")
@bp.doc(security=SECURITY)
@bp.response(200, VariableOut(many=True))
def list_variables(object_key: str):
    """What a template of the object may print: the common and object variables, and each
    field of the object as ``record.<key>``."""
    return [{"name": n, "description": d} for n, d in field_variables(object_key)]


def field_variables(object_key: str, locale: str = "en") -> list[tuple[str, str]]:
    """(name, description) of every variable of an object's templates."""
    schema = templates.object_schema(object_key)
    found = list(variables_for(object_key).items())
    found += [
        ("record.name", schema.label(locale)),
        ("record.id", "Id"),
        ("object.label", "Object"),
        ("fields", "[{key, label, value}]"),
    ]
    found += [(f"record.{f.key}", f.spec.label(locale)) for f in schema.fields]
    return found


@bp.post("/print-templates/<int:template_id>/preview")
@bp.doc(
    security=SECURITY,
    responses={"200": {"description": "text/html (sandboxed) or application/pdf"}},
)
@bp.arguments(PreviewIn)
def preview_template(body: dict[str, Any], template_id: int):
    """Render the template (as sent, else as saved) against a record, bounded in time and
    memory (owners and administrators)."""
    return preview_response(previews.preview(g.membership, template_id, body))


def preview_response(result: previews.Preview) -> Response:
    if result.kind == "pdf":
        response = Response(result.body, mimetype="application/pdf")
        response.headers["Content-Disposition"] = "inline; filename=preview.pdf"
    else:
        response = Response(result.body, mimetype="text/html")
        response.headers["Content-Security-Policy"] = previews.PREVIEW_CSP
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
