"""Files on records (attachments) and company assets: upload, list, download, delete.

Decisions:

- **Storage.** Bytes live in PostgreSQL (``stored_file_contents``), so they are backed up,
  restored and isolated by tenant with everything else; metadata (``stored_files``) is listed
  without touching them.
- **Who may do what with a record's files.** The record decides. Listing and downloading need
  the record visible to the person (their data scope; a record they may not open answers 404,
  as the record itself does). Uploading needs edit permission on the record
  (:func:`saas.records.services.require_permission` with ``edit`` and
  :func:`saas.records.services.may_change`). Deleting one's own upload needs only the record
  visible (you may take back what you put there); deleting a colleague's upload needs edit
  permission on the record, as uploading does. Files of a record in the recycle bin are kept
  but unreachable until it is restored; removing the record for good removes them
  (``saas.records.retention``); merging moves them to the survivor (``saas.crm.merge``).
- **Limits.** ``FILES_MAX_BYTES`` (default 20 MiB) per file (413), no empty files (400), names
  of at most :data:`MAX_FILENAME` characters after cleaning (400), at most
  :data:`MAX_FILES_PER_RECORD` files per record (409). Every error names the field ``file``
  (``name`` for an asset's name).
- **Content types** come from the bytes for images and PDFs (magic numbers) and from the name's
  extension otherwise; the client's claim is ignored. A name claiming an image or a PDF whose
  bytes are not one is stored as ``application/octet-stream``. Only raster images
  (:data:`INLINE_TYPES`) may be shown inline; everything else, SVG and HTML included, downloads
  as an attachment.
- **Company assets** (``logo``, ``seal`` and other names) are images (PNG, JPEG, GIF, WebP,
  SVG) that owners and administrators put, replace and delete; every member reads them, and the
  PDF renderer reads them through :func:`asset_content`.

Each command is one audited transaction (``file.uploaded``, ``file.deleted``, ``asset.put``,
``asset.deleted``).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from flask import current_app, g, has_app_context, has_request_context
from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, select, update

from saas.accounts.models import User
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.files.models import ASSET, ATTACHMENT, StoredFile, StoredFileContent
from saas.records import services as records
from saas.records.errors import RecordNotFound
from saas.records.models import RecordColumns
from tenants import audit
from tenants.context import current_tenant_id
from tenants.errors import Forbidden
from tenants.models import ADMIN_ROLES, Membership

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
MAX_FILES_PER_RECORD = 200
MAX_FILENAME = 255
DEFAULT_PAGE = 50
MAX_PAGE = 200
#: The assets every company is offered first on the assets page (others may be added).
STANDARD_ASSETS = ("logo", "seal")
MAX_ASSETS = 50
ASSET_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")

PNG, JPEG, GIF, WEBP, SVG, PDF = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/svg+xml",
    "application/pdf",
)
OCTET = "application/octet-stream"
#: Types a browser may show inline (thumbnails): raster images, detected from their bytes.
INLINE_TYPES = frozenset({PNG, JPEG, GIF, WEBP})
#: Types a company asset may have.
ASSET_TYPES = frozenset({PNG, JPEG, GIF, WEBP, SVG})
#: Types only the bytes may decide: a name ending in one of these proves nothing.
_SNIFFED = frozenset({PNG, JPEG, GIF, WEBP, PDF, SVG})
#: Types by extension for everything that is not sniffed (lower case, without the dot).
EXTENSION_TYPES = {
    "png": PNG,
    "jpg": JPEG,
    "jpeg": JPEG,
    "gif": GIF,
    "webp": WEBP,
    "svg": SVG,
    "pdf": PDF,
    "txt": "text/plain",
    "csv": "text/csv",
    "md": "text/markdown",
    "json": "application/json",
    "xml": "application/xml",
    "htm": "text/html",
    "html": "text/html",
    "rtf": "application/rtf",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt": "application/vnd.ms-powerpoint",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
    "wps": "application/vnd.ms-works",
    "zip": "application/zip",
    "rar": "application/vnd.rar",
    "7z": "application/x-7z-compressed",
    "gz": "application/gzip",
    "tar": "application/x-tar",
    "bmp": "image/bmp",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "heic": "image/heic",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "m4a": "audio/mp4",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "eml": "message/rfc822",
    "ofd": "application/ofd",
}
#: Characters Windows refuses in names, replaced so a download saves everywhere.
_UNSAFE = re.compile(r'[<>:"/\\|?*]')
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)


# ---------------------------------------------------------------- limits and checks


def max_bytes() -> int:
    """The largest file accepted (``FILES_MAX_BYTES``)."""
    if has_app_context():
        return int(current_app.config.get("FILES_MAX_BYTES") or DEFAULT_MAX_BYTES)
    return DEFAULT_MAX_BYTES


def size_label(size: int) -> str:
    """A size as people read it: 980 B, 12.5 KB, 20 MB."""
    if size < 1024:
        return f"{size} B"
    for unit in ("KB", "MB", "GB"):
        size_f = size / 1024
        if size_f < 1024 or unit == "GB":
            text = f"{size_f:.1f}".rstrip("0").rstrip(".")
            return f"{text} {unit}"
        size = int(size_f)
    return f"{size} B"  # pragma: no cover


def too_large() -> DomainError:
    """The 413 answered for a file over the limit (also used before the body is read)."""
    return DomainError(
        _("The file is larger than %(size)s. Upload a smaller file.", size=size_label(max_bytes())),
        field="file",
        status=413,
    )


def clean_filename(raw: Any) -> str:
    """The name to keep for an uploaded file: its last path part, NFC, without control or
    formatting characters, characters Windows refuses replaced by ``_``, spaces collapsed, no
    leading or trailing dots and spaces. Chinese and other letters stay as they are."""
    name = raw if isinstance(raw, str) else ""
    name = re.split(r"[/\\]", name)[-1]
    name = unicodedata.normalize("NFC", name)
    # Cc/Cf/Cs/Co/Cn: control, bidi overrides and other invisible characters.
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = _UNSAFE.sub("_", name)
    name = " ".join(name.split())
    name = name.strip(" .")
    if _WINDOWS_RESERVED.match(name):
        name = f"_{name}"
    if not name:
        raise ValidationFailed({"file": [_("The file needs a name.")]})
    if len(name) > MAX_FILENAME:
        raise ValidationFailed(
            {"file": [_("Use a file name of at most %(max)d characters.", max=MAX_FILENAME)]}
        )
    return name


def _extension(filename: str) -> str:
    return filename.rsplit(".", 1)[-1].lower() if "." in filename else ""


def _is_svg(data: bytes) -> bool:
    """Whether ``data`` is an SVG document: XML whose root is ``<svg>``, without entity
    declarations (a DOCTYPE naming the SVG DTD is fine, one with an internal subset is not) and
    without scripts, foreign objects or event handlers."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if not head.startswith((b"<?xml", b"<svg", b"<!--", b"<!doctype")):
        return False
    lowered = data.lower()
    if b"<!entity" in lowered:
        return False
    doctype = lowered.find(b"<!doctype")
    if doctype >= 0 and b"[" in lowered[doctype : lowered.find(b">", doctype)]:
        return False
    try:
        # No entity can be declared (checked above) and expat fetches no external DTD.
        root = ElementTree.fromstring(data)  # noqa: S314
    except (ElementTree.ParseError, ValueError):
        return False
    if root.tag.rsplit("}", 1)[-1] != "svg":
        return False
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1].lower() in {"script", "foreignobject"}:
            return False
        for attribute in element.attrib:
            if attribute.rsplit("}", 1)[-1].lower().startswith("on"):
                return False
    return True


