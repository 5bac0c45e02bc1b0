"""Commands and queries of the metadata store. Each command is one audited transaction that
bumps the tenant's metadata version, so every process sees the change on its next request."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask_babel import gettext as _
from marshmallow import ValidationError
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from custom_fields import indexing, types
from custom_fields.definitions import bump_version, field_spec
from custom_fields.errors import LimitReached, NotFound, SystemFieldError
from custom_fields.models import FieldAccess, FieldDefinition, ObjectDefinition, PicklistValue
from custom_fields.types import Choice, Context, FieldSpec, FieldValueError
from custom_fields.types.lookup import USER_TARGET
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from tenants import audit
from tenants.context import current_tenant_id
from tenants.models import ADMIN_ROLES, Membership

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,59}$")
CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,59}$")
COLOUR_PATTERN = re.compile(r"^#[0-9a-fA-F]{6}$")
#: Keys the record API uses itself; a field may not take them.
RESERVED_KEYS = frozenset(
    {
        "id",
        "version",
        "tenant_id",
        "object",
        "owner",
        "owner_id",
        "name",
        "data",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
        "deleted_at",
        "tags",
        "search_text",
        "new",  # would collide with the admin pages' URLs
        "order",
        # Formula keywords: a field with such a key could not be used in a formula.
        "true",
        "false",
        "null",
        "and",
        "or",
        "not",
    }
)
MAX_FIELDS_PER_OBJECT = 500
MAX_PICKLIST_VALUES = 1000
ACCESS_LEVELS = ("hidden", "read_only", "editable")
#: Field properties every type has; all other keys of a request are the type's options.
COMMON_KEYS = frozenset(
    {
        "key",
        "type",
        "label",
        "label_en",
        "label_zh",
        "help",
        "help_en",
        "help_zh",
        "required",
        "unique",
        "indexed",
        "searchable",
        "default",
        "values",
        "active",
    }
)


def list_objects() -> list[ObjectDefinition]:
    """The objects of the tenant in context, in display order."""
    return list(
        db.session.execute(select(ObjectDefinition).order_by(ObjectDefinition.position)).scalars()
    )


MAX_CUSTOM_OBJECTS = 200
OBJECT_PROPERTIES = frozenset(
    {"key", "label", "label_en", "label_zh", "plural", "plural_en", "plural_zh", "icon"}
)


def _refuse_unknown(
    payload: Mapping[str, Any], known: set[str] | frozenset[str], errors: dict[str, list[str]]
) -> None:
    for name in sorted(set(payload) - known):
        errors[name] = [_("Unknown property.")]


ICON_PATTERN = re.compile(r"^[a-z0-9-]{1,40}$")


def create_object(actor: Membership, payload: Mapping[str, Any]) -> ObjectDefinition:
    """A tenant-defined object: records, pages, API and lookups like a standard one."""
    _require_admin(actor)
    errors: dict[str, list[str]] = {}
    key = payload.get("key")
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        errors["key"] = [_("Use 2 to 60 lower-case letters, digits or _, starting with a letter.")]
    elif key in RESERVED_KEYS or key in {"objects", "records", "jobs", USER_TARGET}:
        errors["key"] = [_("“%(key)s” is reserved. Choose another key.", key=key)]
    label_en, label_zh = _labels(payload, "label", errors, required=True)
    plural_en, plural_zh = _labels(payload, "plural", errors, required=False)
    icon = payload.get("icon", "box")
    if not isinstance(icon, str) or not ICON_PATTERN.match(icon):
        errors["icon"] = [_("Use a Bootstrap icon name such as box or truck.")]
    name_pattern = payload.get("name_pattern")
    if name_pattern is not None:
        try:
            types.get("auto_number").load_options({"pattern": name_pattern})
        except ValidationError as exc:
            errors["name_pattern"] = [str(m) for m in exc.messages_dict.get("pattern", [])]
    _refuse_unknown(payload, OBJECT_PROPERTIES | {"name_pattern"}, errors)
    if errors:
        raise ValidationFailed(errors)
    if db.session.execute(select(ObjectDefinition.id).where(ObjectDefinition.key == key)).first():
        raise DomainError(
            _("The key “%(key)s” is used by another object.", key=key), field="key", status=409
        )
    custom_count = db.session.execute(
        select(func.count())
        .select_from(ObjectDefinition)
        .where(ObjectDefinition.is_standard.is_(False))
    ).scalar_one()
    if custom_count >= MAX_CUSTOM_OBJECTS:
        raise LimitReached(
            _("A company can have at most %(n)d custom objects.", n=MAX_CUSTOM_OBJECTS)
        )
    position = db.session.execute(
        select(func.coalesce(func.max(ObjectDefinition.position) + 1, 0))
    ).scalar_one()
    obj = ObjectDefinition(
        key=key,
        label_en=label_en,
        label_zh=label_zh,
        plural_en=plural_en or label_en,
        plural_zh=plural_zh or label_zh,
        icon=icon,
        is_standard=False,
        position=position,
        name_pattern=name_pattern,
    )
    db.session.add(obj)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise DomainError(
            _("The key “%(key)s” is used by another object.", key=key), field="key", status=409
        ) from exc
    audit.record(
        "object.created",
        "object",
        key,
        after={"key": key, "label_en": label_en, "label_zh": label_zh, "icon": icon},
    )
    bump_version(current_tenant_id())
    db.session.commit()
    return obj


def _object_labels(obj: ObjectDefinition) -> dict[str, str]:
    """What an object rename changes, for the audit trail."""
    return {
        name: getattr(obj, name)
        for name in ("label_en", "label_zh", "plural_en", "plural_zh", "icon")
    }


def update_object(actor: Membership, key: str, payload: Mapping[str, Any]) -> ObjectDefinition:
    """Rename an object or change its icon; the key never changes."""
    _require_admin(actor)
    obj = get_object(key)
    errors: dict[str, list[str]] = {}
    if "key" in payload and payload["key"] != key:
        errors["key"] = [_("An object's key cannot change; change its label instead.")]
    label_en, label_zh = _labels(payload, "label", errors, required=False)
    plural_en, plural_zh = _labels(payload, "plural", errors, required=False)
    icon = payload.get("icon")
    if icon is not None and (not isinstance(icon, str) or not ICON_PATTERN.match(icon)):
        errors["icon"] = [_("Use a Bootstrap icon name such as box or truck.")]
    _refuse_unknown(payload, OBJECT_PROPERTIES, errors)
    if errors:
        raise ValidationFailed(errors)
    before = _object_labels(obj)
    for attr, value in (
        ("label_en", label_en),
        ("label_zh", label_zh),
        ("plural_en", plural_en),
        ("plural_zh", plural_zh),
        ("icon", icon),
    ):
        if value is not None:
            setattr(obj, attr, value)
    after = _object_labels(obj)
    if after != before:
        audit.record("object.updated", "object", key, before=before, after=after)
        bump_version(current_tenant_id())
    db.session.commit()
    return obj


def get_object(key: str) -> ObjectDefinition:
    obj = db.session.execute(
        select(ObjectDefinition).where(ObjectDefinition.key == key)
    ).scalar_one_or_none()
    if obj is None:
        raise NotFound(_("There is no object “%(key)s”.", key=key))
    return obj


def list_fields(object_key: str, *, deleted: bool = False) -> list[FieldDefinition]:
    """An object's fields in display order; ``deleted=True`` lists the recoverable ones."""
    obj = get_object(object_key)
    condition = (
        FieldDefinition.deleted_at.is_not(None) if deleted else FieldDefinition.deleted_at.is_(None)
    )
    return list(
        db.session.execute(
            select(FieldDefinition)
            .where(FieldDefinition.object_id == obj.id, condition)
            .order_by(FieldDefinition.position, FieldDefinition.id)
        ).scalars()
    )


