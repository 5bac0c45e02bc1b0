"""Exporting a list view to CSV or XLSX, and its printable form.

A view is a query (filter, sort, quick search) plus columns. Its records are read through the
query builder's :func:`~custom_fields.query.engine.iterate` (keyset paging, a batch at a time),
so memory stays flat whatever the number of rows. Each cell comes from the field type's
``export()`` (numbers stay numbers, dates stay dates, in the user's time zone) for files, and
from ``display()`` for the printable list; fields the person's role hides are never offered.

Up to :data:`STREAM_LIMIT` rows are answered in the request (CSV streamed row batch by row
batch; XLSX written to a temporary file, then streamed). More, or when asked, runs as a tracked
job that writes the file to the tenant's export folder; the file is kept for
:data:`EXPIRES_AFTER` and only the person who asked for it (or an admin) may download it.
Every export is audited (``records.exported``: who, which object, how many rows).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select

from custom_fields import layouts, types
from custom_fields.definitions import FieldInfo, schemas
from custom_fields.errors import NotFound
from custom_fields.query import engine
from custom_fields.query import operators as ops
from custom_fields.query.engine import QuerySpec
from custom_fields.query.filters import Condition, Group
from custom_fields.types import Context
from saas import tracked
from saas.config import DATA_DIR
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.jobs import job
from saas.records import queries, services
from saas.records.models import RecordColumns
from saas.records.requester import Requester, acting_as, resume
from tenants import audit
from tenants import services as tenant_services
from tenants.context import current_tenant_id
from tenants.errors import Forbidden
from tenants.models import ADMIN_ROLES, Membership

#: Rows answered in the request; more go to a background job.
STREAM_LIMIT = 5_000
#: The most rows one export may hold (a worksheet holds 1,048,576 rows).
MAX_ROWS = 1_000_000
#: Records read per query.
BATCH = 500
#: How long a file written by a job is kept.
EXPIRES_AFTER = dt.timedelta(hours=24)
JOB_KIND = "records.export"
FORMATS: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
#: Cells a spreadsheet would run as a formula when they start with one of these.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_STORED_FILE = re.compile(r"^[0-9a-f]{32}\.(csv|xlsx)$")
_USER_KINDS = ("owner_id", "created_by", "updated_by")


# ---- the query as JSON (job parameters) -------------------------------------------------------


def tree_json(node: Any) -> Any:
    """A parsed filter tree back in its JSON form (``parse_tree`` reads it again)."""
    if node is None:
        return None
    if isinstance(node, Group):
        if node.op == "not":
            return {"not": tree_json(node.children[0] if node.children else None)}
        return {node.op: [tree_json(child) for child in node.children]}
    body: dict[str, Any] = {"field": node.field, "op": node.op}
    if node.value is not None:
        body["value"] = node.value
    return body


def query_json(spec: QuerySpec, columns: Sequence[str] | None) -> dict[str, Any]:
    """The view as JSON: ``filter``, ``sort``, ``q`` and ``columns``."""
    return {
        "filter": tree_json(spec.filter),
        "sort": [key.to_json() for key in spec.sort],
        "q": spec.search,
        "columns": list(columns) if columns else None,
    }


def query_from_json(raw: Mapping[str, Any]) -> tuple[QuerySpec, list[str] | None]:
    return queries.from_body({k: v for k, v in raw.items() if v is not None})


# ---- columns and cells ------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of an export: a system field, a field, or the currency beside an amount."""

    key: str
    header: str
    info: FieldInfo | None = None
    currency_code: bool = False

    @property
    def type(self) -> str | None:
        return self.info.type if self.info is not None else None


def _system_label(key: str, locale: str) -> str:
    _kind, _column, label_en, label_zh = engine.SYSTEM_FIELDS[key]
    return label_zh if locale.startswith("zh") else label_en


