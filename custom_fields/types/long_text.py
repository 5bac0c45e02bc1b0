"""Long text: several lines, up to ``max_length`` characters (default 32,000)."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from marshmallow import Schema, fields, validate

from custom_fields.types import register
from custom_fields.types._common import TEXT_OPERATORS, empty
from custom_fields.types.base import Context, FieldSpec, FieldType, FieldValueError


class LongTextOptions(Schema):
    class Meta:
        unknown = "raise"

    max_length = fields.Integer(load_default=32000, validate=validate.Range(min=1, max=100000))


@register
class LongTextType(FieldType):
    name = "long_text"
    kind = "text"
    widget = "textarea"
    sortable = False  # sorting paragraphs helps nobody and cannot use an index
    operators = tuple(op for op in TEXT_OPERATORS if op not in {"in", "not_in"})
    options_schema = LongTextOptions
    convertible_to = frozenset({"text"})

    def clean(self, raw: Any, spec: FieldSpec, ctx: Context) -> str | None:
        if empty(raw):
            return None
        if not isinstance(raw, str):
            raise FieldValueError(_("Enter text."))
        value = raw.replace("\r\n", "\n").strip()
        max_length = spec.options.get("max_length", 32000)
        if len(value) > max_length:
            raise FieldValueError(_("Use at most %(n)d characters.", n=max_length))
        return value
