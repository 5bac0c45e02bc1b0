"""Opportunities and the pipeline (商机, 销售漏斗): stages with probability, stage history, won and
lost, after-sale follow-ups, and the pipeline's sums.

**Stages.** The stages, their labels and their order are the values of the opportunity's
``stage`` picklist; :class:`OpportunityStage` adds each code's win probability (0–100) and kind:
``open``, ``won`` or ``lost``. Signup gives the defaults (10, 25, 50, 75 %, won 100 %, lost 0 %);
admins change them on a settings page. A code without a row counts as an open stage with no
probability.

**A stage change** (through any record save: form, API, board, bulk update) is recorded in
:class:`StageHistory` with who, when and the amount at that moment; the time spent in a stage is
the gap to the next change (the last one runs until now). The opportunity's probability follows
its new stage unless the same save sets it. Moving to a lost-kind stage needs ``lost_reason``
(400 naming the field). The first move to a won-kind stage creates the after-sale follow-ups:
planned activities for the opportunity's owner, linked to the customer and the opportunity, due
at 09:00 company time the company's offsets (``tenants.followup_offsets``, ISO 8601 durations,
by default ``P7D``, ``P1M``, ``P3M``, ``P1Y``) after the day it was won. Moving back and winning
again creates none (the history shows it was won before).

**The summary** (:func:`summary`) counts the opportunities each stage has, with their amount and
weighted amount (amount × probability, the opportunity's own or else its stage's), over the
records the person's data scope shows, optionally for one owner or team and an expected close
period. Amounts are summed per currency: the company's currency is the headline, others are
listed beside it. The board (:func:`board`) shows the same columns with their cards.

``utcnow`` is the clock every change reads; tests replace it.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from babel.numbers import get_currency_precision
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    and_,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from custom_fields import types
from custom_fields.definitions import ObjectSchema, schemas
from custom_fields.query.dates import RELATIVE, day_range
from custom_fields.query.scope import scope_clause
from custom_fields.types import Context
from saas.errors import DomainError, ValidationFailed
from saas.extensions import db
from saas.records.errors import RecordNotFound
from saas.records.models import Account, Opportunity, RecordColumns
from tenants import audit
from tenants.context import TenantScoped, current_tenant_id
from tenants.errors import Forbidden
from tenants.models import (
    ADMIN_ROLES,
    Membership,
    MembershipStatus,
    RoleKey,
    Tenant,
)

if TYPE_CHECKING:
    from saas.records.imports import Outcome
    from saas.records.services import Store

KINDS = ("open", "won", "lost")
OPEN, WON, LOST = KINDS
STAGE, PROBABILITY, LOST_REASON, AMOUNT, CLOSE = (
    "stage",
    "probability",
    "lost_reason",
    "amount",
    "expected_close",
)
#: The stage table a new company starts with: code → (probability, kind).
DEFAULT_STAGES: dict[str, tuple[int, str]] = {
    "qualification": (10, OPEN),
    "needs_analysis": (25, OPEN),
    "proposal": (50, OPEN),
    "negotiation": (75, OPEN),
    "won": (100, WON),
    "lost": (0, LOST),
}
DEFAULT_OFFSETS = ("P7D", "P1M", "P3M", "P1Y")
MAX_OFFSETS = 10
#: Largest offset per unit (ten years).
OFFSET_LIMITS = {"D": 3660, "W": 520, "M": 120, "Y": 10}
_OFFSET = re.compile(r"^P([1-9][0-9]{0,3})([DWMY])$")
#: Follow-ups are due at this hour of the day, company time.
FOLLOWUP_HOUR = 9
#: Cards per board column at most (the column's count says how many there are).
MAX_CARDS = 50
#: Named periods for the expected close date.
PERIODS = RELATIVE


def utcnow() -> dt.datetime:
    """The clock stage changes read."""
    return dt.datetime.now(dt.UTC)


class OpportunityStage(TenantScoped, db.Model):
    """The win probability (0–100) and kind (open, won, lost) of an opportunity stage. The
    stage itself, its label and its place in the order are a value (``code``) of the
    opportunity's ``stage`` picklist."""

    __tablename__ = "opportunity_stages"
    __table_args__ = (
        CheckConstraint("probability BETWEEN 0 AND 100", name="probability"),
        CheckConstraint("kind IN ('open', 'won', 'lost')", name="kind"),
    )

    code: Mapped[str] = mapped_column(String(60), primary_key=True)
    probability: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10), default=OPEN, server_default=OPEN)


