"""Resolving the tenant of a request from its URL and checking the caller belongs to it.

UI routes live under ``/t/<slug>/`` and need a logged-in member; API routes under
``/api/v1/t/<slug>/`` need a bearer token issued in that same tenant. A caller who is not a
member gets 404, so tenant slugs cannot be probed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, abort, current_app, g, request
from flask_babel import gettext as _
from flask_login import current_user

from custom_fields.query.scope import remember_data_scope
from saas.extensions import db
from tenants import services
from tenants.context import set_tenant, set_user
from tenants.errors import Forbidden
from tenants.models import ADMIN_ROLES, WRITE_ROLES

#: ``app.extensions`` key: slug -> tenant id, as this process has seen them (API requests).
_TENANT_IDS = "kehu_tenant_ids"


def _enter(slug: str | None):
    tenant = services.tenant_by_slug(slug or "")
    if tenant is None:
        abort(404)
    g.tenant = tenant
    set_tenant(tenant.id, db.session)
    return tenant


def _carry_slug(bp: Blueprint) -> None:
    """Take ``<slug>`` out of the view arguments and put it back into URLs built in the request."""

    @bp.url_value_preprocessor
    def _pop_slug(endpoint: str | None, values: dict[str, Any] | None) -> None:
        g.tenant_slug = (values or {}).pop("slug", None)

    @bp.url_defaults
    def _add_slug(endpoint: str, values: dict[str, Any]) -> None:
        if "slug" not in values and g.get("tenant_slug"):
            values["slug"] = g.tenant_slug


def attach_ui_tenant(bp: Blueprint, *, public_endpoints: frozenset[str] = frozenset()) -> None:
    """Every route of ``bp`` (prefix ``/t/<slug>``) runs inside the tenant, as a member."""

    _carry_slug(bp)

    @bp.before_request
    def _resolve() -> Any:
        from flask import redirect, url_for

        if request.endpoint in public_endpoints:
            _enter(g.tenant_slug)
            return None
        if not current_user.is_authenticated:
            return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
        _enter(g.tenant_slug)
        set_user(current_user.id, db.session)
        member = services.membership(current_user.id)
        if member is None or not member.is_active:
            abort(404)
        g.membership = member
        return None


def attach_api_tenant(bp: Blueprint) -> None:
    """Every route of ``bp`` (prefix ``/api/v1/t/<slug>``) needs a token of that tenant."""

    _carry_slug(bp)

    @bp.before_request
    def _resolve() -> None:
        header = request.headers.get("Authorization", "")
        scheme, _sep, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            abort(401, description=_("Send an API token as 'Authorization: Bearer <token>'."))
        # One statement reads the tenant, the token, its member, user and role, and sets the
        # user for row-level security (two the first time a process sees the slug).
        tenant_ids = current_app.extensions.setdefault(_TENANT_IDS, {})
        tenant, found = services.authenticate_api(g.tenant_slug or "", raw.strip(), tenant_ids)
        if tenant is not None:
            g.tenant = tenant
        if found is None:
            abort(401, description=_("The token is not valid for this company."))
        g.api_token, g.membership, data_scope = found
        set_user(g.membership.user_id, db.session)
        remember_data_scope(g.membership.role_key, data_scope)


def require_roles(roles: frozenset[str]) -> Callable:
    """Allow the view only to members whose role is in ``roles``."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            member = g.get("membership")
            if member is None or member.role_key not in roles:
                raise Forbidden(_("Your role does not allow this."))
            return view(*args, **kwargs)

        return wrapped

    return decorator


def require_right(action: str) -> Callable:
    """Allow the view only when the member's role may ``action`` the route's ``object_key``
    (``tenants.permissions``)."""
    from tenants import permissions

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            member = g.get("membership")
            if member is None:
                raise Forbidden(_("Your role does not allow this."))
            permissions.require(member, kwargs["object_key"], action)
            return view(*args, **kwargs)

        return wrapped

    return decorator


require_admin = require_roles(ADMIN_ROLES)
require_writer = require_roles(WRITE_ROLES)
