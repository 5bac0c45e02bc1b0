"""Generating documents: a record's PDF, and a zip of many records' PDFs, as background jobs.

**Requests.** :func:`request_pdf` and :func:`request_batch` check that the member may see the
records, pick the template (:func:`print_templates.services.choose`) and start a tracked job
(:mod:`saas.tracked`): the web request never renders. The job id is derived from the request
key, so the same request made twice is one job; a key the caller does not give is derived from
what decides the document (object, record and its version, template version, language), so
printing an unchanged record again gives the document it already has.

**Keys are per person.** A document shows what its creator's role may see. The key stored with
it is ``u<user id>:<key>``, so one person's key can never return another person's document,
and :func:`may_read` lets only the creator, people of the same role, and owners and
administrators (who see every field anyway) read a document.

**Exactly one document.** The worker renders, then stores the PDF with ``INSERT … ON CONFLICT
(tenant_id, request_key) DO NOTHING``: a retry after a worker died mid-render (RQ ``Retry``),
or a second worker racing the first, stores nothing new. A job first looks for the document of
its key and does not render again when it exists; a batch stores each record's PDF as it goes
(key ``<batch key>:<record id>``), so a retried batch resumes where it stopped.

**Bounds.** The job has a time limit (RQ's ``job_timeout``: ``PRINT_TIMEOUT_SECONDS``, 60 s;
a batch gets 60 s + 6 s per record, at most an hour). Each render runs in a child process forked
from the work horse (:mod:`print_templates.bounded`) whose address space may grow by at most
``PRINT_MEMORY_LIMIT_MB`` (500) through ``setrlimit(RLIMIT_AS)``: the layout libraries abort
the whole process when memory runs out, and that must end the render, not the horse. Running out
of time or memory ends the job as failed with a plain message, without retries: the same
template would run out again. A horse killed from outside is retried by RQ.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app, g, has_request_context, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from print_templates import bounded
from print_templates import context as contexts
from print_templates import services as templates
from print_templates.models import (
    LOCALES,
    PrintDocument,
    PrintDocumentContent,
)
from saas import tracked
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.jobs import job
from saas.records import services as records
from saas.records.requester import Requester, acting_as
from tenants import audit
from tenants.context import current_tenant_id
from tenants.models import ADMIN_ROLES, Membership

_log = logging.getLogger("kehu.print")

JOB_PDF = "print.pdf"
JOB_BATCH = "print.batch"
#: Records one batch may print.
MAX_BATCH = 500
#: Documents listed per page of a record's history.
PAGE = 50
PDF_TYPE = "application/pdf"
ZIP_TYPE = "application/zip"
#: The company's uploaded images a template may show (``asset:logo``, ``asset:seal``).
ASSET_NAMES = ("logo", "seal")
_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


# ---------------------------------------------------------------- settings


def _setting(name: str, default: int) -> int:
    raw = current_app.config.get(name) or os.environ.get(name)
    try:
        value = int(raw) if raw is not None else default
    except (TypeError, ValueError):
        return default
    return value if value > 0 else default


def timeout() -> int:
    """Seconds one PDF may take (``PRINT_TIMEOUT_SECONDS``)."""
    return _setting("PRINT_TIMEOUT_SECONDS", 60)


def batch_timeout(count: int) -> int:
    return min(3600, timeout() + 6 * count)


def memory_limit_mb() -> int:
    """Memory one render may take beyond what its process holds (``PRINT_MEMORY_LIMIT_MB``)."""
    return _setting("PRINT_MEMORY_LIMIT_MB", 500)


# ---------------------------------------------------------------- documents


def find_document(request_key: str) -> PrintDocument | None:
    return db.session.execute(
        select(PrintDocument).where(PrintDocument.request_key == request_key)
    ).scalar_one_or_none()


def may_read(actor: Membership, document: PrintDocument) -> bool:
    """Owners and administrators, and the member who had it made. A document holds what its
    maker could see (fields, the customer and contact through their data scope and shares),
    which a colleague of the same role in another team may not: colleagues make their own."""
    return actor.role_key in ADMIN_ROLES or document.created_by == actor.user_id


def _document_not_found() -> DomainError:
    return DomainError(_("There is no such document."), status=404)


def get_document(actor: Membership, document_id: int) -> PrintDocument:
    """A document the member may read: of a record they can see (a zip: theirs, or any for
    owners and administrators), else 404."""
    document = db.session.execute(
        select(PrintDocument).where(PrintDocument.id == document_id)
    ).scalar_one_or_none()
    if document is None or not may_read(actor, document):
        raise _document_not_found()
    if document.kind == "pdf":
        try:
            records.require_permission(actor, document.object_key, "view")
            records.get_record(document.object_key, document.record_id)
        except DomainError:
            raise _document_not_found() from None
    return document


def content(actor: Membership, document_id: int) -> tuple[PrintDocument, bytes]:
    """A readable document and its bytes."""
    document = get_document(actor, document_id)
    return document, _bytes_of(document)


def _bytes_of(document: PrintDocument) -> bytes:
    """A document's bytes (a column read: the session keeps no copy)."""
    data = db.session.execute(
        select(PrintDocumentContent.content).where(PrintDocumentContent.document_id == document.id)
    ).scalar_one()
    return bytes(data)