class StageHistory(TenantScoped, db.Model):
    """One change of an opportunity's stage (``from_stage`` empty: it was created), who made it,
    when, and the amount then. The time spent in a stage is the gap to the next change."""

    __tablename__ = "stage_history"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "opportunity_id"],
            ["opportunities.tenant_id", "opportunities.id"],
            ondelete="CASCADE",
        ),
        Index("ix_stage_history_opportunity", "tenant_id", "opportunity_id", "changed_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(BigInteger)
    from_stage: Mapped[str | None] = mapped_column(String(60))
    to_stage: Mapped[str | None] = mapped_column(String(60))
    changed_by: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    amount: Mapped[Decimal | None] = mapped_column(Numeric)
    currency: Mapped[str | None] = mapped_column(String(3))


def default_stages() -> list[OpportunityStage]:
    """The stage table of a new company (added at signup, in its transaction)."""
    return [
        OpportunityStage(code=code, probability=p, kind=kind)
        for code, (p, kind) in DEFAULT_STAGES.items()
    ]


# ---------------------------------------------------------------- the stage table


@dataclass(frozen=True)
class Stage:
    """A stage as pages and the API show it: the picklist value and its probability and kind."""

    code: str
    label_en: str
    label_zh: str
    colour: str | None
    position: int
    active: bool
    probability: int | None
    kind: str

    def label(self, locale: str) -> str:
        return self.label_zh if locale.startswith("zh") else self.label_en

    def to_json(self, locale: str) -> dict[str, Any]:
        return {
            "code": self.code,
            "label": self.label(locale),
            "colour": self.colour,
            "position": self.position,
            "active": self.active,
            "probability": self.probability,
            "kind": self.kind,
        }


def _schema() -> ObjectSchema:
    return schemas(current_tenant_id())["opportunity"]


def stages() -> list[Stage]:
    """Every value of the stage picklist in its order (inactive ones too), with its row."""
    info = _schema().field(STAGE)
    if info is None:
        return []
    rows = {r.code: r for r in db.session.execute(select(OpportunityStage)).scalars()}
    found = []
    for position, choice in enumerate(info.spec.choices):
        row = rows.get(choice.code)
        found.append(
            Stage(
                choice.code,
                choice.label_en,
                choice.label_zh,
                choice.colour,
                position,
                choice.active,
                row.probability if row is not None else None,
                row.kind if row is not None else OPEN,
            )
        )
    return found


def stage_table() -> dict[str, Stage]:
    return {s.code: s for s in stages()}


def followup_offsets() -> list[str]:
    tenant = db.session.get(Tenant, current_tenant_id())
    return list(tenant.followup_offsets or ())


def _offset_days(offset: str) -> int:
    number, unit = _OFFSET.match(offset).groups()  # type: ignore[union-attr]
    return int(number) * {"D": 1, "W": 7, "M": 30, "Y": 365}[unit]


def clean_offsets(raw: Any, errors: dict[str, list[str]]) -> list[str]:
    """Follow-up offsets: up to 10 ISO 8601 durations of one unit (``P7D``, ``P2W``, ``P1M``,
    ``P1Y``) up to ten years, sorted, each once; an empty list means no follow-ups."""
    if not isinstance(raw, (list, tuple)) or len(raw) > MAX_OFFSETS:
        errors["followup_offsets"] = [
            _("Send a list of at most %(n)d durations such as P7D or P1M.", n=MAX_OFFSETS)
        ]
        return []
    cleaned: list[str] = []
    for item in raw:
        text = item.strip().upper() if isinstance(item, str) else ""
        match = _OFFSET.match(text)
        if match is None or int(match.group(1)) > OFFSET_LIMITS[match.group(2)]:
            errors["followup_offsets"] = [
                _(
                    "“%(value)s” is not a duration such as P7D, P2W, P1M or P1Y (at most ten "
                    "years).",
                    value=str(item)[:20],
                )
            ]
            return []
        if text not in cleaned:
            cleaned.append(text)
    return sorted(cleaned, key=_offset_days)


def add_offset(day: dt.date, offset: str) -> dt.date:
    """``day`` plus an offset; a month later than 31 January is the last day of February."""
    number, unit = _OFFSET.match(offset).groups()  # type: ignore[union-attr]
    n = int(number)
    if unit in ("D", "W"):
        return day + dt.timedelta(days=n * (7 if unit == "W" else 1))
    months = day.month - 1 + n * (12 if unit == "Y" else 1)
    year, month = day.year + months // 12, months % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def offset_label(offset: str) -> str:
    """An offset in words: "1 week", "3 months"."""
    number, unit = _OFFSET.match(offset).groups()  # type: ignore[union-attr]
    n = int(number)
    if unit == "D" and n % 7 == 0:
        unit, n = "W", n // 7
    return {
        "D": lambda: ngettext("%(num)d day", "%(num)d days", n),
        "W": lambda: ngettext("%(num)d week", "%(num)d weeks", n),
        "M": lambda: ngettext("%(num)d month", "%(num)d months", n),
        "Y": lambda: ngettext("%(num)d year", "%(num)d years", n),
    }[unit]()


def _settings_json() -> dict[str, Any]:
    return {
        "stages": {s.code: [s.probability, s.kind] for s in stages()},
        "followup_offsets": followup_offsets(),
    }


def update_stages(
    actor: Membership, stages_raw: Any, offsets: Any = None
) -> tuple[list[Stage], list[str]]:
    """Set the probability and kind of the stages listed (``[{"code", "probability",
    "kind"}]``; stages not listed keep theirs) and, when given, the follow-up offsets. Owners
    and admins. At least one active stage must be won and one lost. Opportunities keep their
    probability until their stage changes."""
    if actor.role_key not in ADMIN_ROLES:
        raise Forbidden(_("Only owners and administrators can change this."))
    errors: dict[str, list[str]] = {}
    current = stage_table()
    updates: dict[str, tuple[int, str]] = {}
    if not isinstance(stages_raw, (list, tuple)):
        errors["stages"] = [_("Send the stages as a list.")]
        stages_raw = []
    for i, item in enumerate(stages_raw):
        where = f"stages[{i}]"
        if not isinstance(item, Mapping) or set(item) - {"code", "probability", "kind"}:
            errors[where] = [_("A stage has a code, a probability and a kind.")]
            continue
        code, probability, kind = item.get("code"), item.get("probability"), item.get("kind")
        if not isinstance(code, str) or code not in current:
            errors[f"{where}.code"] = [_("There is no stage “%(code)s”.", code=str(code)[:60])]
            continue
        if code in updates:
            errors[f"{where}.code"] = [_("“%(code)s” is listed twice.", code=code)]
            continue
        whole = isinstance(probability, int) and not isinstance(probability, bool)
        if not whole or not 0 <= probability <= 100:
            errors[f"{where}.probability"] = [_("Enter a whole percent from 0 to 100.")]
        if kind not in KINDS:
            errors[f"{where}.kind"] = [_("Choose open, won or lost.")]
        if f"{where}.probability" not in errors and f"{where}.kind" not in errors:
            updates[code] = (probability, kind)
    cleaned_offsets = clean_offsets(offsets, errors) if offsets is not None else None
    if not errors:
        kinds = {
            s.code: updates.get(s.code, (s.probability, s.kind))[1]
            for s in current.values()
            if s.active
        }
        if WON not in kinds.values() or LOST not in kinds.values():
            errors["stages"] = [_("Keep at least one won stage and one lost stage.")]
    if errors:
        raise ValidationFailed(errors)
    before = _settings_json()
    rows = {r.code: r for r in db.session.execute(select(OpportunityStage)).scalars()}
    for code, (probability, kind) in updates.items():
        row = rows.get(code)
        if row is None:
            row = OpportunityStage(code=code)
            db.session.add(row)
        row.probability, row.kind = probability, kind
    if cleaned_offsets is not None:
        db.session.get(Tenant, current_tenant_id()).followup_offsets = cleaned_offsets
    db.session.flush()
    after = _settings_json()
    if after != before:
        audit.record(
            "pipeline.stages_changed", "tenant", current_tenant_id(), before=before, after=after
        )
    db.session.commit()
    return stages(), followup_offsets()


# ---------------------------------------------------------------- record hooks


def _stage_change(
    record: RecordColumns, before: tuple[int | None, Mapping[str, Any]] | None
) -> tuple[str | None, str | None] | None:
    """(from, to) when this save sets or changes the stage, else ``None``."""
    new = (record.data or {}).get(STAGE)
    old = before[1].get(STAGE) if before is not None else None
    if (before is None and new is None) or (before is not None and old == new):
        return None
    return old, new


def before_save(
    st: Store,
    record: RecordColumns,
    actor: Membership,
    payload: Mapping[str, Any],
    before: tuple[int | None, Mapping[str, Any]] | None,
) -> None:
    """Before an opportunity is written: a new stage brings its probability (unless the save
    sets one) and a lost-kind stage needs a reason."""
    if st.schema.key != "opportunity":
        return
    change = _stage_change(record, before)
    if change is None:
        return
    with db.session.no_autoflush:  # the record is not written yet: no flush (and version) now
        stage = stage_table().get(change[1]) if change[1] is not None else None
    if stage is None:
        return
    data = dict(record.data or {})
    info = st.schema.field(PROBABILITY)
    if PROBABILITY not in payload and stage.probability is not None and info is not None:
        field_type = types.get(info.type)  # stored as if typed in: "50.00" for 50
        data[PROBABILITY] = field_type.to_storage(
            field_type.clean(stage.probability, info.spec, Context())
        )
    if stage.kind == LOST and st.schema.field(LOST_REASON) is not None:
        reason = data.get(LOST_REASON)
        if not (isinstance(reason, str) and reason.strip()):
            raise ValidationFailed(
                {LOST_REASON: [_("Say why the deal was lost (%(stage)s).", stage=stage.code)]}
            )
    record.data = data


def _amount(data: Mapping[str, Any]) -> tuple[Decimal | None, str | None]:
    value = data.get(AMOUNT)
    if isinstance(value, Mapping) and value.get("amount") is not None:
        return Decimal(str(value["amount"])), value.get("currency")
    return None, None


def after_save(
    st: Store,
    record: RecordColumns,
    actor: Membership,
    before: tuple[int | None, Mapping[str, Any]] | None,
) -> None:
    """After an opportunity is written: a stage change goes into its history, and its first
    win creates the after-sale follow-ups."""
    if st.schema.key != "opportunity":
        return
    change = _stage_change(record, before)
    if change is None:
        return
    now = utcnow()
    table = stage_table()
    stage = table.get(change[1]) if change[1] is not None else None
    won = stage is not None and stage.kind == WON
    won_before = won and _won_before(record.id, table)
    amount, currency = _amount(record.data or {})
    db.session.add(
        StageHistory(
            opportunity_id=record.id,
            from_stage=change[0],
            to_stage=change[1],
            changed_by=actor.user_id or None,
            changed_at=now,
            amount=amount,
            currency=currency,
        )
    )
    if won and not won_before:
        create_followups(record, actor, now)


# ---------------------------------------------------------------- import hooks
#
# An import validates and writes its rows a batch at a time (saas.records.imports): these are
# the hooks above for a batch. The rows are the import's outcomes
# (``saas.records.imports.Outcome``): ``action``, ``data``, ``sent`` (the keys its cells gave),
# ``record_id`` and, for updates, ``before_data``.


def _import_change(outcome: Outcome) -> tuple[str | None, str | None] | None:
    new = (outcome.data or {}).get(STAGE)
    if outcome.action == "create":
        return (None, new) if new is not None else None
    old = (outcome.before_data or {}).get(STAGE)
    return (old, new) if old != new else None


def prepare_import(
    schema: ObjectSchema, rows: Sequence[Outcome], report: Callable[[Outcome, str, str], None]
) -> None:
    """While a batch of opportunities is validated (:func:`before_save` for a batch): a row
    that sets or changes the stage takes the stage's probability unless its cells give one, and
    a row moving to a lost-kind stage without a reason fails (``report(row, field, message)``;
    the import then marks the row failed)."""
    if schema.key != "opportunity":
        return
    changing = [
        (o, change)
        for o in rows
        if o.action in ("create", "update") and (change := _import_change(o)) is not None
    ]
    if not changing:
        return
    table = stage_table()
    info = schema.field(PROBABILITY)
    field_type = types.get(info.type) if info is not None else None
    stored: dict[int, Any] = {}
    for outcome, (_old, new) in changing:
        stage = table.get(new) if new is not None else None
        if stage is None:
            continue
        data = outcome.data
        if (
            info is not None
            and field_type is not None
            and PROBABILITY not in outcome.sent
            and stage.probability is not None
        ):
            if stage.probability not in stored:  # stored as if typed in: "50.00" for 50
                stored[stage.probability] = field_type.to_storage(
                    field_type.clean(stage.probability, info.spec, Context())
                )
            data[PROBABILITY] = stored[stage.probability]
        if stage.kind == LOST and schema.field(LOST_REASON) is not None:
            reason = data.get(LOST_REASON)
            if not (isinstance(reason, str) and reason.strip()):
                report(
                    outcome,
                    LOST_REASON,
                    _("Say why the deal was lost (%(stage)s).", stage=stage.code),
                )
                outcome.action = "error"


def after_import(
    st: Store, creates: Sequence[Outcome], updates: Sequence[Outcome], actor: Membership
) -> int:
    """After a batch of opportunities is written (:func:`after_save` for a batch): a stage
    history row for each one created with a stage or whose stage the import changed, in one
    statement, with who, when and the amount then. Imported deals get no after-sale follow-ups:
    a deal won before it was imported would get them dated from the import. Answers how many
    rows were added."""
    if st.schema.key != "opportunity":
        return 0
    rows = []
    for outcome in [*creates, *updates]:
        change = _import_change(outcome)
        if change is None:
            continue
        amount, currency = _amount(outcome.data or {})
        rows.append(
            {
                "id": outcome.record_id,
                "from_stage": change[0],
                "to_stage": change[1],
                "amount": str(amount) if amount is not None else None,
                "currency": currency,
            }
        )
    if rows:
        db.session.execute(
            text(_IMPORTED_HISTORY),
            {
                "tenant": current_tenant_id(),
                "actor": actor.user_id or None,
                "at": utcnow(),
                "rows": json.dumps(rows, ensure_ascii=False),
            },
        )
    return len(rows)


_IMPORTED_HISTORY = """
INSERT INTO stage_history (tenant_id, opportunity_id, from_stage, to_stage, changed_by,
                           changed_at, amount, currency)
SELECT :tenant, r.id, r.from_stage, r.to_stage, :actor, :at, r.amount, r.currency
FROM jsonb_to_recordset(CAST(:rows AS jsonb))
     AS r(id bigint, from_stage text, to_stage text, amount numeric, currency text)
"""


def _won_before(opportunity_id: int, table: Mapping[str, Stage]) -> bool:
    codes = [code for code, s in table.items() if s.kind == WON]
    stmt = select(StageHistory.id).where(
        StageHistory.opportunity_id == opportunity_id, StageHistory.to_stage.in_(codes)
    )
    return db.session.execute(stmt.limit(1)).first() is not None


def _system_actor(actor: Membership) -> Membership:
    """The company acting for the person: follow-ups are filled in whatever fields the
    person's role may edit (the record is not added to the session)."""
    return Membership(
        tenant_id=current_tenant_id(),
        user_id=actor.user_id,
        role_key=RoleKey.OWNER,
        status=MembershipStatus.ACTIVE,
    )


def create_followups(opportunity: RecordColumns, actor: Membership, won_at: dt.datetime) -> list:
    """The planned after-sale follow-ups of a won opportunity, in the caller's transaction."""
    from saas.records import services as records

    tenant = db.session.get(Tenant, current_tenant_id())
    offsets = list(tenant.followup_offsets or ())
    activity = schemas(current_tenant_id()).get("activity")
    if not offsets or activity is None:
        return []
    zone = ZoneInfo(tenant.timezone)
    won_day = won_at.astimezone(zone).date()
    owner = opportunity.owner_id
    active = db.session.execute(
        select(Membership.user_id).where(
            Membership.user_id == owner, Membership.status == MembershipStatus.ACTIVE
        )
    ).first()
    if owner is None or active is None:
        owner = actor.user_id
    account = (opportunity.data or {}).get("account")
    system = _system_actor(actor)
    created = []
    with force_locale(tenant.default_locale or "zh_CN"):
        for offset in offsets:
            due = dt.datetime.combine(
                add_offset(won_day, offset), dt.time(FOLLOWUP_HOUR), tzinfo=zone
            )
            values = {
                "status": "planned",
                "due_at": due.isoformat(),
                "opportunity": opportunity.id,
                "account": account,
                "content": _(
                    "After-sale follow-up of the deal “%(deal)s”, won on %(day)s.",
                    deal=opportunity.name or opportunity.id,
                    day=won_day.isoformat(),
                ),
            }
            payload = {
                "name": _(
                    "After-sale follow-up (%(after)s): %(deal)s",
                    after=offset_label(offset),
                    deal=opportunity.name or opportunity.id,
                )[:255],
                "owner_id": owner,
                **{
                    k: v
                    for k, v in values.items()
                    if v is not None and activity.field(k) is not None
                },
            }
            created.append(records.create_record(system, "activity", payload, commit=False))
    return created


def move(
    actor: Membership,
    opportunity_id: int,
    stage: str,
    version: int,
    lost_reason: str | None = None,
) -> RecordColumns:
    """Move an opportunity to another stage (the board): a record update, with its checks."""
    from saas.records import services as records

    payload: dict[str, Any] = {STAGE: stage}
    if lost_reason is not None and lost_reason.strip():
        payload[LOST_REASON] = lost_reason.strip()
    return records.update_record(actor, "opportunity", opportunity_id, payload, version)


# ---------------------------------------------------------------- history


@dataclass(frozen=True)
class HistoryRow:
    """A stage change and how long the opportunity stayed in the stage it entered
    (``left_at`` empty: it is still there; the seconds run until now)."""

    id: int
    from_stage: str | None
    to_stage: str | None
    changed_by: int | None
    changed_at: dt.datetime
    amount: Decimal | None
    currency: str | None
    left_at: dt.datetime | None
    seconds: int

    @property
    def current(self) -> bool:
        return self.left_at is None


def _opportunity(actor: Membership | None, opportunity_id: int) -> Opportunity:
    stmt = select(Opportunity).where(
        Opportunity.id == opportunity_id, Opportunity.deleted_at.is_(None)
    )
    scope = scope_clause(Opportunity, actor, "opportunity")
    if scope is not None:
        stmt = stmt.where(scope)
    found = db.session.execute(stmt).scalar_one_or_none()
    if found is None:
        raise RecordNotFound(_("There is no such opportunity."))
    return found


def history(
    actor: Membership | None, opportunity_id: int, *, now: dt.datetime | None = None
) -> list[HistoryRow]:
    """An opportunity's stage changes, oldest first, with the time spent in each stage (if the
    person may see the opportunity)."""
    _opportunity(actor, opportunity_id)
    now = now or utcnow()
    rows = list(
        db.session.execute(
            select(StageHistory)
            .where(StageHistory.opportunity_id == opportunity_id)
            .order_by(StageHistory.changed_at, StageHistory.id)
        ).scalars()
    )
    found = []
    for i, row in enumerate(rows):
        left = rows[i + 1].changed_at if i + 1 < len(rows) else None
        seconds = max(0, int(((left or now) - row.changed_at).total_seconds()))
        found.append(
            HistoryRow(
                row.id,
                row.from_stage,
                row.to_stage,
                row.changed_by,
                row.changed_at,
                row.amount,
                row.currency,
                left,
                seconds,
            )
        )
    return found


def time_in_stages(rows: Sequence[HistoryRow]) -> dict[str, int]:
    """Seconds spent in each stage in all (a stage entered twice counts both times)."""
    totals: dict[str, int] = {}
    for row in rows:
        if row.to_stage is not None:
            totals[row.to_stage] = totals.get(row.to_stage, 0) + row.seconds
    return totals


# ---------------------------------------------------------------- summary and board


@dataclass(frozen=True)
class Filters:
    """Which opportunities the summary and board count: one owner, one team (and the teams
    below it), an expected close date in a named period or from/to (inclusive)."""

    owner_id: int | None = None
    team_id: int | None = None
    period: str | None = None
    close_from: dt.date | None = None
    close_to: dt.date | None = None


def clean_filters(raw: Mapping[str, Any]) -> Filters:
    """Filters from request arguments (texts or values); errors are keyed by argument."""
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for key in ("owner_id", "team_id"):
        value = raw.get(key)
        if value in (None, ""):
            continue
        try:
            number = int(str(value))
        except ValueError:
            number = 0
        if not 0 < number < 2**63:
            errors[key] = [_("Enter an id.")]
        else:
            values[key] = number
    period = raw.get("period")
    if period not in (None, ""):
        if period not in PERIODS:
            errors["period"] = [_("Choose a period such as this_month or next_quarter.")]
        else:
            values["period"] = period
    for key in ("close_from", "close_to"):
        value = raw.get(key)
        if value in (None, ""):
            continue
        if isinstance(value, dt.date):
            values[key] = value
            continue
        try:
            values[key] = dt.date.fromisoformat(str(value))
        except ValueError:
            errors[key] = [_("Enter a date as YYYY-MM-DD.")]
    if errors:
        raise ValidationFailed(errors)
    return Filters(**values)


def _team_members(team_id: int) -> list[int]:
    from tenants import teams

    try:
        node = teams.get_team(team_id)
    except DomainError:
        raise ValidationFailed({"team_id": [_("There is no such team.")]}) from None
    ids = [n.id for n in teams.flatten([node])]
    return list(
        db.session.execute(select(Membership.user_id).where(Membership.team_id.in_(ids))).scalars()
    )


def _where(actor: Membership, filters: Filters) -> list[Any]:
    clauses: list[Any] = [Opportunity.deleted_at.is_(None)]
    scope = scope_clause(Opportunity, actor, "opportunity")
    if scope is not None:
        clauses.append(scope)
    if filters.owner_id is not None:
        clauses.append(Opportunity.owner_id == filters.owner_id)
    if filters.team_id is not None:
        clauses.append(Opportunity.owner_id.in_(_team_members(filters.team_id)))
    info = _schema().field(CLOSE)
    start, end = filters.close_from, None
    if filters.close_to is not None:
        end = filters.close_to + dt.timedelta(days=1)
    if filters.period is not None:
        tenant = db.session.get(Tenant, current_tenant_id())
        today = utcnow().astimezone(ZoneInfo(tenant.timezone)).date()
        start, end = day_range(filters.period, today)
    if info is not None and (start is not None or end is not None):
        close = types.get(info.type).sql(Opportunity.data, CLOSE, info.spec)
        if start is not None:
            clauses.append(close >= start)
        if end is not None:
            clauses.append(close < end)
    return clauses


@dataclass
class Money:
    """Sums of one currency: how many opportunities, their amount and weighted amount."""

    currency: str
    count: int = 0
    amount: Decimal = Decimal(0)
    weighted: Decimal = Decimal(0)

    def to_json(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "count": self.count,
            "amount": str(self.amount),
            "weighted": str(self.weighted),
        }


@dataclass
class Column:
    """A stage of the summary (``stage`` empty: opportunities without a stage)."""

    stage: Stage | None
    count: int = 0
    #: The company's currency (opportunities without an amount count, adding nothing).
    money: Money | None = None
    #: Other currencies, each summed on its own.
    others: list[Money] = field(default_factory=list)
    cards: list[Card] = field(default_factory=list)

    @property
    def code(self) -> str | None:
        return self.stage.code if self.stage is not None else None

    def to_json(self, locale: str) -> dict[str, Any]:
        stage = self.stage
        return {
            "code": self.code,
            "label": stage.label(locale) if stage is not None else None,
            "kind": stage.kind if stage is not None else OPEN,
            "probability": stage.probability if stage is not None else None,
            "count": self.count,
            "amount": str(self.money.amount) if self.money else "0",
            "weighted": str(self.money.weighted) if self.money else "0",
            "other_currencies": [m.to_json() for m in self.others],
        }


@dataclass
class Summary:
    currency: str
    columns: list[Column]

    def totals(self, kind: str) -> Money:
        """The company currency's sums over the stages of one kind."""
        total = Money(self.currency)
        for column in self.columns:
            column_kind = column.stage.kind if column.stage is not None else OPEN
            if column_kind != kind:
                continue
            total.count += column.count
            if column.money is not None:
                total.amount += column.money.amount
                total.weighted += column.money.weighted
        return total

    def to_json(self, locale: str) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "stages": [c.to_json(locale) for c in self.columns],
            "totals": {kind: self.totals(kind).to_json() for kind in KINDS},
        }