def sniff(data: bytes) -> str | None:
    """The type the bytes prove (PNG, JPEG, GIF, WebP, PDF), else ``None``."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    # Some producers put a few bytes (a BOM, blank lines) before the header.
    if data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n\x00").startswith(b"%PDF-"):
        return PDF
    return None


def detect_type(data: bytes, filename: str) -> str:
    """The content type to keep: the bytes decide for images and PDFs, the extension for the
    rest; a name claiming a sniffed type the bytes do not show gets ``application/octet-stream``.
    """
    found = sniff(data)
    if found is not None:
        return found
    by_name = EXTENSION_TYPES.get(_extension(filename), OCTET)
    if by_name == SVG:
        return SVG if _is_svg(data) else OCTET
    if by_name in _SNIFFED:
        return OCTET
    return by_name


def read_upload(stream: IO[bytes]) -> bytes:
    """The uploaded bytes, refused when empty (400) or larger than the limit (413)."""
    limit = max_bytes()
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise too_large()
    if not data:
        raise ValidationFailed({"file": [_("The file is empty.")]})
    return data


def _parse_id(raw: Any, field: str) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = 0
    if not 0 < value < 2**63:
        raise ValidationFailed({field: [_("Use the cursor of the previous page.")]})
    return value


def _parse_limit(raw: Any, default: int = DEFAULT_PAGE) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= MAX_PAGE:
        raise ValidationFailed({"limit": [_("Enter a number from 1 to %(n)d.", n=MAX_PAGE)]})
    return value


# ---------------------------------------------------------------- the record decides


def visible_record(actor: Membership, object_key: str, record_id: int) -> RecordColumns:
    """The live record if ``actor`` may open it, else 404 (:class:`RecordNotFound`)."""
    records.require_permission(actor, object_key, "view")
    if has_request_context() and g.get("membership") is actor:
        return records.get_record(object_key, record_id)
    # A service call outside the person's own request: the same query with their scope.
    st = records.store(object_key, actor)
    found = db.session.execute(st.query().where(st.model.id == record_id)).scalar_one_or_none()
    if found is None:
        raise RecordNotFound(_("There is no such record."))
    return found


def may_upload(actor: Membership, object_key: str, record: RecordColumns) -> bool:
    """Whether ``actor`` may add files to (and remove colleagues' files from) the record."""
    try:
        records.require_permission(actor, object_key, "edit")
    except Forbidden:
        return False
    return records.may_change(actor, object_key, record)


def _require_edit(actor: Membership, object_key: str, record: RecordColumns, message: str) -> None:
    records.require_permission(actor, object_key, "edit", message)
    if not records.may_change(actor, object_key, record):
        raise Forbidden(message)


def may_delete(actor: Membership, stored: StoredFile, can_edit: bool) -> bool:
    """Own uploads: always (the record being visible); a colleague's: with edit permission."""
    return stored.created_by == actor.user_id or can_edit


def _file_not_found() -> DomainError:
    return DomainError(_("There is no such file."), field="file_id", status=404)


def _attachment(object_key: str, record_id: int, file_id: int, *, lock: bool = False):
    stmt = select(StoredFile).where(
        StoredFile.id == file_id,
        StoredFile.kind == ATTACHMENT,
        StoredFile.object_key == object_key,
        StoredFile.record_id == record_id,
    )
    if lock:
        stmt = stmt.with_for_update()
    found = db.session.execute(stmt).scalar_one_or_none()
    if found is None:
        raise _file_not_found()
    return found


def _content(file_id: int) -> bytes:
    return db.session.execute(
        select(StoredFileContent.content).where(StoredFileContent.file_id == file_id)
    ).scalar_one()


def state(stored: StoredFile) -> dict[str, Any]:
    """The file's metadata as plain values (audit entries)."""
    values: dict[str, Any] = {
        "filename": stored.filename,
        "content_type": stored.content_type,
        "size": stored.size,
        "sha256": stored.sha256,
    }
    if stored.kind == ATTACHMENT:
        values.update(object_key=stored.object_key, record_id=stored.record_id)
    else:
        values["name"] = stored.name
    return values


# ---------------------------------------------------------------- attachments


@dataclass
class FilePage:
    """A page of a record's files, newest first: ``count`` is all of the record's files,
    ``next_cursor`` the ``cursor`` of the next page (``None`` on the last)."""

    files: list[StoredFile]
    next_cursor: int | None
    count: int
    uploaders: dict[int, str]
    can_upload: bool = False


def uploader_names(user_ids: Sequence[int | None]) -> dict[int, str]:
    """user id → name (or email) of the people who uploaded."""
    ids = sorted({i for i in user_ids if i is not None})
    if not ids:
        return {}
    rows = db.session.execute(select(User.id, User.name, User.email).where(User.id.in_(ids)))
    return {uid: name or email for uid, name, email in rows}


def _record_files(object_key: str, record_id: int):
    return select(StoredFile).where(
        StoredFile.kind == ATTACHMENT,
        StoredFile.object_key == object_key,
        StoredFile.record_id == record_id,
    )


def _count(object_key: str, record_id: int) -> int:
    return db.session.execute(
        select(func.count())
        .select_from(StoredFile)
        .where(
            StoredFile.kind == ATTACHMENT,
            StoredFile.object_key == object_key,
            StoredFile.record_id == record_id,
        )
    ).scalar_one()


def list_files(
    actor: Membership,
    object_key: str,
    record_id: int,
    *,
    cursor: Any = None,
    limit: Any = None,
) -> FilePage:
    """The record's files, newest first, a page at a time (keyset on the id)."""
    record = visible_record(actor, object_key, record_id)
    size = _parse_limit(limit)
    before = _parse_id(cursor, "cursor")
    stmt = _record_files(object_key, record_id).order_by(StoredFile.id.desc()).limit(size + 1)
    if before is not None:
        stmt = stmt.where(StoredFile.id < before)
    rows = list(db.session.execute(stmt).scalars())
    page = rows[:size]
    next_cursor = page[-1].id if len(rows) > size else None
    return FilePage(
        files=page,
        next_cursor=next_cursor,
        count=_count(object_key, record_id),
        uploaders=uploader_names([f.created_by for f in page]),
        can_upload=may_upload(actor, object_key, record),
    )


def get_file(actor: Membership, object_key: str, record_id: int, file_id: int) -> StoredFile:
    """One file of a record the person may open (404 otherwise)."""
    visible_record(actor, object_key, record_id)
    return _attachment(object_key, record_id, file_id)


def download(
    actor: Membership, object_key: str, record_id: int, file_id: int
) -> tuple[StoredFile, bytes]:
    """A file and its bytes."""
    stored = get_file(actor, object_key, record_id, file_id)
    return stored, _content(stored.id)


def _lock_record_files(object_key: str, record_id: int) -> None:
    """Serialise uploads to one record, so that the per-record limit holds under concurrency
    (a transaction-level advisory lock, released at commit or rollback)."""
    key = f"kehu.files:{current_tenant_id()}:{object_key}:{record_id}"
    db.session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))


