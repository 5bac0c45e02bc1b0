"""Database provisioning: the unprivileged app role, migrations as the owner, grants."""

from __future__ import annotations

import logging
import time

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from saas.config import Settings

log = logging.getLogger(__name__)


def _libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _define_role(conn: psycopg.Connection, role: str, attributes: str, password: str) -> None:
    """CREATE or ALTER a login role. Roles belong to the whole server, so processes migrating
    their own databases at the same moment (parallel test sessions, two app hosts) may define
    the same role together: PostgreSQL then refuses one with "tuple concurrently updated" or
    "already exists", and that one tries again."""
    for attempt in range(8):
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        statement = sql.SQL("{} ROLE {} " + attributes + " PASSWORD {}").format(
            sql.SQL("ALTER" if exists else "CREATE"), sql.Identifier(role), sql.Literal(password)
        )
        try:
            conn.execute(statement)
            return
        except (psycopg.errors.DuplicateObject, psycopg.errors.InternalError_) as exc:
            concurrent = isinstance(exc, psycopg.errors.DuplicateObject) or (
                "concurrently" in str(exc)
            )
            if not concurrent or attempt == 7:
                raise
            time.sleep(0.05 * (attempt + 1))


def ensure_app_role(settings: Settings) -> None:
    """Create the login role the app connects as: owns nothing, no BYPASSRLS, no superuser."""
    if settings.app_database_url:
        return  # the operator provisioned it
    with psycopg.connect(_libpq_url(settings.database_url), autocommit=True) as conn:
        _define_role(
            conn,
            settings.app_db_role,
            "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE",
            settings.app_db_password,
        )


def ensure_reader_role(settings: Settings) -> bool:
    """Create the list reader: may log in and bypass row-level security, owns nothing and is
    granted SELECT on record tables only. Needs a superuser owner; without one, lists read
    through the app role (slower filters, same results)."""
    if settings.reader_database_url or not settings.reader_runtime_url:
        return False
    role = settings.reader_db_role
    with psycopg.connect(_libpq_url(settings.database_url), autocommit=True) as conn:
        try:
            _define_role(
                conn,
                role,
                "LOGIN NOSUPERUSER BYPASSRLS NOCREATEDB NOCREATEROLE",
                settings.reader_db_password,
            )
        except psycopg.errors.InsufficientPrivilege:
            log.warning("cannot create the list reader role %s: lists read as the app role", role)
            return False
    return True


def grant_reader_role(settings: Settings) -> None:
    """SELECT on the record tables, on the records shared beyond a data scope, and on users'
    names (lists sort people by name)."""
    from saas.records.models import RECORD_TABLES

    url = settings.reader_runtime_url
    if not url:
        return
    role = make_url(url).username
    database = make_url(settings.database_url).database
    ident = sql.Identifier(role)
    with psycopg.connect(_libpq_url(settings.database_url), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            return
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), ident)
        )
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident))
        conn.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(ident))
        for table in (*RECORD_TABLES, "record_shares"):
            conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(table), ident))
        conn.execute(sql.SQL("GRANT SELECT (id, name, email) ON users TO {}").format(ident))


def grant_app_role(settings: Settings) -> None:
    """Give the app role data access (never ownership) to every table the migrations made."""
    role = make_url(settings.runtime_database_url).username
    database = make_url(settings.database_url).database
    ident = sql.Identifier(role)
    with psycopg.connect(_libpq_url(settings.database_url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), ident)
        )
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident))
        conn.execute(
            sql.SQL(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}"
            ).format(ident)
        )
        conn.execute(
            sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(ident)
        )
        conn.execute(sql.SQL("REVOKE ALL ON TABLE alembic_version FROM {}").format(ident))


def migrate(settings: Settings) -> None:
    """Apply migrations as the owner role, then (re)grant the app role."""
    from flask_migrate import upgrade

    from saas.app import create_app

    ensure_app_role(settings)
    ensure_reader_role(settings)
    app = create_app(settings, SQLALCHEMY_DATABASE_URI=settings.owner_database_url)
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        from saas.extensions import db

        db.engine.dispose()
    grant_app_role(settings)
    grant_reader_role(settings)
