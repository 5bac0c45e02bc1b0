"""Duplicate customers, contacts and leads: the maintained keys, the check, and what a save does
when it finds possible duplicates.

**Keys.** Each customer (``account``), contact and lead outside the recycle bin has its keys in
``duplicate_keys`` (:class:`saas.crm.models.DuplicateKey`): the name (a company key for
customers, a person key for contacts and leads), a lead's company (the text field ``company``,
when the object has one), and every phone and email field, custom fields included
(:mod:`saas.crm.dedupe`). The record service keeps them in the record's own transaction
(:func:`after_write`, :func:`after_delete`, :func:`after_restore`), imports write them a batch
at a time (:class:`ImportCheck`), and :func:`rebuild_duplicate_keys` recomputes a whole company's
(for records created before the table existed, or after a field became a phone field).

**Matching.** Keys compare across the three objects where that means something: a customer's
name with customers' names and leads' companies, a contact's or lead's name with contacts' and
leads' names, phones with phones and emails with emails of all three (a lead calling from a
contact's number is worth a look).

**The check** (:func:`find_duplicates`) answers the records a person may open (their role's data
scope, as lists apply it, and a match on a field hidden from their role does not count) with
the keys that matched, at most :data:`MAX_CANDIDATES`, and only a count of those they may not
open: a salesperson learns that the customer is someone else's without seeing it.

**Saving.** The company's ``duplicate_policy`` says what a create or an edit that brings in a
matching name, phone or email does: ``warn`` (the default) saves and reports the candidates (the
web form first shows them and saves on "Save anyway"); ``block`` refuses with 409 unless an owner
or administrator overrides. Only values the save brings in are checked: editing another field
of a record that already has a twin says nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import g, has_request_context
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import Text, and_, any_, bindparam, delete, func, not_, or_, select, text, true
from sqlalchemy.dialects.postgresql import ARRAY

from custom_fields.definitions import ObjectSchema, schemas
from custom_fields.errors import NotFound
from custom_fields.query.engine import model_for
from custom_fields.query.scope import scope_clause
from saas import tracked
from saas.crm.dedupe import company_key, email_key, person_key, phone_key
from saas.crm.models import DuplicateKey
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.jobs import job
from tenants import audit
from tenants.context import current_tenant_id, tenant_context
from tenants.models import ADMIN_ROLES, Membership, Tenant

if TYPE_CHECKING:
    from saas.records.models import RecordColumns
    from saas.records.services import Store

#: The objects whose records are checked for duplicates.
OBJECTS = ("account", "contact", "lead")
POLICIES = ("warn", "block")
DEFAULT_POLICY = "warn"
#: Candidates shown at most; more matching records are left out.
MAX_CANDIDATES = 20
#: Key rows read per check (a very common name matches many records; counts stop here).
SCAN_LIMIT = 1000
#: Longer keys are not stored: no two records share such a value by accident.
MAX_KEY_LENGTH = 500
#: The text field of a lead holding the company's name.
LEAD_COMPANY = "company"
REBUILD_JOB = "duplicate-keys:rebuild"
REBUILD_KIND = "duplicates.rebuild"
BATCH = 1000

#: Which (object, kind) pairs a key is compared with, per group of kinds.
_GROUPS: dict[str, tuple[tuple[str, str], ...]] = {
    "company": (("account", "name"), ("lead", "company")),
    "person": (("contact", "name"), ("lead", "name")),
    "phone": tuple((o, "phone") for o in OBJECTS),
    "email": tuple((o, "email") for o in OBJECTS),
}

Key = tuple[str, str]  # (kind, key)


def _group(object_key: str, kind: str) -> str:
    if kind == "company" or (kind == "name" and object_key == "account"):
        return "company"
    return "person" if kind == "name" else kind


def kind_label(kind: str) -> str:
    """What a kind of key is called, in the person's language."""
    labels = {
        "name": _("name"),
        "company": _("company"),
        "phone": _("phone"),
        "email": _("email"),
    }
    return labels.get(kind, kind)