def _quantize(value: Decimal, currency: str) -> Decimal:
    try:
        digits = get_currency_precision(currency)
    except Exception:  # an unknown code stored by an older version: keep two places
        digits = 2
    return value.quantize(Decimal(1).scaleb(-digits))


def summary(actor: Membership, filters: Filters | None = None) -> Summary:
    """Count, amount and weighted amount per stage (every stage of the picklist, in order, and
    a column for opportunities without a stage when there are any)."""
    filters = filters or Filters()
    schema = _schema()
    tenant = db.session.get(Tenant, current_tenant_id())
    stage = Opportunity.data[STAGE].astext
    currency = Opportunity.data[(AMOUNT, "currency")].astext
    amount_info, probability_info = schema.field(AMOUNT), schema.field(PROBABILITY)
    amount = (
        types.get(amount_info.type).sql(Opportunity.data, AMOUNT, amount_info.spec)
        if amount_info is not None
        else literal(None, Numeric)
    )
    own = (
        types.get(probability_info.type).sql(Opportunity.data, PROBABILITY, probability_info.spec)
        if probability_info is not None
        else literal(None, Numeric)
    )
    probability = func.coalesce(own, OpportunityStage.probability, 0)
    stmt = (
        select(
            stage.label("stage"),
            currency.label("currency"),
            func.count().label("count"),
            func.sum(amount).label("amount"),
            func.sum(amount * probability / 100).label("weighted"),
        )
        .select_from(Opportunity)
        .outerjoin(
            OpportunityStage,
            and_(
                OpportunityStage.tenant_id == Opportunity.tenant_id,
                OpportunityStage.code == stage,
            ),
        )
        .where(*_where(actor, filters))
        .group_by(stage, currency)
    )
    columns = {s.code: Column(s) for s in stages()}
    loose = Column(None)
    for row in db.session.execute(stmt):
        column = columns.get(row.stage) if row.stage is not None else loose
        if column is None:  # a code no longer in the picklist
            column = columns[row.stage] = Column(
                Stage(row.stage, row.stage, row.stage, None, len(columns), False, None, OPEN)
            )
        column.count += row.count
        if row.currency is None or row.amount is None:
            continue
        code = row.currency
        money = Money(
            code,
            row.count,
            _quantize(row.amount, code),
            _quantize(row.weighted or Decimal(0), code),
        )
        if code == tenant.currency:
            column.money = money
        else:
            column.others.append(money)
    shown = [c for c in columns.values() if c.stage.active or c.count]
    if loose.count:
        shown.append(loose)
    return Summary(tenant.currency, shown)