def build_columns(
    st: services.Store,
    actor: Membership,
    keys: Sequence[str] | None,
    locale: str,
    *,
    currency_codes: bool = True,
) -> list[Column]:
    """The columns asked for (default: the name and every field the role may see, in layout
    order); keys that do not exist or are hidden are refused (400 on ``columns``)."""
    if keys:
        queries.check_columns(st, actor, list(keys))
        keys = list(dict.fromkeys(keys))
    else:
        keys = ["name"] + [f.key for f in layouts.ordered_fields(st.schema.key, actor.role_key)]
    columns: list[Column] = []
    for key in keys:
        if key in engine.SYSTEM_FIELDS:
            columns.append(Column(key, _system_label(key, locale)))
            continue
        info = st.schema.field(key)
        if info is None or info.access_for(actor.role_key) == "hidden":
            continue  # check_columns refused these already; never export a hidden field
        label = info.spec.label(locale)
        columns.append(Column(key, label, info))
        if currency_codes and info.type == "currency":
            columns.append(
                Column(key, _("%(label)s (currency)", label=label), info, currency_code=True)
            )
    return columns


def _local(moment: dt.datetime | None, timezone: str) -> dt.datetime | None:
    """Wall-clock time in the user's zone, without tzinfo (spreadsheets have no zones)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)


class Table:
    """Turns batches of records into rows of cells (``values``) or of text (``texts``)."""

    def __init__(
        self, st: services.Store, actor: Membership, columns: list[Column], ctx: Context
    ) -> None:
        self.st = st
        self.actor = actor
        self.columns = columns
        self.ctx = ctx
        self._members: dict[int, str] | None = None
        self._formulas = any(c.type == "formula" for c in columns)

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]

    def _member_names(self) -> dict[int, str]:
        if self._members is None:
            self._members = {m.user_id: m.user.display_name for m in tenant_services.members()}
        return self._members

    def _user(self, user_id: int | None) -> str | None:
        if user_id is None:
            return None
        return self._member_names().get(user_id, f"#{user_id}")

    def _lookup_names(self, records: Sequence[RecordColumns]) -> dict[str, dict[int, str]]:
        """Names of the records each lookup column points at (those the person may see)."""
        names: dict[str, dict[int, str]] = {}
        for column in self.columns:
            if column.type != "lookup" or column.key in names:
                continue
            ids = {
                int(r.data[column.key])
                for r in records
                if isinstance(r.data.get(column.key), (int, str))
                and str(r.data[column.key]).isdigit()
            }
            target = column.info.spec.options.get("target", "") if column.info else ""
            found: dict[int, str] = {}
            if ids and target == "user":
                found = {i: n for i in ids if (n := self._member_names().get(i)) is not None}
            elif ids:
                try:
                    target_store = services.store(target, self.actor)
                except NotFound:
                    target_store = None
                if target_store is not None:
                    model = target_store.model
                    stmt = (
                        target_store.query()
                        .where(model.id.in_(ids))
                        .with_only_columns(model.id, model.name)
                    )
                    found = {i: n or f"#{i}" for i, n in db.session.execute(stmt)}
            names[column.key] = found
        return names

    def _value(
        self,
        column: Column,
        record: RecordColumns,
        formulas: Mapping[str, Any],
        lookups: Mapping[str, Mapping[int, str]],
    ) -> Any:
        """The export cell of one column (Python value: str, int, Decimal, date, bool…)."""
        key, info = column.key, column.info
        if info is None:
            if key == "id":
                return record.id
            if key == "name":
                return record.name or ""
            if key in _USER_KINDS:
                return self._user(getattr(record, key))
            if key in ("created_at", "updated_at"):
                moment = getattr(record, key)
                return _local(
                    moment if isinstance(moment, dt.datetime) else None, self.ctx.timezone
                )
            if key == "tags":
                return ", ".join(record.tags or [])
            return None
        stored = record.data.get(key)
        if column.currency_code:
            return stored.get("currency") if isinstance(stored, dict) else None
        if info.type == "formula":
            value = formulas.get(key)
            if isinstance(value, dt.datetime):
                return _local(value, self.ctx.timezone)
            return value
        if stored is None:
            return None
        if info.type == "lookup":
            try:
                target_id = int(stored)
            except (TypeError, ValueError):
                return str(stored)
            return lookups.get(key, {}).get(target_id, f"#{target_id}")
        field_type = types.get(info.type)
        return field_type.export(field_type.from_storage(stored), info.spec, self.ctx)

    def _text(
        self,
        column: Column,
        record: RecordColumns,
        formulas: Mapping[str, Any],
        lookups: Mapping[str, Mapping[int, str]],
    ) -> str:
        """The printable text of one column, in the user's language."""
        key, info = column.key, column.info
        if info is None or info.type in ("lookup", "formula") or column.currency_code:
            if info is not None and info.type == "formula":
                return services._display_result(formulas.get(key), self.ctx)
            value = self._value(column, record, formulas, lookups)
            if isinstance(value, dt.datetime):
                return format_datetime(value, format="short", locale=self.ctx.locale)
            return "" if value is None else str(value)
        stored = record.data.get(key)
        field_type = types.get(info.type)
        value = None if stored is None else field_type.from_storage(stored)
        return field_type.display(value, info.spec, self.ctx)

    def _prepare(
        self, records: Sequence[RecordColumns]
    ) -> Iterator[tuple[RecordColumns, Mapping[str, Any], Mapping[str, Mapping[int, str]]]]:
        lookups = self._lookup_names(records)
        for record in records:
            formulas = services._formula_values(self.st, record) if self._formulas else {}
            yield record, formulas, lookups

    def values(self, records: Sequence[RecordColumns]) -> Iterator[list[Any]]:
        for record, formulas, lookups in self._prepare(records):
            yield [self._value(c, record, formulas, lookups) for c in self.columns]

    def texts(self, records: Sequence[RecordColumns]) -> Iterator[list[str]]:
        with force_locale(self.ctx.locale):
            for record, formulas, lookups in self._prepare(records):
                yield [self._text(c, record, formulas, lookups) for c in self.columns]


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


