"""Domain error base class and the one place that maps domain errors to HTTP responses."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException


class DomainError(Exception):
    """An error a user can act on: carries an HTTP status, a message and optionally a field."""

    status: int = 400
    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field
        if status is not None:
            self.status = status

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.status, "status": _reason(self.status)}
        body["message"] = self.message
        if self.field:
            body["errors"] = {self.field: [self.message]}
        return body


class ValidationFailed(DomainError):
    """Several fields failed validation at once."""

    status = 400

    def __init__(self, errors: dict[str, list[str]]):
        first_field, messages = next(iter(errors.items()))
        super().__init__(messages[0], field=first_field)
        self.errors = errors

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["errors"] = self.errors
        return body


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _default_messages() -> dict[int, str]:
    from flask_babel import gettext as _

    return {
        400: _("The request could not be understood. Check what you entered and try again."),
        401: _("You need to log in or send a valid API token."),
        403: _("You do not have permission to do this."),
        404: _("The page or record you asked for does not exist."),
        405: _("This action is not allowed here."),
        409: _("This conflicts with the current state. Reload and try again."),
        412: _("Someone else changed this in the meantime. Reload and try again."),
        413: _("What you sent is too large."),
        429: _("Too many attempts. Wait a moment and try again."),
        500: _("Something went wrong on our side. Please try again."),
    }


def _describe(err: HTTPException) -> str:
    """The error's own description, or a translated one when werkzeug's stock text is all."""
    stock = type(err).description
    # Flask-Limiter describes a 429 by its limit ("10 per 1 hour"): say it in the user's words.
    if err.description and err.description != stock and err.code != 429:
        return err.description
    return _default_messages().get(err.code or 500, err.description or "")


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def register_error_handlers(app: Flask) -> None:
    from sqlalchemy.exc import DataError

    @app.errorhandler(DataError)
    def _data(err: DataError):
        # PostgreSQL refused a value the services let through (a number past BIGINT, a NUL
        # byte in text): the request is at fault, nothing was written.
        from flask_babel import gettext as _

        from saas.extensions import db

        db.session.rollback()
        return _domain(
            DomainError(
                _("A value is out of range or holds characters that cannot be stored."),
                status=400,
            )
        )

    @app.errorhandler(DomainError)
    def _domain(err: DomainError):
        if wants_json():
            return jsonify(err.to_dict()), err.status
        return render_template("error.html", code=err.status, message=err.message), err.status

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException):
        status = err.code or 500
        if status >= 500:
            # The failed transaction must not break rendering the error (locale, user, tenant).
            from saas.extensions import db

            db.session.rollback()
        if wants_json():
            body: dict[str, Any] = {"code": status, "status": err.name, "message": _describe(err)}
            data = getattr(err, "data", None)
            if isinstance(data, dict) and "messages" in data:
                # webargs/marshmallow validation errors: {"json": {"field": ["msg"]}}
                errors: dict[str, Any] = {}
                for location_errors in data["messages"].values():
                    if isinstance(location_errors, dict):
                        errors.update(location_errors)
                body["errors"] = errors
                body["message"] = (
                    "; ".join(
                        f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}"
                        for k, v in errors.items()
                    )
                    or body["message"]
                )
            response = jsonify(body)
        else:
            response = make_response(
                render_template("error.html", code=status, message=_describe(err))
            )
        response.status_code = status
        # Keep Retry-After, Allow, WWW-Authenticate and friends.
        for key, value in err.get_headers() or []:
            if key.lower() not in {"content-type", "content-length"}:
                response.headers[key] = value
        return response