def get_field(object_key: str, field_key: str) -> FieldDefinition:
    obj = get_object(object_key)
    field = db.session.execute(
        select(FieldDefinition).where(
            FieldDefinition.object_id == obj.id, FieldDefinition.key == field_key
        )
    ).scalar_one_or_none()
    if field is None:
        raise NotFound(_("There is no field “%(key)s”.", key=field_key))
    return field


def picklist_values(field: FieldDefinition) -> list[PicklistValue]:
    return list(
        db.session.execute(
            select(PicklistValue)
            .where(PicklistValue.field_id == field.id)
            .order_by(PicklistValue.position)
        ).scalars()
    )


def field_access(field: FieldDefinition) -> dict[str, str]:
    rows = db.session.execute(select(FieldAccess).where(FieldAccess.field_id == field.id))
    return {row.role_key: row.access for row in rows.scalars()}


def describe(field: FieldDefinition) -> dict[str, Any]:
    """A field as the API and the audit trail show it."""
    data: dict[str, Any] = {
        "key": field.key,
        "type": field.type,
        "label_en": field.label_en,
        "label_zh": field.label_zh,
        "help_en": field.help_en,
        "help_zh": field.help_zh,
        "required": field.required,
        "unique": field.unique,
        "indexed": field.indexed,
        "searchable": field.searchable,
        "default": field.default,
        "active": field.active,
        "position": field.position,
        "options": dict(field.options or {}),
        "deleted_at": field.deleted_at.isoformat() if field.deleted_at else None,
        "is_system": bool(field.is_system),
        "values": None,
    }
    if field.type in ("picklist", "multi_picklist"):
        protected = _protected_codes(field)
        data["values"] = [
            {
                "code": v.code,
                "label_en": v.label_en,
                "label_zh": v.label_zh,
                "colour": v.colour,
                "active": v.active,
                "is_system": v.code in protected,
            }
            for v in picklist_values(field)
        ]
    data["access"] = field_access(field)
    return data


