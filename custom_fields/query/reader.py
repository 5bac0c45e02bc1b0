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
from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app
from sqlalchemy import create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from saas.extensions import db

log = logging.getLogger(__name__)
_KEY = "kehu_list_reader"
READER_INFO = "kehu_list_reader"


def _engine():
    app = current_app._get_current_object()
    if _KEY in app.extensions:
        return app.extensions[_KEY]
    settings = app.config.get("KEHU_SETTINGS")
    url = settings.reader_runtime_url if settings is not None else None
    engine = None
    if url and app.config.get("KEHU_LIST_READER", True):
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}))
        connect_args = dict(options.get("connect_args", {}))
        connect_args["application_name"] = "kehu-lists"
        options["connect_args"] = connect_args
        engine = create_engine(url, **options)
        try:
            with engine.connect():
                pass
        except OperationalError as exc:
            log.warning("list reader unavailable, lists read as the app role: %s", exc.orig)
            engine.dispose()
            engine = None
    app.extensions[_KEY] = engine
    return engine


def available() -> bool:
    return _engine() is not None


@contextmanager
def reading() -> Iterator[Session]:
    """A session for one list query: the reader's (read-only, closed afterwards) or the app's."""
    engine = _engine()
    if engine is None:
        yield db.session
        return
    session = Session(engine, info={READER_INFO: True})
    try:
        yield session
    finally:
        session.close()


def dispose(app) -> None:
    engine = app.extensions.pop(_KEY, None)
    if engine is not None:
        engine.dispose()


@event.listens_for(Session, "do_orm_execute")
def _no_cross_tenant_reads(state) -> None:
    from tenants.context import CROSS_TENANT_OPTION

    if state.session.info.get(READER_INFO) and state.execution_options.get(CROSS_TENANT_OPTION):
        raise RuntimeError("the list reader never reads across tenants")
