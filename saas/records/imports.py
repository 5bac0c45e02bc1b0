"""Importing records of any object from CSV and XLSX files.

The steps are upload → map → preview → run:

1. **Upload** (:func:`upload`): the file (CSV in UTF-8, UTF-8 with a byte-order mark, UTF-16 or
   GB18030; or the first sheet of an XLSX workbook) is read once, checked against the limits
   (:data:`MAX_BYTES`, :data:`MAX_ROWS`) and kept, normalised to UTF-8 CSV, in the tenant's
   import folder (``<data folder>/imports/<tenant id>/<import id>/``) with a small JSON file
   describing it. Each column gets a guessed target (:func:`guess_mapping`): a field whose key or
   English or Chinese label matches the header, ignoring case and spaces.
2. **Map** (:func:`plan`): each column goes to ``name``, ``owner_id`` (an email or a name),
   ``tags``, a field the person may edit, ``<currency field>.currency`` (the code beside an
   amount), ``id`` or a unique field to find existing records, or nowhere. Existing records are
   matched on one key (``match_on``: ``id``, ``name`` or a unique field) and the policy says what
   a match does: ``skip``, ``update`` or ``create`` anyway.
3. **Preview** (:func:`preview`): the first :data:`PREVIEW_ROWS` rows as they would be stored,
   with each cell's errors, without writing anything.
4. **Run** (:func:`start`): a tracked job (:func:`run_import`, one per import, never twice) reads
   the rows :data:`BATCH` at a time. Each row is validated by the record service's own rules
   (:func:`saas.records.services.clean_values`); the rows that pass are written together: one
   ``INSERT`` and one ``UPDATE`` per batch, unique values claimed in bulk with a conflict check
   per row, auto-numbers reserved for the batch at once, search text, one audit event per batch
   (``records.imported``), and the job's checkpoint, all in the batch's transaction. A row that
   fails is reported (row, column, value, message) and never half-written. A worker that dies
   resumes after the last committed batch. The end is audited as ``import.finished`` with the
   counts; the errors are downloadable as CSV (:func:`error_report`).

Blank cells leave a value as it is on an update and give the field's default on creation.

**The CRM's workflow rules.** The record service runs per-record hooks on every save
(``leads.before_save``/``after_save``, ``pipeline.before_save``/``after_save``,
``activities.on_save``, ``pool.on_save``). An import writes whole batches with set-based SQL,
so each of those modules has a small batch twin that takes the batch's outcomes, called at the
same point of a batch as its per-record hook is of a save:

- while a batch is validated (so the preview shows it, and a row that breaks a rule fails
  alone): ``pipeline.prepare_import`` (a new or changed stage brings its probability unless a
  cell gives one; a lost-kind stage needs a reason) and ``activities.prepare_import`` (a done
  activity without ``done_at`` is stamped);
- in the writer, in the batch's transaction, before its ``INSERT``: ``leads.before_import``
  (new leads whose row names no owner take the assignment rule's, in file order, with the
  rule's row locked as for a single create; every lead is scored by the rules in one
  ``SELECT``);
- after its ``INSERT``/``UPDATE``: ``pipeline.after_import`` (the stage history rows, one
  ``INSERT``), ``pool.after_import`` (the customers' last-activity clocks, one
  ``UPDATE … FROM``) and ``leads.after_import`` (how many leads each member got). The counts
  are added up across batches in the job's checkpoint, and each member is told once when the
  import finishes (``leads.notify_imported``), not once per lead.

The preview writes nothing and takes no turn of the rotation: a new lead without an owner shows
"by the assignment rule". Imported won deals get no after-sale follow-ups (they would be dated
from the import, not from the win). The audit stays as it is: ``records.imported`` per batch and
``record.imported`` per record, with the values as written (owner and score included).
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import io
import json
import os
import queue
import re
import shutil
import threading
import uuid
import zipfile
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import IO, Any, cast
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import BigInteger, Text, any_, bindparam, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.exc import IntegrityError

from custom_fields import types
from custom_fields.definitions import FieldInfo, ObjectSchema
from custom_fields.errors import NotFound
from custom_fields.query.engine import SYSTEM_FIELDS
from custom_fields.query.scope import restricted
from custom_fields.types import Context, FieldValueError
from custom_fields.types.auto_number import period, render
from custom_fields.types.base import unique_key
from custom_fields.types.lookup import USER_TARGET
from saas import tracked
from saas.config import DATA_DIR
from saas.crm import activities, duplicates, leads, pipeline, pool
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.jobs import job
from saas.records import search, services
from saas.records.models import RECORD_TABLES, AutoNumberCounter, RecordColumns, UniqueValue
from saas.records.requester import Requester, acting_as
from tenants import audit, permissions
from tenants import services as tenant_services
from tenants.context import current_tenant_id, tenant_context
from tenants.errors import Forbidden
from tenants.models import ADMIN_ROLES, AuditEvent, Membership, Tenant

#: The largest file accepted.
MAX_BYTES = 20 * 1024 * 1024
#: The most rows (below the header) one import may hold.
MAX_ROWS = 100_000
MAX_COLUMNS = 600
#: What the unpacked parts of an XLSX file may add up to (a zip bomb stops here).
MAX_XLSX_UNPACKED = 400 * 1024 * 1024
PREVIEW_ROWS = 20
#: Rows validated and written per transaction.
BATCH = 1000
#: Uploaded files and error reports are deleted after this long.
KEEP_FOR = dt.timedelta(days=7)
JOB_KIND = "records.import"
POLICIES = ("skip", "update", "create")
SYSTEM_TARGETS = ("id", "name", "owner_id", "tags")
CURRENCY_SUFFIX = ".currency"

_ID = re.compile(r"^[0-9a-f]{32}$")
_META = "import.json"
_ROWS = "rows.csv"
_ERRORS = "errors"
#: Cells the export prefixed with ``'`` so that spreadsheets do not run them as formulas.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SPLIT = re.compile(r"\s*[;；,，、\n]\s*")
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_MIDNIGHT = re.compile(r"^(\d{4}-\d{1,2}-\d{1,2})[ T]00:00(:00(\.0+)?)?$")
_CURRENCY = re.compile(
    r"^(?:([A-Za-z]{3})\s*)?([-+]?[¥￥$€£]?\s*[-+]?[\d.,，\s]+)(?:\s*([A-Za-z]{3}))?$"
)


# ---- errors ---------------------------------------------------------------------------------


class ImportNotFound(NotFound):
    """No import with this id in this tenant (another tenant's id looks the same)."""


class AlreadyRun(DomainError):
    status = 409


# ---- the import and its files ---------------------------------------------------------------


@dataclass
class ImportFile:
    """An uploaded file and what was chosen for it (kept as ``import.json`` beside the rows)."""

    id: str
    object_key: str
    filename: str
    format: str
    encoding: str | None
    columns: list[str]
    rows: int
    created_by: int
    created_at: str
    mapping: dict[str, str | None] | None = None
    match_on: str | None = None
    policy: str = "skip"

    @property
    def job_id(self) -> str:
        return f"import:{self.id}"


def import_root() -> Path:
    """``IMPORT_DIR`` (config or environment), else ``<data folder>/imports``; a folder per
    tenant below it. Web processes and workers must share it."""
    configured = current_app.config.get("IMPORT_DIR") or os.environ.get("IMPORT_DIR")
    return Path(configured) if configured else DATA_DIR / "imports"


def _tenant_dir() -> Path:
    return import_root() / str(int(current_tenant_id()))


def _folder(import_id: str) -> Path:
    if not isinstance(import_id, str) or not _ID.match(import_id):
        raise ImportNotFound(_("There is no such import."))
    return _tenant_dir() / import_id


def _write_json(path: Path, value: Any) -> None:
    partial = path.with_name(f".{path.name}.part")
    partial.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
    os.replace(partial, path)


def _save(state: ImportFile) -> None:
    _write_json(_folder(state.id) / _META, asdict(state))


def load(import_id: str) -> ImportFile:
    """The import of this tenant with this id (404 otherwise)."""
    path = _folder(import_id) / _META
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ImportNotFound(_("There is no such import.")) from exc
    return ImportFile(**raw)


def sweep_expired(now: dt.datetime | None = None) -> int:
    """Delete this tenant's imports older than :data:`KEEP_FOR`; answers how many."""
    directory = _tenant_dir()
    if not directory.is_dir():
        return 0
    limit = (now or dt.datetime.now(dt.UTC)).timestamp() - KEEP_FOR.total_seconds()
    removed = 0
    for path in directory.iterdir():
        try:
            if path.is_dir() and _ID.match(path.name) and path.stat().st_mtime < limit:
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def _require_import_right(actor: Membership, object_key: str) -> None:
    """Importing creates records (and, with the "update" policy, changes them): it needs the
    create right on the object (the update policy checks the edit right)."""
    services.require_permission(
        actor, object_key, "create", _("Your role does not allow importing records.")
    )


def get_import(actor: Membership, import_id: str, object_key: str | None = None) -> ImportFile:
    """An import the person may see: their own (admins: any), of ``object_key`` when given."""
    state = load(import_id)
    if object_key is not None and state.object_key != object_key:
        raise ImportNotFound(_("There is no such import."))
    _require_import_right(actor, state.object_key)
    if state.created_by != actor.user_id and actor.role_key not in ADMIN_ROLES:
        raise Forbidden(_("Only the person who uploaded this file can use it."))
    return state


# ---- reading files --------------------------------------------------------------------------


def _too_large() -> DomainError:
    return DomainError(
        _("The file is larger than %(mb)d MB. Split it into smaller files.", mb=MAX_BYTES >> 20),
        field="file",
        status=413,
    )


def _read_upload(stream: IO[bytes]) -> bytes:
    data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise _too_large()
    return data


def _file_format(filename: str, data: bytes) -> str:
    suffix = Path(filename or "").suffix.lower()
    if suffix == ".xls":
        raise ValidationFailed(
            {"file": [_("Old Excel files (.xls) cannot be read: save it as .xlsx or CSV.")]}
        )
    if suffix in (".xlsx", ".xlsm") or data.startswith(b"PK\x03\x04"):
        return "xlsx"
    if suffix in ("", ".csv", ".txt", ".tsv"):
        return "csv"
    raise ValidationFailed({"file": [_("Choose a CSV or XLSX file.")]})


def _decode(data: bytes) -> tuple[str, str]:
    """The text of a CSV file and its encoding: UTF-8 (with or without a byte-order mark),
    UTF-16 with a byte-order mark, else GB18030 (what Excel saves in Chinese Windows)."""
    if data.startswith(b"\xef\xbb\xbf"):
        candidates = [("utf-8-sig", data)]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = [("utf-16", data)]
    else:
        candidates = [("utf-8", data), ("gb18030", data)]
    for encoding, raw in candidates:
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise ValidationFailed(
        {"file": [_("The file's characters could not be read. Save it as CSV UTF-8 and retry.")]}
    )


def _delimiter(textual: str) -> str:
    first = textual.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _unquote(value: str) -> str:
    """A cell the export protected against formulas (``'=x``) back to what was stored."""
    if len(value) > 1 and value[0] == "'" and value[1] in _FORMULA_START:
        return value[1:]
    return value


def _csv_rows(data: bytes) -> tuple[Iterator[list[str]], str]:
    textual, encoding = _decode(data)
    reader = csv.reader(io.StringIO(textual, newline=""), delimiter=_delimiter(textual))

    def rows() -> Iterator[list[str]]:
        try:
            for row in reader:
                yield [_unquote(cell) for cell in row]
        except csv.Error as exc:
            raise ValidationFailed(
                {
                    "file": [
                        _(
                            "Row %(row)d could not be read: %(error)s",
                            row=reader.line_num,
                            error=str(exc),
                        )
                    ]
                }
            ) from exc

    return rows(), encoding


def _cell_text(value: Any) -> str:
    """A spreadsheet cell as the text a person would type."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def _xlsx_rows(data: bytes) -> Iterator[list[str]]:
    from openpyxl import load_workbook

    unreadable = ValidationFailed(
        {"file": [_("The file could not be read as an Excel workbook (.xlsx).")]}
    )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_XLSX_UNPACKED:
                raise _too_large()
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except DomainError:
        raise
    except Exception as exc:  # openpyxl raises many kinds for a broken or foreign file
        raise unreadable from exc
    try:
        sheet = workbook.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield [_cell_text(v) for v in row]
    except DomainError:
        raise
    except Exception as exc:
        raise unreadable from exc
    finally:
        workbook.close()


def _headers(raw: Sequence[str]) -> list[str]:
    """Column names: trimmed, blanks named by position, repeats numbered."""
    headers: list[str] = []
    seen: set[str] = set()
    for i, cell in enumerate(raw, start=1):
        name = " ".join(str(cell).split()) or _("Column %(n)d", n=i)
        unique_name, n = name, 2
        while unique_name.casefold() in seen:
            unique_name, n = f"{name} ({n})", n + 1
        seen.add(unique_name.casefold())
        headers.append(unique_name)
    return headers


def _normalise(rows: Iterator[list[str]], target: Path) -> tuple[list[str], int]:
    """Write the rows as UTF-8 CSV (first column: the row number in the file); answers the
    headers and the number of rows below them. Blank rows are left out."""
    header_row: list[str] | None = None
    number = 0
    for row in rows:
        number += 1
        if any(cell.strip() for cell in row):
            header_row = row
            break
    if header_row is None:
        raise ValidationFailed({"file": [_("The file is empty.")]})
    while header_row and not header_row[-1].strip():
        header_row = header_row[:-1]
    if len(header_row) > MAX_COLUMNS:
        raise ValidationFailed(
            {"file": [_("The file has more than %(n)d columns.", n=MAX_COLUMNS)]}
        )
    headers = _headers(header_row)
    width = len(headers)
    count = 0
    partial = target.with_name(f".{target.name}.part")
    with partial.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["#", *headers])
        for row in rows:
            number += 1
            cells = (row + [""] * width)[:width]
            if not any(cell.strip() for cell in cells):
                continue
            count += 1
            if count > MAX_ROWS:
                raise ValidationFailed(
                    {
                        "file": [
                            _(
                                "The file has more than %(n)s rows. Split it into smaller files.",
                                n=f"{MAX_ROWS:,}",
                            )
                        ]
                    }
                )
            writer.writerow([number, *cells])
    if not count:
        raise ValidationFailed({"file": [_("The file has no rows below the header.")]})
    os.replace(partial, target)
    return headers, count


def read_rows(state: ImportFile, start: int = 0, limit: int | None = None):
    """(row number in the file, cells) of the data rows from index ``start``."""
    path = _folder(state.id) / _ROWS
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        taken = 0
        for index, row in enumerate(reader):
            if index < start:
                continue
            if limit is not None and taken >= limit:
                return
            taken += 1
            yield int(row[0]), row[1:]


# ---- targets and the guessed mapping ----------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where a column's values go. ``match_only``: it can only find existing records."""

    key: str
    label: str
    info: FieldInfo | None = None
    match_only: bool = False
    matchable: bool = False
    #: Header texts that mean this target (any case and spacing).
    names: tuple[str, ...] = ()

    @property
    def field_key(self) -> str:
        return self.key.removesuffix(CURRENCY_SUFFIX)


def _system_label(key: str, locale: str) -> str:
    _kind, _column, label_en, label_zh = SYSTEM_FIELDS[key]
    return label_zh if locale.startswith("zh") else label_en


def _in_both(message: Callable[[], str]) -> tuple[str, ...]:
    texts = []
    for locale in ("en", "zh_CN"):
        with force_locale(locale):
            texts.append(message())
    return tuple(texts)


def targets(st: services.Store, actor: Membership, locale: str) -> dict[str, Target]:
    """Every target a column of this object may go to, for this person, by key."""
    found: dict[str, Target] = {}
    for key in SYSTEM_TARGETS:
        _kind, _column, label_en, label_zh = SYSTEM_FIELDS[key]
        synonyms = {
            "id": ("id", "record id", "记录编号"),
            "name": ("name",),
            "owner_id": ("owner", "owner_id", "owner email", "所有者", "负责人"),
            "tags": ("tags", "tag", "标签"),
        }[key]
        found[key] = Target(
            key,
            _system_label(key, locale),
            match_only=key == "id" or (key == "name" and bool(st.schema.name_pattern)),
            matchable=key in ("id", "name"),
            names=(label_en, label_zh, *synonyms),
        )
    for info in st.schema.fields:
        access = info.access_for(actor.role_key)
        if access == "hidden" or info.type == "formula":
            continue
        editable = access == "editable" and types.get(info.type).editable
        if not editable and not info.unique:
            continue
        label = info.spec.label(locale)
        found[info.key] = Target(
            info.key,
            label,
            info,
            match_only=not editable,
            matchable=info.unique,
            names=(info.key, info.spec.label_en, info.spec.label_zh),
        )
        if info.type == "currency" and editable:
            key = info.key + CURRENCY_SUFFIX
            en, zh = info.spec.label_en, info.spec.label_zh
            found[key] = Target(
                key,
                _("%(label)s (currency)", label=label),
                info,
                names=(
                    key,
                    *_in_both(lambda en=en: _("%(label)s (currency)", label=en)),
                    *_in_both(lambda zh=zh: _("%(label)s (currency)", label=zh)),
                    f"{zh}（币种）",
                    f"{zh}币种",
                    f"{en} currency",
                ),
            )
    return found


def _norm(text_value: str) -> str:
    return re.sub(r"[\s_\-*:：]+", "", str(text_value)).casefold()


def guess_mapping(columns: Sequence[str], found: Mapping[str, Target]) -> dict[str, str | None]:
    """Each column's target by its header (a field key, or an English or Chinese label; case
    and spaces do not matter); ``None`` when nothing matches. A target is guessed once."""
    index: dict[str, str] = {}
    for target in found.values():
        for name in target.names:
            index.setdefault(_norm(name), target.key)
    mapping: dict[str, str | None] = {}
    used: set[str] = set()
    for column in columns:
        key = index.get(_norm(column))
        if key is not None and key not in used:
            mapping[column] = key
            used.add(key)
        else:
            mapping[column] = None
    return mapping


def default_match(mapping: Mapping[str, str | None], found: Mapping[str, Target]) -> str | None:
    """The match key a new import starts with: ``id`` when a column holds it, else a unique
    field, else the name."""
    mapped = [k for k in mapping.values() if k]
    if "id" in mapped:
        return "id"
    for key in mapped:
        target = found.get(key)
        if target is not None and target.info is not None and target.matchable:
            return key
    return "name" if "name" in mapped else None


# ---- upload ---------------------------------------------------------------------------------


def upload(actor: Membership, object_key: str, filename: str, stream: IO[bytes]) -> ImportFile:
    """Read and keep an uploaded file; answers the import with its guessed mapping."""
    _require_import_right(actor, object_key)
    st = services.store(object_key)
    filename = Path(str(filename or "")).name[:200] or "import.csv"
    data = _read_upload(stream)
    if not data.strip():
        raise ValidationFailed({"file": [_("The file is empty.")]})
    fmt = _file_format(filename, data)
    sweep_expired()
    import_id = uuid.uuid4().hex
    folder = _tenant_dir() / import_id
    folder.mkdir(parents=True, mode=0o700)
    try:
        if fmt == "xlsx":
            rows, encoding = _xlsx_rows(data), None
        else:
            rows, encoding = _csv_rows(data)
        headers, count = _normalise(rows, folder / _ROWS)
        ctx = services.context()
        found = targets(st, actor, ctx.locale)
        mapping = guess_mapping(headers, found)
        state = ImportFile(
            id=import_id,
            object_key=st.schema.key,
            filename=filename,
            format=fmt,
            encoding=encoding,
            columns=headers,
            rows=count,
            created_by=actor.user_id,
            created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            mapping=mapping,
            match_on=default_match(mapping, found),
        )
        _save(state)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return state


# ---- the plan: mapping, match key and policy ------------------------------------------------


@dataclass
class Plan:
    """What an import does with each column, checked against the object and the person."""

    st: services.Store
    actor: Membership
    ctx: Context
    targets: dict[str, Target]
    #: column index → target
    columns: dict[int, Target]
    column_names: list[str]
    match: Target | None
    policy: str
    warnings: list[str] = field(default_factory=list)

    def column_of(self, key: str) -> str | None:
        for index, target in self.columns.items():
            if target.key == key:
                return self.column_names[index]
        return None


def plan(
    state: ImportFile,
    actor: Membership,
    mapping: Mapping[str, Any] | None,
    match_on: str | None,
    policy: str | None,
) -> Plan:
    """Check a mapping, match key and policy (400 naming each problem)."""
    st = services.store(state.object_key)
    ctx = services.context()
    found = targets(st, actor, ctx.locale)
    mapping = dict(mapping or {})
    errors: dict[str, list[str]] = {}
    columns: dict[int, Target] = {}
    used: dict[str, str] = {}
    positions = {name: i for i, name in enumerate(state.columns)}
    for column, key in mapping.items():
        if column not in positions:
            errors.setdefault("mapping", []).append(
                _("The file has no column “%(column)s”.", column=column)
            )
            continue
        if key in (None, ""):
            continue
        target = found.get(key) if isinstance(key, str) else None
        if target is None:
            errors[f"mapping.{column}"] = [
                _("“%(key)s” is not something a column can be imported into.", key=key)
            ]
            continue
        if target.key in used:
            errors[f"mapping.{column}"] = [
                _(
                    "“%(target)s” is already filled from the column “%(other)s”.",
                    target=target.label,
                    other=used[target.key],
                )
            ]
            continue
        used[target.key] = column
        columns[positions[column]] = target
    if match_on in (None, ""):
        match = None
    else:
        match = found.get(match_on) if isinstance(match_on, str) else None
        if match is None or not match.matchable:
            errors["match_on"] = [
                _("Records can be matched on the ID, the name or a unique field.")
            ]
            match = None
        elif match.key not in used:
            errors["match_on"] = [
                _("Map a column to “%(target)s” to match records on it.", target=match.label)
            ]
    policy = policy or "skip"
    if policy not in POLICIES:
        errors["policy"] = [_("Choose skip, update or create.")]
    elif policy == "update" and not permissions.allowed(actor, st.schema.key, "edit"):
        errors["policy"] = [_("Your role does not allow changing these records: skip or create.")]
    if not columns and "mapping" not in errors:
        errors["mapping"] = [_("Map at least one column to a field.")]
    if errors:
        raise ValidationFailed(errors)
    result = Plan(st, actor, ctx, found, columns, list(state.columns), match, policy)
    for index, target in list(columns.items()):
        if target.match_only and (match is None or match.key != target.key):
            del columns[index]
            result.warnings.append(
                _(
                    "The column “%(column)s” is ignored: “%(target)s” can only find existing "
                    "records. Choose it as the match key to use it.",
                    column=state.columns[index],
                    target=target.label,
                )
            )
        elif target.key.endswith(CURRENCY_SUFFIX) and target.field_key not in used:
            result.warnings.append(
                _(
                    "The column “%(column)s” is used only together with a column for “%(field)s”.",
                    column=state.columns[index],
                    field=target.info.spec.label(ctx.locale) if target.info else target.key,
                )
            )
    mapped = {t.key for t in columns.values()}
    if "name" not in mapped and not st.schema.name_pattern:
        result.warnings.append(_("No column goes to the name: new records cannot be created."))
    for info in st.schema.fields:
        if (
            info.spec.required
            and types.get(info.type).editable
            and info.access_for(actor.role_key) == "editable"
            and info.key not in mapped
            and info.default is None
        ):
            result.warnings.append(
                _(
                    "No column goes to the required field “%(field)s”: new records need a value.",
                    field=info.spec.label(ctx.locale),
                )
            )
    return result


# ---- turning cells into values --------------------------------------------------------------


@dataclass(frozen=True)
class CellError:
    row: int
    column: str
    value: str
    message: str


@dataclass
class Outcome:
    """What became of one row."""

    row: int
    action: str = "create"  # create, update, skip or error
    errors: list[CellError] = field(default_factory=list)
    system: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    existing: RecordColumns | None = None
    record_id: int | None = None
    note: str = ""
    raw: dict[str, str] = field(default_factory=dict)  # target key → cell text
    key: Any = None  # the match key's value
    #: An update: the version read and the values before (what the writer needs of the
    #: record, which itself stays with the session that read it).
    version: int | None = None
    before: dict[str, Any] | None = None
    before_data: dict[str, Any] | None = None
    search: str | None = None  # the search text, when validation could work it out
    duplicate_keys: frozenset[tuple[str, str]] | None = None  # (kind, key): saas.crm.duplicates
    #: The keys the row's cells gave (a workflow fills only what the row leaves open).
    sent: Collection[str] = ()
    #: A new record whose row names no owner: a lead takes the assignment rule's.
    auto_owner: bool = False


def _choice_index(info: FieldInfo) -> dict[str, str]:
    """Codes by code and by English and Chinese label (case-insensitive)."""
    index: dict[str, str] = {}
    for choice in info.spec.choices:
        index.setdefault(choice.code, choice.code)
    for choice in info.spec.choices:
        for text_value in (choice.code, choice.label_en, choice.label_zh):
            if text_value:
                index.setdefault(text_value.strip().casefold(), choice.code)
    return index


def _date_text(raw: str) -> str:
    match = _DATE.match(raw)
    if match:
        year, month, day = match.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"
    midnight = _MIDNIGHT.match(raw)
    return _date_text(midnight.group(1)) if midnight else raw


def _datetime_text(raw: str) -> str:
    head, sep, tail = raw.partition(" ")
    if _DATE.match(head):
        return _date_text(head) + (sep + tail if sep else "")
    return raw


def _currency_value(raw: str) -> Any:
    match = _CURRENCY.match(raw)
    if not match:
        return raw
    before, amount, after = match.groups()
    if before and after:
        return raw
    amount = re.sub(r"[¥￥$€£\s]", "", amount)
    code = before or after
    return {"amount": amount, "currency": code.upper()} if code else amount


class Converter:
    """Turns the cells of a batch of rows into payloads the record service takes."""

    def __init__(self, the_plan: Plan):
        self.plan = the_plan
        self.choices = {
            t.info.key: _choice_index(t.info)
            for t in the_plan.columns.values()
            if t.info is not None and t.info.type in ("picklist", "multi_picklist")
        }
        members = tenant_services.members()
        self.member_ids = {m.user_id for m in members if m.is_active}
        self.member_names = {m.user_id: m.user.display_name for m in members}
        self.by_email: dict[str, int] = {}
        self.by_name: dict[str, list[int]] = {}
        for m in members:
            if not m.is_active:
                continue
            self.by_email[m.user.email.casefold()] = m.user_id
            if m.user.name:
                self.by_name.setdefault(m.user.name.strip().casefold(), []).append(m.user_id)
        #: Lookups resolved for the current batch: target → text → id (or an error message).
        self.lookups: dict[str, dict[str, int | str]] = {}
        self.known: dict[str, set[int]] = {}

    # -- people

    def member(self, raw: str) -> int | str:
        """A member's id from an email, a name or an id (``#12``); else an error message."""
        value = raw.strip()
        if value.startswith("#") and value[1:].isdigit():
            value = value[1:]
        if value.isdigit() and int(value) in self.member_ids:
            return int(value)
        if value.casefold() in self.by_email:
            return self.by_email[value.casefold()]
        ids = self.by_name.get(value.casefold(), [])
        if len(ids) == 1:
            return ids[0]
        if len(ids) > 1:
            return _("Several members are called “%(name)s”: use the email.", name=value)
        return _("No active member has the email or name “%(value)s”.", value=value)

    # -- lookups, resolved a batch at a time

    def resolve_lookups(self, rows: Sequence[tuple[int, list[str]]]) -> None:
        self.lookups, self.known = {}, {}
        for index, target in self.plan.columns.items():
            if target.info is None or target.info.type != "lookup" or target.match_only:
                continue
            name = target.info.spec.options.get("target", "")
            texts = {cells[index].strip() for _row, cells in rows if cells[index].strip()}
            if texts:
                self._resolve(name, texts)

    def _resolve(self, target: str, texts: set[str]) -> None:
        found = self.lookups.setdefault(target, {})
        known = self.known.setdefault(target, set())
        if target == USER_TARGET:
            for value in texts:
                result = self.member(value)
                found[value] = result
                if isinstance(result, int):
                    known.add(result)
            return
        try:
            st = services.store(target)
        except NotFound:
            for value in texts:
                found[value] = _("The object “%(key)s” does not exist.", key=target)
            return
        ids: dict[str, int] = {}
        for value in texts:
            digits = value[1:] if value.startswith("#") else value
            if digits.isdigit() and 0 < int(digits) < 2**63:
                ids[value] = int(digits)
        existing: set[int] = set()
        if ids:
            stmt = st.query().where(st.model.id == _any(ids.values(), BigInteger))
            existing = set(db.session.execute(stmt.with_only_columns(st.model.id)).scalars())
        names = {v for v in texts if ids.get(v) not in existing}
        by_name: dict[str, list[int]] = {}
        if names:
            stmt = st.query().where(st.model.name == _any(names, Text))
            for record_id, name in db.session.execute(
                stmt.with_only_columns(st.model.id, st.model.name)
            ):
                by_name.setdefault(name, []).append(record_id)
        label = st.schema.label(self.plan.ctx.locale)
        for value in texts:
            if ids.get(value) in existing:
                found[value] = ids[value]
                known.add(ids[value])
            elif len(by_name.get(value, [])) == 1:
                found[value] = by_name[value][0]
                known.add(by_name[value][0])
            elif by_name.get(value):
                found[value] = _(
                    "Several %(object)s records are named “%(name)s”: use the ID.",
                    object=label,
                    name=value,
                )
            else:
                found[value] = _("There is no %(object)s “%(name)s”.", object=label, name=value)

    def lookup_exists(self, target: str, record_id: int) -> bool:
        return record_id in self.known.get(target, ())

    # -- one cell

    def value(self, target: Target, raw: str) -> Any:
        """The value to send to the record service, or raise ``FieldValueError``."""
        key = target.key
        if key == "owner_id":
            result = self.member(raw)
            if isinstance(result, str):
                raise FieldValueError(result)
            return result
        if key == "tags":
            return _SPLIT.sub(",", raw)
        if key == "name":
            return raw
        info = target.info
        assert info is not None
        kind = info.type
        if kind == "picklist":
            return self.choices[info.key].get(raw.strip().casefold(), raw)
        if kind == "multi_picklist":
            index = self.choices[info.key]
            whole = index.get(raw.strip().casefold())
            if whole is not None:
                return [whole]
            return [index.get(p.casefold(), p) for p in _SPLIT.split(raw.strip()) if p]
        if kind == "date":
            return _date_text(raw.strip())
        if kind == "datetime":
            return _datetime_text(raw.strip())
        if kind == "percent":
            return raw.strip().removesuffix("%").removesuffix("％")
        if kind == "currency":
            return _currency_value(raw.strip())
        if kind == "lookup":
            result = self.lookups.get(info.spec.options.get("target", ""), {}).get(raw.strip())
            if isinstance(result, str):
                raise FieldValueError(result)
            return result if result is not None else raw
        return raw


# ---- matching existing records --------------------------------------------------------------


def _match_value(conv: Converter, match: Target, raw: str) -> Any:
    """The form a match key is compared in (``None``: the row finds nothing)."""
    value = raw.strip()
    if not value:
        return None
    if match.key == "id":
        digits = value[1:] if value.startswith("#") else value
        return int(digits) if digits.isdigit() and 0 < int(digits) < 2**63 else None
    if match.key == "name":
        return value
    info = match.info
    assert info is not None
    field_type = types.get(info.type)
    if not field_type.editable:  # an auto-number: the text as it was assigned
        return unique_key(info.type, value)
    try:
        prepared = conv.value(match, value)
        stored = field_type.to_storage(field_type.clean(prepared, info.spec, conv.plan.ctx))
    except FieldValueError:
        return None
    return None if stored is None else unique_key(info.type, stored)


def _find(the_plan: Plan, keys: set[Any]) -> tuple[dict[Any, list[RecordColumns]], set[Any]]:
    """Records of the batch's match keys (those the person may see, not in the recycle bin),
    and the keys held by records they may not change (other people's, or in the bin)."""
    st, match = the_plan.st, the_plan.match
    assert match is not None
    if not keys:
        return {}, set()
    model = st.model
    hidden: set[Any] = set()
    claims: dict[str, int] = {}
    if match.key == "id":
        stmt = st.query().where(model.id == _any(keys, BigInteger))
        key_of: Callable[[RecordColumns], Any] = lambda r: r.id  # noqa: E731
    elif match.key == "name":
        stmt = st.query().where(model.name == _any(keys, Text))
        key_of = lambda r: r.name  # noqa: E731
    else:
        info = match.info
        assert info is not None
        claims = dict(
            db.session.execute(
                select(UniqueValue.value, UniqueValue.record_id).where(
                    UniqueValue.field_id == info.id, UniqueValue.value == _any(keys, Text)
                )
            ).all()
        )
        holders = {record_id: value for value, record_id in claims.items()}
        stmt = st.query().where(model.id == _any(holders, BigInteger))
        key_of = lambda r: holders[r.id]  # noqa: E731
    stmt = stmt.order_by(model.id)
    found: dict[Any, list[RecordColumns]] = {}
    for record in db.session.execute(stmt).scalars():
        found.setdefault(key_of(record), []).append(record)
    if match.info is not None:
        hidden = {value for value in claims if value not in found}
    if the_plan.policy == "update" and found and restricted(the_plan.actor, st.schema.key):
        # A match the person sees but may not change (shared to read only) is not theirs to
        # update: reported like other people's records, never written.
        ids = [r.id for rows in found.values() for r in rows]
        editable = set(
            db.session.execute(
                st.query(edit=True).where(model.id.in_(ids)).with_only_columns(model.id)
            ).scalars()
        )
        for key in [k for k, rows in found.items() if any(r.id not in editable for r in rows)]:
            del found[key]
            hidden.add(key)
    return found, hidden


# ---- a batch --------------------------------------------------------------------------------


#: Types whose cells go to the record service as they are (it reads the text itself).
_AS_IS = frozenset(
    {"name", "text", "long_text", "integer", "decimal", "email", "phone", "url", "boolean"}
)


class _IndexedSchema(ObjectSchema):
    """The object's schema with ``field(key)`` answered from a dict: validation asks it for
    every value of every row."""

    def field(self, key: str) -> FieldInfo | None:
        return self.__dict__["_index"].get(key)


def _indexed(schema: ObjectSchema) -> ObjectSchema:
    copy = _IndexedSchema(**{f.name: getattr(schema, f.name) for f in fields(schema)})
    object.__setattr__(copy, "_index", {f.key: f for f in schema.fields})
    return copy


@dataclass(frozen=True)
class _Actor:
    """What validation reads of the person (their role, many times a row), without the
    instrumented ORM attributes of a membership."""

    user_id: int
    role_key: str


class Batches:
    """Validates (and writes) an import's rows a batch at a time, remembering across batches
    which match keys and unique values earlier rows of the file used."""

    def __init__(self, the_plan: Plan, import_id: str):
        self.plan = the_plan
        self.import_id = import_id
        self.conv = Converter(the_plan)
        self.seen_keys: dict[Any, int] = {}
        self.seen_unique: dict[tuple[int, str], int] = {}
        self.unique_fields = [f for f in the_plan.st.schema.fields if f.unique]
        self.actor_id = the_plan.actor.user_id
        st = the_plan.st
        self._clean_store = services.Store(_indexed(st.schema), st.model, st.actor)
        self._clean_actor = cast(
            Membership, _Actor(the_plan.actor.user_id, the_plan.actor.role_key)
        )
        self._sequence: str | None = None
        self._reading = self._readers()
        # Customers, contacts and leads: duplicate keys, and under "skip" possible duplicates.
        self.duplicates = duplicates.ImportCheck.start(st.schema, the_plan.actor, the_plan.policy)
        # Numbers are given when writing: search text that holds one is made there too.
        self._late_search = bool(st.schema.name_pattern) or any(
            f.type == "auto_number" and f.searchable for f in st.schema.fields
        )

    # -- validation

    def _readers(self) -> list[tuple[int, Target, str]]:
        """How each mapped column is read: ``skip`` (only finds records, or a numbered name),
        ``code`` (a currency beside an amount), ``as_is`` (the record service reads the
        text itself) or ``convert`` (labels, dates, people, lookups… see :class:`Converter`)."""
        readers = []
        for index, target in sorted(self.plan.columns.items()):
            kind = target.info.type if target.info is not None else target.key
            if target.match_only or (kind == "name" and self.plan.st.schema.name_pattern):
                how = "skip"
            elif target.key.endswith(CURRENCY_SUFFIX):
                how = "code"
            elif kind in _AS_IS:
                how = "as_is"
            else:
                how = "convert"
            readers.append((index, target, how))
        return readers

    def _payload(self, outcome: Outcome, cells: list[str]) -> dict[str, Any]:
        the_plan, conv = self.plan, self.conv
        payload: dict[str, Any] = {}
        currencies: dict[str, str] = {}
        raws = outcome.raw
        for index, target, how in self._reading:
            raw = cells[index].strip()
            raws[target.key] = raw
            if not raw or how == "skip":
                continue
            if how == "as_is":
                payload[target.key] = raw
                continue
            if how == "code":
                currencies[target.field_key] = raw
                continue
            try:
                payload[target.key] = conv.value(target, raw)
            except FieldValueError as exc:
                label = target.info.spec.label(the_plan.ctx.locale) if target.info else ""
                message = f"{label}: {exc.message}" if label else exc.message
                outcome.errors.append(
                    CellError(outcome.row, the_plan.column_names[index], raw, message)
                )
        for key, code in currencies.items():
            amount = payload.get(key)
            if isinstance(amount, str):
                payload[key] = {"amount": amount, "currency": code.upper()}
        return payload

    def _error(self, outcome: Outcome, key: str, message: str) -> None:
        column = self.plan.column_of(key)
        if column is None:
            info = self.plan.st.schema.field(key)
            column = info.spec.label(self.plan.ctx.locale) if info else key
        value = outcome.raw.get(key, "")
        outcome.errors.append(CellError(outcome.row, column, value, message))

    def validate(self, rows: Sequence[tuple[int, list[str]]]) -> list[Outcome]:
        """Each row's outcome, checked as a single create or update would be, plus the match
        key and unique values against earlier rows of the file and the database."""
        the_plan, conv = self.plan, self.conv
        conv.resolve_lookups(rows)
        match = the_plan.match
        matching = match is not None and the_plan.policy != "create"
        keys: dict[int, Any] = {}
        found: dict[Any, list[RecordColumns]] = {}
        hidden: set[Any] = set()
        if matching:
            assert match is not None
            index = next(i for i, t in the_plan.columns.items() if t.key == match.key)
            for row, cells in rows:
                keys[row] = _match_value(conv, match, cells[index])
            found, hidden = _find(the_plan, {k for k in keys.values() if k is not None})
        outcomes: list[Outcome] = []
        for row, cells in rows:
            outcome = Outcome(row, key=keys.get(row))
            outcomes.append(outcome)
            if outcome.key is not None and self._matched(outcome, found, hidden):
                continue
            self._clean(outcome, cells)
        # The CRM's rules on the values themselves (see the module docstring).
        schema = the_plan.st.schema
        pipeline.prepare_import(schema, outcomes, self._error)
        activities.prepare_import(schema, outcomes)
        if self.duplicates is not None:
            self.duplicates.settle(outcomes, self._error)
        self._settle(outcomes, matching)
        if not self._late_search:
            # Here rather than in the writer, whose thread should mostly wait on the database.
            schema = the_plan.st.schema
            for outcome in outcomes:
                if outcome.action in ("create", "update"):
                    name = outcome.system.get("name", (outcome.before or {}).get("name"))
                    outcome.search = search_text(schema, name, outcome.data)
        return outcomes

    def _matched(
        self, outcome: Outcome, found: Mapping[Any, list[RecordColumns]], hidden: set[Any]
    ) -> bool:
        """Apply the policy to a row whose match key finds records; true when that settles
        the row (rows of the file that share a key are settled later, in :meth:`_settle`)."""
        match = self.plan.match
        assert match is not None
        matches = found.get(outcome.key, [])
        if self.plan.policy == "skip":
            if matches or outcome.key in hidden:
                outcome.action = "skip"
                outcome.note = _("A record with this %(key)s exists.", key=match.label)
                return True
            return False
        message = None
        if len(matches) > 1:
            message = _(
                "%(n)d records have this %(key)s: match on a unique field.",
                n=len(matches),
                key=match.label,
            )
        elif outcome.key in hidden:
            message = _(
                "A record you cannot change, or one in the recycle bin, has this %(key)s.",
                key=match.label,
            )
        elif matches:
            outcome.action = "update"
            outcome.existing = matches[0]
            outcome.record_id = matches[0].id
        if message is not None:
            self._error(outcome, match.key, message)
            outcome.action = "error"
            return True
        return False

    def _clean(self, outcome: Outcome, cells: list[str]) -> None:
        the_plan, conv = self.plan, self.conv
        # The record stays with the session that read it: outcomes keep plain values only.
        record, outcome.existing = outcome.existing, None
        creating = record is None
        payload = self._payload(outcome, cells)
        # A cell that could not be read is reported once; the others are still checked.
        unread = {e.column for e in outcome.errors}
        try:
            system, data = services.clean_values(
                self._clean_store,
                payload,
                self._clean_actor,
                current=record,
                ctx=the_plan.ctx,
                members=conv.member_ids,
                lookup_exists=conv.lookup_exists,
            )
        except ValidationFailed as err:
            for key_name, messages in err.errors.items():
                if self.plan.column_of(key_name) in unread:
                    continue
                for message in messages:
                    self._error(outcome, key_name, message)
            outcome.action = "error"
            return
        if outcome.errors:
            outcome.action = "error"
            return
        outcome.sent = payload.keys()
        if creating:
            outcome.auto_owner = "owner_id" not in system
            system.setdefault("owner_id", self.actor_id)
            system.setdefault("tags", [])
        else:
            assert record is not None
            if all(getattr(record, k) == v for k, v in system.items()) and data == record.data:
                outcome.action = "skip"
                outcome.note = _("Nothing to change.")
            outcome.version = record.version
            outcome.before = services.audited_values(record)
            outcome.before_data = dict(record.data)
        outcome.system, outcome.data = system, data

    def _unique_changes(self, outcome: Outcome) -> list[tuple[FieldInfo, str]]:
        changes = []
        for info in self.unique_fields:
            value = outcome.data.get(info.key)
            if value is None:
                continue
            if outcome.before_data is not None and outcome.before_data.get(info.key) == value:
                continue
            changes.append((info, unique_key(info.type, value)))
        return changes

    def _settle(self, outcomes: list[Outcome], matching: bool) -> None:
        """In file order: a match key an earlier row already used (skipped, or refused for an
        update), then unique values used by another record or by an earlier row."""
        writing = [o for o in outcomes if o.action in ("create", "update")]
        wanted = {o.row: self._unique_changes(o) for o in writing}
        pairs = {(info.id, key) for changes in wanted.values() for info, key in changes}
        holders = _holders(pairs)
        locale = self.plan.ctx.locale
        match = self.plan.match
        for outcome in outcomes:
            earlier = self.seen_keys.get(outcome.key) if matching else None
            if earlier and outcome.action in ("create", "update") and match is not None:
                message = _(
                    "Row %(row)d of this file has the same %(key)s.", row=earlier, key=match.label
                )
                if self.plan.policy == "skip":
                    outcome.action, outcome.note = "skip", message
                else:
                    self._error(outcome, match.key, message)
                    outcome.action = "error"
            if outcome.action in ("create", "update"):
                own = outcome.record_id if outcome.action == "update" else None
                for info, key in wanted[outcome.row]:
                    holder = holders.get((info.id, key))
                    if (info.id, key) in self.seen_unique:
                        message = _(
                            "Row %(row)d of this file has the same value.",
                            row=self.seen_unique[(info.id, key)],
                        )
                    elif holder is not None and holder != own:
                        message = _("This value is already used by another record.")
                    else:
                        continue
                    self._error(outcome, info.key, f"{info.spec.label(locale)}: {message}")
                    outcome.action = "error"
            if outcome.action in ("create", "update"):
                for info, key in wanted[outcome.row]:
                    self.seen_unique[(info.id, key)] = outcome.row
            if matching and outcome.key is not None and outcome.action != "error":
                self.seen_keys.setdefault(outcome.key, outcome.row)

    # -- writing

    def _ids(self, count: int) -> list[int]:
        table = self.plan.st.model.__table__
        if self._sequence is None:
            self._sequence = db.session.execute(
                text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}
            ).scalar_one()
        return list(
            db.session.execute(
                text("SELECT nextval(CAST(:s AS regclass)) FROM generate_series(1, :n)"),
                {"s": self._sequence, "n": count},
            ).scalars()
        )

    def _number(self, outcomes: list[Outcome]) -> None:
        """Auto-numbers (and numbered names) for the new records, reserved at once."""
        st = self.plan.st
        count = len(outcomes)
        tenant = db.session.get(Tenant, current_tenant_id())
        today = dt.datetime.now(ZoneInfo(tenant.timezone)).date()
        for info in st.schema.fields:
            if info.type != "auto_number":
                continue
            options = info.spec.options
            numbers = _reserve(
                f"field:{info.id}", options.get("start", 1), period(options, today), count
            )
            for outcome, number in zip(outcomes, numbers, strict=True):
                outcome.data[info.key] = render(options["pattern"], number, today)
        if st.schema.name_pattern:
            numbers = _reserve(
                f"object:{st.schema.id}:name", 1, period({"reset": "never"}, today), count
            )
            for outcome, number in zip(outcomes, numbers, strict=True):
                outcome.system["name"] = render(st.schema.name_pattern, number, today)

    def _claim(self, outcomes: list[Outcome]) -> None:
        """Claim the batch's unique values in one statement; a row that loses a race to
        another transaction fails here, before any of it is written."""
        rows: list[dict[str, Any]] = []
        by_pair: dict[tuple[int, str], Outcome] = {}
        for outcome in outcomes:
            for info, key in self._unique_changes(outcome):
                by_pair[(info.id, key)] = outcome
                rows.append({"field_id": info.id, "value": key, "record_id": outcome.record_id})
        self._inserted: set[tuple[int, str, int | None]] = set()
        if not rows:
            return
        tenant = current_tenant_id()
        claimed = {
            (f, v)
            for f, v in db.session.execute(
                text(_CLAIM), {"tenant": tenant, "rows": json.dumps(rows, ensure_ascii=False)}
            )
        }
        lost = [pair for pair in by_pair if pair not in claimed]
        failed: set[int] = set()
        if lost:
            # Held by the record itself (the same value in another case), or taken meanwhile.
            holders = _holders(lost)
            by_id = {f.id: f for f in self.unique_fields}
            for pair in lost:
                outcome = by_pair[pair]
                if holders.get(pair) == outcome.record_id:
                    continue
                info = by_id[pair[0]]
                label = info.spec.label(self.plan.ctx.locale)
                message = _("This value is already used by another record.")
                self._error(outcome, info.key, f"{label}: {message}")
                outcome.action = "error"
                failed.add(id(outcome))
            mine = [
                r
                for r in rows
                if id(by_pair[(r["field_id"], r["value"])]) in failed
                and (r["field_id"], r["value"]) in claimed
            ]
            if mine:
                db.session.execute(
                    text(_UNCLAIM), {"tenant": tenant, "rows": json.dumps(mine, ensure_ascii=False)}
                )
        self._inserted = {
            (r["field_id"], r["value"], r["record_id"])
            for r in rows
            if (r["field_id"], r["value"]) in claimed
            and id(by_pair[(r["field_id"], r["value"])]) not in failed
        }

    def _unclaim(self, outcomes: list[Outcome]) -> None:
        """Give back what :meth:`_claim` took for rows that fail after all."""
        ids = {o.record_id for o in outcomes}
        mine = [
            {"field_id": f, "value": v, "record_id": r} for f, v, r in self._inserted if r in ids
        ]
        if mine:
            db.session.execute(
                text(_UNCLAIM),
                {"tenant": current_tenant_id(), "rows": json.dumps(mine, ensure_ascii=False)},
            )

    def _release(self, updates: list[Outcome]) -> None:
        """Updated records give up the unique values they had before."""
        kept = [
            {"field_id": info.id, "record_id": o.record_id, "value": key}
            for o in updates
            for info, key in self._unique_changes(o)
        ]
        if kept:
            db.session.execute(
                text(_RELEASE),
                {"tenant": current_tenant_id(), "rows": json.dumps(kept, ensure_ascii=False)},
            )

    def write(self, outcomes: list[Outcome], first_row: int, last_row: int) -> dict[int, int]:
        """Write the rows that passed: one INSERT and one UPDATE, claims, numbers, the CRM's
        workflow rules (module docstring), audit. Answers how many leads each member got from
        someone else in this batch (to be told once, at the end).

        Updates carry the version validation read: a record changed (or deleted) since then
        is left as it is and its row fails."""
        st = self.plan.st
        creates = [o for o in outcomes if o.action == "create"]
        if creates:
            for outcome, record_id in zip(creates, self._ids(len(creates)), strict=True):
                outcome.record_id = record_id
            self._number(creates)
        for outcome in outcomes:
            if outcome.action == "update":
                old = outcome.before or {}
                outcome.system = {
                    "name": outcome.system.get("name", old.get("name")),
                    "owner_id": outcome.system.get("owner_id", old.get("owner_id")),
                    "tags": list(outcome.system.get("tags", old.get("tags") or [])),
                }
        # Owners and scores before the unique claims: locks are taken in the order a single
        # create takes them (auto-number counter, assignment rule, unique values). A new row
        # that then loses a unique value to a concurrent save has used its turn.
        actor = self._clean_actor
        leads.before_import(st, [o for o in outcomes if o.action in ("create", "update")], actor)
        self._claim([o for o in outcomes if o.action in ("create", "update")])
        creates = [o for o in creates if o.action == "create"]
        updates = [o for o in outcomes if o.action == "update"]
        table = st.model.__table__.name
        if table not in _TABLES:
            raise RuntimeError(f"unexpected record table {table}")
        tenant_id = current_tenant_id()
        if creates:
            db.session.execute(
                text(_INSERT.format(table=table) if not st.is_custom else _INSERT_CUSTOM),
                {
                    "tenant": tenant_id,
                    "actor": self.actor_id,
                    "object_id": st.schema.id,
                    "rows": _rowset(st, creates),
                },
            )
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        if updates:
            done = set(
                db.session.execute(
                    text(_UPDATE.format(table=table)),
                    {"tenant": tenant_id, "actor": self.actor_id, "rows": _rowset(st, updates)},
                ).scalars()
            )
            stale = [o for o in updates if o.record_id not in done]
            for outcome in stale:
                column = self.plan.match.key if self.plan.match else "name"
                self._error(
                    outcome,
                    column,
                    _(
                        "Someone changed or deleted this record during the import: it was "
                        "left as it was."
                    ),
                )
                outcome.action = "error"
            if stale:
                self._unclaim(stale)
            updates = [o for o in updates if o.action == "update"]
            self._release(updates)
            for outcome in updates:
                old = outcome.before or {}
                new = {**outcome.system, **outcome.data}
                changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
                before[str(outcome.record_id)] = {k: old.get(k) for k in changed}
                after[str(outcome.record_id)] = {k: new.get(k) for k in changed}
        if self.duplicates is not None:
            self.duplicates.write(creates, updates)
        pipeline.after_import(st, creates, updates, actor)
        pool.after_import(st.schema.key, creates, updates)
        given = leads.after_import(st, creates, updates, actor)
        if creates or updates:
            audit.record(
                "records.imported",
                st.schema.key,
                self.import_id,
                before={"updated": before} if updates else None,
                after={
                    "import": self.import_id,
                    "rows": [first_row, last_row],
                    "created": [o.record_id for o in creates],
                    "updated": after,
                },
                actor_user_id=self.actor_id,
            )
            # One event per record as well, so that a record's history reads it by its id.
            per_record = [
                {
                    "tenant_id": tenant_id,
                    "actor_user_id": self.actor_id,
                    "action": "record.imported",
                    "target_type": st.schema.key,
                    "target_id": str(o.record_id),
                    "before": None,
                    "after": {**o.system, **o.data, "_import": self.import_id},
                }
                for o in creates
            ] + [
                {
                    "tenant_id": tenant_id,
                    "actor_user_id": self.actor_id,
                    "action": "record.imported",
                    "target_type": st.schema.key,
                    "target_id": record_id,
                    "before": before[record_id],
                    "after": {**after[record_id], "_import": self.import_id},
                }
                for record_id in after
            ]
            db.session.execute(insert(AuditEvent.__table__), per_record)
        return given