@dataclass(frozen=True)
class Card:
    """An opportunity on the board."""

    record: Opportunity
    account: str | None
    owner: str | None


def board(actor: Membership, filters: Filters | None = None) -> Summary:
    """The summary with up to 50 cards per column, soonest expected close first."""
    filters = filters or Filters()
    result = summary(actor, filters)
    info = _schema().field(CLOSE)
    stage = Opportunity.data[STAGE].astext
    close = (
        types.get(info.type).sql(Opportunity.data, CLOSE, info.spec)
        if info is not None
        else Opportunity.id
    )
    rank = (
        func.row_number()
        .over(partition_by=stage, order_by=(close.asc().nulls_last(), Opportunity.id.desc()))
        .label("rank")
    )
    ranked = select(Opportunity.id, rank).where(*_where(actor, filters)).subquery()
    rows = list(
        db.session.execute(
            select(Opportunity)
            .join(ranked, ranked.c.id == Opportunity.id)
            .where(ranked.c.rank <= MAX_CARDS)
            .order_by(ranked.c.rank)
        ).scalars()
    )
    account_ids = {
        r.data.get("account") for r in rows if isinstance((r.data or {}).get("account"), int)
    }
    names: dict[int, str | None] = {}
    if account_ids:
        stmt = select(Account.id, Account.name).where(
            Account.id.in_(account_ids), Account.deleted_at.is_(None)
        )
        scope = scope_clause(Account, actor, "account")
        if scope is not None:
            stmt = stmt.where(scope)
        names = dict(db.session.execute(stmt).all())
    owners = {
        m.user_id: m.user.display_name for m in db.session.execute(select(Membership)).scalars()
    }
    by_code = {c.code: c for c in result.columns}
    for row in rows:
        column = by_code.get((row.data or {}).get(STAGE))
        if column is not None:
            column.cards.append(
                Card(row, names.get((row.data or {}).get("account")), owners.get(row.owner_id))
            )
    return result