# ---- keys of a record ---------------------------------------------------------------------------


def _stored_phone(value: Any) -> str:
    # Phone fields store E.164 already (the type cleans them): no need to parse them again.
    if isinstance(value, str) and value.startswith("+") and value[1:].isdigit():
        return value if len(value) > 7 else ""
    return phone_key(value)


def _stored_email(value: Any) -> str:
    # Email fields store the normalised, lower-cased address; an ASCII one is its own key.
    if isinstance(value, str) and value.isascii() and "@" in value:
        return value.strip().lower()
    return email_key(value)


@dataclass(frozen=True)
class KeySources:
    """Where an object's keys come from: its name, a lead's company, its phone and email
    fields (only those ``role`` may see, when one is given)."""

    object_key: str
    company: str | None
    phones: tuple[str, ...]
    emails: tuple[str, ...]

    def keys(self, name: str | None, data: Mapping[str, Any] | None) -> frozenset[Key]:
        """The keys of a record with this name and these stored values."""
        data = data or {}
        keyed = company_key if self.object_key == "account" else person_key
        found = [("name", keyed(name))]
        if self.company is not None:
            found.append(("company", company_key(_text(data.get(self.company)))))
        found += [("phone", _stored_phone(data.get(k))) for k in self.phones if data.get(k)]
        found += [("email", _stored_email(data.get(k))) for k in self.emails if data.get(k)]
        return frozenset((k, v) for k, v in found if v and len(v) <= MAX_KEY_LENGTH)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def key_sources(schema: ObjectSchema, role: str | None = None) -> KeySources:
    """The key sources of ``schema`` (one of :data:`OBJECTS`)."""

    def seen(info: Any) -> bool:
        return role is None or info.access_for(role) != "hidden"

    company = schema.field(LEAD_COMPANY) if schema.key == "lead" else None
    return KeySources(
        schema.key,
        company.key if company is not None and company.type == "text" and seen(company) else None,
        tuple(f.key for f in schema.fields if f.type == "phone" and seen(f)),
        tuple(f.key for f in schema.fields if f.type == "email" and seen(f)),
    )


# ---- keeping the keys -----------------------------------------------------------------------

_INSERT = """
INSERT INTO duplicate_keys (tenant_id, object_key, record_id, kind, key)
SELECT :tenant, :object, r.record_id, r.kind, r.key
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(record_id bigint, kind text, key text)
ON CONFLICT DO NOTHING
"""


def insert_keys(object_key: str, rows: Iterable[tuple[int, str, str]]) -> None:
    """Store (record id, kind, key) rows of one object in one statement."""
    payload = [{"record_id": r, "kind": k, "key": v} for r, k, v in rows]
    if payload:
        db.session.execute(
            text(_INSERT),
            {
                "tenant": current_tenant_id(),
                "object": object_key,
                "rows": json.dumps(payload, ensure_ascii=False),
            },
        )


def remove_keys(object_key: str, record_ids: Sequence[int]) -> None:
    """Forget the keys of these records (one statement)."""
    if record_ids:
        db.session.execute(
            delete(DuplicateKey).where(
                DuplicateKey.object_key == object_key,
                DuplicateKey.record_id.in_(list(record_ids)),
            )
        )


def _schema(object_key: str) -> ObjectSchema:
    if object_key not in OBJECTS:
        raise NotFound(_("Duplicates are checked for customers, contacts and leads only."))
    return schemas(current_tenant_id())[object_key]


def after_write(
    st: Store,
    record: RecordColumns,
    actor: Membership,
    *,
    before: tuple[str | None, Mapping[str, Any]] | None,
    check: Check | None = None,
) -> None:
    """After a record was created (``before=None``) or changed (``before``: its name and values
    before), in its transaction: apply ``check`` to the keys it brings in, then store its keys.
    Raises :class:`DuplicateFound` when the check refuses the save."""
    object_key = st.schema.key
    if object_key not in OBJECTS:
        return
    sources = key_sources(st.schema)
    new = sources.keys(record.name, record.data)
    old = sources.keys(*before) if before is not None else frozenset()
    if check is not None:
        check.apply(actor, object_key, record.id, new - old)
    if before is not None and new == old:
        return
    if before is not None:
        remove_keys(object_key, [record.id])
    insert_keys(object_key, ((record.id, kind, key) for kind, key in new))


