"""What every field type declares: storage, cleaning, SQL, operators, widget, display, export.

A field's value lives in the record's JSONB ``data`` column under the field's immutable key (an
absent key is null). Each type decides the JSON form: exact decimals travel as strings, because
JSON numbers come back from the driver as floats.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from marshmallow import Schema
from marshmallow import fields as ma
from sqlalchemy import ColumnElement


class FieldValueError(ValueError):
    """A value a user sent does not fit the field; ``message`` is shown next to the field."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Choice:
    """One value of a picklist, as validation and display need it."""

    code: str
    label_en: str
    label_zh: str
    colour: str | None = None
    active: bool = True

    def label(self, locale: str) -> str:
        return self.label_zh if locale.startswith("zh") else self.label_en


@dataclass(frozen=True)
class FieldSpec:
    """A field definition resolved for use (independent of the ORM rows it came from)."""

    key: str
    type: str
    label_en: str
    label_zh: str
    options: Mapping[str, Any] = field(default_factory=dict)
    required: bool = False
    choices: tuple[Choice, ...] = ()

    def label(self, locale: str) -> str:
        return self.label_zh if locale.startswith("zh") else self.label_en

    def choice(self, code: str) -> Choice | None:
        return next((c for c in self.choices if c.code == code), None)


@dataclass(frozen=True)
class Context:
    """Tenant and user settings that cleaning and display depend on."""

    currency: str = "CNY"
    region: str = "CN"
    timezone: str = "Asia/Shanghai"
    locale: str = "en"


class NoOptions(Schema):
    """A type without options: anything sent is refused."""

    class Meta:
        unknown = "raise"


class FieldType:
    """Base class of the field types; a subclass per type, registered by its ``name``."""

    name: ClassVar[str]
    #: The kind of value, which decides the filter operators and how values compare.
    kind: ClassVar[str]
    operators: ClassVar[tuple[str, ...]]
    widget: ClassVar[str] = "text"
    sortable: ClassVar[bool] = True
    #: Users type values in; false for auto-number and formula, which the system computes.
    editable: ClassVar[bool] = True
    #: Types a field of this type may be converted to (with a preview of what fails).
    convertible_to: ClassVar[frozenset[str]] = frozenset()
    options_schema: ClassVar[type[Schema]] = NoOptions

    def load_options(self, raw: Mapping[str, Any] | None) -> dict[str, Any]:
        """Validate a field's options (marshmallow raises ``ValidationError`` naming the key).

        The result is plain JSON (decimals as strings), ready for the JSONB ``options`` column.
        """
        loaded = self.options_schema().load(dict(raw or {}))
        return {k: str(v) if isinstance(v, Decimal) else v for k, v in loaded.items()}

    def clean(self, raw: Any, spec: FieldSpec, ctx: Context) -> Any:
        """Turn an API or form value into the canonical Python value (``None`` for empty)."""
        raise NotImplementedError

    def to_storage(self, value: Any) -> Any:
        """The JSON form kept in the record's ``data`` column."""
        return value

    def from_storage(self, stored: Any) -> Any:
        return stored

    def to_api(self, value: Any) -> Any:
        """The JSON form the API answers with."""
        return self.to_storage(value)

    def sql(self, data: ColumnElement[Any], key: str, spec: FieldSpec) -> ColumnElement[Any]:
        """A typed SQL expression of the field's value inside the JSONB ``data`` column."""
        return data[key].astext

    def sort_sql(self, data: ColumnElement[Any], key: str, spec: FieldSpec) -> ColumnElement[Any]:
        return self.sql(data, key, spec)

    def display(self, value: Any, spec: FieldSpec, ctx: Context) -> str:
        """Human-readable text in the user's language."""
        return "" if value is None else str(value)

    def export(self, value: Any, spec: FieldSpec, ctx: Context) -> Any:
        """A cell value for CSV/XLSX (numbers stay numbers, dates stay dates)."""
        return self.display(value, spec, ctx)

    def api_field(self, spec: FieldSpec) -> ma.Field:
        """The marshmallow field describing the value in the OpenAPI document."""
        return ma.String(allow_none=True, metadata={"description": spec.label_en})


_CASE_INSENSITIVE = frozenset({"text", "email", "phone", "url", "auto_number"})


def unique_key(type_name: str, stored: Any) -> str:
    """The form a unique field's value is compared in: text ignores case, others compare as JSON."""
    import json

    if type_name in _CASE_INSENSITIVE and isinstance(stored, str):
        return stored.casefold()
    return json.dumps(stored, sort_keys=True, ensure_ascii=False)
