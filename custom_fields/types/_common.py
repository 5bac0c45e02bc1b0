"""Pieces several field types share: text length and pattern rules, exact decimal numbers."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from decimal import Context as DecimalContext
from typing import Any

import regex
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema
from sqlalchemy import ColumnElement, Numeric, cast

from custom_fields.types.base import Context, FieldSpec, FieldType, FieldValueError

TEXT_OPERATORS = (
    "eq",
    "ne",
    "in",
    "not_in",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "is_empty",
    "is_not_empty",
)
NUMBER_OPERATORS = (
    "eq",
    "ne",
    "lt",
    "lte",
    "gt",
    "gte",
    "between",
    "in",
    "not_in",
    "is_empty",
    "is_not_empty",
)
MAX_PATTERN = 300
PATTERN_SECONDS = 0.05
#: Enough digits for any field (precision ≤ 30) whatever the process's decimal context says.
_DECIMALS = DecimalContext(prec=60)


def empty(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and raw.strip() == "")


class TextOptions(Schema):
    class Meta:
        unknown = "raise"

    max_length = fields.Integer(load_default=255, validate=validate.Range(min=1, max=1000))
    regex = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=MAX_PATTERN)
    )
    regex_message = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=200)
    )

    @validates("regex")
    def _compiles(self, value: str | None, **_kw: Any) -> None:
        if value:
            try:
                regex.compile(value)
            except regex.error as exc:
                raise ValidationError(str(_l("Not a valid pattern: %(error)s", error=exc))) from exc


class TextLike(FieldType):
    """Single-line text and its specialisations (trimmed, length-limited, optional pattern)."""

    kind = "text"
    operators = TEXT_OPERATORS
    options_schema = TextOptions
    # Text holds whatever was imported: any typed field may be made of it (the preview tells
    # which values fail).
    convertible_to = frozenset(
        {
            "long_text",
            "integer",
            "decimal",
            "currency",
            "percent",
            "date",
            "datetime",
            "boolean",
            "picklist",
            "multi_picklist",
            "email",
            "phone",
            "url",
        }
    )

    def clean(self, raw: Any, spec: FieldSpec, ctx: Context) -> str | None:
        if empty(raw):
            return None
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float, Decimal)):
            raise FieldValueError(_("Enter text."))
        value = str(raw).strip()
        max_length = spec.options.get("max_length", 255)
        if len(value) > max_length:
            raise FieldValueError(_("Use at most %(n)d characters.", n=max_length))
        pattern = spec.options.get("regex")
        if pattern and not _matches(pattern, value):
            raise FieldValueError(
                spec.options.get("regex_message")
                or _("This value does not have the expected form.")
            )
        return value


def _matches(pattern: str, value: str) -> bool:
    """A tenant's pattern, bounded in time so that no pattern can stall a worker."""
    try:
        return regex.fullmatch(pattern, value, timeout=PATTERN_SECONDS) is not None
    except TimeoutError as exc:
        raise FieldValueError(_("This value takes too long to check against the pattern.")) from exc


class NumberOptions(Schema):
    class Meta:
        unknown = "raise"

    precision = fields.Integer(load_default=18, validate=validate.Range(min=1, max=30))
    scale = fields.Integer(load_default=2, validate=validate.Range(min=0, max=10))
    min = fields.Decimal(load_default=None, allow_none=True, as_string=True)
    max = fields.Decimal(load_default=None, allow_none=True, as_string=True)

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_kw: Any) -> None:
        if data.get("scale", 0) >= data.get("precision", 18):
            raise ValidationError(str(_l("Scale must be smaller than precision.")), "scale")
        low, high = data.get("min"), data.get("max")
        if low is not None and high is not None and Decimal(low) > Decimal(high):
            raise ValidationError(str(_l("Minimum must not exceed maximum.")), "min")


def to_decimal(raw: Any) -> Decimal:
    """Parse a number a person typed or an API sent; floats go through their shortest repr."""
    if isinstance(raw, bool):
        raise FieldValueError(_("Enter a number."))
    if isinstance(raw, float):
        raw = repr(raw)
    if isinstance(raw, str):
        raw = raw.strip().replace(",", "").replace("，", "")
    try:
        value = Decimal(raw)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise FieldValueError(_("Enter a number.")) from exc
    if not value.is_finite():
        raise FieldValueError(_("Enter a number."))
    if value.adjusted() > 40 or value.adjusted() < -40:
        raise FieldValueError(_("This number is too large."))
    return value


def check_decimal(value: Decimal, options: dict[str, Any]) -> Decimal:
    """Round to the field's scale, then enforce precision and the range."""
    scale = options.get("scale", 2)
    precision = options.get("precision", 18)
    if value.adjusted() >= precision - scale:
        raise FieldValueError(
            _("Use at most %(n)d digits before the decimal point.", n=precision - scale)
        )
    with localcontext(_DECIMALS):
        value = value.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    if value.adjusted() >= precision - scale:
        raise FieldValueError(
            _("Use at most %(n)d digits before the decimal point.", n=precision - scale)
        )
    check_range(value, options)
    return value


def check_range(value: Decimal | int, options: dict[str, Any]) -> None:
    low, high = options.get("min"), options.get("max")
    if low is not None and value < Decimal(str(low)):
        raise FieldValueError(_("Enter %(min)s or more.", min=low))
    if high is not None and value > Decimal(str(high)):
        raise FieldValueError(_("Enter %(max)s or less.", max=high))


def numeric_sql(data: ColumnElement[Any], key: str) -> ColumnElement[Any]:
    return cast(data[key].astext, Numeric)


def format_decimal(value: Decimal, ctx: Context, scale: int) -> str:
    from babel.numbers import format_decimal as babel_format

    return babel_format(
        value, format=f"#,##0.{'0' * scale}" if scale else "#,##0", locale=ctx.locale
    )