def record_documents(
    actor: Membership, object_key: str, record_id: int, *, before: int | None = None
) -> list[PrintDocument]:
    """The record's PDFs the member may read, newest first (``before``: older than that id)."""
    records.require_permission(actor, object_key, "view")
    records.get_record(object_key, record_id)
    stmt = select(PrintDocument).where(
        PrintDocument.object_key == object_key,
        PrintDocument.record_id == record_id,
        PrintDocument.kind == "pdf",
    )
    if actor.role_key not in ADMIN_ROLES:
        stmt = stmt.where(PrintDocument.created_by == actor.user_id)
    if before is not None:
        stmt = stmt.where(PrintDocument.id < before)
    return list(db.session.execute(stmt.order_by(PrintDocument.id.desc()).limit(PAGE)).scalars())


def store_document(
    *,
    kind: str,
    object_key: str,
    record_id: int | None,
    record_version: int | None,
    template_id: int | None,
    template_version: int | None,
    locale: str,
    filename: str,
    data: bytes,
    pages: int | None,
    count: int | None,
    request_key: str,
    role_key: str,
    created_by: int | None,
    status: str = "ready",
    error: str | None = None,
) -> PrintDocument:
    """Store a document once per request key (a second insert of the key does nothing) and
    commit; answers the stored document, whichever attempt stored it."""
    digest = hashlib.sha256(data).hexdigest()
    table = PrintDocument.__table__
    new_id = db.session.execute(
        pg_insert(table)
        .values(
            tenant_id=current_tenant_id(),
            kind=kind,
            object_key=object_key,
            record_id=record_id,
            record_version=record_version,
            template_id=template_id,
            template_version=template_version,
            locale=locale,
            filename=filename,
            content_type=PDF_TYPE if kind == "pdf" else ZIP_TYPE,
            sha256=digest,
            size=len(data),
            pages=pages,
            count=count,
            request_key=request_key,
            role_key=role_key,
            status=status,
            error=error,
            created_by=created_by,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "request_key"])
        .returning(table.c.id)
    ).scalar_one_or_none()
    if new_id is not None:
        db.session.execute(
            PrintDocumentContent.__table__.insert().values(
                tenant_id=current_tenant_id(), document_id=new_id, content=data
            )
        )
        audit.record(
            "print.document_created",
            object_key,
            record_id,
            after={
                "document": new_id,
                "kind": kind,
                "template": template_id,
                "template_version": template_version,
                "sha256": digest,
                "size": len(data),
            },
            actor_user_id=created_by,
        )
    db.session.commit()
    stored = find_document(request_key)
    assert stored is not None  # inserted now or by the attempt that won
    return stored


# ---------------------------------------------------------------- requests


def clean_request_key(raw: Any) -> str | None:
    """The caller's idempotency key: 1–100 letters, digits, ``.``, ``_``, ``:`` or ``-``."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or not _KEY.match(raw):
        raise ValidationFailed(
            {"request_key": [_("Use 1–100 letters, digits, dots, underscores, colons or hyphens.")]}
        )
    return raw


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def _stored_key(actor: Membership, key: str) -> str:
    return f"u{actor.user_id}:{key}"


def _job_id(prefix: str, stored_key: str) -> str:
    return f"{prefix}:{hashlib.sha256(stored_key.encode()).hexdigest()[:40]}"


def request_locale(raw: Any = None) -> str:
    """The document language asked for, else the person's."""
    if raw is not None:
        if raw not in LOCALES:
            raise ValidationFailed({"locale": [_("Choose Chinese (zh_CN) or English (en).")]})
        return raw
    if has_request_context():
        return "zh_CN" if str(get_locale() or "en").startswith("zh") else "en"
    return "zh_CN"