# ---- writers ----------------------------------------------------------------------------------


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int):
        return value
    text = str(value)
    # A spreadsheet would run "=…" as a formula (CSV injection): keep it text.
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_chunks(
    table: Table, records: Iterable[RecordColumns], on_rows: Callable[[int], None] | None = None
) -> Iterator[bytes]:
    """UTF-8 with a byte-order mark (so Excel reads Chinese right), a batch of rows a chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([_csv_cell(h) for h in table.headers])
    yield b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")
    written = 0
    for batch in _batched(records, BATCH):
        buffer.seek(0)
        buffer.truncate()
        for row in table.values(batch):
            writer.writerow([_csv_cell(v) for v in row])
        written += len(batch)
        if on_rows is not None:
            on_rows(written)
        yield buffer.getvalue().encode("utf-8")


def _sheet_title(text: str) -> str:
    title = re.sub(r"[\[\]:*?/\\]", " ", text).strip()[:31]
    return title or "Export"


def write_xlsx(
    table: Table,
    records: Iterable[RecordColumns],
    target: IO[bytes] | str | Path,
    title: str,
    on_rows: Callable[[int], None] | None = None,
) -> int:
    """An XLSX workbook in openpyxl's write-only mode (rows go to disk as they come)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_sheet_title(title))
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for text in table.headers:
        cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", text))
        cell.data_type = "s"
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    currency_of = {
        i: i + 1
        for i, c in enumerate(table.columns)
        if c.type == "currency" and not c.currency_code and i + 1 < len(table.columns)
    }

    def cell_for(value: Any, row: list[Any], i: int) -> Any:
        if isinstance(value, str):
            cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
            cell.data_type = "s"  # never a formula, whatever the text starts with
            return cell
        if isinstance(value, dt.datetime):
            cell = WriteOnlyCell(sheet, value=value)
            cell.number_format = "yyyy-mm-dd hh:mm"
            return cell
        if isinstance(value, dt.date):
            cell = WriteOnlyCell(sheet, value=value)
            cell.number_format = "yyyy-mm-dd"
            return cell
        if isinstance(value, Decimal) and i in currency_of:
            code = row[currency_of[i]]
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(code, str) and code.isalpha():
                cell.number_format = f'#,##0.00 "{code}"'
            return cell
        return value

    written = 0
    for batch in _batched(records, BATCH):
        for row in table.values(batch):
            sheet.append([cell_for(v, row, i) for i, v in enumerate(row)])
        written += len(batch)
        if on_rows is not None:
            on_rows(written)
    workbook.save(target)
    return written


