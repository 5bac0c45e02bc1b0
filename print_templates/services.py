"""Print templates: reading, saving (every save is a new version), defaults, starters, and
choosing the template a record prints with.

**Who.** Any member reads templates (the "PDF" button needs them); owners and administrators
create and change them. Each command is one audited transaction.

**Versions.** A template's HTML and CSS live in :class:`~print_templates.models.
PrintTemplateVersion` rows that never change. Saving new source or CSS adds version n + 1 and
makes it current; restoring an old version adds a new version with its content, so history only
grows and a document always names the exact version it was rendered from. The source is checked
with the renderer's :func:`~print_templates.render.template_errors` first: a template that does
not compile is refused (422, field ``source``, the message names the line).

**Defaults.** At most one active template per object and language is the default (a partial
unique index); making one the default takes the mark from the other in the same transaction,
and archiving a template drops it. Printing picks the template asked for, else the default in
the document's language, else the default in the other language, else the built-in generic
template (every visible field in a table), so every object of every company can print.

**Starters.** Quote and contract templates in Chinese and English (:mod:`print_templates.starters`)
are given to a company at signup (:func:`install_starters`) and, for companies that existed
before, the first time templates are used (:func:`ensure_starters`); a starter is installed at
most once per company (``starter`` is unique), so archiving one does not bring it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError

from custom_fields.definitions import ObjectSchema, schemas
from custom_fields.errors import NotFound
from print_templates.models import (
    LOCALES,
    MAX_CSS,
    MAX_NAME,
    MAX_SOURCE,
    PrintTemplate,
    PrintTemplateVersion,
)
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from tenants import audit
from tenants.context import current_tenant_id
from tenants.errors import Forbidden
from tenants.models import ADMIN_ROLES, Membership

#: The most templates a company may keep (archived ones included).
MAX_TEMPLATES = 500
#: Versions listed per page of a template's history.
HISTORY_PAGE = 50
_HERE = Path(__file__).parent


class TemplateInvalid(ValidationFailed):
    """The source does not compile: 422 with the renderer's messages under ``source``."""

    status = 422


class StaleTemplate(DomainError):
    """Someone saved the template since the editor loaded it."""

    status = 409


#: Companies of this process known to have every starter (saves a query per use).
_complete: set[int] = set()


# ---------------------------------------------------------------- built-in sources


def starter_source(key: str) -> tuple[str, str]:
    """(HTML, CSS) of a starter (``quote.zh_CN`` …)."""
    from print_templates import starters

    found = starters.load(key)
    return found.source, found.css


@cache
def generic_source() -> tuple[str, str]:
    """(HTML, CSS) of the generic template: the record's visible fields in a table."""
    return (
        (_HERE / "generic.html").read_text(encoding="utf-8"),
        (_HERE / "generic.css").read_text(encoding="utf-8"),
    )


# ---------------------------------------------------------------- reading


def _not_found() -> DomainError:
    return DomainError(_("There is no such print template."), status=404)


def object_schema(object_key: str) -> ObjectSchema:
    """The object (standard or custom) of the company in context, else 404."""
    schema = schemas(current_tenant_id()).get(object_key)
    if schema is None:
        raise NotFound(_("There is no object “%(key)s”.", key=object_key))
    return schema


def company_objects() -> list[ObjectSchema]:
    """Every object of the company in context (standard and custom)."""
    return list(schemas(current_tenant_id()).values())


def list_templates(object_key: str | None = None, *, archived: bool = False) -> list[PrintTemplate]:
    """The company's templates (of one object), active ones unless ``archived``: by object,
    language, defaults first, then name."""
    ensure_starters()
    stmt = select(PrintTemplate).where(PrintTemplate.active.is_not(archived))
    if object_key is not None:
        stmt = stmt.where(PrintTemplate.object_key == object_key)
    stmt = stmt.order_by(
        PrintTemplate.object_key,
        PrintTemplate.locale,
        PrintTemplate.is_default.desc(),
        func.lower(PrintTemplate.name),
        PrintTemplate.id,
    )
    return list(db.session.execute(stmt).scalars())


def counts_by_object() -> dict[str, int]:
    """Active templates per object key."""
    ensure_starters()
    stmt = (
        select(PrintTemplate.object_key, func.count())
        .where(PrintTemplate.active)
        .group_by(PrintTemplate.object_key)
    )
    return dict(db.session.execute(stmt).tuples().all())