def _object_key(field: FieldDefinition) -> str:
    obj = db.session.get(ObjectDefinition, (field.tenant_id, field.object_id))
    return obj.key if obj is not None else ""


def _protected_codes(field: FieldDefinition) -> frozenset[str]:
    """Picklist codes of a system field that the product relies on (never deactivated)."""
    if not field.is_system:
        return frozenset()
    from custom_fields.system_fields import protected_codes

    return protected_codes(_object_key(field), field.key)


def guard_system(field: FieldDefinition, action: str) -> None:
    """Refuse to ``delete``, ``purge`` or ``convert`` a system field (409, ``system_field``)."""
    if not field.is_system:
        return
    from flask_babel import get_locale

    name = field.label(str(get_locale() or "en"))
    if action == "delete":
        message = _(
            "“%(name)s” is a system field: the CRM relies on it, so it cannot be deleted.",
            name=name,
        )
    elif action == "purge":
        message = _(
            "“%(name)s” is a system field: the CRM relies on it, so it cannot be purged.", name=name
        )
    else:
        message = _(
            "“%(name)s” is a system field: the CRM relies on it, so its type cannot change.",
            name=name,
        )
    raise SystemFieldError(f"{_object_key(field)}.{field.key}", {field.key: [message]})


def _system_changes(field: FieldDefinition, payload: Mapping[str, Any]) -> dict[str, list[str]]:
    """What ``payload`` would change that a system field keeps: key, type, required, active, a
    lookup's target, and its protected picklist codes."""
    if not field.is_system:
        return {}
    errors: dict[str, list[str]] = {}
    if "key" in payload and payload["key"] != field.key:
        errors["key"] = [_("A system field's key cannot change.")]
    if "type" in payload and payload["type"] != field.type:
        errors["type"] = [_("A system field's type cannot change.")]
    if isinstance(payload.get("required"), bool) and payload["required"] != field.required:
        errors["required"] = [_("Whether a system field is required cannot change.")]
    if payload.get("active") is False:
        errors["active"] = [_("A system field cannot be deactivated.")]
    if (
        field.type == "lookup"
        and "target" in payload
        and payload["target"] != (field.options or {}).get("target")
    ):
        errors["target"] = [_("A system field's lookup target cannot change.")]
    raw = payload.get("values")
    protected = _protected_codes(field) if isinstance(raw, list) else frozenset()
    if protected:
        sent: set[str] = set()
        for index, item in enumerate(raw):
            code, active = (item, True) if isinstance(item, str) else (None, True)
            if isinstance(item, Mapping):
                code, active = item.get("code"), item.get("active", True)
            if isinstance(code, str):
                sent.add(code)
                if code in protected and active is False:
                    errors[f"values.{index}.active"] = [_protected_message(code)]
        missing = sorted(protected - sent)
        if missing:
            errors["values"] = [_protected_message(code) for code in missing]
    return errors


def _protected_message(code: str) -> str:
    return _("The CRM relies on the value “%(code)s”: it cannot be deactivated.", code=code)


