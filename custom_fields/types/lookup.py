"""Lookup: a reference to one record of another object (standard or custom), by its id.

That the record exists in the same tenant is checked by the record service, which can see the
database; the type itself only accepts positive integer ids.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from marshmallow import Schema, fields, validate
from marshmallow import fields as ma
from sqlalchemy import BigInteger, ColumnElement, cast

from custom_fields.types import register
from custom_fields.types._common import empty
from custom_fields.types.base import Context, FieldSpec, FieldType, FieldValueError

#: The target of a lookup to a member of the company instead of a record.
USER_TARGET = "user"


class LookupOptions(Schema):
    class Meta:
        unknown = "raise"

    target = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{1,59}$"))


@register
class LookupType(FieldType):
    name = "lookup"
    kind = "reference"
    widget = "lookup"
    operators = ("eq", "ne", "in", "not_in", "is_empty", "is_not_empty")
    options_schema = LookupOptions

    def clean(self, raw: Any, spec: FieldSpec, ctx: Context) -> int | None:
        if empty(raw):
            return None
        if isinstance(raw, dict):
            raw = raw.get("id")
        if isinstance(raw, bool):
            raise FieldValueError(_("Choose a record."))
        try:
            value = int(str(raw).strip())
        except (TypeError, ValueError) as exc:
            raise FieldValueError(_("Choose a record.")) from exc
        if not 0 < value < 2**63:
            raise FieldValueError(_("Choose a record."))
        return value

    def sql(self, data: ColumnElement[Any], key: str, spec: FieldSpec) -> ColumnElement[Any]:
        return cast(data[key].astext, BigInteger)

    def api_field(self, spec: FieldSpec) -> ma.Field:
        return ma.Integer(
            allow_none=True,
            metadata={
                "description": f"{spec.label_en} (id of a {spec.options.get('target')} record)"
            },
        )
