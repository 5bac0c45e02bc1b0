"""Per-record history: who changed which field of a record, from what to what, and when.

The history is read from the audit trail (``audit_events`` whose target is the record), one
index read per page (``ix_audit_events_target``). Every write path leaves such an event with
the values before and after: the record services (create, update, delete, restore, which bulk
actions call record by record), imports (one ``record.imported`` event per record besides the
batch's own), the public pool, quotes, contracts, leads and transfers. A bulk action's changes
are told apart by the request id they share with the action's ``records.bulk`` event. Values
are shown as the record page shows them, in the reader's language and time zone; fields hidden
from the reader's role never appear, neither old nor new.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import and_, or_, select

from custom_fields import types
from custom_fields.types import Context
from saas.crm.models import Payment
from saas.extensions import db
from saas.records import services
from saas.records.errors import RecordNotFound
from tenants import services as tenant_services
from tenants.models import AuditEvent, Membership

PAGE_SIZE = 50
#: Events that bring a record into being: every value they carry is new.
_CREATIONS = frozenset({"record.created"})


@dataclass(frozen=True)
class Change:
    """One field of one history entry: its key, its label and the values as text."""

    key: str
    label: str
    old: str
    new: str


@dataclass(frozen=True)
class Entry:
    """One event in a record's history."""

    id: int
    when: datetime
    who: str
    action: str  # the audit action, e.g. ``record.updated``
    label: str  # what happened, in the reader's language
    changes: list[Change] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "when": self.when.isoformat(),
            "who": self.who,
            "action": self.action,
            "label": self.label,
            "changes": [
                {"field": c.key, "label": c.label, "old": c.old, "new": c.new} for c in self.changes
            ],
        }


def _action_label(event: AuditEvent, bulk: bool) -> str:
    after = event.after or {}
    action = event.action
    if action == "record.created":
        return _("Created")
    if action == "record.updated" and after.get("_via") == "merge":
        return _("Updated by a merge")
    if action == "record.updated":
        return _("Updated by a bulk action") if bulk else _("Updated")
    if action == "record.deleted":
        return _("Moved to the recycle bin by a bulk action") if bulk else _("Deleted")
    if action == "record.restored":
        return _("Restored")
    if action == "record.imported":
        return _("Updated by an import") if event.before else _("Created by an import")
    if action == "record.transferred":
        return _("Owner changed: records transferred")
    if action == "record.merged":
        return _("Merged with a duplicate")
    labels = {
        "pool.claimed": _("Claimed from the public pool"),
        "pool.released": _("Released to the public pool"),
        "pool.assigned": _("Assigned from the public pool"),
        "pool.returned": _("Returned to the public pool"),
        "pool.review_flagged": _("Flagged for review"),
        "lead.assigned": _("Owner changed: lead assigned"),
        "lead.converted": _("Converted"),
        "quote.lines_saved": _("Quote lines saved"),
        "quote.revise": _("Revised"),
        "quote.copy": _("Copied"),
        "contract.created_from_quote": _("Created from a quote"),
        "contract.plan_set": _("Payment plan set"),
        "payment.recorded": _("Payment received"),
        "payment.corrected": _("Payment corrected"),
        "payment.deleted": _("Payment deleted"),
        "payment.restored": _("Payment restored"),
    }
    if action in labels:
        return labels[action]
    if action.startswith(("quote.", "contract.")) and "status" in after:
        return _("Status changed")
    return action