def after_delete(object_key: str, record_id: int) -> None:
    """A record went to the recycle bin: it no longer counts as a duplicate."""
    if object_key in OBJECTS:
        remove_keys(object_key, [record_id])


def after_restore(object_key: str, record: RecordColumns) -> None:
    """A record came back from the recycle bin: its keys count again."""
    if object_key in OBJECTS:
        keys = key_sources(_schema(object_key)).keys(record.name, record.data)
        insert_keys(object_key, ((record.id, kind, key) for kind, key in keys))


# ---- the check ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A record that may be a duplicate, as the person may see it."""

    object_key: str
    object_label: str
    id: int
    name: str | None
    owner_id: int | None
    owner: str | None
    #: The person's kinds of values that matched (``name``, ``company``, ``phone``, ``email``).
    matched: tuple[str, ...]

    @property
    def matched_labels(self) -> str:
        return _(", ").join(kind_label(k) for k in self.matched)

    def to_json(self) -> dict[str, Any]:
        return {
            "object": self.object_key,
            "id": self.id,
            "name": self.name,
            "owner_id": self.owner_id,
            "owner": self.owner,
            "matched": list(self.matched),
        }


@dataclass(frozen=True)
class Found:
    """What a check found: the candidates the person may open and how many more they may not."""

    candidates: tuple[Candidate, ...] = ()
    hidden: int = 0

    def __bool__(self) -> bool:
        return bool(self.candidates) or self.hidden > 0

    @property
    def hidden_text(self) -> str:
        return ngettext(
            "%(num)d more record you cannot open matches.",
            "%(num)d more records you cannot open match.",
            self.hidden,
        )

    def to_json(self) -> dict[str, Any]:
        return {"data": [c.to_json() for c in self.candidates], "hidden": self.hidden}


class DuplicateFound(DomainError):
    """A save refused because of possible duplicates (``block``, or a form that asks first)."""

    status = 409

    def __init__(self, found: Found, *, policy: str, can_override: bool):
        if policy == "block":
            message = _(
                "A record with the same name, phone or email already exists, so this one "
                "was not saved."
            )
        else:
            message = _(
                "Records with the same name, phone or email already exist. Check them, or "
                "save anyway."
            )
        super().__init__(message)
        self.found = found
        self.policy = policy
        self.can_override = can_override

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["code"] = "duplicate"
        body["duplicates"] = [c.to_json() for c in self.found.candidates]
        body["hidden"] = self.found.hidden
        return body


@dataclass
class Check:
    """How one create or update treats possible duplicates: ``allow`` is the person's "save
    anyway" (in ``block``, an owner's or admin's override), ``confirm`` refuses until then also
    under ``warn`` (the web form). ``found`` is what the check found."""

    allow: bool = False
    confirm: bool = False
    found: Found = field(default_factory=Found)

    def apply(
        self, actor: Membership, object_key: str, record_id: int, keys: frozenset[Key]
    ) -> None:
        """Look for records matching ``keys`` (those a save brings in) and refuse or allow."""
        if not keys:
            return
        self.found = _search(actor, object_key, keys, record_id)
        if not self.found:
            return
        policy = current_policy()
        admin = actor.role_key in ADMIN_ROLES
        if policy == "block" and not (self.allow and admin):
            raise DuplicateFound(self.found, policy=policy, can_override=admin)
        if policy == "warn" and self.confirm and not self.allow:
            raise DuplicateFound(self.found, policy=policy, can_override=True)
        audit.record(
            "record.duplicate_saved",
            object_key,
            record_id,
            after={
                "policy": policy,
                "candidates": [{"object": c.object_key, "id": c.id} for c in self.found.candidates],
                "hidden": self.found.hidden,
            },
        )