def upload(
    actor: Membership, object_key: str, record_id: int, filename: Any, stream: IO[bytes]
) -> StoredFile:
    """Attach a file to a record (edit permission on the record)."""
    record = visible_record(actor, object_key, record_id)
    _require_edit(
        actor, object_key, record, _("Your role does not allow adding files to this record.")
    )
    name = clean_filename(filename)
    data = read_upload(stream)
    try:
        _lock_record_files(object_key, record_id)
        if _count(object_key, record_id) >= MAX_FILES_PER_RECORD:
            raise DomainError(
                _(
                    "A record holds at most %(max)d files. Delete some before adding more.",
                    max=MAX_FILES_PER_RECORD,
                ),
                field="file",
                status=409,
            )
        stored = StoredFile(
            kind=ATTACHMENT,
            object_key=object_key,
            record_id=record_id,
            filename=name,
            content_type=detect_type(data, name),
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            created_by=actor.user_id,
        )
        db.session.add(stored)
        db.session.flush()
        db.session.add(StoredFileContent(file_id=stored.id, content=data))
        audit.record("file.uploaded", "file", stored.id, after=state(stored))
        file_id = stored.id
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return _attachment(object_key, record_id, file_id)


def delete_file(actor: Membership, object_key: str, record_id: int, file_id: int) -> None:
    """Delete a file of a record: one's own upload, or any with edit permission on the record."""
    record = visible_record(actor, object_key, record_id)
    try:
        stored = _attachment(object_key, record_id, file_id, lock=True)
        if stored.created_by != actor.user_id:
            _require_edit(
                actor,
                object_key,
                record,
                _(
                    "Only the person who uploaded this file or someone who may edit the record "
                    "can delete it."
                ),
            )
        audit.record("file.deleted", "file", stored.id, before=state(stored))
        db.session.delete(stored)  # its bytes go with it (ON DELETE CASCADE)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