@dataclass
class _Work:
    outcomes: list[Outcome]
    start: int  # index of the batch's first row among the file's data rows
    size: int


class _Writer:
    """Writes validated batches, in order, in a thread with a database connection of its own,
    while the job's thread validates the next batch: PostgreSQL works while Python does.

    Each batch is one transaction with the job's checkpoint (the index of the next row and the
    counts so far), so a job started again goes on after the last batch written."""

    def __init__(
        self,
        batches: Batches,
        state: ImportFile,
        job_id: str,
        requester: Requester,
        counts: dict[str, int],
        given: Mapping[int, int] | None = None,
    ):
        self.batches = batches
        self.state = state
        self.job_id = job_id
        self.counts = dict(counts)
        #: Leads each member got from someone else so far (kept in the checkpoint).
        self.given: dict[int, int] = dict(given or {})
        self.error: BaseException | None = None
        self._queue: queue.Queue[_Work | None] = queue.Queue(maxsize=1)
        self._thread = threading.Thread(
            target=self._loop,
            args=(current_app._get_current_object(), current_tenant_id(), requester),
            name=f"import-{state.id}",
            daemon=True,
        )
        self._thread.start()

    def submit(self, work: _Work) -> None:
        while True:
            self._raise()
            try:
                self._queue.put(work, timeout=0.1)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    self._raise()
                    raise RuntimeError("the import's writer stopped") from None

    def wait(self) -> None:
        """Until every batch handed over is written."""
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks and self._thread.is_alive():
                self._queue.all_tasks_done.wait(0.1)
        self._raise()

    def close(self) -> dict[str, int]:
        while self._thread.is_alive():
            try:
                self._queue.put(None, timeout=0.1)
                break
            except queue.Full:
                continue
        self._thread.join()
        self._raise()
        return self.counts

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def _loop(self, app: Any, tenant_id: int, requester: Requester) -> None:
        with app.app_context():
            try:
                with tenant_context(tenant_id), acting_as(requester):
                    while (work := self._queue.get()) is not None:
                        try:
                            if self.error is None:
                                self._write(work)
                        except BaseException as exc:  # handed to the job's thread
                            self.error = exc
                            db.session.rollback()
                        finally:
                            self._queue.task_done()
                    self._queue.task_done()
            except BaseException as exc:
                self.error = self.error or exc
            finally:
                db.session.remove()

    def _write(self, work: _Work) -> None:
        outcomes = work.outcomes
        batch_given = self.batches.write(outcomes, outcomes[0].row, outcomes[-1].row)
        counts = dict(self.counts)
        for outcome in outcomes:
            counts[_COUNTED[outcome.action]] += 1
        given = dict(self.given)
        for user_id, n in (batch_given or {}).items():
            given[user_id] = given.get(user_id, 0) + n
        _write_errors(self.state, work.start, outcomes)
        position = work.start + work.size
        checkpoint: dict[str, Any] = {**counts, "position": position}
        if given:
            checkpoint["assigned"] = {str(k): v for k, v in given.items()}
        db.session.execute(
            update(tracked.TrackedJob)
            .where(tracked.TrackedJob.id == self.job_id)
            .values(done=position, result=checkpoint)
        )
        db.session.commit()
        self.counts, self.given = counts, given


