"""The API blueprint class: validation errors are 400 (webargs defaults to 422), and a JSON body
nested too deeply to parse is an invalid body (400), not a server error."""

from __future__ import annotations

import json
from typing import Any

import flask
import flask_smorest
from webargs.flaskparser import FlaskParser


class _Parser(FlaskParser):
    DEFAULT_VALIDATION_STATUS = 400

    def _raw_load_json(self, req: flask.Request) -> Any:
        try:
            return super()._raw_load_json(req)
        except RecursionError:
            # Python's parser recurses per level: such a body is refused like malformed JSON.
            raise json.JSONDecodeError("nested too deeply", "[", 0) from None


class ApiBlueprint(flask_smorest.Blueprint):
    """flask-smorest blueprint whose request-body and query errors answer 400."""

    ARGUMENTS_PARSER = _Parser()
