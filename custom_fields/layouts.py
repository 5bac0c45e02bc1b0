"""Page layouts: how an object's record pages group and order its fields.

A layout is a list of titled sections, each of one or two columns, each listing field keys in
order. One layout per object; an object without one gets the default (one section with every
live field in field order). A layout never hides a field: live fields it does not place appear
in an "Other" section after the others, and hiding is the business of field access per role.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from custom_fields.definitions import FieldInfo, ObjectSchema, bump_version, schemas
from custom_fields.errors import NotFound
from custom_fields.models import PageLayout
from saas.errors import ValidationFailed
from saas.extensions import db
from tenants import audit
from tenants.context import current_tenant_id
from tenants.models import ADMIN_ROLES, Membership

MAX_SECTIONS = 20
MAX_TITLE = 100
COLUMNS = (1, 2)
SECTION_KEYS = frozenset({"title_en", "title_zh", "columns", "fields"})
#: The default section's title in both languages (layouts are data, stored in both).
DEFAULT_TITLE_EN = "Details"
DEFAULT_TITLE_ZH = "详细信息"


@dataclass(frozen=True)
class Section:
    title_en: str
    title_zh: str
    columns: int
    fields: tuple[str, ...]

    def title(self, locale: str) -> str:
        return self.title_zh if locale.startswith("zh") else self.title_en

    def as_dict(self) -> dict[str, Any]:
        return {
            "title_en": self.title_en,
            "title_zh": self.title_zh,
            "columns": self.columns,
            "fields": list(self.fields),
        }


@dataclass(frozen=True)
class Layout:
    """An object's layout as it applies now: keys of fields that are no longer live are left
    out, and ``unplaced`` lists the live fields no section places (shown under "Other")."""

    object_key: str
    sections: tuple[Section, ...]
    is_default: bool
    unplaced: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "object": self.object_key,
            "default": self.is_default,
            "sections": [s.as_dict() for s in self.sections],
            "unplaced": list(self.unplaced),
        }


@dataclass(frozen=True)
class PageSection:
    """A section as one person's record page shows it: only the fields their role may see."""

    title: str
    columns: int
    fields: tuple[FieldInfo, ...]
    is_other: bool = False


def _schema(object_key: str) -> ObjectSchema:
    schema = schemas(current_tenant_id()).get(object_key)
    if schema is None:
        raise NotFound(_("There is no object “%(key)s”.", key=object_key))
    return schema


def _stored(schema: ObjectSchema) -> PageLayout | None:
    return db.session.execute(
        select(PageLayout).where(PageLayout.object_id == schema.id)
    ).scalar_one_or_none()


def _default_sections(schema: ObjectSchema) -> tuple[Section, ...]:
    return (Section(DEFAULT_TITLE_EN, DEFAULT_TITLE_ZH, 1, tuple(f.key for f in schema.fields)),)


def _resolve(schema: ObjectSchema, raw: list[Mapping[str, Any]] | None) -> Layout:
    live = [f.key for f in schema.fields]
    if raw is None:
        return Layout(schema.key, _default_sections(schema), True, ())
    placed: set[str] = set()
    sections = []
    for item in raw:
        keys = tuple(k for k in item.get("fields", []) if k in live and k not in placed)
        placed.update(keys)
        sections.append(
            Section(
                str(item.get("title_en", "")),
                str(item.get("title_zh", "")),
                int(item.get("columns", 1)),
                keys,
            )
        )
    unplaced = tuple(k for k in live if k not in placed)
    return Layout(schema.key, tuple(sections), False, unplaced)


def get_layout(object_key: str) -> Layout:
    """The object's stored layout, or the default one when none is saved."""
    schema = _schema(object_key)
    stored = _stored(schema)
    return _resolve(schema, None if stored is None else list(stored.sections))


def page_sections(object_key: str, role: str, locale: str) -> list[PageSection]:
    """The sections of a record page for ``role``: hidden fields and empty sections left out,
    the fields no section places gathered in a last "Other" section."""
    schema = _schema(object_key)
    layout = get_layout(object_key)
    result = []
    for section in layout.sections:
        infos = _visible(schema, section.fields, role)
        if infos:
            result.append(PageSection(section.title(locale), section.columns, infos))
    other = _visible(schema, layout.unplaced, role)
    if other:
        result.append(PageSection(_("Other"), 1, other, is_other=True))
    return result


