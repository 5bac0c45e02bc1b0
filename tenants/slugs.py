"""Tenant slug rules: the slug appears in every tenant URL, so it must be safe and unambiguous."""

from __future__ import annotations

import re

from flask_babel import gettext as _

from tenants.errors import SlugInvalid

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,38}[a-z0-9])$")

RESERVED_SLUGS = frozenset(
    {
        "admin",
        "api",
        "app",
        "apps",
        "assets",
        "auth",
        "billing",
        "blog",
        "cdn",
        "dashboard",
        "demo-admin",
        "dev",
        "docs",
        "help",
        "healthz",
        "kehu",
        "login",
        "logout",
        "mail",
        "new",
        "openapi",
        "password",
        "public",
        "readyz",
        "root",
        "settings",
        "signup",
        "static",
        "status",
        "support",
        "system",
        "t",
        "tenant",
        "tenants",
        "test",
        "www",
    }
)


def validate_slug(raw: str) -> str:
    """Return the normalised slug or raise :class:`SlugInvalid` saying why."""
    slug = (raw or "").strip().lower()
    if not SLUG_PATTERN.match(slug):
        raise SlugInvalid(
            _(
                "Use 3 to 40 lower-case letters, digits or hyphens, "
                "starting and ending with a letter or digit."
            )
        )
    if "--" in slug:
        raise SlugInvalid(_("Use at most one hyphen in a row."))
    if slug in RESERVED_SLUGS:
        raise SlugInvalid(_("This address is reserved. Choose another one."))
    return slug