class _Formatter:
    """Turns stored values into the record page's text for one reader."""

    def __init__(self, st: services.Store, actor: Membership, ctx: Context):
        self.st = st
        self.actor = actor
        self.ctx = ctx
        self._names: dict[int, str] | None = None

    def name_of(self, user_id: Any) -> str:
        if self._names is None:
            self._names = {m.user_id: m.user.display_name for m in tenant_services.members()}
        if user_id is None:
            return ""
        try:
            return self._names.get(int(user_id)) or f"#{user_id}"
        except (TypeError, ValueError):
            return str(user_id)

    def label(self, key: str) -> str | None:
        """The label of ``key`` for this reader, ``None`` when the reader may not see it."""
        if key == "name":
            return _("Name")
        if key == "owner_id":
            return _("Owner")
        if key == "tags":
            return _("Tags")
        info = self.st.schema.field(key)
        if info is None or info.type == "formula":
            return None
        if info.access_for(self.actor.role_key) == "hidden":
            return None
        return info.spec.label(self.ctx.locale)

    def text(self, key: str, stored: Any) -> str:
        if stored is None:
            return ""
        if key == "name":
            return str(stored)
        if key == "owner_id":
            return self.name_of(stored)
        if key == "tags":
            return ", ".join(str(t) for t in stored) if isinstance(stored, list) else str(stored)
        info = self.st.schema.field(key)
        if info is None:
            return ""
        field_type = types.get(info.type)
        try:
            return field_type.display(field_type.from_storage(stored), info.spec, self.ctx)
        except Exception:  # a value stored before a type conversion: show it as it was kept
            return str(stored)

    def payment_changes(self, event: AuditEvent) -> list[Change]:
        """A payment's values as its contract's history shows them (the amount only to those
        who see the contract's amount)."""
        before: Mapping[str, Any] = event.before or {}
        after: Mapping[str, Any] = event.after or {}
        whole = event.action != "payment.corrected"
        shown = self.label("amount") is not None
        labels = {
            "amount": _("Amount"),
            "received_on": _("Received on"),
            "method": _("Method"),
            "reference": _("Reference"),
            "note": _("Note"),
        }
        found = []
        for key, label in labels.items():
            if key == "amount" and not shown:
                continue
            old, new = before.get(key), after.get(key)
            if whole:
                value = new if event.action != "payment.deleted" else old
                if value in (None, ""):
                    continue
                old, new = (value, None) if event.action == "payment.deleted" else (None, value)
            elif key not in after:
                continue
            found.append(
                Change(
                    key,
                    label,
                    self._payment_text(key, old, before, after),
                    self._payment_text(key, new, before, after),
                )
            )
        return found

    def _payment_text(
        self, key: str, value: Any, before: Mapping[str, Any], after: Mapping[str, Any]
    ) -> str:
        if value in (None, ""):
            return ""
        if key == "amount":
            currency = after.get("currency") or before.get("currency") or self.ctx.currency
            return types.get("currency").display(
                {"amount": Decimal(str(value)), "currency": currency}, None, self.ctx
            )
        return str(value)

    def changes(self, event: AuditEvent) -> list[Change]:
        if event.target_type == "payment":
            return self.payment_changes(event)
        before: Mapping[str, Any] = event.before or {}
        after: Mapping[str, Any] = event.after or {}
        creation = event.action in _CREATIONS or (
            event.action == "record.imported" and event.before is None
        )
        if creation:
            keys = [k for k, v in after.items() if v not in (None, [], "")]
        else:
            # Keys on both sides only: other keys of an event (comments, figures) are context.
            keys = [k for k in after if k in before and before[k] != after[k]]
        found = []
        for key in keys:
            if key.startswith("_"):
                continue
            label = self.label(key)
            if label is None:
                continue
            old = "" if creation else self.text(key, before.get(key))
            found.append(Change(key, label, old, self.text(key, after.get(key))))
        return found


def _who(event: AuditEvent, fmt: _Formatter) -> str:
    if event.actor_user_id is not None:
        return fmt.name_of(event.actor_user_id)
    if event.actor_token_id is not None:
        return _("An API token")
    return _("The system")


#: A bulk job writes its summary after its records: this long after them at most.
_BULK_WINDOW = timedelta(hours=2)


def _bulk_requests(events: list[AuditEvent]) -> set[str]:
    """Request ids among ``events`` that belong to a bulk action: a bulk action's changes share
    the request id of its ``records.bulk`` summary (its job acts with the request's id)."""
    mine = [e for e in events if e.request_id and e.action in ("record.updated", "record.deleted")]
    if not mine:
        return set()
    rows = db.session.execute(
        select(AuditEvent.request_id).where(
            AuditEvent.action == "records.bulk",
            AuditEvent.at >= min(e.at for e in mine),
            AuditEvent.at <= max(e.at for e in mine) + _BULK_WINDOW,
            AuditEvent.request_id.in_({e.request_id for e in mine}),
        )
    ).scalars()
    return set(rows)


def history(
    actor: Membership, object_key: str, record_id: int, cursor: int | None = None
) -> tuple[list[Entry], int | None]:
    """The record's history newest first, :data:`PAGE_SIZE` entries a page, and the cursor of
    the next page (``None``: no more). Only for a record ``actor`` may open (else 404)."""
    st = services.store(object_key, actor)
    exists = db.session.execute(
        st.query().where(st.model.id == record_id).with_only_columns(st.model.id)
    ).first()
    if exists is None:
        raise RecordNotFound(_("There is no such record."))
    # A customer, contact or lead keeps the history of the records merged into it.
    from saas.crm import merge

    ids = merge.history_ids(object_key, record_id) if object_key in merge.OBJECTS else [record_id]
    targets = [
        and_(
            AuditEvent.target_type == object_key,
            AuditEvent.target_id.in_([str(i) for i in ids]),
        )
    ]
    if object_key == "contract":  # its payments (回款) are part of its story
        payments = db.session.execute(
            select(Payment.id).where(Payment.contract_id == record_id)
        ).scalars()
        payment_ids = [str(i) for i in payments]
        if payment_ids:
            targets.append(
                and_(AuditEvent.target_type == "payment", AuditEvent.target_id.in_(payment_ids))
            )
    stmt = (
        select(AuditEvent).where(or_(*targets)).order_by(AuditEvent.id.desc()).limit(PAGE_SIZE + 1)
    )
    if cursor:
        stmt = stmt.where(AuditEvent.id < cursor)
    events = list(db.session.execute(stmt).scalars())
    next_cursor = events[PAGE_SIZE - 1].id if len(events) > PAGE_SIZE else None
    ctx = services.context()
    fmt = _Formatter(st, actor, ctx)
    bulk = _bulk_requests(events[:PAGE_SIZE])
    entries = []
    with force_locale(ctx.locale):
        for event in events[:PAGE_SIZE]:
            entries.append(
                Entry(
                    id=event.id,
                    when=event.at,
                    who=_who(event, fmt),
                    action=event.action,
                    label=_action_label(event, event.request_id in bulk),
                    changes=fmt.changes(event),
                )
            )
    return entries, next_cursor
