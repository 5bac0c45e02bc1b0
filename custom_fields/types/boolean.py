"""Boolean: yes or no. Empty means unknown (null), which filters treat apart from false."""

from __future__ import annotations

from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from marshmallow import fields as ma
from sqlalchemy import Boolean, ColumnElement, cast

from custom_fields.types import register
from custom_fields.types.base import Context, FieldSpec, FieldType, FieldValueError

_TRUE = {"true", "1", "yes", "on", "y", "是"}
_FALSE = {"false", "0", "no", "off", "n", "否"}


@register
class BooleanType(FieldType):
    name = "boolean"
    kind = "boolean"
    widget = "checkbox"
    operators = ("eq", "ne", "is_empty", "is_not_empty")
    convertible_to = frozenset({"text"})

    def clean(self, raw: Any, spec: FieldSpec, ctx: Context) -> bool | None:
        if raw is None or raw == "":
            return None
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str):
            lowered = raw.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
        if isinstance(raw, int) and raw in (0, 1):
            return bool(raw)
        raise FieldValueError(_("Choose yes or no."))

    def sql(self, data: ColumnElement[Any], key: str, spec: FieldSpec) -> ColumnElement[Any]:
        return cast(data[key].astext, Boolean)

    def display(self, value: Any, spec: FieldSpec, ctx: Context) -> str:
        if value is None:
            return ""
        with force_locale(ctx.locale):
            return _("Yes") if value else _("No")

    def export(self, value: Any, spec: FieldSpec, ctx: Context) -> Any:
        return value

    def api_field(self, spec: FieldSpec) -> ma.Field:
        return ma.Boolean(allow_none=True, metadata={"description": spec.label_en})