def _require_admin(actor: Membership) -> None:
    if actor.role_key not in ADMIN_ROLES:
        from tenants.errors import Forbidden

        raise Forbidden(_("Only owners and administrators can change fields."))


def _labels(
    payload: Mapping[str, Any], prefix: str, errors: dict[str, list[str]], *, required: bool
) -> tuple[str | None, str | None]:
    """``label`` (one text for both languages, or {"en", "zh"}) or ``label_en``/``label_zh``."""
    both = payload.get(prefix)
    english, chinese = payload.get(f"{prefix}_en"), payload.get(f"{prefix}_zh")
    if isinstance(both, Mapping):
        english, chinese = both.get("en", english), both.get("zh", chinese)
    elif both is not None:
        english = english if english is not None else both
        chinese = chinese if chinese is not None else both
    limit = 2000 if prefix == "help" else 100  # labels and plurals fit their columns
    result = []
    for value in (english, chinese):
        if value is None:
            result.append(None)
            continue
        if not isinstance(value, str) or (not value.strip() and prefix == "label"):
            errors.setdefault(prefix, []).append(_("Enter a label."))
            result.append(None)
        elif len(value.strip()) > limit:
            errors.setdefault(prefix, []).append(_("Use at most %(n)d characters.", n=limit))
            result.append(None)
        else:
            result.append(value.strip())
    if required and None in result and prefix not in errors:
        errors[prefix] = [_("Enter a label.")]
    return result[0], result[1]


def _flag(payload: Mapping[str, Any], name: str, errors: dict[str, list[str]]) -> bool | None:
    if name not in payload:
        return None
    value = payload[name]
    if not isinstance(value, bool):
        errors[name] = [_("Use true or false.")]
        return None
    return value