def get_template(template_id: int, *, lock: bool = False) -> PrintTemplate:
    """A template of the company in context (404 otherwise)."""
    stmt = select(PrintTemplate).where(PrintTemplate.id == template_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    found = db.session.execute(stmt).scalar_one_or_none()
    if found is None:
        raise _not_found()
    return found


def get_version(template_id: int, version: int) -> PrintTemplateVersion:
    found = db.session.execute(
        select(PrintTemplateVersion).where(
            PrintTemplateVersion.template_id == template_id,
            PrintTemplateVersion.version == version,
        )
    ).scalar_one_or_none()
    if found is None:
        raise DomainError(_("This template has no such version."), status=404)
    return found


def current(template: PrintTemplate) -> PrintTemplateVersion:
    """The version in use."""
    return get_version(template.id, template.current_version)


def history(
    template_id: int, *, before: int | None = None, limit: int = HISTORY_PAGE
) -> list[PrintTemplateVersion]:
    """Versions newest first (``before``: older than that version), without loading their
    sources twice."""
    stmt = select(PrintTemplateVersion).where(PrintTemplateVersion.template_id == template_id)
    if before is not None:
        stmt = stmt.where(PrintTemplateVersion.version < before)
    stmt = stmt.order_by(PrintTemplateVersion.version.desc()).limit(limit)
    return list(db.session.execute(stmt).scalars())


# ---------------------------------------------------------------- checking input


def _require_admin(actor: Membership) -> None:
    if actor.role_key not in ADMIN_ROLES:
        raise Forbidden(_("Only owners and administrators change print templates."))


def _name(raw: Any, errors: dict[str, list[str]]) -> str | None:
    name = " ".join(raw.split()) if isinstance(raw, str) else ""
    if not name:
        errors.setdefault("name", []).append(_("Enter a name."))
        return None
    if len(name) > MAX_NAME:
        errors.setdefault("name", []).append(_("Use at most %(n)d characters.", n=MAX_NAME))
        return None
    return name


def _locale(raw: Any, errors: dict[str, list[str]]) -> str | None:
    if raw in LOCALES:
        return raw
    errors.setdefault("locale", []).append(_("Choose Chinese (zh_CN) or English (en)."))
    return None


def _flag(raw: Any, key: str, errors: dict[str, list[str]]) -> bool | None:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "false", "1", "0", "on", "off"):
        return raw.lower() in ("true", "1", "on")
    errors.setdefault(key, []).append(_("Enter true or false."))
    return None


def check_source(source: Any, css: Any) -> tuple[str, str]:
    """The source and CSS if the template compiles; otherwise :class:`TemplateInvalid` (422)
    with the renderer's messages (each naming its line) under ``source``."""
    from print_templates.render import template_errors

    errors: dict[str, list[str]] = {}
    if not isinstance(source, str) or not source.strip():
        errors["source"] = [_("Enter the template's HTML.")]
    elif len(source) > MAX_SOURCE:
        errors["source"] = [_("Use at most %(n)s characters.", n=f"{MAX_SOURCE:,}")]
    if css is None:
        css = ""
    if not isinstance(css, str):
        errors["css"] = [_("Enter the style sheet as text.")]
    elif len(css) > MAX_CSS:
        errors["css"] = [_("Use at most %(n)s characters.", n=f"{MAX_CSS:,}")]
    if errors:
        raise TemplateInvalid(errors)
    problems = template_errors(source)
    if problems:
        raise TemplateInvalid({"source": problems})
    return source.replace("\r\n", "\n"), css.replace("\r\n", "\n")


# ---------------------------------------------------------------- commands


def _snapshot(template: PrintTemplate) -> dict[str, Any]:
    return {
        "object_key": template.object_key,
        "name": template.name,
        "locale": template.locale,
        "is_default": template.is_default,
        "active": template.active,
        "version": template.current_version,
    }


def _take_default(template: PrintTemplate) -> None:
    """Make ``template`` its object's default in its language, unmarking the previous one."""
    db.session.execute(
        update(PrintTemplate)
        .where(
            PrintTemplate.object_key == template.object_key,
            PrintTemplate.locale == template.locale,
            PrintTemplate.is_default,
            PrintTemplate.id != template.id,
        )
        .values(is_default=False)
        .execution_options(synchronize_session="fetch")
    )
    template.is_default = True


def _flush_default() -> None:
    """Flush a default mark; two administrators marking two templates at once: the second
    is told to try again (the partial unique index holds one default)."""
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise DomainError(
            _("Another template became the default meanwhile. Reload and try again."),
            field="is_default",
            status=409,
        ) from None