# ---------------------------------------------------------------- files of several records


def _on(targets: Mapping[str, Sequence[int]]):
    """The condition "attached to one of these records" (object key → record ids)."""
    branches = [
        and_(StoredFile.object_key == key, StoredFile.record_id.in_(sorted(set(ids))))
        for key, ids in sorted(targets.items())
        if ids
    ]
    if not branches:
        return None
    return and_(StoredFile.kind == ATTACHMENT, or_(*branches))


def count_on(targets: Mapping[str, Sequence[int]]) -> int:
    """How many files the records hold together (the 360° page's tab)."""
    where = _on(targets)
    if where is None:
        return 0
    return db.session.execute(
        select(func.count()).select_from(StoredFile).where(where)
    ).scalar_one()


def files_on(
    targets: Mapping[str, Sequence[int]], *, cursor: Any = None, limit: int = DEFAULT_PAGE
) -> tuple[list[StoredFile], int | None]:
    """The records' files together, newest first, a page at a time (the 360° page's tab)."""
    where = _on(targets)
    if where is None:
        return [], None
    before = _parse_id(cursor, "cursor")
    stmt = select(StoredFile).where(where).order_by(StoredFile.id.desc()).limit(limit + 1)
    if before is not None:
        stmt = stmt.where(StoredFile.id < before)
    rows = list(db.session.execute(stmt).scalars())
    page = rows[:limit]
    return page, (page[-1].id if len(rows) > limit else None)


# ---------------------------------------------------------------- company assets


def _require_admin(actor: Membership) -> None:
    if actor.role_key not in ADMIN_ROLES:
        raise Forbidden(_("Only owners and administrators change the company's assets."))


