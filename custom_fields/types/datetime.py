"""Date and time: an instant, stored in UTC, shown in the user's time zone.

A value without an offset is read in the user's time zone (what a person typing means).
Stored as ``YYYY-MM-DDTHH:MM:SSZ``: in UTC, whole seconds, the year 0002 to 9998.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from marshmallow import fields as ma
from sqlalchemy import ColumnElement, DateTime, Text, func, literal_column

from custom_fields.types import register
from custom_fields.types._common import empty
from custom_fields.types.base import Context, FieldSpec, FieldType, FieldValueError
from custom_fields.types.date import DATE_OPERATORS, digits


def _utc_iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def utc_iso_sql(text: ColumnElement[Any]) -> ColumnElement[Any]:
    """The TIMESTAMPTZ of a stored ``YYYY-MM-DDTHH:MM:SSZ`` (NULL for NULL), IMMUTABLE.

    ``CAST(text AS TIMESTAMPTZ)`` gives the same instant for this form whatever ``DateStyle``
    and ``TimeZone`` say, but PostgreSQL calls it STABLE and refuses it in an index (as it
    does ``make_timestamptz``). ``make_timestamp`` builds the UTC wall-clock time and
    ``timezone('UTC', timestamp)`` (``AT TIME ZONE 'UTC'``) makes it that instant: both are
    IMMUTABLE, as are ``substr`` and the cast from text to integer.
    """
    wall_clock = func.make_timestamp(
        digits(text, 1, 4),
        digits(text, 6, 2),
        digits(text, 9, 2),
        digits(text, 12, 2),
        digits(text, 15, 2),
        digits(text, 18, 2),
        type_=DateTime(),
    )
    return func.timezone(literal_column("'UTC'", Text), wall_clock, type_=DateTime(timezone=True))


@register
class DateTimeType(FieldType):
    name = "datetime"
    kind = "datetime"
    widget = "datetime"
    operators = DATE_OPERATORS
    convertible_to = frozenset({"date", "text"})

    def clean(self, raw: Any, spec: FieldSpec, ctx: Context) -> dt.datetime | None:
        if empty(raw):
            return None
        if isinstance(raw, dt.datetime):
            value = raw
        elif isinstance(raw, str):
            try:
                value = dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
            except ValueError as exc:
                raise FieldValueError(_("Enter a date and time as YYYY-MM-DDTHH:MM.")) from exc
        else:
            raise FieldValueError(_("Enter a date and time as YYYY-MM-DDTHH:MM."))
        if value.tzinfo is None:
            value = value.replace(tzinfo=ZoneInfo(ctx.timezone))
        try:
            utc = value.astimezone(dt.UTC).replace(microsecond=0)
        except OverflowError as exc:
            raise FieldValueError(_("Enter a date between the years 2 and 9998.")) from exc
        if not 2 <= utc.year <= 9998:
            raise FieldValueError(_("Enter a date between the years 2 and 9998."))
        return utc

    def to_storage(self, value: Any) -> Any:
        return None if value is None else _utc_iso(value)

    def from_storage(self, stored: Any) -> Any:
        return None if stored is None else dt.datetime.fromisoformat(stored.replace("Z", "+00:00"))

    def sql(self, data: ColumnElement[Any], key: str, spec: FieldSpec) -> ColumnElement[Any]:
        return utc_iso_sql(data[key].astext)

    def display(self, value: Any, spec: FieldSpec, ctx: Context) -> str:
        from babel.dates import format_datetime

        if value is None:
            return ""
        return format_datetime(
            value, format="medium", tzinfo=ZoneInfo(ctx.timezone), locale=ctx.locale
        )

    def export(self, value: Any, spec: FieldSpec, ctx: Context) -> Any:
        # Spreadsheets have no time zones: export the wall-clock time the user sees.
        return (
            None if value is None else value.astimezone(ZoneInfo(ctx.timezone)).replace(tzinfo=None)
        )

    def api_field(self, spec: FieldSpec) -> ma.Field:
        return ma.DateTime(allow_none=True, metadata={"description": spec.label_en})