def current_policy() -> str:
    """The company's ``duplicate_policy``."""
    tenant = g.get("tenant") if has_request_context() else None
    if tenant is None or tenant.id != current_tenant_id():
        tenant = db.session.get(Tenant, current_tenant_id())
    policy = tenant.duplicate_policy if tenant is not None else None
    return policy if policy in POLICIES else DEFAULT_POLICY


def _any(values: Iterable[str]) -> Any:
    """``= ANY(:array)``: one parameter however many keys (an IN list binds each)."""
    return any_(bindparam(None, sorted(values), type_=ARRAY(Text)))


def _key_rows(
    object_key: str, keys: Iterable[Key], exclude_id: int | None = None, limit: int = SCAN_LIMIT
) -> list[tuple[str, int, str, str]]:
    """Stored keys (object, record id, kind, key) that match ``keys`` of a record of
    ``object_key``."""
    by_group: dict[str, set[str]] = {}
    for kind, key in keys:
        by_group.setdefault(_group(object_key, kind), set()).add(key)
    if not by_group:
        return []
    k = DuplicateKey
    conditions = []
    for group, values in by_group.items():
        pairs = _GROUPS[group]
        kinds = {kind for _object, kind in pairs}
        if len(kinds) == 1:
            (kind,) = kinds
            conditions.append(and_(k.kind == kind, k.key == _any(values)))
            continue
        for other, kind in pairs:
            conditions.append(and_(k.kind == kind, k.object_key == other, k.key == _any(values)))
    stmt = select(k.object_key, k.record_id, k.kind, k.key).where(or_(*conditions))
    if exclude_id is not None:
        stmt = stmt.where(not_(and_(k.object_key == object_key, k.record_id == exclude_id)))
    return [tuple(row) for row in db.session.execute(stmt.limit(limit))]  # type: ignore[misc]


@dataclass(frozen=True)
class _Record:
    object_key: str
    id: int
    name: str | None
    owner_id: int | None
    data: dict[str, Any]
    visible: bool  # in the person's data scope


def _records(actor: Membership | None, ids: Mapping[str, set[int]]) -> list[_Record]:
    """The live records with these ids, and whether ``actor``'s data scope shows them."""
    found: list[_Record] = []
    all_schemas = schemas(current_tenant_id())
    for object_key, record_ids in ids.items():
        if not record_ids:
            continue
        model = model_for(all_schemas[object_key])
        scope = scope_clause(model, actor, object_key)
        visible = (scope if scope is not None else true()).label("visible")
        stmt = select(model.id, model.name, model.owner_id, model.data, visible).where(
            model.id.in_(sorted(record_ids)), model.deleted_at.is_(None)
        )
        for row in db.session.execute(stmt):
            found.append(
                _Record(object_key, row.id, row.name, row.owner_id, row.data or {}, bool(row[4]))
            )
    return found


def _owner_names(owner_ids: set[int]) -> dict[int, str]:
    from saas.accounts.models import User

    if not owner_ids:
        return {}
    users = db.session.execute(select(User).where(User.id.in_(sorted(owner_ids)))).scalars()
    return {u.id: u.display_name for u in users}


def _locale() -> str:
    from saas.records.services import context

    return context().locale