# ---- files ------------------------------------------------------------------------------------


def export_root() -> Path:
    """Where job exports are written: ``EXPORT_DIR`` (config or environment), else
    ``<data folder>/exports``; one folder per tenant below it."""
    configured = current_app.config.get("EXPORT_DIR") or os.environ.get("EXPORT_DIR")
    return Path(configured) if configured else DATA_DIR / "exports"


def tenant_dir(*, create: bool = False) -> Path:
    directory = export_root() / str(int(current_tenant_id()))
    if create:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return directory


def sweep_expired(now: dt.datetime | None = None) -> int:
    """Delete export files older than :data:`EXPIRES_AFTER` (every company's: this touches the
    folders only, never a company's data); answers how many. Each export job runs it, so files
    go even when nobody comes back for them."""
    root = export_root()
    if not root.is_dir():
        return 0
    limit = (now or dt.datetime.now(dt.UTC)).timestamp() - EXPIRES_AFTER.total_seconds()
    removed = 0
    for directory in root.iterdir():
        if not directory.name.isdigit() or not directory.is_dir():
            continue
        for path in directory.iterdir():
            try:
                if path.is_file() and path.stat().st_mtime < limit:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue  # another process swept it first
    return removed


def download_name(st: services.Store, fmt: str, ctx: Context) -> str:
    now = dt.datetime.now(ZoneInfo(ctx.timezone))
    base = re.sub(r'[\x00-\x1f\\/:*?"<>|]', " ", st.schema.plural(ctx.locale)).strip()
    return f"{base or st.schema.key}-{now:%Y%m%d-%H%M}.{fmt}"


def content_disposition(filename: str, prefix: str = "export") -> str:
    """``attachment`` with the UTF-8 name (RFC 6266 / 5987) and an ASCII fallback for old
    clients: the name without its other characters, led by ``prefix`` when that loses its
    start (``客户-20240301-1430.csv`` → ``account-20240301-1430.csv``)."""
    fallback = re.sub(r'[^\x20-\x7e]|["\\]', "", filename).strip()
    if not fallback[:1].isalnum():
        fallback = f"{prefix}{fallback}"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"


# ---- exporting --------------------------------------------------------------------------------


@dataclass
class Download:
    """A file answered in the request: ``chunks`` yields its bytes."""

    filename: str
    mimetype: str
    chunks: Iterator[bytes]
    count: int
    object_key: str = "export"


def check_format(raw: Any) -> str:
    fmt = (raw or "csv").lower() if isinstance(raw, str) or raw is None else raw
    if fmt not in FORMATS:
        raise ValidationFailed({"format": [_("Choose csv or xlsx.")]})
    return fmt


def _count(st: services.Store, actor: Membership, spec: QuerySpec, timezone: str, cap: int) -> int:
    stmt, _resolver = engine.base_query(st.schema, actor, spec, timezone)
    capped = stmt.with_only_columns(st.model.id).limit(cap + 1).subquery()
    return db.session.execute(select(func.count()).select_from(capped)).scalar_one()


def _probe(st: services.Store, actor: Membership, spec: QuerySpec, timezone: str) -> int:
    """Run the query once (so a bad filter or sort is refused before anything is sent) and
    count its records, up to :data:`MAX_ROWS` + 1."""
    probe = replace(spec, limit=1, cursor=None, count=True)
    page = engine.run_query(st.schema, actor, probe, timezone=timezone)
    if page.count_exact:
        return page.count or 0
    return _count(st, actor, spec, timezone, MAX_ROWS)