def _load_values(raw: Any, errors: dict[str, list[str]]) -> list[dict[str, Any]] | None:
    """Picklist values as sent: a list of {code, label | label_en/label_zh, colour, active}."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        errors["values"] = [_("Send a list of values.")]
        return None
    if len(raw) > MAX_PICKLIST_VALUES:
        errors["values"] = [_("Use at most %(n)d values.", n=MAX_PICKLIST_VALUES)]
        return None
    seen: set[str] = set()
    loaded = []
    for index, item in enumerate(raw):
        where = f"values.{index}"
        if isinstance(item, str):
            item = {"code": item, "label": item}
        if not isinstance(item, Mapping):
            errors[where] = [_("Send each value as an object with a code and a label.")]
            continue
        code = item.get("code")
        if not isinstance(code, str) or not CODE_PATTERN.match(code):
            errors[f"{where}.code"] = [_("Use letters, digits, _ . or - (at most 60).")]
            continue
        if code in seen:
            errors[f"{where}.code"] = [_("The code “%(code)s” appears twice.", code=code)]
            continue
        seen.add(code)
        value_errors: dict[str, list[str]] = {}
        english, chinese = _labels(
            {**item, "label": item.get("label", code)}, "label", value_errors, required=True
        )
        colour = item.get("colour")
        if colour is not None and (not isinstance(colour, str) or not COLOUR_PATTERN.match(colour)):
            value_errors["colour"] = [_("Use a colour such as #1f77b4.")]
        active = item.get("active", True)
        if not isinstance(active, bool):
            value_errors["active"] = [_("Use true or false.")]
        unknown = set(item) - {"code", "label", "label_en", "label_zh", "colour", "active"}
        for name in sorted(unknown):
            value_errors[name] = [_("Unknown property.")]
        for name, messages in value_errors.items():
            errors[f"{where}.{name}"] = messages
        loaded.append(
            {
                "code": code,
                "label_en": english,
                "label_zh": chinese,
                "colour": colour,
                "active": active,
            }
        )
    return loaded


def _spec(field: FieldDefinition, values: list[dict[str, Any]] | None = None) -> FieldSpec:
    if values is None:
        values = [
            {
                "code": v.code,
                "label_en": v.label_en,
                "label_zh": v.label_zh,
                "colour": v.colour,
                "active": v.active,
            }
            for v in picklist_values(field)
        ]
    return field_spec(
        field,
        (Choice(v["code"], v["label_en"], v["label_zh"], v["colour"], v["active"]) for v in values),
    )


def _apply(
    field: FieldDefinition, payload: Mapping[str, Any], *, creating: bool, ctx: Context
) -> list[dict[str, Any]] | None:
    """Validate ``payload`` onto ``field``; all problems are reported together."""
    errors: dict[str, list[str]] = {}
    field_type = types.get(field.type)
    field_options_before = dict(field.options or {})
    label_en, label_zh = _labels(payload, "label", errors, required=creating)
    help_en, help_zh = _labels(payload, "help", errors, required=False)
    flags = {
        name: _flag(payload, name, errors)
        for name in ("required", "unique", "indexed", "searchable", "active")
    }
    option_keys = {k: v for k, v in payload.items() if k not in COMMON_KEYS}
    if creating or option_keys:
        merged = {**({} if creating else dict(field.options or {})), **option_keys}
        try:
            options = field_type.load_options(merged)
        except ValidationError as exc:
            for name, messages in exc.messages_dict.items():
                errors[name] = [
                    str(m) for m in (messages if isinstance(messages, list) else [messages])
                ]
            options = dict(field.options or {})
    else:
        options = dict(field.options or {})
    values = None
    if "values" in payload:
        if field.type not in ("picklist", "multi_picklist"):
            errors["values"] = [_("Only picklists have values.")]
        else:
            values = _load_values(payload["values"], errors)
    elif creating and field.type in ("picklist", "multi_picklist"):
        errors["values"] = [_("Give the picklist at least one value.")]
    if values is not None and not values and "values" not in errors:
        errors["values"] = [_("Give the picklist at least one value.")]
    if errors:
        raise ValidationFailed(errors)

    for attr, value in (
        ("label_en", label_en),
        ("label_zh", label_zh),
        ("help_en", help_en),
        ("help_zh", help_zh),
    ):
        if value is not None:
            setattr(field, attr, value)
    for name, value in flags.items():
        if value is not None:
            setattr(field, name, value)
    field.options = options
    if not field_type.editable:
        message = _("A computed field cannot be required, unique or have a default.")
        wrong = [
            name
            for name, bad in (
                ("required", field.required),
                ("unique", field.unique),
                ("default", "default" in payload),
            )
            if bad
        ]
        if wrong:
            raise ValidationFailed({name: [message] for name in wrong})
    if field.unique and (
        payload.get("default") is not None
        or (field.default is not None and "default" not in payload)
    ):
        raise ValidationFailed(
            {
                "default": [
                    _(
                        "A unique field cannot have a default: every new "
                        "record would get the same value."
                    )
                ]
            }
        )
    if field.unique and field.type in ("multi_picklist", "boolean", "long_text", "formula"):
        raise ValidationFailed({"unique": [_("This type of field cannot be unique.")]})
    if field.indexed and not field_type.sortable and field.type != "multi_picklist":
        raise ValidationFailed({"indexed": [_("This type of field cannot be indexed.")]})
    if "default" in payload or (field.default is not None and (option_keys or values is not None)):
        # A default is checked like a value, again whenever the options or values change.
        spec = _spec(field, values)
        raw_default = payload.get("default", field.default)  # stored forms clean again
        try:
            cleaned = field_type.clean(raw_default, spec, ctx)
        except FieldValueError as exc:
            raise ValidationFailed({"default": [exc.message]}) from exc
        field.default = field_type.to_storage(cleaned)
    if not creating and field.type == "auto_number":
        for name in ("start", "reset"):
            if name in option_keys and option_keys[name] != field_options_before.get(name):
                raise ValidationFailed(
                    {name: [_("The counter cannot change once numbers have been given out.")]}
                )
    if field.type in ("picklist", "multi_picklist") and options.get("controlling_field"):
        _check_dependencies(field, options, values)
    if field.type == "lookup":
        # A lookup links to records of an object, or to a member of the company ("user").
        target = options.get("target")
        exists = (
            target == USER_TARGET
            or db.session.execute(
                select(ObjectDefinition.id).where(ObjectDefinition.key == target)
            ).first()
        )
        if not exists:
            raise ValidationFailed({"target": [_("There is no object “%(key)s”.", key=target)]})
    if field.type == "formula":
        _check_formula(field, options)
    return values


def _check_dependencies(
    field: FieldDefinition, options: Mapping[str, Any], values: list[dict[str, Any]] | None
) -> None:
    """A dependent picklist names a live picklist or yes/no field of the same object; the
    dependencies use codes of both."""
    controlling = db.session.execute(
        select(FieldDefinition).where(
            FieldDefinition.object_id == field.object_id,
            FieldDefinition.key == options["controlling_field"],
            FieldDefinition.deleted_at.is_(None),
        )
    ).scalar_one_or_none()
    if (
        controlling is None
        or controlling.type not in ("picklist", "boolean")
        or (controlling.key == field.key)
    ):
        raise ValidationFailed(
            {"controlling_field": [_("Choose another picklist or yes/no field of this object.")]}
        )
    own = (
        {v["code"] for v in values}
        if values is not None
        else {v.code for v in picklist_values(field)}
    )
    parents = (
        {"True", "False", "true", "false"}
        if controlling.type == "boolean"
        else {v.code for v in picklist_values(controlling)}
    )
    for parent, allowed in (options.get("dependencies") or {}).items():
        if parent not in parents:
            raise ValidationFailed(
                {
                    "dependencies": [
                        _(
                            "“%(code)s” is not a value of %(field)s.",
                            code=parent,
                            field=controlling.key,
                        )
                    ]
                }
            )
        unknown = set(allowed) - own
        if unknown:
            raise ValidationFailed(
                {
                    "dependencies": [
                        _(
                            "“%(code)s” is not a value of %(field)s.",
                            code=sorted(unknown)[0],
                            field=field.key,
                        )
                    ]
                }
            )


def _check_formula(field: FieldDefinition, options: Mapping[str, Any]) -> None:
    from custom_fields.formula import FormulaError, compiled, parse

    others = {
        f.key: f
        for f in db.session.execute(
            select(FieldDefinition).where(
                FieldDefinition.object_id == field.object_id, FieldDefinition.deleted_at.is_(None)
            )
        ).scalars()
        if f.key != field.key
    }
    field_types = {key: f.type for key, f in others.items() if f.type != "formula"}
    for key, f in others.items():
        if f.type == "formula":
            try:
                field_types[key] = compiled(f.options["expression"]).result_type(field_types)
            except (FormulaError, KeyError):
                continue
    try:
        formula = parse(options["expression"])
        formula.result_type(field_types)
    except FormulaError as exc:
        raise ValidationFailed({"expression": [str(exc.message)]}) from exc


def _save_values(field: FieldDefinition, values: list[dict[str, Any]]) -> None:
    """Replace the value list, keeping codes: a value left out is deactivated, never deleted,
    because records may hold it."""
    existing = {v.code: v for v in picklist_values(field)}
    for position, item in enumerate(values):
        row = existing.pop(item["code"], None)
        if row is None:
            row = PicklistValue(field_id=field.id, code=item["code"])
            db.session.add(row)
        row.label_en, row.label_zh = item["label_en"], item["label_zh"]
        row.colour, row.active, row.position = item["colour"], item["active"], position
    for offset, row in enumerate(existing.values(), start=len(values)):
        row.active = False
        row.position = offset


def _context() -> Context:
    from flask import g

    tenant = g.get("tenant")
    return Context(currency=tenant.currency, timezone=tenant.timezone) if tenant else Context()


def create_field(actor: Membership, object_key: str, payload: Mapping[str, Any]) -> FieldDefinition:
    """Add a field: metadata only, so it is instant whatever the number of records."""
    _require_admin(actor)
    obj = get_object(object_key)
    errors: dict[str, list[str]] = {}
    key, type_name = payload.get("key"), payload.get("type")
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        errors["key"] = [_("Use 2 to 60 lower-case letters, digits or _, starting with a letter.")]
    elif key in RESERVED_KEYS:
        errors["key"] = [_("“%(key)s” is reserved. Choose another key.", key=key)]
    if type_name not in types.REGISTRY:
        errors["type"] = [_("Choose one of: %(types)s.", types=", ".join(types.TYPE_NAMES))]
    if errors:
        raise ValidationFailed(errors)
    taken = db.session.execute(
        select(FieldDefinition.id).where(
            FieldDefinition.object_id == obj.id, FieldDefinition.key == key
        )
    ).first()
    if taken:
        raise DomainError(
            _("The key “%(key)s” is used by another field (perhaps a deleted one).", key=key),
            field="key",
            status=409,
        )
    # System fields come with the product: only the company's own fields count.
    count = db.session.execute(
        select(func.count())
        .select_from(FieldDefinition)
        .where(FieldDefinition.object_id == obj.id, FieldDefinition.is_system.is_(False))
    ).scalar_one()
    if count >= MAX_FIELDS_PER_OBJECT:
        raise LimitReached(
            _("An object can have at most %(n)d custom fields.", n=MAX_FIELDS_PER_OBJECT)
        )
    position = db.session.execute(
        select(func.coalesce(func.max(FieldDefinition.position) + 1, 0)).where(
            FieldDefinition.object_id == obj.id
        )
    ).scalar_one()
    field = FieldDefinition(
        object_id=obj.id,
        key=key,
        type=type_name,
        position=position,
        options={},
        help_en="",
        help_zh="",
        label_en="",
        label_zh="",
    )
    values = _apply(field, payload, creating=True, ctx=_context())
    db.session.add(field)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise DomainError(
            _("The key “%(key)s” is used by another field (perhaps a deleted one).", key=key),
            field="key",
            status=409,
        ) from exc
    if values is not None:
        _save_values(field, values)
        db.session.flush()
    indexing.schedule(field, created_by=actor.user_id)  # builds its indexes when indexed
    audit.record("field.created", "field", f"{object_key}.{key}", after=describe(field))
    bump_version(current_tenant_id())
    db.session.commit()
    return field


def update_field(
    actor: Membership, object_key: str, field_key: str, payload: Mapping[str, Any]
) -> FieldDefinition:
    """Change labels, help, flags, options, default or values; the key never changes."""
    _require_admin(actor)
    field = get_field(object_key, field_key)
    if field.deleted_at is not None:
        raise DomainError(_("Restore the field before changing it."), status=409)
    system_errors = _system_changes(field, payload)
    if system_errors:
        raise SystemFieldError(f"{object_key}.{field_key}", system_errors)
    errors = {}
    if "key" in payload and payload["key"] != field.key:
        errors["key"] = [_("A field's key cannot change; change its label instead.")]
    if "type" in payload and payload["type"] != field.type:
        errors["type"] = [_("Change the type with a type conversion.")]
    if errors:
        raise ValidationFailed(errors)
    if payload.get("active") is False and field.active:
        users = _formulas_using(field)
        if users:
            raise DomainError(
                _("Formula fields use this field: %(keys)s.", keys=", ".join(users)), status=409
            )
    before = describe(field)
    index_before = indexing.signature(field)
    was_unique = field.unique
    values = _apply(field, payload, creating=False, ctx=_context())
    if values is not None:
        _save_values(field, values)
    db.session.flush()
    if field.unique and not was_unique:
        from custom_fields.maintenance import (
            INLINE_UNIQUE_LIMIT,
            _count_holders,
            claim_existing_values,
        )

        if _count_holders(field) > INLINE_UNIQUE_LIMIT:
            db.session.rollback()
            raise DomainError(
                _(
                    "This object has many records: make the field unique with a background job "
                    "(POST …/fields/%(key)s/unique).",
                    key=field.key,
                ),
                field="unique",
                status=409,
            )
        try:
            claim_existing_values(field)
        except ValidationFailed:
            db.session.rollback()
            raise
    elif was_unique and not field.unique:
        from saas.records.models import UniqueValue

        db.session.execute(delete(UniqueValue).where(UniqueValue.field_id == field.id))
    if indexing.signature(field) != index_before or (
        # Asking again for an index that failed or predates index builds retries it.
        payload.get("indexed") is True and field.index_state in (None, "failed")
    ):
        indexing.schedule(field, created_by=actor.user_id)
    after = describe(field)
    if after != before:
        audit.record(
            "field.updated", "field", f"{object_key}.{field_key}", before=before, after=after
        )
        bump_version(current_tenant_id())
    if after.get("searchable") != before.get("searchable"):
        from saas.records.search import start_rebuild

        start_rebuild(field.object_id, actor.user_id)
    db.session.commit()
    return field


def reorder_fields(actor: Membership, object_key: str, keys: list[str]) -> list[FieldDefinition]:
    """Put the object's fields in the order of ``keys`` (every live field exactly once)."""
    _require_admin(actor)
    fields = {f.key: f for f in list_fields(object_key)}
    if sorted(keys) != sorted(fields) or len(set(keys)) != len(keys):
        raise ValidationFailed({"keys": [_("List every field of the object exactly once.")]})
    before = [f.key for f in sorted(fields.values(), key=lambda f: f.position)]
    for position, key in enumerate(keys):
        fields[key].position = position
    audit.record(
        "field.reordered", "object", object_key, before={"order": before}, after={"order": keys}
    )
    bump_version(current_tenant_id())
    db.session.commit()
    return [fields[k] for k in keys]


