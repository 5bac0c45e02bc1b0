"""Module permissions: what each role may do with each object, and which records it sees.

Decisions:

- **Five actions per object**: view, create, edit, delete, export. Writing implies viewing
  (a role cannot change what it cannot see; the database refuses such a row).
- **Defaults without a row**: every role views and exports every object; roles that write
  (owner, administrator, manager, member) also create, edit and delete; read-only does not.
  So a company that never opens the matrix keeps the behaviour it had.
- **Owners and administrators** always hold every right with data scope "all": the matrix
  does not apply to them, so no company can lock itself out of its own data.
- **Data scope per object**: a row may name its own scope (a salesperson may see only their
  own customers but every product); ``None`` falls back to the role's scope.
- Rows are read once per request (one query per role) and cached on ``g``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from tenants import audit
from tenants.errors import Forbidden
from tenants.models import (
    ADMIN_ROLES,
    WRITE_ROLES,
    DataScope,
    Membership,
    Role,
    RolePermission,
)

ACTIONS: tuple[str, ...] = ("view", "create", "edit", "delete", "export")


@dataclass(frozen=True)
class Grant:
    """A role's rights on one object; ``data_scope`` ``None`` means the role's own scope."""

    view: bool
    create: bool
    edit: bool
    delete: bool
    export: bool
    data_scope: str | None = None

    def allows(self, action: str) -> bool:
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        return bool(getattr(self, action))

    def as_dict(self) -> dict[str, Any]:
        return {action: self.allows(action) for action in ACTIONS} | {"data_scope": self.data_scope}


FULL = Grant(True, True, True, True, True)
READ_EXPORT = Grant(True, False, False, False, True)


def default_grant(role_key: str) -> Grant:
    """The rights a role has on an object the company has not configured."""
    return FULL if role_key in WRITE_ROLES else READ_EXPORT


def locked(role_key: str) -> bool:
    """Owners and administrators always hold every right on every object."""
    return role_key in ADMIN_ROLES


def _rows(role_key: str) -> dict[str, Grant]:
    from custom_fields.query.scope import cached

    def build() -> dict[str, Grant]:
        rows = db.session.execute(
            select(RolePermission).where(RolePermission.role_key == role_key)
        ).scalars()
        return {row.object_key: _grant_of(row) for row in rows}

    return cached(f"grants:{role_key}", build)


def grant(role_key: str, object_key: str) -> Grant:
    """The role's rights on ``object_key``."""
    if locked(role_key):
        return FULL
    return _rows(role_key).get(object_key) or default_grant(role_key)


def allowed(actor: Membership, object_key: str, action: str) -> bool:
    return grant(actor.role_key, object_key).allows(action)


def object_scope(role_key: str, object_key: str) -> str:
    """Which records of ``object_key`` the role sees: the object's own scope, else the role's."""
    if locked(role_key):
        return DataScope.ALL
    from custom_fields.query.scope import data_scope

    return grant(role_key, object_key).data_scope or data_scope(role_key)


def require(actor: Membership, object_key: str, action: str, message: str | None = None) -> None:
    """Refuse ``action`` on ``object_key`` when the member's role does not allow it."""
    if not allowed(actor, object_key, action):
        raise Forbidden(message or _refusal(object_key, action))


def _refusal(object_key: str, action: str) -> str:
    from flask import has_request_context
    from flask_babel import get_locale

    from custom_fields.definitions import schemas
    from tenants.context import current_tenant_id

    schema = schemas(current_tenant_id()).get(object_key)
    locale = str(get_locale() or "en") if has_request_context() else "en"
    name = schema.plural(locale) if schema is not None else object_key
    messages = {
        "view": _("Your role does not allow viewing %(object)s.", object=name),
        "create": _("Your role does not allow creating %(object)s.", object=name),
        "edit": _("Your role does not allow changing %(object)s.", object=name),
        "delete": _("Your role does not allow deleting %(object)s.", object=name),
        "export": _("Your role does not allow exporting %(object)s.", object=name),
    }
    return messages[action]


# ------------------------------------------------------------------ the matrix


@dataclass(frozen=True)
class MatrixRow:
    """One object's line in a role's permission matrix."""

    object_key: str
    label: str
    grant: Grant
    configured: bool