def _add_version(
    template: PrintTemplate, source: str, css: str, actor_id: int | None, note: str | None
) -> PrintTemplateVersion:
    number = (
        db.session.execute(
            select(func.max(PrintTemplateVersion.version)).where(
                PrintTemplateVersion.template_id == template.id
            )
        ).scalar_one()
        or 0
    ) + 1
    version = PrintTemplateVersion(
        template_id=template.id,
        version=number,
        source=source,
        css=css,
        note=note,
        created_by=actor_id,
    )
    db.session.add(version)
    template.current_version = number
    return version


def create_template(actor: Membership, body: Mapping[str, Any]) -> PrintTemplate:
    """A new template of an object (``object_key``, ``name``, ``locale``; ``source`` and
    ``css`` default to the generic template's; ``is_default``)."""
    _require_admin(actor)
    errors: dict[str, list[str]] = {}
    object_key = body.get("object_key")
    if not isinstance(object_key, str) or schemas(current_tenant_id()).get(object_key) is None:
        errors["object_key"] = [_("Choose an object of this company.")]
    name = _name(body.get("name"), errors)
    locale = _locale(body.get("locale", "zh_CN"), errors)
    is_default = _flag(body.get("is_default", False), "is_default", errors)
    if errors:
        raise ValidationFailed(errors)
    if "source" in body and body["source"] is not None:
        source, css = check_source(body["source"], body.get("css") or "")
    else:
        source, css = generic_source()
    total = db.session.execute(select(func.count()).select_from(PrintTemplate)).scalar_one()
    if total >= MAX_TEMPLATES:
        raise DomainError(
            _("A company keeps at most %(n)d print templates.", n=MAX_TEMPLATES), status=409
        )
    template = PrintTemplate(
        object_key=object_key,
        name=name,
        locale=locale,
        is_default=False,
        active=True,
        current_version=1,
        created_by=actor.user_id,
        updated_by=actor.user_id,
    )
    db.session.add(template)
    db.session.flush()
    _add_version(template, source, css, actor.user_id, None)
    if is_default:
        _take_default(template)
    _flush_default()
    audit.record("print_template.created", "print_template", template.id, after=_snapshot(template))
    db.session.commit()
    return template


def update_template(actor: Membership, template_id: int, body: Mapping[str, Any]) -> PrintTemplate:
    """Change the name, the default mark, archive/unarchive (``active``), and/or save new
    ``source``/``css`` as a new version. ``base_version`` (the version the editor loaded), when
    given, must still be current (else 409)."""
    _require_admin(actor)
    template = get_template(template_id, lock=True)
    before = _snapshot(template)
    errors: dict[str, list[str]] = {}
    base = body.get("base_version")
    if base is not None and str(base) != str(template.current_version):
        raise StaleTemplate(
            _(
                "Someone saved this template meanwhile (now version %(n)d). Reload it and "
                "apply your change again.",
                n=template.current_version,
            ),
            field="base_version",
        )
    name = _name(body["name"], errors) if "name" in body else None
    active = _flag(body["active"], "active", errors) if "active" in body else None
    is_default = _flag(body["is_default"], "is_default", errors) if "is_default" in body else None
    if errors:
        raise ValidationFailed(errors)
    if name is not None:
        template.name = name
    changed_content = False
    if "source" in body or "css" in body:
        now_version = current(template)
        source, css = check_source(
            body.get("source", now_version.source), body.get("css", now_version.css)
        )
        if (source, css) != (now_version.source, now_version.css):
            _add_version(template, source, css, actor.user_id, None)
            changed_content = True
    if active is not None:
        template.active = active
        if not active:
            template.is_default = False
    if is_default is not None:
        if is_default and not template.active:
            raise ValidationFailed(
                {"is_default": [_("An archived template cannot be the default.")]}
            )
        if is_default:
            _take_default(template)
        else:
            template.is_default = False
    template.updated_by = actor.user_id
    template.updated_at = func.now()
    _flush_default()
    after = _snapshot(template)
    if after != before or changed_content:
        audit.record(
            "print_template.updated", "print_template", template.id, before=before, after=after
        )
    db.session.commit()
    return template


def restore_version(actor: Membership, template_id: int, version: int) -> PrintTemplate:
    """Make an old version current again, as a new version with its content."""
    _require_admin(actor)
    template = get_template(template_id, lock=True)
    old = get_version(template_id, version)
    before = _snapshot(template)
    if version != template.current_version:
        _add_version(
            template,
            old.source,
            old.css,
            actor.user_id,
            _("Restored from version %(n)d", n=version),
        )
        template.updated_by = actor.user_id
        template.updated_at = func.now()
        db.session.flush()
        audit.record(
            "print_template.restored",
            "print_template",
            template.id,
            before=before,
            after={**_snapshot(template), "restored_from": version},
        )
    db.session.commit()
    return template