def _audit(
    object_key: str, fmt: str, count: int, columns: list[Column], job_id: str | None
) -> None:
    audit.record(
        "records.exported",
        "object",
        object_key,
        after={
            "format": fmt,
            "count": count,
            "columns": list(dict.fromkeys(c.key for c in columns)),
            "job_id": job_id,
        },
    )


def export(
    actor: Membership,
    object_key: str,
    fmt: str,
    spec: QuerySpec,
    columns: Sequence[str] | None,
    *,
    background: bool = False,
) -> Download | tracked.TrackedJob:
    """Export the records of a view: a :class:`Download` up to :data:`STREAM_LIMIT` rows, else
    (or with ``background``) the tracked job writing the file."""
    services.require_permission(actor, object_key, "export")
    fmt = check_format(fmt)
    spec = replace(spec, cursor=None)
    st = services.store(object_key, actor)
    ctx = services.context()
    table_columns = build_columns(st, actor, columns, ctx.locale)
    count = _probe(st, actor, spec, ctx.timezone)
    if count > MAX_ROWS:
        raise DomainError(
            _(
                "An export holds at most %(n)s records; narrow the filter.",
                n=f"{MAX_ROWS:,}",
            ),
            field="filter",
        )
    if background or count > STREAM_LIMIT:
        row = tracked.start(
            f"export:{uuid.uuid4().hex}",
            JOB_KIND,
            run_export,
            params={
                "object_key": object_key,
                "fmt": fmt,
                "query": query_json(spec, columns),
                "requester": Requester.current().to_json(),
            },
            created_by=actor.user_id,
            total=count,
        )
        db.session.commit()
        return row
    table = Table(st, actor, table_columns, ctx)
    name = download_name(st, fmt, ctx)
    if fmt == "xlsx":
        spool: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the generator)
        try:
            records = engine.iterate(st.schema, actor, spec, timezone=ctx.timezone, batch=BATCH)
            written = write_xlsx(table, records, spool, st.schema.plural(ctx.locale))
        except BaseException:
            spool.close()
            raise
        _audit(object_key, fmt, written, table_columns, None)
        db.session.commit()
        spool.seek(0)
        return Download(name, FORMATS[fmt], _file_chunks(spool), written, object_key)
    _audit(object_key, fmt, count, table_columns, None)
    db.session.commit()
    tenant_id, user_id = current_tenant_id(), actor.user_id

    def body() -> Iterator[bytes]:
        # Runs while the response is sent, in a fresh session (see requester.resume).
        member = resume(tenant_id, user_id)
        fresh = services.store(object_key, member)
        records = engine.iterate(fresh.schema, member, spec, timezone=ctx.timezone, batch=BATCH)
        yield from csv_chunks(Table(fresh, member, table_columns, ctx), records)

    return Download(name, FORMATS[fmt], body(), count, object_key)


def _file_chunks(handle: IO[bytes], size: int = 64 * 1024) -> Iterator[bytes]:
    try:
        while chunk := handle.read(size):
            yield chunk
    finally:
        handle.close()


