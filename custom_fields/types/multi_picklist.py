"""Multi-picklist: several codes of the field's values, stored as a sorted JSON array."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from marshmallow import Schema, fields, validate
from marshmallow import fields as ma
from sqlalchemy import ColumnElement

from custom_fields.types import register
from custom_fields.types.base import Context, FieldSpec, FieldType, FieldValueError
from custom_fields.types.picklist import clean_code


class MultiPicklistOptions(Schema):
    class Meta:
        unknown = "raise"

    max_selected = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=500)
    )


@register
class MultiPicklistType(FieldType):
    name = "multi_picklist"
    kind = "choices"
    widget = "multiselect"
    sortable = False
    operators = ("includes_any", "includes_all", "excludes", "is_empty", "is_not_empty")
    options_schema = MultiPicklistOptions
    convertible_to = frozenset({"text"})

    def clean(self, raw: Any, spec: FieldSpec, ctx: Context) -> list[str] | None:
        if raw is None or raw == "" or raw == []:
            return None
        if isinstance(raw, str):
            raw = [part for part in raw.replace("；", ";").split(";") if part.strip()]
        if not isinstance(raw, list):
            raise FieldValueError(_("Choose values from the list."))
        order = {c.code: i for i, c in enumerate(spec.choices)}
        codes = sorted({clean_code(item, spec) for item in raw}, key=lambda c: order.get(c, 0))
        limit = spec.options.get("max_selected")
        if limit and len(codes) > limit:
            raise FieldValueError(_("Choose at most %(n)d values.", n=limit))
        return codes or None

    def sql(self, data: ColumnElement[Any], key: str, spec: FieldSpec) -> ColumnElement[Any]:
        return data[key]  # a JSONB array: filters use the ?| ?& operators on it

    def display(self, value: Any, spec: FieldSpec, ctx: Context) -> str:
        if not value:
            return ""
        separator = "、" if ctx.locale.startswith("zh") else ", "
        labels = []
        for code in value:
            choice = spec.choice(code)
            labels.append(choice.label(ctx.locale) if choice else code)
        return separator.join(labels)

    def api_field(self, spec: FieldSpec) -> ma.Field:
        return ma.List(ma.String(), allow_none=True, metadata={"description": spec.label_en})