def delete_field(actor: Membership, object_key: str, field_key: str) -> FieldDefinition:
    """Soft-delete: the field disappears, its values stay, and it can be restored until purged."""
    _require_admin(actor)
    field = get_field(object_key, field_key)
    if field.deleted_at is not None:
        raise NotFound(_("There is no field “%(key)s”.", key=field_key))
    guard_system(field, "delete")
    dependants = _formulas_using(field)
    if dependants:
        raise DomainError(
            _("Formula fields use this field: %(keys)s.", keys=", ".join(dependants)), status=409
        )
    field.deleted_at = datetime.now(UTC)
    indexing.schedule(field, created_by=actor.user_id)  # a deleted field keeps no index
    audit.record("field.deleted", "field", f"{object_key}.{field_key}", before=describe(field))
    bump_version(current_tenant_id())
    db.session.commit()
    return field


def restore_field(actor: Membership, object_key: str, field_key: str) -> FieldDefinition:
    _require_admin(actor)
    field = get_field(object_key, field_key)
    if field.deleted_at is None:
        raise DomainError(_("This field is not deleted."), status=409)
    from saas import tracked

    if tracked.is_active(f"field-purge:{field.id}"):
        raise DomainError(
            _("This field is being purged and can no longer be restored."), status=409
        )
    field.deleted_at = None
    indexing.schedule(field, created_by=actor.user_id)  # rebuilt when indexed
    audit.record("field.restored", "field", f"{object_key}.{field_key}", after=describe(field))
    bump_version(current_tenant_id())
    db.session.commit()
    return field


