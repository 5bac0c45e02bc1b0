"""Currency: an exact amount with its ISO 4217 currency, ``{"amount": "12.50", "currency": "CNY"}``.

A plain number takes the field's currency, else the tenant's. Amounts round to the currency's own
minor unit (two places for CNY, none for JPY).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from babel.numbers import format_currency, get_currency_precision, list_currencies
from flask_babel import gettext as _
from marshmallow import Schema, ValidationError, fields, validate, validates
from marshmallow import fields as ma
from sqlalchemy import ColumnElement, Numeric, cast

from custom_fields.types import register
from custom_fields.types._common import NUMBER_OPERATORS, check_decimal, empty, to_decimal
from custom_fields.types.base import Context, FieldSpec, FieldType, FieldValueError


def _known_currency(code: str) -> bool:
    return code in list_currencies()


class CurrencyOptions(Schema):
    class Meta:
        unknown = "raise"

    currency = fields.String(load_default=None, allow_none=True)
    precision = fields.Integer(load_default=18, validate=validate.Range(min=2, max=30))
    min = fields.Decimal(load_default=None, allow_none=True, as_string=True)
    max = fields.Decimal(load_default=None, allow_none=True, as_string=True)

    @validates("currency")
    def _iso(self, value: str | None, **_kw: Any) -> None:
        if value is not None and not _known_currency(value):
            raise ValidationError("Not an ISO 4217 currency code.")


@register
class CurrencyType(FieldType):
    name = "currency"
    kind = "number"
    widget = "currency"
    operators = NUMBER_OPERATORS
    options_schema = CurrencyOptions
    convertible_to = frozenset({"decimal", "text"})

    def clean(self, raw: Any, spec: FieldSpec, ctx: Context) -> dict[str, Any] | None:
        if isinstance(raw, dict):
            unknown = set(raw) - {"amount", "currency"}
            if unknown:
                raise FieldValueError(_("Send only amount and currency."))
            amount_raw, code = raw.get("amount"), raw.get("currency")
        else:
            amount_raw, code = raw, None
        if empty(amount_raw):
            return None
        if code is not None and not isinstance(code, str):
            raise FieldValueError(_("Not a known currency: %(code)s.", code=code))
        code = (code or spec.options.get("currency") or ctx.currency or "").upper()
        if not _known_currency(code):
            raise FieldValueError(_("Not a known currency: %(code)s.", code=code))
        scale = get_currency_precision(code)
        options = {**spec.options, "scale": scale}
        amount = check_decimal(to_decimal(amount_raw), options)
        return {"amount": amount, "currency": code}

    def to_storage(self, value: Any) -> Any:
        if value is None:
            return None
        return {"amount": str(value["amount"]), "currency": value["currency"]}

    def from_storage(self, stored: Any) -> Any:
        if stored is None:
            return None
        return {"amount": Decimal(str(stored["amount"])), "currency": stored["currency"]}

    def sql(self, data: ColumnElement[Any], key: str, spec: FieldSpec) -> ColumnElement[Any]:
        return cast(data[(key, "amount")].astext, Numeric)

    def display(self, value: Any, spec: FieldSpec, ctx: Context) -> str:
        if value is None:
            return ""
        return format_currency(value["amount"], value["currency"], locale=ctx.locale)

    def export(self, value: Any, spec: FieldSpec, ctx: Context) -> Any:
        return None if value is None else value["amount"]

    def api_field(self, spec: FieldSpec) -> ma.Field:
        return ma.Dict(
            allow_none=True,
            metadata={"description": f'{spec.label_en}: {{"amount": "12.50", "currency": "CNY"}}'},
        )