def matrix(role_key: str, *, locale: str = "en") -> list[MatrixRow]:
    """Every object of the company with the role's rights on it (admin roles: all rights)."""
    from custom_fields.definitions import schemas
    from tenants.context import current_tenant_id

    rows = {} if locked(role_key) else _rows(role_key)
    return [
        MatrixRow(
            schema.key,
            schema.plural(locale) or schema.key,
            grant(role_key, schema.key),
            schema.key in rows,
        )
        for schema in schemas(current_tenant_id()).values()
    ]


def _role(role_key: str) -> Role:
    role = db.session.execute(select(Role).where(Role.key == role_key)).scalar_one_or_none()
    if role is None:
        raise DomainError(_("There is no such role."), status=404)
    return role


def set_matrix(
    actor: Membership, role_key: str, entries: Mapping[str, Mapping[str, Any]]
) -> list[MatrixRow]:
    """Replace the role's rights on the objects named in ``entries`` (object key → rights and
    optional ``data_scope``); all of them or none. Audited as one event."""
    from custom_fields.definitions import schemas
    from tenants.context import current_tenant_id

    if actor.role_key not in ADMIN_ROLES:
        raise Forbidden(_("Only owners and administrators can change permissions."))
    role = _role(role_key)
    if locked(role.key):
        raise ValidationFailed(
            {"role": [_("Owners and administrators always hold every permission.")]}
        )
    known = schemas(current_tenant_id())
    errors: dict[str, list[str]] = {}
    scopes = {s.value for s in DataScope}
    wanted: dict[str, Grant] = {}
    for key, entry in entries.items():
        if key not in known:
            errors.setdefault(f"{key}", []).append(_("There is no such object."))
            continue
        flags = {}
        for action in ACTIONS:
            value = entry.get(action, False)
            if not isinstance(value, bool):
                errors.setdefault(f"{key}.{action}", []).append(_("Must be true or false."))
            flags[action] = bool(value)
        scope = entry.get("data_scope") or None
        if scope is not None and scope not in scopes:
            errors.setdefault(f"{key}.data_scope", []).append(_("Choose a valid data scope."))
        candidate = Grant(**flags, data_scope=scope)
        if not candidate.view and any(candidate.allows(a) for a in ACTIONS[1:]):
            errors.setdefault(f"{key}.view", []).append(
                _("A role that changes or exports records must be able to view them.")
            )
        wanted[key] = candidate
    if errors:
        raise ValidationFailed(errors)
    current = {
        row.object_key: row
        for row in db.session.execute(
            select(RolePermission).where(RolePermission.role_key == role.key).with_for_update()
        ).scalars()
    }
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for key, candidate in wanted.items():
        row = current.get(key)
        old = _grant_of(row) if row is not None else default_grant(role.key)
        if old == candidate and row is not None:
            continue
        if row is None:
            row = RolePermission(role_key=role.key, object_key=key)
            db.session.add(row)
        for action in ACTIONS:
            setattr(row, f"can_{action}", candidate.allows(action))
        row.data_scope = candidate.data_scope
        if old != candidate:
            before[key], after[key] = old.as_dict(), candidate.as_dict()
    if after:
        audit.record("role.permissions_changed", "role", role.key, before=before, after=after)
    db.session.commit()
    _forget(role.key)
    return matrix(role.key)


def reset(actor: Membership, role_key: str) -> None:
    """Back to the role's defaults on every object (audited)."""
    if actor.role_key not in ADMIN_ROLES:
        raise Forbidden(_("Only owners and administrators can change permissions."))
    role = _role(role_key)
    rows = list(
        db.session.execute(
            select(RolePermission).where(RolePermission.role_key == role.key)
        ).scalars()
    )
    if rows:
        audit.record(
            "role.permissions_reset",
            "role",
            role.key,
            before={r.object_key: _grant_of(r).as_dict() for r in rows},
        )
        for row in rows:
            db.session.delete(row)
    db.session.commit()
    _forget(role.key)


def _grant_of(row: RolePermission) -> Grant:
    return Grant(
        row.can_view, row.can_create, row.can_edit, row.can_delete, row.can_export, row.data_scope
    )


def _forget(role_key: str) -> None:
    from custom_fields.query.scope import forget

    forget(f"grants:{role_key}")
