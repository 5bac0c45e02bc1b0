"""Auto-number: a text the system assigns on creation from a pattern such as ``Q-{YYYY}-{0000}``.

Tokens: ``{YYYY}`` ``{YY}`` ``{MM}`` ``{DD}`` for the creation date in the tenant's time zone and
one run of zeros ``{0000}`` for the counter, padded to that width. The counter is a row per tenant,
field and period, incremented with ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` so that
concurrent creations never share a number. ``reset`` restarts it every year, month or day.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask_babel import gettext as _
from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from custom_fields.types import register
from custom_fields.types._common import TEXT_OPERATORS
from custom_fields.types.base import Context, FieldSpec, FieldType, FieldValueError

_TOKEN = re.compile(r"\{(YYYY|YY|MM|DD|0+)\}")


class AutoNumberOptions(Schema):
    class Meta:
        unknown = "raise"

    pattern = fields.String(load_default="{0000}", validate=validate.Length(min=1, max=60))
    start = fields.Integer(load_default=1, validate=validate.Range(min=0, max=10**12))
    reset = fields.String(
        load_default="never", validate=validate.OneOf(["never", "yearly", "monthly", "daily"])
    )

    @validates("pattern")
    def _one_counter(self, value: str, **_kw: Any) -> None:
        counters = [t for t in _TOKEN.findall(value) if t.startswith("0")]
        if len(counters) != 1:
            raise ValidationError("The pattern needs exactly one counter such as {0000}.")
        leftover = _TOKEN.sub("", value)
        if "{" in leftover or "}" in leftover:
            raise ValidationError("Unknown token; use {YYYY} {YY} {MM} {DD} and {0000}.")

    @validates_schema
    def _reset_shows_in_the_number(self, data: dict[str, Any], **_kw: Any) -> None:
        # A counter that restarts must be told apart by the date in the number, or numbers repeat.
        tokens = set(_TOKEN.findall(data.get("pattern", "")))
        has_year = bool(tokens & {"YYYY", "YY"})
        needed = {
            "never": True,
            "yearly": has_year,
            "monthly": has_year and "MM" in tokens,
            "daily": has_year and {"MM", "DD"} <= tokens,
        }[data.get("reset", "never")]
        if not needed:
            raise ValidationError(
                "A counter that restarts needs the matching date tokens in the pattern "
                "({YYYY}, {MM}, {DD}), or numbers would repeat.",
                "reset",
            )


def period(options: dict[str, Any], day: dt.date) -> str:
    """The counter's period for a creation day: '' when it never resets."""
    return {
        "never": "",
        "yearly": f"{day:%Y}",
        "monthly": f"{day:%Y-%m}",
        "daily": f"{day:%Y-%m-%d}",
    }[options.get("reset", "never")]


def render(pattern: str, number: int, day: dt.date) -> str:
    def token(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("0"):
            return str(number).zfill(len(name))
        return {"YYYY": f"{day:%Y}", "YY": f"{day:%y}", "MM": f"{day:%m}", "DD": f"{day:%d}"}[name]

    return _TOKEN.sub(token, pattern)


@register
class AutoNumberType(FieldType):
    name = "auto_number"
    kind = "text"
    widget = "readonly"
    editable = False
    operators = TEXT_OPERATORS
    options_schema = AutoNumberOptions
    convertible_to = frozenset({"text"})

    def clean(self, raw: Any, spec: FieldSpec, ctx: Context) -> Any:
        raise FieldValueError(_("This number is assigned automatically."))
