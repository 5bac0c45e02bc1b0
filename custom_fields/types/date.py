"""Date: a calendar day, ISO ``YYYY-MM-DD`` in the API, shown in the user's locale.

Stored as ``YYYY-MM-DD`` (``date.isoformat()``: always four digits of year, 0001 to 9999).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import gettext as _
from marshmallow import fields as ma
from sqlalchemy import ColumnElement, Date, Integer, cast, func, literal_column

from custom_fields.query.dates import RELATIVE, WITH_DAYS
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
    *RELATIVE,
    *WITH_DAYS,
)


def digits(text: ColumnElement[Any], start: int, length: int) -> ColumnElement[int]:
    """``CAST(substr(text, start, length) AS INTEGER)``, the positions as constants."""
    part = func.substr(text, literal_column(str(int(start))), literal_column(str(int(length))))
    return cast(part, Integer)


def iso_date_sql(text: ColumnElement[Any]) -> ColumnElement[Any]:
    """The DATE of a stored ``YYYY-MM-DD`` (NULL for NULL), as an IMMUTABLE expression.

    ``CAST(text AS DATE)`` gives the same day for this form whatever ``DateStyle`` says, but
    PostgreSQL calls the cast STABLE (it reads ``DateStyle``) and refuses it in an index.
    ``make_date``, ``substr`` and the cast from text to integer are IMMUTABLE (and strict: an
    absent key stays NULL), so indexes on a date field can be built and match the engine's SQL.
    """
    return func.make_date(digits(text, 1, 4), digits(text, 6, 2), digits(text, 9, 2), type_=Date())


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
        return iso_date_sql(data[key].astext)

    def display(self, value: Any, spec: FieldSpec, ctx: Context) -> str:
        from babel.dates import format_date

        return "" if value is None else format_date(value, format="medium", locale=ctx.locale)

    def export(self, value: Any, spec: FieldSpec, ctx: Context) -> Any:
        return value

    def api_field(self, spec: FieldSpec) -> ma.Field:
        return ma.Date(allow_none=True, metadata={"description": spec.label_en})
