"""The API blueprint class: validation errors are 400 (webargs defaults to 422)."""

from __future__ import annotations

import flask_smorest
from webargs.flaskparser import FlaskParser


class _Parser(FlaskParser):
    DEFAULT_VALIDATION_STATUS = 400


class ApiBlueprint(flask_smorest.Blueprint):
    """flask-smorest blueprint whose request-body and query errors answer 400."""

    ARGUMENTS_PARSER = _Parser()