def _formulas_using(field: FieldDefinition) -> list[str]:
    """Keys of the live formula fields whose expression uses ``field``."""
    formulas = (
        db.session.execute(
            select(FieldDefinition).where(
                FieldDefinition.object_id == field.object_id,
                FieldDefinition.type == "formula",
                FieldDefinition.deleted_at.is_(None),
            )
        )
        .scalars()
        .all()
    )
    if not formulas:
        return []
    from custom_fields.formula import FormulaError, compiled

    users = []
    for other in formulas:
        try:
            if field.key in compiled(other.options["expression"]).references:
                users.append(other.key)
        except (FormulaError, KeyError):
            continue
    return users


def set_field_access(
    actor: Membership, object_key: str, field_key: str, access: Mapping[str, str]
) -> dict[str, str]:
    """Per role: hidden, read_only or editable. Owners and admins always keep full access."""
    _require_admin(actor)
    field = get_field(object_key, field_key)
    from tenants.services import roles as tenant_roles

    known = {r.key for r in tenant_roles()}
    errors = {}
    for role, level in access.items():
        if role not in known:
            errors[role] = [_("There is no role “%(key)s”.", key=role)]
        elif role in ADMIN_ROLES:
            errors[role] = [_("Owners and administrators always see every field.")]
        elif level not in ACCESS_LEVELS:
            errors[role] = [_("Use hidden, read_only or editable.")]
    if errors:
        raise ValidationFailed(errors)
    before = field_access(field)
    rows = {
        r.role_key: r
        for r in db.session.execute(
            select(FieldAccess).where(FieldAccess.field_id == field.id)
        ).scalars()
    }
    for role, level in access.items():
        row = rows.get(role)
        if level == "editable":
            if row is not None:
                db.session.delete(row)
        elif row is None:
            db.session.add(FieldAccess(field_id=field.id, role_key=role, access=level))
        else:
            row.access = level
    db.session.flush()
    after = field_access(field)
    audit.record(
        "field.access_changed",
        "field",
        f"{object_key}.{field_key}",
        before={"access": before},
        after={"access": after},
    )
    bump_version(current_tenant_id())
    if ("hidden" in before.values()) != ("hidden" in after.values()):
        # Quick search leaves out fields hidden from any role: their values must not be found.
        from saas.records.search import start_rebuild

        start_rebuild(field.object_id, actor.user_id)
    db.session.commit()
    return after