@job
def run_export(
    job_id: str, object_key: str, fmt: str, query: dict[str, Any], requester: dict[str, Any]
) -> None:
    """Write the export to the tenant's folder as the person who asked, with progress."""
    tracked.begin(job_id)
    try:
        with acting_as(Requester.from_json(requester)) as actor:
            spec, columns = query_from_json(query)
            st = services.store(object_key, actor)
            ctx = services.context()
            table = Table(st, actor, build_columns(st, actor, columns, ctx.locale), ctx)
            total = min(_count(st, actor, spec, ctx.timezone, MAX_ROWS), MAX_ROWS)
            tracked.progress(job_id, 0, total)
            sweep_expired()
            directory = tenant_dir(create=True)
            stored = f"{job_id.rpartition(':')[2]}.{fmt}"
            partial = directory / f".{stored}.part"
            records = islice(
                engine.iterate(st.schema, actor, spec, timezone=ctx.timezone, batch=BATCH),
                MAX_ROWS,
            )

            done = [0]

            def on_rows(rows: int) -> None:
                done[0] = rows
                tracked.progress(job_id, rows)

            try:
                if fmt == "xlsx":
                    write_xlsx(table, records, partial, st.schema.plural(ctx.locale), on_rows)
                else:
                    with partial.open("wb") as handle:
                        for chunk in csv_chunks(table, records, on_rows):
                            handle.write(chunk)
                os.replace(partial, directory / stored)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            written = done[0]
            tracked.progress(job_id, written, max(total, written))
            _audit(object_key, fmt, written, table.columns, job_id)
            db.session.commit()
            expires = dt.datetime.now(dt.UTC) + EXPIRES_AFTER
            tracked.finish(
                job_id,
                {
                    "object_key": object_key,
                    "format": fmt,
                    "rows": written,
                    "file": stored,
                    "filename": download_name(st, fmt, ctx),
                    "expires_at": expires.isoformat(),
                },
            )
    except DomainError as exc:
        tracked.fail(job_id, exc.message)
    except Exception as exc:
        tracked.crashed(job_id, exc)
        raise


# ---- export jobs: status and download ---------------------------------------------------------


@dataclass
class ExportStatus:
    job: tracked.TrackedJob
    expired: bool = False
    object_key: str | None = None

    @property
    def ready(self) -> bool:
        return self.job.status == "succeeded" and not self.expired


def _expired(row: tracked.TrackedJob, now: dt.datetime | None = None) -> bool:
    if row.status != "succeeded" or row.finished_at is None:
        return False
    now = now or dt.datetime.now(dt.UTC)
    return row.finished_at + EXPIRES_AFTER <= now


def _stored_path(row: tracked.TrackedJob) -> Path | None:
    name = (row.result or {}).get("file")
    if not isinstance(name, str) or not _STORED_FILE.match(name):
        return None
    return tenant_dir() / name


def export_status(actor: Membership, job_id: str) -> ExportStatus:
    """An export job of this tenant that ``actor`` started (admins: any); a file past its
    time is deleted here."""
    row = tracked.get_job(job_id)
    if row is None or row.kind != JOB_KIND:
        raise NotFound(_("There is no such export."))
    if row.created_by != actor.user_id and actor.role_key not in ADMIN_ROLES:
        raise Forbidden(_("Only the person who asked for this export can download it."))
    status = ExportStatus(row, object_key=(row.params or {}).get("object_key"))
    if _expired(row):
        status.expired = True
        path = _stored_path(row)
        if path is not None:
            path.unlink(missing_ok=True)
    elif row.status == "succeeded":
        path = _stored_path(row)
        status.expired = path is None or not path.is_file()
    return status


def export_file(actor: Membership, job_id: str) -> tuple[Path, str, str, str]:
    """(path, download name, MIME type, object key) of a finished export; 409 while it runs,
    410 once expired."""
    status = export_status(actor, job_id)
    if status.expired:
        raise DomainError(
            _("This export has expired: files are kept for 24 hours. Export again."), status=410
        )
    if status.job.status != "succeeded":
        raise DomainError(_("This export is not ready yet."), status=409)
    path = _stored_path(status.job)
    assert path is not None  # checked by export_status
    result = status.job.result or {}
    fmt = result.get("format", "csv")
    name = str(result.get("filename") or path.name)
    return path, name, FORMATS.get(fmt, FORMATS["csv"]), str(status.object_key or "export")


# ---- the printable list -----------------------------------------------------------------------

PRINT_LIMIT = 2_000


@dataclass
class PrintView:
    title: str
    headers: list[str]
    rows: list[list[str]]
    count: int
    count_exact: bool
    capped: bool
    conditions: str
    sort: str
    search: str | None
    printed_at: dt.datetime
    timezone: str


