"""The database indexes behind a field's ``indexed`` flag.

An indexed field gets per-tenant partial expression indexes on its object's record table, for
example for a currency field ``budget`` of tenant 42::

    CREATE INDEX CONCURRENTLY cf_t42_f17_s_<hash> ON accounts
        ((CAST(accounts.data #>> '{budget, amount}' AS NUMERIC)) NULLS FIRST, id)
        WHERE tenant_id = 42 AND deleted_at IS NULL

* The expression is the field type's own ``sort_sql`` / ``sql`` compiled with literal values by
  the dialect the app runs on, so it is the expression the query engine emits, and the planner
  matches it once the engine's bound values are substituted in a custom plan. PostgreSQL
  indexes only IMMUTABLE expressions: that is why a date's and a date-time's SQL is built with
  ``make_date``/``make_timestamp`` from the stored digits rather than cast from text (a cast
  reads ``DateStyle``/``TimeZone``).
* The predicate is what the engine adds to every query (the tenant as a literal, live records,
  the custom object's id), so the index holds one tenant's live rows and only its queries use it.
* Empty values sort first going up, last going down (the engine's default), so one index with
  ``NULLS FIRST`` serves both directions, the descending one by a backward scan.
* Text and picklist fields also get extended statistics on the filtered expression: the
  planner has no statistics of expressions that only partial indexes cover.
* A name is the tenant, the field and a hash of the definition: the same definition always has
  the same name, and a changed one (a picklist's value order, a new type) gets a new name, so
  making the database match is "create the planned names that are missing, drop the others".

The app role cannot create indexes: a tracked job connects as the owner with autocommit and
runs ``CREATE``/``DROP INDEX CONCURRENTLY``, so records stay writable while an index builds.
``FieldDefinition.index_state`` says ``building``, ``ready`` or ``failed`` (null: no index).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import psycopg
from flask import current_app
from flask_babel import gettext as _
from psycopg import sql
from sqlalchemy import Table, select
from sqlalchemy.engine import Dialect, make_url

from custom_fields import types
from custom_fields.models import FieldDefinition, ObjectDefinition
from saas import tracked
from saas.extensions import db
from saas.jobs import job
from tenants import audit
from tenants.context import current_tenant_id

#: Text-like kinds are filtered with ILIKE (equals, contains, starts/ends with): trigram GIN.
TEXT_KINDS = frozenset({"text"})
#: Rounds of "make the database match, check the field did not change meanwhile" per job.
MAX_ROUNDS = 5
#: How long a build may wait for transactions that were open when it started.
LOCK_TIMEOUT = "10min"


@dataclass(frozen=True)
class PlannedIndex:
    """One index an indexed field should have: its name and the statement that builds it."""

    name: str
    #: ``sort`` (B-tree on the sort expression), ``value`` (B-tree on the filtered value when
    #: it differs), ``text`` (trigram GIN for ILIKE), ``choices`` (GIN for ?| and ?&), or
    #: ``statistics`` (not an index: extended statistics on the filtered value).
    role: str
    ddl: str


_LETTERS = {"sort": "s", "value": "v", "text": "t", "choices": "c", "statistics": "x"}


def job_id(field_id: int) -> str:
    return f"field-index:{field_id}"


def name_prefix(tenant_id: int, field_id: int) -> str:
    """Every index of a field starts with this (at most 46 characters with the suffix)."""
    return f"cf_t{int(tenant_id)}_f{int(field_id)}_"


def _store(obj: ObjectDefinition) -> tuple[Table, int | None]:
    """The record table of an object and, for a custom object, its id (part of the predicate)."""
    from saas.records.models import STANDARD_MODELS, CustomRecord

    if obj.is_standard and obj.key in STANDARD_MODELS:
        return STANDARD_MODELS[obj.key].__table__, None
    return CustomRecord.__table__, obj.id


def _sql(expr: Any, dialect: Dialect) -> str:
    return str(expr.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def plan(
    field: FieldDefinition, obj: ObjectDefinition, tenant_id: int, dialect: Dialect
) -> list[PlannedIndex]:
    """The indexes ``field`` should have now (none unless it is indexed and not deleted)."""
    if not field.indexed or field.deleted_at is not None or field.type == "formula":
        # A formula is computed from other fields when read: nothing stored to index.
        return []
    from custom_fields.services import _spec

    field_type = types.get(field.type)
    spec = _spec(field)
    table, object_id = _store(obj)
    value = _sql(field_type.sql(table.c.data, field.key, spec), dialect)
    ordered = _sql(field_type.sort_sql(table.c.data, field.key, spec), dialect)
    where = f"tenant_id = {int(tenant_id)} AND deleted_at IS NULL"
    if object_id is not None:
        where += f" AND object_id = {int(object_id)}"
    wanted: list[tuple[str, str, str]] = []  # (role, method, columns)
    if field.type == "multi_picklist":
        wanted.append(("choices", "gin", f"({value})"))
    elif field.type == "lookup":
        # The engine sorts a lookup by the target's name (a sub-select): only filters on the id.
        wanted.append(("value", "btree", f"({value})"))
    else:
        # id last: ties of the sort value come in id order, as the engine's last sort key asks.
        wanted.append(("sort", "btree", f"({ordered}) NULLS FIRST, id"))
        if value != ordered:
            wanted.append(("value", "btree", f"({value})"))
        if field_type.kind in TEXT_KINDS:
            wanted.append(("text", "gin", f"({value}) gin_trgm_ops"))
    planned = []
    prefix = name_prefix(tenant_id, field.id)
    for role, method, columns in wanted:
        body = f"ON {table.name} USING {method} ({columns}) WHERE {where}"
        name = f"{prefix}{_LETTERS[role]}_{_digest(body)}"
        planned.append(
            PlannedIndex(name, role, f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} {body}")
        )
    if field_type.kind in ("text", "choice"):
        # The planner reads no statistics of an expression that only partial indexes have, so
        # every filter on the field would be guessed to keep 0.5 % of the rows (any equality)
        # and a good index path could lose to a worse one. Statistics on the expression give it
        # the values' distribution. They cover the whole table, every tenant's rows, so only an
        # expression that cannot fail qualifies: a cast would meet another tenant's value of
        # another type under the same key, and ANALYZE of the table would fail for everyone.
        body = f"ON ({value}) FROM {table.name}"
        name = f"{prefix}x_{_digest(body)}"
        planned.append(
            PlannedIndex(name, "statistics", f"CREATE STATISTICS IF NOT EXISTS {name} {body}")
        )
    return planned


def _digest(body: str) -> str:
    return hashlib.sha1(body.encode(), usedforsecurity=False).hexdigest()[:8]


def _object(field: FieldDefinition) -> ObjectDefinition:
    return db.session.execute(
        select(ObjectDefinition).where(ObjectDefinition.id == field.object_id)
    ).scalar_one()


def signature(field: FieldDefinition) -> tuple[str, ...]:
    """The names of the indexes ``field`` should have: when it changes, the job must run."""
    return tuple(
        p.name for p in plan(field, _object(field), current_tenant_id(), db.engine.dialect)
    )


def schedule(field: FieldDefinition, *, created_by: int | None) -> tracked.TrackedJob | None:
    """After a change that may change ``field``'s indexes (flag, type, picklist order, delete or
    restore), in the caller's transaction: mark the state and queue the job that makes the
    database match once the caller commits. Nothing happens for a field without indexes that
    wants none."""
    wanted = bool(signature(field))
    if not wanted and field.index_state is None:
        return None
    field.index_state = "building" if wanted else None
    return tracked.start(
        job_id(field.id),
        "field.index",
        run_indexing,
        params={"field_id": field.id},
        created_by=created_by,
    )


def suspend_for_conversion(field_id: int) -> None:
    """In a conversion job, before its transaction: drop the field's indexes and statistics
    (their expressions are the old type's) and say the index is being rebuilt."""
    db.session.commit()  # a concurrent drop waits for older transactions, ours included
    with _owner_connection() as conn:
        for name in existing(conn, current_tenant_id(), field_id):
            _drop(conn, name)
    field = _field(field_id)
    if field is not None and field.indexed:
        field.index_state = "building"
    db.session.commit()


def resume_after_conversion(conversion_job_id: str, field_id: int) -> None:
    """When a conversion job ends, whatever the outcome (unless RQ will run it again): queue
    the index job for the type the field has now."""
    db.session.rollback()
    conversion = tracked.get_job(conversion_job_id)
    if conversion is not None and conversion.status in tracked.ACTIVE:
        return  # crashed and queued again: the next attempt drops and resumes
    field = _field(field_id)
    if field is not None:
        schedule(field, created_by=None)
    db.session.commit()


# ---------------------------------------------------------------- the job


def _owner_connection() -> psycopg.Connection:
    """Autocommit connection as the owner: ``CREATE INDEX CONCURRENTLY`` needs both."""
    url = make_url(current_app.config["KEHU_SETTINGS"].owner_database_url)
    conn = psycopg.connect(
        url.set(drivername="postgresql").render_as_string(hide_password=False),
        autocommit=True,
        application_name="kehu-indexing",
    )
    timeout = current_app.config.get("KEHU_INDEX_LOCK_TIMEOUT", LOCK_TIMEOUT)
    conn.execute("SELECT set_config('statement_timeout', '0', false)")
    conn.execute("SELECT set_config('lock_timeout', %s, false)", (timeout,))
    conn.execute("SELECT set_config('maintenance_work_mem', '128MB', false)")
    return conn


def existing(conn: psycopg.Connection, tenant_id: int, field_id: int) -> dict[str, bool]:
    """Names of a field's indexes and statistics present in the database, with whether each is
    valid (a failed concurrent build leaves an invalid index behind)."""
    pattern = name_prefix(tenant_id, field_id).replace("_", r"\_") + "%"
    rows = conn.execute(
        """
        SELECT c.relname, i.indisvalid
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname LIKE %(p)s AND c.relnamespace = current_schema()::regnamespace
        UNION ALL
        SELECT stxname, true FROM pg_statistic_ext
        WHERE stxname LIKE %(p)s AND stxnamespace = current_schema()::regnamespace
        """,
        {"p": pattern},
    ).fetchall()
    return {name: valid for name, valid in rows}


def _drop(conn: psycopg.Connection, name: str) -> None:
    if name.split("_")[3] == "x":
        conn.execute(sql.SQL("DROP STATISTICS IF EXISTS {}").format(sql.Identifier(name)))
    else:
        conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(name)))