def _search(
    actor: Membership | None, object_key: str, keys: Iterable[Key], exclude_id: int | None
) -> Found:
    """Records matching ``keys`` of a record of ``object_key`` (but not ``exclude_id``)."""
    keys = frozenset(keys)
    if not keys:
        return Found()
    # (group, key) → the person's kinds with that key
    wanted: dict[tuple[str, str], set[str]] = {}
    for kind, key in keys:
        wanted.setdefault((_group(object_key, kind), key), set()).add(kind)
    matches: dict[tuple[str, int], set[str]] = {}
    for other, record_id, kind, key in _key_rows(object_key, keys, exclude_id):
        kinds = wanted.get((_group(other, kind), key))
        if kinds:
            matches.setdefault((other, record_id), set()).update(kinds)
    if not matches:
        return Found()
    ids: dict[str, set[int]] = {}
    for other, record_id in matches:
        ids.setdefault(other, set()).add(record_id)
    all_schemas = schemas(current_tenant_id())
    role = actor.role_key if actor is not None else None
    sources = {o: key_sources(all_schemas[o], role) for o in ids}
    # Records of the object being checked first, then customers, contacts, leads.
    order = {o: i for i, o in enumerate([object_key, *(o for o in OBJECTS if o != object_key)])}
    shown: list[tuple[_Record, tuple[str, ...]]] = []
    hidden = 0
    for rec in _records(actor, ids):
        matched = matches[(rec.object_key, rec.id)]
        if rec.visible:
            # A match through a field hidden from the person's role would tell its value.
            groups = {
                (_group(rec.object_key, kind), key)
                for kind, key in sources[rec.object_key].keys(rec.name, rec.data)
            }
            matched = {k for (gk, kinds) in wanted.items() if gk in groups for k in kinds} & matched
        if not rec.visible or not matched:
            hidden += 1
            continue
        shown.append((rec, tuple(k for k in ("name", "company", "phone", "email") if k in matched)))
    shown.sort(key=lambda item: (-len(item[1]), order[item[0].object_key], -item[0].id))
    shown = shown[:MAX_CANDIDATES]
    owners = _owner_names({rec.owner_id for rec, _m in shown if rec.owner_id is not None})
    locale = _locale() if shown else "en"
    candidates = tuple(
        Candidate(
            rec.object_key,
            all_schemas[rec.object_key].label(locale),
            rec.id,
            rec.name,
            rec.owner_id,
            owners.get(rec.owner_id) if rec.owner_id is not None else None,
            matched,
        )
        for rec, matched in shown
    )
    return Found(candidates, hidden)


def _input_keys(schema: ObjectSchema, values: Any, actor: Membership) -> frozenset[Key]:
    """Keys of values as a person types them (``name`` and field keys; fields that give no key
    are ignored), or ``ValidationFailed`` naming each bad one."""
    from saas.records.services import context

    if not isinstance(values, Mapping):
        raise ValidationFailed({"values": [_("Send the values as an object of field keys.")]})
    region = context().region
    errors: dict[str, list[str]] = {}
    keys: set[Key] = set()
    for name, raw in values.items():
        where = f"values.{name}"
        info = schema.field(name) if name != "name" else None
        if name != "name" and (info is None or info.access_for(actor.role_key) == "hidden"):
            errors[where] = [_("There is no field “%(key)s”.", key=str(name)[:60])]
            continue
        if raw is None or raw == "":
            continue
        is_phone = info is not None and info.type == "phone"
        if not isinstance(raw, str) and not (is_phone and isinstance(raw, int)):
            errors[where] = [_("Enter a text.")]
            continue
        if name == "name":
            keys.add(("name", (company_key if schema.key == "account" else person_key)(raw)))
        elif is_phone:
            keys.add(("phone", phone_key(raw, info.spec.options.get("region") or region)))
        elif info.type == "email":
            keys.add(("email", email_key(raw)))
        elif schema.key == "lead" and name == LEAD_COMPANY and info.type == "text":
            keys.add(("company", company_key(raw)))
    if errors:
        raise ValidationFailed(errors)
    return frozenset((k, v) for k, v in keys if v and len(v) <= MAX_KEY_LENGTH)


def find_duplicates(
    object_key: str,
    values: Mapping[str, Any],
    exclude_id: int | None = None,
    actor: Membership | None = None,
) -> Found:
    """Customers, contacts and leads that a record of ``object_key`` with these ``values``
    (``name`` and field keys, as typed) may duplicate, as the person (``actor``, by default the
    signed-in member) may see them; ``exclude_id`` is the record being edited."""
    actor = actor if actor is not None else g.membership
    schema = _schema(object_key)
    if exclude_id is not None and (
        isinstance(exclude_id, bool) or not isinstance(exclude_id, int) or exclude_id <= 0
    ):
        raise ValidationFailed({"exclude": [_("Send the id of the record being edited.")]})
    return _search(actor, object_key, _input_keys(schema, values, actor), exclude_id)


