"""URL: an http or https address; ``example.com`` becomes ``https://example.com``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask_babel import gettext as _

from custom_fields.types import register
from custom_fields.types._common import TEXT_OPERATORS, empty
from custom_fields.types.base import Context, FieldSpec, FieldType, FieldValueError

MAX_URL = 2000


@register
class UrlType(FieldType):
    name = "url"
    kind = "text"
    widget = "url"
    operators = TEXT_OPERATORS
    convertible_to = frozenset({"text"})

    def clean(self, raw: Any, spec: FieldSpec, ctx: Context) -> str | None:
        if empty(raw):
            return None
        if not isinstance(raw, str):
            raise FieldValueError(_("Enter a web address."))
        value = raw.strip()
        if "://" not in value:
            value = "https://" + value
        if len(value) > MAX_URL or any(ch.isspace() for ch in value):
            raise FieldValueError(_("Enter a valid web address."))
        try:
            parts = urlsplit(value)
            host = parts.hostname or ""
        except ValueError as exc:
            raise FieldValueError(_("Enter a valid web address.")) from exc
        if parts.scheme not in ("http", "https") or "." not in host.strip("."):
            raise FieldValueError(_("Enter a valid http or https address."))
        return value
