"""The tenant context of the current unit of work, and how it reaches the ORM and Postgres.

Every query on a model that mixes in :class:`TenantScoped` gets ``tenant_id = <current>`` added
by a ``do_orm_execute`` hook; with no tenant in context the query raises instead of widening.
Independently, each database transaction sets ``app.tenant_id`` (and ``app.user_id``) with
``set_config(..., true)`` so that Postgres row-level security filters what the ORM missed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    ForeignKey,
    Table,
    Text,
    cast,
    event,
    func,
    literal,
)
from sqlalchemy.orm import (
    Mapped,
    ORMExecuteState,
    Session,
    declared_attr,
    mapped_column,
    scoped_session,
    with_loader_criteria,
)
from sqlalchemy.sql.util import find_tables

from tenants.errors import MissingTenantContext, TenantMismatch

#: ``Session.info`` key marking a list reader's session (``custom_fields.query.reader``).
READER_INFO = "kehu_list_reader"

#: Execution option for the few reads that are cross-tenant by design (a user's own memberships).
CROSS_TENANT_OPTION = "kehu_cross_tenant"

_tenant: ContextVar[int | None] = ContextVar("kehu_tenant_id", default=None)
_user: ContextVar[int | None] = ContextVar("kehu_user_id", default=None)


#: Names of every tenant-owned table, filled in as the models are declared.
TENANT_TABLES: set[str] = set()


class TenantScoped:
    """Mixin for tenant-owned models: ``tenant_id`` leads the primary key and is filtered always."""

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        table_name = cls.__dict__.get("__tablename__")
        if table_name:
            TENANT_TABLES.add(table_name)

    @declared_attr
    def tenant_id(cls) -> Mapped[int]:
        return mapped_column(
            BigInteger,
            ForeignKey("tenants.id", ondelete="CASCADE"),
            primary_key=True,
            sort_order=-100,  # first column, so it leads the primary key and every index
        )


def current_tenant_id() -> int:
    """The tenant in context; raises :class:`MissingTenantContext` when there is none."""
    tenant_id = _tenant.get()
    if tenant_id is None:
        raise MissingTenantContext("no tenant in context for a tenant-owned table")
    return tenant_id


def peek_tenant_id() -> int | None:
    return _tenant.get()


def current_user_id() -> int | None:
    return _user.get()


#: ``Session.info`` key: the (tenant, user) settings the open transaction already has, so that
#: entering a tenant whose settings a statement just set costs no extra round trip.
_APPLIED = "kehu_gucs_applied"


def _values() -> tuple[str, str]:
    tenant_id, user_id = _tenant.get(), _user.get()
    return ("" if tenant_id is None else str(tenant_id), "" if user_id is None else str(user_id))


def _push_to_database(session: Session) -> None:
    """Re-apply the GUCs to a transaction that is already open (unless it has them already)."""
    if isinstance(session, scoped_session):
        session = session()
    if session.in_transaction() and session.info.get(_APPLIED) != _values():
        _apply_gucs(session, session.connection())


def _apply_gucs(session: Session, connection) -> None:
    values = _values()
    connection.exec_driver_sql(
        "SELECT set_config('app.tenant_id', %s, true), set_config('app.user_id', %s, true)",
        values,
    )
    session.info[_APPLIED] = values


def guc_columns(tenant_id: Any, user_id: Any) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """``set_config`` columns for the statement that finds the tenant or the user: selecting
    them sets ``app.tenant_id`` / ``app.user_id`` for the rest of the transaction from the row
    found (a column, or a value; ``None`` is unset), in the same round trip. The caller then
    calls :func:`applied` with the values and sets the context as usual (which pushes nothing
    more). Use them only in statements on tables without row-level security, or where the row
    is found by the tenant already in effect: the settings apply after the row is read."""

    def text_of(value: Any) -> ColumnElement[Any]:
        if value is None:
            return literal("")
        if isinstance(value, (int, str)):
            return literal(str(value))
        return cast(value, Text)  # a column of the row found

    return (
        func.set_config("app.tenant_id", text_of(tenant_id), True).label("_kehu_tenant_guc"),
        func.set_config("app.user_id", text_of(user_id), True).label("_kehu_user_guc"),
    )


def applied(session: Session | scoped_session, tenant_id: int | None, user_id: int | None) -> None:
    """Record that a statement with :func:`guc_columns` set these values in the open
    transaction."""
    if isinstance(session, scoped_session):
        session = session()
    if session.in_transaction():
        session.info[_APPLIED] = (
            "" if tenant_id is None else str(tenant_id),
            "" if user_id is None else str(user_id),
        )


def set_tenant(tenant_id: int | None, session: Session | scoped_session | None = None) -> None:
    """Enter a tenant (``None`` leaves it) for the rest of this request or job."""
    _tenant.set(tenant_id)
    if session is not None:
        _push_to_database(session)


def set_user(user_id: int | None, session: Session | scoped_session | None = None) -> None:
    _user.set(user_id)
    if session is not None:
        _push_to_database(session)


@contextmanager
def tenant_context(
    tenant_id: int | None,
    session: Session | scoped_session | None = None,
    user_id: int | None = None,
) -> Iterator[None]:
    """Run a block inside a tenant (used by jobs, CLI commands and tests)."""
    tenant_token = _tenant.set(tenant_id)
    user_token = _user.set(user_id)
    if session is not None:
        _push_to_database(session)
    try:
        yield
    finally:
        _tenant.reset(tenant_token)
        _user.reset(user_token)
        if session is not None:
            _push_to_database(session)


def clear() -> None:
    _tenant.set(None)
    _user.set(None)


@event.listens_for(Session, "after_begin")
def _on_begin(session: Session, transaction, connection) -> None:
    if session.info.get(READER_INFO):
        return  # the list reader bypasses row-level security: the settings would change nothing
    if _values() == ("", ""):
        # Nothing to set: both settings are transaction-local (``set_config(…, true)``) and the
        # app never sets them for a session, so a new transaction starts without them.
        session.info[_APPLIED] = ("", "")
        return
    _apply_gucs(session, connection)


@event.listens_for(Session, "after_transaction_end")
def _on_end(session: Session, transaction) -> None:
    # Also a savepoint's end: rolled back, it restores the settings from before it.
    session.info.pop(_APPLIED, None)


def _touches_tenant_table(statement) -> bool:
    """Whether any FROM of the statement, subqueries included, is a tenant table.

    Walking the FROMs (not only the selected entities) catches ``select(func.count())
    .select_from(Model)`` and subqueries, which select no tenant entity themselves.
    """
    for found in find_tables(
        statement, include_aliases=True, include_crud=True, include_selects=True
    ):
        if isinstance(found, Table) and found.name in TENANT_TABLES:
            return True
    return False


def _selects_from_tenant_table(statement) -> bool:
    """The cheap check first: a tenant table among the tables a SELECT's columns come from."""
    for found in getattr(statement, "columns_clause_froms", ()):
        if isinstance(found, Table) and found.name in TENANT_TABLES:
            return True
    return False


@event.listens_for(Session, "do_orm_execute")
def _scope_queries(state: ORMExecuteState) -> None:
    if state.is_column_load or state.is_relationship_load:
        return  # the parent query already carried the criteria
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.execution_options.get(CROSS_TENANT_OPTION):
        return  # an explicitly cross-tenant read; row-level security still applies
    if not _selects_from_tenant_table(state.statement) and not _touches_tenant_table(
        state.statement
    ):
        return
    tenant_id = current_tenant_id()
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantScoped,
            lambda cls: cls.tenant_id == tenant_id,
            include_aliases=True,
            propagate_to_loaders=True,
        )
    )


@event.listens_for(Session, "before_flush")
def _stamp_new_rows(session: Session, flush_context, instances) -> None:
    for obj in [*session.new, *session.dirty, *session.deleted]:
        if not isinstance(obj, TenantScoped):
            continue
        tenant_id = current_tenant_id()
        if obj.tenant_id is None:
            obj.tenant_id = tenant_id
        elif obj.tenant_id != tenant_id:
            raise TenantMismatch(
                f"{type(obj).__name__} belongs to tenant {obj.tenant_id}, context is {tenant_id}"
            )