_COUNTED = {"create": "created", "update": "updated", "skip": "skipped", "error": "failed"}


def _reserve(counter: str, start: int, reset_period: str, count: int) -> list[int]:
    """``count`` consecutive numbers of an auto-number counter, in one statement."""
    table = AutoNumberCounter.__table__
    stmt = (
        insert(table)
        .values(
            tenant_id=current_tenant_id(),
            counter=counter,
            period=reset_period,
            last_value=start + count - 1,
        )
        .on_conflict_do_update(
            index_elements=["tenant_id", "counter", "period"],
            set_={"last_value": table.c.last_value + count},
        )
        .returning(table.c.last_value)
    )
    last = db.session.execute(stmt).scalar_one()
    return list(range(last - count + 1, last + 1))


_TABLES = frozenset(RECORD_TABLES)
_INSERT = (
    "INSERT INTO {table} (tenant_id, id, name, owner_id, created_by, updated_by, version, "
    "data, tags, search_text) "
    "SELECT :tenant, r.id, r.name, r.owner_id, :actor, :actor, 1, r.data, r.tags, r.search_text "
    "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(id bigint, name text, owner_id bigint, "
    "data jsonb, tags text[], search_text text)"
)
_INSERT_CUSTOM = """
INSERT INTO custom_records (tenant_id, object_id, id, name, owner_id, created_by, updated_by,
                            version, data, tags, search_text)
SELECT :tenant, :object_id, r.id, r.name, r.owner_id, :actor, :actor, 1, r.data, r.tags,
       r.search_text
FROM jsonb_to_recordset(CAST(:rows AS jsonb))
     AS r(id bigint, name text, owner_id bigint, data jsonb, tags text[], search_text text)
"""
_UPDATE = (
    "UPDATE {table} AS t SET name = r.name, owner_id = r.owner_id, data = r.data, "
    "tags = r.tags, search_text = r.search_text, version = t.version + 1, "
    "updated_by = :actor, updated_at = now() "
    "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(id bigint, version integer, name text, "
    "owner_id bigint, data jsonb, tags text[], search_text text) "
    "WHERE t.tenant_id = :tenant AND t.id = r.id AND t.version = r.version "
    "AND t.deleted_at IS NULL RETURNING t.id"
)
_CLAIM = """
INSERT INTO unique_values (tenant_id, field_id, value, record_id)
SELECT :tenant, r.field_id, r.value, r.record_id
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(field_id bigint, value text, record_id bigint)
ON CONFLICT DO NOTHING RETURNING field_id, value
"""
_UNCLAIM = """
DELETE FROM unique_values AS u
USING jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(field_id bigint, value text, record_id bigint)
WHERE u.tenant_id = :tenant AND u.field_id = r.field_id AND u.value = r.value
  AND u.record_id = r.record_id
"""
_RELEASE = """
DELETE FROM unique_values AS u
USING jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(field_id bigint, value text, record_id bigint)
WHERE u.tenant_id = :tenant AND u.field_id = r.field_id AND u.record_id = r.record_id
  AND u.value <> r.value
"""
_HOLDERS = """
SELECT u.field_id, u.value, u.record_id
FROM unique_values AS u
JOIN jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(field_id bigint, value text)
  ON u.field_id = r.field_id AND u.value = r.value
WHERE u.tenant_id = :tenant
"""


