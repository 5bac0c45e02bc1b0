"""Database provisioning: the unprivileged app role, migrations as the owner, grants."""

from __future__ import annotations

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from saas.config import Settings


def _libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def ensure_app_role(settings: Settings) -> None:
    """Create the login role the app connects as: owns nothing, no BYPASSRLS, no superuser."""
    if settings.app_database_url:
        return  # the operator provisioned it
    role = settings.app_db_role
    with psycopg.connect(_libpq_url(settings.database_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL(
                "{} ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD {}"
            ).format(sql.SQL(verb), sql.Identifier(role), sql.Literal(settings.app_db_password))
        )


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
    app = create_app(settings, SQLALCHEMY_DATABASE_URI=settings.owner_database_url)
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        from saas.extensions import db

        db.engine.dispose()
    grant_app_role(settings)
