"""Errors of the PDF renderer (re-exported by :mod:`print_templates.render`)."""

from __future__ import annotations

from typing import Any

from saas.errors import DomainError


class TemplateError(DomainError):
    """A template that cannot be rendered: a syntax error, an unknown variable, something the
    sandbox refuses or a limit reached. The message is for the template's author and names the
    line when it is known (``line``); the HTTP status is 422."""

    status = 422
    field = "source"

    def __init__(self, message: str, *, line: int | None = None, field: str | None = None):
        super().__init__(message, field=field)
        self.line = line

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        if self.line is not None:
            body["line"] = self.line
        return body


class TemplateLimitError(TemplateError):
    """A template reached one of the sandbox's bounds (output size, loop length, work, time)."""