# ---- imports ------------------------------------------------------------------------------------


class ImportCheck:
    """Duplicate keys in an import: each row's keys worked out with its validation, rows that
    would create a possible duplicate skipped under the ``skip`` policy, and the keys of the
    rows written stored with their batch (one ``INSERT``).

    Outcomes are the import's (``saas.records.imports.Outcome``): this reads their action,
    values and record id, and sets ``duplicate_keys`` (and, for skipped rows, the note)."""

    def __init__(self, schema: ObjectSchema, actor: Membership, policy: str):
        self.object_key = schema.key
        self.schema = schema
        self.actor = actor
        self.sources = key_sources(schema)
        self.skipping = policy == "skip"
        #: (group, key) → the row of the file that first had it.
        self.seen: dict[tuple[str, str], int] = {}

    @classmethod
    def start(cls, schema: ObjectSchema, actor: Membership, policy: str) -> ImportCheck | None:
        return cls(schema, actor, policy) if schema.key in OBJECTS else None

    def _keys(self, outcome: Any) -> frozenset[Key]:
        name = outcome.system.get("name", (outcome.before or {}).get("name"))
        return self.sources.keys(name, outcome.data)

    def settle(self, outcomes: Sequence[Any], report: Callable[[Any, str, str], None]) -> None:
        """After validation: keys of the rows to write; under ``skip``, new rows whose name,
        phone or email an existing record or an earlier row of the file has are skipped, with
        a message per matching value (``report(outcome, key, message)``)."""
        writing = [o for o in outcomes if o.action in ("create", "update")]
        for outcome in writing:
            outcome.duplicate_keys = self._keys(outcome)
        if not self.skipping:
            return
        creating = [o for o in writing if o.action == "create"]
        wanted = {k for o in creating for k in o.duplicate_keys}
        stored: dict[tuple[str, str], list[tuple[str, int]]] = {}
        for other, record_id, kind, key in _key_rows(self.object_key, wanted, limit=50_000):
            stored.setdefault((_group(other, kind), key), []).append((other, record_id))
        described = self._describe({ref for refs in stored.values() for ref in refs})
        for outcome in creating:
            messages: list[tuple[str, str]] = []
            for kind, key in sorted(outcome.duplicate_keys):
                group_key = (_group(self.object_key, kind), key)
                if group_key not in stored and group_key not in self.seen:
                    continue
                what = kind_label(kind)
                if group_key in stored:
                    record = described.get(stored[group_key][0])
                    if record is None:
                        message = _("A record you cannot open has the same %(what)s.", what=what)
                    else:
                        message = _(
                            "%(object)s “%(name)s” has the same %(what)s.",
                            object=record[0],
                            name=record[1],
                            what=what,
                        )
                else:
                    message = _(
                        "Row %(row)d of this file has the same %(what)s.",
                        row=self.seen[group_key],
                        what=what,
                    )
                messages.append((self._column(outcome, kind, key), message))
            if not messages:
                for kind, key in outcome.duplicate_keys:
                    self.seen.setdefault((_group(self.object_key, kind), key), outcome.row)
                continue
            outcome.action = "skip"
            outcome.note = _("Skipped: a possible duplicate.")
            for column, message in messages:
                report(outcome, column, message)

    def _column(self, outcome: Any, kind: str, key: str) -> str:
        """The target (name or field key) whose value gave ``key``, for the report's column."""
        if kind == "name":
            return "name"
        if kind == "company":
            return LEAD_COMPANY
        fields, keyed = (
            (self.sources.phones, _stored_phone)
            if kind == "phone"
            else (self.sources.emails, _stored_email)
        )
        return next((f for f in fields if keyed(outcome.data.get(f)) == key), kind)

    def _describe(self, refs: set[tuple[str, int]]) -> dict[tuple[str, int], tuple[str, str]]:
        """(object label, name) of each existing record the person may open."""
        ids: dict[str, set[int]] = {}
        for other, record_id in refs:
            ids.setdefault(other, set()).add(record_id)
        locale = _locale() if refs else "en"
        all_schemas = schemas(current_tenant_id())
        return {
            (rec.object_key, rec.id): (
                all_schemas[rec.object_key].label(locale),
                rec.name or f"#{rec.id}",
            )
            for rec in _records(self.actor, ids)
            if rec.visible
        }

    def write(self, creates: Sequence[Any], updates: Sequence[Any]) -> None:
        """Store the keys of a batch's written rows: one ``DELETE`` for updated records whose
        keys changed, one ``INSERT``."""
        rows: list[tuple[int, str, str]] = []
        for outcome in creates:
            keys = self._keys(outcome) if self.schema.name_pattern else outcome.duplicate_keys
            rows += [(outcome.record_id, kind, key) for kind, key in keys or ()]
        changed: list[int] = []
        for outcome in updates:
            before = outcome.before or {}
            old = self.sources.keys(before.get("name"), outcome.before_data or {})
            new = outcome.duplicate_keys or frozenset()
            if new != old:
                changed.append(outcome.record_id)
                rows += [(outcome.record_id, kind, key) for kind, key in new]
        remove_keys(self.object_key, changed)
        insert_keys(self.object_key, rows)


