"""Small helpers shared by the server-rendered views."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app
from flask_wtf import FlaskForm

from saas.errors import DomainError, ValidationFailed


def attach_errors(form: FlaskForm, err: DomainError) -> None:
    """Show a service error next to the field it names (or at the top of the form)."""
    errors = err.errors if isinstance(err, ValidationFailed) else {err.field or "": [err.message]}
    for name, messages in errors.items():
        field = getattr(form, name, None) if name else None
        if field is not None and hasattr(field, "errors"):
            field.errors = [*list(field.errors), *messages]
        else:
            form.form_errors.extend(messages)


def safe_next(target: str | None, default: str) -> str:
    """Only same-site relative paths are followed after login (no open redirects)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def base_url() -> str:
    return current_app.config["KEHU_SETTINGS"].base_url


def start_browser_session(user) -> None:
    """Log ``user`` in with a fresh, revocable server-side session."""
    from flask import request, session
    from flask_login import login_user

    from saas.accounts.services import open_session

    session.clear()
    user.current_session_id = open_session(
        user, request.user_agent.string, request.remote_addr or ""
    )
    session.permanent = True  # the cookie lasts PERMANENT_SESSION_LIFETIME, not the browser run
    login_user(user)
