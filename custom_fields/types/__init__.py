"""The field type registry: one module per type, each registering one :class:`FieldType`.

Adding a type is adding a module here and importing it below.
"""

from __future__ import annotations

from custom_fields.types.base import (
    Choice,
    Context,
    FieldSpec,
    FieldType,
    FieldValueError,
)

REGISTRY: dict[str, FieldType] = {}


def register(cls: type[FieldType]) -> type[FieldType]:
    """Class decorator: make the type available under ``cls.name``."""
    if cls.name in REGISTRY:
        raise ValueError(f"field type {cls.name!r} registered twice")
    REGISTRY[cls.name] = cls()
    return cls


def get(name: str) -> FieldType:
    """The registered type called ``name``; ``KeyError`` when there is none."""
    return REGISTRY[name]


# Importing the modules registers the types, in the order the admin UI lists them.
from custom_fields.types import (  # noqa: E402
    auto_number,
    boolean,
    currency,
    date,
    datetime,
    decimal,
    email,
    formula,
    integer,
    long_text,
    lookup,
    multi_picklist,
    percent,
    phone,
    picklist,
    text,
    url,
)

#: The public type names, in the order the admin UI offers them.
TYPE_NAMES: tuple[str, ...] = (
    "text",
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
    "lookup",
    "auto_number",
    "formula",
)
assert set(TYPE_NAMES) == set(REGISTRY), "every registered type must be listed in TYPE_NAMES"

__all__ = [
    "REGISTRY",
    "TYPE_NAMES",
    "Choice",
    "Context",
    "FieldSpec",
    "FieldType",
    "FieldValueError",
    "auto_number",
    "boolean",
    "currency",
    "date",
    "datetime",
    "decimal",
    "email",
    "formula",
    "get",
    "integer",
    "long_text",
    "lookup",
    "multi_picklist",
    "percent",
    "phone",
    "picklist",
    "register",
    "text",
    "url",
]