def live_fields(object_key: str) -> tuple[FieldInfo, ...]:
    """The object's live fields (active, not deleted) in field order."""
    return _schema(object_key).fields


def ordered_fields(object_key: str, role: str) -> list[FieldInfo]:
    """The fields ``role`` may see, in the order the layout shows them."""
    return [f for s in page_sections(object_key, role, "en") for f in s.fields]


def _visible(schema: ObjectSchema, keys: tuple[str, ...], role: str) -> tuple[FieldInfo, ...]:
    infos = (schema.field(k) for k in keys)
    return tuple(f for f in infos if f is not None and f.access_for(role) != "hidden")


def _title(value: Any, where: str, errors: dict[str, list[str]]) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[where] = [_("Enter text.")]
        return ""
    value = value.strip()
    if len(value) > MAX_TITLE:
        errors[where] = [_("Use at most %(n)d characters.", n=MAX_TITLE)]
    return value


def _clean(schema: ObjectSchema, raw: Any) -> list[dict[str, Any]]:
    """Check a layout request; errors are keyed ``sections`` or ``sections.<i>.<property>``."""
    if not isinstance(raw, list):
        raise ValidationFailed({"sections": [_("Send a list of sections.")]})
    errors: dict[str, list[str]] = {}
    if len(raw) > MAX_SECTIONS:
        errors["sections"] = [_("A layout has at most %(n)d sections.", n=MAX_SECTIONS)]
    live = {f.key for f in schema.fields}
    placed: set[str] = set()
    sections = []
    for index, item in enumerate(raw):
        where = f"sections.{index}"
        if not isinstance(item, Mapping):
            errors[where] = [_("Each section has title_en, title_zh, columns and fields.")]
            continue
        for name in sorted(set(item) - SECTION_KEYS, key=str):
            errors[f"{where}.{name}"] = [_("Unknown property.")]
        title_en = _title(item.get("title_en"), f"{where}.title_en", errors)
        title_zh = _title(item.get("title_zh"), f"{where}.title_zh", errors)
        if not title_en and not title_zh and f"{where}.title_en" not in errors:
            errors[f"{where}.title_en"] = [_("Give the section a title.")]
        columns = item.get("columns", 1)
        if isinstance(columns, bool) or columns not in COLUMNS:
            errors[f"{where}.columns"] = [_("Use 1 or 2 columns.")]
        keys = item.get("fields", [])
        problems: list[str] = []
        if not isinstance(keys, list):
            problems.append(_("Send a list of field keys."))
            keys = []
        for key in keys:
            if not isinstance(key, str) or key not in live:
                problems.append(_("There is no field “%(key)s”.", key=key))
            elif key in placed:
                problems.append(_("The field “%(key)s” is placed more than once.", key=key))
            else:
                placed.add(key)
        if problems:
            errors[f"{where}.fields"] = problems
        sections.append(
            {
                "title_en": title_en or title_zh,
                "title_zh": title_zh or title_en,
                "columns": columns,
                "fields": [k for k in keys if isinstance(k, str)],
            }
        )
    if errors:
        raise ValidationFailed(errors)
    return sections


def save_layout(actor: Membership, object_key: str, sections: Any) -> Layout:
    """Replace the object's layout (owners and administrators); audited."""
    if actor.role_key not in ADMIN_ROLES:
        from tenants.errors import Forbidden

        raise Forbidden(_("Only owners and administrators can change page layouts."))
    schema = _schema(object_key)
    cleaned = _clean(schema, sections)
    stored = _stored(schema)
    before = None if stored is None else list(stored.sections)
    if stored is None:
        stored = PageLayout(object_id=schema.id, sections=cleaned, updated_by=actor.user_id)
        db.session.add(stored)
    else:
        stored.sections = cleaned
        stored.updated_by = actor.user_id
    if before != cleaned:
        audit.record(
            "layout.saved",
            "object",
            object_key,
            before=None if before is None else {"sections": before},
            after={"sections": cleaned},
        )
        bump_version(current_tenant_id())
    db.session.commit()
    return _resolve(schema, cleaned)
