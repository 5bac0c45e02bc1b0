"""Where list queries read: the list reader role when there is one, else the app's session.

Under row-level security PostgreSQL evaluates a query's own conditions only after the policy,
and may use them in an index only when every function in them is leakproof; no JSONB
expression, numeric comparison or ``ILIKE`` is. So with the policy on, indexes on custom fields
serve sorting but not filtering (see bench/RESULTS.md). The list reader is a separate login that
bypasses row-level security and may only SELECT record tables and users' names; isolation of
its reads rests on the two tenant conditions every engine query carries (the ORM criteria and
the engine's tenant literal), and a reader session refuses cross-tenant reads outright.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app
from sqlalchemy import create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from saas.extensions import db
from tenants.context import READER_INFO

log = logging.getLogger(__name__)
_KEY = "kehu_list_reader"


_lock = threading.Lock()
#: ``connection.info`` key: the (statement_timeout, TimeZone) a reader connection has.
_SETTINGS = "kehu_reader_settings"
#: A connection whose statement timeout was set lower than this is closed after use: the next
#: query would have to raise it by a statement that itself runs under the low limit.
_LOW_TIMEOUT_MS = 1000


def _engine():
    app = current_app._get_current_object()
    if _KEY in app.extensions:
        return app.extensions[_KEY]
    with _lock:  # gunicorn threads: one engine (and pool) per app, not one per thread
        if _KEY not in app.extensions:
            app.extensions[_KEY] = _create_engine(app)
    return app.extensions[_KEY]


def _create_engine(app):
    settings = app.config.get("KEHU_SETTINGS")
    url = settings.reader_runtime_url if settings is not None else None
    if not url or not app.config.get("KEHU_LIST_READER", True):
        return None
    # The app's options (pool, pre-ping, connect arguments), but autocommit: a list reads
    # with single statements that change nothing, so no BEGIN and ROLLBACK round trips (each
    # statement has its own snapshot, as under READ COMMITTED in a transaction). Its settings
    # are the session's, set when they differ (``settle``).
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}))
    connect_args = dict(options.get("connect_args", {}))
    connect_args["application_name"] = "kehu-lists"
    options["connect_args"] = connect_args
    options["isolation_level"] = "AUTOCOMMIT"
    engine = create_engine(url, **options)
    event.listen(engine, "checkin", _close_if_low_timeout)
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        log.warning("list reader unavailable, lists read as the app role: %s", exc.orig)
        engine.dispose()
        return None
    return engine


def _close_if_low_timeout(dbapi_connection, record) -> None:
    settings = record.info.get(_SETTINGS)
    if dbapi_connection is not None and settings and int(settings[0]) < _LOW_TIMEOUT_MS:
        record.invalidate()  # the next checkout connects afresh, with the default timeout


def available() -> bool:
    return _engine() is not None


@contextmanager
def reading() -> Iterator[Session]:
    """A session for one list query: the reader's (read-only, autocommit, closed afterwards) or
    the app's."""
    engine = _engine()
    if engine is None:
        yield db.session
        return
    session = Session(engine, info={READER_INFO: True})
    try:
        yield session
    finally:
        session.close()


def is_reader(session: Session) -> bool:
    return bool(session.info.get(READER_INFO))


def settle(session: Session, timeout_ms: int, zone: str) -> None:
    """Give a reader's connection this statement timeout and time zone (the company's: formulas
    using TODAY() compute on its date), unless it has them from an earlier list."""
    connection = session.connection()
    wanted = (str(timeout_ms), zone)
    if connection.info.get(_SETTINGS) == wanted:
        return
    connection.info.pop(_SETTINGS, None)  # unknown until the statement succeeds
    connection.exec_driver_sql(
        "SELECT set_config('statement_timeout', %s, false), set_config('TimeZone', %s, false)",
        wanted,
    )
    connection.info[_SETTINGS] = wanted


def dispose(app) -> None:
    engine = app.extensions.pop(_KEY, None)
    if engine is not None:
        engine.dispose()


@event.listens_for(Session, "do_orm_execute")
def _no_cross_tenant_reads(state) -> None:
    from tenants.context import CROSS_TENANT_OPTION

    if state.session.info.get(READER_INFO) and state.execution_options.get(CROSS_TENANT_OPTION):
        raise RuntimeError("the list reader never reads across tenants")