class BuildFailed(Exception):
    """Postgres refused to build an index; ``message`` is shown to people."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _explain(exc: psycopg.Error) -> str:
    primary = exc.diag.message_primary or str(exc)
    return _("The database could not build the index: %(error)s", error=primary)


def _apply(
    conn: psycopg.Connection, table: str, tenant_id: int, field_id: int, wanted: list[PlannedIndex]
) -> tuple[list[str], list[str]]:
    """Create the planned indexes that are missing, drop the others; returns (created, dropped)."""
    present = existing(conn, tenant_id, field_id)
    names = {p.name for p in wanted}
    dropped = [n for n, valid in present.items() if n not in names or not valid]
    for name in dropped:
        _drop(conn, name)
    created = []
    for planned in wanted:
        if present.get(planned.name):
            continue
        try:
            conn.execute(planned.ddl)
        except psycopg.errors.QueryCanceled:
            _drop(conn, planned.name)
            raise  # a lock timeout: worth retrying later
        except psycopg.Error as exc:
            _drop(conn, planned.name)
            raise BuildFailed(_explain(exc)) from exc
        created.append(planned.name)
    if created:
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))  # fills the statistics
    return created, dropped


def _describe_target(field: FieldDefinition) -> str:
    return f"{_object(field).key}.{field.key}"


def _field(field_id: int, *, lock: bool = False) -> FieldDefinition | None:
    stmt = select(FieldDefinition).where(FieldDefinition.id == field_id)
    return db.session.execute(stmt.with_for_update() if lock else stmt).scalar_one_or_none()


def _retrying() -> bool:
    from rq import get_current_job

    rq_job = get_current_job()
    return rq_job is not None and (rq_job.retries_left or 0) > 0


@job
def run_indexing(job_id: str, field_id: int) -> None:
    """Make the database's indexes of one field match what the field asks for."""
    tracked.begin(job_id)
    tenant_id = current_tenant_id()
    created: list[str] = []
    dropped: list[str] = []
    try:
        for _round in range(MAX_ROUNDS):
            field = _field(field_id)
            wanted, table = [], ""
            if field is not None:
                obj = _object(field)
                wanted, table = plan(field, obj, tenant_id, db.engine.dialect), _store(obj)[0].name
            total = len(wanted)
            # A concurrent build waits for every transaction older than it in this database,
            # ours included: end it before touching the indexes.
            db.session.commit()
            tracked.progress(job_id, 0, total)
            with _owner_connection() as conn:
                made, gone = _apply(conn, table, tenant_id, field_id, wanted)
            created += made
            dropped += gone
            tracked.progress(job_id, total, total)
            field = _field(field_id, lock=True)
            now = plan(field, _object(field), tenant_id, db.engine.dialect) if field else []
            if [p.name for p in now] != [p.name for p in wanted]:
                db.session.commit()  # changed while we worked: another round
                continue
            if field is not None:
                field.index_state = "ready" if wanted else None
                if created or dropped:
                    audit.record(
                        "field.index_ready" if wanted else "field.index_dropped",
                        "field",
                        _describe_target(field),
                        after={"indexes": [p.name for p in wanted], "dropped": dropped},
                    )
            tracked.finish(job_id, {"indexes": [p.name for p in wanted], "dropped": dropped})
            return
        raise RuntimeError(f"field {field_id} kept changing while its indexes were built")
    except BuildFailed as exc:
        db.session.rollback()
        field = _field(field_id)
        if field is not None and field.indexed:
            field.index_state = "failed"
            audit.record(
                "field.index_failed", "field", _describe_target(field), after={"error": exc.message}
            )
            db.session.commit()
        tracked.fail(job_id, exc.message)  # the same definition would fail again: no retry
    except Exception as exc:
        db.session.rollback()
        field = _field(field_id)
        if field is not None and field.index_state == "building" and not _retrying():
            field.index_state = "failed"  # the last attempt: say so rather than "building"
            db.session.commit()
        tracked.crashed(job_id, exc)
        raise