def clean_asset_name(raw: Any) -> str:
    """An asset's name: lower-case letters, digits, ``_`` and ``-``, starting with a letter."""
    name = raw.strip().lower() if isinstance(raw, str) else ""
    if not ASSET_NAME.match(name):
        raise ValidationFailed(
            {
                "name": [
                    _(
                        "Use 1 to 40 lower-case letters, digits, “_” or “-”, starting with a "
                        "letter (for example logo or seal)."
                    )
                ]
            }
        )
    return name


def _asset_not_found() -> DomainError:
    return DomainError(_("There is no such asset."), field="name", status=404)


def list_assets() -> list[StoredFile]:
    """The company's assets, the standard ones first, then by name."""
    rows = db.session.execute(select(StoredFile).where(StoredFile.kind == ASSET)).scalars()
    order = {name: i for i, name in enumerate(STANDARD_ASSETS)}
    return sorted(rows, key=lambda f: (order.get(f.name or "", len(order)), f.name or ""))


def _find_asset(name: str, *, lock: bool = False) -> StoredFile | None:
    stmt = select(StoredFile).where(StoredFile.kind == ASSET, StoredFile.name == name)
    if lock:
        stmt = stmt.with_for_update()
    return db.session.execute(stmt).scalar_one_or_none()


def get_asset(name: Any) -> StoredFile:
    """One asset of the company in context (404 otherwise)."""
    if not isinstance(name, str) or not ASSET_NAME.match(name):
        raise _asset_not_found()
    found = _find_asset(name)
    if found is None:
        raise _asset_not_found()
    return found


def asset_download(name: Any) -> tuple[StoredFile, bytes]:
    """An asset and its bytes (any member)."""
    stored = get_asset(name)
    return stored, _content(stored.id)


def asset_content(name: str) -> tuple[bytes, str] | None:
    """The current tenant's asset bytes and MIME type by name, None if absent."""
    if not isinstance(name, str) or not ASSET_NAME.match(name):
        return None
    row = db.session.execute(
        select(StoredFileContent.content, StoredFile.content_type)
        .join(StoredFile, StoredFile.id == StoredFileContent.file_id)
        .where(StoredFile.kind == ASSET, StoredFile.name == name)
    ).first()
    if row is None:
        return None
    return bytes(row.content), row.content_type


def put_asset(
    actor: Membership, name: Any, filename: Any, stream: IO[bytes]
) -> tuple[StoredFile, bool]:
    """Upload or replace the asset ``name`` (owners and admins; an image). Returns the asset
    and whether it is new."""
    _require_admin(actor)
    name = clean_asset_name(name)
    clean = clean_filename(filename)
    data = read_upload(stream)
    content_type = detect_type(data, clean)
    if content_type == OCTET and _extension(clean) == "svg":
        raise ValidationFailed(
            {
                "file": [
                    _(
                        "This SVG file is not a plain drawing: scripts, event handlers and "
                        "entity declarations are not accepted."
                    )
                ]
            }
        )
    if content_type not in ASSET_TYPES:
        raise ValidationFailed({"file": [_("Upload an image: PNG, JPEG, GIF, WebP or SVG.")]})
    digest = hashlib.sha256(data).hexdigest()
    try:
        # Serialise puts of one name: two first uploads must not both insert.
        key = f"kehu.assets:{current_tenant_id()}:{name}"
        db.session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))
        stored = _find_asset(name, lock=True)
        created = stored is None
        before = None if created else state(stored)
        if created:
            count = db.session.execute(
                select(func.count()).select_from(StoredFile).where(StoredFile.kind == ASSET)
            ).scalar_one()
            if count >= MAX_ASSETS:
                raise DomainError(
                    _("A company has at most %(max)d assets.", max=MAX_ASSETS),
                    field="name",
                    status=409,
                )
            stored = StoredFile(kind=ASSET, name=name)
            db.session.add(stored)
        stored.filename = clean
        stored.content_type = content_type
        stored.size = len(data)
        stored.sha256 = digest
        stored.created_by = actor.user_id
        stored.created_at = func.now()
        db.session.flush()
        if created:
            db.session.add(StoredFileContent(file_id=stored.id, content=data))
        else:
            db.session.execute(
                update(StoredFileContent)
                .where(StoredFileContent.file_id == stored.id)
                .values(content=data)
                .execution_options(synchronize_session=False)
            )
        audit.record("asset.put", "asset", name, before=before, after=state(stored))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return get_asset(name), created


def delete_asset(actor: Membership, name: Any) -> None:
    """Delete the asset ``name`` (owners and admins)."""
    _require_admin(actor)
    try:
        stored = get_asset(name)
        audit.record("asset.deleted", "asset", stored.name, before=state(stored))
        db.session.delete(stored)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
