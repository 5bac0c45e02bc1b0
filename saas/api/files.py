"""Files API under ``/api/v1/t/<slug>/``: a record's attachments and the company's assets.

* ``GET /records/<object_key>/<record_id>/files?limit=&cursor=``: the record's files, newest
  first; ``POST`` the same path with a multipart ``file`` to upload (201).
* ``GET /records/<object_key>/<record_id>/files/<file_id>``: the bytes (``?inline=1`` shows a
  raster image inline); ``DELETE``: 204.
* ``GET /assets``: the company's assets; ``GET /assets/<name>``: the bytes; ``PUT
  /assets/<name>`` with a multipart ``file`` (owners and admins; 201 new, 200 replaced);
  ``DELETE /assets/<name>``: 204.

The record decides who may see its files (``saas.files.services``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, request, url_for
from flask_smorest.fields import Upload
from marshmallow import RAISE, Schema, fields, validate
from werkzeug.exceptions import RequestEntityTooLarge

from saas.api.blueprint import ApiBlueprint
from saas.files import services
from saas.files.models import StoredFile
from saas.files.responses import file_response
from tenants.resolution import attach_api_tenant

bp = ApiBlueprint("api_files", __name__, description="Files on records and company assets")
attach_api_tenant(bp)
SECURITY = [{"bearerAuth": []}]
#: What a multipart upload may add to the file itself (boundaries, part headers).
ENVELOPE = 64 * 1024
_BINARY = {
    "description": "The file's bytes, with `Content-Disposition`, `ETag` (its SHA-256) and "
    "`Cache-Control: private`.",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}


def limit_upload(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse a body larger than the file limit before reading it (413 naming ``file``)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        limit = services.max_bytes() + ENVELOPE
        if (request.content_length or 0) > limit:
            raise services.too_large()
        request.max_content_length = limit
        try:
            return view(*args, **kwargs)
        except RequestEntityTooLarge:  # a body without Content-Length that grew too large
            raise services.too_large() from None

    return wrapped


class FileUploadIn(Schema):
    file = Upload(required=True, metadata={"description": "The file (multipart `file`)."})


class FilesQuery(Schema):
    class Meta:
        unknown = RAISE

    limit = fields.Integer(
        load_default=services.DEFAULT_PAGE,
        validate=validate.Range(min=1, max=services.MAX_PAGE),
        metadata={"description": f"Files per page, 1 to {services.MAX_PAGE} (50)."},
    )
    cursor = fields.Integer(
        validate=validate.Range(min=1, max=2**63 - 1),
        metadata={"description": "`next_cursor` of the previous page."},
    )


class DownloadQuery(Schema):
    class Meta:
        unknown = RAISE

    inline = fields.Boolean(
        load_default=False,
        metadata={"description": "Show a PNG, JPEG, GIF or WebP image inline (else ignored)."},
    )


class FileOut(Schema):
    id = fields.Integer()
    object_key = fields.String()
    record_id = fields.Integer()
    filename = fields.String()
    content_type = fields.String(metadata={"description": "Detected from the bytes or the name"})
    size = fields.Integer(metadata={"description": "Bytes"})
    sha256 = fields.String(metadata={"description": "Hex; the download's ETag"})
    created_by = fields.Integer(allow_none=True)
    created_by_name = fields.String(allow_none=True)
    created_at = fields.DateTime()
    url = fields.String(metadata={"description": "The download"})


class FilePageOut(Schema):
    data = fields.List(fields.Nested(FileOut))
    next_cursor = fields.Integer(allow_none=True)
    count = fields.Integer(metadata={"description": "All of the record's files"})
    max_bytes = fields.Integer(metadata={"description": "The largest file accepted"})
    can_upload = fields.Boolean(metadata={"description": "Whether the caller may upload"})


class AssetOut(Schema):
    name = fields.String()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    created_by = fields.Integer(allow_none=True)
    created_at = fields.DateTime(metadata={"description": "When this version was uploaded"})
    url = fields.String()


class AssetListOut(Schema):
    data = fields.List(fields.Nested(AssetOut))


def _file(stored: StoredFile, names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": stored.id,
        "object_key": stored.object_key,
        "record_id": stored.record_id,
        "filename": stored.filename,
        "content_type": stored.content_type,
        "size": stored.size,
        "sha256": stored.sha256,
        "created_by": stored.created_by,
        "created_by_name": names.get(stored.created_by) if stored.created_by else None,
        "created_at": stored.created_at,
        "url": url_for(
            "api_files.download",
            object_key=stored.object_key,
            record_id=stored.record_id,
            file_id=stored.id,
        ),
    }


def _asset(stored: StoredFile) -> dict[str, Any]:
    return {
        "name": stored.name,
        "filename": stored.filename,
        "content_type": stored.content_type,
        "size": stored.size,
        "sha256": stored.sha256,
        "created_by": stored.created_by,
        "created_at": stored.created_at,
        "url": url_for("api_files.get_asset", name=stored.name),
    }


# ---------------------------------------------------------------- a record's files


@bp.get("/records/<object_key>/<int:record_id>/files")
@bp.doc(security=SECURITY)
@bp.arguments(FilesQuery, location="query")
@bp.response(200, FilePageOut)
def list_files(query: dict[str, Any], object_key: str, record_id: int):
    """The record's files, newest first (the record must be visible to the caller)."""
    page = services.list_files(
        g.membership, object_key, record_id, cursor=query.get("cursor"), limit=query["limit"]
    )
    return {
        "data": [_file(f, page.uploaders) for f in page.files],
        "next_cursor": page.next_cursor,
        "count": page.count,
        "max_bytes": services.max_bytes(),
        "can_upload": page.can_upload,
    }


