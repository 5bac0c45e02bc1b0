"""Phone: validated with libphonenumber and stored in E.164 (``+8613812345678``).

Numbers without a country code are read in the field's ``region`` or the tenant's (CN by default).
"""

from __future__ import annotations

from typing import Any

import phonenumbers
from flask_babel import gettext as _
from marshmallow import Schema, ValidationError, fields, validates

from custom_fields.types import register
from custom_fields.types._common import TEXT_OPERATORS, empty
from custom_fields.types.base import Context, FieldSpec, FieldType, FieldValueError


class PhoneOptions(Schema):
    class Meta:
        unknown = "raise"

    region = fields.String(load_default=None, allow_none=True)

    @validates("region")
    def _region(self, value: str | None, **_kw: Any) -> None:
        if value is not None and value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValidationError("Not a supported region code (ISO 3166, e.g. CN).")


@register
class PhoneType(FieldType):
    name = "phone"
    kind = "text"
    widget = "tel"
    operators = TEXT_OPERATORS
    options_schema = PhoneOptions
    convertible_to = frozenset({"text"})

    def clean(self, raw: Any, spec: FieldSpec, ctx: Context) -> str | None:
        if empty(raw):
            return None
        if not isinstance(raw, (str, int)):
            raise FieldValueError(_("Enter a phone number."))
        region = spec.options.get("region") or ctx.region
        try:
            number = phonenumbers.parse(str(raw).strip(), region)
        except phonenumbers.NumberParseException as exc:
            raise FieldValueError(_("Enter a valid phone number.")) from exc
        if not phonenumbers.is_valid_number(number):
            raise FieldValueError(_("Enter a valid phone number."))
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def display(self, value: Any, spec: FieldSpec, ctx: Context) -> str:
        if value is None:
            return ""
        number = phonenumbers.parse(value, None)
        region = spec.options.get("region") or ctx.region
        same_country = phonenumbers.region_code_for_number(number) == region
        style = (
            phonenumbers.PhoneNumberFormat.NATIONAL
            if same_country
            else phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
        return phonenumbers.format_number(number, style)