def _label_of(path: str, st: services.Store, locale: str) -> str:
    if path in engine.SYSTEM_FIELDS:
        return _system_label(path, locale)
    first, _dot, rest = path.partition(".")
    info = st.schema.field(first)
    if info is None:
        return path
    label = info.spec.label(locale)
    if rest and info.type == "lookup":
        target = schemas(current_tenant_id()).get(info.spec.options.get("target", ""))
        inner = target.field(rest) if target is not None else None
        if rest in engine.SYSTEM_FIELDS:
            return f"{label} › {_system_label(rest, locale)}"
        return f"{label} › {inner.spec.label(locale) if inner else rest}"
    return label


def _value_text(node: Condition, st: services.Store, table: Table, locale: str) -> str:
    value = node.value
    values = value if isinstance(value, list) else [value]
    info = st.schema.field(node.field)
    texts = []
    for item in values:
        if item is None:
            continue
        text = str(item)
        if info is not None and info.spec.choices:
            choice = info.spec.choice(text)
            text = choice.label(locale) if choice else text
        elif isinstance(item, bool):
            text = _("Yes") if item else _("No")
        elif (
            node.field in _USER_KINDS
            or (info is not None and info.spec.options.get("target") == "user")
        ) and text.isdigit():
            text = table._user(int(text)) or text
        elif text in ops.RELATIVE_LABELS:
            text = str(ops.RELATIVE_LABELS[text])
        texts.append(text)
    operator = ops.OPERATORS.get(node.op)
    if operator is not None and operator.arity == "two" and len(texts) == 2:
        return " – ".join(texts)
    return ", ".join(texts)


def describe_filter(node: Any, st: services.Store, table: Table, locale: str) -> str:
    """The filter in words, in the user's language: ``Grade equals A and (Staff …)``."""
    if node is None:
        return ""
    if isinstance(node, Group):
        described = [(describe_filter(c, st, table, locale), c) for c in node.children]
        described = [(text, child) for text, child in described if text]
        if node.op == "not":
            return _("not (%(condition)s)", condition=described[0][0]) if described else ""
        joiner = _(" and ") if node.op == "and" else _(" or ")
        return joiner.join(
            f"({text})"
            if isinstance(child, Group) and child.op != "not" and len(child.children) > 1
            else text
            for text, child in described
        )
    operator = ops.OPERATORS.get(node.op)
    op_label = str(operator.label) if operator is not None else node.op
    value = _value_text(node, st, table, locale)
    label = _label_of(node.field, st, locale)
    return f"{label} {op_label} {value}".strip()


def print_view(
    actor: Membership, object_key: str, spec: QuerySpec, columns: Sequence[str] | None
) -> PrintView:
    """The records of a view as text, up to :data:`PRINT_LIMIT` rows, with what describes
    the view (filter, sort, search, count)."""
    spec = replace(spec, cursor=None)
    st = services.store(object_key, actor)
    ctx = services.context()
    table = Table(
        st, actor, build_columns(st, actor, columns, ctx.locale, currency_codes=False), ctx
    )
    probe = engine.run_query(
        st.schema, actor, replace(spec, limit=1, count=True), timezone=ctx.timezone
    )
    records = islice(
        engine.iterate(st.schema, actor, spec, timezone=ctx.timezone, batch=BATCH),
        PRINT_LIMIT,
    )
    rows: list[list[str]] = []
    for batch in _batched(records, BATCH):
        rows.extend(table.texts(batch))
    count = probe.count or 0
    with force_locale(ctx.locale):
        conditions = describe_filter(spec.filter, st, table, ctx.locale)
        sort = ", ".join(
            _("%(field)s (descending)", field=_label_of(k.field, st, ctx.locale))
            if k.desc
            else _label_of(k.field, st, ctx.locale)
            for k in spec.sort
        )
    return PrintView(
        title=st.schema.plural(ctx.locale),
        headers=table.headers,
        rows=rows,
        count=count,
        count_exact=probe.count_exact,
        capped=count > len(rows) or not probe.count_exact,
        conditions=conditions,
        sort=sort,
        search=spec.search,
        printed_at=dt.datetime.now(ZoneInfo(ctx.timezone)),
        timezone=ctx.timezone,
    )