@bp.post("/records/<object_key>/<int:record_id>/files")
@bp.doc(security=SECURITY)
@limit_upload
@bp.arguments(FileUploadIn, location="files")
@bp.response(201, FileOut)
def upload(files: dict, object_key: str, record_id: int):
    """Attach a file (multipart `file`; edit permission on the record). 413 over the size
    limit, 400 for an empty file or a name too long, 409 when the record holds 200 files."""
    upload_file = files["file"]
    stored = services.upload(
        g.membership, object_key, record_id, upload_file.filename, upload_file.stream
    )
    return _file(stored, services.uploader_names([stored.created_by]))


@bp.get("/records/<object_key>/<int:record_id>/files/<int:file_id>")
@bp.doc(security=SECURITY, responses={"200": _BINARY, "304": {"description": "Not modified"}})
@bp.arguments(DownloadQuery, location="query")
def download(query: dict[str, Any], object_key: str, record_id: int, file_id: int):
    """Download a file of the record."""
    stored, content = services.download(g.membership, object_key, record_id, file_id)
    return file_response(stored, content, request, inline=query["inline"])


@bp.delete("/records/<object_key>/<int:record_id>/files/<int:file_id>")
@bp.doc(security=SECURITY)
@bp.response(204)
def delete_file(object_key: str, record_id: int, file_id: int):
    """Delete a file: one's own upload, or any with edit permission on the record."""
    services.delete_file(g.membership, object_key, record_id, file_id)


# ---------------------------------------------------------------- company assets


@bp.get("/assets")
@bp.doc(security=SECURITY)
@bp.response(200, AssetListOut)
def list_assets():
    """The company's assets (logo, seal and others); any member."""
    return {"data": [_asset(a) for a in services.list_assets()]}


@bp.get("/assets/<name>")
@bp.doc(security=SECURITY, responses={"200": _BINARY, "304": {"description": "Not modified"}})
@bp.arguments(DownloadQuery, location="query")
def get_asset(query: dict[str, Any], name: str):
    """An asset's bytes; any member."""
    stored, content = services.asset_download(name)
    return file_response(stored, content, request, inline=query["inline"])


@bp.put("/assets/<name>")
@bp.doc(security=SECURITY, responses={"200": {"description": "Replaced"}})
@limit_upload
@bp.arguments(FileUploadIn, location="files")
@bp.response(201, AssetOut, description="Created")
def put_asset(files: dict, name: str):
    """Upload or replace an asset (owners and admins): PNG, JPEG, GIF, WebP or SVG."""
    upload_file = files["file"]
    stored, created = services.put_asset(
        g.membership, name, upload_file.filename, upload_file.stream
    )
    return _asset(stored), 201 if created else 200


@bp.delete("/assets/<name>")
@bp.doc(security=SECURITY)
@bp.response(204)
def delete_asset(name: str):
    """Delete an asset (owners and admins)."""
    services.delete_asset(g.membership, name)
