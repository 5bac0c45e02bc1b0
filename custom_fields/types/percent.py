"""Percent: a decimal number of percent (12.5 means 12.5 %), shown with a percent sign."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from custom_fields.types import register
from custom_fields.types._common import NumberOptions, format_decimal
from custom_fields.types.base import Context, FieldSpec
from custom_fields.types.decimal import DecimalLike


class PercentOptions(NumberOptions):
    precision = fields.Integer(load_default=9, validate=validate.Range(min=1, max=30))


@register
class PercentType(DecimalLike):
    name = "percent"
    widget = "percent"
    options_schema: type[Schema] = PercentOptions

    def display(self, value: Any, spec: FieldSpec, ctx: Context) -> str:
        if value is None:
            return ""
        return f"{format_decimal(value, ctx, spec.options.get('scale', 2))}%"
