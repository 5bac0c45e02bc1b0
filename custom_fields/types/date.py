"""Date: a calendar day, ISO ``YYYY-MM-DD`` in the API, shown in the user's locale."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import gettext as _
from marshmallow import fields as ma
from sqlalchemy import ColumnElement, Date, cast

from custom_fields.types import register
from custom_fields.types._common import empty
from custom_fields.types.base import Context, FieldSpec, FieldType, FieldValueError

DATE_OPERATORS = (
    "eq",
    "ne",
    "lt",
    "lte",
    "gt",
    "gte",
    "between",
    "is_empty",
    "is_not_empty",
    "today",
    "yesterday",
    "tomorrow",
    "this_week",
    "last_week",
    "next_week",
    "this_month",
    "last_month",
    "next_month",
    "this_quarter",
    "last_quarter",
    "next_quarter",
    "this_year",
    "last_year",
    "next_year",
    "last_n_days",
    "next_n_days",
)


@register
class DateType(FieldType):
    name = "date"
    kind = "date"
    widget = "date"
    operators = DATE_OPERATORS
    convertible_to = frozenset({"datetime", "text"})

    def clean(self, raw: Any, spec: FieldSpec, ctx: Context) -> dt.date | None:
        if empty(raw):
            return None
        if isinstance(raw, dt.datetime):
            raise FieldValueError(_("Enter a date without a time."))
        if isinstance(raw, dt.date):
            return raw
        if not isinstance(raw, str):
            raise FieldValueError(_("Enter a date as YYYY-MM-DD."))
        try:
            return dt.date.fromisoformat(raw.strip())
        except ValueError as exc:
            raise FieldValueError(_("Enter a date as YYYY-MM-DD.")) from exc

    def to_storage(self, value: Any) -> Any:
        return None if value is None else value.isoformat()

    def from_storage(self, stored: Any) -> Any:
        return None if stored is None else dt.date.fromisoformat(stored)

    def sql(self, data: ColumnElement[Any], key: str, spec: FieldSpec) -> ColumnElement[Any]:
        return cast(data[key].astext, Date)

    def display(self, value: Any, spec: FieldSpec, ctx: Context) -> str:
        from babel.dates import format_date

        return "" if value is None else format_date(value, format="medium", locale=ctx.locale)

    def export(self, value: Any, spec: FieldSpec, ctx: Context) -> Any:
        return value

    def api_field(self, spec: FieldSpec) -> ma.Field:
        return ma.Date(allow_none=True, metadata={"description": spec.label_en})
