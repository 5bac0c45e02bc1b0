"""Integer: whole numbers within the 64-bit range, optionally between ``min`` and ``max``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from marshmallow import Schema, ValidationError, fields, validates_schema
from marshmallow import fields as ma
from sqlalchemy import BigInteger, ColumnElement, cast

from custom_fields.types import register
from custom_fields.types._common import NUMBER_OPERATORS, check_range, empty, to_decimal
from custom_fields.types.base import Context, FieldSpec, FieldType, FieldValueError

LIMIT = 2**63 - 1


class IntegerOptions(Schema):
    class Meta:
        unknown = "raise"

    min = fields.Integer(load_default=None, allow_none=True)
    max = fields.Integer(load_default=None, allow_none=True)

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_kw: Any) -> None:
        if (
            data.get("min") is not None
            and data.get("max") is not None
            and data["min"] > data["max"]
        ):
            raise ValidationError("Minimum must not exceed maximum.", "min")


@register
class IntegerType(FieldType):
    name = "integer"
    kind = "number"
    widget = "integer"
    operators = NUMBER_OPERATORS
    options_schema = IntegerOptions
    convertible_to = frozenset({"decimal", "percent", "currency", "text"})

    def clean(self, raw: Any, spec: FieldSpec, ctx: Context) -> int | None:
        if empty(raw):
            return None
        value = to_decimal(raw)  # refuses magnitudes beyond 10**40 before any big conversion
        if value != value.to_integral_value():
            raise FieldValueError(_("Enter a whole number."))
        number = int(value)
        if abs(number) > LIMIT:
            raise FieldValueError(_("This number is too large."))
        check_range(Decimal(number), spec.options)
        return number

    def sql(self, data: ColumnElement[Any], key: str, spec: FieldSpec) -> ColumnElement[Any]:
        return cast(data[key].astext, BigInteger)

    def display(self, value: Any, spec: FieldSpec, ctx: Context) -> str:
        from babel.numbers import format_decimal

        return "" if value is None else format_decimal(value, locale=ctx.locale)

    def export(self, value: Any, spec: FieldSpec, ctx: Context) -> Any:
        return value

    def api_field(self, spec: FieldSpec) -> ma.Field:
        return ma.Integer(allow_none=True, metadata={"description": spec.label_en})