def _finished(
    job_id: str, kind: str, document: PrintDocument, actor: Membership, params: dict[str, Any]
) -> tracked.TrackedJob:
    """The job row of a request whose document exists already (made succeeded, not queued)."""
    row = tracked.get_job(job_id)
    if row is None:
        row = tracked.TrackedJob(id=job_id, kind=kind, params=params, created_by=actor.user_id)
        db.session.add(row)
    row.status, row.error = "succeeded", None
    row.done = row.total = document.count or 1
    row.result = result_of(document)
    row.finished_at = func.now()
    db.session.commit()
    return row


def _same_request(existing: dict[str, Any] | None, params: dict[str, Any]) -> None:
    keys = ("object_key", "record_id", "ids")
    if existing and any(existing.get(k) != params.get(k) for k in keys):
        raise DomainError(
            _("This request key was used for another request. Use a new key."),
            field="request_key",
            status=409,
        )


def _start(
    actor: Membership,
    kind: str,
    key: str,
    target: dict[str, Any],
    choice: templates.Choice,
    *,
    total: int,
    seconds: int,
) -> tracked.TrackedJob:
    """The job of a print request (``kind``: one PDF or a batch) for ``target`` (its object and
    records): finished at once when the key's document exists, the same job when it is queued
    or running, else a new one; commits. A key used for other records is a 409."""
    stored_key = _stored_key(actor, key)
    job_id = _job_id("print" if kind == JOB_PDF else "print-batch", stored_key)
    params = {
        **target,
        "template_id": choice.template_id,
        "template_version": choice.version,
        "locale": choice.locale,
        "request_key": stored_key,
        "requester": Requester.current().to_json(),
    }
    existing = find_document(stored_key)
    if existing is not None:
        # A zip does not list its records: a batch asked again with its key gets it.
        if kind == JOB_PDF or existing.kind != "zip":
            _same_request(
                {"object_key": existing.object_key, "record_id": existing.record_id}, params
            )
        return _finished(job_id, kind, existing, actor, params)
    row = tracked.get_job(job_id)
    _same_request(row.params if row is not None else None, params)
    row = tracked.start(
        job_id,
        kind,
        render_pdf_job if kind == JOB_PDF else render_batch_job,
        params=params,
        created_by=actor.user_id,
        total=total,
        timeout=seconds,
    )
    db.session.commit()
    return row


def request_pdf(
    actor: Membership,
    object_key: str,
    record_id: int,
    *,
    template_id: int | None = None,
    request_key: str | None = None,
    locale: str | None = None,
) -> tracked.TrackedJob:
    """Start (or find) the job making the record's PDF; commits."""
    records.require_permission(actor, object_key, "view")
    record = records.get_record(object_key, record_id)
    choice = templates.choose(object_key, template_id, request_locale(locale))
    key = clean_request_key(request_key) or "auto:" + _digest(
        object_key, record.id, record.version, choice.template_id, choice.version, choice.locale
    )
    return _start(
        actor,
        JOB_PDF,
        key,
        {"object_key": object_key, "record_id": record.id},
        choice,
        total=1,
        seconds=timeout(),
    )


def _clean_ids(raw: Any) -> list[int]:
    if not isinstance(raw, (list, tuple)) or not raw:
        raise ValidationFailed({"ids": [_("Choose the records to print.")]})
    if len(raw) > MAX_BATCH:
        raise ValidationFailed({"ids": [_("Print at most %(n)d records at once.", n=MAX_BATCH)]})
    ids: list[int] = []
    for value in raw:
        if isinstance(value, bool):
            raise ValidationFailed({"ids": [_("Choose records by their ids.")]})
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValidationFailed({"ids": [_("Choose records by their ids.")]}) from None
        if not 0 < number < 2**63:
            raise ValidationFailed({"ids": [_("Choose records by their ids.")]})
        ids.append(number)
    return list(dict.fromkeys(ids))


def request_batch(
    actor: Membership,
    object_key: str,
    ids: Any,
    *,
    template_id: int | None = None,
    request_key: str | None = None,
    locale: str | None = None,
) -> tracked.TrackedJob:
    """Start (or find) the job printing the chosen records into one zip; commits."""
    records.require_permission(actor, object_key, "view")
    # Hundreds of PDFs of every field a role sees is an export: it needs that right too.
    records.require_permission(actor, object_key, "export")
    wanted = _clean_ids(ids)
    st = records.store(object_key)
    found = dict(
        db.session.execute(
            st.query()
            .where(st.model.id.in_(wanted))
            .with_only_columns(st.model.id, st.model.version)
        )
        .tuples()
        .all()
    )
    if len(found) != len(wanted):
        raise DomainError(
            _("Some of the chosen records do not exist or are not yours to see."),
            field="ids",
            status=404,
        )
    choice = templates.choose(object_key, template_id, request_locale(locale))
    key = clean_request_key(request_key) or "auto:" + _digest(
        object_key,
        [(i, found[i]) for i in wanted],
        choice.template_id,
        choice.version,
        choice.locale,
    )
    return _start(
        actor,
        JOB_BATCH,
        key,
        {"object_key": object_key, "ids": wanted},
        choice,
        total=len(wanted),
        seconds=batch_timeout(len(wanted)),
    )


