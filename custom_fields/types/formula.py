"""Formula: a value computed from other fields of the record (arithmetic, text, IF, dates).

Nothing is stored: the expression compiles to SQL so lists filter and sort by it like any field,
and evaluates in Python to show a record. See :mod:`custom_fields.formula` for the language.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_babel import gettext as _
from marshmallow import Schema, ValidationError, fields, validate, validates
from sqlalchemy import ColumnElement

from custom_fields.types import register
from custom_fields.types.base import Context, FieldSpec, FieldType, FieldValueError

RESULT_OPERATORS = {
    "number": ("eq", "ne", "lt", "lte", "gt", "gte", "between", "is_empty", "is_not_empty"),
    "text": (
        "eq",
        "ne",
        "contains",
        "not_contains",
        "starts_with",
        "ends_with",
        "is_empty",
        "is_not_empty",
    ),
    "boolean": ("eq", "ne", "is_empty", "is_not_empty"),
    "date": ("eq", "ne", "lt", "lte", "gt", "gte", "between", "is_empty", "is_not_empty"),
    "datetime": ("eq", "ne", "lt", "lte", "gt", "gte", "between", "is_empty", "is_not_empty"),
}


class FormulaOptions(Schema):
    class Meta:
        unknown = "raise"

    expression = fields.String(required=True, validate=validate.Length(min=1, max=2000))

    @validates("expression")
    def _parses(self, value: str, **_kw: Any) -> None:
        from custom_fields.formula import FormulaError, parse

        try:
            parse(value)
        except FormulaError as exc:
            raise ValidationError(str(exc.message)) from exc


@register
class FormulaType(FieldType):
    name = "formula"
    kind = "formula"
    widget = "readonly"
    editable = False
    operators = tuple(sorted({op for ops in RESULT_OPERATORS.values() for op in ops}))
    options_schema = FormulaOptions

    def clean(self, raw: Any, spec: FieldSpec, ctx: Context) -> Any:
        raise FieldValueError(_("This value is computed from other fields."))

    def formula_sql(
        self, spec: FieldSpec, resolve: Callable[[str], ColumnElement[Any]]
    ) -> ColumnElement[Any]:
        from custom_fields.formula import compiled

        return compiled(spec.options["expression"]).to_sql(resolve)
