"""Email: a syntactically valid address, stored in its normalised, lower-case form."""

from __future__ import annotations

from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _

from custom_fields.types import register
from custom_fields.types._common import TEXT_OPERATORS, empty
from custom_fields.types.base import Context, FieldSpec, FieldType, FieldValueError


@register
class EmailType(FieldType):
    name = "email"
    kind = "text"
    widget = "email"
    operators = TEXT_OPERATORS
    convertible_to = frozenset({"text"})

    def clean(self, raw: Any, spec: FieldSpec, ctx: Context) -> str | None:
        if empty(raw):
            return None
        if not isinstance(raw, str):
            raise FieldValueError(_("Enter a valid email address."))
        try:
            return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            raise FieldValueError(_("Enter a valid email address.")) from exc