def get_print_job(actor: Membership, job_id: str) -> tracked.TrackedJob:
    """A print job of this company the member started (owners and admins: any), else 404."""
    row = tracked.get_job(job_id)
    if (
        row is None
        or row.kind not in (JOB_PDF, JOB_BATCH)
        or (row.created_by != actor.user_id and actor.role_key not in ADMIN_ROLES)
    ):
        raise DomainError(_("There is no such job."), status=404)
    return row


def result_of(document: PrintDocument) -> dict[str, Any]:
    """What a finished job answers: the document it made."""
    return {
        "document_id": document.id,
        "kind": document.kind,
        "object_key": document.object_key,
        "record_id": document.record_id,
        "filename": document.filename,
        "size": document.size,
        "pages": document.pages,
        "count": document.count,
        "sha256": document.sha256,
        "status": document.status,
        "template_id": document.template_id,
        "template_version": document.template_version,
    }


def result_links(row: tracked.TrackedJob) -> dict[str, str] | None:
    """API links of a job's outcome (the document to download), in a request of its tenant."""
    result = row.result or {}
    document_id = result.get("document_id")
    if not isinstance(document_id, int) or not has_request_context():
        return None
    return {
        "document": url_for(
            "api_print.download_document", slug=g.tenant_slug, document_id=document_id
        )
    }


# ---------------------------------------------------------------- the work horse


def company_assets() -> dict[str, tuple[bytes, str]]:
    """The company's logo and seal (what templates may use as ``asset:<name>``), read before a
    render so that the render itself needs no database."""
    try:
        from saas.files.services import asset_content
    except ImportError:
        return {}
    found = {}
    for name in ASSET_NAMES:
        asset = asset_content(name)
        if asset is not None:
            found[name] = asset
    return found


def warm_renderer(*, quiet: bool = False) -> None:
    """Load the renderer's libraries and fonts in this process, once: render children forked
    from it start warm, and their memory limit counts the render alone. ``quiet`` (a worker
    starting) logs a failure instead of raising it; the renders then report it themselves."""
    try:
        import weasyprint  # noqa: F401

        from print_templates import fonts, render  # noqa: F401

        fonts.font_config()
    except Exception:
        if not quiet:
            raise
        _log.warning("the PDF renderer could not be loaded in advance", exc_info=True)


def render_plain(
    source: str, css: str, context: dict[str, Any], locale: str, assets: dict
) -> tuple[bytes, int]:
    """(PDF, pages): the renderer's work, run in a bounded child (no database, no files)."""
    from print_templates.render import render_pdf

    rendered = render_pdf(source, context, locale=locale, assets=assets.get, css=css)
    return rendered.pdf, rendered.pages


def _filename(document: dict[str, Any], record: Any, extension: str) -> str:
    """``<number or name>.pdf``, safe in a file system and a header."""
    base = ""
    if isinstance(document.get("document"), dict):
        base = str(document["document"].get("number") or "")
    base = base or str(getattr(record, "name", "") or "") or f"record-{record.id}"
    base = _UNSAFE_NAME.sub("-", base).strip(" .-")[:120] or f"record-{record.id}"
    return f"{base}.{extension}"


@dataclass(frozen=True)
class _Rendered:
    data: bytes
    pages: int
    filename: str
    record_version: int


def _render(
    actor: Membership, object_key: str, record_id: int, choice: templates.Choice
) -> _Rendered:
    record = records.get_record(object_key, record_id)
    context = contexts.build(actor, object_key, record, locale=choice.locale)
    source, css = templates.source_of(choice)
    warm_renderer()
    data, pages = bounded.run(
        render_plain,
        source,
        css,
        context,
        choice.locale,
        company_assets(),
        seconds=_job_seconds(),
        memory_mb=memory_limit_mb(),
    )
    return _Rendered(data, pages, _filename(context, record, "pdf"), record.version)


def _job_seconds() -> float:
    """The time limit of the job running now (RQ's ``job_timeout``), else one PDF's."""
    from rq import get_current_job

    rq_job = get_current_job()
    return float(rq_job.timeout) if rq_job is not None and rq_job.timeout else float(timeout())