# ---------------------------------------------------------------- starters


_templates = PrintTemplate.__table__
_versions = PrintTemplateVersion.__table__


def install_starters(connection: sa.Connection, tenant_id: int, user_id: int | None = None) -> int:
    """Give the company the starters it lacks, in the caller's transaction; each becomes the
    default of its object and language unless the company has one. Answers how many were
    installed. Core statements with ``tenant_id`` set: row-level security is their guard."""
    from print_templates import starters

    have = set(
        connection.execute(
            select(_templates.c.starter).where(
                _templates.c.tenant_id == tenant_id, _templates.c.starter.is_not(None)
            )
        ).scalars()
    )
    defaults = set(
        connection.execute(
            select(_templates.c.object_key, _templates.c.locale).where(
                _templates.c.tenant_id == tenant_id, _templates.c.is_default
            )
        ).tuples()
    )
    installed = 0
    for key in starters.KEYS:
        if key in have:
            continue
        starter = starters.load(key)
        new_id = connection.execute(
            pg_insert(_templates)
            .values(
                tenant_id=tenant_id,
                object_key=starter.object_key,
                name=starter.name,
                locale=starter.locale,
                is_default=(starter.object_key, starter.locale) not in defaults,
                active=True,
                current_version=1,
                starter=starter.key,
                created_by=user_id,
                updated_by=user_id,
            )
            .on_conflict_do_nothing(
                index_elements=["tenant_id", "starter"],
                index_where=_templates.c.starter.is_not(None),
            )
            .returning(_templates.c.id)
        ).scalar_one_or_none()
        if new_id is None:
            continue  # installed meanwhile by another request
        connection.execute(
            _versions.insert().values(
                tenant_id=tenant_id,
                template_id=new_id,
                version=1,
                source=starter.source,
                css=starter.css,
                note="starter",
                created_by=user_id,
            )
        )
        installed += 1
    return installed


def ensure_starters() -> int:
    """Install the starters the company in context lacks (companies older than the print
    templates get them on first use); commits when it installed any."""
    tenant_id = current_tenant_id()
    if tenant_id in _complete:
        return 0
    try:
        with db.session.begin_nested():
            installed = install_starters(db.session.connection(), tenant_id)
    except IntegrityError:
        # Another request made a template the default of the same object meanwhile: the
        # next use installs them.
        return 0
    if installed:
        audit.record(
            "print_template.starters_installed", "tenant", tenant_id, after={"n": installed}
        )
        db.session.commit()
    _complete.add(tenant_id)
    return installed


# ---------------------------------------------------------------- choosing a template


@dataclass(frozen=True)
class Choice:
    """What a record prints with: a template version, or the generic template (``None``s)."""

    template_id: int | None
    version: int | None
    locale: str
    name: str

    @property
    def generic(self) -> bool:
        return self.template_id is None


def _default(object_key: str, locale: str) -> PrintTemplate | None:
    return db.session.execute(
        select(PrintTemplate).where(
            PrintTemplate.object_key == object_key,
            PrintTemplate.locale == locale,
            PrintTemplate.is_default,
            PrintTemplate.active,
        )
    ).scalar_one_or_none()


def choose(object_key: str, template_id: int | None, locale: str) -> Choice:
    """The template to print a record of ``object_key`` with: ``template_id`` (an active
    template of that object), else the default in ``locale``, else the default in the other
    language, else the generic template in ``locale``."""
    object_schema(object_key)
    ensure_starters()
    if template_id is not None:
        try:
            template = get_template(template_id)
        except DomainError:
            template = None
        if template is None or template.object_key != object_key or not template.active:
            raise ValidationFailed(
                {"template_id": [_("Choose an active print template of this object.")]}
            )
    else:
        template = _default(object_key, locale)
        if template is None:
            other = next(code for code in LOCALES if code != locale)
            template = _default(object_key, other)
    if template is None:
        return Choice(None, None, locale if locale in LOCALES else "zh_CN", _("Generic"))
    return Choice(template.id, template.current_version, template.locale, template.name)


def source_of(choice: Choice) -> tuple[str, str]:
    """(HTML, CSS) of a choice."""
    if choice.template_id is None:
        return generic_source()
    found = get_version(choice.template_id, choice.version)
    return found.source, found.css
