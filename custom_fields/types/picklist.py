"""Picklist: one code out of the field's values (user-defined code, labels, colour, order).

Values are rows of ``PicklistValue``; a deactivated value stays on the records that have it but
cannot be chosen again. A dependent picklist names a ``controlling_field`` and, per controlling
code, the codes allowed (checked with the whole record, not here).
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from marshmallow import Schema, fields, validate
from sqlalchemy import ColumnElement, case

from custom_fields.types import register
from custom_fields.types._common import empty
from custom_fields.types.base import Context, FieldSpec, FieldType, FieldValueError


class PicklistOptions(Schema):
    class Meta:
        unknown = "raise"

    controlling_field = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=60)
    )
    # {controlling code: [allowed codes]}
    dependencies = fields.Dict(
        keys=fields.String(), values=fields.List(fields.String()), load_default=dict
    )


def clean_code(raw: Any, spec: FieldSpec, *, allow_inactive: bool = False) -> str:
    if not isinstance(raw, str):
        raise FieldValueError(_("Choose one of the listed values."))
    code = raw.strip()
    choice = spec.choice(code)
    if choice is None or (not choice.active and not allow_inactive):
        raise FieldValueError(_("“%(value)s” is not one of the listed values.", value=code))
    return code


def order_sql(expr: ColumnElement[Any], spec: FieldSpec) -> ColumnElement[Any]:
    """Sort by the picklist's own order, not alphabetically by code. An empty value stays
    NULL (so it sorts as empty values do); a code no longer listed comes after the listed ones."""
    if not spec.choices:
        return expr
    return case(
        {c.code: i for i, c in enumerate(spec.choices)},
        value=expr,
        else_=case((expr.is_not(None), len(spec.choices))),
    )


@register
class PicklistType(FieldType):
    name = "picklist"
    kind = "choice"
    widget = "select"
    operators = ("eq", "ne", "in", "not_in", "is_empty", "is_not_empty")
    options_schema = PicklistOptions
    convertible_to = frozenset({"text", "multi_picklist"})

    def clean(self, raw: Any, spec: FieldSpec, ctx: Context) -> str | None:
        if empty(raw):
            return None
        return clean_code(raw, spec)

    def sort_sql(self, data: ColumnElement[Any], key: str, spec: FieldSpec) -> ColumnElement[Any]:
        return order_sql(self.sql(data, key, spec), spec)

    def display(self, value: Any, spec: FieldSpec, ctx: Context) -> str:
        if value is None:
            return ""
        choice = spec.choice(value)
        return choice.label(ctx.locale) if choice else value