def _any(values: Iterable[Any], kind: Any) -> Any:
    """``= ANY(:array)``: one parameter however many values (an IN list binds each)."""
    return any_(bindparam(None, list(values), type_=ARRAY(kind)))


def _holders(pairs: Iterable[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """Which record holds each (field id, unique value), for those held."""
    rows = [{"field_id": f, "value": v} for f, v in pairs]
    if not rows:
        return {}
    return {
        (f, v): r
        for f, v, r in db.session.execute(
            text(_HOLDERS),
            {"tenant": current_tenant_id(), "rows": json.dumps(rows, ensure_ascii=False)},
        )
    }


def _rowset(st: services.Store, outcomes: list[Outcome]) -> str:
    """The records of a batch as one JSON parameter (``jsonb_to_recordset``)."""
    return json.dumps(
        [
            {
                "id": o.record_id,
                "version": o.version,
                "name": o.system.get("name"),
                "owner_id": o.system.get("owner_id"),
                "data": o.data,
                "tags": o.system.get("tags") or [],
                "search_text": o.search
                if o.search is not None
                else search_text(st.schema, o.system.get("name"), o.data),
            }
            for o in outcomes
        ],
        ensure_ascii=False,
    )


# ---- search text, fast ------------------------------------------------------------------------
#
# ``search.record_text`` converts each Chinese text to pinyin with pypinyin, which segments the
# text into words and converts word by word. Company and person names share most of their
# words (有限公司, 上海, 科技…), so converting each word once per process and joining the
# results gives the very same text at a fraction of the cost; ``tests/test_import.py`` checks
# that both agree.


@lru_cache(maxsize=50_000)
def _word_pinyin(word: str) -> tuple[str, str]:
    from pypinyin import Style, lazy_pinyin

    syllables = [p for p in lazy_pinyin([word], errors="ignore") if p.strip()]
    initials = [p for p in lazy_pinyin([word], style=Style.FIRST_LETTER, errors="ignore") if p]
    return "".join(syllables), "".join(initials)


def _pinyin_forms(text_value: str) -> list[str]:
    if not search._HAN.search(text_value):
        return []
    from pypinyin.seg.simpleseg import seg

    words = [_word_pinyin(word) for word in seg(text_value)]
    return [
        "".join(w[0] for w in words).lower(),
        "".join(w[1] for w in words).lower(),
    ]


def search_text(schema: Any, name: str | None, data: Mapping[str, Any]) -> str:
    """What :func:`saas.records.search.record_text` gives, with pinyin cached per word."""
    values = [
        (info.type, data.get(info.key))
        for info in schema.fields
        if info.searchable or info.type in search.ALWAYS_SEARCHED
    ]
    parts: list[str] = []
    for item in [name or ""] + [t for _type, v in values for t in search._flat(v)]:
        item = item.strip().lower()
        if not item:
            continue
        parts.append(item)
        parts.extend(_pinyin_forms(item))
        digits = _NOT_DIGIT.sub("", item)
        if len(digits) >= 5 and digits != item:
            parts.append(digits)
    return " ".join(dict.fromkeys(parts))[: search.MAX_SEARCH_TEXT]


_NOT_DIGIT = re.compile(r"\D")


# ---- preview --------------------------------------------------------------------------------


@dataclass
class PreviewRow:
    row: int
    action: str
    note: str
    #: column → text as it will be stored (in the person's language)
    cells: dict[str, str]
    #: column → messages; errors about fields without a column are under their label
    errors: dict[str, list[str]]


@dataclass
class Preview:
    columns: list[str]
    rows: list[PreviewRow]
    warnings: list[str]
    counts: dict[str, int]
    total: int
    match_on: str | None
    policy: str


def _display(
    the_plan: Plan, conv: Converter, outcome: Outcome, target: Target, by_rule: bool = False
) -> str:
    """A value of a previewed row as it will look once stored (``by_rule``: a new lead without
    an owner gets the assignment rule's, which the preview does not pick)."""
    key = target.key
    if outcome.action in ("error", "skip"):
        return outcome.raw.get(key, "")
    if target.match_only or key == "id":
        return outcome.raw.get(key, "")
    if key == "name":
        if the_plan.st.schema.name_pattern and outcome.action == "create":
            return _("(numbered on import)")
        return outcome.system.get("name") or outcome.raw.get(key, "")
    if key == "owner_id":
        if by_rule and outcome.action == "create" and outcome.auto_owner:
            return _("by the assignment rule")
        owner = outcome.system.get("owner_id")
        return conv.member_names.get(owner, "") if owner else ""
    if key == "tags":
        return ", ".join(outcome.system.get("tags") or [])
    info = target.info
    assert info is not None
    stored = outcome.data.get(info.key)
    if stored is None:
        return ""
    if key.endswith(CURRENCY_SUFFIX):
        return stored.get("currency", "") if isinstance(stored, dict) else ""
    field_type = types.get(info.type)
    if info.type == "lookup":
        return outcome.raw.get(key, "")
    return field_type.display(field_type.from_storage(stored), info.spec, the_plan.ctx)


#: "The choice kept from the last preview (or guessed at upload)".
SAVED: Any = object()


def _choices(state: ImportFile, mapping: Any, match_on: Any, policy: Any) -> tuple[Any, Any, Any]:
    return (
        state.mapping if mapping is SAVED or mapping is None else mapping,
        state.match_on if match_on is SAVED else match_on,
        state.policy if policy is SAVED or policy is None else policy,
    )


def preview(
    actor: Membership,
    import_id: str,
    object_key: str | None = None,
    mapping: Mapping[str, Any] | None = SAVED,
    match_on: str | None = SAVED,
    policy: str | None = SAVED,
) -> Preview:
    """The first rows as they would be stored, with each cell's errors; nothing is written.
    The choices are kept for the run."""
    state = get_import(actor, import_id, object_key)
    _not_started(state)
    mapping, match_on, policy = _choices(state, mapping, match_on, policy)
    the_plan = plan(state, actor, mapping, match_on, policy)
    state.mapping = {column: (mapping or {}).get(column) or None for column in state.columns}
    state.match_on = the_plan.match.key if the_plan.match else None
    state.policy = the_plan.policy
    _save(state)
    batches = Batches(the_plan, state.id)
    rows = list(read_rows(state, 0, PREVIEW_ROWS))
    outcomes = batches.validate(rows)
    counts = {"create": 0, "update": 0, "skip": 0, "error": 0}
    shown: list[PreviewRow] = []
    mapped = sorted(the_plan.columns.items())
    # New leads without an owner take the rule's when written; the preview takes no turn.
    by_rule = the_plan.st.schema.key == "lead" and leads.rule_assigns()
    warnings = list(the_plan.warnings)
    if by_rule and the_plan.column_of("owner_id") is None:
        warnings.append(
            _("No column goes to the owner: new leads get theirs from the assignment rule.")
        )
    with force_locale(the_plan.ctx.locale):
        for outcome in outcomes:
            counts[outcome.action] += 1
            errors: dict[str, list[str]] = {}
            for error in outcome.errors:
                errors.setdefault(error.column, []).append(error.message)
            cells = {
                the_plan.column_names[i]: _display(the_plan, batches.conv, outcome, target, by_rule)
                for i, target in mapped
            }
            shown.append(PreviewRow(outcome.row, outcome.action, outcome.note, cells, errors))
    return Preview(
        columns=[the_plan.column_names[i] for i, _t in mapped],
        rows=shown,
        warnings=warnings,
        counts=counts,
        total=state.rows,
        match_on=state.match_on,
        policy=state.policy,
    )


# ---- running --------------------------------------------------------------------------------


def _not_started(state: ImportFile) -> None:
    if tracked.get_job(state.job_id) is not None:
        raise AlreadyRun(
            _("This file has already been imported. Upload it again to import it once more.")
        )


def start(
    actor: Membership,
    import_id: str,
    object_key: str | None = None,
    mapping: Mapping[str, Any] | None = SAVED,
    match_on: str | None = SAVED,
    policy: str | None = SAVED,
) -> tracked.TrackedJob:
    """Queue the import (once: a second start is a 409). Choices not given are the ones of
    the last preview (or the guess)."""
    state = get_import(actor, import_id, object_key)
    _not_started(state)
    mapping, match_on, policy = _choices(state, mapping, match_on, policy)
    the_plan = plan(state, actor, mapping, match_on, policy)
    chosen = {the_plan.column_names[i]: t.key for i, t in the_plan.columns.items()}
    params = {
        "import_id": state.id,
        "mapping": chosen,
        "match_on": the_plan.match.key if the_plan.match else None,
        "policy": the_plan.policy,
        "requester": Requester.current().to_json(),
    }
    row = tracked.start(
        state.job_id,
        JOB_KIND,
        run_import,
        params=params,
        created_by=actor.user_id,
        total=state.rows,
    )
    audit.record(
        "import.started",
        state.object_key,
        state.id,
        after={
            "file": state.filename,
            "rows": state.rows,
            "mapping": chosen,
            "match_on": params["match_on"],
            "policy": the_plan.policy,
        },
    )
    try:
        db.session.commit()
    except IntegrityError as exc:  # the same import started at the same moment elsewhere
        db.session.rollback()
        raise AlreadyRun(
            _("This file has already been imported. Upload it again to import it once more.")
        ) from exc
    return row


def _errors_dir(state: ImportFile) -> Path:
    return _folder(state.id) / _ERRORS


def _write_errors(state: ImportFile, start_index: int, outcomes: Iterable[Outcome]) -> None:
    """The batch's errors, in a file named by its first row: a batch done again after a
    crash rewrites its own file."""
    rows = [asdict(e) for o in outcomes for e in o.errors]
    directory = _errors_dir(state)
    path = directory / f"{start_index:07d}.json"
    if not rows:
        path.unlink(missing_ok=True)
        return
    directory.mkdir(exist_ok=True)
    _write_json(path, rows)


def _run(
    job_id: str,
    state: ImportFile,
    actor: Membership,
    params: Mapping[str, Any],
    requester: Requester,
) -> tuple[dict[str, int], dict[int, int]]:
    """Validate and write the rows from the checkpoint on; answers the counts and how many
    leads each member got from someone else."""
    the_plan = plan(state, actor, params["mapping"], params["match_on"], params["policy"])
    job_row = tracked.get_job(job_id)
    checkpoint = dict((job_row.result or {}) if job_row is not None else {})
    counts = {k: int(checkpoint.get(k, 0)) for k in ("created", "updated", "skipped", "failed")}
    given = {int(k): int(v) for k, v in (checkpoint.get("assigned") or {}).items()}
    position = int(checkpoint.get("position", 0))
    tracked.progress(job_id, position, state.rows)
    batches = Batches(the_plan, state.id)
    # A lookup to the object being imported may name a record of an earlier batch: that one
    # must be written before the next batch is checked.
    in_order = any(
        t.info is not None
        and t.info.type == "lookup"
        and t.info.spec.options.get("target") == state.object_key
        for t in the_plan.columns.values()
    )
    db.session.commit()
    writer = _Writer(batches, state, job_id, requester, counts, given)
    # Each row makes a few dozen short-lived objects: the cyclic collector need not look at
    # them (nor at everything the process had before) a thousand times a batch.
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    try:
        rows_iter = read_rows(state, position)
        while batch := list(islice(rows_iter, BATCH)):
            if in_order:
                writer.wait()
            outcomes = batches.validate(batch)
            db.session.rollback()  # end the reads; the writer's connection does the writing
            writer.submit(_Work(outcomes, position, len(batch)))
            position += len(batch)
    finally:
        try:
            counts = writer.close()
        finally:
            gc.set_threshold(*threshold)
            gc.unfreeze()
    return counts, writer.given


@job
def run_import(
    job_id: str,
    import_id: str,
    mapping: dict[str, str],
    match_on: str | None,
    policy: str,
    requester: dict[str, Any],
) -> None:
    """The job behind :func:`start`: a batch per transaction, resumable after a crash."""
    tracked.begin(job_id)
    try:
        with acting_as(Requester.from_json(requester)) as actor:
            state = load(import_id)
            params = {"mapping": mapping, "match_on": match_on, "policy": policy}
            counts, given = _run(job_id, state, actor, params, Requester.from_json(requester))
            result = {**counts, "rows": state.rows, "errors": counts["failed"] > 0}
            audit.record(
                "import.finished",
                state.object_key,
                state.id,
                after={"file": state.filename, **result},
            )
            db.session.commit()
            tracked.progress(job_id, state.rows, state.rows)
            # One notification per member for the whole import, committed with the job's end
            # (a job run again after a crash before this point tells them once all the same).
            leads.notify_imported(given, actor, state.id)
            tracked.finish(job_id, result)
    except DomainError as exc:
        tracked.fail(job_id, exc.message)
    except Exception as exc:
        tracked.crashed(job_id, exc)
        raise


# ---- status and the error report ------------------------------------------------------------


@dataclass
class Status:
    """An import as people see it: the file, the choices, the job and its counts."""

    state: ImportFile
    job: tracked.TrackedJob | None

    @property
    def status(self) -> str:
        return "uploaded" if self.job is None else self.job.status

    @property
    def finished(self) -> bool:
        return self.job is not None and self.job.status in ("succeeded", "failed")

    @property
    def counts(self) -> dict[str, int] | None:
        if self.job is None or not self.job.result:
            return None
        result = self.job.result
        return {k: int(result.get(k, 0)) for k in ("created", "updated", "skipped", "failed")}

    def to_json(self) -> dict[str, Any]:
        job_row = self.job
        return {
            "id": self.state.id,
            "object_key": self.state.object_key,
            "filename": self.state.filename,
            "format": self.state.format,
            "rows": self.state.rows,
            "columns": self.state.columns,
            "mapping": self.state.mapping,
            "match_on": self.state.match_on,
            "policy": self.state.policy,
            "status": self.status,
            "done": job_row.done if job_row is not None else 0,
            "total": job_row.total if job_row is not None else self.state.rows,
            "result": self.counts,
            "error": job_row.error if job_row is not None else None,
            "job_id": self.state.job_id if job_row is not None else None,
        }


def status(actor: Membership, import_id: str, object_key: str | None = None) -> Status:
    state = get_import(actor, import_id, object_key)
    return Status(state, tracked.get_job(state.job_id))


def error_count(state: ImportFile) -> int:
    directory = _errors_dir(state)
    if not directory.is_dir():
        return 0
    return sum(
        len(json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(directory.glob("*.json"))
    )


def error_report(actor: Membership, import_id: str, object_key: str | None = None):
    """(download name, CSV chunks): row, column, value and message of every error, UTF-8 with
    a byte-order mark so that Excel reads Chinese right."""
    state = get_import(actor, import_id, object_key)
    directory = _errors_dir(state)
    paths = sorted(directory.glob("*.json")) if directory.is_dir() else []
    header = [_("Row"), _("Column"), _("Value"), _("Error")]

    def chunks() -> Iterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        yield b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")
        for path in paths:
            buffer.seek(0)
            buffer.truncate()
            for error in json.loads(path.read_text(encoding="utf-8")):
                value = str(error["value"])
                if value.startswith(_FORMULA_START):
                    value = "'" + value
                writer.writerow([error["row"], error["column"], value, error["message"]])
            yield buffer.getvalue().encode("utf-8")

    stem = Path(state.filename).stem or "import"
    return f"{stem}-errors.csv", chunks()


def template_csv(actor: Membership, object_key: str) -> tuple[str, bytes]:
    """A CSV with one header per column people usually fill, in their language."""
    _require_import_right(actor, object_key)
    st = services.store(object_key)
    ctx = services.context()
    found = targets(st, actor, ctx.locale)
    headers = [
        t.label
        for t in found.values()
        if not t.match_only and t.key != "id" and not t.key.endswith(CURRENCY_SUFFIX)
    ]
    buffer = io.StringIO()
    csv.writer(buffer).writerow(headers)
    name = re.sub(r'[\x00-\x1f\\/:*?"<>|]', " ", st.schema.plural(ctx.locale)).strip()
    return f"{name or st.schema.key}-template.csv", b"\xef\xbb\xbf" + buffer.getvalue().encode(
        "utf-8"
    )


def summary(counts: Mapping[str, int]) -> str:
    """The result in one sentence, in the person's language."""
    # TRANSLATORS: the separator between the parts of a bulk action's summary.
    return _(", ").join(
        [
            ngettext("%(num)d created", "%(num)d created", counts.get("created", 0)),
            ngettext("%(num)d updated", "%(num)d updated", counts.get("updated", 0)),
            ngettext("%(num)d skipped", "%(num)d skipped", counts.get("skipped", 0)),
            ngettext("%(num)d failed", "%(num)d failed", counts.get("failed", 0)),
        ]
    )
