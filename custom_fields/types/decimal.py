"""Decimal: exact numbers with ``precision`` digits, ``scale`` of them after the point.

Stored as a JSON string ("1234.50") so no value ever passes through a binary float.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import fields as ma
from sqlalchemy import ColumnElement

from custom_fields.types import register
from custom_fields.types._common import (
    NUMBER_OPERATORS,
    NumberOptions,
    check_decimal,
    empty,
    format_decimal,
    numeric_sql,
    to_decimal,
)
from custom_fields.types.base import Context, FieldSpec, FieldType


class DecimalLike(FieldType):
    kind = "number"
    widget = "decimal"
    operators = NUMBER_OPERATORS
    options_schema = NumberOptions
    convertible_to = frozenset({"decimal", "percent", "currency", "integer", "text"})

    def clean(self, raw: Any, spec: FieldSpec, ctx: Context) -> Decimal | None:
        if empty(raw):
            return None
        return check_decimal(to_decimal(raw), spec.options)

    def to_storage(self, value: Any) -> Any:
        return None if value is None else str(value)

    def from_storage(self, stored: Any) -> Any:
        return None if stored is None else Decimal(str(stored))

    def sql(self, data: ColumnElement[Any], key: str, spec: FieldSpec) -> ColumnElement[Any]:
        return numeric_sql(data, key)

    def display(self, value: Any, spec: FieldSpec, ctx: Context) -> str:
        if value is None:
            return ""
        return format_decimal(value, ctx, spec.options.get("scale", 2))

    def export(self, value: Any, spec: FieldSpec, ctx: Context) -> Any:
        return value

    def api_field(self, spec: FieldSpec) -> ma.Field:
        return ma.Decimal(as_string=True, allow_none=True, metadata={"description": spec.label_en})


@register
class DecimalType(DecimalLike):
    name = "decimal"