def _pdf_document(
    actor: Membership,
    object_key: str,
    record_id: int,
    choice: templates.Choice,
    request_key: str,
) -> PrintDocument:
    existing = find_document(request_key)
    if existing is not None:
        return existing
    rendered = _render(actor, object_key, record_id, choice)
    return store_document(
        kind="pdf",
        object_key=object_key,
        record_id=record_id,
        record_version=rendered.record_version,
        template_id=choice.template_id,
        template_version=choice.version,
        locale=choice.locale,
        filename=rendered.filename,
        data=rendered.data,
        pages=rendered.pages,
        count=None,
        request_key=request_key,
        role_key=actor.role_key,
        created_by=actor.user_id,
    )


@contextlib.contextmanager
def _bounded(job_id: str) -> Iterator[None]:
    """A refusal (the template's error, a render out of time or memory) ends the job as failed
    with its message, without retries: the same input would fail again. Any other error goes
    through :func:`saas.tracked.crashed`, and RQ retries the job."""
    from rq.timeouts import JobTimeoutException

    try:
        yield
    except DomainError as exc:
        tracked.fail(job_id, exc.message)
    except JobTimeoutException:
        tracked.fail(job_id, bounded.out_of_time(_job_seconds()).message)
    except Exception as exc:
        tracked.crashed(job_id, exc)
        raise


def _choice(template_id: int | None, version: int | None, locale: str) -> templates.Choice:
    return templates.Choice(template_id, version, locale, "")


@job
def render_pdf_job(
    job_id: str,
    object_key: str,
    record_id: int,
    template_id: int | None,
    template_version: int | None,
    locale: str,
    request_key: str,
    requester: dict[str, Any],
) -> None:
    """Render one record's PDF as the person who asked and store it once."""
    tracked.begin(job_id)
    with _bounded(job_id), acting_as(Requester.from_json(requester)) as actor:
        document = _pdf_document(
            actor,
            object_key,
            record_id,
            _choice(template_id, template_version, locale),
            request_key,
        )
        tracked.progress(job_id, 1)
        tracked.finish(job_id, result_of(document))


def _zip(documents: Sequence[PrintDocument]) -> bytes:
    """The documents' PDFs in one zip, one read at a time; names made unique."""
    buffer = io.BytesIO()
    used: set[str] = set()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for document in documents:
            name = document.filename
            if name in used:
                stem, _dot, ext = name.rpartition(".")
                name = f"{stem}-{document.record_id}.{ext}"
            used.add(name)
            zf.writestr(name, _bytes_of(document))
    return buffer.getvalue()


def _batch_name(object_label: str, count: int) -> str:
    base = _UNSAFE_NAME.sub("-", object_label).strip(" .-") or "records"
    return f"{base}-{count}.zip"


@job
def render_batch_job(
    job_id: str,
    object_key: str,
    ids: list[int],
    template_id: int | None,
    template_version: int | None,
    locale: str,
    request_key: str,
    requester: dict[str, Any],
) -> None:
    """Render each record's PDF (stored as the record's document), then one zip of them."""
    tracked.begin(job_id)
    with _bounded(job_id), acting_as(Requester.from_json(requester)) as actor:
        existing = find_document(request_key)
        if existing is not None:
            tracked.finish(job_id, result_of(existing))
            return
        choice = _choice(template_id, template_version, locale)
        tracked.progress(job_id, 0, len(ids))
        documents: list[PrintDocument] = []
        failures: list[str] = []
        for done, record_id in enumerate(ids, 1):
            try:
                documents.append(
                    _pdf_document(
                        actor, object_key, record_id, choice, f"{request_key}:{record_id}"
                    )
                )
            except DomainError as exc:
                db.session.rollback()
                failures.append(f"#{record_id}: {exc.message}")
            tracked.progress(job_id, done)
        if not documents:
            raise DomainError(
                _("None of the records could be printed. %(reasons)s", reasons=failures[0])
            )
        schema = records.store(object_key, actor).schema
        zipped = _zip(documents)
        zipped_document = store_document(
            kind="zip",
            object_key=object_key,
            record_id=None,
            record_version=None,
            template_id=template_id,
            template_version=template_version,
            locale=locale,
            filename=_batch_name(schema.plural(locale), len(documents)),
            data=zipped,
            pages=sum(d.pages or 0 for d in documents),
            count=len(documents),
            request_key=request_key,
            role_key=actor.role_key,
            created_by=actor.user_id,
            status="partial" if failures else "ready",
            error="\n".join(failures)[:10_000] or None,
        )
        tracked.finish(job_id, result_of(zipped_document))