# ---- rebuilding a company's keys ----------------------------------------------------------------


def start_rebuild(actor: Membership) -> tracked.TrackedJob:
    """Recompute every duplicate key of the company in a background job (owners and admins;
    one at a time)."""
    from tenants.services import require_admin

    require_admin(actor)
    row = _start(actor.user_id)
    audit.record("duplicates.rebuild_started", "tenant", current_tenant_id())
    db.session.commit()
    return row


def rebuild_duplicate_keys(tenant_id: int, created_by: int | None = None) -> str:
    """Queue the rebuild of a company's duplicate keys (for system use, such as after an
    upgrade: run it for each company); answers the job's id."""
    with tenant_context(tenant_id, db.session):
        _start(created_by)
        db.session.commit()
    return REBUILD_JOB


def _start(created_by: int | None) -> tracked.TrackedJob:
    return tracked.start(REBUILD_JOB, REBUILD_KIND, run_rebuild, params={}, created_by=created_by)


def _rebuild(job_id: str) -> dict[str, int]:
    all_schemas = schemas(current_tenant_id())
    models = {o: model_for(all_schemas[o]) for o in OBJECTS}
    total = sum(
        db.session.execute(
            select(func.count()).select_from(m).where(m.deleted_at.is_(None))
        ).scalar_one()
        for m in models.values()
    )
    db.session.commit()
    tracked.progress(job_id, 0, total)
    done = stored = 0
    for object_key, model in models.items():
        sources = key_sources(all_schemas[object_key])
        last = 0
        while True:
            # FOR SHARE: an edit of these records waits for this batch instead of having its
            # new keys overwritten by the ones read here.
            rows = db.session.execute(
                select(model.id, model.name, model.data)
                .where(model.id > last, model.deleted_at.is_(None))
                .order_by(model.id)
                .limit(BATCH)
                .with_for_update(read=True)
            ).all()
            upper = rows[-1].id if rows else None
            k = DuplicateKey
            db.session.execute(
                delete(k).where(
                    k.object_key == object_key,
                    k.record_id > last,
                    k.record_id <= upper if upper is not None else true(),
                )
            )
            keys = [(r.id, kind, key) for r in rows for kind, key in sources.keys(r.name, r.data)]
            insert_keys(object_key, keys)
            db.session.commit()
            if not rows:
                break
            last, done, stored = upper, done + len(rows), stored + len(keys)
            tracked.progress(job_id, done)
    return {"records": done, "keys": stored}


@job
def run_rebuild(job_id: str) -> None:
    """The job behind :func:`start_rebuild`: a batch of records per transaction."""
    tracked.begin(job_id)
    try:
        tracked.finish(job_id, _rebuild(job_id))
    except DomainError as exc:
        tracked.fail(job_id, exc.message)
    except Exception as exc:
        tracked.crashed(job_id, exc)
        raise
