"""Resolved field definitions of a tenant, cached per process and invalidated by version.

Every metadata change bumps ``tenants.metadata_version`` in its own transaction. A request reads
its tenant row anyway, so comparing versions costs nothing: when another process changed a field,
the next request here sees a new version and reloads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import g, has_request_context
from sqlalchemy import inspect, select, update

from custom_fields.models import FieldAccess, FieldDefinition, ObjectDefinition, PicklistValue
from custom_fields.types import Choice, FieldSpec
from saas.extensions import db
from tenants.models import ADMIN_ROLES, Tenant


@dataclass(frozen=True)
class FieldInfo:
    """A live field: its spec for the type, plus what records need (id, unique, default,
    access per role)."""

    id: int
    spec: FieldSpec
    unique: bool
    default: Any
    searchable: bool
    access: Mapping[str, str]

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def type(self) -> str:
        return self.spec.type

    def access_for(self, role: str) -> str:
        """hidden, read_only or editable (owners and admins always edit)."""
        if role in ADMIN_ROLES:
            return "editable"
        return self.access.get(role, "editable")


@dataclass(frozen=True)
class ObjectSchema:
    """An object and its live (active, not deleted) fields in display order."""

    id: int
    key: str
    label_en: str
    label_zh: str
    plural_en: str
    plural_zh: str
    is_standard: bool
    name_pattern: str | None
    fields: tuple[FieldInfo, ...]

    def field(self, key: str) -> FieldInfo | None:
        return next((f for f in self.fields if f.key == key), None)

    def label(self, locale: str) -> str:
        return self.label_zh if locale.startswith("zh") else self.label_en

    def plural(self, locale: str) -> str:
        return self.plural_zh if locale.startswith("zh") else self.plural_en


_cache: dict[int, tuple[int, dict[str, ObjectSchema]]] = {}
_lock = threading.Lock()


def bump_version(tenant_id: int) -> None:
    """Mark the tenant's metadata changed (in the caller's transaction); the rest of this request
    reloads too."""
    if has_request_context():
        g.pop("kehu_schemas", None)
        g.kehu_metadata_bumped = True
    db.session.execute(
        update(Tenant)
        .where(Tenant.id == tenant_id)
        .values(metadata_version=Tenant.metadata_version + 1)
    )


def field_spec(field: FieldDefinition, choices: Iterable[Choice]) -> FieldSpec:
    """The type-level view of a field definition with its picklist choices."""
    return FieldSpec(
        key=field.key,
        type=field.type,
        label_en=field.label_en,
        label_zh=field.label_zh,
        options=dict(field.options or {}),
        required=field.required,
        choices=tuple(choices),
    )


def _load() -> dict[str, ObjectSchema]:
    objects = db.session.execute(select(ObjectDefinition)).scalars().all()
    fields = (
        db.session.execute(
            select(FieldDefinition)
            .where(FieldDefinition.deleted_at.is_(None), FieldDefinition.active.is_(True))
            .order_by(FieldDefinition.object_id, FieldDefinition.position, FieldDefinition.id)
        )
        .scalars()
        .all()
    )
    values = (
        db.session.execute(
            select(PicklistValue).order_by(PicklistValue.field_id, PicklistValue.position)
        )
        .scalars()
        .all()
    )
    choices: dict[int, list[Choice]] = {}
    for value in values:
        choices.setdefault(value.field_id, []).append(
            Choice(value.code, value.label_en, value.label_zh, value.colour, value.active)
        )
    access: dict[int, dict[str, str]] = {}
    for row in db.session.execute(select(FieldAccess)).scalars():
        access.setdefault(row.field_id, {})[row.role_key] = row.access
    infos: dict[int, list[FieldInfo]] = {}
    for f in fields:
        spec = field_spec(f, choices.get(f.id, ()))
        infos.setdefault(f.object_id, []).append(
            FieldInfo(f.id, spec, f.unique, f.default, f.searchable, access.get(f.id, {}))
        )
    return {
        o.key: ObjectSchema(
            o.id,
            o.key,
            o.label_en,
            o.label_zh,
            o.plural_en,
            o.plural_zh,
            o.is_standard,
            o.name_pattern,
            tuple(infos.get(o.id, ())),
        )
        for o in objects
    }


def _request_tenant_version(tenant_id: int) -> int | None:
    """The version on the request's tenant row (read by this request's transaction when it
    resolved the tenant), unless this request changed the metadata or committed since."""
    if not has_request_context() or g.get("kehu_metadata_bumped"):
        return None
    tenant = g.get("tenant")
    if not isinstance(tenant, Tenant) or tenant.id != tenant_id:
        return None
    state = inspect(tenant)
    if state.session is not db.session() or "metadata_version" in state.unloaded:
        return None  # expired by a commit (or detached): ask the database
    return tenant.metadata_version


def schemas(tenant: Tenant | int) -> dict[str, ObjectSchema]:
    """All object schemas of ``tenant`` (the tenant in context), cached by metadata version."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.id
    if has_request_context() and "kehu_schemas" in g:
        return g.kehu_schemas
    version = _request_tenant_version(tenant_id)
    if version is None:
        version = db.session.execute(
            select(Tenant.metadata_version).where(Tenant.id == tenant_id)
        ).scalar_one()
    with _lock:
        cached = _cache.get(tenant_id)
    if cached is not None and cached[0] == version:
        result = cached[1]
    else:
        result = _load()
        with _lock:
            _cache[tenant_id] = (version, result)
    if has_request_context():
        g.kehu_schemas = result
    return result


def forget(tenant_id: int) -> None:
    """Drop this process's cache of a tenant (the version check makes this optional)."""
    with _lock:
        _cache.pop(tenant_id, None)
    if has_request_context():
        g.pop("kehu_schemas", None)
